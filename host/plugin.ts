/**
 * A loaded plugin: its checked and compiled module, a pool of isolated
 * instances, and the dispatcher that turns hook calls into envelopes and
 * answers into values or typed errors.
 *
 * @module
 */

import Queue from "yocto-queue";
import { HookError, type HookErrorCode } from "../abi/errors.ts";
import { assertHookName } from "../abi/hook_name.ts";
import {
  decodeFilterAnswer,
  decodeGuardAnswer,
  encodeEnvelope,
  type HookKind,
  type Verdict,
} from "../abi/envelope.ts";
import { COST_MODEL_VERSION } from "../meter/mod.ts";
import { prepareModule } from "./_prepare.ts";
import { type PluginConfig, type PluginOptions, resolvePluginConfig } from "./config.ts";
import {
  type CallOutcome,
  type Forward,
  type Transport,
  WorkerTransport,
} from "../channel/host_end.ts";
import { type InstanceSpec, type IsolationInfo, startInstance } from "./_worker_boot.ts";

export type { PluginOptions };

/** Test hook: `plugin[CRASH_FOR_TESTS]()` makes its first live worker crash. */
export const CRASH_FOR_TESTS: unique symbol = Symbol("gn.crashForTests");

/** Test hook: `plugin[PREWAKES_FOR_TESTS]()` counts the prewakes its live workers served. */
export const PREWAKES_FOR_TESTS: unique symbol = Symbol("gn.prewakesForTests");

/** Codes that mean the instance itself failed (counted towards quarantine, instance replaced or recycled). */
const INSTANCE_FAILURES: ReadonlySet<HookErrorCode> = new Set([
  "trapped",
  "timeout",
  "fuel_exhausted",
  "out_of_memory",
  "worker_crashed",
  "bad_response",
  "response_too_large",
]);

/** Codes after which the worker is replaced (the in-worker recycle cannot help). */
const WORKER_FATAL: ReadonlySet<HookErrorCode> = new Set(["timeout", "worker_crashed"]);

const encoder = new TextEncoder();

/** The fuel of a plugin loaded with `fuel: false`: 2^63 - 1, never reached (centuries of work). */
const UNLIMITED_FUEL = (1n << 63n) - 1n;

/** Longest a queue drain runs before the event loop gets a turn, in ms. */
const DRAIN_SLICE_MS = 1;

const taskCell = new Int32Array(new SharedArrayBuffer(4));

/**
 * Resolves in a later task, after the event loop's turn (timers, I/O): an
 * `Atomics.waitAsync` notified at once costs about 3 µs, where a
 * `setTimeout(0)` called from a timer is clamped to 4 ms after five levels.
 */
function nextTask(): Promise<unknown> {
  const w = Atomics.waitAsync(taskCell, 0, 0);
  Atomics.notify(taskCell, 0);
  return w.value as Promise<unknown>;
}

function utf8Length(text: string, cap: number): number {
  if (text.length * 3 <= cap) return text.length; // cannot exceed the cap
  if (text.length > cap) return text.length; // already over, whatever the encoding
  return encoder.encode(text).length;
}

interface Job {
  hook: string;
  payload: string;
  resolve(o: CallOutcome): void;
  reject(e: HookError): void;
}

/**
 * An idle instance held for a chain hand-off (`host/_relay.ts`): the worker
 * of the plugin before it may publish its request.
 */
export interface Held {
  readonly plugin: Plugin;
  readonly hook: string;
  readonly transport: WorkerTransport;
  readonly slot: Slot;
  /** The reservation's token: what the request before it must name. */
  readonly token: number;
}

/** What a hand-off call reports besides its value: whether its worker handed on. */
export interface Seen {
  forwarded: boolean;
}

interface Slot {
  transport: Transport | undefined;
  busy: boolean;
  starting: Promise<void> | undefined;
  /** When the call in flight must be done (`Infinity` when idle). */
  deadline: number;
  /** The hook of the call in flight. */
  hook: string;
}

function slot(): Slot {
  return { transport: undefined, busy: false, starting: undefined, deadline: Infinity, hook: "" };
}

/** Counters of one plugin. */
export interface PluginStats {
  /** Calls answered (successfully or with a guest status). */
  calls: number;
  /** Instance failures (trap, timeout, fuel, out of memory, crash, bad answer). */
  failures: number;
  /** Workers replaced after a timeout or crash. */
  restarts: number;
}

/** What an embedder can see and do with one loaded plugin. */
export interface PluginHandle {
  /** The plugin name. */
  readonly name: string;
  /** The sandbox report of its first instance. */
  readonly isolation: IsolationInfo;
  /** Counters. */
  readonly stats: Readonly<PluginStats>;
  /** Whether it is quarantined (calls fail fast with `quarantined`). */
  readonly quarantined: boolean;
  /** The compiled module, shared by every instance and reload of the same digest. */
  readonly module: WebAssembly.Module;
  /** Lifts a quarantine. */
  reenable(): void;
}

/**
 * A loaded plugin. Created by {@linkcode Plugin.load}.
 */
export class Plugin implements PluginHandle {
  /** The plugin name. */
  readonly name: string;
  /** The sandbox report of the first instance. */
  readonly isolation: IsolationInfo;
  readonly #spec: InstanceSpec;
  readonly #config: PluginConfig;
  readonly #slots: Slot[];
  /** Calls waiting for an idle instance, oldest first (O(1) at both ends at any length). */
  readonly #queue = new Queue<Job>();
  #pumping = false;
  #pumpScheduled = false;
  readonly #failures: number[] = [];
  #quarantine: HookError | undefined;
  #closed: HookError | undefined;
  #inFlight = 0;
  #drained: (() => void) | undefined;
  #watchdog: ReturnType<typeof setTimeout> | undefined;
  readonly #maxPayload: number;
  readonly #timeoutMs: number;
  /** Counters. */
  readonly stats: PluginStats = { calls: 0, failures: 0, restarts: 0 };

  private constructor(
    spec: InstanceSpec,
    config: PluginConfig,
    first: { transport: Transport; isolation: IsolationInfo },
  ) {
    this.name = config.name;
    this.isolation = first.isolation;
    this.#spec = spec;
    this.#config = config;
    this.#maxPayload = spec.maxPayloadBytes;
    this.#timeoutMs = config.timeoutMs;
    const n = Math.max(1, config.instances);
    this.#slots = [slot()];
    this.#attach(this.#slots[0], first.transport);
    for (let i = 1; i < n; i++) this.#slots.push(slot());
  }

  /**
   * Checks, compiles and starts a plugin from its module bytes.
   *
   * @param bytes The (already verified) module bytes.
   * @param options Name, grants and limits.
   * @returns The started plugin, one instance running.
   * @throws {HookError} Every load-time refusal, typed.
   */
  static async load(bytes: Uint8Array, options: PluginOptions): Promise<Plugin> {
    const config = resolvePluginConfig(options);
    const plugin = config.name;
    const fuel = config.fuel === false ? undefined : config.fuel;
    const pages = config.memoryPages;
    const tables = config.tableElements;
    const guestBytes = config.guestBytes;
    const key = config.digest === undefined
      ? undefined
      : `${config.digest}|fuel=${fuel ?? "off"}|pages=${pages}|tables=${tables}|bytes=${
        guestBytes ?? "auto"
      }|costs=${COST_MODEL_VERSION}|refuel`;
    let module = key === undefined ? undefined : config.moduleCache?.get(key);
    // Check, meter and compile: a large module in a worker, so the event loop runs on.
    const report = await prepareModule({
      bytes,
      plugin,
      granted: [...config.granted],
      // Always metered with refuel: every guest stops at its next slice once its call is
      // abandoned; without fuel, the budget is unlimited (2^63 - 1, never set again).
      meter: module !== undefined ? undefined : {
        fuel: true,
        refuel: true,
        startFuel: fuel ?? UNLIMITED_FUEL,
        maxMemoryPages: pages,
        maxTableElements: tables,
        maxGuestBytes: guestBytes,
      },
      compileTimeoutMs: config.timeoutMs,
    });
    if (module === undefined) {
      module = report.module!;
      if (key !== undefined) config.moduleCache?.set(key, module);
    }
    const spec: InstanceSpec = {
      plugin,
      module,
      importNames: report.imports,
      granted: [...config.granted],
      maxPayloadBytes: config.maxPayloadBytes,
      maxResponseBytes: config.maxResponseBytes,
      fuel,
      checkAbiVersion: report.hasAbiVersionExport && report.abiVersion === undefined,
      bootTimeoutMs: config.bootTimeoutMs,
      unstableWorkerOptions: config.unstableWorkerOptions,
      services: config.services,
      events: [...config.events],
      wasiRandom: config.wasiRandom,
      sinkKinds: [...config.sinkKinds],
      maxEventBytes: config.maxEventBytes,
      maxEventsPerCall: config.maxEventsPerCall,
      maxLogsPerCall: config.maxLogsPerCall,
      maxEventBytesPerCall: config.maxEventBytesPerCall,
      timeoutMs: config.timeoutMs,
      channelBytes: config.channelBytes,
    };
    const first = await startInstance(spec, config.spares);
    return new Plugin(spec, config, first);
  }

  /** The compiled module (for caches). */
  get module(): WebAssembly.Module {
    return this.#spec.module;
  }

  /** Test hook: crashes the first live worker. */
  [CRASH_FOR_TESTS](): void {
    this.#slots.find((s) => s.transport !== undefined)?.transport?.crash();
  }

  /** Test hook: prewakes served by the live workers. */
  [PREWAKES_FOR_TESTS](): number {
    let n = 0;
    for (const s of this.#slots) n += s.transport?.prewakesServed() ?? 0;
    return n;
  }

  /** Whether the plugin is quarantined. */
  get quarantined(): boolean {
    return this.#quarantine !== undefined;
  }

  /** Lifts a quarantine; calls are served again. */
  reenable(): void {
    this.#quarantine = undefined;
    this.#failures.length = 0;
  }

  /**
   * Starts every instance of the pool now, so the first calls do not pay for
   * spawning workers.
   *
   * @returns When every instance is up.
   */
  async prewarm(): Promise<void> {
    await Promise.all(this.#slots.map((s) => this.#ensure(s).catch(() => {})));
  }

  /**
   * Says a call is coming: the worker of the instance the next call will take
   * wakes now, if it is parked, and spins for the call (within the
   * process-wide spinner budget), so that call does not wait for the wake-up.
   * Does nothing when the plugin is closed, quarantined or busy.
   */
  prewake(): void {
    if (this.#closed !== undefined || this.#quarantine !== undefined || this.#queue.size > 0) {
      return;
    }
    this.#idleSlot()?.transport?.prewake();
  }

  /**
   * Fires an action hook.
   *
   * @param hook The hook name.
   * @param args The arguments.
   * @returns When the plugin has handled it.
   * @throws {HookError} Any failure, typed.
   */
  async action(hook: string, args: readonly unknown[] = []): Promise<void> {
    await this.run("action", hook, undefined, args);
  }

  /**
   * Applies a filter hook.
   *
   * @param hook The hook name.
   * @param value The value to filter.
   * @param args Extra arguments.
   * @returns The filtered value (unchanged when the plugin answers no body).
   * @throws {HookError} Any failure, typed.
   */
  async filter(hook: string, value: unknown, args: readonly unknown[] = []): Promise<unknown> {
    return await this.run("filter", hook, value, args);
  }

  /**
   * Asks a guard hook for a verdict.
   *
   * @param hook The hook name.
   * @param subject What is being guarded.
   * @param args Extra arguments.
   * @returns The verdict (`continue` when the plugin answers no body).
   * @throws {HookError} Any failure, typed.
   */
  async guard(hook: string, subject: unknown, args: readonly unknown[] = []): Promise<Verdict> {
    return await this.run("guard", hook, subject, args) as Verdict;
  }

  /**
   * Runs a hook and decodes its answer: what the bus bindings call. Answers
   * synchronously when the instance answered within its channel's spin (the
   * bus awaits only promises), so a fast call costs no event-loop turn;
   * otherwise returns a promise. Fails with a HookError, either way.
   *
   * @param kind The hook kind.
   * @param hook The hook name.
   * @param value The filter value or guard subject (`undefined` for actions).
   * @param args Extra arguments.
   * @returns The filtered value, the verdict, or `undefined` for an action.
   */
  run(
    kind: HookKind,
    hook: string,
    value: unknown,
    args: readonly unknown[],
    forward?: Forward,
    seen?: Seen,
  ): unknown {
    const out = this.#invoke(kind, hook, value, args, forward);
    return out instanceof Promise
      ? out.then((o) => this.#decode(kind, hook, value, o, seen))
      : this.#decode(kind, hook, value, out, seen);
  }

  /** The payload cap of this plugin's calls, in bytes. */
  get maxPayloadBytes(): number {
    return this.#maxPayload;
  }

  /**
   * The transport a call would go to right now, without queueing: open, not
   * quarantined, nothing queued, an instance up and idle on a shared channel.
   *
   * @returns The transport, or `undefined`.
   */
  idleTransport(): WorkerTransport | undefined {
    if (this.#closed !== undefined || this.#quarantine !== undefined || this.#queue.size > 0) {
      return undefined;
    }
    const t = this.#idleSlot()?.transport;
    return t instanceof WorkerTransport ? t : undefined;
  }

  /**
   * Holds an idle instance for a chain hand-off: its channel is reserved for
   * a request the plugin before it will publish. The instance counts as busy
   * until {@linkcode Plugin.adopt} or {@linkcode Plugin.drop}.
   *
   * @param hook The filter hook.
   * @param forward Where this call's answer goes on, if anywhere.
   * @returns The hold, or `undefined` when no instance can be held.
   */
  hold(hook: string, forward: Forward | undefined): Held | undefined {
    const transport = this.idleTransport();
    const slot = this.#idleSlot();
    const token = transport?.reserve(hook, forward) ?? 0;
    if (transport === undefined || slot === undefined || token === 0) return undefined;
    slot.busy = true;
    this.#inFlight++;
    return { plugin: this, hook, transport, slot, token };
  }

  /**
   * Whether a call now would reach an instance: not closed, not quarantined.
   * A held call is collected only then; otherwise it is taken back, and the
   * call fails as it would without the hold.
   *
   * @returns `true` when calls go through.
   */
  usable(): boolean {
    return this.#closed === undefined && this.#quarantine === undefined;
  }

  /**
   * Collects the call a hold's predecessor handed on, like {@linkcode Plugin.run}
   * for a filter: deadline, counts, decoding.
   *
   * @param held The hold.
   * @param hook The hook name.
   * @param value The value handed on (what an empty answer leaves unchanged).
   * @param seen Set to whether this call handed on in turn.
   * @returns The filtered value, or a promise of it.
   */
  adopt(held: Held, hook: string, value: unknown, seen: Seen): unknown {
    const out = this.#track(held.slot, held.transport, hook, () => held.transport.adopt(hook));
    return out instanceof Promise
      ? out.then((o) => this.#decode("filter", hook, value, o, seen))
      : this.#decode("filter", hook, value, out, seen);
  }

  /**
   * Takes a hold back.
   *
   * @param held The hold.
   * @param hook The hook name.
   * @param patience How many times to wait (one deadline each) for the
   *   plugin before to finish writing into it, before its worker is replaced.
   * @returns `undefined` when no request ran in it (the instance is free
   *   again); otherwise a promise that settles once the request that ran is
   *   collected (its outcome dropped, counted like any call), telling whether
   *   it handed on in turn.
   */
  drop(held: Held, hook: string, patience = 1): Promise<boolean> | undefined {
    const dead = held.transport.dead;
    if (dead !== undefined) {
      // Its worker died while held (nobody noticed: the slot was busy):
      // counted and replaced as for an idle instance.
      this.#onFailure(held.slot, held.transport, dead);
      this.#release(held.slot);
      return undefined;
    }
    const state = held.transport.unreserve();
    if (state === "free") {
      this.#release(held.slot);
      return undefined;
    }
    if (state === "filling") {
      if (patience <= 0) {
        // The worker before never finished writing (it died mid-way): this
        // channel cannot be trusted again; its worker is replaced.
        held.transport.terminate(
          new HookError(
            "worker_crashed",
            `The request handed on to plugin "${this.name}" was never finished by the plugin before it; its worker was replaced`,
            { plugin: this.name, hook },
          ),
        );
        return Promise.resolve(this.drop(held, hook, 0)).then(() => false);
      }
      // The worker before is writing into it: ask again once it published or gave it back.
      return held.transport.whileFilling(this.#timeoutMs).then(() =>
        this.drop(held, hook, patience - 1) ?? false
      );
    }
    const seen = { forwarded: false };
    return Promise.resolve()
      .then(() => this.adopt(held, hook, undefined, seen))
      .then(() => seen.forwarded, () => seen.forwarded);
  }

  #decode(
    kind: HookKind,
    hook: string,
    value: unknown,
    { body, forwarded }: CallOutcome,
    seen?: Seen,
  ): unknown {
    if (seen !== undefined) seen.forwarded = forwarded === true;
    try {
      switch (kind) {
        case "filter":
          return decodeAnswer(() => decodeFilterAnswer(body, value), this.name, hook);
        case "guard":
          return decodeAnswer(() => decodeGuardAnswer(body), this.name, hook);
        default:
          return undefined;
      }
    } catch (e) {
      // A body that is not JSON, or not an answer, is the plugin's failure,
      // counted like one that is not UTF-8 (same code, same quarantine).
      if (e instanceof HookError && INSTANCE_FAILURES.has(e.code)) {
        this.stats.calls--;
        this.stats.failures++;
        this.#countFailure(e);
      }
      throw e;
    }
  }

  /**
   * Counts an answer the caller decoded itself and found bad (a hook point's
   * body that is not JSON, or an unknown decision): a failure of the
   * plugin, towards quarantine, like a bad body of a bus hook.
   *
   * @param error The `bad_response` it fails with.
   */
  badAnswer(error: HookError): void {
    this.stats.calls--;
    this.stats.failures++;
    this.#countFailure(error);
  }

  /**
   * Sends an already encoded envelope (for tests and the conformance suite).
   *
   * @param hook The hook name.
   * @param payload The envelope JSON text.
   * @returns The body text and fuel used.
   */
  async callRaw(hook: string, payload: string): Promise<CallOutcome> {
    return await this.#invoke(undefined, hook, payload, []);
  }

  /** Checks, encodes and dispatches a call; throws (synchronously) or answers like {@linkcode Plugin.run}. */
  #invoke(
    kind: HookKind | undefined,
    hook: string,
    value: unknown,
    args: readonly unknown[],
    forward?: Forward,
  ): CallOutcome | Promise<CallOutcome> {
    try {
      assertHookName(hook, this.name);
      if (this.#closed !== undefined) throw this.#closed;
      if (this.#quarantine !== undefined) throw this.#quarantinedError(hook);
      const payload = kind === undefined ? value as string : encodeEnvelope(kind, value, args);
      const size = utf8Length(payload, this.#maxPayload);
      if (size > this.#maxPayload) {
        throw new HookError(
          "payload_too_large",
          `Cannot call hook "${hook}": payload of ${size} bytes is over the cap of ${this.#maxPayload}; send less, or raise the host's maxPayloadBytes (PluginHost.create)`,
          { plugin: this.name, hook },
        );
      }
      if (this.#queue.size === 0) {
        const idle = this.#idleSlot();
        if (idle !== undefined) return this.#exec(idle, hook, payload, forward);
      }
      return new Promise<CallOutcome>((resolve, reject) => {
        this.#queue.enqueue({ hook, payload, resolve, reject });
        this.#pump();
      });
    } catch (e) {
      if (e instanceof HookError && e.plugin === undefined) {
        throw new HookError(e.code, e.message, { plugin: this.name, hook, cause: e.cause });
      }
      throw e;
    }
  }

  #idleSlot(): Slot | undefined {
    for (const s of this.#slots) if (!s.busy && s.starting === undefined) return s;
    return undefined;
  }

  #pump(): void {
    // A call answered synchronously releases its slot inside #exec, which
    // pumps again: that nested pump leaves the work to this loop, so a long
    // queue is drained iteratively, not by recursion.
    if (this.#pumping || this.#queue.size === 0) return;
    this.#pumping = true;
    try {
      this.#drainQueue();
    } finally {
      this.#pumping = false;
    }
  }

  #drainQueue(): void {
    let until = -1; // read the clock only once the drain is long
    for (let n = 1; this.#queue.size > 0; n++) {
      // Answers that come synchronously would drain a long queue in one go:
      // every millisecond, the rest waits for a later task.
      if ((n & 15) === 0) {
        const now = performance.now();
        if (until < 0) until = now + DRAIN_SLICE_MS;
        else if (now >= until) {
          this.#pumpLater();
          return;
        }
      }
      const slot = this.#idleSlot();
      if (slot === undefined) return; // instances starting up pump when ready
      const job = this.#queue.dequeue()!;
      try {
        const out = this.#exec(slot, job.hook, job.payload);
        if (out instanceof Promise) out.then(job.resolve, job.reject);
        else job.resolve(out);
      } catch (e) {
        job.reject(e as HookError);
      }
    }
  }

  #pumpLater(): void {
    if (this.#pumpScheduled) return;
    this.#pumpScheduled = true;
    void nextTask().then(() => {
      this.#pumpScheduled = false;
      this.#pump();
    });
  }

  #ensure(slot: Slot): Promise<void> {
    if (slot.transport !== undefined) return Promise.resolve();
    if (slot.starting !== undefined) return slot.starting;
    slot.starting = startInstance(this.#spec, this.#config.spares).then(
      ({ transport }) => {
        slot.starting = undefined;
        if (this.#closed !== undefined) {
          transport.terminate(this.#closed);
          return;
        }
        this.#attach(slot, transport);
        this.#pump();
      },
      (e: HookError) => {
        slot.starting = undefined;
        this.#startFailed(e);
        throw e;
      },
    );
    return slot.starting;
  }

  /**
   * A (re)start failed: it counts towards quarantine like any instance
   * failure, and calls queued for an instance must not wait for one that is
   * not coming. When no instance is up or starting, every queued call settles
   * now with the failure (or `quarantined`); otherwise the others serve them.
   */
  #startFailed(error: HookError): void {
    if (this.#closed !== undefined) return;
    this.stats.failures++;
    this.#countFailure(error);
    const serving = this.#slots.some((s) => s.transport !== undefined || s.starting !== undefined);
    if (serving && this.#quarantine === undefined) {
      this.#pump();
      return;
    }
    const failure = this.#quarantine === undefined ? error : this.#quarantinedError(undefined);
    const waiting = [...this.#queue];
    this.#queue.clear();
    for (const job of waiting) job.reject(failure);
    if (this.#inFlight === 0) this.#drained?.();
  }

  #quarantinedError(hook: string | undefined): HookError {
    return new HookError(
      "quarantined",
      `Cannot call ${
        hook === undefined ? "the plugin" : `hook "${hook}"`
      }: plugin "${this.name}" is quarantined after repeated failures (see this error's cause); fix the cause, then re-enable it with host.plugin("${this.name}").reenable() to retry`,
      { plugin: this.name, hook, cause: this.#quarantine },
    );
  }

  /** Puts a live transport in a slot; a worker that dies while idle is replaced at once. */
  #attach(slot: Slot, transport: Transport): void {
    slot.transport = transport;
    transport.onDeath = (error) => {
      if (slot.transport !== transport) return;
      if (!slot.busy) {
        // idle: no call will notice, so count it and replace it now
        this.#onFailure(slot, transport, error);
      }
    };
  }

  /**
   * Runs one call on `slot`, under the plugin's deadline. Synchronous when
   * the instance is up and answers within its spin; a promise otherwise.
   */
  #exec(
    slot: Slot,
    hook: string,
    payload: string,
    forward?: Forward,
  ): CallOutcome | Promise<CallOutcome> {
    if (slot.transport === undefined) return this.#execWhenStarted(slot, hook, payload);
    const transport = slot.transport;
    slot.busy = true;
    this.#inFlight++;
    return this.#track(
      slot,
      transport,
      hook,
      forward === undefined || !(transport instanceof WorkerTransport)
        ? () => transport.call(hook, payload)
        : () => transport.call(hook, payload, forward),
    );
  }

  /** Runs one exchange on a busy slot: deadline, counts, failure handling, release. */
  #track(
    slot: Slot,
    transport: Transport,
    hook: string,
    exchange: () => CallOutcome | Promise<CallOutcome>,
  ): CallOutcome | Promise<CallOutcome> {
    let out: CallOutcome | Promise<CallOutcome>;
    try {
      out = exchange();
    } catch (e) {
      this.#onFailure(slot, transport, e as HookError);
      this.#release(slot);
      throw e;
    }
    if (out instanceof Promise) {
      // The deadline runs from here: a synchronous answer needs none, and the
      // spin before this point is bounded (0.5 ms at most).
      slot.hook = hook;
      slot.deadline = performance.now() + this.#timeoutMs;
      this.#armWatchdog();
      return out.then(
        (o) => {
          this.stats.calls++;
          this.#release(slot);
          return o;
        },
        (e: HookError) => {
          this.#onFailure(slot, transport, e);
          this.#release(slot);
          throw e;
        },
      );
    }
    this.stats.calls++;
    this.#release(slot);
    return out;
  }

  /** A call on a slot whose instance is (re)starting. */
  async #execWhenStarted(slot: Slot, hook: string, payload: string): Promise<CallOutcome> {
    slot.busy = true;
    this.#inFlight++;
    try {
      await this.#ensure(slot);
      if (this.#closed !== undefined) throw this.#closed;
    } catch (e) {
      this.#release(slot);
      throw e;
    }
    // #exec takes the slot again, synchronously.
    slot.busy = false;
    this.#inFlight--;
    return await this.#exec(slot, hook, payload);
  }

  /** Ends a call on `slot`: the next queued call may take it. */
  #release(slot: Slot): void {
    slot.deadline = Infinity;
    slot.busy = false;
    this.#inFlight--;
    if (this.#inFlight === 0 && this.#queue.size === 0) this.#drained?.();
    this.#pump();
  }

  /**
   * One timer per plugin watches every call's deadline (a timer per call would
   * cost more than the call). On expiry the worker is terminated, which
   * rejects the call with `timeout`; the slot is then refilled.
   */
  #armWatchdog(): void {
    if (this.#watchdog !== undefined) return;
    let next = Infinity;
    for (const s of this.#slots) if (s.deadline < next) next = s.deadline;
    if (next === Infinity) return;
    this.#watchdog = setTimeout(() => {
      this.#watchdog = undefined;
      const now = performance.now();
      for (const s of this.#slots) {
        if (s.deadline <= now && s.transport !== undefined) {
          if (s.transport.answered()) {
            // Answered in time, but the event loop was busy and the timer ran
            // first: the answer is collected in this turn. Look again later.
            s.deadline = now + this.#timeoutMs;
            continue;
          }
          s.deadline = Infinity;
          s.transport.terminate(
            new HookError(
              "timeout",
              `Hook "${s.hook}" of plugin "${this.name}" took longer than ${this.#timeoutMs} ms; its worker was replaced. Raise \`timeout_ms\` under \`[limits]\` in plugin.toml (the host clamps it to its limits.timeoutMs ceiling), or make the hook faster`,
              { plugin: this.name, hook: s.hook },
            ),
          );
        }
      }
      this.#armWatchdog();
    }, Math.max(0, next - performance.now()));
  }

  #onFailure(slot: Slot, transport: Transport, error: HookError): void {
    if (!INSTANCE_FAILURES.has(error.code)) {
      this.stats.calls++;
      return;
    }
    this.stats.failures++;
    if (WORKER_FATAL.has(error.code) && slot.transport === transport) {
      transport.terminate(error);
      slot.transport = undefined;
      if (this.#closed === undefined) {
        this.stats.restarts++;
        // Replace it now so queued calls run on a fresh instance.
        this.#ensure(slot).catch(() => {});
      }
    }
    this.#countFailure(error);
  }

  /** Counts a failure towards quarantine; quarantines the plugin at the threshold. */
  #countFailure(error: HookError): void {
    const now = performance.now();
    const window = this.#config.quarantineWindowMs;
    this.#failures.push(now);
    while (this.#failures.length > 0 && now - this.#failures[0] > window) this.#failures.shift();
    if (this.#failures.length >= this.#config.quarantineAfter && !this.#quarantine) {
      this.#quarantine = error;
      const q = new HookError(
        "quarantined",
        `Plugin "${this.name}" is quarantined: ${this.#failures.length} failures within ${window} ms (last: ${error.message}); calls fail fast until host.plugin("${this.name}").reenable()`,
        { plugin: this.name, cause: error },
      );
      this.#config.onQuarantine?.(q);
    }
  }

  /**
   * Stops the plugin. With `drain`, calls already queued or in flight are
   * answered first; without, they reject with `closed`.
   *
   * @param options `{ drain }`.
   * @returns When every worker is terminated.
   */
  async close(options: { drain?: boolean } = {}): Promise<void> {
    if (options.drain && (this.#inFlight > 0 || this.#queue.size > 0)) {
      await new Promise<void>((resolve) => this.#drained = resolve);
    }
    const error = this.#closed ?? new HookError(
      "closed",
      `Plugin "${this.name}" is closed`,
      { plugin: this.name },
    );
    this.#closed = error;
    const waiting = [...this.#queue];
    this.#queue.clear();
    for (const job of waiting) job.reject(error);
    await Promise.all(this.#slots.map((s) => s.starting?.catch(() => {})));
    clearTimeout(this.#watchdog);
    this.#watchdog = undefined;
    for (const s of this.#slots) {
      s.transport?.terminate(error);
      s.transport = undefined;
    }
  }
}

function decodeAnswer<T>(decode: () => T, plugin: string, hook: string): T {
  try {
    return decode();
  } catch (e) {
    if (e instanceof HookError) {
      throw new HookError(e.code, `Hook "${hook}" of plugin "${plugin}": ${e.message}`, {
        plugin,
        hook,
        cause: e.cause,
      });
    }
    throw e;
  }
}
