/**
 * The host imports (docs/abi.md#host-imports) and the capability tokens that grant them.
 * Pure data: the worker builds its import object from this table, and the
 * load-time check refuses any import it does not cover.
 *
 * @module
 */

import type { FuncType, ValType } from "../wasm/reader.ts";

/**
 * Every capability token a manifest can declare (docs/abi.md#host-imports), in table order.
 *
 * @example Checking a token
 * ```ts
 * import { CAPABILITIES } from "./imports.ts";
 * import assert from "node:assert/strict";
 * assert.ok(CAPABILITIES.includes("log"));
 * ```
 */
export const CAPABILITIES: readonly ["log", "clock", "state", "emit", "fuel", "sink", "wasi"] = [
  "log",
  "clock",
  "state",
  "emit",
  "fuel",
  "sink",
  "wasi", // the WASI preview 1 subset of abi/wasi.ts (docs/abi.md#wasi-ext)
];

/** One of {@linkcode CAPABILITIES}. */
export type Capability = typeof CAPABILITIES[number];

/**
 * The name of every host import: the worker's implementation table is keyed
 * by it, so an import in {@linkcode HOST_IMPORTS} without an implementation
 * is a type error.
 */
export type HostImportName =
  | "gn_panic"
  | "gn_error_set"
  | "gn_log"
  | "gn_time_ms"
  | "gn_state_get"
  | "gn_state_set"
  | "gn_state_del"
  | "gn_event_emit"
  | "gn_fuel_remaining"
  | "gn_sink_append";

/** One host import: its name in module `"env"`, signature and granting token. */
export interface HostImportSpec {
  /** The import name in module `"env"`. */
  name: HostImportName;
  /** The exact signature. */
  type: FuncType;
  /** The token that grants it; `null` for the always-granted imports. */
  token: Capability | null;
}

const sig = (params: ValType[], results: ValType[] = []): FuncType => ({ params, results });

/** The host import table, docs/abi.md#host-imports: one row per {@linkcode HostImportName}. */
export const HOST_IMPORTS: readonly HostImportSpec[] = [
  { name: "gn_panic", type: sig(["i32", "i32"]), token: null },
  { name: "gn_error_set", type: sig(["i32", "i32"]), token: null },
  { name: "gn_log", type: sig(["i32", "i32", "i32"]), token: "log" },
  { name: "gn_time_ms", type: sig([], ["i64"]), token: "clock" },
  { name: "gn_state_get", type: sig(["i32", "i32"], ["i64"]), token: "state" },
  { name: "gn_state_set", type: sig(["i32", "i32", "i32", "i32"], ["i32"]), token: "state" },
  { name: "gn_state_del", type: sig(["i32", "i32"], ["i32"]), token: "state" },
  { name: "gn_event_emit", type: sig(["i32", "i32", "i32", "i32"], ["i32"]), token: "emit" },
  { name: "gn_fuel_remaining", type: sig([], ["i64"]), token: "fuel" },
  {
    name: "gn_sink_append",
    type: sig(["i32", "i32", "i32", "i32", "i32"], ["i32"]),
    token: "sink",
  },
];

/** The module every host import lives in. */
export const HOST_IMPORT_MODULE = "env";

/** The exports a plugin must have (docs/abi.md#exports), with their exact signatures. */
export const REQUIRED_EXPORTS: readonly { name: string; type: FuncType | "memory" }[] = [
  { name: "memory", type: "memory" },
  { name: "gn_alloc", type: sig(["i32"], ["i32"]) },
  { name: "gn_free", type: sig(["i32", "i32"]) },
  { name: "gn_handle_hook", type: sig(["i32", "i32", "i32", "i32"], ["i64"]) },
];

/** The optional ABI version export (docs/abi.md#versioning, an extension). */
export const ABI_VERSION_EXPORT: { name: string; type: FuncType } = {
  name: "gn_abi_version",
  type: sig([], ["i32"]),
};

/**
 * Names of the exports the fuel meter adds to a module (`meter/`) and the
 * worker calls: the counter's getter and setter, and the start function the
 * meter moved out of the start section.
 */
export const FUEL_EXPORTS: {
  readonly get: "__gn_fuel_get";
  readonly set: "__gn_fuel_set";
  readonly start: "__gn_start";
} = Object.freeze({
  get: "__gn_fuel_get",
  set: "__gn_fuel_set",
  start: "__gn_start",
});

/**
 * The import the fuel meter adds to a module metered with refuel
 * (`() -> i64`, the next slice of fuel) and the worker provides.
 */
export const REFUEL_NAMES: { readonly module: "__gn_meter"; readonly name: "__gn_refuel" } = Object
  .freeze({ module: "__gn_meter", name: "__gn_refuel" });

/** The prefix reserved for what the host adds to a module: a module using it is refused. */
export const RESERVED_PREFIX = "__gn_";
