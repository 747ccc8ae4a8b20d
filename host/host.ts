/**
 * {@linkcode PluginHost}: owns the whole lifecycle. It verifies manifests
 * before a byte is compiled, compiles each module once per digest, starts
 * plugins in permission-less workers, registers their hooks on the
 * {@linkcode HookBus} at their manifest priority and fail policy, and
 * unloads and closes cleanly.
 *
 * @module
 */

import { fileURLToPath as fromFileUrl, pathToFileURL as toFileUrl } from "node:url";
import { HookError } from "../abi/errors.ts";
import type { Capability } from "../abi/imports.ts";
import { HookBus, type HookKind, type MetricsSink, type Verdict } from "./bus.ts";
import {
  checkGrants,
  clampLimits,
  type HookBinding,
  type LimitRequest,
  type LoadedManifest,
  type PluginLimits,
  readManifest,
} from "./manifest.ts";
import { Plugin, type PluginHandle } from "./plugin.ts";
import { type IsolationInfo, SpareWorkers } from "./_instance.ts";
import { HookPlugins } from "./_hook_plugins.ts";
import {
  consoleLog,
  type LogEntry,
  type PluginEvent,
  type PluginServices,
  StateServer,
} from "./_services.ts";
import {
  DEFAULT_STATE_QUOTAS,
  MemoryStateStore,
  type StateQuotas,
  type StateStore,
} from "./state.ts";

/** Options of {@linkcode PluginHost.create}. */
export interface PluginHostOptions {
  /**
   * The host's ceilings: each limit a manifest requests is clamped to these.
   * @default {HOST_CEILINGS}
   */
  limits?: LimitRequest;
  /**
   * Capability tokens the host allows: one list for every plugin, or a list
   * per plugin name. A plugin declaring a token not allowed here is refused
   * at load (`capability_denied`). Every name given a list here must be
   * pinned in `pins` (any manifest can claim a name). @default {[]}
   */
  grants?: readonly Capability[] | Readonly<Record<string, readonly Capability[]>>;
  /**
   * Binds plugin names to what a plugin cannot choose: each value is the
   * module's digest (`"blake3:<64 hex>"`) or the path (relative to the working
   * directory) or `file:` URL of the plugin's `plugin.toml`, compared after
   * resolving symbolic links. A plugin claiming a pinned name that is not the
   * pinned module or manifest is refused at load (`identity_mismatch`).
   * Per-plugin `grants` and `events` need a pin for their name, or
   * {@linkcode PluginHost.create} refuses them. @default {{}}
   */
  pins?: Readonly<Record<string, string>>;
  /**
   * The hooks the host declares, with their kind. When given, a plugin
   * binding any other hook is refused at load (`hook_not_declared`), and so
   * is every host registration or dispatch of any other name on
   * {@linkcode PluginHost.bus} (`hook_not_declared`, naming the closest
   * declared name); using a declared hook as another kind is
   * `hook_kind_mismatch`.
   */
  hooks?: Readonly<Record<string, HookKind>>;
  /** Largest payload of one call, in bytes. @default {1048576} */
  maxPayloadBytes?: number;
  /** Largest response body of one call, in bytes. @default {1048576} */
  maxResponseBytes?: number;
  /** Largest module file, in bytes; refused before it is read or hashed. @default {16777216} */
  maxModuleBytes?: number;
  /**
   * The guest-memory budget of one instance, in bytes: its memory at its
   * clamped maximum (`memory_pages` × 64 KiB), its tables at theirs
   * (`table_elements`), element and data segments, globals and functions,
   * counted at load from the module's declarations (figures in
   * `GUEST_COSTS` of `@gn/plugin-host/meter`). A plugin over it is refused
   * at load with `memory_limit`, before it is compiled.
   * @default {the plugin's memory ceiling + 67108864} (64 MiB beyond its memory)
   */
  maxGuestBytes?: number;
  /** Quarantine a plugin after this many instance failures in `quarantineWindowMs`. @default {10} */
  quarantineAfter?: number;
  /** The quarantine window, in ms. @default {10000} */
  quarantineWindowMs?: number;
  /** Receives every failure the bus does not throw (warn policy, async actions, loadDir refusals). */
  onError?: (error: HookError) => void;
  /** Counters and latency histograms, per hook and plugin. @default {NOOP_METRICS} */
  metrics?: MetricsSink;
  /**
   * Set when Deno runs with `--unstable-worker-options` (a program cannot see
   * Deno's flags; the config option `"unstable": ["worker-options"]` is
   * detected by itself). @default {false}
   */
  unstableWorkerOptions?: boolean;
  /**
   * Bytes of each instance's shared-memory call region: requests and answers
   * that do not fit go by postMessage; `0` uses postMessage only.
   * @default {262144}
   */
  channelBytes?: number;
  /**
   * Workers kept booted (spawned, isolation proven) ahead of need, so loading
   * a plugin or replacing a worker after a timeout or crash skips the ~20 ms
   * spawn. Each costs an idle worker's memory. Booted once a plugin has
   * started and released when the last one is unloaded: like every worker,
   * a spare keeps the process alive. @default {1}
   */
  spareWorkers?: number;
  /** Start every instance of a plugin at load, so the first call does not pay for it. @default {true} */
  prewarm?: boolean;
  /** Receives what plugins log with `gn_log` (capability `log`). @default {a console sink} */
  log?: (entry: LogEntry) => void;
  /** Receives what plugins emit with `gn_event_emit` (capability `emit`). */
  onEvent?: (event: PluginEvent) => void;
  /**
   * Event names each plugin may emit, by plugin name (each name pinned in
   * `pins`); any other name is refused with status -6 (denied). @default {{}}
   */
  events?: Readonly<Record<string, readonly string[]>>;
  /** Most events one call may emit; more answer -7 (quota exceeded). @default {100} */
  maxEventsPerCall?: number;
  /** Most `gn_log` lines one call may write; the rest are dropped after one notice. @default {100} */
  maxLogsPerCall?: number;
  /** The store behind the `state` capability. @default {new MemoryStateStore()} */
  state?: StateStore;
  /** Quotas on every plugin's state. @default {DEFAULT_STATE_QUOTAS} */
  stateQuotas?: Partial<StateQuotas>;
}

/** What the host knows of a loaded plugin. */
export interface PluginInfo {
  /** The manifest name. */
  readonly name: string;
  /** The manifest version. */
  readonly version: string;
  /** Where the manifest was read from. */
  readonly file: string;
  /**
   * What the plugin's privileges and state are bound to: its name when it is
   * pinned (`pins`), otherwise its manifest's canonical `file:` URL. Its
   * state lives under this key of the {@linkcode StateStore}.
   */
  readonly identity: string;
  /** The verified module digest, `blake3:<hex>`. */
  readonly digest: string;
  /** Capability tokens granted (declared, and allowed by the host). */
  readonly capabilities: readonly Capability[];
  /** The effective limits, after clamping. */
  readonly limits: Readonly<PluginLimits>;
  /** The hooks it binds. */
  readonly hooks: readonly HookBinding[];
  /** What its worker proved about its sandbox. */
  readonly isolation: IsolationInfo;
}

/** The outcome of {@linkcode PluginHost.loadDir}. */
export interface LoadDirResult {
  /** The plugins that loaded. */
  loaded: PluginInfo[];
  /** The manifests that were refused, each with its typed error. */
  failed: { file: string; error: HookError }[];
}

interface Loaded {
  info: PluginInfo;
  plugin: Plugin;
  unsubscribe: (() => void)[];
  /** Set by unload and close: dispatches still in flight no longer reach the plugin. */
  gone: { value: boolean };
}

/** At most this many compiled modules are kept for reloads. */
const MODULE_CACHE_SIZE = 64;

/**
 * The embedded plugin host.
 *
 * @example Loading the bundled examples
 * ```ts ignore
 * import { PluginHost } from "@gn/plugin-host";
 *
 * await using host = await PluginHost.create();
 * await host.load("examples/shout/plugin.toml");
 * host.bus.addFilter("the_content", (v) => `[${v}]`, { priority: 15 });
 * console.log(await host.bus.applyFilters("the_content", "hello")); // "[HELLO]"
 * ```
 */
export class PluginHost {
  /** The hook bus shared by host handlers and plugins. */
  readonly bus: HookBus;
  readonly #options: PluginHostOptions;
  readonly #plugins = new Map<string, Loaded>();
  readonly #loading = new Set<string>();
  readonly #modules = new Map<string, WebAssembly.Module>();
  readonly #declared: ReadonlyMap<string, HookKind> | undefined;
  readonly #store: StateStore;
  readonly #quotas: StateQuotas;
  readonly #spares: SpareWorkers | undefined;
  /** Per-plugin records, as maps: a plugin name is never looked up on a prototype. */
  readonly #grants: ReadonlyMap<string, readonly Capability[]> | undefined;
  readonly #events: ReadonlyMap<string, readonly string[]>;
  readonly #pins: ReadonlyMap<string, string>;
  /** Plugins by hook, in chain order (for `prepare` and chains). */
  readonly #hookPlugins = new HookPlugins();
  #closed = false;

  private constructor(options: PluginHostOptions) {
    this.#options = options;
    this.bus = new HookBus({
      onError: options.onError,
      metrics: options.metrics,
      hooks: options.hooks,
    });
    this.#declared = options.hooks === undefined
      ? undefined
      : new Map(Object.entries(options.hooks));
    this.#store = options.state ?? new MemoryStateStore();
    const spares = options.spareWorkers ?? 1;
    // Spares are booted once a plugin has started (see startInstance), not
    // here: a worker keeps the process alive, and a host with no plugin must not.
    this.#spares = spares > 0 ? new SpareWorkers(spares, 10_000) : undefined;
    this.#quotas = { ...DEFAULT_STATE_QUOTAS, ...options.stateQuotas };
    const g = options.grants;
    this.#grants = g === undefined || Array.isArray(g)
      ? undefined
      : new Map(Object.entries(g as Readonly<Record<string, readonly Capability[]>>));
    this.#events = new Map(Object.entries(options.events ?? {}));
    this.#pins = new Map(Object.entries(options.pins ?? {}));
  }

  #services(
    name: string,
    identity: string,
    capabilities: readonly Capability[],
  ): PluginServices {
    const log = this.#options.log ?? consoleLog;
    const onEvent = this.#options.onEvent;
    return {
      log: (entry) => {
        try {
          log(entry);
        } catch {
          // a log sink that throws must not break the plugin
        }
      },
      event: (event) => {
        try {
          onEvent?.(event);
        } catch (cause) {
          this.#report(
            new HookError(
              "handler_failed",
              `The event sink failed on "${event.name}": fix the onEvent option of ` +
                "PluginHost.create (it must not throw); the event was dropped",
              {
                plugin: event.plugin,
                cause,
              },
            ),
          );
        }
      },
      state: capabilities.includes("state")
        ? new StateServer(name, this.#store, this.#quotas, (e) => this.#report(e), identity)
        : undefined,
    };
  }

  /**
   * Creates a host. Options are checked here, so a bad combination fails
   * before any plugin is touched.
   *
   * @param options Limits, grants, hook declarations and sinks.
   * @returns The host.
   * @throws {TypeError} For an option of the wrong type (a hook declared with
   * a kind other than action, filter or guard included).
   * @throws {RangeError} For a cap or count out of range.
   * @throws {HookError} `invalid_hook_name` for a declared hook with an
   * invalid name.
   *
   * @example
   * ```ts ignore
   * const host = await PluginHost.create({ grants: ["log"], limits: { timeoutMs: 200 } });
   * ```
   */
  static create(options: PluginHostOptions = {}): Promise<PluginHost> {
    const spare = options.spareWorkers;
    if (spare !== undefined && (!Number.isSafeInteger(spare) || spare < 0 || spare > 16)) {
      return Promise.reject(
        new RangeError(`Cannot create the plugin host: "spareWorkers" must be an integer in 0..16`),
      );
    }
    const ranges = {
      maxPayloadBytes: [1, 2 ** 30],
      maxResponseBytes: [1, 2 ** 30],
      maxModuleBytes: [1, 2 ** 31],
      maxGuestBytes: [1, Number.MAX_SAFE_INTEGER],
      channelBytes: [0, 2 ** 26],
      maxEventsPerCall: [0, 1e6],
      maxLogsPerCall: [0, 1e6],
      quarantineAfter: [1, Number.MAX_SAFE_INTEGER],
      quarantineWindowMs: [1, 2 ** 31 - 1],
    } as const;
    for (const [key, [min, max]] of Object.entries(ranges)) {
      const v = options[key as keyof typeof ranges];
      if (v !== undefined && (!Number.isSafeInteger(v) || v < min || v > max)) {
        return Promise.reject(
          new RangeError(
            `Cannot create the plugin host: "${key}" must be an integer in ${min}..${max} (got ${v})`,
          ),
        );
      }
    }
    if (options.hooks !== undefined) {
      for (const [name, kind] of Object.entries(options.hooks)) {
        if (kind !== "action" && kind !== "filter" && kind !== "guard") {
          return Promise.reject(
            new TypeError(
              `Cannot create the plugin host: hook "${name}" must be declared as action, filter or guard`,
            ),
          );
        }
      }
    }
    try {
      clampLimits({}, options.limits);
      checkPins(options);
      return Promise.resolve(new PluginHost(options));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  #grantsFor(name: string): readonly Capability[] {
    if (this.#grants !== undefined) return this.#grants.get(name) ?? [];
    return (this.#options.grants ?? []) as readonly Capability[];
  }

  /**
   * The identity a plugin's privileges and state are bound to: its name when
   * it matches the name's pin, its canonical manifest URL when unpinned.
   */
  async #identify(loaded: LoadedManifest): Promise<string> {
    const { manifest, file, canonicalFile } = loaded;
    const name = manifest.name;
    const pin = this.#pins.get(name);
    if (pin === undefined) return canonicalFile;
    if (pin.startsWith("blake3:")) {
      if (pin === manifest.digest) return name;
    } else if ((await canonicalManifest(pin)) === canonicalFile) {
      return name;
    }
    throw new HookError(
      "identity_mismatch",
      `Cannot load plugin "${name}" from "${file}": the name "${name}" is pinned to "${pin}", ` +
        `and this plugin is not it (module ${manifest.digest}, manifest ${canonicalFile}); ` +
        `load the pinned plugin, or change "pins" if this one should have the name`,
      { plugin: name },
    );
  }

  #assertOpen(): void {
    if (this.#closed) {
      throw new HookError(
        "closed",
        "The plugin host is closed: create a new one with PluginHost.create to load plugins again",
      );
    }
  }

  /**
   * Loads one plugin: reads and validates its manifest, checks the module's
   * digest before compiling it, checks its grants and hook declarations,
   * compiles (once per digest), starts it isolated and registers its hooks.
   *
   * @param location The `plugin.toml` path or `file:` URL.
   * @returns What was loaded.
   * @throws {HookError} Every refusal, typed and naming the file and reason.
   */
  async load(location: string | URL): Promise<PluginInfo> {
    this.#assertOpen();
    const loaded = await readManifest(location, { maxModuleBytes: this.#options.maxModuleBytes });
    return await this.#start(loaded);
  }

  async #start(loaded: LoadedManifest): Promise<PluginInfo> {
    const { manifest, file } = loaded;
    const name = manifest.name;
    if (this.#plugins.has(name) || this.#loading.has(name)) {
      throw new HookError(
        "duplicate_plugin",
        `Cannot load plugin "${name}" from "${file}": a plugin of that name is already loaded; ` +
          `unload it first (host.unload("${name}")), or give this one another \`name\``,
        { plugin: name },
      );
    }
    this.#loading.add(name);
    try {
      const identity = await this.#identify(loaded);
      const allowed = this.#grantsFor(name);
      checkGrants(manifest, file, { granted: allowed, declaredHooks: this.#declared });
      this.#checkKinds(manifest.hooks, name, file);
      const limits = clampLimits(manifest.limits, this.#options.limits);
      const plugin = await Plugin.load(loaded.bytes, {
        name,
        granted: manifest.capabilities,
        maxPayloadBytes: this.#options.maxPayloadBytes,
        maxResponseBytes: this.#options.maxResponseBytes,
        timeoutMs: limits.timeoutMs,
        fuel: limits.fuel,
        memoryPages: limits.memoryPages,
        tableElements: limits.tableElements,
        guestBytes: this.#options.maxGuestBytes,
        digest: manifest.digest,
        moduleCache: this.#modules,
        instances: limits.instances,
        quarantineAfter: this.#options.quarantineAfter,
        quarantineWindowMs: this.#options.quarantineWindowMs,
        unstableWorkerOptions: this.#options.unstableWorkerOptions,
        onQuarantine: (e) => this.#report(e),
        services: this.#services(name, identity, manifest.capabilities),
        events: this.#events.get(name) ?? [],
        maxEventsPerCall: this.#options.maxEventsPerCall,
        maxLogsPerCall: this.#options.maxLogsPerCall,
        channelBytes: this.#options.channelBytes,
        spares: this.#spares,
      });
      this.#trimCache();
      if (this.#closed) {
        await plugin.close();
        throw new HookError(
          "closed",
          `Cannot load plugin "${name}": the host closed meanwhile; load into a new host`,
          {
            plugin: name,
          },
        );
      }
      if (this.#options.prewarm ?? true) await plugin.prewarm();
      const info: PluginInfo = Object.freeze({
        name,
        version: manifest.version,
        file,
        identity,
        digest: manifest.digest,
        capabilities: manifest.capabilities,
        limits,
        hooks: manifest.hooks,
        isolation: plugin.isolation,
      });
      const gone = { value: false };
      let unsubscribe: (() => void)[];
      try {
        unsubscribe = this.#register(plugin, manifest.hooks, name, file, gone);
      } catch (e) {
        await plugin.close();
        throw e;
      }
      this.#plugins.set(name, { info, plugin, unsubscribe, gone });
      this.#hookPlugins.add(plugin, manifest.hooks);
      return info;
    } finally {
      this.#loading.delete(name);
      // a failed load must not leave a spare (booted for it) keeping the process alive
      if (this.#plugins.size === 0 && this.#loading.size === 0) void this.#spares?.release();
    }
  }

  #trimCache(): void {
    while (this.#modules.size > MODULE_CACHE_SIZE) {
      this.#modules.delete(this.#modules.keys().next().value!);
    }
  }

  /**
   * Refuses a binding whose kind differs from what the bus already has for
   * that hook (handlers of another kind, host or plugin): registering it
   * later would fail after the plugin started.
   */
  #checkKinds(hooks: readonly HookBinding[], name: string, file: string): void {
    hooks.forEach((h, i) => {
      const kind = this.bus.kindOf(h.name);
      if (kind === undefined || kind === h.kind) return;
      throw new HookError(
        "hook_kind_mismatch",
        `Cannot load plugin "${name}" from "${file}": key "hooks[${i}].kind": hook "${h.name}" ` +
          `is ${kind === "action" ? "an" : "a"} ${kind} hook on this host (it has ${kind} ` +
          `handlers), not ${h.kind === "action" ? "an" : "a"} ${h.kind} hook: bind it with ` +
          `kind = "${kind}", or use another hook name`,
        { plugin: name, hook: h.name },
      );
    });
  }

  /** Registers every binding, or none: a refusal undoes the ones before it. */
  #register(
    plugin: Plugin,
    hooks: readonly HookBinding[],
    name: string,
    file: string,
    gone: { readonly value: boolean },
  ): (() => void)[] {
    const done: (() => void)[] = [];
    try {
      for (const h of hooks) done.push(this.#bind(plugin, h, gone));
    } catch (e) {
      for (const off of done) off();
      if (e instanceof HookError && e.code === "hook_kind_mismatch") {
        // Another load or a host handler took the name meanwhile.
        throw new HookError(
          e.code,
          `Cannot load plugin "${name}" from "${file}": ${e.message}`,
          { plugin: name, hook: e.hook, cause: e },
        );
      }
      throw e;
    }
    return done;
  }

  /**
   * Binds a plugin's hooks on the bus. A dispatch that started before the
   * plugin was unloaded (or the host closed) still holds its bindings: when
   * it reaches one, a filter passes its value on and an action does nothing,
   * as if the binding had been removed first, but a guard answers `block`, so
   * a check in flight never passes for want of its guard (fail closed).
   */
  #bind(plugin: Plugin, h: HookBinding, gone: { readonly value: boolean }): () => void {
    const name = plugin.name;
    const opts = { priority: h.priority, fail: h.fail, plugin: name };
    /** What the binding of an unloaded plugin answers. */
    const instead = (value: unknown): unknown =>
      h.kind === "filter" ? value : h.kind === "guard" ? unloadedVerdict(name, h.name) : undefined;
    /** A call cut short by the unload (`closed`) answers like an unloaded binding. */
    const settle = (e: unknown, value: unknown): unknown => {
      if (gone.value && e instanceof HookError && e.code === "closed") return instead(value);
      throw e;
    };
    const call = (value: unknown, args: unknown[]): unknown => {
      if (gone.value) return instead(value);
      this.#hookPlugins.reached(h.name, plugin);
      try {
        const out = plugin.run(h.kind, h.name, value, args);
        return out instanceof Promise ? out.catch((e) => settle(e, value)) : out;
      } catch (e) {
        return settle(e, value);
      }
    };
    switch (h.kind) {
      case "filter":
        return this.bus.addFilter(
          h.name,
          (value: unknown, ...args: unknown[]) => call(value, args),
          opts,
        );
      case "action":
        return this.bus.addAction(
          h.name,
          (...args: unknown[]) => call(undefined, args) as void | Promise<void>,
          opts,
        );
      default:
        return this.bus.addGuard(
          h.name,
          (subject: unknown, ...args: unknown[]) =>
            call(subject, args) as Verdict | Promise<Verdict>,
          opts,
        );
    }
  }

  #report(error: HookError): void {
    try {
      (this.#options.onError ?? ((e: HookError) => console.warn(`[gn] ${e.code}: ${e.message}`)))(
        error,
      );
    } catch {
      // an error sink that throws must not break the host
    }
  }

  /**
   * Loads every `<dir>/*\/plugin.toml`, in name order. One bad plugin is
   * reported (to `onError` and in the result) with its typed error; the others
   * still load.
   *
   * @param dir The folder holding one folder per plugin.
   * @returns What loaded and what was refused.
   * @throws {HookError} `invalid_manifest` when `dir` cannot be read.
   */
  async loadDir(dir: string | URL): Promise<LoadDirResult> {
    this.#assertOpen();
    const base = typeof dir === "string"
      ? dir.replace(/\/+$/, "")
      : dir.pathname.replace(/\/+$/, "");
    const manifests: string[] = [];
    try {
      for await (const e of Deno.readDir(base)) {
        if (!e.isDirectory) continue;
        const file = `${base}/${e.name}/plugin.toml`;
        try {
          if ((await Deno.stat(file)).isFile) manifests.push(file);
        } catch {
          // a folder without a manifest is not a plugin
        }
      }
    } catch (cause) {
      throw new HookError(
        "invalid_manifest",
        `Cannot read plugin folder "${base}": ${cause}; pass a readable folder holding one ` +
          "folder per plugin (each with its plugin.toml), and grant read permission on it",
        {
          cause,
        },
      );
    }
    manifests.sort();
    const result: LoadDirResult = { loaded: [], failed: [] };
    for (const file of manifests) {
      try {
        result.loaded.push(await this.load(file));
      } catch (e) {
        const error = e instanceof HookError
          ? e
          : new HookError("invalid_manifest", `Cannot load "${file}": ${e}`, { cause: e });
        result.failed.push({ file, error });
        this.#report(error);
      }
    }
    return result;
  }

  /**
   * Unloads a plugin: unregisters its hooks (new dispatches no longer reach
   * it), answers the calls already in flight or queued, then terminates its
   * workers.
   *
   * @param name The plugin name.
   * @returns When its workers are gone.
   * @throws {HookError} `unknown_plugin` when no plugin has that name.
   */
  async unload(name: string): Promise<void> {
    const p = this.#plugins.get(name);
    if (p === undefined) {
      const names = [...this.#plugins.keys()].map((n) => `"${n}"`).join(", ");
      throw new HookError(
        "unknown_plugin",
        `Cannot unload plugin "${name}": it is not loaded; ${
          names === "" ? "no plugin is loaded" : `loaded: ${names}`
        }`,
        {
          plugin: name,
        },
      );
    }
    this.#plugins.delete(name);
    this.#hookPlugins.remove(p.plugin);
    p.gone.value = true;
    for (const off of p.unsubscribe) off();
    await p.plugin.close({ drain: true });
    // With no plugin left, no worker may keep the process alive.
    if (this.#plugins.size === 0 && this.#loading.size === 0) await this.#spares?.release();
  }

  /**
   * The loaded plugins, in load order.
   *
   * @returns Their infos.
   */
  plugins(): PluginInfo[] {
    return [...this.#plugins.values()].map((p) => p.info);
  }

  /**
   * The handle of a loaded plugin: stats, isolation report, quarantine.
   *
   * @param name The plugin name.
   * @returns Its handle, or `undefined`.
   */
  plugin(name: string): PluginHandle | undefined {
    return this.#plugins.get(name)?.plugin;
  }

  /**
   * Says calls of `hook` are coming (a request arrived, say): the worker of
   * every plugin bound to it wakes now, if it is parked, and spins for its
   * call, so the call does not wait for the wake-up. Waking a parked thread
   * costs tens of µs (50–100 µs when a core has gone idle on a VM); called a
   * little ahead, the wake-up overlaps the application's own work. Cheap and
   * safe to call at any time: it does nothing for a hook without plugins, a
   * busy or awake worker, a closed or quarantined plugin, and a woken worker
   * that gets no call parks again within 1 ms (it spins only within the
   * process-wide budget of cores − 1 spinning workers).
   *
   * @param hook The hook name (an unknown name does nothing).
   *
   * @example Preparing a hook when a request arrives
   * ```ts
   * import { PluginHost } from "./host.ts";
   * import assert from "node:assert/strict";
   *
   * await using host = await PluginHost.create();
   * await host.load("examples/shout/plugin.toml");
   * // a request arrives: wake the plugins while the request is parsed
   * host.prepare("the_content");
   * const body = JSON.parse('{"text":"hello"}');
   * assert.equal(await host.bus.applyFilters("the_content", body.text), "HELLO");
   * ```
   */
  prepare(hook: string): void {
    this.#hookPlugins.prepare(hook);
  }

  /**
   * Closes the host: every plugin is unregistered, calls still queued or in
   * flight reject with `closed`, every worker is terminated, no timer is
   * left.
   *
   * @returns When everything is stopped.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const all = [...this.#plugins.values()];
    this.#plugins.clear();
    for (const p of all) {
      p.gone.value = true;
      this.#hookPlugins.remove(p.plugin);
      for (const off of p.unsubscribe) off();
    }
    await Promise.all(all.map((p) => p.plugin.close()));
    await this.#spares?.close();
    await this.bus.idle();
  }

  /** Same as {@linkcode PluginHost.close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** What a guard of a plugin unloaded while a check was in flight answers. */
function unloadedVerdict(plugin: string, hook: string): Verdict {
  return {
    decision: "block",
    reason: `plugin "${plugin}" was unloaded while hook "${hook}" was being checked`,
  };
}

const DIGEST_PIN = /^blake3:[0-9a-f]{64}$/;

/** Refuses per-plugin records whose name is not pinned, and malformed pins. */
function checkPins(options: PluginHostOptions): void {
  const pins = options.pins ?? {};
  for (const [name, pin] of Object.entries(pins)) {
    if (
      typeof pin !== "string" || pin === "" || (pin.startsWith("blake3:") && !DIGEST_PIN.test(pin))
    ) {
      throw new TypeError(
        `Cannot create the plugin host: pin of "${name}" must be "blake3:<64 lowercase hex>" or the path of its plugin.toml (got ${
          JSON.stringify(pin)
        })`,
      );
    }
  }
  const records: [string, unknown][] = [["events", options.events]];
  if (options.grants !== undefined && !Array.isArray(options.grants)) {
    records.push(["grants", options.grants]);
  }
  for (const [option, record] of records) {
    for (const name of Object.keys(record ?? {})) {
      if (Object.hasOwn(pins, name)) continue;
      throw new TypeError(
        `Cannot create the plugin host: "${option}" has an entry for plugin "${name}", but a name is ` +
          `what any manifest can claim: pin it, with pins: { "${name}": "blake3:<its module digest>" } ` +
          `or pins: { "${name}": "<path of its plugin.toml>" }`,
      );
    }
  }
}

/** The canonical `file:` URL of a manifest path or URL, or `undefined` when it cannot be resolved. */
async function canonicalManifest(location: string): Promise<string | undefined> {
  try {
    const path = /^file:/i.test(location) ? fromFileUrl(location) : location;
    return toFileUrl(await Deno.realPath(path)).href;
  } catch {
    return undefined;
  }
}
