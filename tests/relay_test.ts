// The chain hand-off's edge paths (host/_relay.ts, channel/relay.ts), with real workers:
// linking on first use, a plugin unloaded after the plugin before it handed on, a dispatch
// that ends early with requests handed on, and a chain whose plugins are busy elsewhere.
// The random differential test (relay_differential_test.ts) covers the ordinary paths.
import assert from "node:assert/strict";
import { latencyPolicy, spinCountsForTests } from "../channel/spin.ts";
import { RELAY_COUNTS_FOR_TESTS } from "../host/_relay.ts";
import { Plugin } from "../host/plugin.ts";
import { HEADER_BYTES, Slot, State } from "../channel/layout.ts";
import type { MetricsSink } from "../host/bus.ts";
import { PluginHost } from "../host/host.ts";
import { HookError } from "../abi/errors.ts";
import { withTempDir, writePlugin } from "./_helpers.ts";

const HOOK = "relay_edge";

/** A host with `n` copies of fixtures/relay_ops.wasm on one filter, in name order. */
async function chainHost(
  dir: string,
  n: number,
  options: { metrics?: MetricsSink; onError?: (e: HookError) => void } = {},
  quarantineAfter = 1_000_000,
): Promise<PluginHost> {
  const host = await PluginHost.create({
    hooks: { [HOOK]: "filter" },
    quarantineAfter,
    ...options,
  });
  for (let k = 0; k < n; k++) {
    await host.load(
      await writePlugin(dir, {
        name: `ops-${k}`,
        fixture: "relay_ops",
        hooks: [{ name: HOOK, kind: "filter", priority: 10 + k }],
        limits: "timeout_ms = 5000",
      }),
    );
  }
  return host;
}

/** Runs `body` with the hand-off on or off, restoring the policy after. */
async function withRelay<T>(on: boolean, body: () => Promise<T>): Promise<T> {
  const saved = { ...latencyPolicy };
  latencyPolicy.relay = on;
  // however slow the machine, every chain call may hand on (the gap rule is the benchmark's)
  latencyPolicy.relayGapMs = Infinity;
  try {
    return await body();
  } finally {
    Object.assign(latencyPolicy, saved);
  }
}

/** Waits until no plugin of `host` has a call in flight (holds taken back included). */
async function settled(host: PluginHost): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const counts = spinCountsForTests();
    if (counts.waiting === 0 && counts.spinning === 0) return;
    await new Promise((r) => setTimeout(r, 2));
  }
  assert.fail(`spinner counters did not settle: ${JSON.stringify(spinCountsForTests())}`);
  void host;
}

Deno.test("relay: the first chain calls link the workers, and every call answers without a timeout", async () => {
  await withTempDir(async (dir) => {
    const errors: HookError[] = [];
    const host = await chainHost(dir, 4, { onError: (e) => void errors.push(e) });
    try {
      const before = RELAY_COUNTS_FOR_TESTS.adopted;
      await withRelay(true, async () => {
        for (let i = 0; i < 20; i++) {
          assert.equal(await host.bus.applyFilters(HOOK, "eeee|x"), "|x");
        }
      });
      // links are sent on first use (by message, while the worker is idle); later chains hand on
      assert.ok(RELAY_COUNTS_FOR_TESTS.adopted - before >= 3 * 10, "the hand-off never ran");
      assert.deepEqual(errors, []);
      for (const p of host.plugins()) {
        assert.deepEqual(
          {
            calls: host.plugin(p.name)!.stats.calls,
            restarts: host.plugin(p.name)!.stats.restarts,
          },
          { calls: 20, restarts: 0 },
          p.name,
        );
      }
    } finally {
      await host.close();
    }
  });
});

Deno.test("relay: a plugin unloaded after the plugin before it handed on is skipped, like without the hand-off", async () => {
  await withTempDir(async (dir) => {
    const results: Record<string, unknown[]> = {};
    for (const relay of [false, true]) {
      // The metrics sink runs right after ops-0's answer is collected, before the bus reaches
      // ops-1: by then ops-0's worker has handed its value on to ops-1.
      let host: PluginHost | undefined = undefined;
      let unload = false;
      const metrics: MetricsSink = {
        increment() {},
        observe(_m, _v, labels) {
          if (unload && labels.plugin === "ops-0") {
            unload = false;
            void host!.unload("ops-1");
          }
        },
      };
      const d = `${dir}/${relay}`;
      host = await chainHost(d, 3, { metrics });
      try {
        await withRelay(relay, async () => {
          const out: unknown[] = [];
          for (let i = 0; i < 3; i++) out.push(await host!.bus.applyFilters(HOOK, "eee|x"));
          unload = true;
          const takenBack = RELAY_COUNTS_FOR_TESTS.takenBack;
          out.push(await host!.bus.applyFilters(HOOK, "eee|x"));
          // with the hand-off, ops-1's request was handed on, then taken back
          assert.equal(RELAY_COUNTS_FOR_TESTS.takenBack - takenBack, relay ? 1 : 0);
          out.push(await host!.bus.applyFilters(HOOK, "eee|x"));
          await settled(host!);
          out.push(host!.plugin("ops-2")!.stats.failures);
          results[String(relay)] = out;
        });
      } finally {
        await host.close();
      }
    }
    // ops-1 is skipped: ops-2 gets ops-0's value, and later calls run without ops-1
    assert.deepEqual(results.false, ["|x", "|x", "|x", "e|x", "e|x", 0]);
    assert.deepEqual(results.true, results.false);
  });
});

Deno.test("relay: a plugin failing mid-chain: the holds after it are taken back, the next plugin is called afresh", async () => {
  await withTempDir(async (dir) => {
    const errors: string[] = [];
    const host = await chainHost(dir, 3, { onError: (e) => void errors.push(e.code) });
    try {
      await withRelay(true, async () => {
        for (let i = 0; i < 5; i++) {
          assert.equal(await host.bus.applyFilters(HOOK, "eee|x"), "|x");
          // ops-1 traps ("t"): its value goes on unchanged (warn), so ops-2 traps too
          assert.equal(await host.bus.applyFilters(HOOK, "et|x"), "t|x");
        }
      });
      await settled(host);
      const stats = host.plugins().map((p) => {
        const { calls, failures } = host.plugin(p.name)!.stats;
        return { calls, failures };
      });
      assert.deepEqual(stats, [
        { calls: 10, failures: 0 },
        { calls: 5, failures: 5 },
        { calls: 5, failures: 5 },
      ]);
      assert.deepEqual(errors, Array(10).fill("trapped"));
    } finally {
      await host.close();
    }
  });
});

Deno.test("relay: chains sharing plugins, many at once, each get their own answers", async () => {
  await withTempDir(async (dir) => {
    const host = await chainHost(dir, 4);
    try {
      await withRelay(true, async () => {
        for (let round = 0; round < 20; round++) {
          const values = Array.from({ length: 6 }, (_, i) => `eeee|${round}.${i}`);
          const out = await Promise.all(values.map((v) => host.bus.applyFilters(HOOK, v)));
          assert.deepEqual(out, values.map((v) => v.slice(4)));
        }
      });
      await settled(host);
      for (const p of host.plugins()) assert.equal(host.plugin(p.name)!.stats.calls, 120, p.name);
    } finally {
      await host.close();
    }
  });
});

Deno.test("relay: a chain called after an idle gap longer than relayGapMs does not hand on; calls close together do", async () => {
  await withTempDir(async (dir) => {
    const host = await chainHost(dir, 3);
    const saved = { ...latencyPolicy };
    latencyPolicy.relay = true;
    latencyPolicy.relayGapMs = 200;
    try {
      const call = async () => {
        const before = RELAY_COUNTS_FOR_TESTS.adopted;
        assert.equal(await host.bus.applyFilters(HOOK, "eee|x"), "|x");
        return RELAY_COUNTS_FOR_TESTS.adopted - before;
      };
      for (let i = 0; i < 5; i++) await call(); // linked
      let handed = 0;
      for (let i = 0; i < 5; i++) handed += await call();
      assert.ok(handed >= 5, `calls close together handed on ${handed} times`);
      await new Promise((r) => setTimeout(r, 400));
      assert.equal(await call(), 0, "a call after an idle gap handed on");
      assert.ok((await call()) + (await call()) > 0, "calls close together again never handed on");
    } finally {
      Object.assign(latencyPolicy, saved);
      await host.close();
    }
  });
});

/** Runs `body` with the hand-off off, then on, each in its own folder. */
async function both<T>(body: (dir: string) => Promise<T>): Promise<Record<string, T>> {
  const out: Record<string, T> = {};
  await withTempDir(async (dir) => {
    for (const relay of [false, true]) {
      out[String(relay)] = await withRelay(relay, () => body(`${dir}/${relay}`));
    }
  });
  return out;
}

Deno.test("relay: arguments JSON cannot encode fail the same with and without the hand-off", async () => {
  const r = await both(async (dir) => {
    const errors: string[] = [];
    const host = await chainHost(dir, 2, { onError: (e) => void errors.push(e.code) });
    try {
      for (let i = 0; i < 3; i++) await host.bus.applyFilters(HOOK, "ee|x"); // linked
      const v = await host.bus.applyFilters(HOOK, "ee|x", 1n);
      return { v, errors };
    } finally {
      await host.close();
    }
  });
  assert.deepEqual(r.true, r.false);
  assert.deepEqual(r.false.errors, ["bad_payload", "bad_payload"]);
});

Deno.test("relay: a plugin quarantined before the bus reaches its handed-on call fails fast, as without the hand-off", async () => {
  const r = await both(async (dir) => {
    let host: PluginHost | undefined = undefined;
    let arm = false;
    const errors: string[] = [];
    const metrics: MetricsSink = {
      increment() {},
      observe(_m, _v, labels) {
        if (arm && labels.plugin === "ops-0") {
          arm = false;
          // a failure of ops-1 elsewhere (another caller, another instance) quarantines it
          (host!.plugin("ops-1") as unknown as { badAnswer(e: HookError): void })
            .badAnswer(new HookError("bad_response", "injected"));
        }
      },
    };
    host = await chainHost(dir, 2, { metrics, onError: (e) => void errors.push(e.code) }, 1);
    try {
      for (let i = 0; i < 3; i++) await host.bus.applyFilters(HOOK, "ee|x"); // linked
      arm = true;
      const v = await host.bus.applyFilters(HOOK, "ee|x");
      await settled(host);
      return { v, errors, quarantined: host.plugin("ops-1")!.quarantined };
    } finally {
      await host.close();
    }
  });
  assert.deepEqual(r.true, r.false);
  assert.deepEqual(r.false, {
    v: "e|x",
    errors: ["quarantined", "quarantined"],
    quarantined: true,
  });
});

Deno.test("relay: a hold whose predecessor never finishes writing into it is given up after a deadline, and its worker replaced", async () => {
  const p = await Plugin.load(
    await Deno.readFile(new URL("../bench/plugins/upper/upper.wasm", import.meta.url)),
    { name: "upper", timeoutMs: 50 },
  );
  try {
    assert.equal(await p.run("filter", "the_content", "a", []), "A");
    const held = p.hold("the_content", undefined);
    assert.ok(held, "an idle instance can be held");
    const ctrl = new Int32Array(held.transport.channelForTests()!, 0, HEADER_BYTES / 4);
    // the worker before took the reservation and died before publishing or giving it back
    Atomics.store(ctrl, Slot.state, State.filling);
    const dropped = p.drop(held, "the_content");
    assert.ok(dropped instanceof Promise, "a reservation being filled is waited for");
    assert.equal(await dropped, false);
    assert.equal(p.stats.restarts, 1, "the worker was replaced");
    assert.equal(await p.run("filter", "the_content", "b", []), "B");
  } finally {
    await p.close();
  }
});
