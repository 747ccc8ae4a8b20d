// Several callers driving plugins at once (issue 13, item 5): the host does not spin for an
// answer while other calls keep starting beside it. A spin holds the event loop, where the other
// callers' answers and next calls wait, and a core their workers need. One caller (a chain
// included) still gets the spin. Counts only: the figures are bench/bench.ts's job.
import assert from "node:assert/strict";
import { hostSpinsForTests } from "../channel/spin.ts";
import { PluginHost } from "../host/host.ts";

const UPPER = new URL("../bench/plugins/upper/plugin.toml", import.meta.url);
const VALUE = "abcdefghij".repeat(100);

/** `hosts.length` callers, one per host, each calling its plugin `calls` times. */
async function drive(hosts: PluginHost[], calls: number): Promise<number> {
  const before = hostSpinsForTests();
  await Promise.all(hosts.map(async (h) => {
    for (let i = 0; i < calls; i++) {
      assert.equal(await h.bus.applyFilters("the_content", VALUE), VALUE.toUpperCase());
    }
  }));
  return hostSpinsForTests() - before;
}

Deno.test("four callers at once: the host stops spinning for answers; one caller alone spins again", async () => {
  const hosts = await Promise.all(Array.from({ length: 4 }, () => PluginHost.create()));
  try {
    for (const h of hosts) await h.load(UPPER);
    await drive(hosts, 50); // warm up, and learn that calls start beside each other
    const calls = 4 * 500;
    const spins = await drive(hosts, 500);
    assert.ok(spins < calls / 10, `the host spun for ${spins} of ${calls} calls`);
    // alone again: within a few dozen calls the host spins for answers again
    await drive(hosts.slice(0, 1), 50);
    assert.ok(await drive(hosts.slice(0, 1), 500) > 0, "one caller alone never spun");
  } finally {
    for (const h of hosts) await h.close();
  }
});
