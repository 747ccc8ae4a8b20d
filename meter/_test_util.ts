/**
 * Helpers shared by the meter's tests and benchmark: WAT assembly through
 * npm:wabt, instantiation, and fuel measurement.
 *
 * @module
 */

import { FUEL_EXPORTS } from "./meter.ts";

/** wabt feature flags, as `parseWat` takes them. */
export type WabtFeatures = Partial<
  Record<
    | "exceptions"
    | "simd"
    | "threads"
    | "function_references"
    | "multi_value"
    | "tail_call"
    | "bulk_memory"
    | "reference_types"
    | "gc"
    | "memory64"
    | "multi_memory"
    | "extended_const"
    | "relaxed_simd",
    boolean
  >
>;

interface WabtModule {
  toBinary(options: Record<string, unknown>): { buffer: Uint8Array };
  toText(options: Record<string, unknown>): string;
  validate(features?: WabtFeatures): void;
  destroy(): void;
}
interface Wabt {
  parseWat(name: string, text: string, features: WabtFeatures): WabtModule;
  readWasm(bytes: Uint8Array, options: WabtFeatures & { readDebugNames?: boolean }): WabtModule;
}

let wabtPromise: Promise<Wabt> | undefined;

/** Features every test module may use. */
const BASE: WabtFeatures = {
  simd: true,
  bulk_memory: true,
  reference_types: true,
  multi_value: true,
  tail_call: true,
  extended_const: true,
};

/**
 * Assembles WAT text into a binary module.
 *
 * @param text The module in the text format.
 * @param features Extra wabt features.
 * @param options `debugNames`: write a `name` section.
 * @returns The binary.
 */
export async function wat(
  text: string,
  features: WabtFeatures = {},
  options: { debugNames?: boolean } = {},
): Promise<Uint8Array<ArrayBuffer>> {
  const wabt = await loadWabt();
  const m = wabt.parseWat("test.wat", text, { ...BASE, ...features });
  try {
    return Uint8Array.from(
      m.toBinary(options.debugNames ? { write_debug_names: true } : {}).buffer,
    );
  } finally {
    m.destroy();
  }
}

function loadWabt(): Promise<Wabt> {
  wabtPromise ??= import("wabt").then((mod) => (mod.default as () => Promise<Wabt>)());
  return wabtPromise;
}

/**
 * Decodes a binary module with wabt, validates it there, and prints it.
 *
 * @param bytes A module.
 * @returns Its text format.
 * @throws {Error} When wabt cannot read or validate it.
 */
export async function toWat(bytes: Uint8Array): Promise<string> {
  const wabt = await loadWabt();
  const m = wabt.readWasm(bytes, { ...BASE, readDebugNames: true });
  try {
    m.validate(BASE);
    return m.toText({ foldExprs: false, inlineExport: false });
  } finally {
    m.destroy();
  }
}

/** The exports of an instance, callable. */
// deno-lint-ignore no-explicit-any
export type Exports = Record<string, any>;

/**
 * Instantiates `bytes` synchronously.
 *
 * @param bytes A module.
 * @param imports Its imports.
 * @returns The exports.
 */
export function instantiate(
  bytes: Uint8Array<ArrayBuffer>,
  imports: WebAssembly.Imports = {},
): Exports {
  const module = new WebAssembly.Module(bytes);
  return new WebAssembly.Instance(module, imports).exports as Exports;
}

/** A generous budget for tests that are not about exhaustion. */
export const BIG_BUDGET = 1n << 50n;

/** The outcome of one metered call. */
export interface Metered {
  /** The return value, or `undefined` on a trap. */
  value?: unknown;
  /** The trap, if any. */
  error?: unknown;
  /** Fuel burnt: budget − counter after. */
  used: bigint;
  /** The counter after the call. */
  left: bigint;
}

/**
 * Calls `name` on a metered instance under `budget` and measures the fuel.
 *
 * @param x The exports of a metered instance.
 * @param name The export to call.
 * @param args Its arguments.
 * @param budget The fuel to set before the call.
 * @returns What happened.
 */
export function metered(
  x: Exports,
  name: string,
  args: unknown[] = [],
  budget: bigint = BIG_BUDGET,
): Metered {
  x[FUEL_EXPORTS.set](budget);
  let value: unknown;
  let error: unknown;
  try {
    value = x[name](...args);
  } catch (e) {
    error = e;
  }
  const left = x[FUEL_EXPORTS.get]() as bigint;
  return error === undefined
    ? { value, used: budget - left, left }
    : { error, used: budget - left, left };
}

/** A deterministic PRNG (mulberry32): the same seed gives the same sequence. */
export function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
