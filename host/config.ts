/**
 * One resolved plugin configuration: {@linkcode DEFAULTS}, the only place a
 * plugin-level default is written, and {@linkcode resolvePluginConfig},
 * which turns the options a caller gives into a frozen
 * {@linkcode PluginConfig} in which every field is set. The limit defaults
 * come from the limits table (`manifest/limits.ts`).
 *
 * @module
 */

import type { HookError } from "../abi/errors.ts";
import type { Capability } from "../abi/imports.ts";
import { DEFAULT_LIMITS, HOST_CEILINGS } from "./manifest/limits.ts";
import { DEFAULT_MAX_MODULE_BYTES } from "./manifest/read.ts";
import { defaultServices, type PluginServices } from "./_services.ts";
import type { SpareWorkers } from "./_worker_boot.ts";

/**
 * Every plugin-level default. The limits are the table's defaults, except
 * the per-call deadline of a plugin loaded without a host (tests, the
 * benchmark): it gets the host ceiling's time, since a host always passes
 * its clamped `timeout_ms` (default 100 ms), and a standalone plugin has no
 * manifest to ask for more.
 */
export const DEFAULTS: Readonly<{
  /** Fuel per call: the limits table's default. */
  fuel: number;
  /** Memory ceiling in pages: the limits table's default. */
  memoryPages: number;
  /** Table elements: the limits table's default. */
  tableElements: number;
  /** Instances per plugin: the limits table's default. */
  instances: number;
  /** Per-call deadline of a plugin loaded without a host: the host ceiling. */
  timeoutMs: number;
  /** Payload cap, bytes (docs/abi.md#limits). */
  maxPayloadBytes: number;
  /** Response cap, bytes (docs/abi.md#limits). */
  maxResponseBytes: number;
  /** Module size cap, bytes. */
  maxModuleBytes: number;
  /** Deadline for spawning a worker and its self-test, ms. */
  bootTimeoutMs: number;
  /** Largest event, bytes. */
  maxEventBytes: number;
  /** Events per call. */
  maxEventsPerCall: number;
  /** Log lines per call. */
  maxLogsPerCall: number;
  /** Event bytes per call. */
  maxEventBytesPerCall: number;
  /** Bytes of the shared call region. */
  channelBytes: number;
  /** Failures within the window that quarantine a plugin. */
  quarantineAfter: number;
  /** The quarantine window, ms. */
  quarantineWindowMs: number;
  /** Workers booted ahead of need. */
  spareWorkers: number;
}> = Object.freeze({
  fuel: DEFAULT_LIMITS.fuel,
  memoryPages: DEFAULT_LIMITS.memoryPages,
  tableElements: DEFAULT_LIMITS.tableElements,
  instances: DEFAULT_LIMITS.instances,
  timeoutMs: HOST_CEILINGS.timeoutMs,
  maxPayloadBytes: 1 << 20,
  maxResponseBytes: 1 << 20,
  maxModuleBytes: DEFAULT_MAX_MODULE_BYTES,
  bootTimeoutMs: 10_000,
  maxEventBytes: 65536,
  maxEventsPerCall: 100,
  maxLogsPerCall: 100,
  maxEventBytesPerCall: 1 << 20,
  channelBytes: 256 * 1024,
  quarantineAfter: 10,
  quarantineWindowMs: 10_000,
  spareWorkers: 1,
});

/** Limits and options of one plugin. */
export interface PluginOptions {
  /** The plugin name (for errors and metrics). */
  name: string;
  /** Capability tokens granted (declared ∩ allowed). */
  granted?: readonly Capability[];
  /** Largest payload in bytes. @default {DEFAULTS.maxPayloadBytes} */
  maxPayloadBytes?: number;
  /** Largest response body in bytes. @default {DEFAULTS.maxResponseBytes} */
  maxResponseBytes?: number;
  /** Wall-clock deadline per call, in ms. @default {DEFAULTS.timeoutMs} */
  timeoutMs?: number;
  /** Deadline for spawning a worker and its isolation self-test, in ms. @default {DEFAULTS.bootTimeoutMs} */
  bootTimeoutMs?: number;
  /**
   * Fuel per call (and for the start function). The module is instrumented
   * at load; `false` gives it an unlimited budget (it is still instrumented,
   * so an abandoned call stops at its next refuel). @default {DEFAULTS.fuel}
   */
  fuel?: number | false;
  /** Ceiling of every memory, in 64 KiB pages. @default {DEFAULTS.memoryPages} */
  memoryPages?: number;
  /** Ceiling of the elements of all tables together. @default {DEFAULTS.tableElements} */
  tableElements?: number;
  /**
   * Guest-memory budget of one instance, in bytes (`maxGuestBytes` of
   * `meter()`). @default {memoryPages × 65536 + 67108864}
   */
  guestBytes?: number;
  /** The verified digest of `bytes`: with `moduleCache`, compiles once per digest and settings. */
  digest?: string;
  /** Compiled modules by digest and metering settings, shared across loads. */
  moduleCache?: Map<string, WebAssembly.Module>;
  /** Instances in the pool. @default {DEFAULTS.instances} */
  instances?: number;
  /** Quarantine after this many instance failures within `quarantineWindowMs`. @default {DEFAULTS.quarantineAfter} */
  quarantineAfter?: number;
  /** The quarantine window, in ms. @default {DEFAULTS.quarantineWindowMs} */
  quarantineWindowMs?: number;
  /**
   * Set when Deno runs with `--unstable-worker-options` rather than the
   * config option: a program cannot see Deno's flags. @default {false}
   */
  unstableWorkerOptions?: boolean;
  /** Where its log lines, events and state requests go. */
  services?: PluginServices;
  /** WASI `random_get` (capability `wasi`): seeded per instance, or real. @default {"seeded"} */
  wasiRandom?: "seeded" | "crypto";
  /** Item kinds approved for `gn_sink_append`. @default {[]} */
  sinkKinds?: readonly string[];
  /** Event names approved for `gn_event_emit`. @default {[]} */
  events?: readonly string[];
  /** Largest event, in bytes. @default {DEFAULTS.maxEventBytes} */
  maxEventBytes?: number;
  /** Most events per call. @default {DEFAULTS.maxEventsPerCall} */
  maxEventsPerCall?: number;
  /** Most `gn_log` lines per call; the rest are dropped after one notice. @default {DEFAULTS.maxLogsPerCall} */
  maxLogsPerCall?: number;
  /** Most event bytes per call. @default {DEFAULTS.maxEventBytesPerCall} */
  maxEventBytesPerCall?: number;
  /**
   * Bytes of each instance's shared-memory call region; requests and answers
   * that do not fit go by postMessage. `0` uses postMessage only.
   * @default {DEFAULTS.channelBytes}
   */
  channelBytes?: number;
  /** Booted workers to start instances from (the host keeps one ready). */
  spares?: SpareWorkers;
  /** Called when the plugin is quarantined. */
  onQuarantine?: (error: HookError) => void;
}

/**
 * A plugin's configuration with every field set (an absent optional object
 * is `undefined` on purpose: no services means the defaults were resolved
 * into `services`, no cache means none is shared).
 */
export type PluginConfig = Readonly<
  & Required<
    Omit<PluginOptions, "digest" | "moduleCache" | "guestBytes" | "spares" | "onQuarantine">
  >
  & Pick<PluginOptions, "digest" | "moduleCache" | "guestBytes" | "spares" | "onQuarantine">
  & { granted: readonly Capability[]; events: readonly string[]; sinkKinds: readonly string[] }
>;

/**
 * Resolves a plugin's options against {@linkcode DEFAULTS}.
 *
 * @param options What the caller gave.
 * @returns A frozen configuration in which every field is set.
 */
export function resolvePluginConfig(options: PluginOptions): PluginConfig {
  const granted = [...new Set(options.granted ?? [])];
  return Object.freeze({
    name: options.name,
    granted,
    maxPayloadBytes: options.maxPayloadBytes ?? DEFAULTS.maxPayloadBytes,
    maxResponseBytes: options.maxResponseBytes ?? DEFAULTS.maxResponseBytes,
    timeoutMs: options.timeoutMs ?? DEFAULTS.timeoutMs,
    bootTimeoutMs: options.bootTimeoutMs ?? DEFAULTS.bootTimeoutMs,
    fuel: options.fuel ?? DEFAULTS.fuel,
    memoryPages: options.memoryPages ?? DEFAULTS.memoryPages,
    tableElements: options.tableElements ?? DEFAULTS.tableElements,
    guestBytes: options.guestBytes,
    digest: options.digest,
    moduleCache: options.moduleCache,
    instances: options.instances ?? DEFAULTS.instances,
    quarantineAfter: options.quarantineAfter ?? DEFAULTS.quarantineAfter,
    quarantineWindowMs: options.quarantineWindowMs ?? DEFAULTS.quarantineWindowMs,
    unstableWorkerOptions: options.unstableWorkerOptions ?? false,
    services: options.services ?? defaultServices(options.name, new Set(granted)),
    events: [...(options.events ?? [])],
    wasiRandom: options.wasiRandom ?? "seeded",
    sinkKinds: [...(options.sinkKinds ?? [])],
    maxEventBytes: options.maxEventBytes ?? DEFAULTS.maxEventBytes,
    maxEventsPerCall: options.maxEventsPerCall ?? DEFAULTS.maxEventsPerCall,
    maxLogsPerCall: options.maxLogsPerCall ?? DEFAULTS.maxLogsPerCall,
    maxEventBytesPerCall: options.maxEventBytesPerCall ?? DEFAULTS.maxEventBytesPerCall,
    channelBytes: options.channelBytes ?? DEFAULTS.channelBytes,
    spares: options.spares,
    onQuarantine: options.onQuarantine,
  });
}
