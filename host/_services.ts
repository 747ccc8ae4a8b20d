/**
 * The host end of the capability host functions: where a plugin's log lines
 * and events go, and the server of its state requests.
 *
 * @module
 */

import { HookError } from "../abi/errors.ts";
import { Status } from "../abi/status.ts";
import type { StateChannel, WorkerReply } from "../channel/protocol.ts";
import {
  STATE_HEADER_BYTES,
  StateFound,
  StateOp,
  StateSlot,
  StateState,
} from "../channel/layout.ts";
import {
  DEFAULT_STATE_QUOTAS,
  MemoryStateStore,
  type StateQuotas,
  type StateStore,
} from "./state.ts";

/** A line a plugin logged with `gn_log`, stamped by the host. */
export interface LogEntry {
  /** The plugin that logged it. */
  plugin: string;
  /** The hook it was handling, if any. */
  hook?: string;
  /** Its level. */
  level: "debug" | "info" | "warn" | "error";
  /** The text, control characters replaced by spaces, at most 4 KiB. */
  message: string;
  /** Set when the call was malformed: a bad pointer, an unknown level, a message cut short. */
  invalid?: "pointer" | "level" | "truncated";
}

/** An event a plugin appended with `gn_event_emit`. */
export interface PluginEvent {
  /** The plugin that emitted it. */
  plugin: string;
  /** The hook it was handling, if any. */
  hook?: string;
  /** The event name (approved by the host for this plugin). */
  name: string;
  /** The data, as UTF-8 text. */
  data: string;
}

/** What one plugin's worker messages are delivered to. */
export interface PluginServices {
  log(entry: LogEntry): void;
  event(event: PluginEvent): void;
  /** Serves the pending request of a state channel. */
  state?: StateServer;
  /** Receives `gn_sink_append` items (the host checks the handle again). */
  sink?(item: { hook?: string; handle: number; kind: string; data: string }): void;
}

/** Options of {@linkcode StateServer}. */
export interface StateServerOptions {
  /** The plugin, for messages. */
  plugin: string;
  /** The store behind the `state` capability. */
  store: StateStore;
  /** Quotas on the plugin's state. */
  quotas: StateQuotas;
  /** Receives a failure of the store. */
  onError: (e: HookError) => void;
  /** Where the plugin's state lives in the store (its identity). @default {plugin} */
  namespace?: string;
}

/**
 * Serves state requests from one plugin's worker channels against a store,
 * with quotas. The plugin's state lives under `namespace` (its identity, not
 * the name its manifest claims). Writes are served one at a time per plugin,
 * so the key quota holds with an asynchronous store and several instances.
 */
export class StateServer {
  readonly #plugin: string;
  readonly #namespace: string;
  readonly #store: StateStore;
  readonly #quotas: StateQuotas;
  readonly #onError: (e: HookError) => void;
  /** The last write queued: each write's check and set run after the previous one. */
  #writes: Promise<unknown> = Promise.resolve();
  /** The last request sequence number taken up, per channel. */
  readonly #served = new WeakMap<SharedArrayBuffer, number>();

  /** @param options The plugin, its store, quotas, error sink and namespace. */
  constructor(options: StateServerOptions) {
    this.#plugin = options.plugin;
    this.#namespace = options.namespace ?? options.plugin;
    this.#store = options.store;
    this.#quotas = options.quotas;
    this.#onError = options.onError;
  }

  /** Runs `write` after every write queued before it (a per-plugin lock). */
  #serialised<T>(write: () => Promise<T>): Promise<T> {
    const run = this.#writes.then(write, write);
    this.#writes = run.catch(() => {});
    return run;
  }

  /** A fresh channel for one worker. */
  channel(): StateChannel {
    return {
      buffer: new SharedArrayBuffer(
        STATE_HEADER_BYTES + this.#quotas.maxKeyBytes + this.#quotas.maxValueBytes,
      ),
      maxKeyBytes: this.#quotas.maxKeyBytes,
      maxValueBytes: this.#quotas.maxValueBytes,
    };
  }

  /**
   * Answers the request pending in `channel`. Never blocks: a slow store only
   * keeps the worker parked (and the call's deadline still applies).
   */
  async serve(channel: StateChannel): Promise<void> {
    const ctrl = new Int32Array(channel.buffer, 0, STATE_HEADER_BYTES / 4);
    const data = new Uint8Array(channel.buffer, STATE_HEADER_BYTES);
    if (Atomics.load(ctrl, StateSlot.state) !== StateState.request) return;
    const seq = Atomics.load(ctrl, StateSlot.seq);
    // One message per request, but a late message can find a later request:
    // each request is served once.
    if (this.#served.get(channel.buffer) === seq) return;
    this.#served.set(channel.buffer, seq);
    const op = ctrl[StateSlot.op];
    const keyLen = ctrl[StateSlot.keyLen];
    const valueLen = ctrl[StateSlot.valueLen];
    let status: number = Status.ok;
    let outLen = 0;
    let found: Uint8Array | undefined;
    try {
      if (keyLen < 1 || keyLen > this.#quotas.maxKeyBytes) throw new RangeError("bad key length");
      const key = new TextDecoder("utf-8", { fatal: true }).decode(data.slice(0, keyLen));
      switch (op) {
        case StateOp.get: {
          const v = await this.#store.get(this.#namespace, key);
          if (v === undefined) status = StateFound.absent;
          else if (v.length > this.#quotas.maxValueBytes) status = Status.quota_exceeded;
          else {
            found = v;
            outLen = v.length;
            status = StateFound.present;
          }
          break;
        }
        case StateOp.set: {
          if (valueLen < 0 || valueLen > this.#quotas.maxValueBytes) {
            status = Status.quota_exceeded;
            break;
          }
          const value = data.slice(keyLen, keyLen + valueLen);
          const ns = this.#namespace;
          status = await this.#serialised(async () => {
            if (
              !(await this.#store.has(ns, key)) &&
              (await this.#store.count(ns)) >= this.#quotas.maxKeys
            ) {
              return Status.quota_exceeded;
            }
            await this.#store.set(ns, key, value);
            return Status.ok;
          });
          break;
        }
        case StateOp.del:
          await this.#serialised(async () => await this.#store.delete(this.#namespace, key));
          break;
        default:
          status = Status.bad_payload;
      }
    } catch (cause) {
      status = cause instanceof RangeError || cause instanceof TypeError
        ? Status.bad_payload
        : Status.guest_error;
      if (status === Status.guest_error) {
        this.#onError(
          new HookError(
            "handler_failed",
            `State store failed for plugin "${this.#plugin}": the plugin got status -1 (see the ` +
              "cause); fix the StateStore given as the state option of PluginHost.create",
            {
              plugin: this.#plugin,
              cause,
            },
          ),
        );
      }
    }
    // The request may have been withdrawn (the worker timed out) or replaced
    // meanwhile: only the request that was read is answered.
    if (
      Atomics.load(ctrl, StateSlot.state) !== StateState.request ||
      Atomics.load(ctrl, StateSlot.seq) !== seq
    ) return;
    if (found !== undefined) data.set(found, keyLen);
    ctrl[StateSlot.status] = status;
    ctrl[StateSlot.valueLen] = outLen;
    Atomics.store(ctrl, StateSlot.answered, seq);
    Atomics.store(ctrl, StateSlot.state, StateState.answered);
    Atomics.notify(ctrl, StateSlot.state);
  }
}

/**
 * Delivers a worker's service message.
 *
 * @returns `true` when `m` was a service message.
 */
export function deliver(
  plugin: string,
  m: WorkerReply,
  services: PluginServices | undefined,
  channel: StateChannel | undefined,
): boolean {
  switch (m.type) {
    case "log":
      services?.log({
        plugin,
        hook: m.hook,
        level: m.level,
        message: m.message,
        ...(m.invalid ? { invalid: m.invalid } : {}),
      });
      return true;
    case "event":
      services?.event({ plugin, hook: m.hook, name: m.name, data: m.data });
      return true;
    case "sink":
      services?.sink?.({ hook: m.hook, handle: m.handle, kind: m.kind, data: m.data });
      return true;
    case "state":
      if (services?.state && channel) void services.state.serve(channel);
      return true;
    default:
      return false;
  }
}

/** Writes a plugin's log line to the console, at its level. */
export function consoleLog(e: LogEntry): void {
  const line = `[${e.plugin}${e.hook ? `:${e.hook}` : ""}] ${e.message}${
    e.invalid ? ` (invalid ${e.invalid})` : ""
  }`;
  if (e.level === "error") console.error(line);
  else if (e.level === "warn") console.warn(line);
  else if (e.level === "info") console.info(line);
  else console.debug(line);
}

/**
 * Services for a plugin loaded without a host: logs to the console, events
 * dropped, state in a private in-memory store when `state` is granted.
 */
export function defaultServices(plugin: string, granted: ReadonlySet<string>): PluginServices {
  return {
    log: consoleLog,
    event: () => {},
    state: granted.has("state")
      ? new StateServer({
        plugin,
        store: new MemoryStateStore(),
        quotas: DEFAULT_STATE_QUOTAS,
        onError: () => {},
      })
      : undefined,
  };
}
