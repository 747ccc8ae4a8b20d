// Every refusal says what to do next: each test provokes one refusal for real and checks its
// code first, then a fragment of the message that names the remedy (the key, tool or option).
import assert from "node:assert/strict";
import { HookError, type HookErrorCode } from "../abi/errors.ts";
import { watToWasm } from "../fixtures/build.ts";
import { PluginHost } from "../host/host.ts";
import { MemoryStateStore } from "../host/state.ts";
import { HOST_CEILINGS } from "../host/manifest/mod.ts";
import { Plugin, type PluginOptions } from "../host/plugin.ts";
import { fixtureBytes, loadFixture, withFixture, withTempDir, writePlugin } from "./_helpers.ts";

const EXAMPLES = new URL("../examples/", import.meta.url).pathname;
const PIN = "`deno run -A jsr:@gn/plugin-host/cli pin path/to/plugin.toml`";

/** Asserts `e` is a HookError with `code` whose message contains every fragment. */
function remedy(code: HookErrorCode, ...fragments: string[]): (e: unknown) => boolean {
  return (e: unknown): boolean => {
    assert.ok(e instanceof HookError, `expected a HookError, got ${e}`);
    assert.equal(e.code, code, e.message);
    for (const f of fragments) assert.ok(e.message.includes(f), `"${f}" missing: ${e.message}`);
    return true;
  };
}

/** A minimal plugin whose first line is `imports` (WAT). */
function moduleWith(imports: string, exports = true): string {
  return `(module
  ${imports}
  (memory (export "memory") 1)
  (func (export "gn_alloc") (param i32) (result i32) (i32.const 16))
  ${exports ? '(func (export "gn_free") (param i32 i32))' : ""}
  (func (export "gn_handle_hook") (param i32 i32 i32 i32) (result i64) (i64.const 0)))`;
}

async function loadWat(text: string, options: Partial<PluginOptions> = {}): Promise<Plugin> {
  return await Plugin.load(await watToWasm("inline.wat", text), { name: "inline", ...options });
}

// -- capabilities: the two cases are told apart -------------------------------------------------

Deno.test("remedy: a capability the host does not allow → allow it in `grants`", async () => {
  await withTempDir(async (dir) => {
    const file = await writePlugin(dir, {
      name: "wants-log",
      fixture: "logger",
      capabilities: ["log"],
      hooks: [{ name: "log_hello", kind: "action" }],
    });
    await using host = await PluginHost.create({ grants: ["clock"] });
    await assert.rejects(
      host.load(file),
      remedy(
        "capability_denied",
        'capability "log" is not granted by the host',
        "the host must allow it (`grants` in PluginHost.create)",
        "or remove it from `capabilities` in the manifest",
      ),
    );
  });
});

Deno.test("remedy: an import the manifest does not declare → declare it in plugin.toml", async () => {
  await assert.rejects(
    loadFixture("logger", { granted: ["clock"] }),
    remedy(
      "capability_denied",
      'needs capability "log"',
      'declare it in plugin.toml (capabilities = ["log"]',
      "the host must also allow it in its `grants`",
    ),
  );
});

// -- imports other toolchains add --------------------------------------------------------------

Deno.test("remedy: AssemblyScript's env.abort → `--use abort=` or an abort calling gn_panic", async () => {
  await assert.rejects(
    loadWat(moduleWith('(import "env" "abort" (func (param i32 i32 i32 i32)))')),
    remedy(
      "capability_denied",
      '"env"."abort"',
      "AssemblyScript imports env.abort by default: add `--use abort=` to asc",
      "`--use abort=assembly/index/myAbort` naming your own function that calls gn_panic",
    ),
  );
  await assert.rejects(
    loadWat(moduleWith('(import "env" "seed" (func (result f64)))')),
    remedy("capability_denied", "env.seed for Math.random", "`--use seed="),
  );
});

Deno.test("remedy: an unknown, WASI or mistyped import names what is allowed", async () => {
  await assert.rejects(
    loadFixture("unknown_import"),
    remedy("capability_denied", "remove it; the host functions are gn_panic, gn_error_set, gn_log"),
  );
  await assert.rejects(
    loadFixture("wasi_import"),
    remedy("capability_denied", "build without WASI", "wasm32-unknown-unknown"),
  );
  await assert.rejects(
    loadFixture("bad_import_signature"),
    remedy("capability_denied", "declare the import with exactly that signature"),
  );
});

Deno.test("remedy: a missing export or another ABI version says what to build", async () => {
  await assert.rejects(
    loadWat(moduleWith("", false)),
    remedy("missing_export", '"gn_free"', "export a function of exactly that signature"),
  );
  await assert.rejects(
    loadFixture("abi_v2"),
    remedy("abi_version", "build the plugin for gn ABI 1"),
  );
});

// -- digests -----------------------------------------------------------------------------------

Deno.test("remedy: a missing digest names the pin tool", async () => {
  await withTempDir(async (dir) => {
    const file = await writePlugin(dir, {
      name: "unpinned",
      fixture: "identity",
      hooks: [{ name: "the_content", kind: "filter" }],
    });
    await Deno.writeTextFile(
      file,
      (await Deno.readTextFile(file)).replace(/^digest = .*\n/m, ""),
    );
    await using host = await PluginHost.create();
    await assert.rejects(
      host.load(file),
      remedy("invalid_manifest", 'key "digest": required key is missing', PIN, "b3sum"),
    );
  });
});

Deno.test("remedy: a digest mismatch names the pin tool", async () => {
  await using host = await PluginHost.create();
  await assert.rejects(
    host.load(`${EXAMPLES}broken/plugin.toml`),
    remedy("digest_mismatch", "if you rebuilt it on purpose", PIN),
  );
});

// -- limits ------------------------------------------------------------------------------------

Deno.test("remedy: fuel_exhausted names the budget, `[limits] fuel` and the host ceiling", async () => {
  const p = await Plugin.load(await fixtureBytes("hostile/loop_hook"), {
    name: "loop",
    fuel: 5_000_000,
  });
  try {
    await assert.rejects(
      p.action("spin"),
      remedy(
        "fuel_exhausted",
        "it used its whole budget of 5000000 units for this call",
        "raise `fuel` under `[limits]` in plugin.toml",
        `its ceiling, limits.fuel of PluginHost.create, ${HOST_CEILINGS.fuel} unless set`,
      ),
    );
  } finally {
    await p.close();
  }
});

Deno.test("remedy: a call timeout names `[limits] timeout_ms`", async () => {
  const p = await Plugin.load(await fixtureBytes("hostile/loop_hook"), {
    name: "loop",
    fuel: false,
    timeoutMs: 500,
  });
  try {
    await assert.rejects(
      p.action("spin"),
      remedy("timeout", "took longer than 500 ms", "Raise `timeout_ms` under `[limits]`"),
    );
  } finally {
    await p.close();
  }
});

Deno.test("remedy: memory refusals name `[limits] memory_pages`", async () => {
  await assert.rejects(
    Plugin.load(await fixtureBytes("hostile/huge_memory"), { name: "huge", memoryPages: 64 }),
    remedy("memory_limit", "raise `memory_pages` under `[limits]` in plugin.toml (now 64"),
  );
  await withFixture("content", async (p) => {
    await p.action("fail_next_alloc");
    await assert.rejects(
      p.filter("the_content", "x"),
      remedy("out_of_memory", "returned 0 (out of memory)", "raise `memory_pages`"),
    );
  });
});

Deno.test("remedy: an unsupported feature says to build without it", async () => {
  await assert.rejects(
    Plugin.load(await fixtureBytes("hostile/memory64"), { name: "m64" }),
    remedy("unsupported_feature", "build the module without memory64"),
  );
});

Deno.test("remedy: payload and response caps name the host option", async () => {
  await withFixture("content", async (p) => {
    await assert.rejects(
      p.filter("the_content", "x".repeat(200)),
      remedy("payload_too_large", "raise the host's maxPayloadBytes"),
    );
  }, { maxPayloadBytes: 100 });
  await withFixture("bad_bodies", async (p) => {
    await assert.rejects(
      p.filter("too_large", 1),
      remedy("response_too_large", "raise the host's maxResponseBytes"),
    );
  });
});

// -- answers -----------------------------------------------------------------------------------

Deno.test("remedy: bad answers say what the plugin must answer", async () => {
  await withFixture("bad_bodies", async (p) => {
    await assert.rejects(
      p.filter("not_json", 1),
      remedy("bad_response", 'the plugin must answer {"value": <json>} or no body'),
    );
    await assert.rejects(p.filter("oob", 1), remedy("bad_response", "docs/abi.md#packed-return"));
  }, { quarantineAfter: 100 });
  await withFixture("content", async (p) => {
    await assert.rejects(
      p.action("bad_pointer_status"),
      remedy("bad_response", "a status is returned with pointer 0"),
    );
    await assert.rejects(
      p.action("no_such_hook"),
      remedy("unknown_hook", "its gn_handle_hook must know every hook its plugin.toml binds"),
    );
    await assert.rejects(
      p.filter("the_content", 1n),
      remedy("bad_payload", "pass plain JSON values (no BigInt, no cycles)"),
    );
  }, { quarantineAfter: 100 });
});

Deno.test("remedy: quarantine says how to lift it", async () => {
  await withFixture("content", async (p) => {
    for (let i = 0; i < 2; i++) await assert.rejects(p.action("trap"), { code: "trapped" });
    await assert.rejects(
      p.filter("the_content", "x"),
      remedy("quarantined", 'then re-enable it with host.plugin("content").reenable() to retry'),
    );
  }, { quarantineAfter: 2, quarantineWindowMs: 60_000, onQuarantine: () => {} });
});

// -- the host ----------------------------------------------------------------------------------

Deno.test("remedy: duplicate, unknown and closed say what to do", async () => {
  await withTempDir(async (dir) => {
    const file = await writePlugin(dir, {
      name: "shout",
      fixture: "identity",
      hooks: [{ name: "the_content", kind: "filter" }],
      limits: "timeout_ms = 1000",
    });
    const host = await PluginHost.create();
    await host.load(file);
    await assert.rejects(
      host.load(file),
      remedy("duplicate_plugin", 'unload it first (host.unload("shout"))'),
    );
    await assert.rejects(host.unload("shuot"), remedy("unknown_plugin", 'loaded: "shout"'));
    await host.close();
    await assert.rejects(
      host.load(file),
      remedy("closed", "create a new one with PluginHost.create"),
    );
    await assert.rejects(host.loadDir(dir), remedy("closed", "create a new one"));
  });
  await using open = await PluginHost.create();
  await assert.rejects(
    open.loadDir(`${EXAMPLES}nowhere`),
    remedy("invalid_manifest", "pass a readable folder holding one folder per plugin"),
  );
});

Deno.test("remedy: a failing state store or event sink names the option to fix", async () => {
  await withTempDir(async (dir) => {
    const file = await writePlugin(dir, {
      name: "caps",
      fixture: "caps",
      capabilities: ["log", "clock", "state", "emit", "fuel"],
      hooks: [{ name: "counter_get", kind: "filter" }, { name: "emit_ok", kind: "action" }],
      limits: "timeout_ms = 1000",
    });
    const reported: HookError[] = [];
    await using host = await PluginHost.create({
      grants: ["log", "clock", "state", "emit", "fuel"],
      state: new (class extends MemoryStateStore {
        override get(): never {
          throw new Error("disk gone");
        }
      })(),
      onEvent: () => {
        throw new Error("sink gone");
      },
      events: { caps: ["user.created"] },
      pins: { caps: file },
      onError: (e) => reported.push(e),
    });
    await host.load(file);
    await host.bus.applyFilters("counter_get", null).catch(() => {});
    await host.bus.doAction("emit_ok");
    const store = reported.find((e) => e.message.startsWith("State store failed"));
    assert.ok(store, JSON.stringify(reported.map((e) => e.message)));
    remedy("handler_failed", "fix the StateStore given as the state option")(store);
    const sink = reported.find((e) => e.message.startsWith("The event sink failed"));
    assert.ok(sink, JSON.stringify(reported.map((e) => e.message)));
    remedy("handler_failed", "fix the onEvent option of PluginHost.create")(sink);
  });
});
