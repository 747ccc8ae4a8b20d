/**
 * The implementation behind {@linkcode meter}: option normalisation and the
 * decode → gate → validate → rewrite pipeline, with the emission mode exposed
 * for the benchmark.
 *
 * @module
 */

import {
  WasmFeatureError,
  WasmFormatError,
  WasmReservedNameError,
  WasmUnknownError,
} from "../wasm/reader.ts";
import { HookError } from "../abi/errors.ts";
import { RESERVED_PREFIX } from "../abi/imports.ts";
import { DEFAULT_GUEST_EXTRA_BYTES, GUEST_COSTS, planGuestMemory } from "./_budget.ts";
import { type ParsedModule, parseModule } from "../wasm/module.ts";
import {
  assemble,
  checkBodies,
  instrumentBodies,
  layoutOf,
  type RewriteOptions,
} from "./_encode.ts";
import type { Strategy } from "./_instrument.ts";
import type { MeteredModule, MeterOptions } from "./meter.ts";

const DEFAULT_START_FUEL = 100_000_000n;
const MAX_I64 = (1n << 63n) - 1n;

function integerOption(name: string, value: unknown, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > max) {
    throw new RangeError(
      `Cannot meter module: option "${name}" must be an integer in [0, ${
        max === Number.MAX_SAFE_INTEGER ? "2^53 - 1" : max
      }], got ${String(value)}`,
    );
  }
  return value;
}

function normalise(options: MeterOptions): RewriteOptions {
  if (options === null || typeof options !== "object") {
    throw new TypeError("Cannot meter module: options must be an object");
  }
  let startFuel = DEFAULT_START_FUEL;
  const sf = options.startFuel;
  if (sf !== undefined) {
    const ok = typeof sf === "bigint"
      ? sf >= 0n && sf <= MAX_I64
      : typeof sf === "number" && Number.isSafeInteger(sf) && sf >= 0;
    if (!ok) {
      throw new RangeError(
        `Cannot meter module: option "startFuel" must be an integer in [0, 2^63 - 1], got ${
          String(sf)
        }`,
      );
    }
    startFuel = BigInt(sf);
  }
  if (options.fuel !== undefined && typeof options.fuel !== "boolean") {
    throw new TypeError(`Cannot meter module: option "fuel" must be a boolean`);
  }
  if (options.refuel !== undefined && typeof options.refuel !== "boolean") {
    throw new TypeError(`Cannot meter module: option "refuel" must be a boolean`);
  }
  const maxMemoryPages = integerOption("maxMemoryPages", options.maxMemoryPages, 65536, 65536);
  return {
    fuel: options.fuel ?? true,
    refuel: (options.fuel ?? true) && options.refuel === true,
    startFuel,
    maxMemoryPages,
    maxTableElements: integerOption(
      "maxTableElements",
      options.maxTableElements,
      1_000_000,
      0xffff_ffff,
    ),
    maxGuestBytes: integerOption(
      "maxGuestBytes",
      options.maxGuestBytes,
      maxMemoryPages * GUEST_COSTS.memoryPage + DEFAULT_GUEST_EXTRA_BYTES,
      Number.MAX_SAFE_INTEGER,
    ),
  };
}

/**
 * Reads a module for the meter (and the module check): reserved names refused.
 *
 * @param bytes The module.
 * @returns The parsed module.
 * @throws {HookError} As {@linkcode meterError} maps what the reader throws.
 */
export function parseForMeter(bytes: Uint8Array): ParsedModule {
  try {
    return parseModule(bytes, { reservedPrefix: RESERVED_PREFIX });
  } catch (e) {
    throw meterError(e);
  }
}

/**
 * The meter's refusal for what the reader threw: a feature it does not
 * support is `unsupported_feature`, bytes it does not know, a reserved name
 * or malformed bytes `invalid_module`. Anything else is returned as is.
 *
 * @param e What was thrown.
 * @returns The error to throw.
 */
export function meterError(e: unknown): unknown {
  if (e instanceof WasmFeatureError) {
    return new HookError(
      "unsupported_feature",
      `Cannot meter module: ${e.message}; build the module without ${e.feature} ` +
        `(docs/abi.md#limits lists what is accepted)`,
    );
  }
  if (e instanceof WasmUnknownError || e instanceof WasmReservedNameError) {
    return new HookError("invalid_module", `Cannot meter module: ${e.message}`);
  }
  if (e instanceof WasmFormatError) {
    return new HookError("invalid_module", `Cannot meter module: ${e.message}`, { cause: e });
  }
  return e;
}

/**
 * `meter()` with the emission mode exposed for the benchmark.
 *
 * @param bytes The module.
 * @param options The options.
 * @param strategy The emission mode.
 * @returns The metered module.
 */
export function meterWith(
  bytes: Uint8Array,
  options: MeterOptions,
  strategy: Strategy,
): MeteredModule {
  if (!(bytes instanceof Uint8Array)) {
    throw new TypeError("Cannot meter module: bytes must be a Uint8Array");
  }
  const o = normalise(options);
  return meterParsed(parseForMeter(bytes), o, strategy);
}

/**
 * Meters a module already read by {@linkcode parseForMeter} (a load reads
 * it once, for the check and the meter).
 *
 * @param m The parsed module.
 * @param options The options.
 * @param strategy The emission mode.
 * @returns The metered module.
 */
export function meterModule(
  m: ParsedModule,
  options: MeterOptions,
  strategy: Strategy = "auto",
): MeteredModule {
  return meterParsed(m, normalise(options), strategy);
}

function meterParsed(m: ParsedModule, o: RewriteOptions, strategy: Strategy): MeteredModule {
  const bytes = m.bytes;
  try {
    const layout = layoutOf(m, strategy, o.refuel);
    let bodies: Uint8Array | null = null;
    if (o.fuel) bodies = instrumentBodies(m, layout);
    else checkBodies(m);
    const view = bytes.buffer instanceof ArrayBuffer
      ? bytes as Uint8Array<ArrayBuffer>
      : bytes.slice();
    if (!WebAssembly.validate(view)) {
      throw new HookError(
        "invalid_module",
        "Cannot meter module: the engine's validator rejects it",
      );
    }
    const plan = planGuestMemory(m, o);
    const { bytes: out, hasStart } = assemble(m, bodies, layout, o, plan);
    return {
      bytes: out,
      fuel: o.fuel,
      refuel: o.refuel,
      guestBytes: plan.bytes.total,
      hasStart,
      importsMemory: m.importedMemories > 0,
      importsTable: m.importedTables > 0,
    };
  } catch (e) {
    throw meterError(e);
  }
}
