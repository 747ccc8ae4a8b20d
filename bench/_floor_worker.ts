/**
 * The worker of `bench/floor.ts`: a bare channel server (an i32 state, no
 * guest, no copy, no JSON) that spins up to `spin` polls for the next
 * request, then parks. A prewake (slot 4 set to 1, then a notify) makes a
 * parked worker spin up to `prewakeSpin` polls for its request.
 *
 * @module
 */

/// <reference lib="deno.worker" />

/** States: 0 idle, 1 request, 2 answer, 3 closed. */
const REQUEST = 1;
const ANSWER = 2;
const CLOSED = 3;
/** Slots: 0 state, 2 worker parked, 3 host parked, 4 prewake. */
const PREWAKE = 4;

self.onmessage = (
  e: MessageEvent<{ channel: SharedArrayBuffer; spin: number; prewakeSpin?: number }>,
) => {
  const c = new Int32Array(e.data.channel);
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
      Atomics.store(c, 0, ANSWER);
      if (Atomics.load(c, 3) === 1) Atomics.notify(c, 0);
      budget = spin;
      continue;
    }
    Atomics.store(c, 2, 1);
    if (Atomics.load(c, PREWAKE) === 0) Atomics.wait(c, 0, state);
    Atomics.store(c, 2, 0);
    budget = Atomics.exchange(c, PREWAKE, 0) === 1 ? prewakeSpin : spin;
  }
};
