// Memory and table ceilings, with and without fuel, and byte-for-byte
// preservation of everything the meter does not rewrite.
import assert from "node:assert/strict";
import { HookError } from "../abi/errors.ts";
import { meter } from "./mod.ts";
import { instantiate, wat } from "./_test_util.ts";

const GROW = `
  (func (export "grow") (param i32) (result i32) local.get 0 memory.grow)
  (func (export "tgrow") (param i32) (result i32) ref.null func local.get 0 table.grow 0)`;

for (const fuel of [true, false]) {
  Deno.test(`meter() clamps a larger declared maximum (fuel: ${fuel})`, async () => {
    const bytes = await wat(`(module (memory 1 100) (table 2 50 funcref) ${GROW})`);
    const x = instantiate(meter(bytes, { fuel, maxMemoryPages: 4, maxTableElements: 10 }).bytes);
    if (fuel) x.__gn_fuel_set(1n << 40n);
    assert.equal(x.grow(3), 1);
    assert.equal(x.grow(1), -1, "past the ceiling of 4 pages");
    assert.equal(x.tgrow(8), 2);
    assert.equal(x.tgrow(1), -1, "past the ceiling of 10 elements");
    // The plain module grows further.
    const plain = instantiate(bytes);
    assert.equal(plain.grow(3), 1);
    assert.equal(plain.grow(1), 4);
  });

  Deno.test(`meter() sets the ceiling as maximum when none is declared (fuel: ${fuel})`, async () => {
    const bytes = await wat(`(module (memory 1) (table 1 funcref) ${GROW})`);
    const x = instantiate(meter(bytes, { fuel, maxMemoryPages: 2, maxTableElements: 3 }).bytes);
    if (fuel) x.__gn_fuel_set(1n << 40n);
    assert.equal(x.grow(1), 1);
    assert.equal(x.grow(1), -1);
    assert.equal(x.tgrow(2), 1);
    assert.equal(x.tgrow(1), -1);
  });

  Deno.test(`meter() refuses an initial size over the ceiling (fuel: ${fuel})`, async () => {
    assert.throws(
      () =>
        meter(Uint8Array.from([0, 97, 115, 109, 1, 0, 0, 0, 5, 3, 1, 0, 5]), {
          fuel,
          maxMemoryPages: 4,
        }),
      (e: unknown) =>
        e instanceof HookError && e.code === "memory_limit" &&
        /memory 0 starts at 5 pages, over the limit of 4/.test(e.message),
    );
    const table = await wat(`(module (table 30 funcref))`);
    assert.throws(
      () => meter(table, { fuel, maxTableElements: 20 }),
      (e: unknown) =>
        e instanceof HookError && e.code === "memory_limit" &&
        /table 0 starts at 30 elements, over the limit of 20/.test(e.message),
    );
    // Exactly at the ceiling is fine.
    assert.ok(meter(table, { fuel, maxTableElements: 30 }).bytes.length > 0);
  });
}

Deno.test("meter() keeps a smaller declared maximum", async () => {
  const x = instantiate(
    meter(await wat(`(module (memory 1 2) ${GROW} (table 1 funcref))`), { maxMemoryPages: 8 })
      .bytes,
  );
  x.__gn_fuel_set(1n << 40n);
  assert.equal(x.grow(1), 1);
  assert.equal(x.grow(1), -1);
});

Deno.test("meter() leaves imported memories and tables alone and reports them", async () => {
  const bytes = await wat(`(module
    (import "env" "memory" (memory 1 1000))
    (import "env" "table" (table 1 funcref)))`);
  const m = meter(bytes, { fuel: false, maxMemoryPages: 2, maxTableElements: 2 });
  assert.equal(m.importsMemory, true);
  assert.equal(m.importsTable, true);
  assert.deepEqual(m.bytes, bytes);
  const none = meter(await wat(`(module (memory 1))`));
  assert.equal(none.importsMemory, false);
  assert.equal(none.importsTable, false);
});

Deno.test("meter() copies a module it has nothing to change byte for byte", async () => {
  const bytes = await wat(`(module
    (memory (export "m") 1 4)
    (table 1 8 funcref)
    (global $g (mut i32) (i32.const 7))
    (elem (i32.const 0) $f)
    (data (i32.const 0) "hi")
    (func $f (export "f") (result i32) global.get $g)
    (start $f2) (func $f2))`);
  assert.deepEqual(meter(bytes, { fuel: false }).bytes, bytes);
});

Deno.test("meter() keeps custom sections and their positions", () => {
  // (module (func)) with a custom section "a" before the type section and "z" at the end.
  const custom = (name: string, payload: number[]): number[] => {
    const content = [name.length, ...new TextEncoder().encode(name), ...payload];
    return [0, content.length, ...content];
  };
  const bytes = Uint8Array.from([
    0,
    97,
    115,
    109,
    1,
    0,
    0,
    0,
    ...custom("a", [1, 2, 3]),
    1,
    4,
    1,
    96,
    0,
    0,
    3,
    2,
    1,
    0,
    10,
    4,
    1,
    2,
    0,
    11,
    ...custom("z", [9]),
  ]);
  const out = meter(bytes).bytes;
  assert.ok(WebAssembly.validate(out));
  const module = new WebAssembly.Module(out);
  assert.deepEqual(
    new Uint8Array(WebAssembly.Module.customSections(module, "a")[0]),
    Uint8Array.of(1, 2, 3),
  );
  assert.deepEqual(
    new Uint8Array(WebAssembly.Module.customSections(module, "z")[0]),
    Uint8Array.of(9),
  );
  // "a" still comes first and "z" last.
  assert.deepEqual([...out.subarray(8, 8 + 7)], custom("a", [1, 2, 3]));
  assert.deepEqual([...out.subarray(out.length - 5)], custom("z", [9]));
});

Deno.test("meter() adds the sections an empty module lacks", () => {
  const out = meter(Uint8Array.from([0, 97, 115, 109, 1, 0, 0, 0]), { startFuel: 9 });
  const x = instantiate(out.bytes);
  assert.equal(x.__gn_fuel_get(), 9n);
});

// The guest-memory budget: tables share maxTableElements, everything counts against maxGuestBytes.

function refusedWith(limit: string, needed: number, allowed: number, pattern: RegExp) {
  return (e: unknown): boolean => {
    assert.ok(e instanceof HookError, String(e));
    assert.equal(e.code, "memory_limit");
    assert.deepEqual(e.cause, { limit, needed, allowed });
    assert.match(e.message, pattern);
    assert.match(e.message, new RegExp(`\\(option "${limit}"\\)`));
    return true;
  };
}

Deno.test("meter() refuses tables whose initial sizes add up past maxTableElements", async () => {
  const bytes = await wat(`(module ${"(table 10 funcref)".repeat(3)})`);
  assert.throws(
    () => meter(bytes, { maxTableElements: 25 }),
    refusedWith("maxTableElements", 30, 25, /its 3 tables start at 30 elements in all/),
  );
  assert.ok(meter(bytes, { maxTableElements: 30 }).bytes.length > 0);
});

Deno.test("meter() refuses declared table maxima adding up past maxTableElements", async () => {
  const bytes = await wat(`(module (table 1 20 funcref) (table 1 20 funcref) (table 2 funcref))`);
  assert.throws(
    () => meter(bytes, { maxTableElements: 41 }),
    refusedWith("maxTableElements", 42, 41, /its 3 tables may grow to 42 elements in all/),
  );
  // A declared maximum over the ceiling counts as the ceiling.
  const over = await wat(`(module (table 1 1000 funcref) (table 1 funcref))`);
  assert.throws(
    () => meter(over, { maxTableElements: 50 }),
    refusedWith("maxTableElements", 51, 50, /may grow to 51 elements/),
  );
});

Deno.test("meter() shares the room left among the tables without a maximum", async () => {
  const bytes = await wat(`(module
    (table $a 1 funcref) (table $b 3 funcref) (table $c 2 10 externref)
    (func (export "ga") (param i32) (result i32) ref.null func local.get 0 table.grow $a)
    (func (export "gb") (param i32) (result i32) ref.null func local.get 0 table.grow $b)
    (func (export "gc") (param i32) (result i32) ref.null extern local.get 0 table.grow $c))`);
  // 30 - 10 (declared) - 1 - 3 (initial sizes) = 16 left: 8 more each for $a and $b.
  const x = instantiate(meter(bytes, { fuel: false, maxTableElements: 30 }).bytes);
  assert.equal(x.ga(8), 1);
  assert.equal(x.ga(1), -1);
  assert.equal(x.gb(8), 3);
  assert.equal(x.gb(1), -1);
  assert.equal(x.gc(8), 2);
  assert.equal(x.gc(1), -1);
});

Deno.test("meter() counts every kind of guest memory at the clamped maxima", async () => {
  const bytes = await wat(`(module
    (memory 1 2)
    (table 10 funcref) (table 5 5 externref)
    (global i32 (i32.const 1)) (global (mut v128) (v128.const i64x2 0 0))
    (func $f) (func $g)
    (elem (i32.const 0) $f $g)
    (data (i32.const 0) "abc"))`);
  // The funcref table gets 100 - 5 - 10 = 85 more than its 10: 95.
  const expected = 2 * 65536 + // memory at its maximum
    (512 + 95 * 24) + (512 + 5 * 8) + // tables
    (16 + 2 * 8) + // the element segment
    (16 + 3) + // the data segment
    (8 + 16) + // globals
    2 * 48; // functions
  for (const fuel of [true, false]) {
    const m = meter(bytes, { fuel, maxTableElements: 100, maxGuestBytes: expected });
    assert.equal(m.guestBytes, expected);
  }
  assert.throws(
    () => meter(bytes, { maxTableElements: 100, maxGuestBytes: expected - 1 }),
    refusedWith(
      "maxGuestBytes",
      expected,
      expected - 1,
      /an instance may hold 134,587 bytes \(memory 131,072, 2 tables 3,344, 1 element segments 32, 1 data segments 19, 2 globals 24, 2 functions 96\)/,
    ),
  );
});

Deno.test("meter() defaults the budget to the memory ceiling plus 64 MiB", async () => {
  const bytes = await wat(`(module (memory 1))`);
  assert.equal(meter(bytes, { maxMemoryPages: 3 }).guestBytes, 3 * 65536);
  // One byte more than 64 MiB beyond the memory: a passive segment of 8 Mi - 10 references
  // (8 bytes each), two segments' bookkeeping (16 each), 1 byte of data and one function (48),
  // built by hand (wabt would take long over 8 million entries).
  const entries = 8 * 1024 * 1024 - 10;
  const leb = (n: number): number[] => {
    const out = [];
    do {
      out.push((n & 0x7f) | (n > 0x7f ? 0x80 : 0));
      n >>>= 7;
    } while (n > 0);
    return out;
  };
  const elem = [0x01, 0x00, ...leb(entries)]; // passive, funcref indices
  const module = new Uint8Array([
    ...[0, 97, 115, 109, 1, 0, 0, 0],
    ...[1, 4, 1, 0x60, 0, 0], // type () -> ()
    ...[3, 2, 1, 0], // one function
    ...[5, 3, 1, 0, 1], // (memory 1)
    ...[9, ...leb(1 + elem.length + entries), 1, ...elem],
  ]);
  const tail = [10, 4, 1, 2, 0, 0x0b, 11, 4, 1, 1, 1, 0x2a]; // code; a 1-byte passive data segment
  const full = new Uint8Array(module.length + entries + tail.length);
  full.set(module);
  full.set(tail, module.length + entries); // the entries are all 0x00: function 0
  const budget = 65536 + 64 * 1024 * 1024;
  assert.throws(
    () => meter(full, { maxMemoryPages: 1, fuel: false }),
    refusedWith("maxGuestBytes", budget + 1, budget, /1 element segments 67,108,800/),
  );
  assert.equal(
    meter(full, { maxMemoryPages: 1, fuel: false, maxGuestBytes: budget + 1 }).guestBytes,
    budget + 1,
  );
});
