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
import { resolve } from "node:path";
import { HookError } from "../abi/errors.ts";
import type { Capability } from "../abi/imports.ts";
import { HookBus, type HookKind, type MetricsSink, type Verdict } from "./bus.ts";
import {
  clampLimits,
  type HookBinding,
  HOST_CEILINGS,
  type LimitRequest,
  type LoadedManifest,
  type PluginLimits,
} from "./manifest/mod.ts";
import { readManifest, startPlugin } from "./pipeline.ts";
import { DEFAULTS } from "./config.ts";
import type { Plugin, PluginHandle } from "./plugin.ts";
import { type IsolationInfo, SpareWorkers } from "./_worker_boot.ts";
import { HookPoints, type HookPointSpec } from "./points/points.ts";
import type { DurableSink } from "./points/sink.ts";
import { HookPlugins } from "./_hook_plugins.ts";
import { RELAY, type RelayBinding, type RelayHop } from "./_relay.ts";
import { latencyPolicy } from "../channel/spin.ts";
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
import {
  bindDefinition,
  checkDefinition,
  describeDefinition,
  type HandlersConfig,
} from "./handlers/binding.ts";
import { discoverHooks } from "./hookfiles/discover.ts";
import type { HookDefinition } from "./hookfiles/schema.ts";
import { compileMatcher } from "./hookfiles/matcher.ts";
import {
  definitionFingerprint,
  loadedPluginFingerprint,
  type TrustSubject,
} from "./trust/fingerprint.ts";
import { TrustStore } from "./trust/store.ts";
import {
  checkPluginSignature,
  decodePublicKey,
  type SignatureOptions,
  type SignedBy,
} from "./trust/signature.ts";

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
  /**
   * The hook points the host declares (docs/abi.md#hook-points): typed
   * subjects, allowed decisions, mutable and opaque fields, handles, a match
   * field. Plugins bind them in `[[hooks]]` like any hook; the host
   * dispatches them with `host.points.dispatch`. A point's name may not also
   * be in `hooks`. @default {[]}
   */
  points?: readonly HookPointSpec[];
  /** Where sink items appended through hook-point handles are committed. @default {new MemorySink()} */
  sink?: DurableSink;
  /** Item kinds a sink handle accepts; any other is denied (-6). @default {[]} */
  sinkKinds?: readonly string[];
  /**
   * Accept regular-expression matchers (`match = "/…/"`) in manifests. Off
   * by default: a manifest is untrusted, and a regular expression can
   * backtrack for a long time on the host's thread. Exact names,
   * alternatives and wildcards are always accepted (they run in linear
   * time); host handlers may always use regular expressions. @default {false}
   */
  regexMatchers?: boolean;
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
  /**
   * What WASI `random_get` gives plugins granted `wasi`: `"seeded"`, the same
   * bytes for every instance of a plugin (a PRNG seeded from its name), or
   * `"crypto"`, real randomness. @default {"seeded"}
   */
  wasiRandom?: "seeded" | "crypto";
  /** The store behind the `state` capability. @default {new MemoryStateStore()} */
  state?: StateStore;
  /** Quotas on every plugin's state. @default {DEFAULT_STATE_QUOTAS} */
  stateQuotas?: Partial<StateQuotas>;
  /**
   * Handlers that run outside the sandbox, declared in hook files: both off
   * unless enabled here, e.g. `{ command: true, http: ["hooks.internal:8443"] }`.
   * Command handlers need `--allow-run=setsid`, HTTP handlers `--allow-net`
   * for each listed host; without it, binding one fails with
   * `permission_required`. @default {{}}
   */
  handlers?: HandlersConfig;
  /**
   * Path of a trust store file (JSON; created on the first approval). When
   * given, a hook definition or plugin whose fingerprint it has not approved
   * (new, or changed since its approval) is not run: it is skipped with a
   * `not_approved` notice until approved with {@linkcode PluginHost.trust} or
   * `deno task gn trust`.
   */
  trustStore?: string;
  /**
   * Publisher keys the host trusts for plugin signatures (`plugin.toml.sig`),
   * revoked keys, and whether a signature is required.
   */
  signatures?: SignatureOptions;
}

/** A definition or plugin waiting for approval in the trust store. */
export interface PendingApproval {
  /** `hook:<id>` or `plugin:<name>`: what {@linkcode PluginHost.trust} takes. */
  readonly key: string;
  /** `new` (never approved) or `changed` (approved, then changed). */
  readonly state: "new" | "changed";
  /** Its current fingerprint. */
  readonly fingerprint: string;
  /** What changed since the approval (every field when new). */
  readonly changes: readonly string[];
  /** Where it came from: the hook file or the manifest. */
  readonly file: string;
}

/** The outcome of {@linkcode PluginHost.loadHooks}. */
export interface LoadHooksResult {
  /** The definitions now bound. */
  loaded: HookDefinition[];
  /** Definitions not run because the trust store has not approved them (`not_approved`). */
  skipped: { definition: HookDefinition; error: HookError }[];
  /** Files and definitions that were refused, each with its typed error. */
  failed: { file: string; error: HookError }[];
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
  /** Who signed it, when it carries a signature the host verified. */
  readonly signedBy?: SignedBy;
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
  /** The hook points (`points` option), their bindings and their dispatch. */
  readonly points: HookPoints;
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
  readonly #trust: TrustStore | undefined;
  /** What waits for approval, by key, with what approving it starts. */
  readonly #pending = new Map<
    string,
    { approval: PendingApproval; subject: TrustSubject; activate: () => Promise<unknown> }
  >();
  /** Bound hook-file definitions, by id, with how to unbind each. */
  readonly #definitions = new Map<string, () => Promise<void>>();
  /** Aborted by close: command and HTTP handlers still running are stopped. */
  readonly #abort = new AbortController();
  #closed = false;

  private constructor(options: PluginHostOptions, trust: TrustStore | undefined) {
    this.#options = options;
    this.#trust = trust;
    this.bus = new HookBus({
      onError: options.onError,
      metrics: options.metrics,
      hooks: options.hooks,
    });
    this.points = new HookPoints({
      sink: options.sink,
      sinkKinds: options.sinkKinds,
      onError: (e) => this.#report(e),
    });
    for (const spec of options.points ?? []) {
      if (options.hooks !== undefined && Object.hasOwn(options.hooks, spec?.name)) {
        throw new TypeError(
          `Cannot create the plugin host: "${spec.name}" is both in hooks and in points; ` +
            "a name is a bus hook or a hook point, not both",
        );
      }
      this.points.declare(spec);
    }
    this.#declared = options.hooks === undefined
      ? undefined
      : new Map(Object.entries(options.hooks));
    this.#store = options.state ?? new MemoryStateStore();
    const spares = options.spareWorkers ?? DEFAULTS.spareWorkers;
    // Spares are booted once a plugin has started (see startInstance), not
    // here: a worker keeps the process alive, and a host with no plugin must not.
    this.#spares = spares > 0 ? new SpareWorkers(spares, DEFAULTS.bootTimeoutMs) : undefined;
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
      sink: capabilities.includes("sink")
        ? (item) => void this.points.sinkAppend(name, item.handle, item.kind, item.data)
        : undefined,
      state: capabilities.includes("state")
        ? new StateServer({
          plugin: name,
          store: this.#store,
          quotas: this.#quotas,
          onError: (e) => this.#report(e),
          namespace: identity,
        })
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
   * invalid name; `permission_required` when the trust store cannot be read.
   * @throws {SyntaxError} For a `trustStore` file that is not a trust store.
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
    if (options.wasiRandom !== undefined && !["seeded", "crypto"].includes(options.wasiRandom)) {
      return Promise.reject(
        new RangeError(
          `Cannot create the plugin host: "wasiRandom" must be "seeded" or "crypto", not ${
            JSON.stringify(options.wasiRandom)
          }`,
        ),
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
      checkTrustOptions(options);
    } catch (e) {
      return Promise.reject(e);
    }
    const store = options.trustStore === undefined
      ? Promise.resolve(undefined)
      : TrustStore.open(options.trustStore);
    return store.then((trust) => new PluginHost(options, trust));
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

  /**
   * Signature and trust-store checks of a plugin, before anything of it
   * runs. Unapproved: remembered as pending (approving it loads it), and
   * refused with `not_approved`.
   */
  async #vet(loaded: LoadedManifest, via?: HookDefinition): Promise<SignedBy | undefined> {
    const { manifest, file } = loaded;
    let signedBy: SignedBy | undefined;
    if (this.#options.signatures !== undefined) {
      try {
        signedBy = await checkPluginSignature(
          file,
          loaded.manifestBytes,
          manifest.digest,
          this.#options.signatures,
        );
      } catch (e) {
        if (e instanceof HookError) {
          throw new HookError(e.code, e.message, { plugin: manifest.name, cause: e.cause });
        }
        throw e;
      }
    }
    if (this.#trust !== undefined) {
      const subject = await loadedPluginFingerprint(loaded);
      const activate = via === undefined
        ? () => this.#start(loaded)
        : () => this.#bindDefinition(via);
      this.#gate(subject, file, activate, `plugin "${manifest.name}"`);
    }
    return signedBy;
  }

  /** Throws `not_approved` (and remembers what approving starts) unless the store approves. */
  #gate(
    subject: TrustSubject,
    file: string,
    activate: () => Promise<unknown>,
    what: string,
  ): void {
    const status = this.#trust!.status(subject);
    if (status.state === "approved") return;
    const approval: PendingApproval = Object.freeze({
      key: subject.key,
      state: status.state,
      fingerprint: subject.fingerprint,
      changes: status.changes,
      file,
    });
    this.#pending.set(subject.key, { approval, subject, activate });
    const shown = status.changes.slice(0, 12).map((c) => `\n  ${c}`).join("");
    throw new HookError(
      "not_approved",
      `Skipped ${what} (${file}): ${
        status.state === "new" ? "it is new" : "it changed since it was approved"
      } and the trust store ${JSON.stringify(this.#trust!.path)} has not approved fingerprint ` +
        `${subject.fingerprint}; review it, then approve it with host.trust("${subject.key}") or ` +
        `\`deno task gn trust --store ${this.#trust!.path} --approve ${subject.key}\`` +
        (shown === "" ? "" : `; ${status.state === "new" ? "definition" : "changes"}:${shown}`),
      { plugin: subject.key.startsWith("plugin:") ? subject.key.slice(7) : undefined },
    );
  }

  async #start(loaded: LoadedManifest, via?: HookDefinition): Promise<PluginInfo> {
    const { manifest, file } = loaded;
    const name = manifest.name;
    const signedBy = await this.#vet(loaded, via);
    const bindings = via === undefined ? manifest.hooks : viaBindings(manifest.hooks, via, file);
    const match = via === undefined ? undefined : compileMatcher(via.matcher, via.matchField);
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
      // A hook file's timeout_ms can only shorten a wasm handler's deadline: one more ceiling.
      const ceilings = via?.timeoutMs === undefined ? this.#options.limits : {
        ...this.#options.limits,
        timeoutMs: Math.min(
          via.timeoutMs,
          this.#options.limits?.timeoutMs ?? HOST_CEILINGS.timeoutMs,
        ),
      };
      const { plugin, limits } = await startPlugin(loaded, {
        granted: this.#grantsFor(name),
        declaredHooks: this.#declaredWithPoints(),
        ceilings,
        check: () => {
          this.#checkPoints(bindings, manifest.capabilities, name, file);
          this.#checkKinds(bindings.filter((h) => !this.points.has(h.name)), name, file);
        },
        plugin: {
          maxPayloadBytes: this.#options.maxPayloadBytes,
          maxResponseBytes: this.#options.maxResponseBytes,
          guestBytes: this.#options.maxGuestBytes,
          moduleCache: this.#modules,
          quarantineAfter: this.#options.quarantineAfter,
          quarantineWindowMs: this.#options.quarantineWindowMs,
          unstableWorkerOptions: this.#options.unstableWorkerOptions,
          onQuarantine: (e) => this.#report(e),
          services: this.#services(name, identity, manifest.capabilities),
          events: this.#events.get(name) ?? [],
          sinkKinds: this.points.sinkKinds,
          maxEventsPerCall: this.#options.maxEventsPerCall,
          maxLogsPerCall: this.#options.maxLogsPerCall,
          wasiRandom: this.#options.wasiRandom,
          channelBytes: this.#options.channelBytes,
          spares: this.#spares,
        },
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
        hooks: bindings,
        isolation: plugin.isolation,
        ...(signedBy === undefined ? {} : { signedBy }),
      });
      const gone = { value: false };
      let unsubscribe: (() => void)[];
      try {
        unsubscribe = this.#register(plugin, bindings, name, file, gone, match);
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

  /** The declared hooks plus the hook points, when the host declares its hooks. */
  #declaredWithPoints(): ReadonlyMap<string, HookKind> | undefined {
    if (this.#declared === undefined) return undefined;
    const all = new Map(this.#declared);
    for (const name of this.#pointNames()) all.set(name, this.points.spec(name)!.kind);
    return all;
  }

  #pointNames(): string[] {
    return (this.#options.points ?? []).map((p) => p.name);
  }

  /**
   * Refuses, before the plugin starts, a binding a hook point would refuse: a
   * kind other than the point's, a decision it does not allow, a handle it
   * does not offer or whose capability the plugin lacks, a bad matcher; and
   * match, decisions or handles on a hook that is not a point.
   */
  #checkPoints(
    hooks: readonly HookBinding[],
    capabilities: readonly Capability[],
    name: string,
    file: string,
  ): void {
    const where = `Cannot load plugin "${name}" from "${file}"`;
    hooks.forEach((h, i) => {
      const spec = this.points.spec(h.name);
      if (spec === undefined) {
        const extra = (["match", "decisions", "handles"] as const).find((k) => h[k] !== undefined);
        if (extra === undefined) return;
        throw new HookError(
          "point_mismatch",
          `${where}: key "hooks[${i}].${extra}": hook "${h.name}" is not a hook point of this ` +
            `host, and only hook points take ${extra}: remove it, or bind a declared point`,
          { plugin: name, hook: h.name },
        );
      }
      if (spec.kind !== h.kind) {
        throw new HookError(
          "hook_kind_mismatch",
          `${where}: key "hooks[${i}].kind": hook point "${h.name}" is ${
            spec.kind === "action" ? "an" : "a"
          } ${spec.kind} point, not ${h.kind === "action" ? "an" : "a"} ${h.kind} hook: ` +
            `set kind = "${spec.kind}"`,
          { plugin: name, hook: h.name },
        );
      }
      try {
        const matcher = this.points.check(h.name, {
          plugin: name,
          match: h.match,
          decisions: h.decisions,
          handles: h.handles,
        });
        if (matcher.regex && this.#options.regexMatchers !== true) {
          throw new HookError(
            "point_mismatch",
            `match ${
              JSON.stringify(h.match)
            } is a regular expression, which this host does not accept from ` +
              "manifests (one can backtrack for a long time on the host's thread): use exact " +
              'names, alternatives ("Write|Edit") or wildcards ("mcp__*"), or the host sets ' +
              "regexMatchers: true in PluginHost.create",
            { plugin: name, hook: h.name },
          );
        }
      } catch (e) {
        if (!(e instanceof HookError)) throw e;
        throw new HookError(e.code, `${where}: key "hooks[${i}]": ${e.message}`, {
          plugin: name,
          hook: h.name,
          cause: e,
        });
      }
      for (const handle of h.handles ?? []) {
        if (capabilities.includes(handle)) continue;
        throw new HookError(
          "capability_denied",
          `${where}: key "hooks[${i}].handles": the binding needs handle "${handle}", which ` +
            `needs capability "${handle}": add it to \`capabilities\` (and the host must grant it)`,
          { plugin: name, hook: h.name },
        );
      }
    });
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
    match?: (subject: unknown) => boolean,
  ): (() => void)[] {
    const done: (() => void)[] = [];
    try {
      for (const h of hooks) done.push(this.#bind(plugin, h, gone, match));
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
  #bind(
    plugin: Plugin,
    h: HookBinding,
    gone: { readonly value: boolean },
    match?: (subject: unknown) => boolean,
  ): () => void {
    const name = plugin.name;
    if (this.points.has(h.name)) {
      // An unloaded plugin's guard binding blocks (fail closed), like a bus guard.
      const unloaded = h.kind === "guard" ? JSON.stringify(unloadedVerdict(name, h.name)) : null;
      return this.points.addPlugin(h.name, {
        plugin: name,
        priority: h.priority,
        fail: h.fail,
        match: h.match,
        decisions: h.decisions,
        handles: h.handles,
        onBadAnswer: (e) => plugin.badAnswer(e),
      }, async (payload) => {
        if (gone.value) return unloaded;
        try {
          return (await plugin.callRaw(h.name, payload)).body;
        } catch (e) {
          if (gone.value && e instanceof HookError && e.code === "closed") return unloaded;
          throw e;
        }
      });
    }
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
      // A hook file's matcher: subjects it does not match pass untouched.
      if (match !== undefined && !match(h.kind === "action" ? args[0] : value)) {
        return h.kind === "filter" ? value : undefined;
      }
      this.#hookPlugins.reached(h.name, plugin);
      try {
        const out = plugin.run(h.kind, h.name, value, args);
        return out instanceof Promise ? out.catch((e) => settle(e, value)) : out;
      } catch (e) {
        return settle(e, value);
      }
    };
    switch (h.kind) {
      case "filter": {
        // Chain hand-offs: the same steps as `call`, with the dispatch's holds.
        const hop: RelayHop = {
          plugin,
          hook: h.name,
          ready: () => !gone.value && match === undefined,
        };
        const relay: RelayBinding = {
          hop,
          filter: (value, args, run, at) => {
            if (!latencyPolicy.relay) return call(value, args);
            if (gone.value || (match !== undefined && !match(value))) {
              run.skip(at);
              return call(value, args);
            }
            this.#hookPlugins.reached(h.name, plugin);
            try {
              const out = run.call(hop, at, value, args);
              return out instanceof Promise ? out.catch((e) => settle(e, value)) : out;
            } catch (e) {
              return settle(e, value);
            }
          },
        };
        return this.bus.addFilter(
          h.name,
          (value: unknown, ...args: unknown[]) => call(value, args),
          { ...opts, [RELAY]: relay } as typeof opts,
        );
      }
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
   * Discovers hook files in layered folders (`hooks.toml`, `hook.toml`,
   * `HOOK.toml` in each folder and its immediate subfolders; later layers
   * override earlier ones by `id`) and binds their command, HTTP and wasm
   * handlers. Calling it again rebinds from scratch: definitions bound by an
   * earlier call are unbound first. One bad file or definition is reported
   * (to `onError` and in the result) and never stops the rest; with a trust
   * store, unapproved definitions are skipped with a `not_approved` notice.
   *
   * @param layers Folders, lowest precedence first, e.g. `[userDir, projectDir]`.
   * @returns What was bound, skipped and refused.
   *
   * @example A project's hooks over the user's
   * ```ts ignore
   * const host = await PluginHost.create({ handlers: { command: true }, trustStore: "trust.json" });
   * const { loaded, skipped } = await host.loadHooks([`${Deno.env.get("HOME")}/.gn/hooks`, ".gn/hooks"]);
   * for (const s of skipped) console.log(s.error.message); // what to approve, and what changed
   * ```
   */
  async loadHooks(layers: readonly string[]): Promise<LoadHooksResult> {
    this.#assertOpen();
    const found = await discoverHooks(layers);
    const result: LoadHooksResult = { loaded: [], skipped: [], failed: [...found.failed] };
    for (const f of found.failed) this.#report(f.error);
    const previous = [...this.#definitions.values()];
    this.#definitions.clear();
    for (const [key] of this.#pending) if (key.startsWith("hook:")) this.#pending.delete(key);
    for (const off of previous) await off();
    for (const d of found.definitions) {
      try {
        checkDefinition(d, this.#options.handlers);
        if (this.#trust !== undefined) {
          const subject = await definitionFingerprint(d);
          this.#gate(subject, d.file, () => this.#bindDefinition(d), `${d.type} hook "${d.id}"`);
        }
        await this.#bindDefinition(d);
        result.loaded.push(d);
      } catch (e) {
        const error = e instanceof HookError
          ? e
          : new HookError("invalid_hook_file", `Cannot bind ${describeDefinition(d)}: ${e}`, {
            cause: e,
          });
        if (error.code === "not_approved") {
          result.skipped.push({ definition: d, error });
        } else {
          result.failed.push({ file: d.file, error });
        }
        this.#report(error);
      }
    }
    return result;
  }

  async #bindDefinition(d: HookDefinition): Promise<void> {
    this.#assertOpen();
    if (d.type !== "wasm") {
      const off = bindDefinition(this.bus, d, this.#options.handlers, {
        signal: this.#abort.signal,
      });
      this.#definitions.set(d.id, () => Promise.resolve(off()));
      return;
    }
    const loaded = await readManifest(resolve(d.dir, d.plugin!), {
      maxModuleBytes: this.#options.maxModuleBytes,
    });
    const info = await this.#start(loaded, d);
    this.#definitions.set(d.id, () => this.unload(info.name).catch(() => {}));
  }

  /**
   * Approves what waits for approval under `key` in the trust store (writing
   * the store), then starts it: a hook definition is bound, a plugin loaded.
   *
   * @param key `hook:<id>` or `plugin:<name>`, as {@linkcode PluginHost.pending} lists.
   * @returns What was approved.
   * @throws {TypeError} When the host has no trust store.
   * @throws {RangeError} When nothing waits under `key`.
   * @throws {HookError} Whatever starting it fails with (it stays approved).
   */
  async trust(key: string): Promise<PendingApproval> {
    if (this.#trust === undefined) {
      throw new TypeError(
        "Cannot approve: this host has no trust store; pass trustStore to PluginHost.create",
      );
    }
    const p = this.#pending.get(key);
    if (p === undefined) {
      const keys = [...this.#pending.keys()].map((k) => `"${k}"`).join(", ");
      throw new RangeError(
        `Cannot approve "${key}": nothing waits for approval under it; waiting: ${
          keys === "" ? "nothing" : keys
        }`,
      );
    }
    await this.#trust.approve(p.subject);
    this.#pending.delete(key);
    await p.activate();
    return p.approval;
  }

  /**
   * What waits for approval in the trust store: definitions and plugins
   * skipped because they are new or changed.
   *
   * @returns One entry per key, with what changed.
   */
  pending(): PendingApproval[] {
    return [...this.#pending.values()].map((p) => p.approval);
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
    this.#abort.abort();
    const definitions = [...this.#definitions.values()];
    this.#definitions.clear();
    for (const off of definitions) await off();
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

/** Checks `handlers` and `signatures`: entries of the wrong shape are programming errors. */
function checkTrustOptions(options: PluginHostOptions): void {
  const h = options.handlers;
  if (h !== undefined) {
    if (h === null || typeof h !== "object") {
      throw new TypeError('Cannot create the plugin host: "handlers" must be an object');
    }
    for (const entry of h.http ?? []) {
      if (
        typeof entry !== "string" ||
        !/^[A-Za-z0-9.-]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/.test(entry)
      ) {
        throw new TypeError(
          `Cannot create the plugin host: "handlers.http" entry ${
            JSON.stringify(entry)
          } must be "host:port", e.g. "hooks.internal:8443"`,
        );
      }
    }
  }
  const s = options.signatures;
  if (s !== undefined) {
    for (const [publisher, keys] of Object.entries(s.publishers ?? {})) {
      for (const key of typeof keys === "string" ? [keys] : keys) {
        try {
          decodePublicKey(key);
        } catch (e) {
          throw new TypeError(
            `Cannot create the plugin host: key of publisher "${publisher}": ${
              (e as Error).message
            }`,
          );
        }
      }
    }
  }
  if (options.trustStore !== undefined && typeof options.trustStore !== "string") {
    throw new TypeError('Cannot create the plugin host: "trustStore" must be a file path');
  }
}

/**
 * The one binding a hook file's wasm handler makes: the plugin's binding of
 * the definition's hook, at the definition's priority and fail policy.
 */
function viaBindings(
  hooks: readonly HookBinding[],
  via: HookDefinition,
  file: string,
): HookBinding[] {
  const own = hooks.find((h) => h.name === via.hook);
  if (own === undefined || own.kind !== via.kind) {
    throw new HookError(
      "invalid_hook_file",
      `Invalid hook file ${JSON.stringify(via.file)}: definition ${JSON.stringify(via.id)} binds ` +
        `plugin ${
          JSON.stringify(file)
        } to ${via.kind} hook "${via.hook}", which its manifest does ` +
        `not bind as ${via.kind} (it binds ${
          hooks.map((h) => `${h.name} (${h.kind})`).join(", ")
        }); name one of those`,
      { hook: via.hook },
    );
  }
  return [{ name: via.hook, kind: via.kind, priority: via.priority, fail: via.fail }];
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
