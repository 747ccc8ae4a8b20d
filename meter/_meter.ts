/**
 * The implementation behind {@linkcode meter}: option normalisation and the
 * decode → gate → validate → rewrite pipeline, with the emission mode exposed
 * for the benchmark.
 *
 * @module
 */

import { WasmFormatError } from "../abi/_wasm_reader.ts";
import { HookError } from "../abi/errors.ts";
import { DEFAULT_GUEST_EXTRA_BYTES, GUEST_COSTS, planGuestMemory } from "./_budget.ts";
import { parseModule } from "./_decode.ts";
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
  try {
    const m = parseModule(bytes);
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
    if (e instanceof WasmFormatError) {
      throw new HookError("invalid_module", `Cannot meter module: ${e.message}`, { cause: e });
    }
    throw e;
  }
}
