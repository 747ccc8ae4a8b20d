/**
 * The worker end of the shared-memory call channel: a loop that serves
 * requests written into the shared region, spinning after each answer when
 * `spin.ts` says it pays, and otherwise parking on `Atomics.wait` (an idle
 * plugin burns no CPU). It runs whatever {@linkcode ChannelGuest} it is
 * given (the worker's guest).
 *
 * @module
 */

import { HookError } from "../abi/errors.ts";
import { FUEL_BYTE, HEADER_BYTES, Result, Slot, SpinSlot, State } from "./layout.ts";
import { WorkerSpin } from "./spin.ts";
import { nextFilterRequest } from "./relay.ts";

/** What the channel's worker end runs: one hook call at a time. */
export interface ChannelGuest {
  /**
   * Runs one hook call.
   *
   * @param hook The hook name.
   * @param payload The envelope's bytes.
   * @param read Takes the body (while it is still in guest memory).
   * @returns What `read` returned, or `null` for no body.
   * @throws {HookError} The call's failure.
   */
  call<R>(hook: string, payload: Uint8Array, read: (body: Uint8Array) => R): R | null;
  /** Fuel the last call used, when metered. */
  readonly lastFuelUsed: bigint | undefined;
}

/** Options of {@linkcode ChannelServer}. */
export interface ChannelServerOptions {
  /** The shared call region. */
  buffer: SharedArrayBuffer;
  /** The process-wide spinner budget. */
  spin: SharedArrayBuffer;
  /** What runs the calls. */
  guest: ChannelGuest;
  /** Service messages (log, event) posted so far. */
  messages: () => number;
  /** Posts a message to the host. */
  post: (m: unknown, transfer?: Transferable[]) => void;
  /** Messages from the host received before this server existed. */
  received?: number;
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** The worker's view of its channel. */
export class ChannelServer {
  readonly #ctrl: Int32Array;
  readonly #region: Uint8Array;
  readonly #fuel: BigInt64Array;
  readonly #spin: WorkerSpin;
  readonly #guest: ChannelGuest;
  readonly #messages: () => number;
  readonly #post: (m: unknown, transfer?: Transferable[]) => void;
  readonly #spinCounters: Int32Array;
  /** Channels of the plugins this one may hand a chain's value to, by link id. */
  readonly #links = new Map<number, { ctrl: Int32Array; region: Uint8Array }>();

  /** @param options The channel, the spinner budget, the guest and the message sink. */
  constructor(options: ChannelServerOptions) {
    const { buffer, spin, guest, messages, post } = options;
    this.#received = options.received ?? 0;
    this.#ctrl = new Int32Array(buffer, 0, HEADER_BYTES / 4);
    this.#fuel = new BigInt64Array(buffer, FUEL_BYTE, 1);
    this.#region = new Uint8Array(buffer, HEADER_BYTES);
    this.#spin = new WorkerSpin(this.#ctrl, spin);
    this.#spinCounters = new Int32Array(spin);
    this.#guest = guest;
    this.#messages = messages;
    this.#post = post;
  }

  #received = 0;

  /** Counts a message the host posted (a call by message, a link, a crash request). */
  received(): void {
    // An i32, like the host's count, which wraps
    this.#received = (this.#received + 1) | 0;
  }

  /**
   * Takes the channel of a plugin that may follow this one in a filter chain
   * (the host's `link` message): a call whose `forward` slot names `id` hands
   * its value on to it.
   *
   * @param id The link id, never 0.
   * @param buffer That plugin's call channel.
   */
  link(id: number, buffer: SharedArrayBuffer): void {
    this.#links.set(id, {
      ctrl: new Int32Array(buffer, 0, HEADER_BYTES / 4),
      region: new Uint8Array(buffer, HEADER_BYTES),
    });
  }

  /**
   * Serves until the host asks to yield (a message is waiting) or closes.
   * Call again after handling the message. Returns at once when the host has
   * closed the channel, so the worker gets back to its event loop, where
   * Deno completes `terminate()` (it interrupts neither JS nor wasm).
   */
  serve(): void {
    const c = this.#ctrl;
    for (;;) {
      // Messages the host posted and this worker has not received yet: leave
      // the loop to receive them (taking the yield that woke it, if any).
      if (Atomics.load(c, Slot.posted) !== this.#received) {
        Atomics.compareExchange(c, Slot.state, State.yield, State.idle);
        return;
      }
      const s = Atomics.load(c, Slot.state);
      if (s === State.request) {
        this.#handle();
        continue;
      }
      if (s === State.yield) {
        // Its message is already received.
        Atomics.compareExchange(c, Slot.state, State.yield, State.idle);
        continue;
      }
      if (s === State.closed) return;
      this.#spin.wait(s);
    }
  }

  /**
   * Copies a body into the region, or keeps a copy when it does not fit
   * (`-1`): that copy is posted only once the whole call succeeded (the frees
   * after it run guest code, which may still fail the call).
   */
  readonly #readBody = (body: Uint8Array): number => {
    const region = this.#region;
    if (body.length <= region.length) {
      region.set(body);
      return body.length;
    }
    this.#bigBody = body.slice();
    return -1;
  };

  /** A body too large for the region, held until its call succeeded. */
  #bigBody: Uint8Array | undefined;

  /** Posts a body or error record that did not fit, tagged with its call's sequence number. */
  #postBody(seq: number, body: Uint8Array): void {
    this.#post({ type: "body", seq, body }, [body.buffer as ArrayBuffer]);
  }

  #lastHook = "";
  #lastHookBytes = new Uint8Array(0);

  /** The hook name at the start of the region; the same name as last time is not decoded again. */
  #hookName(region: Uint8Array, len: number): string {
    const last = this.#lastHookBytes;
    if (last.length === len) {
      let same = true;
      for (let i = 0; i < len; i++) {
        if (region[i] !== last[i]) {
          same = false;
          break;
        }
      }
      if (same) return this.#lastHook;
    }
    this.#lastHookBytes = region.slice(0, len);
    return this.#lastHook = decoder.decode(this.#lastHookBytes);
  }

  #handle(): void {
    const c = this.#ctrl;
    // Take the request: a request the host closed first is never run, and
    // only the side that takes it off `request` takes it off the waiting count.
    if (Atomics.compareExchange(c, Slot.state, State.request, State.running) !== State.request) {
      return;
    }
    const t0 = this.#spin.pickedUp();
    const region = this.#region;
    const nameLen = c[Slot.nameLen];
    const payloadLen = c[Slot.payloadLen];
    const seq = c[Slot.seq];
    const hook = this.#hookName(region, nameLen);
    const forward = c[Slot.forward];
    const token = c[Slot.forwardToken];
    // The envelope's tail (`,"args":[…]}`) outlives the request, which the answer overwrites.
    const tail = forward === 0
      ? undefined
      : region.slice(nameLen + payloadLen - c[Slot.forwardTail], nameLen + payloadLen);
    c[Slot.forwarded] = 0;
    let result: number = Result.none;
    let len = 0;
    this.#bigBody = undefined;
    try {
      const out = this.#guest.call(
        hook,
        region.subarray(nameLen, nameLen + payloadLen),
        this.#readBody,
      );
      if (out === null) result = Result.none;
      else if (out < 0) {
        // The call succeeded, frees included: only now does the body leave.
        this.#postBody(seq, this.#bigBody!);
        result = Result.message;
      } else {
        result = Result.body;
        len = out;
      }
    } catch (e) {
      const record =
        (e instanceof HookError ? e : new HookError("worker_crashed", `Worker failed: ${e}`))
          .toRecord();
      const text = JSON.stringify(record);
      const put = encoder.encodeInto(text, region);
      if (put.read === text.length) {
        len = put.written;
        result = Result.error;
      } else {
        // A small region: the record follows whole, as a message (like a big body).
        this.#postBody(seq, encoder.encode(text));
        result = Result.errorMessage;
      }
    } finally {
      this.#bigBody = undefined;
    }
    const fuel = this.#guest.lastFuelUsed;
    if (fuel !== undefined) this.#fuel[0] = fuel;
    c[Slot.hasFuel] = fuel === undefined ? 0 : 1;
    c[Slot.result] = result;
    c[Slot.bodyLen] = len;
    c[Slot.messages] = this.#messages();
    const next = tail !== undefined && (result === Result.body || result === Result.none)
      ? this.#forward(forward, token, result, len, nameLen, payloadLen, tail)
      : undefined;
    c[Slot.forwarded] = next === undefined ? 0 : 1;
    this.#spin.answered(t0);
    // Never over `closed`: a host that gave up on this call (timeout, close)
    // has closed the channel, and the serve loop then leaves.
    const published =
      Atomics.compareExchange(c, Slot.state, State.running, State.response) === State.running;
    if (published && Atomics.load(c, Slot.hostParked) === 1) Atomics.notify(c, Slot.state);
    // The next request goes out after this answer: waking the next worker can
    // take this thread's core, and the host must not wait for the answer
    // behind it. A call the host gave up on hands nothing on: the
    // reservation goes back as it was.
    if (next !== undefined) {
      if (!published) {
        Atomics.store(next, Slot.state, State.reserved);
        Atomics.notify(next, Slot.state);
        return;
      }
      Atomics.add(this.#spinCounters, SpinSlot.waiting, 1);
      Atomics.store(next, Slot.state, State.request);
      if (Atomics.load(next, Slot.workerParked) === 1) Atomics.notify(next, Slot.state);
      // The next worker needs a core more than this one needs to spin.
      this.#spin.skipNextSpin();
    }
  }

  /**
   * Prepares the hand-off of a filter's value to the next plugin of the
   * chain: takes the reservation the request names (`reserved` →
   * `filling`), writes the next request into it, to be published once this
   * call's answer is (`filling` → `request`). Does nothing, and answers
   * `undefined`, when anything is off: an unknown link, a reservation taken
   * back or renewed, an answer the host will refuse (not UTF-8, not a JSON
   * object), a request over the next plugin's cap or region (the reservation
   * then goes back). The host then calls the next plugin itself, and the
   * outcome is the same.
   *
   * @returns The next channel's header slots, or `undefined`.
   */
  #forward(
    link: number,
    token: number,
    result: number,
    len: number,
    nameLen: number,
    payloadLen: number,
    tail: Uint8Array,
  ): Int32Array | undefined {
    const next = this.#links.get(link);
    const c = this.#ctrl;
    // A call the host gave up on (timeout, close) hands nothing on.
    if (next === undefined || Atomics.load(c, Slot.state) !== State.running) return undefined;
    const n = next.ctrl;
    // Take the reservation this request names, and only that one: not one the
    // host took back, nor a later reservation of the same channel.
    if (Atomics.compareExchange(n, Slot.state, State.reserved, State.filling) !== State.reserved) {
      return undefined;
    }
    const giveBack = (): undefined => {
      Atomics.store(n, Slot.state, State.reserved);
      Atomics.notify(n, Slot.state);
      return undefined;
    };
    if (Atomics.load(n, Slot.reservation) !== token) return giveBack();
    const room = next.region.subarray(n[Slot.nameLen]);
    let size: number;
    if (result === Result.none) {
      // No body: the value is unchanged, and so is the request.
      if (payloadLen > room.length) return giveBack();
      room.set(this.#region.subarray(nameLen, nameLen + payloadLen));
      size = payloadLen;
    } else {
      const written = nextFilterRequest(this.#region.subarray(0, len), tail, room);
      if (written < 0) return giveBack();
      size = written;
    }
    if (size > c[Slot.forwardCap]) return giveBack();
    n[Slot.payloadLen] = size;
    n[Slot.forwardTail] = tail.length;
    return n;
  }
}
