/**
 * The module transformer: deterministic fuel metering, memory and table
 * ceilings, and the feature gate, applied to a WebAssembly binary before it
 * is compiled.
 *
 * @module
 */

import { FUEL_EXPORTS as NAMES, REFUEL_NAMES } from "../abi/imports.ts";
import { FIRST_SLICE } from "./_encode.ts";
import { meterWith } from "./_meter.ts";

/** Options of {@linkcode meter}. */
export interface MeterOptions {
  /**
   * Instrument for fuel. When `false` only the limits and the feature gate
   * apply, and a start function stays a start function.
   *
   * @default {true}
   */
  fuel?: boolean;
  /**
   * Refuel in slices instead of trapping (with `fuel` only): the budget is
   * split into a counter holding at most {@linkcode REFUEL_IMPORT.firstSlice}
   * and a reserve; a check that finds the counter negative calls the
   * imported {@linkcode REFUEL_IMPORT} function, which returns the size of
   * the next slice, or throws to stop the guest (a host cancelling an
   * abandoned call). The counter is then topped up from the reserve; only
   * when the reserve is empty too does the check trap. The fuel burnt, and
   * where exhaustion traps, are exactly those without refuel; the
   * `__gn_fuel_get` export reports counter + reserve. Every defined function
   * moves up one index (the import comes first); the `name` section is
   * dropped.
   *
   * @default {false}
   */
  refuel?: boolean;
  /**
   * Fuel available to the start function: the counter's initial value. An
   * integer in `[0, 2⁶³ - 1]`.
   *
   * @default {100_000_000}
   */
  startFuel?: number | bigint;
  /**
   * Ceiling of every defined memory, in 64 KiB pages: its maximum becomes
   * `min(declared max, maxMemoryPages)`, or `maxMemoryPages` when none is
   * declared; an initial size above it is refused (`memory_limit`). An
   * integer in `[0, 65536]`.
   *
   * @default {65536}
   */
  maxMemoryPages?: number;
  /**
   * Ceiling of the elements of all defined tables together. A declared
   * maximum is clamped to it; the tables without one share the room the
   * others leave, on top of their initial sizes (a lone table without one
   * gets `maxTableElements`), so `table.grow` past it returns -1. Initial
   * sizes or declared maxima adding up to more are refused (`memory_limit`).
   * An integer in `[0, 2³² - 1]`.
   *
   * @default {1_000_000}
   */
  maxTableElements?: number;
  /**
   * The guest-memory budget, in bytes: what one instance may make the engine
   * hold, counted at load from the declarations at their (clamped) maxima:
   * memories (pages × 64 KiB), tables, element and data segments, globals
   * and functions, each at its {@linkcode GUEST_COSTS} figure. A module over
   * it is refused (`memory_limit`). An integer in `[0, 2⁵³ - 1]`.
   *
   * @default {maxMemoryPages × 65536 + 67_108_864} (64 MiB beyond the memory ceiling)
   */
  maxGuestBytes?: number;
}

/** What {@linkcode meter} returns. */
export interface MeteredModule {
  /** The rewritten module. */
  bytes: Uint8Array<ArrayBuffer>;
  /** Whether the module is fuel-metered (exports {@linkcode FUEL_EXPORTS}). */
  fuel: boolean;
  /** Whether the module imports {@linkcode REFUEL_IMPORT} (see {@linkcode MeterOptions.refuel}). */
  refuel: boolean;
  /** What one instance may hold, in bytes, as counted against `maxGuestBytes`. */
  guestBytes: number;
  /**
   * Whether the module had a start function that is now exported as
   * `__gn_start` instead: the host instantiates, then calls it under fuel.
   * Always `false` when `fuel` is `false` (the start section is kept).
   */
  hasStart: boolean;
  /** Whether the module imports its memory (left untouched: no ceiling applied). */
  importsMemory: boolean;
  /** Whether the module imports a table (left untouched: no ceiling applied). */
  importsTable: boolean;
}

/**
 * The export names a metered module gains: the host's only window on the
 * fuel counter, and the former start function.
 *
 * - `get`: `() -> i64`, the fuel left; negative after exhaustion.
 * - `set`: `(i64) -> ()`, sets the fuel left; the host sets a non-negative
 *   budget before each call.
 * - `start`: `() -> ()`, present when {@linkcode MeteredModule.hasStart}.
 *
 * @example Measuring a call
 * ```ts
 * import { FUEL_EXPORTS, meter } from "./mod.ts";
 * import assert from "node:assert/strict";
 * // (module (func (export "add") (param i32 i32) (result i32)
 * //   local.get 0 local.get 1 i32.add))
 * const wasm = Uint8Array.from([
 *   0, 97, 115, 109, 1, 0, 0, 0, 1, 7, 1, 96, 2, 127, 127, 1, 127, 3, 2, 1, 0,
 *   7, 7, 1, 3, 97, 100, 100, 0, 0, 10, 9, 1, 7, 0, 32, 0, 32, 1, 106, 11,
 * ]);
 * const { bytes } = meter(wasm);
 * const { instance } = await WebAssembly.instantiate(bytes);
 * const x = instance.exports as Record<string, CallableFunction>;
 * x[FUEL_EXPORTS.set](1000n);
 * assert.equal(x.add(2, 3), 5);
 * assert.equal(1000n - x[FUEL_EXPORTS.get](), 3n); // three instructions
 * ```
 */
export const FUEL_EXPORTS: {
  readonly get: "__gn_fuel_get";
  readonly set: "__gn_fuel_set";
  readonly start: "__gn_start";
} = NAMES;

/**
 * The import a module metered with {@linkcode MeterOptions.refuel} gains,
 * `() -> i64`: it returns the next slice of fuel, or throws to stop the
 * guest. Both names carry the reserved `__gn_` prefix, so no author's module
 * can declare them. `firstSlice` is what the counter holds after
 * `__gn_fuel_set` (and at start) before the first refuel.
 *
 * @example Refuelling, then stopping a loop
 * ```ts
 * import { FUEL_EXPORTS, meter, REFUEL_IMPORT } from "./mod.ts";
 * import assert from "node:assert/strict";
 * // (module (func (export "spin") (loop (br 0))))
 * const wasm = Uint8Array.from([
 *   0, 97, 115, 109, 1, 0, 0, 0, 1, 4, 1, 96, 0, 0, 3, 2, 1, 0, 7, 8, 1, 4,
 *   115, 112, 105, 110, 0, 0, 10, 9, 1, 7, 0, 3, 64, 12, 0, 11, 11,
 * ]);
 * const { bytes } = meter(wasm, { refuel: true });
 * let slices = 0;
 * const refuel = () => {
 *   if (++slices > 3) throw new Error("cancelled");
 *   return 1000n;
 * };
 * const { instance } = await WebAssembly.instantiate(bytes, {
 *   [REFUEL_IMPORT.module]: { [REFUEL_IMPORT.name]: refuel },
 * });
 * const x = instance.exports as Record<string, CallableFunction>;
 * x[FUEL_EXPORTS.set](10n ** 15n); // far more than the loop can burn here
 * assert.throws(() => x.spin(), /cancelled/);
 * assert.ok(x[FUEL_EXPORTS.get]() > 0n); // stopped, not out of fuel
 * ```
 */
export const REFUEL_IMPORT: {
  readonly module: "__gn_meter";
  readonly name: "__gn_refuel";
  readonly firstSlice: bigint;
} = Object.freeze({ ...REFUEL_NAMES, firstSlice: FIRST_SLICE });

/**
 * Rewrites a WebAssembly module for the host: checks it against the feature
 * gate, clamps memory and table maxima, checks what an instance may hold
 * against the guest-memory budget, and (by default) instruments it with
 * a deterministic fuel counter.
 *
 * The metered module keeps its imports and exports and gains
 * {@linkcode FUEL_EXPORTS}. The counter starts at `startFuel`. Each
 * straight-line region of code is charged its static cost when entered; the
 * counter is checked at least at every function entry and exit, every loop
 * iteration and before every call to an import or through a table, and a
 * check that finds it negative traps (`unreachable`) leaving it negative: after
 * a trap, `__gn_fuel_get() < 0` means "fuel exhausted". A call that returns
 * normally never leaves the counter negative, and the fuel it burnt is
 * exactly the sum of {@linkcode COSTS} of the instructions it executed plus
 * the dynamic charges, on every run: a budget of exactly that much succeeds,
 * one less traps. A trap charges its whole region, even the part that did not
 * run.
 *
 * A start function is removed from the start section and exported as
 * `__gn_start`: instantiation then runs no guest code, and the host calls
 * `__gn_start()` right after it, under the fuel of `startFuel`. Nothing can
 * run between the two (exports are only reachable through the instance the
 * host holds), so the guest observes the same order of events.
 *
 * @param bytes A WebAssembly binary module.
 * @param options Fuel and limits; see {@linkcode MeterOptions}.
 * @returns The rewritten module and what the host needs to know about it.
 * @throws {HookError} `invalid_module` for malformed bytes, an unknown opcode
 * or section, or a name starting with `__gn_`; `unsupported_feature` for
 * threads, memory64, multi-memory, GC, typed function references, exception
 * handling or relaxed SIMD; `memory_limit` when a memory or table starts over
 * its ceiling, the tables together over `maxTableElements`, or the whole
 * over `maxGuestBytes` (the error's message names the option, its `cause`
 * is `{ limit, needed, allowed }`).
 * @throws {TypeError} When `bytes` is not a `Uint8Array`.
 * @throws {RangeError} When an option is out of range.
 *
 * @example Running out of fuel
 * ```ts
 * import { FUEL_EXPORTS, meter } from "./mod.ts";
 * import assert from "node:assert/strict";
 * // (module (func (export "spin") (loop (br 0))))
 * const wasm = Uint8Array.from([
 *   0, 97, 115, 109, 1, 0, 0, 0, 1, 4, 1, 96, 0, 0, 3, 2, 1, 0, 7, 8, 1, 4,
 *   115, 112, 105, 110, 0, 0, 10, 9, 1, 7, 0, 3, 64, 12, 0, 11, 11,
 * ]);
 * const metered = meter(wasm, { maxMemoryPages: 16 });
 * const { instance } = await WebAssembly.instantiate(metered.bytes);
 * const x = instance.exports as Record<string, CallableFunction>;
 * x[FUEL_EXPORTS.set](1_000n);
 * assert.throws(() => x.spin(), WebAssembly.RuntimeError);
 * assert.ok(x[FUEL_EXPORTS.get]() < 0n); // the trap was fuel exhaustion
 * ```
 *
 * @example Refusing a feature
 * ```ts
 * import { meter } from "./mod.ts";
 * import { HookError } from "../abi/errors.ts";
 * import assert from "node:assert/strict";
 * // (module (memory 1 1 shared))
 * const wasm = Uint8Array.from([0, 97, 115, 109, 1, 0, 0, 0, 5, 4, 1, 3, 1, 1]);
 * assert.throws(
 *   () => meter(wasm),
 *   (e) => e instanceof HookError && e.code === "unsupported_feature",
 * );
 * ```
 */
export function meter(bytes: Uint8Array, options: MeterOptions = {}): MeteredModule {
  return meterWith(bytes, options, "auto");
}
