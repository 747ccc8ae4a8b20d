/**
 * The worker of `bench/floor.ts`: a bare channel server (an i32 state, no
 * guest, no copy, no JSON) that spins up to `spin` polls for the next
 * request, then parks.
 *
 * @module
 */

/// <reference lib="deno.worker" />

/** States: 0 idle, 1 request, 2 answer, 3 closed. */
const REQUEST = 1;
const ANSWER = 2;
const CLOSED = 3;

self.onmessage = (e: MessageEvent<{ channel: SharedArrayBuffer; spin: number }>) => {
  const c = new Int32Array(e.data.channel);
  const spin = e.data.spin;
  for (;;) {
    let state = Atomics.load(c, 0);
    for (let n = 0; n < spin && state !== REQUEST && state !== CLOSED; n++) {
      state = Atomics.load(c, 0);
    }
    if (state === CLOSED) return;
    if (state === REQUEST) {
      Atomics.store(c, 0, ANSWER);
      if (Atomics.load(c, 3) === 1) Atomics.notify(c, 0);
      continue;
    }
    Atomics.store(c, 2, 1);
    Atomics.wait(c, 0, state);
    Atomics.store(c, 2, 0);
  }
};
