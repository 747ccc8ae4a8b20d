// Latency under the call patterns real applications make (issue 13): host.prepare wakes the
// workers a hook will reach, a call after an idle gap waits for the worker it woke by spinning
// (no second wake-up of the host's own), and idle gaps do not unlearn the caller's rhythm.
// Properties and counts only: the figures are bench/patterns.ts's job.
import assert from "node:assert/strict";
import { PluginHost } from "../host/host.ts";
import { Plugin, PREWAKES_FOR_TESTS } from "../host/plugin.ts";
import { IDLE_GAP_MS, LearnedGap } from "../channel/_gap.ts";

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
    for (let i = 0; i < 60; i++) {
      await sleep(15); // the worker parks
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
