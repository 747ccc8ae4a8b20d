/**
 * Module preparation at load: the structural check, the fuel meter and the
 * compile. The check and the meter are linear in the module's size (about
 * 0.1 s per MiB of code for the meter) and V8 finishes a compile on the
 * calling thread, so a large module is prepared in a worker of the host's own
 * (not a plugin worker) and the host's event loop keeps running meanwhile.
 *
 * @module
 */

import { HookError, type HookErrorRecord } from "../abi/errors.ts";
import type { Capability } from "../abi/imports.ts";
import { checkModule, readModule } from "../abi/module_check.ts";
import type { MeterOptions } from "../meter/mod.ts";
import { meterModule } from "../meter/_meter.ts";

/** Modules up to this size are prepared on the calling thread (a few ms at most). */
export const PREPARE_INLINE_BYTES = 256 * 1024;

/** What preparing a module yields. */
export interface Prepared {
  /** The names of the `env` imports the module uses. */
  imports: string[];
  /** The constant ABI version, `1` when absent, `undefined` when it must be called. */
  abiVersion: number | undefined;
  /** Whether `gn_abi_version` is exported. */
  hasAbiVersionExport: boolean;
  /** The metered and compiled module, when metering was asked for. */
  module?: WebAssembly.Module;
}

/** What is prepared, and how. */
export interface PrepareRequest {
  /** The module bytes (not modified; copied when sent to a worker). */
  bytes: Uint8Array;
  /** The plugin name, for errors. */
  plugin: string;
  /** The capability tokens granted. */
  granted: Capability[];
  /** Meter options, then compile; absent: check only. */
  meter?: MeterOptions;
  /** How long the compile may take, in ms. */
  compileTimeoutMs: number;
}

/** What the preparing worker posts: `compiling` when its compile starts, then the outcome. */
export type PrepareReply =
  | { type: "compiling" }
  | { type: "done"; prepared: Prepared }
  | { type: "failed"; error: HookErrorRecord | { message: string } };

/**
 * Checks and meters a module on this thread.
 *
 * @returns The report, and the metered bytes when metering was asked for.
 * @throws {HookError} Every refusal, naming the plugin.
 */
export function checkAndMeter(
  request: PrepareRequest,
): { prepared: Prepared; metered?: Uint8Array<ArrayBuffer> } {
  const { bytes, plugin } = request;
  // Read once: the check and the meter work from the same parsed module.
  const parsed = readModule(bytes, plugin);
  const report = checkModule(parsed, { plugin, granted: new Set(request.granted) });
  const prepared: Prepared = {
    imports: report.imports,
    abiVersion: report.abiVersion,
    hasAbiVersionExport: report.hasAbiVersionExport,
  };
  if (request.meter === undefined) return { prepared };
  try {
    return { prepared, metered: meterModule(parsed, request.meter).bytes };
  } catch (cause) {
    throw loadRefusal(plugin, cause, request.meter.maxMemoryPages);
  }
}

/** A refusal of the meter, as a load refusal naming the plugin. */
function loadRefusal(plugin: string, cause: unknown, pages: number | undefined): unknown {
  if (!(cause instanceof HookError)) return cause;
  return new HookError(
    cause.code,
    `Cannot load plugin "${plugin}": ${cause.message}${raiseHint(cause, pages)}`,
    { plugin, cause },
  );
}

/** Which manifest key or host option raises each ceiling of the meter. */
const RAISED_BY: ReadonlyMap<unknown, string> = new Map([
  [
    "maxMemoryPages",
    "raising `memory_pages` under `[limits]` in plugin.toml (the host clamps it to its " +
    "limits.memoryPages ceiling) or declaring a smaller initial memory",
  ],
  [
    "maxTableElements",
    `"table_elements" in the manifest's [limits], up to the host's limits.tableElements`,
  ],
  ["maxGuestBytes", "the host's maxGuestBytes option"],
]);

/** For a `memory_limit` refusal of the meter: what raises the ceiling it hit. */
function raiseHint(e: HookError, pages: number | undefined): string {
  const detail = e.cause as { limit?: unknown } | undefined;
  const by = RAISED_BY.get(detail?.limit);
  if (e.code !== "memory_limit" || by === undefined) return "";
  return detail?.limit === "maxMemoryPages"
    ? `; raise \`memory_pages\` under \`[limits]\` in plugin.toml (now ${pages}; the host clamps it to its limits.memoryPages ceiling) or declare a smaller initial memory`
    : `; raised by ${by}`;
}

/** The `invalid_module` error of a module that does not compile. */
export function notCompiling(plugin: string, cause: unknown): HookError {
  return new HookError(
    "invalid_module",
    `Cannot load plugin "${plugin}": the module does not compile: ${(cause as Error).message}`,
    { plugin, cause },
  );
}

function compileTimeout(plugin: string, ms: number): HookError {
  return new HookError(
    "timeout",
    `Cannot load plugin "${plugin}": compiling it took longer than ${ms} ms; raise \`timeout_ms\` under \`[limits]\` in plugin.toml (the host clamps it to its limits.timeoutMs ceiling), or make the module smaller`,
    { plugin },
  );
}

const WORKER_URL = new URL("./_prepare_worker.ts", import.meta.url);

/**
 * Checks a module and, when `meter` is given, meters and compiles it: on this
 * thread when it is small, in a worker otherwise, so that no step stalls the
 * event loop for long. The compile deadline runs from the compile's start; on
 * expiry the worker is terminated, so the compile does not go on unseen.
 *
 * @param request The bytes, plugin, grants, meter options and compile deadline.
 * @returns The report, and the compiled module when metering was asked for.
 * @throws {HookError} (rejects) Every refusal, naming the plugin; `timeout`
 * when the compile overruns its deadline.
 */
export async function prepareModule(request: PrepareRequest): Promise<Prepared> {
  if (request.bytes.length > PREPARE_INLINE_BYTES) return await prepareInWorker(request);
  const { prepared, metered } = checkAndMeter(request);
  if (metered === undefined) return prepared;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    prepared.module = await Promise.race([
      WebAssembly.compile(metered).catch((cause) => {
        throw notCompiling(request.plugin, cause);
      }),
      new Promise<never>((_, reject) =>
        timer = setTimeout(
          () => reject(compileTimeout(request.plugin, request.compileTimeoutMs)),
          request.compileTimeoutMs,
        )
      ),
    ]);
  } finally {
    clearTimeout(timer);
  }
  return prepared;
}

function prepareInWorker(request: PrepareRequest): Promise<Prepared> {
  const { plugin } = request;
  return new Promise<Prepared>((resolve, reject) => {
    const worker = new Worker(WORKER_URL, { type: "module", name: `gn:prepare:${plugin}` });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const settle = (error: HookError | undefined, prepared?: Prepared): void => {
      clearTimeout(timer);
      worker.terminate();
      if (error === undefined) resolve(prepared!);
      else reject(error);
    };
    worker.onmessage = (e: MessageEvent<PrepareReply>) => {
      const reply = e.data;
      switch (reply.type) {
        case "compiling":
          timer = setTimeout(
            () => settle(compileTimeout(plugin, request.compileTimeoutMs)),
            request.compileTimeoutMs,
          );
          return;
        case "done":
          return settle(undefined, reply.prepared);
        default:
          return settle(
            "code" in reply.error ? HookError.fromRecord(reply.error) : new HookError(
              "invalid_module",
              `Cannot load plugin "${plugin}": preparing the module failed: ${reply.error.message}`,
              { plugin },
            ),
          );
      }
    };
    worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      settle(
        new HookError(
          "invalid_module",
          `Cannot load plugin "${plugin}": the worker preparing the module failed: ${e.message}`,
          { plugin, cause: e.error },
        ),
      );
    };
    // A copy, handed over rather than cloned: the clone of a large buffer
    // costs the host thread several times the copy.
    const bytes = request.bytes.slice();
    worker.postMessage({ ...request, bytes }, [bytes.buffer]);
  });
}
