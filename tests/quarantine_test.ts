// Supervision: a plugin that fails N times in a window is quarantined (calls fail fast with a
// typed error) until the host re-enables it; guest statuses do not count.
import assert from "node:assert/strict";
import type { HookError } from "../abi/errors.ts";
import { loadFixture } from "./_helpers.ts";

Deno.test("N instance failures in the window quarantine the plugin until re-enabled", async () => {
  const reported: HookError[] = [];
  const p = await loadFixture("content", {
    quarantineAfter: 3,
    quarantineWindowMs: 60_000,
    onQuarantine: (e) => reported.push(e),
  });
  try {
    for (let i = 0; i < 3; i++) await assert.rejects(p.action("trap"), { code: "trapped" });
    assert.equal(p.quarantined, true);
    assert.equal(reported.length, 1);
    assert.equal(reported[0].code, "quarantined");
    const { calls, failures } = p.stats;
    await assert.rejects(p.filter("the_content", "x"), (e: HookError) => {
      assert.equal(e.code, "quarantined");
      assert.equal(e.plugin, "content");
      assert.match(e.message, /re-enable/);
      return true;
    });
    // fails fast: the call never reached the worker
    assert.deepEqual([p.stats.calls, p.stats.failures], [calls, failures]);
    p.reenable();
    assert.equal(await p.filter("the_content", "back"), "BACK");
  } finally {
    await p.close();
  }
});

Deno.test("guest statuses are answers, not failures: they never quarantine", async () => {
  const p = await loadFixture("content", { quarantineAfter: 2 });
  try {
    for (let i = 0; i < 10; i++) {
      await assert.rejects(p.action("nope"), { code: "unknown_hook" });
      await assert.rejects(p.action("fail_with_message"), { code: "guest_error" });
    }
    assert.equal(p.quarantined, false);
    assert.equal(p.stats.failures, 0);
  } finally {
    await p.close();
  }
});

Deno.test("failures outside the window do not add up", async () => {
  const p = await loadFixture("content", { quarantineAfter: 2, quarantineWindowMs: 50 });
  try {
    await assert.rejects(p.action("trap"));
    await new Promise((r) => setTimeout(r, 80));
    await assert.rejects(p.action("trap"));
    assert.equal(p.quarantined, false);
  } finally {
    await p.close();
  }
});
