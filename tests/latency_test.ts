// Latency under the call patterns real applications make (issue 13): host.prepare wakes the
// workers a hook will reach, a call after an idle gap waits for the worker it woke by spinning
// (no second wake-up of the host's own), and idle gaps do not unlearn the caller's rhythm.
// Properties and counts only: the figures are bench/patterns.ts's job.
import assert from "node:assert/strict";
import { PluginHost } from "../host/host.ts";
import { Plugin, PREWAKES_FOR_TESTS } from "../host/plugin.ts";
import { IDLE_GAP_MS, LearnedGap } from "../channel/_gap.ts";
import { HEADER_BYTES, Prewake, Slot, SpinSlot, State } from "../channel/layout.ts";
import { HostSpin, prewokenSpinsForTests } from "../channel/spin.ts";

const EXAMPLES = new URL("../examples/", import.meta.url);
const UPPER = new URL("../bench/plugins/upper/upper.wasm", import.meta.url);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, f: () => boolean, ms = 3000): Promise<void> {
  const end = performance.now() + ms;
  while (!f()) {
    if (performance.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

Deno.test("host.prepare wakes the parked workers of the first cores − 1 plugins bound to the hook, in chain order", async () => {
  await using host = await PluginHost.create({ onError: () => {} });
  for (const p of ["shout", "exclaim", "audit"]) {
    await host.load(new URL(`${p}/plugin.toml`, EXAMPLES));
  }
  const served = (name: string) => (host.plugin(name) as Plugin)[PREWAKES_FOR_TESTS]();
  // shout (priority 10) runs before exclaim (20); as many as may spin at once are woken
  const second = navigator.hardwareConcurrency - 1 >= 2;
  assert.equal(await host.bus.applyFilters("the_content", "hi"), "HI!");
  for (let round = 1; round <= 3; round++) {
    await sleep(30); // every worker has parked
    host.prepare("the_content");
    await until(
      "the prewakes",
      () => served("shout") >= round && (!second || served("exclaim") >= round),
    );
    if (!second) assert.equal(served("exclaim"), 0, "only one worker can spin on this machine");
    assert.equal(served("audit"), 0, "audit is not bound to the_content");
    assert.equal(await host.bus.applyFilters("the_content", "hi"), "HI!");
  }
  // a hook without plugins, or an unknown one, does nothing
  host.prepare("on_nothing");
  host.prepare("not a hook");
  assert.equal(served("audit"), 0);
  // an unloaded plugin is not woken any more: exclaim now runs first
  await host.unload("shout");
  const before = served("exclaim");
  await sleep(30);
  host.prepare("the_content");
  await until("the prewake", () => served("exclaim") > before);
});

Deno.test("a call after an idle gap can be collected without a promise: the host spins for the worker it woke", async () => {
  const p = await Plugin.load(await Deno.readFile(UPPER), { name: "upper" });
  try {
    let synchronous = 0;
    for (let i = 0; i < 120; i++) {
      await sleep(5); // the worker parks (an idle gap: over IDLE_GAP_MS)
      const out = p.run("filter", "the_content", `call ${i}`, []);
      if (!(out instanceof Promise)) synchronous++;
      assert.equal(await out, `CALL ${i}`);
    }
    // Before, a call to a parked worker always parked the host too (a promise,
    // then the host's own wake-up). Under heavy load a woken worker may miss
    // the host's spin, so this asks for one success, not all.
    assert.ok(synchronous > 0, "no call after an idle gap was collected by the spin");
  } finally {
    await p.close();
  }
});

Deno.test("an idle period does not move the learned gap; short gaps do", () => {
  const g = new LearnedGap();
  for (let i = 0; i < 20; i++) g.observe(0.01);
  const learned = g.ms;
  assert.ok(learned < 0.02);
  g.observe(100); // 100 ms idle
  g.observe(IDLE_GAP_MS + 0.1);
  assert.equal(g.ms, learned, "an idle gap was learned as the caller's rhythm");
  g.observe(1);
  assert.ok(g.ms > learned, "a gap under the idle threshold is learned");
});

Deno.test("a worker woken by a prewake while the host is still inside its notify parks again instead of spinning on the host's core", async () => {
  // On 2 cores the kernel often runs the woken worker on the waker's core,
  // preempting the host inside Atomics.notify: a worker spinning there kept
  // the host from writing the very call it waited for until its spin ran out
  // (main job: prepared requests 456 µs against 193 µs unprepared). The slot
  // still reading `sending` when the worker runs says so; this drives a real
  // WorkerSpin through both cases, deterministically.
  const channel = new SharedArrayBuffer(HEADER_BYTES + 64);
  const spin = new SharedArrayBuffer(16);
  const c = new Int32Array(channel, 0, HEADER_BYTES / 4);
  const sp = new Int32Array(spin);
  Atomics.store(sp, SpinSlot.limit, 1);
  c[Slot.wakeNs] = 200_000; // a prewoken worker would spin up to 0.2 ms
  const w = new Worker(new URL("./_prewake_worker.ts", import.meta.url), { type: "module" });
  try {
    w.postMessage({ channel, spin });
    const parkedAgain = (served: number) =>
      until(
        `prewake ${served} served and the worker parked`,
        () =>
          Atomics.load(c, Slot.prewakes) === served && Atomics.load(c, Slot.workerParked) === 1 &&
          Atomics.load(c, Slot.prewake) === Prewake.none &&
          Atomics.load(sp, SpinSlot.spinning) === 0,
      );
    await until("the worker parked", () => Atomics.load(c, Slot.workerParked) === 1);

    // the host has not returned from its notify: the worker must not spin
    Atomics.store(c, Slot.prewake, Prewake.sending);
    Atomics.notify(c, Slot.state);
    await parkedAgain(1);
    assert.equal(prewokenSpinsForTests(spin), 0, "the worker spun on the host's core");

    // the notify returned (the host runs on elsewhere): the worker spins for the call
    Atomics.store(c, Slot.prewake, Prewake.sent);
    Atomics.notify(c, Slot.state);
    await parkedAgain(2);
    assert.equal(prewokenSpinsForTests(spin), 1, "a prewake sent in full was not spun for");

    // the host's side: once prewake() returns, the slot never reads `sending`
    const host = new HostSpin(c);
    for (let i = 0; i < 20; i++) {
      await until("the worker parked", () => Atomics.load(c, Slot.workerParked) === 1);
      host.prewake();
      assert.notEqual(Atomics.load(c, Slot.prewake), Prewake.sending);
    }
    await until("the spinners settled", () => Atomics.load(sp, SpinSlot.spinning) === 0);
    assert.equal(Atomics.load(sp, SpinSlot.waiting), 0);
  } finally {
    Atomics.store(c, Slot.state, State.closed);
    Atomics.notify(c, Slot.state);
    w.terminate();
  }
});
