/**
 * The worker of `bench/floor.ts`: a bare channel server (an i32 state, no
 * guest, no copy, no JSON) that spins up to `spin` polls for the next
 * request, then parks. A prewake (slot 4 set to 1, then a notify) makes a
 * parked worker spin up to `prewakeSpin` polls for its request. Given the
 * next worker's channel (`next`, a relay), it answers no request itself: it
 * hands each one on to that worker (notifying it when it is parked), and the
 * last worker of the relay answers the host.
 *
 * @module
 */

/// <reference lib="deno.worker" />

/** States: 0 idle, 1 request, 2 answer, 3 closed. */
const IDLE = 0;
const REQUEST = 1;
const ANSWER = 2;
const CLOSED = 3;
/** Slots: 0 state, 2 worker parked, 3 host parked, 4 prewake, 5 requests taken. */
const PREWAKE = 4;
const TAKEN = 5;

self.onmessage = (
  e: MessageEvent<{
    channel: SharedArrayBuffer;
    spin: number;
    prewakeSpin?: number;
    next?: SharedArrayBuffer;
  }>,
) => {
  const c = new Int32Array(e.data.channel);
  const next = e.data.next === undefined ? undefined : new Int32Array(e.data.next);
  const spin = e.data.spin;
  const prewakeSpin = e.data.prewakeSpin ?? 0;
  let budget = spin;
  for (;;) {
    let state = Atomics.load(c, 0);
    for (let n = 0; n < budget && state !== REQUEST && state !== CLOSED; n++) {
      state = Atomics.load(c, 0);
    }
    if (state === CLOSED) return;
    if (state === REQUEST) {
      Atomics.add(c, TAKEN, 1);
      if (next === undefined) {
        Atomics.store(c, 0, ANSWER);
        if (Atomics.load(c, 3) === 1) Atomics.notify(c, 0);
      } else {
        // Free this channel first: the host writes the next request into it
        // only once the relay's answer is back.
        Atomics.store(c, 0, IDLE);
        Atomics.store(next, 0, REQUEST);
        if (Atomics.load(next, 2) === 1) Atomics.notify(next, 0);
      }
      budget = spin;
      continue;
    }
    Atomics.store(c, 2, 1);
    if (Atomics.load(c, PREWAKE) === 0) Atomics.wait(c, 0, state);
    Atomics.store(c, 2, 0);
    budget = Atomics.exchange(c, PREWAKE, 0) === 1 ? prewakeSpin : spin;
  }
};
