/**
 * The host end of the call channel: the transport that carries one plugin
 * worker's calls, through the shared region when they fit (spinning or
 * parking as `spin.ts` decides) and by message otherwise. One call in flight
 * at a time; the caller (the pool) queues.
 *
 * @module
 */

import { HookError, type HookErrorRecord } from "../abi/errors.ts";
import { decodeUtf8 } from "../abi/utf8.ts";
import type {
  CallMessage,
  InitMessage,
  IsolationReport,
  LinkMessage,
  StateChannel,
  WorkerReply,
} from "./protocol.ts";
import { FUEL_BYTE, HEADER_BYTES, Result, Slot, SpinSlot, State } from "./layout.ts";
import { HostSpin, spinCounters, unanswered } from "./spin.ts";

/** The answer of one call. */
export interface CallOutcome {
  body: string | null;
  /** Fuel the call used, when metered. */
  fuel?: bigint;
  /** The worker handed the value on to the next plugin of the chain (`relay.ts`). */
  forwarded?: boolean;
}

/** Where a call's answer goes on as the next request of a filter chain. */
export interface Forward {
  /** The link id in this worker ({@linkcode WorkerTransport.link}). */
  link: number;
  /** The next plugin's payload cap, in bytes. */
  cap: number;
  /** Bytes of the envelope's tail after the value. */
  tail: number;
  /** The token of the next channel's reservation ({@linkcode WorkerTransport.reserve}). */
  token: number;
}

/** Reservation tokens, process-wide: each reservation gets a fresh one. */
let reservations = 0;

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

type Pending = {
  resolve(outcome: CallOutcome): void;
  reject(error: HookError): void;
};

/** The pending mark of a parked shared call: `terminate()` wakes it through the channel. */
const PARKED: Pending = { resolve: () => {}, reject: () => {} };

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

/** Options of {@linkcode WorkerTransport}. */
export interface WorkerTransportOptions {
  /** A booted worker. */
  worker: Worker;
  /** The plugin name, for errors. */
  plugin: string;
  /** Takes a service message (log, event, state); `true` when it was one. */
  service: (m: WorkerReply) => boolean;
  /** The state channel, when `state` is granted. */
  state?: StateChannel;
  /** The shared call region, when calls may go through it. */
  channel?: SharedArrayBuffer;
  /** The i32 the host sets to 1 when it abandons the worker. */
  cancel: SharedArrayBuffer;
}

/**
 * The transport to one worker: calls go through the shared-memory channel
 * when there is one (and the request and answer fit its region), otherwise
 * by postMessage; service messages (log, event, state) always by message.
 */
export class WorkerTransport implements Transport {
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
  readonly #buffer: SharedArrayBuffer | undefined;
  /** Link ids of the channels this worker may hand values to, by channel. */
  readonly #links = new WeakMap<SharedArrayBuffer, number>();
  #nextLink = 1;
  readonly #region: Uint8Array | undefined;
  readonly #fuel: BigInt64Array | undefined;
  readonly #stateChannel: StateChannel | undefined;
  /** Service messages received, and a waiter for a count. */
  #services = 0;
  #servicesWaiter: { count: number; resolve(): void } | undefined;
  #bigBody: ((body: Uint8Array) => void) | undefined;
  /** A body of the current call that arrived before the host looked for it. */
  #earlyBody: Uint8Array | undefined;
  /** The spin policy of the shared channel. */
  readonly #hostSpin: HostSpin | undefined;

  /** @param options The worker, its plugin, its channels and where service messages go. */
  constructor(options: WorkerTransportOptions) {
    const { worker, plugin, service, state, channel, cancel } = options;
    this.#worker = worker;
    this.#cancel = new Int32Array(cancel);
    this.#plugin = plugin;
    this.#stateChannel = state;
    this.#buffer = channel;
    if (channel !== undefined) {
      this.#ctrl = new Int32Array(channel, 0, HEADER_BYTES / 4);
      this.#fuel = new BigInt64Array(channel, FUEL_BYTE, 1);
      this.#region = new Uint8Array(channel, HEADER_BYTES);
      this.#hostSpin = new HostSpin(this.#ctrl);
    }
    worker.onmessage = (e: MessageEvent<WorkerReply>) => {
      const m = e.data;
      if (service(m)) {
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
    const c = this.#ctrl;
    if (c !== undefined) Atomics.add(c, Slot.posted, 1);
    this.#worker.postMessage(m);
    if (
      c !== undefined &&
      Atomics.compareExchange(c, Slot.state, State.idle, State.yield) === State.idle
    ) {
      Atomics.notify(c, Slot.state);
    }
  }

  /**
   * The link id by which this worker may hand a filter's value to `next`'s
   * worker, or 0 when there is none yet: then the link is sent now (when this
   * worker's channel is idle, so it can yield to receive it), for later calls.
   *
   * @param next The transport of the plugin that follows in a chain.
   * @returns The link id, or 0.
   */
  link(next: WorkerTransport): number {
    const buffer = next.#buffer;
    if (buffer === undefined || this.#ctrl === undefined || this.#dead !== undefined) return 0;
    const id = this.#links.get(buffer);
    if (id !== undefined) return id;
    if (Atomics.load(this.#ctrl, Slot.state) !== State.idle || this.#pending !== undefined) {
      return 0;
    }
    const fresh = this.#nextLink++;
    this.#links.set(buffer, fresh);
    this.#postToWorker({ type: "link", id: fresh, buffer } satisfies LinkMessage);
    return 0;
  }

  /**
   * Holds the idle channel for a chain hand-off: writes the hook name and
   * the call's sequence number, and marks the channel `reserved`, so that the
   * worker of the plugin before it may publish the request.
   *
   * @param hook The hook name.
   * @param forward Where this call's answer goes on, if anywhere.
   * @returns The reservation's token (never 0), or 0 when the channel
   *   cannot be reserved.
   */
  reserve(hook: string, forward: Forward | undefined): number {
    const c = this.#ctrl;
    const region = this.#region;
    if (
      c === undefined || region === undefined || this.#dead !== undefined ||
      this.#pending !== undefined || Atomics.load(c, Slot.state) !== State.idle
    ) return 0;
    const name = encoder.encodeInto(hook, region);
    if (name.read !== hook.length) return 0;
    c[Slot.nameLen] = name.written;
    this.#seq = (this.#seq + 1) | 0;
    this.#earlyBody = undefined;
    c[Slot.seq] = this.#seq;
    this.#setForward(c, forward);
    reservations = (reservations + 1) | 0 || 1;
    const token = reservations;
    Atomics.store(c, Slot.reservation, token);
    return Atomics.compareExchange(c, Slot.state, State.idle, State.reserved) === State.idle
      ? token
      : 0;
  }

  /** Test hook: the shared call channel, when there is one. */
  channelForTests(): SharedArrayBuffer | undefined {
    return this.#buffer;
  }

  /** Why the worker is gone, once it is (a crash, or `terminate`). */
  get dead(): HookError | undefined {
    return this.#dead;
  }

  /**
   * Waits while the worker of the plugin before this one writes a request
   * into the reservation (`filling`), at most `ms`.
   *
   * @param ms The longest wait, in ms.
   * @returns When the state has left `filling`, or the wait ran out.
   */
  async whileFilling(ms: number): Promise<void> {
    const c = this.#ctrl!;
    const end = performance.now() + ms;
    while (Atomics.load(c, Slot.state) === State.filling && performance.now() < end) {
      const w = Atomics.waitAsync(
        c,
        Slot.state,
        State.filling,
        Math.max(1, end - performance.now()),
      );
      if (w.async) await w.value;
    }
  }

  /**
   * Takes a reservation back.
   *
   * @returns `"free"` when no request was published into it (or one was and
   *   its worker had not picked it up: it never runs), `"taken"` when its
   *   worker has picked a request up: collect it with `adopt()`; `"filling"`
   *   while the worker before writes into it: wait ({@linkcode
   *   WorkerTransport.whileFilling}) and ask again.
   */
  unreserve(): "free" | "taken" | "filling" {
    const c = this.#ctrl!;
    if (Atomics.compareExchange(c, Slot.state, State.reserved, State.idle) === State.reserved) {
      return "free";
    }
    if (Atomics.compareExchange(c, Slot.state, State.request, State.idle) === State.request) {
      Atomics.sub(spinCounters(), SpinSlot.waiting, 1);
      return "free";
    }
    const s = Atomics.load(c, Slot.state);
    if (s === State.filling) return "filling";
    return s === State.running || s === State.response ? "taken" : "free";
  }

  /**
   * Collects a request that the worker of the plugin before this one
   * published (its call's answer said `forwarded`): like a call of its own,
   * without writing or publishing the request.
   *
   * @param hook The hook name.
   * @returns The outcome, synchronously when it came within the spin.
   */
  adopt(hook: string): CallOutcome | Promise<CallOutcome> {
    if (this.#dead !== undefined) return Promise.reject(this.#dead);
    if (this.#hostSpin!.adopted()) return this.#collect(hook);
    return this.#park(hook);
  }

  #setForward(c: Int32Array, forward: Forward | undefined): void {
    if (forward === undefined) c[Slot.forward] = 0;
    else {
      c[Slot.forward] = forward.link;
      c[Slot.forwardCap] = forward.cap;
      c[Slot.forwardTail] = forward.tail;
      c[Slot.forwardToken] = forward.token;
    }
  }

  call(
    hook: string,
    payload: string,
    forward?: Forward,
  ): CallOutcome | Promise<CallOutcome> {
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
        this.#setForward(this.#ctrl!, forward);
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
    if (this.#hostSpin!.spin()) return this.#collect(hook);
    return this.#park(hook);
  }

  prewakesServed(): number {
    return this.#ctrl === undefined ? 0 : Atomics.load(this.#ctrl, Slot.prewakes);
  }

  prewake(): void {
    if (this.#ctrl === undefined || this.#pending !== undefined || this.#dead !== undefined) return;
    this.#hostSpin!.prewake();
  }

  /** Waits for the answer with `Atomics.waitAsync` (the event loop runs on), then collects it. */
  async #park(hook: string): Promise<CallOutcome> {
    const c = this.#ctrl!;
    this.#pending = PARKED;
    const t0 = this.#hostSpin!.parked();
    let answered = false;
    try {
      for (let s = Atomics.load(c, Slot.state); unanswered(s); s = Atomics.load(c, Slot.state)) {
        Atomics.store(c, Slot.hostParked, 1);
        const w = Atomics.waitAsync(c, Slot.state, s);
        // terminate() stores `closed` and notifies, which ends this wait too.
        if (w.async) await w.value;
        Atomics.store(c, Slot.hostParked, 0);
      }
      if (this.#dead !== undefined) throw this.#dead;
      answered = true;
    } finally {
      this.#hostSpin!.unparked(t0, answered);
      if (this.#pending === PARKED) this.#pending = undefined;
    }
    return this.#collect(hook);
  }

  /** Reads the answer out of the region and frees the channel; async only for what follows by message. */
  #collect(hook: string): CallOutcome | Promise<CallOutcome> {
    const c = this.#ctrl!;
    this.#hostSpin!.answered();
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
    const forwarded = c[Slot.forward] !== 0 && c[Slot.forwarded] === 1;
    Atomics.store(c, Slot.state, State.idle);
    if (result === Result.message || result === Result.errorMessage || this.#services < messages) {
      return this.#collectLater(hook, result, { body, fuel }, error, messages);
    }
    if (error !== undefined) throw error;
    return forwarded ? { body, fuel, forwarded } : { body, fuel };
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
