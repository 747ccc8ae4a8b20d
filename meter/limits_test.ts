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
