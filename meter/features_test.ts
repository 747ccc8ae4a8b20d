// The feature gate: one refusal per exotic feature (built with wabt's
// feature flags, or assembled by hand where wabt cannot emit it), the
// reserved `__gn_` names, malformed bytes, and the accepted features.
import assert from "node:assert/strict";
import { HookError, type HookErrorCode } from "../abi/errors.ts";
import { meter } from "./mod.ts";
import { instantiate, type WabtFeatures, wat } from "./_test_util.ts";

function refuses(bytes: Uint8Array, code: HookErrorCode, pattern: RegExp): void {
  assert.throws(
    () => meter(bytes),
    (e: unknown) => {
      assert.ok(e instanceof HookError, `expected a HookError, got ${e}`);
      assert.equal(e.code, code, e.message);
      assert.match(e.message, pattern);
      return true;
    },
  );
}

/** Assembles a module from `[id, content]` sections. */
function module(...sections: [number, number[]][]): Uint8Array {
  const out = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  for (const [id, content] of sections) out.push(id, content.length, ...content);
  return Uint8Array.from(out);
}

/** A module with one `() -> ()` function whose body (after its locals) is `code`. */
function withCode(code: number[], extra: [number, number[]][] = []): Uint8Array {
  const body = [0x00, ...code];
  return module(
    [1, [1, 0x60, 0, 0]],
    [3, [1, 0]],
    ...extra,
    [10, [1, body.length, ...body]],
  );
}

const REFUSED: [string, string, WabtFeatures, RegExp][] = [
  ["threads: shared memory", `(module (memory 1 1 shared))`, { threads: true }, /threads/],
  [
    "threads: atomics",
    `(module (memory 1) (func (drop (i32.atomic.load (i32.const 0)))))`,
    { threads: true },
    /threads \(atomics\).*opcode 0xfe in function 0 at byte \d+/,
  ],
  ["memory64", `(module (memory i64 1))`, { memory64: true }, /memory64/],
  [
    "multi-memory",
    `(module (memory $a 1) (memory $b 1))`,
    { multi_memory: true },
    /multi-memory/,
  ],
  [
    "exception handling: tags",
    `(module (tag $e) (func (throw $e)))`,
    { exceptions: true },
    /exception handling/,
  ],
  [
    "exception handling: try/catch",
    `(module (func (try (do nop) (catch_all nop))))`,
    { exceptions: true },
    /exception handling.*opcode 0x06 in function 0/,
  ],
  [
    "GC: struct types",
    `(module (type $s (struct (field i32))))`,
    { gc: true, function_references: true },
    /GC.*type form 0x5f/,
  ],
  [
    "function references: typed reference parameter",
    `(module (type $t (func)) (func (param (ref $t))))`,
    { function_references: true },
    /typed function references/,
  ],
  [
    "relaxed SIMD",
    `(module (func (result v128)
       (i32x4.relaxed_trunc_f32x4_s (v128.const i32x4 0 0 0 0))))`,
    { relaxed_simd: true },
    /relaxed SIMD.*opcode 0xfd 0x101 in function 0/,
  ],
];

for (const [name, text, features, pattern] of REFUSED) {
  Deno.test(`meter() refuses ${name} (unsupported_feature)`, async () => {
    refuses(await wat(text, features), "unsupported_feature", pattern);
  });
}

Deno.test("meter() refuses hand-assembled exotic encodings", () => {
  // A memarg with the multi-memory flag (memory 0 named explicitly).
  refuses(
    withCode([0x41, 0x00, 0x28, 0x42, 0x00, 0x00, 0x1a, 0x0b], [[5, [1, 0x00, 0x01]]]),
    "unsupported_feature",
    /multi-memory.*function 0/,
  );
  // memory.size of memory 1.
  refuses(
    withCode([0x3f, 0x01, 0x1a, 0x0b], [[5, [1, 0x00, 0x01]]]),
    "unsupported_feature",
    /multi-memory/,
  );
  // A 64-bit table (limits flag 0x04).
  refuses(module([4, [1, 0x70, 0x04, 0x01]]), "unsupported_feature", /table64/);
  // A shared table.
  refuses(module([4, [1, 0x70, 0x03, 0x01, 0x01]]), "unsupported_feature", /threads/);
  // A table with an initialiser expression (function references).
  refuses(
    module([4, [1, 0x40, 0x00, 0x70, 0x00, 0x01, 0xd0, 0x70, 0x0b]]),
    "unsupported_feature",
    /typed function references/,
  );
  // A GC opcode (0xfb prefix) and ref.eq.
  refuses(withCode([0xfb, 0x00, 0x00, 0x0b]), "unsupported_feature", /GC.*opcode 0xfb/);
  refuses(withCode([0xd5, 0x0b]), "unsupported_feature", /GC/);
  // call_ref, return_call_ref, br_on_null (wabt cannot emit them).
  refuses(withCode([0x14, 0x00, 0x0b]), "unsupported_feature", /references.*opcode 0x14/);
  refuses(withCode([0x15, 0x00, 0x0b]), "unsupported_feature", /references.*opcode 0x15/);
  refuses(withCode([0xd4, 0x00, 0x0b]), "unsupported_feature", /typed function references/);
  // ref.null of a concrete type.
  refuses(withCode([0xd0, 0x00, 0x1a, 0x0b]), "unsupported_feature", /heap type index 0/);
  // try_table, throw_ref.
  refuses(withCode([0x1f, 0x40, 0x00, 0x0b, 0x0b]), "unsupported_feature", /exception/);
  refuses(withCode([0x0a, 0x0b]), "unsupported_feature", /exception/);
  // A data segment for memory 1.
  refuses(
    module([5, [1, 0x00, 0x01]], [11, [1, 0x02, 0x01, 0x41, 0x00, 0x0b, 0x00]]),
    "unsupported_feature",
    /multi-memory.*data segment 0/,
  );
  // An abstract GC heap type in a value type (anyref).
  refuses(module([1, [1, 0x60, 1, 0x6e, 0]]), "unsupported_feature", /GC/);
});

Deno.test("meter() refuses unknown opcodes and malformed bytes (invalid_module)", () => {
  refuses(withCode([0xff, 0x0b]), "invalid_module", /unknown opcode 0xff in function 0 at byte 23/);
  refuses(withCode([0x27, 0x0b]), "invalid_module", /unknown opcode 0x27/);
  refuses(withCode([0xfc, 0x12, 0x0b]), "invalid_module", /unknown opcode 0xfc 0x12/);
  refuses(withCode([0xfd, 0x9a, 0x01, 0x0b]), "invalid_module", /unknown opcode 0xfd 0x9a/);
  refuses(Uint8Array.of(1, 2, 3), "invalid_module", /magic/);
  refuses(Uint8Array.of(0, 0x61, 0x73, 0x6d, 0x0d, 0, 1, 0), "invalid_module", /version/);
  refuses(module([1, [1, 0x60, 0, 0]]).subarray(0, 12), "invalid_module", /past the end/);
  refuses(module([14, []]), "invalid_module", /unknown section id 14/);
  // Well-formed to our decoder, but invalid: a type mismatch the engine rejects.
  refuses(withCode([0x41, 0x00, 0x0b]), "invalid_module", /validator/);
  // Sections out of order.
  refuses(module([3, [0]], [1, [0]]), "invalid_module", /section order/);
});

Deno.test("meter() refuses modules that use the reserved __gn_ prefix", async () => {
  refuses(
    await wat(`(module (func (export "__gn_fuel_get") (result i64) i64.const 0))`),
    "invalid_module",
    /export "__gn_fuel_get" uses the reserved prefix "__gn_"/,
  );
  refuses(await wat(`(module (func (export "__gn_x")))`), "invalid_module", /__gn_x/);
  refuses(
    await wat(`(module (import "env" "__gn_start" (func)))`),
    "invalid_module",
    /import "__gn_start"/,
  );
  refuses(await wat(`(module (import "__gn_" "f" (func)))`), "invalid_module", /import module/);
  // With fuel off too: the namespace is reserved.
  assert.throws(
    () => meter(Uint8Array.of(...module([7, [1, 6, ...new TextEncoder().encode("__gn_a"), 2, 0]]))),
    HookError,
  );
});

Deno.test("meter() refuses bad arguments with TypeError and RangeError", async () => {
  const bytes = await wat(`(module)`);
  assert.throws(() => meter([0, 97] as unknown as Uint8Array), TypeError);
  assert.throws(() => meter(bytes, { startFuel: -1 }), RangeError);
  assert.throws(() => meter(bytes, { startFuel: 1.5 }), RangeError);
  assert.throws(() => meter(bytes, { startFuel: 1n << 63n }), RangeError);
  assert.throws(() => meter(bytes, { maxMemoryPages: 65537 }), RangeError);
  assert.throws(() => meter(bytes, { maxTableElements: -1 }), RangeError);
  assert.throws(() => meter(bytes, { fuel: "yes" as unknown as boolean }), TypeError);
  assert.equal(meter(bytes, { startFuel: (1n << 63n) - 1n }).fuel, true);
});

Deno.test("meter() accepts and preserves every supported feature", async () => {
  const text = `(module
    (type $t (func (param i32) (result i32 i32)))
    (import "env" "m" (memory 1))
    (table $f 2 funcref) (table $e 1 externref)
    (global $g (mut i64) (i64.add (i64.const 40) (i64.const 2)))
    (elem declare func $multi)
    (data $d "abc")
    (func $multi (type $t) local.get 0 local.get 0)
    (func (export "all") (param $x i32) (result i32) (local $v v128)
      local.get $x i32.extend8_s drop
      f64.const 1e300 i32.trunc_sat_f64_s drop
      i32.const 0 i32.const 0 i32.const 3 memory.init $d data.drop $d
      i32.const 8 i32.const 0 i32.const 3 memory.copy
      ref.func $multi ref.is_null drop
      i32.const 1 i32.const 2 local.get $x select (result i32) drop
      v128.const i8x16 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 local.tee $v
      local.get $v i8x16.shuffle 15 14 13 12 11 10 9 8 7 6 5 4 3 2 1 0
      i8x16.extract_lane_u 0 drop
      local.get $x call $multi i32.add
      local.get $x return_call $multi2)
    (func $multi2 (param i32) (result i32) local.get 0))`;
  const metered = meter(await wat(text));
  assert.ok(WebAssembly.validate(metered.bytes));
  assert.equal(metered.importsMemory, true);
  assert.equal(metered.importsTable, false);
  const x = instantiate(metered.bytes, { env: { m: new WebAssembly.Memory({ initial: 1 }) } });
  x.__gn_fuel_set(1000n);
  assert.equal(x.all(21), 21);
});
