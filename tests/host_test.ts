// PluginHost: lifecycle, loadDir, grants and declarations, host and plugin handlers in one order.
import assert from "node:assert/strict";
import { HookError } from "../abi/errors.ts";
import { PluginHost } from "../host/host.ts";
import { withTempDir, writePlugin } from "./_helpers.ts";

const EXAMPLES = new URL("../examples/", import.meta.url).pathname;

Deno.test("host and plugin handlers interleave by priority", async () => {
  await using host = await PluginHost.create({ onError: () => {} });
  await host.load(`${EXAMPLES}shout/plugin.toml`); // priority 10: upper-case
  await host.load(`${EXAMPLES}exclaim/plugin.toml`); // priority 20: append "!"
  host.bus.addFilter("the_content", (v) => `<${v}>`, { priority: 5 });
  host.bus.addFilter("the_content", (v) => `[${v}]`, { priority: 15 });
  host.bus.addFilter("the_content", (v) => `${v}.`, { priority: 25 });
  assert.equal(await host.bus.applyFilters("the_content", "hi"), "[<HI>]!.");
  assert.deepEqual(host.bus.priorities("the_content"), [5, 10, 15, 20, 25]);
});

Deno.test("loadDir: the broken example is refused with its typed error, the rest load", async () => {
  const errors: HookError[] = [];
  // grants "state" for the PDK counting examples
  await using host = await PluginHost.create({ grants: ["state"], onError: (e) => errors.push(e) });
  const { loaded, failed } = await host.loadDir(EXAMPLES);
  const names = ["as-count", "as-guard", "as-title", "audit", "c-count", "c-guard", "c-title"]
    .concat(["exclaim", "rust-count", "rust-guard", "rust-title", "shout"]);
  assert.deepEqual(loaded.map((p) => p.name), names);
  assert.equal(failed.length, 1);
  assert.equal(failed[0].error.code, "digest_mismatch");
  assert.match(failed[0].error.message, /expected blake3:0{64}, actual blake3:[0-9a-f]{64}/);
  assert.deepEqual(errors, [failed[0].error]);
  assert.deepEqual(host.plugins().map((p) => p.name), names);
  assert.equal(await host.bus.applyFilters("the_content", "ok"), "OK!");
});

Deno.test("a declared capability the host does not grant refuses the load", async () => {
  await withTempDir(async (dir) => {
    const file = await writePlugin(dir, {
      name: "wants-log",
      fixture: "logger",
      capabilities: ["log"],
      hooks: [{ name: "log_hello", kind: "action" }],
    });
    await using host = await PluginHost.create({ grants: ["clock"] });
    await assert.rejects(host.load(file), (e: HookError) => {
      assert.equal(e.code, "capability_denied");
      assert.match(e.message, /wants-log/);
      assert.match(e.message, /"log"/);
      return true;
    });
    assert.deepEqual(host.plugins(), []);
  });
});

Deno.test("binding an undeclared hook refuses the load", async () => {
  await withTempDir(async (dir) => {
    const file = await writePlugin(dir, {
      name: "stray",
      fixture: "identity",
      hooks: [{ name: "the_content", kind: "filter" }, { name: "sneaky", kind: "filter" }],
    });
    await using host = await PluginHost.create({ hooks: { the_content: "filter" } });
    await assert.rejects(host.load(file), (e: HookError) => {
      assert.equal(e.code, "hook_not_declared");
      assert.match(e.message, /"sneaky"/);
      return true;
    });
    assert.equal(host.bus.hasHandlers("the_content"), false, "nothing half-registered");
  });
});

Deno.test("declared hooks: call-time typos and kind mismatches are typed HookErrors", async () => {
  await using host = await PluginHost.create({
    hooks: { the_content: "filter", on_event: "action" },
    onError: () => {},
  });
  host.bus.addFilter("the_content", (v: string) => v.toUpperCase());
  assert.equal(await host.bus.applyFilters("the_content", "hi"), "HI");
  await assert.rejects(host.bus.applyFilters("the_contnet", "hi"), (e: unknown) => {
    assert.ok(e instanceof HookError);
    assert.equal(e.code, "hook_not_declared");
    assert.equal(e.hook, "the_contnet");
    assert.match(e.message, /did you mean "the_content" \(filter\)\?/);
    return true;
  });
  await assert.rejects(host.bus.doAction("on_evnet", 1), (e: unknown) => {
    assert.ok(e instanceof HookError);
    assert.equal(e.code, "hook_not_declared");
    assert.match(e.message, /did you mean "on_event"/);
    return true;
  });
  await assert.rejects(host.bus.checkGuards("on_event", 1), { code: "hook_kind_mismatch" });
  await assert.rejects(host.bus.doAction("the_content", "hi"), (e: unknown) => {
    assert.ok(e instanceof HookError);
    assert.equal(e.code, "hook_kind_mismatch");
    assert.match(e.message, /call applyFilters\("the_content", value, \.\.\.args\) instead/);
    return true;
  });
  assert.throws(() => host.bus.addAction("the_content", () => {}), {
    code: "hook_kind_mismatch",
  });
  assert.throws(() => host.bus.addFilter("the_contents", (v) => v), {
    code: "hook_not_declared",
  });
  await assert.rejects(PluginHost.create({ hooks: { "Not A Hook": "filter" } }), {
    code: "invalid_hook_name",
  });
});

Deno.test("a binding of another kind than the hook already has refuses the load, leaving nothing behind", async () => {
  await withTempDir(async (dir) => {
    // Generous time limits: these plugins start on a machine other tests keep busy.
    const limits = "timeout_ms = 1000";
    const file = await writePlugin(dir, {
      name: "as-action",
      fixture: "identity",
      hooks: [{ name: "audit.count", kind: "filter" }, { name: "the_content", kind: "action" }],
      limits,
    });
    const first = await writePlugin(dir, {
      name: "as-filter",
      fixture: "identity",
      hooks: [{ name: "the_content", kind: "filter" }],
      limits,
    });
    await using host = await PluginHost.create({ onError: () => {} });
    // A plugin already has filter handlers on the_content.
    await host.load(first);
    await assert.rejects(host.load(file), (e: unknown) => {
      assert.ok(e instanceof HookError, `expected a HookError, got ${e}`);
      assert.equal(e.code, "hook_kind_mismatch");
      assert.equal(e.plugin, "as-action");
      assert.equal(e.hook, "the_content");
      assert.match(e.message, /key "hooks\[1\]\.kind"/);
      assert.match(e.message, /bind it with kind = "filter", or use another hook name/);
      return true;
    });
    // So does a host handler of another kind.
    host.bus.addAction("audit.count", () => {});
    await assert.rejects(host.load(file), { code: "hook_kind_mismatch", hook: "audit.count" });
    assert.deepEqual(host.plugins().map((p) => p.name), ["as-filter"]);
    assert.deepEqual(host.bus.priorities("the_content"), [10]);
    assert.deepEqual(host.bus.priorities("audit.count"), [10]);
  });
});

Deno.test("loading the same name twice → duplicate_plugin; unloading an unknown → unknown_plugin", async () => {
  await using host = await PluginHost.create();
  await host.load(`${EXAMPLES}shout/plugin.toml`);
  await assert.rejects(host.load(`${EXAMPLES}shout/plugin.toml`), { code: "duplicate_plugin" });
  await assert.rejects(host.unload("nobody"), { code: "unknown_plugin" });
});

Deno.test("unload with calls in flight: every call is answered, hooks are gone, workers stop", async () => {
  await using host = await PluginHost.create();
  await host.load(`${EXAMPLES}shout/plugin.toml`);
  const calls = Array.from({ length: 50 }, (_, i) => host.bus.applyFilters("the_content", `x${i}`));
  await host.unload("shout");
  assert.deepEqual(await Promise.all(calls), calls.map((_, i) => `X${i}`));
  assert.equal(host.bus.hasHandlers("the_content"), false);
  assert.equal(await host.bus.applyFilters("the_content", "after"), "after");
  assert.deepEqual(host.plugins(), []);
});

Deno.test("reload reuses the compiled module and answers again", async () => {
  await using host = await PluginHost.create();
  await host.load(`${EXAMPLES}shout/plugin.toml`);
  const first = host.plugin("shout")!.module;
  await host.unload("shout");
  await host.load(`${EXAMPLES}shout/plugin.toml`);
  assert.equal(host.plugin("shout")!.module, first, "compiled once per digest");
  assert.equal(await host.bus.applyFilters("the_content", "again"), "AGAIN");
});

Deno.test("close with calls in flight: every promise settles, none hangs", async () => {
  const host = await PluginHost.create({ onError: () => {} });
  await host.loadDir(EXAMPLES);
  const calls = [
    ...Array.from({ length: 30 }, () => host.bus.applyFilters("the_content", "v")),
    ...Array.from({ length: 30 }, () => host.bus.doAction("on_event", 1)),
  ];
  await host.close();
  const settled = await Promise.allSettled(calls);
  assert.equal(settled.length, 60);
  // filters with the warn policy skip a closed plugin and keep the value
  for (const s of settled) {
    if (s.status === "rejected") assert.ok(s.reason instanceof HookError);
  }
  await assert.rejects(host.load(`${EXAMPLES}shout/plugin.toml`), { code: "closed" });
  await host.close(); // idempotent
});

Deno.test("a plugin binding with fail = block rejects with the last accepted value", async () => {
  await withTempDir(async (dir) => {
    const file = await writePlugin(dir, {
      name: "strict",
      fixture: "content",
      hooks: [{ name: "trip_panic", kind: "filter", priority: 20, fail: "block" }],
    });
    await using host = await PluginHost.create({ onError: () => {} });
    await host.load(file);
    host.bus.addFilter("trip_panic", (v) => `${v}+host`, { priority: 10 });
    host.bus.addFilter("trip_panic", (v) => `${v}+never`, { priority: 30 });
    await assert.rejects(host.bus.applyFilters("trip_panic", "v"), (e: HookError) => {
      assert.equal(e.code, "trapped");
      assert.equal(e.plugin, "strict");
      assert.equal(e.value, "v+host");
      assert.match(e.message, /boom/);
      return true;
    });
  });
});

Deno.test("a plugin binding with fail = warn is skipped and reported; the chain goes on", async () => {
  await withTempDir(async (dir) => {
    const file = await writePlugin(dir, {
      name: "flaky",
      fixture: "content",
      hooks: [{ name: "trip_panic", kind: "filter", priority: 20, fail: "warn" }],
    });
    const errors: HookError[] = [];
    await using host = await PluginHost.create({ onError: (e) => errors.push(e) });
    await host.load(file);
    host.bus.addFilter("trip_panic", (v) => `${v}+after`, { priority: 30 });
    assert.equal(await host.bus.applyFilters("trip_panic", "v"), "v+after");
    assert.equal(errors.length, 1);
    assert.equal(errors[0].code, "trapped");
    assert.equal(errors[0].plugin, "flaky");
  });
});

Deno.test("create() refuses bad options early", async () => {
  await assert.rejects(PluginHost.create({ maxPayloadBytes: -1 }), RangeError);
  await assert.rejects(
    PluginHost.create({ channelBytes: -5 }),
    /"channelBytes" must be an integer/,
  );
  await assert.rejects(PluginHost.create({ quarantineAfter: 0 }), RangeError);
  await assert.rejects(PluginHost.create({ maxLogsPerCall: 1.5 }), RangeError);
  await assert.rejects(PluginHost.create({ spareWorkers: -1 }), RangeError);
  await assert.rejects(
    PluginHost.create({ hooks: { x: "sideways" as never } }),
    TypeError,
  );
});
