/**
 * The worker end of the shared-memory call channel: a loop that serves
 * requests written into the shared region, spinning briefly after each
 * answer when that pays and a spinner slot is free, and otherwise parking on
 * `Atomics.wait` (an idle plugin burns no CPU).
 *
 * @module
 */

import { HookError } from "../abi/errors.ts";
import type { Guest } from "./guest.ts";
import { LearnedGap } from "./_gap.ts";
import { FUEL_BYTE, HEADER_BYTES, Result, Slot, SpinSlot, State } from "./channel_layout.ts";

/** Longest a worker spins waiting for the next request, in ms. */
const MAX_SPIN_MS = 0.5;

/** Longest a prewoken worker spins for the call it was told is coming, in ms. */
const PREWAKE_SPIN_MS = 1;

/** A prewoken worker's spin before the host has measured a wake-up, in ms. */
const PREWAKE_DEFAULT_MS = 0.1;

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** The worker's view of its channel. */
export class ChannelServer {
  readonly #ctrl: Int32Array;
  readonly #region: Uint8Array;
  readonly #fuel: BigInt64Array;
  readonly #spin: Int32Array;
  readonly #guest: Guest;
  readonly #messages: () => number;
  readonly #post: (m: unknown, transfer?: Transferable[]) => void;
  /** Smoothed gap between an answer and the next request, in ms. */
  readonly #gap = new LearnedGap();
  /** When the last sampled call was answered. */
  #answeredAt = 0;
  /** The next pick-up closes a gap sample. */
  #gapOpen = false;
  #calls = 0;
  /** Smoothed share of spins that caught the next request (0..1). */
  #hitRate = 1;
  #spins = 0;

  constructor(
    buffer: SharedArrayBuffer,
    spin: SharedArrayBuffer,
    guest: Guest,
    messages: () => number,
    post: (m: unknown, transfer?: Transferable[]) => void,
  ) {
    this.#ctrl = new Int32Array(buffer, 0, HEADER_BYTES / 4);
    this.#fuel = new BigInt64Array(buffer, FUEL_BYTE, 1);
    this.#region = new Uint8Array(buffer, HEADER_BYTES);
    this.#spin = new Int32Array(spin);
    this.#guest = guest;
    this.#messages = messages;
    this.#post = post;
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
      const s = Atomics.load(c, Slot.state);
      if (s === State.request) {
        this.#handle();
        continue;
      }
      if (s === State.yield) {
        Atomics.compareExchange(c, Slot.state, State.yield, State.idle);
        return;
      }
      if (s === State.closed) return;
      if (this.#spinFor(s)) continue;
      Atomics.store(c, Slot.workerParked, 1);
      if (Atomics.load(c, Slot.prewake) === 0) Atomics.wait(c, Slot.state, s);
      Atomics.store(c, Slot.workerParked, 0);
      if (Atomics.exchange(c, Slot.prewake, 0) === 1) {
        Atomics.add(c, Slot.prewakes, 1);
        this.#spinPrewoken();
      }
    }
  }

  /**
   * The host said a call is coming (a prewake): spin for it as long as a
   * wake-up costs (what the host measured; the 2-competitive rule: parking
   * again and being woken by the call would cost that much), at most
   * {@linkcode PREWAKE_SPIN_MS}, when a spinner slot is free and no other
   * worker's request waits for a core; then park again.
   */
  #spinPrewoken(): void {
    const sp = this.#spin;
    if (Atomics.load(sp, SpinSlot.waiting) > 0) return;
    if (Atomics.add(sp, SpinSlot.spinning, 1) >= Atomics.load(sp, SpinSlot.limit)) {
      Atomics.sub(sp, SpinSlot.spinning, 1);
      return;
    }
    try {
      const c = this.#ctrl;
      const wakeMs = c[Slot.wakeNs] / 1e6;
      const budget = Math.min(PREWAKE_SPIN_MS, wakeMs > 0 ? wakeMs : PREWAKE_DEFAULT_MS);
      let until = -1;
      for (let i = 1; Atomics.load(c, Slot.state) === State.idle; i++) {
        if ((i & 63) !== 0) continue;
        const now = performance.now();
        if (until < 0) until = now + budget;
        else if (now >= until) return;
      }
    } finally {
      Atomics.sub(sp, SpinSlot.spinning, 1);
    }
  }

  /**
   * Spins while the state is `s`, within the budget; `true` when it changed.
   * Spinning only pays while host and worker run on different cores; when
   * spins keep missing (a shared core, a slow caller) the worker stops
   * spinning and parks at once, probing again every 32nd time.
   */
  #spinFor(s: number): boolean {
    if (s !== State.response && s !== State.idle) return false;
    const gap = this.#gap.ms;
    if (gap > MAX_SPIN_MS) return false;
    // A probe spins for twice the usual gap only: on a shared core it stalls
    // the host for its whole length.
    const probing = this.#hitRate < 0.5;
    if (probing && (++this.#spins & 31) !== 0) return false;
    // Spin for twice the usual gap, or as long as a wake-up would cost.
    const budget = Math.min(
      MAX_SPIN_MS,
      probing ? 2 * gap : Math.max(2 * gap, this.#ctrl[Slot.wakeNs] / 1e6),
    );
    const sp = this.#spin;
    if (Atomics.load(sp, SpinSlot.waiting) > 0) return false; // another worker needs a core
    if (Atomics.add(sp, SpinSlot.spinning, 1) >= Atomics.load(sp, SpinSlot.limit)) {
      Atomics.sub(sp, SpinSlot.spinning, 1);
      return false;
    }
    try {
      const c = this.#ctrl;
      let i = 0;
      let othersWaiting = false;
      let until = -1; // set at the first check: most spins end before it
      for (let st: number = s; st === s || st === State.idle; st = Atomics.load(c, Slot.state)) {
        if ((++i & 63) !== 0) continue;
        // A request waits to be picked up: ours (about to show: the host counts
        // it just before it publishes it) or another worker's, seen twice in a
        // row: then yield the core to it.
        if (Atomics.load(sp, SpinSlot.waiting) > 0) {
          if (othersWaiting) return false;
          othersWaiting = true;
        } else othersWaiting = false;
        const now = performance.now();
        if (until < 0) until = now + budget;
        else if (now >= until) {
          this.#hitRate *= 0.8;
          return false;
        }
      }
      this.#hitRate = this.#hitRate * 0.8 + 0.2;
      return true;
    } finally {
      Atomics.sub(sp, SpinSlot.spinning, 1);
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
    Atomics.sub(this.#spin, SpinSlot.waiting, 1);
    const region = this.#region;
    const nameLen = c[Slot.nameLen];
    const payloadLen = c[Slot.payloadLen];
    const seq = c[Slot.seq];
    // Timing is sampled (every 4th call, and the gap after it): a clock read
    // costs 0.15 µs, a tenth of a small call.
    const sampled = (++this.#calls & 3) === 0;
    const t0 = sampled || this.#gapOpen ? performance.now() : 0;
    if (this.#gapOpen) {
      this.#gap.observe(t0 - this.#answeredAt);
      this.#gapOpen = false;
    }
    const hook = this.#hookName(region, nameLen);
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
    if (sampled) {
      const t1 = performance.now();
      c[Slot.computeNs] = Math.min(0x7fff_ffff, Math.round((t1 - t0) * 1e6));
      this.#answeredAt = t1;
      this.#gapOpen = true;
    }
    // Never over `closed`: a host that gave up on this call (timeout, close)
    // has closed the channel, and the serve loop then leaves.
    if (
      Atomics.compareExchange(c, Slot.state, State.running, State.response) === State.running &&
      Atomics.load(c, Slot.hostParked) === 1
    ) {
      Atomics.notify(c, Slot.state);
    }
  }
}
