/**
 * One plugin instance: a permission-less worker running the shim, and the
 * transport that carries calls to it. One call in flight at a time; the
 * caller (the pool) queues.
 *
 * @module
 */

import { HookError, type HookErrorRecord } from "../abi/errors.ts";
import type { Capability } from "../abi/imports.ts";
import type {
  CallMessage,
  InitMessage,
  IsolationReport,
  StateChannel,
  WorkerReply,
} from "../workers/protocol.ts";
import { remoteImportPossible, workerOptionsState } from "./_isolation.ts";
import { deliver, type PluginServices } from "./_services.ts";

/** Everything needed to start an instance of a plugin. */
export interface InstanceSpec {
  plugin: string;
  module: WebAssembly.Module;
  importNames: string[];
  granted: Capability[];
  maxPayloadBytes: number;
  maxResponseBytes: number;
  fuel?: number;
  checkAbiVersion: boolean;
  /** Deadline for spawning the worker and its self-test, in ms. */
  bootTimeoutMs: number;
  /** The embedder says Deno runs with `--unstable-worker-options`. */
  unstableWorkerOptions: boolean;
  /** Where log lines, events and state requests go. */
  services?: PluginServices;
  /** Event names approved for `gn_event_emit`. */
  events: string[];
  /** Caps on events. */
  maxEventBytes: number;
  maxEventsPerCall: number;
  maxEventBytesPerCall: number;
  /** Per-call deadline, also the longest a state request may wait. */
  timeoutMs: number;
}

/** What an isolated instance reports about its sandbox. */
export interface IsolationInfo extends IsolationReport {
  /** How the worker-options feature is known to be on: seen in the config, or asserted by the embedder. */
  workerOptions: "on" | "asserted";
  /** Whether a permission-less worker could still import remote modules. */
  remoteImport: boolean;
}

/** The answer of one call. */
export interface CallOutcome {
  body: string | null;
  /** Fuel the call used, when metered. */
  fuel?: bigint;
}

/**
 * Carries calls to a started worker. The postMessage transport is the
 * reference; a shared-memory channel implements the same interface.
 */
export interface Transport {
  /** Sends one call; at most one is in flight. Rejects with a HookError. */
  call(hook: string, payload: string): Promise<CallOutcome>;
  /** Stops the worker; a call in flight rejects with `error`. */
  terminate(error: HookError): void;
  /** Test hook: makes the worker fail as a crash would. */
  crash(): void;
  /** Called once when the worker dies on its own (not by `terminate`). */
  onDeath: ((error: HookError) => void) | undefined;
}

const WORKER_URL = new URL("../workers/plugin_worker.ts", import.meta.url);

const HOW_TO_ENABLE =
  'add "unstable": ["worker-options"] to deno.json (and allow reading it), or run Deno with --unstable-worker-options and pass { unstableWorkerOptions: true } to say so';

let workerOptionsProven = false;

function checkWorkerOptions(plugin: string, asserted: boolean): "on" | "asserted" {
  if (workerOptionsProven) return "on";
  const finding = workerOptionsState();
  if (finding.state === "on") {
    workerOptionsProven = true;
    return "on";
  }
  if (asserted) return "asserted";
  throw new HookError(
    "isolation_unavailable",
    `Cannot start plugin "${plugin}": Deno's worker-options feature is not shown to be on (${finding.detail}), and without it workers cannot be made permission-less; ${HOW_TO_ENABLE}`,
    { plugin },
  );
}

/**
 * Spawns a permission-less worker, proves its isolation, instantiates the
 * plugin in it and returns its transport.
 *
 * @param spec The plugin and its limits.
 * @returns The started instance's transport and isolation report.
 * @throws {HookError} `isolation_unavailable`, `timeout`, or the plugin's
 *   start-up failure (`trapped`, `fuel_exhausted`, `abi_version`, …).
 */
export async function startInstance(
  spec: InstanceSpec,
): Promise<{ transport: Transport; isolation: IsolationInfo }> {
  const workerOptions = checkWorkerOptions(spec.plugin, spec.unstableWorkerOptions);
  let worker: Worker;
  try {
    worker = new Worker(WORKER_URL, {
      type: "module",
      name: `gn:${spec.plugin}`,
      deno: { permissions: "none" },
    });
  } catch (cause) {
    throw new HookError(
      "isolation_unavailable",
      `Cannot start plugin "${spec.plugin}": Deno refused a permission-less worker (${HOW_TO_ENABLE})`,
      { plugin: spec.plugin, cause },
    );
  }
  const state = spec.services?.state?.channel();
  const transport = new MessageTransport(worker, spec.plugin, spec.services, state);
  const init: InitMessage = {
    type: "init",
    plugin: spec.plugin,
    module: spec.module,
    importNames: spec.importNames,
    granted: spec.granted,
    maxPayloadBytes: spec.maxPayloadBytes,
    maxResponseBytes: spec.maxResponseBytes,
    fuel: spec.fuel,
    checkAbiVersion: spec.checkAbiVersion,
    events: spec.events,
    maxEventBytes: spec.maxEventBytes,
    maxEventsPerCall: spec.maxEventsPerCall,
    maxEventBytesPerCall: spec.maxEventBytesPerCall,
    state,
    hostCallTimeoutMs: spec.timeoutMs,
  };
  try {
    const report = await transport.start(init, spec.bootTimeoutMs, spec.timeoutMs);
    return {
      transport,
      isolation: { ...report, workerOptions, remoteImport: remoteImportPossible() },
    };
  } catch (e) {
    transport.terminate(e as HookError);
    throw e;
  }
}

type Pending = {
  resolve(outcome: CallOutcome): void;
  reject(error: HookError): void;
};

/** The postMessage transport. */
class MessageTransport implements Transport {
  readonly #worker: Worker;
  readonly #plugin: string;
  #pending: Pending | undefined;
  #starting:
    | { booted(): void; resolve(r: IsolationReport): void; reject(e: HookError): void }
    | undefined;
  #nextId = 1;
  #dead: HookError | undefined;
  onDeath: ((error: HookError) => void) | undefined;

  constructor(
    worker: Worker,
    plugin: string,
    services: PluginServices | undefined,
    state: StateChannel | undefined,
  ) {
    this.#worker = worker;
    this.#plugin = plugin;
    worker.onmessage = (e: MessageEvent<WorkerReply>) => {
      if (!deliver(plugin, e.data, services, state)) this.#onReply(e.data);
    };
    worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      this.#crash(`Worker of plugin "${plugin}" crashed: ${e.message}`, e.error);
    };
    worker.onmessageerror = () => {
      this.#crash(`Worker of plugin "${plugin}" sent a message that cannot be read`);
    };
  }

  /**
   * Waits for the worker's self-test (`bootMs`), then sends the module and
   * waits for instantiation and the start function (`startMs`, the plugin's
   * own deadline).
   */
  start(init: InitMessage, bootMs: number, startMs: number): Promise<IsolationReport> {
    return new Promise((resolve, reject) => {
      let timer = setTimeout(() => fail("spawning its worker", bootMs), bootMs);
      const fail = (what: string, ms: number) => {
        this.#starting = undefined;
        reject(
          new HookError(
            "timeout",
            `Cannot start plugin "${this.#plugin}": ${what} took longer than ${ms} ms`,
            { plugin: this.#plugin },
          ),
        );
      };
      this.#starting = {
        booted: () => {
          clearTimeout(timer);
          timer = setTimeout(() => fail("instantiating it and running its start function", startMs), startMs);
          this.#worker.postMessage(init);
        },
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
    });
  }

  /** Test hook: makes the worker throw an uncaught exception. */
  crash(): void {
    this.#worker.postMessage({ type: "crash" });
  }

  call(hook: string, payload: string): Promise<CallOutcome> {
    if (this.#dead !== undefined) return Promise.reject(this.#dead);
    if (this.#pending !== undefined) {
      return Promise.reject(
        new HookError("worker_crashed", "Transport misuse: a call is already in flight", {
          plugin: this.#plugin,
          hook,
        }),
      );
    }
    return new Promise((resolve, reject) => {
      this.#pending = { resolve, reject };
      const m: CallMessage = { type: "call", id: this.#nextId++, hook, payload };
      this.#worker.postMessage(m);
    });
  }

  #onReply(r: WorkerReply): void {
    switch (r.type) {
      case "booted":
        this.#starting?.booted();
        return;
      case "ready":
        this.#starting?.resolve(r.isolation);
        this.#starting = undefined;
        return;
      case "failed":
        this.#starting?.reject(this.#error(r.error));
        this.#starting = undefined;
        return;
      case "done": {
        const p = this.#pending;
        this.#pending = undefined;
        p?.resolve({ body: r.body, fuel: r.fuel });
        return;
      }
      case "error": {
        const p = this.#pending;
        this.#pending = undefined;
        p?.reject(this.#error(r.error));
        return;
      }
      default:
        return;
    }
  }

  #error(record: HookErrorRecord): HookError {
    return HookError.fromRecord(record, { plugin: this.#plugin });
  }

  #crash(message: string, cause?: unknown): void {
    if (this.#dead !== undefined) return;
    const error = new HookError("worker_crashed", message, { plugin: this.#plugin, cause });
    this.terminate(error);
    this.onDeath?.(error);
  }

  terminate(error: HookError): void {
    if (this.#dead !== undefined) return;
    this.#dead = error;
    this.#worker.terminate();
    const p = this.#pending;
    this.#pending = undefined;
    p?.reject(error);
    this.#starting?.reject(error);
    this.#starting = undefined;
  }
}
