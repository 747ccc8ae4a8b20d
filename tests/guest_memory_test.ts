// The guest-memory budget through the public API: modules whose tables, segments or memory
// would make one instance hold more than the host allows are refused at load with
// `memory_limit`, before they are compiled, and `table.grow` stops at the clamped maximum.
import assert from "node:assert/strict";
import { HookError } from "../abi/errors.ts";
import { watToWasm } from "../fixtures/build.ts";
import { PluginHost, type PluginHostOptions } from "../host/host.ts";
import { withTempDir } from "./_helpers.ts";

const FEATURES = { reference_types: true, bulk_memory: true };

/** `fixtures/content.wat` with `extra` declared after its memory. */
async function contentWith(extra: string): Promise<Uint8Array> {
  const text = await Deno.readTextFile(new URL("../fixtures/content.wat", import.meta.url));
  const anchor = `(memory (export "memory") 1)`;
  assert.ok(text.includes(anchor));
  return await watToWasm("content_with.wat", text.replace(anchor, `${anchor} ${extra}`), FEATURES);
}

/**
 * A plugin whose filter `grow` runs `table.grow $t (ref.null func) (i32.const 1000)` and
 * answers `[what table.grow returned, table.size after it]`.
 */
function growPlugin(table: string): Promise<Uint8Array> {
  return watToWasm(
    "grow.wat",
    `(module
  (memory (export "memory") 1)
  ${table}
  (global $top (mut i32) (i32.const 1024))
  (data (i32.const 0) "{\\"value\\":[")
  (func (export "gn_alloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $top))
    (global.set $top (i32.add (local.get $p)
      (i32.and (i32.add (local.get $n) (i32.const 7)) (i32.const -8))))
    (local.get $p))
  (func (export "gn_free") (param i32 i32))
  ;; Writes the decimal form of $v at $at; returns the position after it.
  (func $itoa (param $v i32) (param $at i32) (result i32)
    (local $x i32) (local $len i32) (local $i i32)
    (if (i32.lt_s (local.get $v) (i32.const 0))
      (then
        (i32.store8 (local.get $at) (i32.const 45))
        (local.set $at (i32.add (local.get $at) (i32.const 1)))
        (local.set $v (i32.sub (i32.const 0) (local.get $v)))))
    (local.set $x (local.get $v))
    (local.set $len (i32.const 1))
    (block $done (loop $count
      (br_if $done (i32.lt_u (local.get $x) (i32.const 10)))
      (local.set $x (i32.div_u (local.get $x) (i32.const 10)))
      (local.set $len (i32.add (local.get $len) (i32.const 1)))
      (br $count)))
    (local.set $i (local.get $len))
    (loop $write
      (local.set $i (i32.sub (local.get $i) (i32.const 1)))
      (i32.store8 (i32.add (local.get $at) (local.get $i))
        (i32.add (i32.const 48) (i32.rem_u (local.get $v) (i32.const 10))))
      (local.set $v (i32.div_u (local.get $v) (i32.const 10)))
      (br_if $write (local.get $i)))
    (i32.add (local.get $at) (local.get $len)))
  (func (export "gn_handle_hook") (param i32 i32 i32 i32) (result i64)
    (local $r i32) (local $p i32)
    (local.set $r (table.grow $t (ref.null func) (i32.const 1000)))
    (memory.copy (i32.const 512) (i32.const 0) (i32.const 10))
    (local.set $p (call $itoa (local.get $r) (i32.const 522)))
    (i32.store8 (local.get $p) (i32.const 44))
    (local.set $p (call $itoa (table.size $t) (i32.add (local.get $p) (i32.const 1))))
    (i32.store16 (local.get $p) (i32.const 0x7d5d))
    (local.set $p (i32.add (local.get $p) (i32.const 2)))
    (global.set $top (i32.const 1024))
    (i64.or (i64.shl (i64.const 512) (i64.const 32))
      (i64.extend_i32_u (i32.sub (local.get $p) (i32.const 512))))))`,
    FEATURES,
  );
}

/** Writes `<root>/<name>/plugin.toml` pinning `bytes`; returns the manifest path. */
async function writeModule(
  root: string,
  name: string,
  bytes: Uint8Array,
  limits: string,
  hook = "the_content",
): Promise<string> {
  const { blake3 } = await import("hash-wasm");
  const dir = `${root}/${name}`;
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeFile(`${dir}/${name}.wasm`, bytes);
  await Deno.writeTextFile(
    `${dir}/plugin.toml`,
    `name = "${name}"
version = "1.0.0"
abi = 1
module = "${name}.wasm"
digest = "blake3:${await blake3(bytes)}"

[limits]
${limits}
${/timeout_ms/.test(limits) ? "" : "timeout_ms = 1000 # compiling on a busy machine"}

[[hooks]]
name = "${hook}"
kind = "filter"
`,
  );
  return `${dir}/plugin.toml`;
}

/** Loads `bytes` as plugin `name` in a fresh host; returns the host's answer or refusal. */
async function load(
  name: string,
  bytes: Uint8Array,
  limits: string,
  options: PluginHostOptions = {},
  body: (host: PluginHost) => Promise<void> = async () => {},
): Promise<HookError | "loaded"> {
  let outcome: HookError | "loaded" = "loaded";
  await withTempDir(async (root) => {
    const file = await writeModule(root, name, bytes, limits, name === "grow" ? "grow" : undefined);
    await using host = await PluginHost.create({ onError: () => {}, ...options });
    try {
      await host.load(file);
    } catch (e) {
      if (!(e instanceof HookError)) throw e;
      outcome = e;
      return;
    }
    await body(host);
  });
  return outcome;
}

function assertRefused(
  outcome: HookError | "loaded",
  plugin: string,
  pattern: RegExp,
): void {
  assert.ok(outcome instanceof HookError, "refused");
  assert.equal(outcome.code, "memory_limit", outcome.message);
  assert.equal(outcome.plugin, plugin);
  assert.match(outcome.message, pattern);
}

Deno.test("2,500 tables of 100,000 funcref slots → memory_limit at load; the process carries on", async () => {
  const bytes = await contentWith("(table 100000 funcref)".repeat(2500));
  assert.ok(bytes.length < 16 * 1024, `a ${bytes.length}-byte module`);
  const before = Deno.memoryUsage().rss;
  const outcome = await load("tables", bytes, "memory_pages = 1");
  // Refused by the count, before compiling: the error names the tables, the figure and the
  // key that raises the ceiling; had it been instantiated, V8 would hold 6 GB.
  assertRefused(
    outcome,
    "tables",
    /2,500 tables start at 250,000,000 elements in all, over the limit of 100,000 .*"table_elements" in the manifest's \[limits\], up to the host's limits\.tableElements/,
  );
  const grown = Deno.memoryUsage().rss - before;
  assert.ok(grown < 512 * 2 ** 20, `RSS grew by ${grown} bytes`);
});

Deno.test("1,000 tables of 100,000 slots → memory_limit under the default ceilings too", async () => {
  const bytes = await contentWith("(table 100000 funcref)".repeat(1000));
  // Even a manifest asking for more is clamped to the host's default ceiling of 1,000,000.
  const outcome = await load("tables", bytes, "memory_pages = 1\ntable_elements = 10_000_000");
  assertRefused(
    outcome,
    "tables",
    /1,000 tables start at 100,000,000 elements in all, over the limit of 1,000,000/,
  );
  // With declared maxima that add up past the limit.
  const capped = await contentWith("(table 1 600000 funcref)".repeat(2));
  assertRefused(
    await load("capped", capped, "table_elements = 1_000_000"),
    "capped",
    /2 tables may grow to 1,200,000 elements in all/,
  );
});

Deno.test("a module within the budget loads and answers", async () => {
  const bytes = await contentWith("(table 1000 funcref) (table 10 100 externref)");
  const outcome = await load("fits", bytes, "memory_pages = 2", {}, async (host) => {
    assert.equal(await host.bus.applyFilters("the_content", "hi"), "HI");
  });
  assert.equal(outcome, "loaded");
});

Deno.test("host ceilings lower the table and byte budgets", async () => {
  const bytes = await contentWith("(table 100 funcref)");
  assert.equal(await load("small", bytes, ""), "loaded");
  // limits.tableElements: the manifest's request is clamped to it.
  assertRefused(
    await load("small", bytes, "table_elements = 1000", { limits: { tableElements: 50 } }),
    "small",
    /table 0 starts at 100 elements, over the limit of 50/,
  );
  // maxGuestBytes: 16 pages of memory (1 MiB) plus 100,000 funcref slots do not fit in 2 MiB.
  assertRefused(
    await load("small", bytes, "memory_pages = 16", { maxGuestBytes: 2 * 2 ** 20 }),
    "small",
    /an instance may hold 3,\d{3},\d{3} bytes \(memory 1,048,576, 1 tables 2,400,512, .*over the limit of 2,097,152 .*maxGuestBytes/,
  );
  assert.equal(
    await load("small", bytes, "memory_pages = 16\ntable_elements = 1000", {
      maxGuestBytes: 2 * 2 ** 20,
    }),
    "loaded",
  );
  await assert.rejects(PluginHost.create({ maxGuestBytes: 0 }), RangeError);
});

Deno.test("table.grow stops at the clamped maximum: -1 inside the guest", async () => {
  const cases: [string, unknown[]][] = [
    // A lone table without a maximum gets the whole ceiling; a larger declared one is clamped.
    ["(table $t 1 funcref)", [[1, 1001], [1001, 2001], [-1, 2001]]],
    ["(table $t 1 1000000 funcref)", [[1, 1001], [1001, 2001], [-1, 2001]]],
    // Two tables without a maximum share it: 1 + 1249 elements each.
    ["(table $t 1 funcref) (table $u 1 funcref)", [[1, 1001], [-1, 1001]]],
  ];
  for (const [table, answers] of cases) {
    const outcome = await load(
      "grow",
      await growPlugin(table),
      "table_elements = 2500",
      {},
      async (host) => {
        for (const answer of answers) {
          assert.deepEqual(await host.bus.applyFilters("grow", null), answer, table);
        }
      },
    );
    assert.equal(outcome, "loaded");
  }
});

Deno.test("large element and data segments count against the budget", async () => {
  // A passive segment of 300,000 function references: 2.4 MB once the engine materialises it.
  const elems = await contentWith(`(func $f) (elem funcref ${"(ref.func $f) ".repeat(300_000)})`);
  const budget = { maxGuestBytes: 2 * 2 ** 20 };
  assertRefused(
    await load("elems", elems, "memory_pages = 1\ntable_elements = 0", budget),
    "elems",
    /1 element segments 2,400,016/,
  );
  // A passive data segment of 2 MiB.
  const data = await contentWith(`(data "${"\\00".repeat(2 * 2 ** 20)}")`);
  assertRefused(
    await load("data", data, "memory_pages = 1\ntable_elements = 0", budget),
    "data",
    /data segments 2,0\d\d,\d{3}/,
  );
  assert.equal(await load("elems", elems, "memory_pages = 1"), "loaded");
});

Deno.test("a table, memory or global imported from the host → capability_denied", async () => {
  const text = await Deno.readTextFile(new URL("../fixtures/content.wat", import.meta.url));
  const memory = `(memory (export "memory") 1)`;
  const variants: [string, string][] = [
    ["table", text.replace(memory, `(import "env" "table" (table 100000 funcref)) ${memory}`)],
    ["global", text.replace(memory, `(import "env" "global" (global i32)) ${memory}`)],
    [
      "memory",
      text.replace(memory, `(import "env" "memory" (memory 1)) (export "memory" (memory 0))`),
    ],
  ];
  for (const [kind, variant] of variants) {
    const bytes = await watToWasm(`import_${kind}.wat`, variant, FEATURES);
    const outcome = await load("imports", bytes, "");
    assert.ok(outcome instanceof HookError, kind);
    assert.equal(outcome.code, "capability_denied", outcome.message);
    assert.match(
      outcome.message,
      new RegExp(`"env"\\."${kind}" \\(${kind}\\) is not a gn host function`),
    );
  }
});
