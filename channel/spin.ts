/**
 * The spin policy of the call channel, both ends of it in one place: when the
 * host spins for an answer instead of parking, when a worker spins for the
 * next request instead of parking on `Atomics.wait`, how the cost of a
 * wake-up is measured, and the process-wide spinner budget that keeps the
 * spinners off the cores others need. Uses no Deno APIs.
 *
 * @module
 */

import { Prewake, Slot, SpinSlot, State } from "./layout.ts";
import { LearnedGap } from "./_gap.ts";

/** Longest a worker spins waiting for the next request, in ms. */
const MAX_SPIN_MS = 0.5;

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

/** Longest a prewoken worker spins for the call it was told is coming, in ms. */
const PREWAKE_SPIN_MS = 1;

/** A prewoken worker's spin before the host has measured a wake-up, in ms. */
const PREWAKE_DEFAULT_MS = 0.1;

/**
 * Latency policies, switchable for `bench/patterns.ts` to measure each side
 * by side (not public): the host's spin for a worker it woke (on), and the
 * prewake of a chain's next plugin when the chain reaches a plugin (off: it
 * cost more than it saved on 2 cores, see RATIONALE.md), and the chain
 * hand-off between plugin workers (`channel/relay.ts`, on).
 */
export const latencyPolicy: {
  wakeSpin: boolean;
  chainPrewake: boolean;
  relay: boolean;
  relayGapMs: number;
} = {
  wakeSpin: true,
  chainPrewake: false,
  /** Hand a chain's next request from one plugin's worker straight to the next plugin's. */
  relay: true,
  /**
   * Only when the chain's plugin was last called this recently (ms): after an
   * idle gap, the hand-off measured slower than the host waking each worker.
   */
  relayGapMs: 0.5,
};

/** Cores: the host spins for a woken worker only when that worker can have a core of its own. */
const CORES = typeof navigator === "undefined" ? 1 : navigator.hardwareConcurrency ?? 1;

let spinShared: SharedArrayBuffer | undefined;
let spinView: Int32Array | undefined;

/**
 * The process-wide spinner budget: at most (cores − 1) workers spin at once.
 *
 * @returns The shared counters ({@linkcode SpinSlot}), made on first use.
 */
export function spinBudget(): SharedArrayBuffer {
  if (spinShared === undefined) {
    spinShared = new SharedArrayBuffer(16);
    spinView = new Int32Array(spinShared);
    const cores = typeof navigator === "undefined" ? 2 : navigator.hardwareConcurrency ?? 2;
    Atomics.store(spinView, SpinSlot.limit, Math.max(0, cores - 1));
  }
  return spinShared;
}

/** The process-wide spinner counters, as i32s. */
export function spinCounters(): Int32Array {
  spinBudget();
  return spinView!;
}

/**
 * Test hook: the process-wide spinner counters (workers spinning, requests
 * waiting to be picked up). Both are 0 whenever no call is in flight.
 *
 * @returns The two counters.
 */
export function spinCountsForTests(): { spinning: number; waiting: number } {
  const v = spinCounters();
  return {
    spinning: Atomics.load(v, SpinSlot.spinning),
    waiting: Atomics.load(v, SpinSlot.waiting),
  };
}

/**
 * Test hook: prewakes a worker spun for, process-wide, so far (see
 * {@linkcode SpinSlot.prewokenSpins}).
 *
 * @param spin A spinner budget; the process-wide one by default.
 * @returns The count.
 */
export function prewokenSpinsForTests(spin: SharedArrayBuffer = spinBudget()): number {
  return Atomics.load(new Int32Array(spin), SpinSlot.prewokenSpins);
}

/**
 * Whether a shared call is still with the worker: not yet picked up, or running
 * (or, for a chain hand-off, not yet published by the worker before it).
 *
 * @param state The call channel's state slot.
 * @returns `true` while the answer is not there.
 */
export function unanswered(state: number): boolean {
  // `reserved`, `filling`: a hand-off's request, about to be published by the worker before.
  return state === State.request || state === State.running || state === State.reserved ||
    state === State.filling;
}

/** Calls in flight on shared channels, process-wide: the host spins only when it is alone. */
let sharedInFlight = 0;

/** Whether the host may spin for a call starting now: no other shared call is in flight. */
function alone(): boolean {
  return sharedInFlight === 0;
}

/**
 * The host end's policy for one channel: spin on the answer while that pays,
 * measure what parking costs and tell the worker (its spin budget).
 */
export class HostSpin {
  /** Smoothed time the worker takes to serve a call, in ms (what it reports). */
  #computeMs = 0.005;
  /** Smoothed cost of parking an exchange, in ms (see {@linkcode HostSpin.measureWake}). */
  #wakeMs = 0;
  /** Smoothed share of the host's spins for a woken worker that caught its answer (0..1). */
  #wakeSpinHits = 1;
  /** Spins for a woken worker skipped while they keep missing (probe every 16th). */
  #wakeSpinSkips = 0;
  /** When the host woke the worker for the call that is about to park, or `-1`. */
  #wokeAt = -1;
  /** A prewake was sent since the last call. */
  #prewoken = false;
  readonly #ctrl: Int32Array;

  /** @param ctrl The channel's header slots. */
  constructor(ctrl: Int32Array) {
    this.#ctrl = ctrl;
  }

  /**
   * Spins on the answer while that pays: only when the worker was awake to
   * take the request (it spins only while its spins keep catching requests,
   * which they do only from another core), when no other shared call is in
   * flight (the event loop has nothing else to do), and for about twice the
   * time the worker usually takes, plus a little for the hand-over.
   *
   * @returns `true` when the answer came within the spin.
   */
  spin(): boolean {
    const c = this.#ctrl;
    this.#wokeAt = -1;
    const prewoken = this.#prewoken;
    this.#prewoken = false;
    const parked = Atomics.load(c, Slot.workerParked) === 1;
    if (parked) Atomics.notify(c, Slot.state);
    const mayspin = alone();
    if (parked || prewoken) {
      if (!mayspin) return false;
      // Alone: wait for the woken worker's answer by spinning, so the call
      // pays one wake-up (the worker's), not a second one (the host's own,
      // out of Atomics.waitAsync). A worker just prewoken gets the same
      // budget: it runs slower than one that has been spinning.
      const t0 = performance.now();
      if (this.#spinForWoken(c)) {
        if (parked) this.measureWake(performance.now() - t0 - c[Slot.computeNs] / 1e6);
        return true;
      }
      if (parked) this.#wokeAt = t0;
      return false;
    }
    if (!mayspin) return false;
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

  /**
   * The request was published by another plugin's worker (a chain
   * hand-off), which woke this one: spins for the answer like for a worker
   * the host woke, when no other shared call is in flight.
   *
   * @returns `true` when the answer came within the spin.
   */
  adopted(): boolean {
    this.#wokeAt = -1;
    this.#prewoken = false;
    if (!alone()) return false;
    return this.#spinForWoken(this.#ctrl);
  }

  /**
   * Says a call is coming: wakes the worker when it is parked and idle (and
   * no prewake is pending), and treats the next call's worker as one the host
   * woke. The slot goes `sending`, then `sent` once the notify returned (see
   * {@linkcode Prewake}): a worker woken on the host's own core sees
   * `sending`, since the host cannot run on until the worker leaves the core.
   */
  prewake(): void {
    const c = this.#ctrl;
    if (
      Atomics.load(c, Slot.workerParked) !== 1 || Atomics.load(c, Slot.state) !== State.idle ||
      Atomics.load(c, Slot.prewake) !== Prewake.none
    ) return;
    Atomics.store(c, Slot.prewake, Prewake.sending);
    Atomics.notify(c, Slot.state);
    Atomics.compareExchange(c, Slot.prewake, Prewake.sending, Prewake.sent);
    this.#prewoken = true;
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

  /**
   * Marks the start of a parked wait.
   *
   * @returns The start time when this call parks alone (it measures the
   *   wake-up, from when the host woke the worker if it did; others also
   *   measure queueing), else `-1`.
   */
  parked(): number {
    const t0 = sharedInFlight === 0 ? (this.#wokeAt >= 0 ? this.#wokeAt : performance.now()) : -1;
    sharedInFlight++;
    return t0;
  }

  /**
   * Marks the end of a parked wait that `parked()` started.
   *
   * @param t0 What `parked()` returned.
   * @param answered Whether the answer came (not a termination).
   */
  unparked(t0: number, answered: boolean): void {
    if (answered && t0 >= 0 && sharedInFlight === 1) {
      this.measureWake(performance.now() - t0 - this.#ctrl[Slot.computeNs] / 1e6);
    }
    sharedInFlight--;
  }

  /**
   * Keeps a smoothed figure of what parking costs (a parked exchange's time
   * beyond the worker's own), and tells the worker: its spin budget.
   *
   * @param ms One parked exchange's time beyond the worker's own.
   */
  measureWake(ms: number): void {
    if (!(ms > 0)) return;
    const sample = Math.min(ms, MAX_WAKE_MS);
    this.#wakeMs = this.#wakeMs === 0 ? sample : this.#wakeMs * 0.9 + sample * 0.1;
    this.#ctrl[Slot.wakeNs] = Math.round(this.#wakeMs * 1e6);
  }

  /** Takes the worker's figure of the call just answered into the smoothed compute time. */
  answered(): void {
    this.#computeMs = this.#computeMs * 0.8 + (this.#ctrl[Slot.computeNs] / 1e6) * 0.2;
  }
}

/**
 * The worker end's policy: spin briefly after each answer when that pays and
 * a spinner slot is free, otherwise park (an idle plugin burns no CPU).
 */
export class WorkerSpin {
  readonly #ctrl: Int32Array;
  readonly #spin: Int32Array;
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

  /**
   * @param ctrl The channel's header slots.
   * @param spin The process-wide spinner budget ({@linkcode spinBudget}).
   */
  constructor(ctrl: Int32Array, spin: SharedArrayBuffer) {
    this.#ctrl = ctrl;
    this.#spin = new Int32Array(spin);
  }

  /**
   * A request was picked up: takes it off the process-wide waiting count,
   * and closes a gap sample.
   *
   * @returns When the call started (`0` when it is not sampled): timing is
   *   sampled (every 4th call, and the gap after it), since a clock read
   *   costs 0.15 µs, a tenth of a small call.
   */
  pickedUp(): number {
    Atomics.sub(this.#spin, SpinSlot.waiting, 1);
    const sampled = (++this.#calls & 3) === 0;
    const t0 = sampled || this.#gapOpen ? performance.now() : 0;
    if (this.#gapOpen) {
      this.#gap.observe(t0 - this.#answeredAt);
      this.#gapOpen = false;
    }
    return sampled ? t0 : 0;
  }

  #skipSpin = false;

  /** Parks after this answer without spinning: a request just handed on needs the core. */
  skipNextSpin(): void {
    this.#skipSpin = true;
  }

  /**
   * The answer is written: reports the call's time to the host when sampled.
   *
   * @param t0 What `pickedUp()` returned.
   */
  answered(t0: number): void {
    if (t0 === 0) return;
    const t1 = performance.now();
    this.#ctrl[Slot.computeNs] = Math.min(0x7fff_ffff, Math.round((t1 - t0) * 1e6));
    this.#answeredAt = t1;
    this.#gapOpen = true;
  }

  /**
   * Spins while the state is `s`, within the budget; `true` when it changed.
   * Spinning only pays while host and worker run on different cores; when
   * spins keep missing (a shared core, a slow caller) the worker stops
   * spinning and parks at once, probing again every 32nd time.
   *
   * @param s The state seen.
   * @returns Whether the state changed within the spin.
   */
  spinFor(s: number): boolean {
    // `reserved`: held for a hand-off, a request is coming, as when idle.
    if (s !== State.response && s !== State.idle && s !== State.reserved) return false;
    if (this.#skipSpin) {
      this.#skipSpin = false;
      return false;
    }
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
      for (
        let st: number = s;
        st === s || st === State.idle || st === State.reserved || st === State.filling;
        st = Atomics.load(c, Slot.state)
      ) {
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
   * Waits while the state is `s`: spins when that pays ({@linkcode WorkerSpin.spinFor}),
   * else parks on `Atomics.wait` (unless a prewake is pending). A prewake
   * then spins for the call the host said is coming, unless the host has not
   * returned from its notify yet (`sending`): then this thread was run on
   * the host's core, in its place, and spinning would hold off the very call
   * it waits for until the spin ran out (the call then paid a second
   * wake-up); it parks again at once, and the call wakes it as it would have
   * without the prewake.
   *
   * @param s The state seen.
   */
  wait(s: number): void {
    if (this.spinFor(s)) return;
    const c = this.#ctrl;
    for (;;) {
      Atomics.store(c, Slot.workerParked, 1);
      if (Atomics.load(c, Slot.prewake) === Prewake.none) Atomics.wait(c, Slot.state, s);
      Atomics.store(c, Slot.workerParked, 0);
      const prewake = Atomics.exchange(c, Slot.prewake, Prewake.none);
      if (prewake === Prewake.none) return;
      Atomics.add(c, Slot.prewakes, 1);
      if (prewake === Prewake.sent) {
        this.#spinPrewoken();
        return;
      }
      s = Atomics.load(c, Slot.state);
      if (s !== State.idle && s !== State.response) return;
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
    Atomics.add(sp, SpinSlot.prewokenSpins, 1);
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
}
