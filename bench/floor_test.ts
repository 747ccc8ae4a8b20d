// The bare-channel floor's relay (bench/floor.ts, `floor_relay` in bench/patterns.ts): each bare
// worker hands the request on to the next one's channel, and only the last one answers the host.
import assert from "node:assert/strict";
import { BARE_POLICIES, bareChain, HOST_DRIVEN_POLICIES } from "./floor.ts";

const WORKER = new URL("./_floor_worker.ts", import.meta.url);
/** Slots of a bare channel: 0 state (0 idle, 1 request, 2 answer, 3 closed), 2 worker parked, 5 requests taken. */
const [IDLE, REQUEST, ANSWER, CLOSED] = [0, 1, 2, 3];

Deno.test("a bare relay passes each request through every worker in turn, and only the last one answers", async () => {
  const n = 3;
  const chans: Int32Array[] = [];
  const workers: Worker[] = [];
  for (let i = 0; i < n; i++) {
    const channel = new SharedArrayBuffer(32);
    chans.unshift(new Int32Array(channel));
    const w = new Worker(WORKER, { type: "module", deno: { permissions: "none" } });
    w.postMessage({ channel, spin: 0, next: i === 0 ? undefined : chans[1].buffer });
    workers.push(w);
  }
  const first = chans[0];
  const last = chans[n - 1];
  try {
    for (let call = 1; call <= 20; call++) {
      Atomics.store(first, 0, REQUEST);
      if (Atomics.load(first, 2) === 1) Atomics.notify(first, 0);
      const end = performance.now() + 5000;
      while (Atomics.load(last, 0) !== ANSWER) {
        if (performance.now() > end) assert.fail(`call ${call}: no answer from the last worker`);
        await new Promise((r) => setTimeout(r, 1));
      }
      for (let i = 0; i < n; i++) {
        assert.equal(
          Atomics.load(chans[i], 5),
          call,
          `worker ${i + 1} took ${chans[i][5]} requests`,
        );
      }
      for (let i = 0; i < n - 1; i++) {
        assert.equal(
          Atomics.load(chans[i], 0),
          IDLE,
          `worker ${i + 1} answered instead of relaying`,
        );
      }
      Atomics.store(last, 0, IDLE);
    }
  } finally {
    for (const c of chans) {
      Atomics.store(c, 0, CLOSED);
      Atomics.notify(c, 0);
    }
    for (const w of workers) w.terminate();
  }
});

Deno.test("the relay is a bare policy of its own, not one of the host-driven ones the floor is the best of", async () => {
  assert.ok(BARE_POLICIES.includes("relay"));
  assert.ok(!(HOST_DRIVEN_POLICIES as readonly string[]).includes("relay"));
  for (const n of [1, 4]) {
    const us = await bareChain(n, "relay", 0, 50, 500);
    assert.ok(Number.isFinite(us) && us > 0, `a relay of ${n} gave ${us}`);
  }
});
