// Refuel: the counter is topped up in slices through an imported function
// that may stop the guest; the fuel burnt and where exhaustion traps are
// those of the meter without refuel; the import renumbers every defined
// function (calls, ref.func, exports, start, elements, global initialisers).
import assert from "node:assert/strict";
import { FUEL_EXPORTS, meter, REFUEL_IMPORT } from "./mod.ts";
import { BIG_BUDGET, type Exports, instantiate, metered, toWat, wat } from "./_test_util.ts";

/** A module using every place a function index appears. */
const RENUMBERED = `(module
  (import "env" "add" (func $add (param i32 i32) (result i32)))
  (import "env" "log" (func $log (param i32)))
  (import "env" "g" (global $g i32))
  (type $unary (func (param i32) (result i32)))
  (table $t 8 funcref)
  (global $gf funcref (ref.func $triple))
  (global $started (mut i32) (i32.const 0))
  (elem (i32.const 0) $inc $dbl $add3)
  (elem (table $t) (i32.const 3) func $triple)
  (elem $passive funcref (ref.func $dbl) (ref.func $inc) (ref.null func))
  (elem declare func $spin)
  (func $inc (type $unary) (i32.add (local.get 0) (i32.const 1)))
  (func $dbl (type $unary) (i32.mul (local.get 0) (i32.const 2)))
  (func $triple (type $unary) (i32.mul (local.get 0) (i32.const 3)))
  (func $add3 (type $unary) (call $add (local.get 0) (i32.const 3)))
  (func $init (call $log (i32.const 7)) (global.set $started (i32.add (global.get $g) (i32.const 1))))
  (func $spin (param $n i32) (result i32) (local $s i32)
    (block $out (loop $l
      (br_if $out (i32.eqz (local.get $n)))
      (local.set $s (i32.add (local.get $s) (call $inc (local.get $n))))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $l)))
    (local.get $s))
  (func (export "started") (result i32) (global.get $started))
  (func (export "indirect") (param i32 i32) (result i32)
    (call_indirect (type $unary) (local.get 1) (local.get 0)))
  (func (export "from_global") (param i32) (result i32)
    (table.set $t (i32.const 5) (global.get $gf))
    (call_indirect (type $unary) (local.get 0) (i32.const 5)))
  (func (export "from_passive") (param i32) (result i32)
    (table.init $t $passive (i32.const 6) (i32.const 0) (i32.const 2))
    (i32.add
      (call_indirect (type $unary) (local.get 0) (i32.const 6))
      (call_indirect (type $unary) (local.get 0) (i32.const 7))))
  (func (export "ref") (param i32) (result i32)
    (table.set $t (i32.const 4) (ref.func $spin))
    (call_indirect (type $unary) (local.get 0) (i32.const 4)))
  (func (export "tail") (param i32) (result i32) (return_call $dbl (local.get 0)))
  (func (export "spin") (param i32) (result i32) (call $spin (local.get 0)))
  (export "inc" (func $inc))
  (export "add" (func $add))
  (start $init))`;

function refuelImports(slice: () => bigint, logs: number[] = []): WebAssembly.Imports {
  return {
    env: { add: (a: number, b: number) => a + b, log: (x: number) => logs.push(x), g: 41 },
    [REFUEL_IMPORT.module]: { [REFUEL_IMPORT.name]: slice },
  };
}

const CALLS: [string, number[]][] = [
  ["started", []],
  ["indirect", [0, 10]],
  ["indirect", [1, 10]],
  ["indirect", [2, 10]],
  ["indirect", [3, 10]],
  ["from_global", [10]],
  ["from_passive", [10]],
  ["ref", [20]],
  ["tail", [21]],
  ["spin", [100]],
  ["inc", [1]],
  ["add", [2, 3]],
];

Deno.test("meter() with refuel renumbers calls, ref.func, exports, start, elements and globals", async () => {
  const plainBytes = await wat(RENUMBERED, { tail_call: true });
  const logs: number[] = [];
  const plain = instantiate(plainBytes, refuelImports(() => 5n, logs));
  const out = meter(plainBytes, { refuel: true });
  assert.equal(out.refuel, true);
  assert.equal(out.hasStart, true);
  const refuelled = instantiate(out.bytes, refuelImports(() => 5n, logs));
  const classic = instantiate(meter(plainBytes).bytes, refuelImports(() => 5n, logs));
  refuelled[FUEL_EXPORTS.start]();
  classic[FUEL_EXPORTS.start]();
  assert.deepEqual(logs, [7, 7, 7]); // the start function ran, calling the import
  const imports = WebAssembly.Module.imports(new WebAssembly.Module(out.bytes));
  assert.deepEqual(imports.at(-1), {
    module: REFUEL_IMPORT.module,
    name: REFUEL_IMPORT.name,
    kind: "function",
  });
  for (const [fn, args] of CALLS) {
    const expected = plain[fn](...args);
    const a = metered(refuelled, fn, args);
    const b = metered(classic, fn, args);
    assert.equal(a.value, expected, `${fn}(${args})`);
    assert.equal(b.value, expected, `${fn}(${args}) without refuel`);
    assert.equal(a.used, b.used, `fuel of ${fn}(${args})`);
  }
  // Exports keep their names.
  const names = (bytes: Uint8Array<ArrayBuffer>) =>
    WebAssembly.Module.exports(new WebAssembly.Module(bytes)).map((e) => e.name)
      .filter((n) => !n.startsWith("__gn_"));
  assert.deepEqual(names(out.bytes), names(plainBytes));
});

Deno.test("meter() with refuel drops the name section (its indices would be stale)", async () => {
  const plainBytes = await wat(RENUMBERED, { tail_call: true }, { debugNames: true });
  const sections = (bytes: Uint8Array<ArrayBuffer>) =>
    WebAssembly.Module.customSections(new WebAssembly.Module(bytes), "name").length;
  assert.equal(sections(plainBytes), 1);
  assert.equal(sections(meter(plainBytes).bytes), 1);
  assert.equal(sections(meter(plainBytes, { refuel: true }).bytes), 0);
});

Deno.test("meter() with refuel burns the same fuel and runs out at the same point", async () => {
  const bytes = await wat(RENUMBERED, { tail_call: true });
  for (const slice of [1n, 7n, 1000n, 1_000_000n]) {
    const x = instantiate(meter(bytes, { refuel: true }).bytes, refuelImports(() => slice));
    x[FUEL_EXPORTS.start]();
    for (const [fn, args] of CALLS) {
      const { used } = metered(x, fn, args);
      if (used === 0n) continue; // the re-exported import
      const exact = metered(x, fn, args, used);
      assert.equal(exact.error, undefined, `${fn}(${args}), slice ${slice}: exact budget`);
      assert.equal(exact.left, 0n);
      const short = metered(x, fn, args, used - 1n);
      assert.ok(short.error instanceof WebAssembly.RuntimeError, `${fn}(${args}) short`);
      assert.ok(short.left < 0n, `${fn}(${args}), slice ${slice}: reported as exhaustion`);
    }
  }
});

Deno.test("meter() with refuel: __gn_fuel_get reports the slice left plus the reserve", async () => {
  const bytes = await wat(RENUMBERED, { tail_call: true });
  let refuels = 0;
  const x = instantiate(
    meter(bytes, { refuel: true, startFuel: 10n ** 15n }).bytes,
    refuelImports(() => {
      refuels++;
      return 1000n;
    }),
  );
  assert.equal(x[FUEL_EXPORTS.get](), 10n ** 15n); // startFuel, split
  x[FUEL_EXPORTS.start]();
  const budget = 10n ** 15n;
  const r = metered(x, "spin", [1_000_000], budget);
  assert.equal(r.error, undefined);
  assert.ok(r.used > 10_000_000n, String(r.used)); // more than the first slice
  assert.ok(refuels > 1000, String(refuels)); // in slices of 1000
  assert.equal(x[FUEL_EXPORTS.get](), budget - r.used);
  // A small budget fits in the first slice: no refuel.
  refuels = 0;
  metered(x, "inc", [1], 100n);
  assert.equal(refuels, 0);
});

Deno.test("meter() with refuel: a throwing refuel stops a loop whatever its budget", async () => {
  // (loop (br 0)), and a memory.fill far larger than a slice (dynamic charge).
  const bytes = await wat(`(module (memory 100)
    (func (export "spin") (loop (br 0)))
    (func (export "fill") (param i32) (memory.fill (i32.const 0) (i32.const 1) (local.get 0))))`);
  let slices = 0;
  let stop = false;
  const x: Exports = instantiate(
    meter(bytes, { refuel: true }).bytes,
    refuelImports(() => {
      slices++;
      if (stop || slices > 50) throw new Error("cancelled");
      return 10_000n;
    }),
  );
  const r = metered(x, "spin", [], (1n << 63n) - 1n);
  assert.match(String(r.error), /cancelled/);
  assert.equal(slices, 51);
  assert.ok(r.left > 0n); // stopped, not exhausted
  // One refuel covers a deficit larger than the slice, exactly.
  slices = 0;
  const fill = metered(x, "fill", [5_000_000], BIG_BUDGET);
  assert.equal(fill.error, undefined);
  assert.equal(slices, 1);
  assert.equal(fill.used, 5_000_000n + 4n); // per byte + four instructions
  stop = true;
  assert.match(String(metered(x, "fill", [5_000_000], BIG_BUDGET).error), /cancelled/);
});

Deno.test("meter() with refuel: the start function refuels from startFuel", async () => {
  const bytes = await wat(`(module (global $n (mut i32) (i32.const 0))
    (func $s (loop $l (global.set $n (i32.add (global.get $n) (i32.const 1)))
      (br_if $l (i32.lt_u (global.get $n) (i32.const 2000000)))))
    (func (export "n") (result i32) (global.get $n))
    (start $s))`);
  let refuels = 0;
  const imports = refuelImports(() => {
    refuels++;
    return 1_000_000n;
  });
  const out = meter(bytes, { refuel: true, startFuel: 100_000_000n });
  const x = instantiate(out.bytes, imports);
  x[FUEL_EXPORTS.start]();
  const plain = instantiate(meter(bytes, { startFuel: 100_000_000n }).bytes, {});
  plain[FUEL_EXPORTS.start]();
  assert.equal(x[FUEL_EXPORTS.get](), plain[FUEL_EXPORTS.get]());
  assert.equal(x.n(), 2_000_000);
  assert.ok(refuels > 0);
  // Not enough: exhaustion, reported as such.
  const short = instantiate(meter(bytes, { refuel: true, startFuel: 5_000_000n }).bytes, imports);
  assert.throws(() => short[FUEL_EXPORTS.start](), WebAssembly.RuntimeError);
  assert.ok(short[FUEL_EXPORTS.get]() < 0n);
});

Deno.test("meter() refuses a module declaring the refuel import itself", async () => {
  const bytes = await wat(
    `(module (import "${REFUEL_IMPORT.module}" "${REFUEL_IMPORT.name}" (func (result i64))))`,
  );
  assert.throws(() => meter(bytes, { refuel: true }), /reserved prefix "__gn_"/);
});

Deno.test("meter() with refuel keeps the refuel call out of every loop (V8 slows a loop with a call in it)", async () => {
  const plain = await wat(`(module (memory 2)
    (func (export "hash") (param $n i32) (result i32) (local $h i32) (local $i i32)
      (loop $l
        (local.set $h (i32.xor (local.get $h) (i32.load8_u (local.get $i))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
      (local.get $h)))`);
  // Functions: the refuel import (0), hash (1), get, set and three charge helpers, refuel (7).
  const text = await toWat(meter(plain, { refuel: true }).bytes);
  const frames: { loop: boolean; xor: boolean; refuel: boolean }[] = [];
  let loopsWithBoth = 0;
  let refuelCalls = 0;
  for (const line of text.split("\n").map((l) => l.trim())) {
    if (/^(block|loop|if)\b/.test(line)) {
      frames.push({ loop: line.startsWith("loop"), xor: false, refuel: false });
    } else if (line.startsWith("end") && frames.length > 0) {
      const f = frames.pop()!;
      if (f.loop && f.xor && f.refuel) loopsWithBoth++;
    } else if (line === "i32.xor") {
      // The loop that repeats the xor: the innermost one around it.
      const inner = frames.findLast((f) => f.loop);
      if (inner !== undefined) inner.xor = true;
    } else if (line === "call 7") {
      refuelCalls++;
      frames.forEach((f) => f.refuel = true);
    }
  }
  assert.ok(refuelCalls > 0, text);
  assert.equal(loopsWithBoth, 0, text);
  // And it still refuels, exactly.
  let refuels = 0;
  const x = instantiate(
    meter(plain, { refuel: true }).bytes,
    refuelImports(() => (refuels++, 10n)),
  );
  const classic = instantiate(meter(plain).bytes, {});
  const a = metered(x, "hash", [100_000]); // 1.3 M fuel: past the first slice
  const b = metered(classic, "hash", [100_000]);
  assert.equal(a.value, b.value);
  assert.equal(a.used, b.used);
  assert.ok(refuels > 100, String(refuels));
});
