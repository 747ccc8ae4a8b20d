/**
 * One plugin instance: a permission-less worker running the shim, and the
 * transport that carries calls to it. One call in flight at a time; the
 * caller (the pool) queues.
 *
 * @module
 */

import { HookError, type HookErrorRecord } from "../abi/errors.ts";
import type {
  CallMessage,
  InitMessage,
  IsolationReport,
  StateChannel,
  WorkerReply,
} from "../workers/protocol.ts";
import { missingPermission, remoteImportPossible, workerOptionsState } from "./_isolation.ts";
import { deliver, type PluginServices } from "./_services.ts";
import { decodeUtf8 } from "../abi/utf8.ts";
import {
  FUEL_BYTE,
  HEADER_BYTES,
  Result,
  Slot,
  SpinSlot,
  State,
} from "../workers/channel_layout.ts";

/** Everything needed to start an instance of a plugin: the init message's fields, and more. */
export interface InstanceSpec
  extends Omit<InitMessage, "type" | "state" | "hostCallTimeoutMs" | "channel" | "cancel"> {
  /** Deadline for spawning the worker and its self-test, in ms. */
  bootTimeoutMs: number;
  /** The embedder says Deno runs with `--unstable-worker-options`. */
  unstableWorkerOptions: boolean;
  /** Where log lines, events and state requests go. */
  services?: PluginServices;
  /** Per-call deadline, also the longest a state request may wait. */
  timeoutMs: number;
  /** Bytes of the shared call region; `0` uses postMessage only. */
  channelBytes: number;
}

/** What an isolated instance reports about its sandbox. */
export interface IsolationInfo extends IsolationReport {
  /** How the worker-options feature is known to be on: seen in the config, or asserted by the embedder. */
  workerOptions: "on" | "asserted";
  /** Whether a permission-less worker could still import remote modules. */
  remoteImport: boolean;
}

/** The answer of one call. */
export interface CallOutcome {
  body: string | null;
  /** Fuel the call used, when metered. */
  fuel?: bigint;
}

/**
 * Carries calls to a started worker. The postMessage transport is the
 * reference; a shared-memory channel implements the same interface.
 */
export interface Transport {
  /**
   * Sends one call; at most one is in flight. Fails with a HookError. May
   * answer (or throw) synchronously, when the answer came within the spin.
   */
  call(hook: string, payload: string): CallOutcome | Promise<CallOutcome>;
  /** Stops the worker; a call in flight rejects with `error`. */
  terminate(error: HookError): void;
  /** Test hook: makes the worker fail as a crash would. */
  crash(): void;
  /**
   * Whether the call in flight is already answered, waiting only to be
   * collected (the host's event loop has not turned since): its deadline has
   * not really passed.
   */
  answered(): boolean;
  /** Called once when the worker dies on its own (not by `terminate`). */
  onDeath: ((error: HookError) => void) | undefined;
  /**
   * Says a call is coming: a parked worker wakes now and spins for it (within
   * the process-wide spinner budget), so the call does not wait for the
   * wake-up. Does nothing when the worker is awake or busy.
   */
  prewake(): void;
  /** Test hook: prewakes the worker has served so far. */
  prewakesServed(): number;
}

const WORKER_URL = new URL("../workers/plugin_worker.ts", import.meta.url);

/** This package's folder when it is loaded from a path (the worker reads files all over it). */
const PACKAGE_ROOT = WORKER_URL.protocol === "file:"
  ? decodeURIComponent(new URL("../", WORKER_URL).pathname).replace(/\/$/, "")
  : undefined;

const HOW_TO_ENABLE =
  'add "unstable": ["worker-options"] to deno.json (and allow reading it), or run Deno with --unstable-worker-options and pass { unstableWorkerOptions: true } to say so';

let workerOptionsProven = false;

function checkWorkerOptions(plugin: string, asserted: boolean): "on" | "asserted" {
  if (workerOptionsProven) return "on";
  const finding = workerOptionsState();
  if (finding.state === "on") {
    workerOptionsProven = true;
    return "on";
  }
  if (asserted) return "asserted";
  if (finding.unreadable !== undefined) {
    throw new HookError(
      "permission_required",
      `Cannot start plugin "${plugin}": the host needs read permission on "${finding.unreadable}" to see whether it enables Deno's worker-options feature; run Deno with --allow-read=${finding.unreadable} (besides your plugin folders), or run it with --unstable-worker-options and pass { unstableWorkerOptions: true }`,
      { plugin },
    );
  }
  throw new HookError(
    "isolation_unavailable",
    `Cannot start plugin "${plugin}": Deno's worker-options feature is not shown to be on (${finding.detail}), and without it workers cannot be made permission-less; ${HOW_TO_ENABLE}`,
    { plugin },
  );
}

/**
 * Spawns a permission-less worker, proves its isolation, instantiates the
 * plugin in it and returns its transport.
 *
 * @param spec The plugin and its limits.
 * @returns The started instance's transport and isolation report.
 * @throws {HookError} `isolation_unavailable`, `timeout`, or the plugin's
 *   start-up failure (`trapped`, `fuel_exhausted`, `abi_version`, …).
 */
export async function startInstance(
  spec: InstanceSpec,
  spares?: SpareWorkers,
): Promise<{ transport: Transport; isolation: IsolationInfo }> {
  const workerOptions = checkWorkerOptions(spec.plugin, spec.unstableWorkerOptions);
  const booted = spares !== undefined
    ? await spares.take(spec.plugin)
    : await bootWorker(spec.plugin, spec.bootTimeoutMs);
  const state = spec.services?.state?.channel();
  const channel = spec.channelBytes > 0
    ? { buffer: new SharedArrayBuffer(HEADER_BYTES + spec.channelBytes), spin: spinBudget() }
    : undefined;
  const cancel = new SharedArrayBuffer(4);
  const transport = new WorkerTransport(
    booted.worker,
    spec.plugin,
    spec.services,
    state,
    channel?.buffer,
    cancel,
  );
  const {
    bootTimeoutMs: _b,
    unstableWorkerOptions: _u,
    services: _s,
    timeoutMs,
    channelBytes: _c,
    ...rest
  } = spec;
  const init: InitMessage = {
    ...rest,
    type: "init",
    state,
    hostCallTimeoutMs: timeoutMs,
    channel,
    cancel,
  };
  try {
    await transport.init(init, spec.timeoutMs);
    spares?.refill();
    return {
      transport,
      isolation: {
        ...booted.isolation,
        workerOptions,
        remoteImport: remoteImportPossible(WORKER_URL),
      },
    };
  } catch (e) {
    transport.terminate(e as HookError);
    throw e;
  }
}

/** A worker that has started and passed its isolation self-test, not yet given a plugin. */
export interface BootedWorker {
  worker: Worker;
  isolation: IsolationReport;
  /** Set when the worker failed while waiting to be used. */
  failed: boolean;
}

/**
 * Spawns a permission-less worker and waits for its isolation self-test.
 *
 * @throws {HookError} `isolation_unavailable` when the worker is not
 *   isolated or cannot be created; `timeout` past `bootTimeoutMs`.
 */
export function bootWorker(plugin: string, bootTimeoutMs: number): Promise<BootedWorker> {
  let worker: Worker;
  try {
    worker = new Worker(WORKER_URL, {
      type: "module",
      name: `gn:${plugin}`,
      deno: { permissions: "none" },
    });
  } catch (cause) {
    return Promise.reject(
      new HookError(
        "isolation_unavailable",
        `Cannot start plugin "${plugin}": Deno refused a permission-less worker (${HOW_TO_ENABLE})`,
        { plugin, cause },
      ),
    );
  }
  return new Promise((resolve, reject) => {
    const fail = (error: HookError) => {
      clearTimeout(timer);
      worker.terminate();
      reject(error);
    };
    const timer = setTimeout(
      () =>
        fail(
          new HookError(
            "timeout",
            `Cannot start plugin "${plugin}": spawning its worker took longer than ${bootTimeoutMs} ms`,
            { plugin },
          ),
        ),
      bootTimeoutMs,
    );
    worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      // Deno loads a worker's modules with the host's own permissions.
      const missing = missingPermission(e.message, PACKAGE_ROOT);
      fail(
        missing !== undefined
          ? new HookError(
            "permission_required",
            `Cannot start plugin "${plugin}": the host needs ${missing.name} permission on "${missing.target}" to load its plugin worker (${WORKER_URL.href}); run Deno with ${missing.flag}`,
            { plugin },
          )
          : new HookError(
            "worker_crashed",
            `Worker of plugin "${plugin}" failed to start: ${e.message}`,
            { plugin },
          ),
      );
    };
    worker.onmessage = (e: MessageEvent<WorkerReply>) => {
      if (e.data.type !== "booted") return;
      clearTimeout(timer);
      const isolation = e.data.isolation;
      const allowed = Object.entries(isolation.probes).filter(([, v]) => v !== "denied");
      if (allowed.length > 0) {
        fail(
          new HookError(
            "isolation_unavailable",
            `Cannot start plugin "${plugin}": its worker is not isolated (${
              allowed.map(([k, v]) => `${k}: ${v}`).join(", ")
            })`,
            { plugin },
          ),
        );
        return;
      }
      worker.onmessage = null;
      const booted: BootedWorker = { worker, isolation, failed: false };
      // Until a transport takes it over, a failure of the idle worker must not
      // reach the host's global error handler (which would end the process).
      worker.onerror = (e: ErrorEvent) => {
        e.preventDefault();
        booted.failed = true;
        worker.terminate();
      };
      resolve(booted);
    };
  });
}

/**
 * Workers booted ahead of need, so starting a plugin (or replacing a worker
 * after a timeout or crash) does not pay for spawning one and its self-test.
 */
export class SpareWorkers {
  readonly #size: number;
  readonly #bootTimeoutMs: number;
  readonly #ready: Promise<BootedWorker | undefined>[] = [];
  #closed = false;
  #timer: ReturnType<typeof setTimeout> | undefined;

  /**
   * @param size How many booted workers to keep ready.
   * @param bootTimeoutMs Deadline of each boot.
   */
  constructor(size: number, bootTimeoutMs: number) {
    this.#size = size;
    this.#bootTimeoutMs = bootTimeoutMs;
  }

  #refill(): void {
    while (!this.#closed && this.#ready.length < this.#size) {
      // A spare that fails to boot is dropped; take() then boots one itself.
      this.#ready.push(bootWorker("spare", this.#bootTimeoutMs).catch(() => undefined));
    }
  }

  /**
   * A booted worker: a spare when one is ready, else a fresh one. The spare is
   * replaced by {@linkcode SpareWorkers.refill}, once the caller's instance
   * is up, so the replacement's boot does not compete with its start.
   */
  async take(plugin: string): Promise<BootedWorker> {
    const spare = this.#ready.shift();
    const w = spare === undefined ? undefined : await spare;
    return w !== undefined && !w.failed ? w : await bootWorker(plugin, this.#bootTimeoutMs);
  }

  /**
   * Boots spares until `size` are ready, soon but not now: `new Worker()`
   * blocks the calling thread for 10–15 ms, so it waits for a quiet moment
   * rather than delaying the answer the caller is about to ask for.
   */
  refill(delayMs = 50): void {
    if (this.#closed || this.#timer !== undefined || this.#ready.length >= this.#size) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#refill();
    }, delayMs);
  }

  /**
   * Terminates the spares booted so far (and a pending refill), but stays
   * usable: a later {@linkcode SpareWorkers.take} boots a worker itself.
   * Called when no plugin is loaded, so that an idle host keeps no worker
   * alive (a worker keeps the Deno process running).
   */
  async release(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const all = this.#ready.splice(0);
    for (const w of await Promise.all(all)) w?.worker.terminate();
  }

  /** Terminates the spares. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const all = this.#ready.splice(0);
    for (const w of await Promise.all(all)) w?.worker.terminate();
  }
}

type Pending = {
  resolve(outcome: CallOutcome): void;
  reject(error: HookError): void;
};

/** The pending mark of a parked shared call: `terminate()` wakes it through the channel. */
const PARKED: Pending = { resolve: () => {}, reject: () => {} };

let spinShared: SharedArrayBuffer | undefined;
let spinView: Int32Array | undefined;

/** The process-wide spinner budget: at most (cores − 1) workers spin at once. */
export function spinBudget(): SharedArrayBuffer {
  if (spinShared === undefined) {
    spinShared = new SharedArrayBuffer(16);
    spinView = new Int32Array(spinShared);
    const cores = typeof navigator === "undefined" ? 2 : navigator.hardwareConcurrency ?? 2;
    Atomics.store(spinView, SpinSlot.limit, Math.max(0, cores - 1));
  }
  return spinShared;
}

function spinCounters(): Int32Array {
  spinBudget();
  return spinView!;
}

/**
 * Test hook: the process-wide spinner counters (workers spinning, requests
 * waiting to be picked up). Both are 0 whenever no call is in flight.
 */
export function spinCountsForTests(): { spinning: number; waiting: number } {
  const v = spinCounters();
  return {
    spinning: Atomics.load(v, SpinSlot.spinning),
    waiting: Atomics.load(v, SpinSlot.waiting),
  };
}

/** Whether a shared call is still with the worker: not yet picked up, or running. */
function unanswered(state: number): boolean {
  return state === State.request || state === State.running;
}

/** Calls in flight on shared channels, process-wide: the host spins only when it is alone. */
let sharedInFlight = 0;

/** Longest the host thread spins for an answer before it parks, in ms. */
const MAX_HOST_SPIN_MS = 0.5;

/** Cap of one wake-up sample, in ms: a longer wait is the worker's slowness, not the wake's. */
const MAX_WAKE_MS = 1;

/** Hand-over time added to the host's spin budget, in ms. */
const SPIN_SLACK_MS = 0.01;

/**
 * Longest the host spins for the answer of a worker it had to wake, in ms:
 * past it, it parks (and its own wake-up adds to the worker's).
 */
const MAX_WAKE_SPIN_MS = 0.3;

/**
 * Latency policies, switchable for `bench/patterns.ts` to measure each side
 * by side (not public): the host's spin for a worker it woke (on), and the
 * prewake of a chain's next plugin when the chain reaches a plugin (off: it
 * cost more than it saved on 2 cores, see RATIONALE.md).
 */
export const latencyPolicy: { wakeSpin: boolean; chainPrewake: boolean } = {
  wakeSpin: true,
  chainPrewake: false,
};

/** Cores: the host spins for a woken worker only when that worker can have a core of its own. */
const CORES = typeof navigator === "undefined" ? 1 : navigator.hardwareConcurrency ?? 1;

const encoder = new TextEncoder();

/**
 * Decoding out of a `SharedArrayBuffer` is about 5× slower than out of a
 * private buffer (1.9 µs against 0.4 µs for 1 KiB, measured on Deno 2.9.6),
 * while copying 1 KiB costs 0.1 µs: answers are copied into this scratch
 * buffer, then decoded.
 */
let scratch = new Uint8Array(64 * 1024);

function decodeShared(region: Uint8Array, len: number): string {
  if (scratch.length < len) scratch = new Uint8Array(Math.max(len, scratch.length * 2));
  scratch.set(region.subarray(0, len));
  return decodeUtf8(scratch.subarray(0, len));
}

/**
 * The transport to one worker: calls go through the shared-memory channel
 * when there is one (and the request and answer fit its region), otherwise
 * by postMessage; service messages (log, event, state) always by message.
 */
class WorkerTransport implements Transport {
  readonly #worker: Worker;
  readonly #plugin: string;
  #pending: Pending | undefined;
  /** The id of the message-path call in flight. */
  #pendingId = 0;
  /** The sequence number of the last shared call; tags what follows it by message. */
  #seq = 0;
  readonly #cancel: Int32Array;
  #starting: { resolve(r: IsolationReport): void; reject(e: HookError): void } | undefined;
  #nextId = 1;
  #dead: HookError | undefined;
  onDeath: ((error: HookError) => void) | undefined;
  readonly #ctrl: Int32Array | undefined;
  readonly #region: Uint8Array | undefined;
  readonly #fuel: BigInt64Array | undefined;
  readonly #stateChannel: StateChannel | undefined;
  /** Service messages received, and a waiter for a count. */
  #services = 0;
  #servicesWaiter: { count: number; resolve(): void } | undefined;
  #bigBody: ((body: Uint8Array) => void) | undefined;
  /** A body of the current call that arrived before the host looked for it. */
  #earlyBody: Uint8Array | undefined;
  /** Smoothed time the worker takes to serve a call, in ms (what it reports). */
  #computeMs = 0.005;
  /** Smoothed cost of parking an exchange, in ms (see {@linkcode WorkerTransport.#measureWake}). */
  #wakeMs = 0;
  /** Smoothed share of the host's spins for a woken worker that caught its answer (0..1). */
  #wakeSpinHits = 1;
  /** Spins for a woken worker skipped while they keep missing (probe every 16th). */
  #wakeSpinSkips = 0;
  /** A prewake was sent since the last call. */
  #prewoken = false;

  constructor(
    worker: Worker,
    plugin: string,
    services: PluginServices | undefined,
    state: StateChannel | undefined,
    channel: SharedArrayBuffer | undefined,
    cancel: SharedArrayBuffer,
  ) {
    this.#worker = worker;
    this.#cancel = new Int32Array(cancel);
    this.#plugin = plugin;
    this.#stateChannel = state;
    if (channel !== undefined) {
      this.#ctrl = new Int32Array(channel, 0, HEADER_BYTES / 4);
      this.#fuel = new BigInt64Array(channel, FUEL_BYTE, 1);
      this.#region = new Uint8Array(channel, HEADER_BYTES);
    }
    worker.onmessage = (e: MessageEvent<WorkerReply>) => {
      const m = e.data;
      if (deliver(plugin, m, services, state)) {
        if (m.type !== "state") {
          this.#services++;
          const w = this.#servicesWaiter;
          if (w !== undefined && this.#services >= w.count) {
            this.#servicesWaiter = undefined;
            w.resolve();
          }
        }
        return;
      }
      if (m.type === "body") {
        // Only the current call's body: one of an earlier call (which failed
        // or was abandoned after posting it) is dropped.
        if (m.seq !== this.#seq) return;
        // The worker posts the body before it publishes the answer, so a parked
        // host can receive it before it looks for it: keep it until then.
        if (this.#bigBody !== undefined) this.#bigBody(m.body);
        else this.#earlyBody = m.body;
        return;
      }
      this.#onReply(m);
    };
    worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      this.#crash(`Worker of plugin "${plugin}" crashed: ${e.message}`, e.error);
    };
    worker.onmessageerror = () => {
      this.#crash(`Worker of plugin "${plugin}" sent a message that cannot be read`);
    };
  }

  /** Sends the module and waits for instantiation and the start function (`startMs`). */
  init(init: InitMessage, startMs: number): Promise<IsolationReport> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#starting = undefined;
        reject(
          new HookError(
            "timeout",
            `Cannot start plugin "${this.#plugin}": instantiating it and running its start function took longer than ${startMs} ms; raise \`timeout_ms\` under \`[limits]\` in plugin.toml (the host clamps it to its limits.timeoutMs ceiling), or do less in the start function`,
            { plugin: this.#plugin },
          ),
        );
      }, startMs);
      this.#starting = {
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.#worker.postMessage(init);
    });
  }

  answered(): boolean {
    const c = this.#ctrl;
    return c !== undefined && this.#pending === PARKED &&
      Atomics.load(c, Slot.state) === State.response;
  }

  /** Test hook: makes the worker throw an uncaught exception. */
  crash(): void {
    this.#postToWorker({ type: "crash" });
  }

  /** Posts a message and, when the worker serves a channel, makes it yield to receive it. */
  #postToWorker(m: unknown): void {
    this.#worker.postMessage(m);
    const c = this.#ctrl;
    if (
      c !== undefined &&
      Atomics.compareExchange(c, Slot.state, State.idle, State.yield) === State.idle
    ) {
      Atomics.notify(c, Slot.state);
    }
  }

  call(hook: string, payload: string): CallOutcome | Promise<CallOutcome> {
    if (this.#dead !== undefined) return Promise.reject(this.#dead);
    if (this.#pending !== undefined) {
      return Promise.reject(
        new HookError("worker_crashed", "Transport misuse: a call is already in flight", {
          plugin: this.#plugin,
          hook,
        }),
      );
    }
    const region = this.#region;
    // While a yield is pending (a message waits for the worker), the call goes
    // by message too, so it cannot overtake that message.
    if (region !== undefined && Atomics.load(this.#ctrl!, Slot.state) === State.idle) {
      const name = encoder.encodeInto(hook, region);
      const body = encoder.encodeInto(payload, region.subarray(name.written));
      if (name.read === hook.length && body.read === payload.length) {
        return this.#callShared(hook, name.written, body.written);
      }
    }
    return new Promise((resolve, reject) => {
      this.#pending = { resolve, reject };
      const m: CallMessage = { type: "call", id: this.#nextId++, hook, payload };
      this.#pendingId = m.id;
      this.#postToWorker(m);
    });
  }

  /**
   * One exchange through the shared region (the request is already in it).
   * When the answer comes within the spin it is collected synchronously:
   * no promise, no event-loop turn.
   */
  #callShared(
    hook: string,
    nameLen: number,
    payloadLen: number,
  ): CallOutcome | Promise<CallOutcome> {
    const c = this.#ctrl!;
    c[Slot.nameLen] = nameLen;
    c[Slot.payloadLen] = payloadLen;
    this.#seq = (this.#seq + 1) | 0;
    this.#earlyBody = undefined;
    c[Slot.seq] = this.#seq;
    Atomics.add(spinCounters(), SpinSlot.waiting, 1);
    Atomics.store(c, Slot.state, State.request);
    const prewoken = this.#prewoken;
    this.#prewoken = false;
    const parked = Atomics.load(c, Slot.workerParked) === 1;
    if (parked) Atomics.notify(c, Slot.state);
    if (parked || prewoken) {
      if (sharedInFlight === 0) {
        // Alone: wait for the woken worker's answer by spinning, so the call
        // pays one wake-up (the worker's), not a second one (the host's own,
        // out of Atomics.waitAsync). A worker just prewoken gets the same
        // budget: it runs slower than one that has been spinning.
        const t0 = performance.now();
        if (this.#spinForWoken(c)) {
          if (parked) this.#measureWake(performance.now() - t0 - c[Slot.computeNs] / 1e6);
          return this.#collect(hook);
        }
        return this.#park(hook, parked ? t0 : undefined);
      }
    } else if (sharedInFlight === 0 && this.#spin(c)) return this.#collect(hook);
    return this.#park(hook);
  }

  /**
   * Spins for the answer of a worker just woken, for about what its wake-up
   * and its work usually take (at most {@linkcode MAX_WAKE_SPIN_MS}): only
   * with a core to spare (on one core, the spin would delay the very worker
   * it waits for), and, while such spins keep missing, only every 16th time.
   */
  #spinForWoken(c: Int32Array): boolean {
    if (CORES < 2 || !latencyPolicy.wakeSpin) return false;
    const probing = this.#wakeSpinHits < 0.5;
    if (probing && (++this.#wakeSpinSkips & 15) !== 0) return false;
    const budget = Math.min(
      MAX_WAKE_SPIN_MS,
      2 * (this.#wakeMs === 0 ? 0.1 : this.#wakeMs) + 2 * this.#computeMs + SPIN_SLACK_MS,
    );
    let until = -1;
    for (let i = 1; unanswered(Atomics.load(c, Slot.state)); i++) {
      if ((i & 63) !== 0) continue;
      const now = performance.now();
      if (until < 0) until = now + budget;
      else if (now >= until) {
        this.#wakeSpinHits *= 0.8;
        return false;
      }
    }
    this.#wakeSpinHits = this.#wakeSpinHits * 0.8 + 0.2;
    return true;
  }

  prewakesServed(): number {
    return this.#ctrl === undefined ? 0 : Atomics.load(this.#ctrl, Slot.prewakes);
  }

  prewake(): void {
    const c = this.#ctrl;
    if (
      c === undefined || this.#pending !== undefined || this.#dead !== undefined ||
      Atomics.load(c, Slot.workerParked) !== 1 || Atomics.load(c, Slot.state) !== State.idle ||
      Atomics.load(c, Slot.prewake) === 1
    ) return;
    Atomics.store(c, Slot.prewake, 1);
    Atomics.notify(c, Slot.state);
    this.#prewoken = true;
  }

  /** Waits for the answer with `Atomics.waitAsync` (the event loop runs on), then collects it. */
  async #park(hook: string, started?: number): Promise<CallOutcome> {
    const c = this.#ctrl!;
    this.#pending = PARKED;
    // A call parked alone measures the wake-up; others also measure queueing.
    const t0 = sharedInFlight === 0 ? started ?? performance.now() : -1;
    sharedInFlight++;
    try {
      for (let s = Atomics.load(c, Slot.state); unanswered(s); s = Atomics.load(c, Slot.state)) {
        Atomics.store(c, Slot.hostParked, 1);
        const w = Atomics.waitAsync(c, Slot.state, s);
        // terminate() stores `closed` and notifies, which ends this wait too.
        if (w.async) await w.value;
        Atomics.store(c, Slot.hostParked, 0);
      }
      if (this.#dead !== undefined) throw this.#dead;
      if (t0 >= 0 && sharedInFlight === 1) {
        this.#measureWake(performance.now() - t0 - c[Slot.computeNs] / 1e6);
      }
    } finally {
      sharedInFlight--;
      if (this.#pending === PARKED) this.#pending = undefined;
    }
    return this.#collect(hook);
  }

  /**
   * Keeps a smoothed figure of what parking costs (a parked exchange's time
   * beyond the worker's own), and tells the worker: its spin budget.
   */
  #measureWake(ms: number): void {
    if (!(ms > 0)) return;
    const sample = Math.min(ms, MAX_WAKE_MS);
    this.#wakeMs = this.#wakeMs === 0 ? sample : this.#wakeMs * 0.9 + sample * 0.1;
    this.#ctrl![Slot.wakeNs] = Math.round(this.#wakeMs * 1e6);
  }

  /** Reads the answer out of the region and frees the channel; async only for what follows by message. */
  #collect(hook: string): CallOutcome | Promise<CallOutcome> {
    const c = this.#ctrl!;
    this.#computeMs = this.#computeMs * 0.8 + (c[Slot.computeNs] / 1e6) * 0.2;
    const result = c[Slot.result];
    const len = c[Slot.bodyLen];
    const fuel = c[Slot.hasFuel] === 1 ? this.#fuel![0] : undefined;
    const messages = c[Slot.messages];
    let body: string | null = null;
    let error: HookError | undefined;
    if (result === Result.body) {
      try {
        body = decodeShared(this.#region!, len);
      } catch (cause) {
        error = this.#badBody(hook, cause);
      }
    } else if (result === Result.error) {
      error = this.#readError(decodeShared(this.#region!, len));
    }
    Atomics.store(c, Slot.state, State.idle);
    if (result === Result.message || result === Result.errorMessage || this.#services < messages) {
      return this.#collectLater(hook, result, { body, fuel }, error, messages);
    }
    if (error !== undefined) throw error;
    return { body, fuel };
  }

  /**
   * The rest of an answer that follows by message: a body too large for the
   * region, and the call's log and event messages (delivered before the
   * answer, in order).
   */
  async #collectLater(
    hook: string,
    result: number,
    outcome: CallOutcome,
    error: HookError | undefined,
    messages: number,
  ): Promise<CallOutcome> {
    const wait = this.#waiting();
    try {
      if (result === Result.message || result === Result.errorMessage) {
        const early = this.#earlyBody;
        this.#earlyBody = undefined;
        const bytes = early ??
          await Promise.race([
            new Promise<Uint8Array>((resolve) => this.#bigBody = resolve),
            wait.dead(),
          ]);
        this.#bigBody = undefined;
        if (result === Result.errorMessage) error = this.#readError(decodeUtf8(bytes));
        else {
          try {
            outcome.body = decodeUtf8(bytes);
          } catch (cause) {
            error = this.#badBody(hook, cause);
          }
        }
      }
      if (this.#services < messages) {
        await Promise.race([
          new Promise<void>((resolve) => this.#servicesWaiter = { count: messages, resolve }),
          wait.dead(),
        ]);
      }
      if (error !== undefined) throw error;
      return outcome;
    } finally {
      wait.done();
    }
  }

  /**
   * Marks a shared call as waiting, so that `terminate()` can end it:
   * `dead()` rejects with the termination's error (made only when needed).
   */
  #waiting(): { dead(): Promise<never>; done(): void } {
    let error: HookError | undefined;
    let wake: ((e: HookError) => void) | undefined;
    let dead: Promise<never> | undefined;
    const pending: Pending = {
      resolve: () => {},
      reject: (e) => {
        error = e;
        wake?.(e);
      },
    };
    this.#pending = pending;
    return {
      dead: () => {
        if (dead === undefined) {
          dead = new Promise<never>((_, reject) => {
            if (error !== undefined) reject(error);
            else wake = reject;
          });
          dead.catch(() => {});
        }
        return dead;
      },
      done: () => {
        if (this.#pending === pending) this.#pending = undefined;
      },
    };
  }

  /** The error a worker reported, from its record's JSON text (which the worker wrote, not the guest). */
  #readError(text: string): HookError {
    try {
      return this.#error(JSON.parse(text));
    } catch (cause) {
      return new HookError(
        "worker_crashed",
        `Worker of plugin "${this.#plugin}" reported an error that cannot be read`,
        { plugin: this.#plugin, cause },
      );
    }
  }

  #badBody(hook: string, cause: unknown): HookError {
    return new HookError(
      "bad_response",
      `Hook "${hook}" answered a bad body: body is not valid UTF-8`,
      { plugin: this.#plugin, hook, cause },
    );
  }

  /**
   * Spins on the answer while that pays: only when the worker was awake to
   * take the request (it spins only while its spins keep catching requests,
   * which they do only from another core), when no other shared call is in
   * flight (the event loop has nothing else to do), and for about twice the
   * time the worker usually takes, plus a little for the hand-over.
   */
  #spin(c: Int32Array): boolean {
    const budget = 2 * this.#computeMs + SPIN_SLACK_MS;
    if (budget > MAX_HOST_SPIN_MS) return false;
    let until = -1; // set at the first check: most spins end before it
    for (let i = 1; unanswered(Atomics.load(c, Slot.state)); i++) {
      if ((i & 63) !== 0) continue;
      const now = performance.now();
      if (until < 0) until = now + budget;
      else if (now >= until) return false;
    }
    return true;
  }

  #onReply(r: WorkerReply): void {
    switch (r.type) {
      case "ready":
        this.#starting?.resolve(r.isolation);
        this.#starting = undefined;
        return;
      case "failed":
        this.#starting?.reject(this.#error(r.error));
        this.#starting = undefined;
        return;
      case "done": {
        if (r.id !== this.#pendingId) return; // not the call in flight
        const p = this.#pending;
        this.#pending = undefined;
        this.#pendingId = 0;
        p?.resolve({ body: r.body, fuel: r.fuel });
        return;
      }
      case "error": {
        if (r.id !== this.#pendingId) return;
        const p = this.#pending;
        this.#pending = undefined;
        this.#pendingId = 0;
        p?.reject(this.#error(r.error));
        return;
      }
      default:
        return;
    }
  }

  #error(record: HookErrorRecord): HookError {
    return HookError.fromRecord(record, { plugin: this.#plugin });
  }

  #crash(message: string, cause?: unknown): void {
    if (this.#dead !== undefined) return;
    const error = new HookError("worker_crashed", message, { plugin: this.#plugin, cause });
    this.terminate(error);
    this.onDeath?.(error);
  }

  terminate(error: HookError): void {
    if (this.#dead !== undefined) return;
    this.#dead = error;
    // Deno's terminate() interrupts neither JS nor wasm: the worker must stop
    // by itself. From now on its host imports trap, its serve loop leaves, and
    // it closes itself once the guest returns.
    Atomics.store(this.#cancel, 0, 1);
    // A worker parked in Atomics.wait outlives terminate(): wake it first.
    const c = this.#ctrl;
    if (c !== undefined) {
      // a request its worker never picked up no longer waits
      if (Atomics.exchange(c, Slot.state, State.closed) === State.request) {
        Atomics.sub(spinCounters(), SpinSlot.waiting, 1);
      }
      Atomics.notify(c, Slot.state);
    }
    if (this.#stateChannel !== undefined) {
      Atomics.notify(new Int32Array(this.#stateChannel.buffer, 0, 1), 0);
    }
    this.#worker.terminate();
    const p = this.#pending;
    this.#pending = undefined;
    p?.reject(error);
    this.#starting?.reject(error);
    this.#starting = undefined;
  }
}
