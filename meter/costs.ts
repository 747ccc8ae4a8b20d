/**
 * The cost model of the fuel meter: what each WebAssembly instruction costs.
 * It is ours, fixed, and versioned: the same module and input always burn the
 * same fuel, on every engine and every version of this package that reports
 * the same {@linkcode COST_MODEL_VERSION}.
 *
 * @module
 */

/**
 * The fuel price list.
 *
 * | instruction | fuel |
 * |---|---|
 * | `block`, `loop`, `else`, `end` (structure, no machine code) | `structure` = 0 |
 * | `call`, `return_call` | `call` = 4 |
 * | `call_indirect`, `return_call_indirect` | `callIndirect` = 6 |
 * | any other instruction (incl. `nop`, `br*`, `if`, `return`, `unreachable`, SIMD) | `instruction` = 1 |
 * | `memory.grow` | `instruction` + `memoryGrowPage` × pages requested |
 * | `memory.fill`, `memory.copy`, `memory.init` | `instruction` + `bulkByte` × length |
 * | `table.fill`, `table.copy`, `table.init`, `table.grow` | `instruction` + `tableElement` × count |
 *
 * Static costs are charged per straight-line region, up front, when the
 * region is entered; dynamic costs (the "×" terms, the operand read as an
 * unsigned 32-bit integer) are charged just before the instruction runs,
 * even if it then fails (`memory.grow` returning -1, an out-of-bounds trap).
 *
 * @example Reading a price
 * ```ts
 * import { COSTS } from "./costs.ts";
 * import assert from "node:assert/strict";
 * // local.get 0; local.get 1; i32.add  =>  3 fuel
 * assert.equal(3 * COSTS.instruction, 3);
 * assert.equal(COSTS.structure, 0);
 * ```
 */
export const COSTS: Readonly<{
  /** Any instruction not listed below. */
  instruction: 1;
  /** `block`, `loop`, `else`, `end`: pure structure. */
  structure: 0;
  /** `call` and `return_call` (the callee pays for its own body). */
  call: 4;
  /** `call_indirect` and `return_call_indirect`. */
  callIndirect: 6;
  /** Per 64 KiB page requested by `memory.grow`, on top of `instruction`. */
  memoryGrowPage: 1024;
  /** Per byte of `memory.fill` / `memory.copy` / `memory.init`, on top of `instruction`. */
  bulkByte: 1;
  /** Per element of `table.fill` / `table.copy` / `table.init` / `table.grow`. */
  tableElement: 1;
}> = Object.freeze({
  instruction: 1,
  structure: 0,
  call: 4,
  callIndirect: 6,
  memoryGrowPage: 1024,
  bulkByte: 1,
  tableElement: 1,
});

/**
 * The version of the cost model ({@linkcode COSTS} and the charging rules).
 * Bumped whenever a module's fuel consumption for some input could change;
 * callers may use it in cache keys of metered modules.
 *
 * @example Keying a cache
 * ```ts
 * import { COST_MODEL_VERSION } from "./costs.ts";
 * import assert from "node:assert/strict";
 * const key = `sha256:abc/fuel-v${COST_MODEL_VERSION}`;
 * assert.equal(key, "sha256:abc/fuel-v1");
 * ```
 */
export const COST_MODEL_VERSION = 1;
