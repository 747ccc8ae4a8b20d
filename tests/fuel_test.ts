// Deterministic fuel: the same plugin and input use the same fuel on every run, in a worker
// and in-process alike; exhaustion is typed and the instance is recycled.
import assert from "node:assert/strict";
import { meter } from "../meter/mod.ts";
import { Guest } from "../workers/guest.ts";
import { Plugin } from "../host/plugin.ts";
import { fixtureBytes } from "./_helpers.ts";

const PAYLOAD = '{"kind":"filter","value":"hello, fuel","args":[]}';

Deno.test("the same call uses the same fuel every run, across loads, in a worker and in-process", async () => {
  const bytes = await fixtureBytes("content");
  const used: bigint[] = [];
  for (let load = 0; load < 2; load++) {
    const p = await Plugin.load(bytes, { name: "fuel", fuel: 1_000_000 });
    try {
      for (let i = 0; i < 25; i++) {
        const { body, fuel } = await p.callRaw("the_content", PAYLOAD);
        assert.equal(body, '{"value":"HELLO, FUEL"}');
        used.push(fuel!);
      }
    } finally {
      await p.close();
    }
  }
  assert.ok(used[0] > 0n);
  assert.ok(used.every((f) => f === used[0]), `fuel varied: ${[...new Set(used)]}`);

  const module = await WebAssembly.compile(meter(bytes, { startFuel: 1_000_000 }).bytes);
  const guest = new Guest(module, {
    plugin: "fuel",
    maxPayloadBytes: 1 << 20,
    maxResponseBytes: 1 << 20,
    fuel: 1_000_000n,
    importNames: ["gn_panic", "gn_error_set"],
  });
  guest.callText("the_content", PAYLOAD);
  assert.equal(guest.lastFuelUsed, used[0]);
});

Deno.test("fuel grows with the work: a longer value costs more, linearly", async () => {
  const bytes = await fixtureBytes("content");
  const p = await Plugin.load(bytes, { name: "fuel", fuel: 10_000_000 });
  try {
    const cost = async (n: number) =>
      (await p.callRaw("the_content", `{"kind":"filter","value":"${"a".repeat(n)}","args":[]}`))
        .fuel!;
    const [c0, c1, c2] = [await cost(100), await cost(200), await cost(300)];
    assert.ok(c1 > c0);
    assert.equal(c2 - c1, c1 - c0, "each extra 100 bytes costs the same");
  } finally {
    await p.close();
  }
});

Deno.test("a budget one short of the cost is exhausted; exactly the cost succeeds", async () => {
  const bytes = await fixtureBytes("content");
  const probe = await Plugin.load(bytes, { name: "fuel", fuel: 1_000_000 });
  const cost = (await probe.callRaw("the_content", PAYLOAD)).fuel!;
  await probe.close();
  const exact = await Plugin.load(bytes, { name: "fuel", fuel: Number(cost) });
  const short = await Plugin.load(bytes, { name: "fuel", fuel: Number(cost) - 1 });
  try {
    assert.equal((await exact.callRaw("the_content", PAYLOAD)).body, '{"value":"HELLO, FUEL"}');
    await assert.rejects(short.callRaw("the_content", PAYLOAD), { code: "fuel_exhausted" });
    // recycled: a cheaper call still fits
    assert.equal(await short.action("on_event"), undefined);
  } finally {
    await exact.close();
    await short.close();
  }
});
