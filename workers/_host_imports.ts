/**
 * The host functions (docs/abi.md#host-imports) as the worker serves them.
 *
 * - `gn_time_ms` (clock) and `gn_fuel_remaining` (fuel) need nothing from the
 *   host thread.
 * - `gn_log` and `gn_event_emit` post a message and return at once; the
 *   event name is checked against the host's approvals here, and the number
 *   and size of events per call are capped.
 * - `gn_state_get/set/del` need the host's store: the request goes through a
 *   SharedArrayBuffer, the host is told by a message, and this thread parks
 *   on `Atomics.wait` until the host answers (the host thread never blocks).
 *
 * A guest pointer is never trusted: lengths are unsigned, bounds are checked
 * in integers, and memory views are taken fresh after anything that can grow
 * memory.
 *
 * @module
 */

import { Status } from "../abi/status.ts";
import { pack } from "../abi/packed.ts";
import { HOST_IMPORTS, type HostImportName } from "../abi/imports.ts";
import {
  GuestAbandoned,
  type GuestContext,
  type ImportFactory,
  MAX_GUEST_MESSAGE_BYTES,
  readMessage,
} from "./guest.ts";
import type { InitMessage, StateChannel, WorkerReply } from "../channel/protocol.ts";
import {
  STATE_HEADER_BYTES,
  StateFound,
  StateOp,
  StateSlot,
  StateState,
} from "../channel/layout.ts";
import { admitLogLine } from "./_wasi.ts";

const strict = new TextDecoder("utf-8", { fatal: true });
const LEVELS = ["debug", "info", "warn", "error"] as const;

let posted = 0;

/** Service messages (log, event) posted so far: the host waits for them before answering. */
export function servicesPosted(): number {
  return posted;
}

/** Posts a message to the host, counting log, event and sink messages (the host waits for them). */
export function post(m: WorkerReply): void {
  if (m.type === "log" || m.type === "event" || m.type === "sink") posted++;
  self.postMessage(m);
}

function utf8(bytes: Uint8Array): string | undefined {
  try {
    return strict.decode(bytes);
  } catch {
    return undefined;
  }
}

/** Per-call counters for the event quota, reset by the guest on each call. */
export interface CallQuota {
  events: number;
  eventBytes: number;
  logs: number;
}

/** What an implementation is made from: the init message, the quotas, and the plugin's state client. */
interface ImplementationContext {
  readonly m: InitMessage;
  readonly quota: CallQuota;
  /** The state client, made on first use; `undefined` without a state channel. */
  state(): StateClient | undefined;
}

/**
 * The implementation of every host import, keyed by {@linkcode HostImportName}:
 * an import added to `HOST_IMPORTS` without a row here is a type error.
 * `"guest"` marks the always-granted imports the guest serves itself
 * (`gn_panic`, `gn_error_set`); a row may give nothing when what it needs is
 * absent (no state channel).
 */
const IMPLEMENTATIONS: {
  readonly [K in HostImportName]:
    | "guest"
    | ((c: ImplementationContext) => ImportFactory | undefined);
} = {
  gn_panic: "guest",
  gn_error_set: "guest",
  gn_log: (c) => logImport(c.m.maxLogsPerCall, c.quota),
  gn_time_ms: () => () => () => BigInt(Date.now()),
  gn_state_get: (c) => {
    const state = c.state();
    return state && ((ctx) => (kp: number, kl: number) => state.get(ctx, kp, kl));
  },
  gn_state_set: (c) => {
    const state = c.state();
    return state &&
      ((ctx) => (kp: number, kl: number, vp: number, vl: number) => state.set(ctx, kp, kl, vp, vl));
  },
  gn_state_del: (c) => {
    const state = c.state();
    return state && ((ctx) => (kp: number, kl: number) => state.del(ctx, kp, kl));
  },
  gn_event_emit: (c) => emitImport(c.m, c.quota),
  gn_fuel_remaining: () => (ctx) => () => ctx.fuelLeft() ?? -1n,
  gn_sink_append: (c) => sinkImport(c.m),
};

/**
 * The import factories granted to a plugin: one per row of `HOST_IMPORTS`
 * whose token is granted.
 *
 * @param m The init message (granted tokens, approvals, quotas, channels).
 * @param quota The per-call event counters.
 * @param abandoned Whether the host gave up on this worker (a state request then stops waiting).
 * @returns Factories by import name.
 */
export function hostImports(
  m: InitMessage,
  quota: CallQuota,
  abandoned: () => boolean = () => false,
): Record<string, ImportFactory> {
  const out: Record<string, ImportFactory> = {};
  const granted = new Set(m.granted);
  let client: StateClient | undefined;
  const context: ImplementationContext = {
    m,
    quota,
    state: () =>
      client ??= m.state === undefined
        ? undefined
        : new StateClient(m.state, m.hostCallTimeoutMs, abandoned),
  };
  for (const spec of HOST_IMPORTS) {
    if (spec.token === null || !granted.has(spec.token)) continue;
    const implementation = IMPLEMENTATIONS[spec.name];
    if (implementation === "guest") continue;
    const factory = implementation(context);
    if (factory !== undefined) out[spec.name] = factory;
  }
  return out;
}

function logImport(maxPerCall: number, quota: CallQuota): ImportFactory {
  return (ctx) => (level: number, ptr: number, len: number) => {
    if (!admitLogLine(quota, maxPerCall, ctx.hook, post)) return;
    const bytes = ctx.read(ptr, len, MAX_GUEST_MESSAGE_BYTES);
    const known = level >= 0 && level <= 3;
    post({
      type: "log",
      hook: ctx.hook,
      level: known ? LEVELS[level] : "warn",
      message: bytes === undefined
        ? readMessage(ctx, ptr, len)
        : readMessage(ctx, ptr, Math.min(len >>> 0, MAX_GUEST_MESSAGE_BYTES)),
      invalid: bytes === undefined && (len >>> 0) <= MAX_GUEST_MESSAGE_BYTES
        ? "pointer"
        : !known
        ? "level"
        : (len >>> 0) > MAX_GUEST_MESSAGE_BYTES
        ? "truncated"
        : undefined,
    });
  };
}

function emitImport(m: InitMessage, quota: CallQuota): ImportFactory {
  const approved = new Set(m.events);
  return (ctx) => (np: number, nl: number, dp: number, dl: number) => {
    const nameBytes = ctx.read(np, nl, 256);
    const name = nameBytes && utf8(nameBytes);
    if (name === undefined) return Status.bad_payload;
    if (!approved.has(name)) return Status.denied;
    if ((dl >>> 0) > m.maxEventBytes) return Status.quota_exceeded;
    const data = ctx.read(dp, dl, m.maxEventBytes);
    if (data === undefined) return Status.bad_payload;
    const text = utf8(data);
    if (text === undefined) return Status.bad_payload;
    if (
      quota.events >= m.maxEventsPerCall || quota.eventBytes + data.length > m.maxEventBytesPerCall
    ) {
      return Status.quota_exceeded;
    }
    quota.events++;
    quota.eventBytes += data.length;
    post({ type: "event", hook: ctx.hook, name, data: text });
    return Status.ok;
  };
}

/** Most sink items per call, and bytes per item (host-side limits in host/points/sink.ts). */
const MAX_SINK_ITEMS = 100;
const MAX_SINK_ITEM_BYTES = 65536;
/** The handle prefix the host writes first in an envelope (docs/abi.md#handles). */
const HANDLES = /^\{"kind":"(?:guard|action)","handles":\{"sink":(\d{1,10})\}/;
const latin1 = new TextDecoder("latin1");

/** The sink handle the call in progress received, or `undefined`. */
function callSink(ctx: GuestContext): number | undefined {
  const payload = ctx.payload();
  if (payload === undefined) return undefined;
  const m = HANDLES.exec(latin1.decode(payload.subarray(0, 64)));
  return m === null ? undefined : Number(m[1]);
}

/**
 * `gn_sink_append(handle, kind_ptr, kind_len, data_ptr, data_len) -> i32`:
 * only the handle of the call in progress is honoured (a stale or forged one
 * is -6), only approved kinds (-6), at most 100 items of 64 KiB per call (-7).
 */
function sinkImport(m: InitMessage): ImportFactory {
  const kinds = new Set(m.sinkKinds ?? []);
  let lastHandle = 0;
  let items = 0;
  return (ctx) => (handle: number, kp: number, kl: number, dp: number, dl: number) => {
    const live = callSink(ctx);
    if (live === undefined || (handle >>> 0) !== live) return Status.denied;
    const kindBytes = ctx.read(kp, kl, 256);
    const kind = kindBytes && utf8(kindBytes);
    if (kind === undefined) return Status.bad_payload;
    if (!kinds.has(kind)) return Status.denied;
    if ((dl >>> 0) > MAX_SINK_ITEM_BYTES) return Status.quota_exceeded;
    const bytes = ctx.read(dp, dl, MAX_SINK_ITEM_BYTES);
    const data = bytes && utf8(bytes);
    if (data === undefined) return Status.bad_payload;
    if (live !== lastHandle) [lastHandle, items] = [live, 0];
    if (items >= MAX_SINK_ITEMS) return Status.quota_exceeded;
    items++;
    post({ type: "sink", hook: ctx.hook, handle: live, kind, data });
    return Status.ok;
  };
}

/** The worker end of the state channel. */
class StateClient {
  readonly #ctrl: Int32Array;
  readonly #data: Uint8Array;
  readonly #timeoutMs: number;
  readonly #maxKey: number;
  readonly #maxValue: number;
  readonly #abandoned: () => boolean;
  #seq = 0;

  constructor(ch: StateChannel, timeoutMs: number, abandoned: () => boolean) {
    this.#ctrl = new Int32Array(ch.buffer, 0, STATE_HEADER_BYTES / 4);
    this.#data = new Uint8Array(ch.buffer, STATE_HEADER_BYTES);
    this.#timeoutMs = timeoutMs;
    this.#maxKey = ch.maxKeyBytes;
    this.#maxValue = ch.maxValueBytes;
    this.#abandoned = abandoned;
  }

  /**
   * Sends the request in the buffer and parks until the host answers it. A
   * wake-up proves nothing (a late notify of an earlier request, the host's
   * close): only the `answered` state carrying this request's sequence number
   * ends the wait.
   */
  #roundTrip(op: number, keyLen: number, valueLen: number): number {
    const c = this.#ctrl;
    const seq = this.#seq = (this.#seq + 1) | 0;
    c[StateSlot.op] = op;
    c[StateSlot.keyLen] = keyLen;
    c[StateSlot.valueLen] = valueLen;
    c[StateSlot.seq] = seq;
    Atomics.store(c, StateSlot.state, StateState.request);
    post({ type: "state" });
    const deadline = performance.now() + this.#timeoutMs;
    for (;;) {
      if (this.#abandoned()) throw new GuestAbandoned();
      const s = Atomics.load(c, StateSlot.state);
      if (s === StateState.answered && Atomics.load(c, StateSlot.answered) === seq) break;
      const left = deadline - performance.now();
      if (left <= 0) {
        // Withdraw the request: a late answer then finds no request to fill.
        Atomics.compareExchange(c, StateSlot.state, StateState.request, StateState.idle);
        throw new Error(`The host did not answer a state request within ${this.#timeoutMs} ms`);
      }
      Atomics.wait(c, StateSlot.state, s, left);
    }
    const status = c[StateSlot.status];
    Atomics.store(c, StateSlot.state, StateState.idle);
    return status;
  }

  #key(ctx: GuestContext, kp: number, kl: number): number {
    if ((kl >>> 0) === 0 || (kl >>> 0) > this.#maxKey) return -1;
    const key = ctx.read(kp, kl, this.#maxKey);
    if (key === undefined || utf8(key) === undefined) return -1;
    this.#data.set(key, 0);
    return key.length;
  }

  get(ctx: GuestContext, kp: number, kl: number): bigint {
    const k = this.#key(ctx, kp, kl);
    if (k < 0) return pack(0, Status.bad_payload);
    const status = this.#roundTrip(StateOp.get, k, 0);
    if (status < 0) return pack(0, status);
    if (status === StateFound.absent) return pack(0, 0);
    const len = this.#ctrl[StateSlot.valueLen];
    if (len === 0) return pack(0, 0);
    // Copy out of the shared buffer before gn_alloc runs guest code.
    const value = this.#data.slice(k, k + len);
    const ptr = ctx.write(value);
    if (ptr === 0) return pack(0, Status.out_of_memory);
    return pack(ptr, len);
  }

  set(ctx: GuestContext, kp: number, kl: number, vp: number, vl: number): number {
    const k = this.#key(ctx, kp, kl);
    if (k < 0) return Status.bad_payload;
    if ((vl >>> 0) > this.#maxValue) return Status.quota_exceeded;
    const value = ctx.read(vp, vl, this.#maxValue);
    if (value === undefined) return Status.bad_payload;
    this.#data.set(value, k);
    return this.#roundTrip(StateOp.set, k, value.length);
  }

  del(ctx: GuestContext, kp: number, kl: number): number {
    const k = this.#key(ctx, kp, kl);
    if (k < 0) return Status.bad_payload;
    return this.#roundTrip(StateOp.del, k, 0);
  }
}
