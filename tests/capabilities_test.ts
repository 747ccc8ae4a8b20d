// The capability host functions: log, clock, state, emit, fuel (docs/abi.md#host-imports).
import assert from "node:assert/strict";
import type { HookError } from "../abi/errors.ts";
import type { Capability } from "../abi/imports.ts";
import { PluginHost, type PluginHostOptions } from "../host/host.ts";
import type { LogEntry, PluginEvent } from "../host/_services.ts";
import { MemoryStateStore, type StateStore } from "../host/state.ts";
import { withTempDir, writePlugin } from "./_helpers.ts";

const ALL: Capability[] = ["log", "clock", "state", "emit", "fuel"];
const HOOKS = [
  "log_hello",
  "log_garbage",
  "log_control",
  "counter_incr",
  "counter_del",
  "state_big",
  "state_badkey",
  "emit_ok",
  "emit_denied",
  "emit_flood",
  "log_flood",
].map((name) => ({ name, kind: "action" as const, fail: "block" as const }));
const FILTERS = ["time", "fuel_left", "counter_get"].map((name) => ({
  name,
  kind: "filter" as const,
  fail: "block" as const,
}));

async function withCaps(
  options: PluginHostOptions,
  body: (host: PluginHost) => Promise<void>,
  extra: { name?: string; limits?: string } = {},
): Promise<void> {
  await withTempDir(async (dir) => {
    const file = await writePlugin(dir, {
      name: extra.name ?? "caps",
      fixture: "caps",
      capabilities: ALL,
      hooks: [...HOOKS, ...FILTERS],
      limits: extra.limits,
    });
    // per-plugin events need their name pinned: to this manifest
    const pins = Object.fromEntries(Object.keys(options.events ?? {}).map((n) => [n, file]));
    await using host = await PluginHost.create({
      grants: ALL,
      onError: () => {},
      pins,
      ...options,
    });
    await host.load(file);
    await body(host);
  });
}

Deno.test("gn_log reaches the log sink, stamped with plugin and hook", async () => {
  const logs: LogEntry[] = [];
  await withCaps({ log: (e) => logs.push(e) }, async (host) => {
    await host.bus.doAction("log_hello");
    assert.deepEqual(logs, [{
      plugin: "caps",
      hook: "log_hello",
      level: "info",
      message: "hello from the guest",
    }]);
  });
});

Deno.test("gn_log strips control characters", async () => {
  const logs: LogEntry[] = [];
  await withCaps({ log: (e) => logs.push(e) }, async (host) => {
    await host.bus.doAction("log_control");
    assert.equal(logs[0].level, "error");
    assert.equal(logs[0].message, "bell  nul  esc  end");
    // deno-lint-ignore no-control-regex
    assert.doesNotMatch(logs[0].message, /[\u0000-\u001f]/);
  });
});

Deno.test("gn_log with a garbage pointer is reported, never traps", async () => {
  const logs: LogEntry[] = [];
  await withCaps({ log: (e) => logs.push(e) }, async (host) => {
    await host.bus.doAction("log_garbage");
    assert.equal(logs.length, 1);
    assert.equal(logs[0].invalid, "pointer");
    assert.match(logs[0].message, /outside guest memory/);
    await host.bus.doAction("log_hello"); // still alive, same instance
    assert.equal(host.plugin("caps")!.stats.failures, 0);
  });
});

Deno.test("gn_time_ms is wall-clock Unix ms", async () => {
  await withCaps({}, async (host) => {
    const before = Date.now();
    const t = await host.bus.applyFilters("time", null) as number;
    assert.ok(t >= before && t <= Date.now(), `${before} <= ${t} <= now`);
  });
});

Deno.test("gn_fuel_remaining reports what is left of this call's fuel", async () => {
  await withCaps({}, async (host) => {
    const left = await host.bus.applyFilters("fuel_left", null) as number;
    assert.ok(left > 0 && left < 1_000_000, `${left}`);
    // deterministic: the same call leaves the same fuel
    assert.equal(await host.bus.applyFilters("fuel_left", null), left);
  }, { limits: "fuel = 1_000_000" });
});

Deno.test("state: get, set, del through the host-owned store", async () => {
  const store = new MemoryStateStore();
  await withCaps({ state: store }, async (host) => {
    assert.equal(await host.bus.applyFilters("counter_get", null), 0);
    for (let i = 0; i < 3; i++) await host.bus.doAction("counter_incr");
    assert.equal(await host.bus.applyFilters("counter_get", null), 3);
    // an unpinned plugin's state lives under its identity, its manifest's canonical URL
    const { identity } = host.plugins()[0];
    assert.match(identity, /^file:\/\/.*\/caps\/plugin\.toml$/);
    assert.deepEqual(store.get(identity, "counter"), new Uint8Array([3, 0, 0, 0]));
    await host.bus.doAction("counter_del");
    assert.equal(await host.bus.applyFilters("counter_get", null), 0);
    assert.equal(store.count(identity), 0);
  });
});

Deno.test("state is shared by every instance of a plugin", async () => {
  await withCaps({}, async (host) => {
    await Promise.all(Array.from({ length: 20 }, () => host.bus.doAction("counter_incr")));
    // increments may interleave across instances (get then set is not atomic),
    // but every instance reads and writes the same store
    const n = await host.bus.applyFilters("counter_get", null) as number;
    assert.ok(n >= 1 && n <= 20);
  }, { limits: "instances = 2" });
});

Deno.test("state: a slow, asynchronous store works (the worker waits, the host does not)", async () => {
  const inner = new MemoryStateStore();
  const slow: StateStore = {
    get: async (p, k) => {
      await new Promise((r) => setTimeout(r, 5));
      return inner.get(p, k);
    },
    set: async (p, k, v) => {
      await new Promise((r) => setTimeout(r, 5));
      inner.set(p, k, v);
    },
    delete: (p, k) => inner.delete(p, k),
    has: (p, k) => Promise.resolve(inner.has(p, k)),
    count: (p) => Promise.resolve(inner.count(p)),
  };
  await withCaps({ state: slow }, async (host) => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    try {
      await host.bus.doAction("counter_incr");
      await host.bus.doAction("counter_incr");
    } finally {
      clearInterval(timer);
    }
    assert.equal(await host.bus.applyFilters("counter_get", null), 2);
    assert.ok(ticks > 0, "the host thread kept running while the plugin waited");
  });
});

Deno.test("state quotas: value size, bad key pointer, key count", async () => {
  await withCaps({}, async (host) => {
    await assert.rejects(host.bus.doAction("state_big"), (e: HookError) => {
      assert.equal(e.errors?.[0]?.status ?? e.status, -7);
      return true;
    });
    await assert.rejects(host.bus.doAction("state_badkey"), (e: HookError) => {
      assert.equal(e.errors?.[0]?.code ?? e.code, "bad_payload");
      return true;
    });
  });
  await withCaps({ stateQuotas: { maxKeys: 0 } }, async (host) => {
    await assert.rejects(host.bus.doAction("counter_incr"), (e: HookError) => {
      assert.equal(e.errors?.[0]?.status ?? e.status, -7);
      return true;
    });
  });
});

Deno.test("gn_event_emit: approved names reach the sink, others are denied", async () => {
  const events: PluginEvent[] = [];
  await withCaps(
    { onEvent: (e) => events.push(e), events: { caps: ["user.created"] } },
    async (host) => {
      await host.bus.doAction("emit_ok");
      assert.deepEqual(events, [{
        plugin: "caps",
        hook: "emit_ok",
        name: "user.created",
        data: '{"id":1}',
      }]);
      await assert.rejects(host.bus.doAction("emit_denied"), (e: HookError) => {
        assert.equal(e.errors?.[0]?.status ?? e.status, -6);
        return true;
      });
      assert.equal(events.length, 1);
    },
  );
  // not approved for this plugin at all
  await withCaps(
    { onEvent: (e) => events.push(e), events: { other: ["user.created"] } },
    async (host) => {
      await assert.rejects(host.bus.doAction("emit_ok"));
    },
  );
});

Deno.test("gn_event_emit flood: capped per call, the host keeps answering", async () => {
  const events: PluginEvent[] = [];
  await withCaps(
    { onEvent: (e) => events.push(e), events: { caps: ["user.created"] }, maxEventsPerCall: 50 },
    async (host) => {
      await host.bus.doAction("emit_flood");
      assert.equal(events.length, 50);
      await host.bus.doAction("emit_flood");
      assert.equal(events.length, 100, "the cap is per call");
      assert.equal(await host.bus.applyFilters("counter_get", null), 0);
    },
    { limits: "fuel = 100_000_000\ntimeout_ms = 1000" },
  );
});

Deno.test("gn_log flood: capped per call with one notice, the host keeps answering", async () => {
  const logs: LogEntry[] = [];
  await withCaps(
    { log: (e) => logs.push(e), maxLogsPerCall: 20 },
    async (host) => {
      await host.bus.doAction("log_flood");
      assert.equal(logs.length, 21);
      assert.equal(logs[20].invalid, "truncated");
      assert.match(logs[20].message, /log limit of 20 lines per call/);
      await host.bus.doAction("log_hello");
      assert.equal(logs.length, 22, "the cap is per call");
    },
    { limits: "fuel = 100_000_000\ntimeout_ms = 1000" },
  );
});
