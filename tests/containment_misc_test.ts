// Containment defects of issue 9, items 7, 10–15: plugin identity and state binding, the host's
// event loop while a large module loads, per-plugin records with prototype names, the state key
// quota under concurrency, invisible characters in log lines, guards of a plugin unloaded
// mid-dispatch, and bad answer bodies counting towards quarantine.
import assert from "node:assert/strict";
import { blake3 } from "hash-wasm";
import type { HookError } from "../abi/errors.ts";
import { PluginHost } from "../host/host.ts";
import type { LogEntry } from "../host/_services.ts";
import { MemoryStateStore, type StateStore } from "../host/state.ts";
import { wat } from "../meter/_test_util.ts";
import { fixtureBytes, loadFixture, withTempDir } from "./_helpers.ts";
import { bigModule } from "./_big_module.ts";

/** Writes `<dir>/plugin.toml` and `m.wasm` for a module; returns the manifest path. */
async function writeModule(
  dir: string,
  p: {
    name: string;
    bytes: Uint8Array;
    capabilities?: string[];
    hooks: { name: string; kind: string; fail?: string; priority?: number }[];
    limits?: string;
  },
): Promise<string> {
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeFile(`${dir}/m.wasm`, p.bytes);
  const hooks = p.hooks.map((h) =>
    `[[hooks]]\nname = "${h.name}"\nkind = "${h.kind}"\npriority = ${h.priority ?? 10}\n` +
    (h.fail === undefined ? "" : `fail = "${h.fail}"\n`)
  ).join("\n");
  await Deno.writeTextFile(
    `${dir}/plugin.toml`,
    `name = "${p.name}"\nversion = "1.0.0"\nabi = 1\nmodule = "m.wasm"\n` +
      `digest = "blake3:${await blake3(p.bytes)}"\n` +
      `capabilities = ${JSON.stringify(p.capabilities ?? [])}\n` +
      // a generous deadline by default: a busy machine can take 100 ms to start a plugin
      `[limits]\n${p.limits ?? "timeout_ms = 1000"}\n\n${hooks}`,
  );
  return `${dir}/plugin.toml`;
}

/** A bump allocator reset after every call, and the exports every plugin needs besides the hook. */
const ALLOC = `
  (global $top (mut i32) (i32.const 4096))
  (func (export "gn_alloc") (param $n i32) (result i32) (local $p i32)
    (local.set $p (global.get $top))
    (global.set $top
      (i32.add (local.get $p) (i32.and (i32.add (local.get $n) (i32.const 7)) (i32.const -8))))
    (local.get $p))
  (func (export "gn_free") (param i32 i32))`;

const STATE_HOOKS = ["counter_incr", "counter_get"];

// -- item 7: identity ------------------------------------------------------------------------

Deno.test("per-plugin grants and events by bare name are refused unless the name is pinned", async () => {
  await assert.rejects(
    PluginHost.create({ grants: { payments: ["state"] } }),
    (e: Error) => {
      assert.ok(e instanceof TypeError);
      assert.match(e.message, /"grants" has an entry for plugin "payments"/);
      assert.match(e.message, /pins: \{ "payments": "blake3:/);
      return true;
    },
  );
  await assert.rejects(PluginHost.create({ events: { payments: ["paid"] } }), TypeError);
  await assert.rejects(PluginHost.create({ pins: { payments: "blake3:nothex" } }), TypeError);
  const ok = await PluginHost.create({
    grants: { payments: ["state"] },
    pins: { payments: `blake3:${"0".repeat(64)}` },
    spareWorkers: 0,
  });
  await ok.close();
});

/** The real "payments" (caps fixture) and an impostor of the same name in another folder. */
async function twoPayments(
  root: string,
  impostorBytes?: Uint8Array,
): Promise<{ real: string; impostor: string }> {
  const hooks = STATE_HOOKS.map((name) => ({
    name,
    kind: name.endsWith("get") ? "filter" : "action",
    fail: "block",
  }));
  const real = await writeModule(`${root}/vendor/payments`, {
    name: "payments",
    bytes: await fixtureBytes("caps"),
    capabilities: ["log", "clock", "state", "emit", "fuel"],
    hooks,
  });
  const impostor = await writeModule(`${root}/uploads/payments`, {
    name: "payments",
    bytes: impostorBytes ?? await fixtureBytes("caps"),
    capabilities: ["log", "clock", "state", "emit", "fuel"],
    hooks,
  });
  return { real, impostor };
}

Deno.test("a plugin claiming a pinned name is refused: pin by manifest path; state kept on unload", async () => {
  await withTempDir(async (root) => {
    const { real, impostor } = await twoPayments(root);
    const store = new MemoryStateStore();
    await using host = await PluginHost.create({
      grants: { payments: ["log", "clock", "state", "emit", "fuel"] },
      pins: { payments: real },
      state: store,
      onError: () => {},
    });
    const info = await host.load(real);
    assert.equal(info.identity, "payments");
    for (let i = 0; i < 3; i++) await host.bus.doAction("counter_incr");
    assert.equal(await host.bus.applyFilters("counter_get", null), 3);
    await host.unload("payments");
    // the same module in another folder: not the pinned manifest
    await assert.rejects(host.load(impostor), (e: HookError) => {
      assert.equal(e.code, "identity_mismatch");
      assert.equal(e.plugin, "payments");
      assert.match(e.message, /pinned to/);
      assert.match(e.message, /change "pins"/);
      return true;
    });
    assert.equal(host.plugins().length, 0);
    // state is kept across unload: the pinned plugin finds it again
    await host.load(real);
    assert.equal(await host.bus.applyFilters("counter_get", null), 3);
    assert.deepEqual(store.get("payments", "counter"), new Uint8Array([3, 0, 0, 0]));
  });
});

Deno.test("a plugin claiming a pinned name is refused: pin by digest", async () => {
  await withTempDir(async (root) => {
    // the impostor: the same code plus a custom section, so another digest
    const caps = await fixtureBytes("caps");
    const extra = new Uint8Array([0, 4, 1, 0x78, 0, 0]); // custom section "x", 2 bytes
    const impostorBytes = new Uint8Array([...caps, ...extra]);
    const { real, impostor } = await twoPayments(root, impostorBytes);
    await using host = await PluginHost.create({
      grants: { payments: ["log", "clock", "state", "emit", "fuel"] },
      pins: { payments: `blake3:${await blake3(caps)}` },
      onError: () => {},
    });
    await assert.rejects(host.load(impostor), { code: "identity_mismatch" });
    assert.equal((await host.load(real)).identity, "payments");
  });
});

Deno.test("unpinned plugins of one name in two folders never share state", async () => {
  await withTempDir(async (root) => {
    const { real, impostor } = await twoPayments(root);
    const store = new MemoryStateStore();
    await using host = await PluginHost.create({
      grants: ["log", "clock", "state", "emit", "fuel"], // one list for every plugin
      state: store,
      onError: () => {},
    });
    const first = await host.load(real);
    for (let i = 0; i < 2; i++) await host.bus.doAction("counter_incr");
    // two plugins can never be loaded under one name at once
    await assert.rejects(host.load(impostor), { code: "duplicate_plugin" });
    await host.unload("payments");
    const second = await host.load(impostor);
    assert.notEqual(second.identity, first.identity);
    assert.match(first.identity, /^file:\/\/.*\/vendor\/payments\/plugin\.toml$/);
    assert.equal(await host.bus.applyFilters("counter_get", null), 0, "the impostor sees nothing");
    assert.deepEqual(store.get(first.identity, "counter"), new Uint8Array([2, 0, 0, 0]));
  });
});

// -- item 11: prototype names --------------------------------------------------------------

Deno.test("plugins named like Object.prototype members load with per-plugin records", async () => {
  await withTempDir(async (root) => {
    const content = await fixtureBytes("content");
    const files = new Map<string, string>();
    for (const name of ["constructor", "tostring", "valueof", "hasownproperty"]) {
      files.set(
        name,
        await writeModule(`${root}/${name}`, {
          name,
          bytes: content,
          hooks: [{ name: "the_content", kind: "filter", fail: "block" }],
        }),
      );
    }
    // "constructor" has no entry: it must read as "nothing granted", not as Object
    await using host = await PluginHost.create({
      grants: { payments: ["log"] },
      events: { payments: ["paid"] },
      pins: { payments: `blake3:${"0".repeat(64)}` },
      onError: () => {},
    });
    for (const [name, file] of files) {
      assert.equal((await host.load(file)).name, name);
    }
    assert.equal(await host.bus.applyFilters("the_content", "hi"), "HI");
    assert.equal(host.plugin("constructor")?.stats.calls, 1);
    // and with entries of their own, pinned
    await using host2 = await PluginHost.create({
      grants: { constructor: [] },
      events: { constructor: [] },
      pins: { constructor: files.get("constructor")! },
    });
    assert.equal((await host2.load(files.get("constructor")!)).identity, "constructor");
  });
});

// -- item 12: the key quota under concurrency ----------------------------------------------

Deno.test("maxKeys holds with an async store of random delays and 4 instances", async () => {
  // "put" stores its payload (unique per call) as a key; a refused set answers its status
  const bytes = await wat(`(module
    (import "env" "gn_state_set" (func $set (param i32 i32 i32 i32) (result i32)))
    (memory (export "memory") 1) ${ALLOC}
    (func (export "gn_handle_hook") (param i32 i32 i32 i32) (result i64) (local $s i32)
      (local.set $s (call $set (local.get 2) (local.get 3) (local.get 2) (i32.const 1)))
      (global.set $top (i32.const 4096))
      (if (i32.lt_s (local.get $s) (i32.const 0))
        (then (return (i64.extend_i32_u (local.get $s)))))
      (i64.const 0)))`);
  let inner = new MemoryStateStore();
  const pause = (ms = 2) => new Promise((r) => setTimeout(r, Math.random() * ms));
  const store: StateStore = {
    get: async (p, k) => (await pause(), inner.get(p, k)),
    set: async (p, k, v) => (await pause(), inner.set(p, k, v)),
    delete: async (p, k) => (await pause(), inner.delete(p, k)),
    has: async (p, k) => (await pause(), inner.has(p, k)),
    // the slow step between the check and the act: concurrent writes all read a stale count
    count: async (p) => (await pause(10), inner.count(p)),
  };
  await withTempDir(async (root) => {
    const file = await writeModule(`${root}/keys`, {
      name: "keys",
      bytes,
      capabilities: ["state"],
      hooks: [{ name: "put", kind: "action", fail: "block" }],
      limits: "instances = 4\ntimeout_ms = 1000",
    });
    await using host = await PluginHost.create({
      grants: ["state"],
      state: store,
      stateQuotas: { maxKeys: 10 },
      onError: () => {},
    });
    const { identity } = await host.load(file);
    const put = (from: number) =>
      Promise.allSettled(Array.from({ length: 24 }, (_, i) => host.bus.doAction("put", from + i)));
    // a race is likely, not certain, in one round: several rounds, each from an empty store
    for (let round = 0; round < 6; round++) {
      inner = new MemoryStateStore();
      const results = await put(round * 100);
      assert.ok(inner.count(identity) <= 10, `${inner.count(identity)} keys for a limit of 10`);
      const ok = results.filter((r) => r.status === "fulfilled").length;
      assert.equal(ok, 10, "exactly the keys that fit were accepted");
    }
    // full: every new key is refused
    const more = await put(1000);
    assert.equal(more.filter((r) => r.status === "fulfilled").length, 0);
    assert.equal(inner.count(identity), 10);
  });
});

// -- item 13: invisible characters in log lines --------------------------------------------

Deno.test("gn_log and gn_panic messages: bidi, zero-width and line separators are escaped", async () => {
  // "a<U+2028>b<U+202E>c<U+2066>d<U+200B>e<U+FEFF>f<U+2029>g<U+00AD>h"
  const msg =
    "a\\e2\\80\\a8b\\e2\\80\\aec\\e2\\81\\a6d\\e2\\80\\8be\\ef\\bb\\bff\\e2\\80\\a9g\\c2\\adh";
  const len = 8 + 6 * 3 + 2; // 8 letters, six 3-byte characters, one 2-byte one
  const bytes = await wat(`(module
    (import "env" "gn_log" (func $log (param i32 i32 i32)))
    (import "env" "gn_panic" (func $panic (param i32 i32)))
    (memory (export "memory") 1) ${ALLOC}
    (data (i32.const 16) "${msg}")
    (func (export "gn_handle_hook") (param i32 i32 i32 i32) (result i64)
      (global.set $top (i32.const 4096))
      (if (i32.eq (i32.load8_u (local.get 0)) (i32.const 0x70)) ;; "panic_it"
        (then (call $panic (i32.const 16) (i32.const ${len}))))
      (call $log (i32.const 1) (i32.const 16) (i32.const ${len}))
      (i64.const 0)))`);
  const expected = "a\\u{2028}b\\u{202e}c\\u{2066}d\\u{200b}e\\u{feff}f\\u{2029}g\\u{ad}h";
  const logs: LogEntry[] = [];
  await withTempDir(async (root) => {
    const file = await writeModule(`${root}/talk`, {
      name: "talk",
      bytes,
      capabilities: ["log"],
      hooks: [
        { name: "log_it", kind: "action", fail: "block" },
        { name: "panic_it", kind: "action", fail: "block" },
      ],
    });
    await using host = await PluginHost.create({
      grants: ["log"],
      log: (e) => logs.push(e),
      onError: () => {},
    });
    await host.load(file);
    await host.bus.doAction("log_it");
    assert.equal(logs.length, 1);
    assert.equal(logs[0].message, expected);
    await assert.rejects(host.bus.doAction("panic_it"), (e: HookError) => {
      const cause = e.errors?.[0] ?? e;
      assert.equal(cause.code, "trapped");
      assert.ok(cause.message.includes(expected), cause.message);
      assert.doesNotMatch(
        cause.message,
        /[\u2028\u2029\u202a-\u202e\u2066-\u2069\u200b-\u200f\ufeff]/,
      );
      return true;
    });
  });
});

// -- item 14: unload during an in-flight dispatch ------------------------------------------

/** A plugin whose guard "check" answers continue and whose filter "shape" answers "plugin". */
async function guardPlugin(root: string, fail: string): Promise<string> {
  const bytes = await wat(`(module
    (memory (export "memory") 1) ${ALLOC}
    (data (i32.const 16) "{\\"value\\":\\"plugin\\"}")
    (func (export "gn_handle_hook") (param i32 i32 i32 i32) (result i64)
      (global.set $top (i32.const 4096))
      (if (i32.eq (i32.load8_u (local.get 0)) (i32.const 0x73)) ;; "shape"
        (then (return (i64.const ${(16n << 32n) | 18n}))))
      (i64.const 0)))`);
  return await writeModule(`${root}/gate`, {
    name: "gate",
    bytes,
    hooks: [{ name: "check", kind: "guard", fail }, { name: "shape", kind: "filter", fail }],
  });
}

for (const fail of ["warn", "block"]) {
  Deno.test(`a guard (fail = "${fail}") unloaded mid-dispatch blocks; a filter passes its value on`, async () => {
    await withTempDir(async (root) => {
      const file = await guardPlugin(root, fail);
      const errors: HookError[] = [];
      await using host = await PluginHost.create({ onError: (e) => errors.push(e) });
      await host.load(file);
      assert.deepEqual(await host.bus.checkGuards("check", "x"), { decision: "continue" });
      assert.equal(await host.bus.applyFilters("shape", "x"), "plugin");
      // a host handler ahead of the plugin holds both dispatches while the plugin unloads
      let release!: () => void;
      const gate = new Promise<void>((r) => release = r);
      host.bus.addGuard("check", async () => await gate, { priority: 0 });
      host.bus.addFilter("shape", async (v) => (await gate, v), { priority: 0 });
      const verdict = host.bus.checkGuards("check", "x");
      const shaped = host.bus.applyFilters("shape", "x");
      await host.unload("gate");
      release();
      const v = await verdict;
      assert.equal(v.decision, "block");
      assert.match(v.reason ?? "", /plugin "gate" was unloaded/);
      assert.equal(await shaped, "x");
      assert.deepEqual(errors, [], "an unloaded plugin is not a failure");
      // later dispatches no longer see the plugin at all
      assert.deepEqual(await host.bus.checkGuards("check", "x"), { decision: "continue" });
    });
  });
}

Deno.test("a guard call in flight when the host closes answers block, not continue", async () => {
  // "check" spins about 50M iterations before answering continue
  const bytes = await wat(`(module
    (memory (export "memory") 1) ${ALLOC}
    (func (export "gn_handle_hook") (param i32 i32 i32 i32) (result i64) (local $i i32)
      (global.set $top (i32.const 4096))
      (loop $l (br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1)))
        (i32.const 50000000))))
      (i64.const 0)))`);
  await withTempDir(async (root) => {
    const file = await writeModule(`${root}/slow`, {
      name: "slow",
      bytes,
      hooks: [{ name: "check", kind: "guard", fail: "warn" }],
      limits: "fuel = 1_000_000_000\ntimeout_ms = 1000",
    });
    const host = await PluginHost.create({ onError: () => {} });
    await host.load(file);
    const verdict = host.bus.checkGuards("check", "x");
    await new Promise((r) => setTimeout(r, 20));
    await host.close();
    assert.equal((await verdict).decision, "block");
  });
});

Deno.test("a plugin guard without a fail policy fails closed: its failure rejects the check", async () => {
  // "check" traps; "fine" answers continue
  const bytes = await wat(`(module
    (memory (export "memory") 1) ${ALLOC}
    (func (export "gn_handle_hook") (param i32 i32 i32 i32) (result i64)
      (global.set $top (i32.const 4096))
      (if (i32.eq (i32.load8_u (local.get 0)) (i32.const 0x63)) (then unreachable)) ;; "check"
      (i64.const 0)))`);
  await withTempDir(async (root) => {
    const file = await writeModule(`${root}/trap`, {
      name: "trap",
      bytes,
      hooks: [{ name: "check", kind: "guard" }, { name: "fine", kind: "guard" }],
    });
    await using host = await PluginHost.create({ onError: () => {} });
    const info = await host.load(file);
    assert.deepEqual(info.hooks.map((h) => h.fail), ["block", "block"]);
    await assert.rejects(host.bus.checkGuards("check", "x"), { code: "trapped" });
    assert.deepEqual(await host.bus.checkGuards("fine", "x"), { decision: "continue" });
  });
});

// -- item 15: bad bodies count towards quarantine ------------------------------------------

for (const hook of ["not_json", "not_utf8"]) {
  Deno.test(`a ${hook} body counts towards quarantine`, async () => {
    const p = await loadFixture("bad_bodies", { quarantineAfter: 3, quarantineWindowMs: 60_000 });
    try {
      for (let i = 0; i < 3; i++) {
        await assert.rejects(p.filter(hook, "x"), { code: "bad_response" });
      }
      assert.deepEqual([p.stats.failures, p.stats.calls], [3, 0]);
      assert.equal(p.quarantined, true);
      await assert.rejects(p.filter(hook, "x"), { code: "quarantined" });
    } finally {
      await p.close();
    }
  });
}

// -- item 10: loading a large module never stalls the event loop ----------------------------

const BIG = 32 * 1024 * 1024;

Deno.test("loading a 32 MiB module keeps the event loop turning (no stall over 400 ms)", async () => {
  // Two modules (two digests, so the second is not a cache hit); the better of the two loads
  // counts, so that one descheduling of this process on a busy machine does not fail the test,
  // while a stall of the loading code itself shows up in both. Unloaded, the old code stalled
  // ~35 ms per MiB (1.1 s here), the new one ~30 ms whatever the size; the bound is generous
  // because a busy 2-core machine stretches every stall several times.
  const modules = [0, 1].map((variant) => bigModule(BIG, "gn_alloc", variant));
  await withTempDir(async (root) => {
    await using host = await PluginHost.create({
      onError: () => {},
      maxModuleBytes: 2 * BIG,
      limits: { timeoutMs: 10_000 }, // compiling 32 MiB on a busy machine takes seconds
    });
    const worst: number[] = [];
    for (const [i, bytes] of modules.entries()) {
      const file = await writeModule(`${root}/big${i}`, {
        name: `big${i}`,
        bytes,
        hooks: [{ name: `big${i}`, kind: "action", fail: "block" }],
        limits: "timeout_ms = 10_000",
      });
      let last = performance.now();
      let longest = 0;
      const timer = setInterval(() => {
        const now = performance.now();
        longest = Math.max(longest, now - last);
        last = now;
      }, 1);
      try {
        await host.load(file);
      } finally {
        clearInterval(timer);
      }
      await host.bus.doAction(`big${i}`);
      worst.push(longest);
    }
    const best = Math.min(...worst);
    assert.ok(best < 400, `the event loop stalled for ${worst.map((w) => w.toFixed(0))} ms`);
  });
});
