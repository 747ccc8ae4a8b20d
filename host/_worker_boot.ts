/**
 * Starting a plugin's worker: boot (spawn a permission-less worker), the
 * proof of its isolation (its self-test, and Deno's worker-options feature),
 * the spare workers booted ahead of need, and {@linkcode startInstance},
 * which hands a booted worker its plugin over the channel's host end.
 *
 * @module
 */

import { HookError } from "../abi/errors.ts";
import type { InitMessage, IsolationReport, WorkerReply } from "../channel/protocol.ts";
import { HEADER_BYTES } from "../channel/layout.ts";
import { spinBudget } from "../channel/spin.ts";
import { type Transport, WorkerTransport } from "../channel/host_end.ts";
import { missingPermission, remoteImportPossible, workerOptionsState } from "./_isolation.ts";
import { deliver, type PluginServices } from "./_services.ts";

/** Everything needed to start an instance of a plugin: the init message's fields, and more. */
export interface InstanceSpec
  extends Omit<InitMessage, "type" | "state" | "hostCallTimeoutMs" | "channel" | "cancel"> {
  /** Deadline for spawning the worker and its self-test, in ms. */
  bootTimeoutMs: number;
  /** The embedder says Deno runs with `--unstable-worker-options`. */
  unstableWorkerOptions: boolean;
  /** Where log lines, events and state requests go. */
  services?: PluginServices;
  /** Per-call deadline, also the longest a state request may wait. */
  timeoutMs: number;
  /** Bytes of the shared call region; `0` uses postMessage only. */
  channelBytes: number;
}

/** What an isolated instance reports about its sandbox. */
export interface IsolationInfo extends IsolationReport {
  /** How the worker-options feature is known to be on: seen in the config, or asserted by the embedder. */
  workerOptions: "on" | "asserted";
  /** Whether a permission-less worker could still import remote modules. */
  remoteImport: boolean;
}

const WORKER_URL = new URL("../workers/plugin_worker.ts", import.meta.url);

/** This package's folder when it is loaded from a path (the worker reads files all over it). */
const PACKAGE_ROOT = WORKER_URL.protocol === "file:"
  ? decodeURIComponent(new URL("../", WORKER_URL).pathname).replace(/\/$/, "")
  : undefined;

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
  if (finding.unreadable !== undefined) {
    throw new HookError(
      "permission_required",
      `Cannot start plugin "${plugin}": the host needs read permission on "${finding.unreadable}" to see whether it enables Deno's worker-options feature; run Deno with --allow-read=${finding.unreadable} (besides your plugin folders), or run it with --unstable-worker-options and pass { unstableWorkerOptions: true }`,
      { plugin },
    );
  }
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
  spares?: SpareWorkers,
): Promise<{ transport: Transport; isolation: IsolationInfo }> {
  const workerOptions = checkWorkerOptions(spec.plugin, spec.unstableWorkerOptions);
  const booted = spares !== undefined
    ? await spares.take(spec.plugin)
    : await bootWorker(spec.plugin, spec.bootTimeoutMs);
  const state = spec.services?.state?.channel();
  const channel = spec.channelBytes > 0
    ? { buffer: new SharedArrayBuffer(HEADER_BYTES + spec.channelBytes), spin: spinBudget() }
    : undefined;
  const cancel = new SharedArrayBuffer(4);
  const services = spec.services;
  const transport = new WorkerTransport({
    worker: booted.worker,
    plugin: spec.plugin,
    service: (m) => deliver(spec.plugin, m, services, state),
    state,
    channel: channel?.buffer,
    cancel,
  });
  const {
    bootTimeoutMs: _b,
    unstableWorkerOptions: _u,
    services: _s,
    timeoutMs,
    channelBytes: _c,
    ...rest
  } = spec;
  const init: InitMessage = {
    ...rest,
    type: "init",
    state,
    hostCallTimeoutMs: timeoutMs,
    channel,
    cancel,
  };
  try {
    await transport.init(init, spec.timeoutMs);
    spares?.refill();
    return {
      transport,
      isolation: {
        ...booted.isolation,
        workerOptions,
        remoteImport: remoteImportPossible(WORKER_URL),
      },
    };
  } catch (e) {
    transport.terminate(e as HookError);
    throw e;
  }
}

/** A worker that has started and passed its isolation self-test, not yet given a plugin. */
export interface BootedWorker {
  worker: Worker;
  isolation: IsolationReport;
  /** Set when the worker failed while waiting to be used. */
  failed: boolean;
}

/**
 * Spawns a permission-less worker and waits for its isolation self-test.
 *
 * @throws {HookError} `isolation_unavailable` when the worker is not
 *   isolated or cannot be created; `timeout` past `bootTimeoutMs`.
 */
export function bootWorker(plugin: string, bootTimeoutMs: number): Promise<BootedWorker> {
  let worker: Worker;
  try {
    worker = new Worker(WORKER_URL, {
      type: "module",
      name: `gn:${plugin}`,
      deno: { permissions: "none" },
    });
  } catch (cause) {
    return Promise.reject(
      new HookError(
        "isolation_unavailable",
        `Cannot start plugin "${plugin}": Deno refused a permission-less worker (${HOW_TO_ENABLE})`,
        { plugin, cause },
      ),
    );
  }
  return new Promise((resolve, reject) => {
    const fail = (error: HookError) => {
      clearTimeout(timer);
      worker.terminate();
      reject(error);
    };
    const timer = setTimeout(
      () =>
        fail(
          new HookError(
            "timeout",
            `Cannot start plugin "${plugin}": spawning its worker took longer than ${bootTimeoutMs} ms`,
            { plugin },
          ),
        ),
      bootTimeoutMs,
    );
    worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      // Deno loads a worker's modules with the host's own permissions.
      const missing = missingPermission(e.message, PACKAGE_ROOT);
      fail(
        missing !== undefined
          ? new HookError(
            "permission_required",
            `Cannot start plugin "${plugin}": the host needs ${missing.name} permission on "${missing.target}" to load its plugin worker (${WORKER_URL.href}); run Deno with ${missing.flag}`,
            { plugin },
          )
          : new HookError(
            "worker_crashed",
            `Worker of plugin "${plugin}" failed to start: ${e.message}`,
            { plugin },
          ),
      );
    };
    worker.onmessage = (e: MessageEvent<WorkerReply>) => {
      if (e.data.type !== "booted") return;
      clearTimeout(timer);
      const isolation = e.data.isolation;
      const allowed = Object.entries(isolation.probes).filter(([, v]) => v !== "denied");
      if (allowed.length > 0) {
        fail(
          new HookError(
            "isolation_unavailable",
            `Cannot start plugin "${plugin}": its worker is not isolated (${
              allowed.map(([k, v]) => `${k}: ${v}`).join(", ")
            })`,
            { plugin },
          ),
        );
        return;
      }
      worker.onmessage = null;
      const booted: BootedWorker = { worker, isolation, failed: false };
      // Until a transport takes it over, a failure of the idle worker must not
      // reach the host's global error handler (which would end the process).
      worker.onerror = (e: ErrorEvent) => {
        e.preventDefault();
        booted.failed = true;
        worker.terminate();
      };
      resolve(booted);
    };
  });
}

/**
 * Workers booted ahead of need, so starting a plugin (or replacing a worker
 * after a timeout or crash) does not pay for spawning one and its self-test.
 */
export class SpareWorkers {
  readonly #size: number;
  readonly #bootTimeoutMs: number;
  readonly #ready: Promise<BootedWorker | undefined>[] = [];
  #closed = false;
  #timer: ReturnType<typeof setTimeout> | undefined;

  /**
   * @param size How many booted workers to keep ready.
   * @param bootTimeoutMs Deadline of each boot.
   */
  constructor(size: number, bootTimeoutMs: number) {
    this.#size = size;
    this.#bootTimeoutMs = bootTimeoutMs;
  }

  #refill(): void {
    while (!this.#closed && this.#ready.length < this.#size) {
      // A spare that fails to boot is dropped; take() then boots one itself.
      this.#ready.push(bootWorker("spare", this.#bootTimeoutMs).catch(() => undefined));
    }
  }

  /**
   * A booted worker: a spare when one is ready, else a fresh one. The spare is
   * replaced by {@linkcode SpareWorkers.refill}, once the caller's instance
   * is up, so the replacement's boot does not compete with its start.
   */
  async take(plugin: string): Promise<BootedWorker> {
    const spare = this.#ready.shift();
    const w = spare === undefined ? undefined : await spare;
    return w !== undefined && !w.failed ? w : await bootWorker(plugin, this.#bootTimeoutMs);
  }

  /**
   * Boots spares until `size` are ready, soon but not now: `new Worker()`
   * blocks the calling thread for 10–15 ms, so it waits for a quiet moment
   * rather than delaying the answer the caller is about to ask for.
   */
  refill(delayMs = 50): void {
    if (this.#closed || this.#timer !== undefined || this.#ready.length >= this.#size) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#refill();
    }, delayMs);
  }

  /**
   * Terminates the spares booted so far (and a pending refill), but stays
   * usable: a later {@linkcode SpareWorkers.take} boots a worker itself.
   * Called when no plugin is loaded, so that an idle host keeps no worker
   * alive (a worker keeps the Deno process running).
   */
  async release(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const all = this.#ready.splice(0);
    for (const w of await Promise.all(all)) w?.worker.terminate();
  }

  /** Terminates the spares. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const all = this.#ready.splice(0);
    for (const w of await Promise.all(all)) w?.worker.terminate();
  }
}
