/**
 * The messages between the host and a plugin's worker (one half of the
 * channel's contract; the shared-memory layout is the other, in
 * `layout.ts`). Plain records only: errors travel as
 * {@linkcode HookErrorRecord}s and become `HookError`s on the host side.
 *
 * @module
 */

import type { HookErrorRecord } from "../abi/errors.ts";
import type { Capability } from "../abi/imports.ts";

/** The outcome of one isolation probe inside the worker. */
export type ProbeOutcome = "denied" | "allowed" | `error: ${string}`;

/** What the worker's isolation self-test found. */
export interface IsolationReport {
  /**
   * One entry per enforced probe, each must be `denied`: read, net, env, run,
   * queried write/ffi/sys, `fileImport` (when loaded from `file:`), and the
   * closed globals `worker`, `broadcastChannel`, `blobUrl`.
   */
  probes: Record<string, ProbeOutcome>;
  /**
   * What JS in the worker can still do, reported, not enforced (the guest is
   * wasm and reaches no JS): `dataImport`, a `data:` URL import, which is
   * equivalent to `eval`.
   */
  open?: { dataImport: boolean };
}

/** The shared buffer of a plugin's state requests, and its quotas. */
export interface StateChannel {
  buffer: SharedArrayBuffer;
  maxKeyBytes: number;
  maxValueBytes: number;
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
  /** WASI `random_get`: a PRNG seeded from the plugin name, or the worker's crypto source. */
  wasiRandom?: "seeded" | "crypto";
  /** Event names the host approved for `gn_event_emit`. */
  events: string[];
  /** Caps on events: bytes of one event, events and bytes per call. */
  maxEventBytes: number;
  maxEventsPerCall: number;
  /** Most `gn_log` lines per call; one notice replaces the rest. */
  maxLogsPerCall: number;
  maxEventBytesPerCall: number;
  /** Item kinds `gn_sink_append` accepts (capability `sink`). */
  sinkKinds?: string[];
  /** The state channel, when `state` is granted. */
  state?: StateChannel;
  /** How long a state request may wait for the host, in ms. */
  hostCallTimeoutMs: number;
  /** The shared-memory call channel and the process-wide spinner budget, when used. */
  channel?: { buffer: SharedArrayBuffer; spin: SharedArrayBuffer };
  /**
   * One i32 the host sets to 1 when it abandons the worker (timeout, crash,
   * close): from then on every host import traps, so a guest that calls the
   * host stops at its next call.
   */
  cancel: SharedArrayBuffer;
}

/** Host → worker: one hook call. */
export interface CallMessage {
  type: "call";
  id: number;
  hook: string;
  payload: string;
}

/**
 * Host → worker: the call channel of a plugin that may follow this one in a
 * filter chain (the chain hand-off, `relay.ts`). Sent once per pair of
 * workers, while the channel is idle.
 */
export interface LinkMessage {
  type: "link";
  /** The id a request's `forward` slot names it by; never 0. */
  id: number;
  buffer: SharedArrayBuffer;
}

/** Worker → host. */
export type WorkerReply =
  | {
    type: "log";
    hook: string | undefined;
    level: "debug" | "info" | "warn" | "error";
    message: string;
    invalid?: "pointer" | "level" | "truncated";
  }
  | { type: "event"; hook: string | undefined; name: string; data: string }
  | { type: "sink"; hook: string | undefined; handle: number; kind: string; data: string }
  | { type: "state" }
  | { type: "booted"; isolation: IsolationReport }
  | { type: "ready"; isolation: IsolationReport }
  | { type: "failed"; isolation: IsolationReport; error: HookErrorRecord }
  | { type: "done"; id: number; body: string | null; fuel?: bigint }
  | { type: "body"; seq: number; body: Uint8Array }
  | { type: "error"; id: number; error: HookErrorRecord; fuel?: bigint };
