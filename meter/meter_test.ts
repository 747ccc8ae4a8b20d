// Exact fuel counts on small modules, computed by hand from COSTS:
// instruction 1, structure (block/loop/else/end) 0, call 4, call_indirect 6,
// memory.grow +1024/page, bulk memory +1/byte, table ops +1/element.
import assert from "node:assert/strict";
import { COSTS, FUEL_EXPORTS, meter } from "./mod.ts";
import { type Exports, instantiate, metered, wat } from "./_test_util.ts";

async function build(text: string, startFuel = 0): Promise<Exports> {
  return instantiate(meter(await wat(text), { startFuel }).bytes);
}

Deno.test("meter() cost model is the one documented", () => {
  assert.deepEqual({ ...COSTS }, {
    instruction: 1,
    structure: 0,
    call: 4,
    callIndirect: 6,
    memoryGrowPage: 1024,
    bulkByte: 1,
    tableElement: 1,
  });
  assert.ok(Object.isFrozen(COSTS));
});

Deno.test("meter() charges a straight-line function its instruction count", async () => {
  const x = await build(`(module
    (func (export "add") (param i32 i32) (result i32)
      local.get 0   ;; 1
      local.get 1   ;; 1
      i32.add))     ;; 1, end 0 => 3`);
  const r = metered(x, "add", [2, 3]);
  assert.equal(r.value, 5);
  assert.equal(r.used, 3n);
});

const LOOP = `(module
  (func (export "sum") (param $n i32) (result i32) (local $i i32) (local $acc i32)
    block $done                  ;; 0
      loop $l                    ;; 0   header region, paid each time round:
        local.get $i             ;; 1
        local.get $n             ;; 1
        i32.ge_u                 ;; 1
        br_if $done              ;; 1   => 4
        local.get $acc           ;; body region (after br_if):
        local.get $i
        i32.add
        local.set $acc           ;; 4
        local.get $i
        i32.const 1
        i32.add
        local.set $i             ;; 4
        br $l                    ;; 1   => 9
      end
    end
    local.get $acc))             ;; 1, folded into the entry region (block $done never escapes)
;; entry 1 + header 4 x (n + 1) + body 9 x n  =  13n + 5`;

Deno.test("meter() charges a loop linearly: 13n + 5", async () => {
  const x = await build(LOOP);
  for (const n of [0, 1, 2, 3, 10, 1000, 100_000]) {
    const r = metered(x, "sum", [n]);
    assert.equal(r.value, (n * (n - 1) / 2) | 0, `n = ${n}`);
    assert.equal(r.used, BigInt(13 * n + 5), `n = ${n}`);
  }
});

Deno.test("meter() charges only the arm of an if that runs", async () => {
  const x = await build(`(module
    (func (export "pick") (param $x i32) (result i32)
      local.get $x        ;; 1
      if (result i32)     ;; 1   entry: 2 (+2 below)
        i32.const 10      ;; then arm: 1
      else
        i32.const 20
        i32.const 1
        i32.add           ;; else arm: 3
      end
      i32.const 7         ;; 1   continuation, certain: folded into entry
      i32.mul))           ;; 1   entry = 4
    ;; then: 4 + 1 = 5; else: 4 + 3 = 7`);
  assert.deepEqual([metered(x, "pick", [1]).value, metered(x, "pick", [1]).used], [70, 5n]);
  assert.deepEqual([metered(x, "pick", [0]).value, metered(x, "pick", [0]).used], [147, 7n]);
});

Deno.test("meter() charges an if without else only when taken", async () => {
  const x = await build(`(module
    (func (export "f") (param $x i32) (result i32) (local $y i32)
      local.get $x        ;; 1
      if                  ;; 1   entry 2 (+3 below)
        i32.const 5       ;; arm: 1
        local.set $y      ;; arm: 1 => 2
      end
      local.get $y        ;; 1
      i32.const 1         ;; 1
      i32.add))           ;; 1   => entry 5
    ;; taken: 5 + 2 = 7; not taken: 5`);
  assert.equal(metered(x, "f", [1]).used, 7n);
  assert.equal(metered(x, "f", [1]).value, 6);
  assert.equal(metered(x, "f", [0]).used, 5n);
  assert.equal(metered(x, "f", [0]).value, 1);
});

Deno.test("meter() charges br_if taken and not taken", async () => {
  const x = await build(`(module
    (func (export "f") (param $x i32) (result i32)
      block $b (result i32)   ;; 0
        i32.const 1           ;; 1
        local.get $x          ;; 1
        br_if $b              ;; 1   entry so far 3
        drop                  ;; fall-through region: 1
        i32.const 2           ;; 1
        i32.const 3           ;; 1
        i32.add               ;; 1   => 4
      end
      i32.const 100           ;; 1   certain continuation: folded into entry
      i32.add))               ;; 1   entry = 5
    ;; taken: 5; not taken: 5 + 4 = 9`);
  assert.deepEqual([metered(x, "f", [1]).value, metered(x, "f", [1]).used], [101, 5n]);
  assert.deepEqual([metered(x, "f", [0]).value, metered(x, "f", [0]).used], [105, 9n]);
});

Deno.test("meter() charges each br_table target's region", async () => {
  const x = await build(`(module
    (func (export "sw") (param $i i32) (result i32)
      block $d
        block $c
          block $b
            block $a
              local.get $i              ;; 1
              br_table $a $b $c $d      ;; 1   entry = 2
            end
            i32.const 10 return         ;; 2
          end
          i32.const 20 return           ;; 2
        end
        i32.const 30 return             ;; 2
      end
      i32.const 40))                    ;; 1 (a new region: the returns above escape $d)
    ;; i in 0..2: 2 + 2 = 4; otherwise 2 + 1 = 3`);
  for (
    const [i, value, used] of [[0, 10, 4n], [1, 20, 4n], [2, 30, 4n], [3, 40, 3n], [99, 40, 3n]]
  ) {
    const r = metered(x, "sw", [i]);
    assert.deepEqual([r.value, r.used], [value, used], `i = ${i}`);
  }
});

Deno.test("meter() folds nested blocks that always fall through into one charge", async () => {
  const bytes = meter(
    await wat(`(module
    (func (export "nest") (result i32) (local $x i32)
      block
        block
          i32.const 1    ;; 1
          local.set $x   ;; 1
        end
        local.get $x     ;; 1
        local.set $x     ;; 1
      end
      local.get $x))     ;; 1  => one region of 5`),
  ).bytes;
  const x = instantiate(bytes);
  assert.equal(metered(x, "nest").used, 5n);
  // Exactly one check sequence (i64.const 0; i64.lt_s; if) in the function.
  const checks = countSequence(bytes, [0x42, 0x00, 0x53, 0x04, 0x40]);
  const helperChecks = 3; // the three dynamic-charge helpers
  assert.equal(checks - helperChecks, 1);
});

function countSequence(bytes: Uint8Array, seq: number[]): number {
  let n = 0;
  for (let i = 0; i + seq.length <= bytes.length; i++) {
    if (seq.every((b, j) => bytes[i + j] === b)) n++;
  }
  return n;
}

Deno.test("meter() charges calls and call_indirect; the callee pays its own body", async () => {
  const x = await build(`(module
    (type $t (func (param i32) (result i32)))
    (table 1 funcref)
    (elem (i32.const 0) $sq)
    (func $sq (type $t)
      local.get 0 local.get 0 i32.mul)            ;; 3
    (func (export "direct") (param i32) (result i32)
      local.get 0 call $sq i32.const 1 i32.add)   ;; 1 + 4 + 1 + 1 = 7, + 3 = 10
    (func (export "indirect") (param i32) (result i32)
      local.get 0 i32.const 0 call_indirect (type $t))) ;; 1 + 1 + 6 = 8, + 3 = 11`);
  assert.deepEqual([metered(x, "direct", [7]).value, metered(x, "direct", [7]).used], [50, 10n]);
  assert.deepEqual([metered(x, "indirect", [7]).value, metered(x, "indirect", [7]).used], [
    49,
    11n,
  ]);
});

Deno.test("meter() charges recursion: fib(n) by its recurrence", async () => {
  const x = await build(`(module
    (func $fib (export "fib") (param $n i32) (result i32)
      local.get $n i32.const 2 i32.lt_u      ;; 3
      if (result i32)                        ;; 1  => entry 4
        local.get $n                         ;; then: 1
      else
        local.get $n i32.const 1 i32.sub call $fib   ;; 1 + 1 + 1 + 4 = 7
        local.get $n i32.const 2 i32.sub call $fib   ;; 7
        i32.add                                      ;; 1  => else 15
      end))`);
  // cost(n) = 5 for n < 2; cost(n) = 19 + cost(n - 1) + cost(n - 2) otherwise.
  const cost = (n: number): number => n < 2 ? 5 : 19 + cost(n - 1) + cost(n - 2);
  const fib = (n: number): number => n < 2 ? n : fib(n - 1) + fib(n - 2);
  for (const n of [0, 1, 2, 5, 10, 20]) {
    const r = metered(x, "fib", [n]);
    assert.deepEqual([r.value, r.used], [fib(n), BigInt(cost(n))], `n = ${n}`);
  }
});

Deno.test("meter() charges memory.grow per page requested, even when it fails", async () => {
  const x = await build(`(module (memory 1 10)
    (func (export "grow") (param $k i32) (result i32)
      local.get $k memory.grow))   ;; 2 + 1024 k`);
  assert.deepEqual([metered(x, "grow", [0]).value, metered(x, "grow", [0]).used], [1, 2n]);
  const r = metered(x, "grow", [3]);
  assert.deepEqual([r.value, r.used], [1, 2n + 3n * 1024n]);
  const fail = metered(x, "grow", [100]); // past the declared max: -1, still charged
  assert.deepEqual([fail.value, fail.used], [-1, 2n + 100n * 1024n]);
});

Deno.test("meter() charges bulk memory per byte, the length read as unsigned", async () => {
  const x = await build(`(module (memory 1) (data $d "hello")
    (func (export "fill") (param $n i32)
      i32.const 0 i32.const 7 local.get $n memory.fill)       ;; 4 + n
    (func (export "copy") (param $n i32)
      i32.const 100 i32.const 0 local.get $n memory.copy)     ;; 4 + n
    (func (export "init") (param $n i32)
      i32.const 200 i32.const 0 local.get $n memory.init $d)) ;; 4 + n`);
  for (const name of ["fill", "copy", "init"]) {
    for (const n of [0, 1, 5]) assert.equal(metered(x, name, [n]).used, BigInt(4 + n), name);
  }
  assert.equal(metered(x, "fill", [40_000]).used, 40_004n);
  // 0xffff_ffff bytes: charged as 4294967295, not as -1: exhausts a budget of 10⁹.
  const huge = metered(x, "fill", [-1], 1_000_000_000n);
  assert.ok(huge.error instanceof WebAssembly.RuntimeError);
  assert.equal(huge.left, 1_000_000_000n - 4n - 0xffff_ffffn);
  // With enough fuel the charge goes through and the fill traps out of bounds.
  const oob = metered(x, "fill", [-1], 1n << 40n);
  assert.ok(oob.error instanceof WebAssembly.RuntimeError);
  assert.equal(oob.used, 4n + 0xffff_ffffn);
});

Deno.test("meter() charges table.grow and table.fill per element", async () => {
  const x = await build(`(module (table $t 0 100 funcref)
    (func (export "grow") (param $n i32) (result i32)
      ref.null func local.get $n table.grow $t)               ;; 3 + n
    (func (export "fill") (param $n i32)
      i32.const 0 ref.null func local.get $n table.fill $t))  ;; 4 + n`);
  const g = metered(x, "grow", [10]);
  assert.deepEqual([g.value, g.used], [0, 13n]);
  assert.equal(metered(x, "fill", [10]).used, 14n);
});

const START = `(module
  (global $g (export "g") (mut i32) (i32.const 0))
  (func $init (local $i i32)
    loop $l                          ;; header region:
      global.get $g i32.const 3 i32.add global.set $g   ;; 4
      local.get $i i32.const 1 i32.add local.tee $i     ;; 4
      i32.const 10 i32.lt_u br_if $l                    ;; 3  => 11
    end)                             ;; after the loop: nothing
  (start $init))
;; 10 iterations x 11 = 110`;

Deno.test("meter() moves the start function to __gn_start, charged from startFuel", async () => {
  const metered = meter(await wat(START), { startFuel: 1000 });
  assert.equal(metered.hasStart, true);
  const x = instantiate(metered.bytes);
  assert.equal(x.g.value, 0, "instantiation ran no guest code");
  assert.equal(x[FUEL_EXPORTS.get](), 1000n);
  x[FUEL_EXPORTS.start]();
  assert.equal(x.g.value, 30);
  assert.equal(x[FUEL_EXPORTS.get](), 1000n - 110n);
});

Deno.test("meter() lets the start function run out of fuel", async () => {
  for (const [startFuel, ok] of [[110, true], [109, false], [0, false]] as const) {
    const x = instantiate(meter(await wat(START), { startFuel }).bytes);
    if (ok) {
      x[FUEL_EXPORTS.start]();
      assert.equal(x[FUEL_EXPORTS.get](), 0n);
    } else {
      assert.throws(() => x[FUEL_EXPORTS.start](), WebAssembly.RuntimeError);
      assert.ok(x[FUEL_EXPORTS.get]() < 0n, `startFuel ${startFuel}`);
    }
  }
});

Deno.test("meter() keeps the start section when fuel is off", async () => {
  const m = meter(await wat(START), { fuel: false });
  assert.equal(m.hasStart, false);
  assert.equal(m.fuel, false);
  const x = instantiate(m.bytes);
  assert.equal(x.g.value, 30);
  assert.equal(x[FUEL_EXPORTS.get], undefined);
});

Deno.test("meter() traps on exhaustion: the exact cost succeeds, one less fails", async () => {
  const x = await build(LOOP);
  for (const n of [0, 1, 7, 50]) {
    const cost = BigInt(13 * n + 5);
    const ok = metered(x, "sum", [n], cost);
    assert.equal(ok.error, undefined, `n = ${n}`);
    assert.equal(ok.left, 0n);
    const short = metered(x, "sum", [n], cost - 1n);
    assert.ok(short.error instanceof WebAssembly.RuntimeError, `n = ${n}`);
    assert.ok(short.left < 0n, `n = ${n}`);
  }
  // An infinite loop always ends.
  const spin = await build(`(module (func (export "spin") (loop (br 0))))`);
  const r = metered(spin, "spin", [], 1_000_000n);
  assert.ok(r.error instanceof WebAssembly.RuntimeError);
  assert.ok(r.left < 0n);
});

Deno.test("meter() tells exhaustion from other traps by the counter", async () => {
  const x = await build(`(module (func (export "boom") unreachable))`);
  const r = metered(x, "boom", [], 10n);
  assert.ok(r.error instanceof WebAssembly.RuntimeError);
  assert.equal(r.left, 9n, "a guest trap leaves the counter non-negative");
});

Deno.test("meter() is deterministic: 100 runs, one count", async () => {
  const bytes = meter(await wat(LOOP)).bytes;
  const x = instantiate(bytes);
  const counts = new Set<bigint>();
  for (let i = 0; i < 100; i++) counts.add(metered(x, "sum", [777]).used);
  for (let i = 0; i < 10; i++) counts.add(metered(instantiate(bytes), "sum", [777]).used);
  assert.deepEqual([...counts], [BigInt(13 * 777 + 5)]);
  // The rewrite itself is deterministic too.
  assert.deepEqual(meter(await wat(LOOP)).bytes, bytes);
});

Deno.test("meter() counts a tail call like a call and lets it end a region", async () => {
  const x = await build(`(module
    (func $down (export "down") (param $n i32) (result i32)
      local.get $n i32.eqz             ;; 2
      if (result i32)                  ;; 1  => entry 3
        i32.const 42                   ;; then: 1
      else
        local.get $n i32.const 1 i32.sub
        return_call $down              ;; 3 + 4 = 7
      end))
  ;; cost(n) = 4 + 10 n`);
  for (const n of [0, 1, 1000, 1_000_000]) {
    const r = metered(x, "down", [n]);
    assert.deepEqual([r.value, r.used], [42, BigInt(4 + 10 * n)], `n = ${n}`);
  }
});

Deno.test("meter() exposes the counter through __gn_fuel_get/__gn_fuel_set only", async () => {
  const m = meter(await wat(LOOP), { startFuel: 123 });
  const module = new WebAssembly.Module(m.bytes);
  assert.deepEqual(
    WebAssembly.Module.exports(module).map((e) => `${e.kind}:${e.name}`),
    ["function:sum", "function:__gn_fuel_get", "function:__gn_fuel_set"],
  );
  const x = new WebAssembly.Instance(module).exports as Exports;
  assert.equal(x[FUEL_EXPORTS.get](), 123n);
  x[FUEL_EXPORTS.set](-5n);
  assert.equal(x[FUEL_EXPORTS.get](), -5n);
});

Deno.test("meter() never lets a call return with the counter overdrawn", async () => {
  const x = await build(`(module
    (func (export "f") (param $n i32) (result i32) (local $i i32)
      loop $l                                              ;; header, each iteration:
        local.get $i i32.const 1 i32.add local.tee $i      ;; 4
        local.get $n i32.lt_u br_if $l                     ;; 3  => 7
      end
      local.get $n                                         ;; 1 } certain continuation of
      if                                                   ;; 1 } the loop: entry region
        i32.const 5 local.set $i                           ;; arm: 2 (a plain charge)
      end
      local.get $i))                                       ;; 1   entry = 3
    ;; n >= 1: 3 + 7n + 2`);
  const cost = 3n + 7n * 3n + 2n;
  const ok = metered(x, "f", [3], cost);
  assert.deepEqual([ok.value, ok.left], [5, 0n]);
  // The last charge (the arm) overdraws by one; the exit check catches it.
  const short = metered(x, "f", [3], cost - 1n);
  assert.ok(short.error instanceof WebAssembly.RuntimeError);
  assert.equal(short.left, -1n);
});

Deno.test("meter() never calls an import with the counter overdrawn", async () => {
  let ticks = 0;
  const bytes = meter(
    await wat(`(module
    (import "env" "tick" (func $tick))
    (func (export "f") (param $n i32) (local $i i32)
      loop $l
        local.get $i i32.const 1 i32.add local.tee $i
        local.get $n i32.lt_u br_if $l                ;; 7 per iteration
      end
      local.get $n
      if                                              ;; entry: 2
        call $tick                                    ;; arm: 4
      end))
    ;; n >= 1: 2 + 7n + 4`),
  ).bytes;
  const x = instantiate(bytes, { env: { tick: () => ticks++ } });
  const cost = 2n + 7n * 2n + 4n;
  assert.equal(metered(x, "f", [2], cost).left, 0n);
  assert.equal(ticks, 1);
  const short = metered(x, "f", [2], cost - 1n);
  assert.ok(short.error instanceof WebAssembly.RuntimeError);
  assert.equal(short.left, -1n);
  assert.equal(ticks, 1, "the import did not run");
});
