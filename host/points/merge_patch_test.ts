import assert from "node:assert/strict";
import { jsonEqual, mergePatch, patchLeaves } from "./merge_patch.ts";

// RFC 7396, Appendix A: [target, patch, result].
const RFC_CASES: [unknown, unknown, unknown][] = [
  [{ a: "b" }, { a: "c" }, { a: "c" }],
  [{ a: "b" }, { b: "c" }, { a: "b", b: "c" }],
  [{ a: "b" }, { a: null }, {}],
  [{ a: "b", b: "c" }, { a: null }, { b: "c" }],
  [{ a: ["b"] }, { a: "c" }, { a: "c" }],
  [{ a: "c" }, { a: ["b"] }, { a: ["b"] }],
  [{ a: { b: "c" } }, { a: { b: "d", c: null } }, { a: { b: "d" } }],
  [{ a: [{ b: "c" }] }, { a: [1] }, { a: [1] }],
  [["a", "b"], ["c", "d"], ["c", "d"]],
  [{ a: "b" }, ["c"], ["c"]],
  [{ a: "foo" }, null, null],
  [{ a: "foo" }, "bar", "bar"],
  [{ e: null }, { a: 1 }, { e: null, a: 1 }],
  [[1, 2], { a: "b", c: null }, { a: "b" }],
  [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
];

Deno.test("mergePatch: RFC 7396 appendix A", () => {
  for (const [target, patch, result] of RFC_CASES) {
    assert.deepEqual(mergePatch(target, patch), result, JSON.stringify([target, patch]));
  }
});

Deno.test("mergePatch: never mutates its inputs; arrays inside are replaced whole", () => {
  const target = { a: { b: [1, 2, 3], c: 1 } };
  const patch = { a: { b: [9] } };
  const out = mergePatch(target, patch) as { a: { b: number[]; c: number } };
  assert.deepEqual(out, { a: { b: [9], c: 1 } });
  assert.deepEqual(target, { a: { b: [1, 2, 3], c: 1 } });
  assert.deepEqual(patch, { a: { b: [9] } });
  assert.notEqual(out.a, target.a);
});

Deno.test("mergePatch: __proto__ keys are data, not prototypes", () => {
  const patch = JSON.parse('{"__proto__":{"polluted":1}}');
  const out = mergePatch({}, patch) as Record<string, unknown>;
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.equal(Object.getPrototypeOf(out), Object.prototype);
});

Deno.test("jsonEqual and patchLeaves", () => {
  assert.equal(jsonEqual([1, [2]], [1, [2]]), true);
  assert.equal(jsonEqual([1, [2]], [1, [3]]), false);
  assert.equal(jsonEqual({ a: undefined }, { b: undefined }), false);
  const shape = patchLeaves({ a: { b: 1, "c/d": null, x: {} }, e: [1] });
  assert.deepEqual([...shape.leaves], [["/a/b", 1], ["/a/c~1d", null], ["/e", [1]]]);
  assert.deepEqual([...shape.inner], ["/a"]);
  assert.deepEqual([...patchLeaves("whole").leaves], [["", "whole"]]);
});

Deno.test("patchLeaves: too deep or too wide is a RangeError", () => {
  let deep: Record<string, unknown> = { leaf: 1 };
  for (let i = 0; i < 64; i++) deep = { a: deep };
  assert.throws(() => patchLeaves(deep), RangeError);
  const wide = Object.fromEntries(Array.from({ length: 10_001 }, (_, i) => [`k${i}`, i]));
  assert.throws(() => patchLeaves(wide), RangeError);
  const { k0: _, ...fits } = wide;
  assert.equal(patchLeaves(fits).leaves.size, 10_000);
});
