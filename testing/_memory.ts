/**
 * The leak check of the conformance suite (GN-LEAK-1): runs a plugin's
 * already checked and metered module in-process, in a {@linkcode Guest} (the
 * same code that serves calls in its worker), and reads its memory size,
 * which a worker does not report. Host imports are local stand-ins: logs and
 * events and sink items are dropped, state lives in a map, the clock is fixed; the WASI
 * subset is the worker's own (without `log`, so output is discarded).
 *
 * @module
 */

import { HookError, type HookErrorCode } from "../abi/errors.ts";
import { Status } from "../abi/status.ts";
import { Guest, type ImportFactory } from "../workers/guest.ts";
import { wasiImports } from "../workers/_wasi.ts";
import type { Capability } from "../abi/imports.ts";

const utf8 = new TextDecoder();
const ANSWERS: ReadonlySet<HookErrorCode> = new Set(["guest_error", "bad_payload", "unknown_hook"]);

/** Stand-ins for the `env` host imports: enough for a plugin to run as it would in its worker. */
function standIns(): Record<string, ImportFactory> {
  const state = new Map<string, Uint8Array>();
  const key = (ctx: Parameters<ImportFactory>[0], p: number, n: number) => {
    const b = ctx.read(p, n, 4096);
    return b === undefined ? undefined : utf8.decode(b);
  };
  return {
    gn_log: () => () => {},
    gn_time_ms: () => () => 0n,
    gn_fuel_remaining: (ctx) => () => ctx.fuelLeft() ?? -1n,
    gn_event_emit: () => () => Status.ok,
    gn_sink_append: () => () => Status.ok,
    gn_state_get: (ctx) => (kp: number, kl: number) => {
      const k = key(ctx, kp, kl);
      if (k === undefined) return BigInt.asUintN(32, BigInt(Status.bad_payload));
      const v = state.get(k);
      if (v === undefined || v.length === 0) return 0n;
      const ptr = ctx.write(v);
      if (ptr === 0) return BigInt.asUintN(32, BigInt(Status.out_of_memory));
      return (BigInt(ptr) << 32n) | BigInt(v.length);
    },
    gn_state_set: (ctx) => (kp: number, kl: number, vp: number, vl: number) => {
      const k = key(ctx, kp, kl);
      const v = ctx.read(vp, vl, 1 << 20);
      if (k === undefined || v === undefined) return Status.bad_payload;
      state.set(k, v.slice());
      return Status.ok;
    },
    gn_state_del: (ctx) => (kp: number, kl: number) => {
      const k = key(ctx, kp, kl);
      if (k === undefined) return Status.bad_payload;
      state.delete(k);
      return Status.ok;
    },
  };
}

/** What {@linkcode memoryGrowth} measured. */
export interface MemoryGrowth {
  /** Memory after the warm-up calls, in bytes. */
  afterWarmup: number;
  /** Memory after every call, in bytes. */
  after: number;
  /** The first failure of a call, if any (the calls stop there). */
  error?: unknown;
}

/**
 * Calls one hook `calls` times with the same payload in-process and reports
 * the memory after the first tenth (the warm-up) and at the end.
 *
 * @param module The plugin's compiled (metered) module.
 * @param options Plugin name, grants, fuel, hook, payload, number of calls.
 * @returns The memory sizes.
 */
export function memoryGrowth(
  module: WebAssembly.Module,
  options: {
    plugin: string;
    granted: readonly Capability[];
    fuel: number | undefined;
    hook: string;
    payload: string;
    calls: number;
  },
): MemoryGrowth {
  const granted = options.granted.filter((g) => g !== "log");
  const importNames = WebAssembly.Module.imports(module).filter((i) => i.module === "env")
    .map((i) => i.name);
  const init = {
    plugin: options.plugin,
    granted,
    maxLogsPerCall: 0,
    wasiRandom: "seeded" as const,
  };
  const guest = new Guest(module, {
    plugin: options.plugin,
    maxPayloadBytes: 1 << 30,
    maxResponseBytes: 1 << 30,
    fuel: options.fuel === undefined ? undefined : BigInt(options.fuel),
    importNames,
    imports: standIns(),
    wasi: granted.includes("wasi") ? wasiImports(init, { logs: 0 }, () => {}) : undefined,
  });
  const warmup = Math.max(1, Math.floor(options.calls / 10));
  let afterWarmup = guest.memoryBytes();
  for (let i = 0; i < options.calls; i++) {
    try {
      guest.callText(options.hook, options.payload);
    } catch (error) {
      // A guest status is an answer; anything else (out of memory included) stops the run.
      if (!(error instanceof HookError && ANSWERS.has(error.code))) {
        return { afterWarmup, after: guest.memoryBytes(), error };
      }
    }
    if (i + 1 === warmup) afterWarmup = guest.memoryBytes();
  }
  return { afterWarmup, after: guest.memoryBytes() };
}
