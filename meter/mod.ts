/**
 * WebAssembly module transformer of the gn plugin host: a deterministic fuel
 * meter with a cost model of our own, memory and table ceilings, a
 * guest-memory budget, and a
 * fail-closed feature gate, applied to a module's bytes before it is
 * compiled.
 *
 * @example Metering a module
 * ```ts
 * import { COSTS, FUEL_EXPORTS, meter } from "./mod.ts";
 * import assert from "node:assert/strict";
 * // (module (func (export "add") (param i32 i32) (result i32)
 * //   local.get 0 local.get 1 i32.add))
 * const wasm = Uint8Array.from([
 *   0, 97, 115, 109, 1, 0, 0, 0, 1, 7, 1, 96, 2, 127, 127, 1, 127, 3, 2, 1, 0,
 *   7, 7, 1, 3, 97, 100, 100, 0, 0, 10, 9, 1, 7, 0, 32, 0, 32, 1, 106, 11,
 * ]);
 * const metered = meter(wasm, { startFuel: 0 });
 * const { instance } = await WebAssembly.instantiate(metered.bytes);
 * const x = instance.exports as Record<string, CallableFunction>;
 * x[FUEL_EXPORTS.set](100n);
 * assert.equal(x.add(40, 2), 42);
 * assert.equal(x[FUEL_EXPORTS.get](), 100n - 3n * BigInt(COSTS.instruction));
 * ```
 *
 * @module
 */

export { COST_MODEL_VERSION, COSTS } from "./costs.ts";
export { FUEL_EXPORTS, meter, REFUEL_IMPORT } from "./meter.ts";
export { GUEST_COSTS } from "./_budget.ts";
export type { MeteredModule, MeterOptions } from "./meter.ts";
