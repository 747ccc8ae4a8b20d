/**
 * The messages between the host and a plugin's worker. Plain records only:
 * errors travel as {@linkcode HookErrorRecord}s and become `HookError`s on
 * the host side.
 *
 * @module
 */

import type { HookErrorRecord } from "../abi/errors.ts";
import type { Capability } from "../abi/imports.ts";

/** The outcome of one isolation probe inside the worker. */
export type ProbeOutcome = "denied" | "allowed" | `error: ${string}`;

/** What the worker's isolation self-test found. */
export interface IsolationReport {
  /** One entry per attempted operation: read, net, env, run, plus queried write/ffi/sys. */
  probes: Record<string, ProbeOutcome>;
}

/** Host → worker: start the plugin. */
export interface InitMessage {
  type: "init";
  plugin: string;
  module: WebAssembly.Module;
  importNames: string[];
  granted: Capability[];
  maxPayloadBytes: number;
  maxResponseBytes: number;
  /** Fuel per call when the module is metered. */
  fuel?: number;
  /** Whether `gn_abi_version` must be called to learn the version. */
  checkAbiVersion: boolean;
}

/** Host → worker: one hook call. */
export interface CallMessage {
  type: "call";
  id: number;
  hook: string;
  payload: string;
}

/** Worker → host. */
export type WorkerReply =
  | { type: "ready"; isolation: IsolationReport }
  | { type: "failed"; isolation: IsolationReport; error: HookErrorRecord }
  | { type: "done"; id: number; body: string | null; fuel?: bigint }
  | { type: "error"; id: number; error: HookErrorRecord; fuel?: bigint };
