/**
 * The WASI preview 1 subset (docs/abi.md#wasi-ext) as the worker serves it to
 * a plugin granted `wasi`. Nothing here touches a file, a socket, the
 * environment or the process: the standard output and error streams go to
 * the host's log (with `log`), the clocks need `clock` (checked at load), the
 * randomness is a seeded PRNG unless the host grants real randomness, and
 * every other call answers a WASI errno. No function traps on a bad guest
 * pointer (it answers `EFAULT`); only `proc_exit` ends the call.
 *
 * @module
 */

import { WASI_IMPORTS, WasiErrno } from "../abi/wasi.ts";
import { cleanMessage, type GuestContext, GuestExit, type ImportFactory } from "./guest.ts";
import { MAX_GUEST_MESSAGE_BYTES } from "./guest.ts";
import type { InitMessage, WorkerReply } from "../channel/protocol.ts";

/** The per-call log counter shared with `gn_log` (workers/_host_imports.ts). */
export interface LogQuota {
  logs: number;
}

/**
 * Counts one log line against the per-call cap (`gn_log` and WASI output share it). Past the cap
 * the line is dropped, and the first line dropped posts one notice instead.
 *
 * @returns Whether the line may be posted.
 */
export function admitLogLine(
  quota: LogQuota,
  maxPerCall: number,
  hook: string | undefined,
  post: (m: WorkerReply) => void,
): boolean {
  // A flood of lines would flood the host's message queue: cap them per call.
  if (quota.logs >= maxPerCall) {
    if (quota.logs++ === maxPerCall) {
      post({
        type: "log",
        hook,
        level: "warn",
        message:
          `log limit of ${maxPerCall} lines per call reached; the rest of this call's lines are dropped`,
        invalid: "truncated",
      });
    }
    return false;
  }
  quota.logs++;
  return true;
}

const lossy = new TextDecoder("utf-8", { fatal: false });
const NS_PER_MS = 1_000_000n;
/** `fd_fdstat_get`: filetype character device; rights `fd_read` (bit 1) and `fd_write` (bit 6). */
const CHARACTER_DEVICE = 2;
const RIGHT_READ = 1n << 1n;
const RIGHT_WRITE = 1n << 6n;

/** The guest's memory as a DataView, or `undefined` when `[ptr, ptr+len)` is outside it. */
function view(ctx: GuestContext, ptr: number, len: number): DataView | undefined {
  const p = ptr >>> 0;
  const mem = ctx.bytes();
  if (p + len > mem.length) return undefined;
  return new DataView(mem.buffer, mem.byteOffset + p, len);
}

/** Writes `values` (u32 each) at `ptrs`; `EFAULT` if any is outside memory. */
function writeU32s(ctx: GuestContext, pairs: [number, number][]): number {
  for (const [ptr] of pairs) if (view(ctx, ptr, 4) === undefined) return WasiErrno.fault;
  for (const [ptr, value] of pairs) view(ctx, ptr, 4)!.setUint32(0, value, true);
  return WasiErrno.success;
}

function writeU64(ctx: GuestContext, ptr: number, value: bigint): number {
  const v = view(ctx, ptr, 8);
  if (v === undefined) return WasiErrno.fault;
  v.setBigUint64(0, BigInt.asUintN(64, value), true);
  return WasiErrno.success;
}

/** The errno of a file or socket call on `fd`: the standard streams are not capable of it. */
function fdErrno(fd: number): number {
  return (fd >>> 0) <= 2 ? WasiErrno.notcapable : WasiErrno.badf;
}

/** FNV-1a of the plugin name: the seed of its deterministic `random_get`. */
function seedOf(plugin: string): bigint {
  let h = 0xcbf29ce484222325n;
  for (const b of new TextEncoder().encode(plugin)) {
    h = BigInt.asUintN(64, (h ^ BigInt(b)) * 0x100000001b3n);
  }
  return h;
}

/** SplitMix64 over 32-bit halves: fast enough, deterministic, not for secrets. */
function prng(seed: bigint): (out: Uint8Array) => void {
  let state = seed;
  return (out) => {
    for (let i = 0; i < out.length; i += 8) {
      state = BigInt.asUintN(64, state + 0x9e3779b97f4a7c15n);
      let z = state;
      z = BigInt.asUintN(64, (z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n);
      z = BigInt.asUintN(64, (z ^ (z >> 27n)) * 0x94d049bb133111ebn);
      z ^= z >> 31n;
      for (let k = 0; k < 8 && i + k < out.length; k++) {
        out[i + k] = Number((z >> BigInt(8 * k)) & 0xffn);
      }
    }
  };
}

/**
 * The `wasi_snapshot_preview1` factories for a plugin granted `wasi`.
 *
 * @param m The init message (granted tokens, log quota, randomness).
 * @param quota The per-call counters (`fd_write` lines count as log lines).
 * @param post Sends a log line to the host (the worker's counting `post`).
 * @returns Factories by WASI function name, one per {@linkcode WASI_IMPORTS} entry.
 */
export function wasiImports(
  m: Pick<InitMessage, "plugin" | "granted" | "maxLogsPerCall" | "wasiRandom">,
  quota: LogQuota,
  post: (m: WorkerReply) => void,
): Record<string, ImportFactory> {
  const granted = new Set(m.granted);
  const log = granted.has("log");
  const clock = granted.has("clock");
  const out: Record<string, ImportFactory> = {};
  for (const spec of WASI_IMPORTS) out[spec.name] = () => (fd: number) => fdErrno(fd);

  const empty: ImportFactory = (ctx) => (countPtr: number, sizePtr: number) =>
    writeU32s(ctx, [[countPtr, 0], [sizePtr, 0]]);
  out.args_sizes_get = empty;
  out.environ_sizes_get = empty;
  out.args_get = () => () => WasiErrno.success;
  out.environ_get = () => () => WasiErrno.success;

  if (clock) {
    out.clock_time_get = (ctx) => (id: number, _precision: bigint, ptr: number) => {
      if (id === 0) return writeU64(ctx, ptr, BigInt(Date.now()) * NS_PER_MS);
      if (id === 1) {
        return writeU64(ctx, ptr, BigInt(Math.round(performance.now() * 1e6)));
      }
      return WasiErrno.inval;
    };
    out.clock_res_get = (ctx) => (id: number, ptr: number) =>
      id === 0
        ? writeU64(ctx, ptr, NS_PER_MS)
        : id === 1
        ? writeU64(ctx, ptr, 1000n)
        : WasiErrno.inval;
  } else {
    // Refused at load without `clock`; kept closed here too.
    out.clock_time_get = () => () => WasiErrno.notcapable;
    out.clock_res_get = () => () => WasiErrno.notcapable;
  }

  out.fd_fdstat_get = (ctx) => (fd: number, ptr: number) => {
    if ((fd >>> 0) > 2) return WasiErrno.badf;
    const v = view(ctx, ptr, 24);
    if (v === undefined) return WasiErrno.fault;
    for (let k = 0; k < 24; k++) v.setUint8(k, 0);
    v.setUint8(0, CHARACTER_DEVICE);
    // No seek or tell right: wasi-libc then line-buffers stdout, as for a terminal.
    v.setBigUint64(8, fd === 0 ? RIGHT_READ : RIGHT_WRITE, true);
    return WasiErrno.success;
  };
  out.fd_prestat_get = () => () => WasiErrno.badf;
  out.fd_prestat_dir_name = () => () => WasiErrno.badf;
  const spipe = () => (fd: number) => (fd >>> 0) <= 2 ? WasiErrno.spipe : WasiErrno.badf;
  out.fd_seek = spipe;
  out.fd_tell = spipe;
  out.fd_read = (ctx) => (fd: number, _iovs: number, _n: number, nreadPtr: number) => {
    if (fd !== 0) return fdErrno(fd);
    return writeU32s(ctx, [[nreadPtr, 0]]);
  };
  out.fd_write = (ctx) => (fd: number, iovs: number, n: number, writtenPtr: number) => {
    if (fd !== 1 && fd !== 2) return WasiErrno.badf;
    const count = n >>> 0;
    const list = view(ctx, iovs, count * 8);
    if (list === undefined || count > 1024) return WasiErrno.fault;
    const parts: Uint8Array[] = [];
    let total = 0;
    for (let k = 0; k < count; k++) {
      const ptr = list.getUint32(k * 8, true);
      const len = list.getUint32(k * 8 + 4, true);
      const bytes = ctx.read(ptr, len, 0xffffffff);
      if (bytes === undefined) return WasiErrno.fault;
      parts.push(bytes);
      total += len;
    }
    if (view(ctx, writtenPtr, 4) === undefined) return WasiErrno.fault;
    if (log) {
      writeLines(ctx, m.maxLogsPerCall, quota, post, fd === 1 ? "info" : "warn", parts, total);
    }
    view(ctx, writtenPtr, 4)!.setUint32(0, total, true);
    return WasiErrno.success;
  };
  out.path_symlink = () => (_old: number, _oldLen: number, fd: number) => fdErrno(fd);
  out.poll_oneoff = () => () => WasiErrno.nosys;
  out.proc_raise = () => () => WasiErrno.nosys;
  out.sched_yield = () => () => WasiErrno.success;
  out.proc_exit = () => (code: number) => {
    throw new GuestExit(code >>> 0);
  };
  out.random_get = (ctx) => {
    const fill = m.wasiRandom === "crypto"
      ? (b: Uint8Array) => {
        for (let k = 0; k < b.length; k += 65536) crypto.getRandomValues(b.subarray(k, k + 65536));
      }
      : prng(seedOf(m.plugin));
    return (ptr: number, len: number) => {
      const bytes = ctx.read(ptr, len, 0xffffffff);
      if (bytes === undefined) return WasiErrno.fault;
      const tmp = new Uint8Array(bytes.length);
      fill(tmp);
      bytes.set(tmp);
      return WasiErrno.success;
    };
  };
  return out;
}

/** Posts what one `fd_write` wrote as log lines: one per `\n`, the rest as its own line. */
function writeLines(
  ctx: GuestContext,
  maxPerCall: number,
  quota: LogQuota,
  post: (m: WorkerReply) => void,
  level: "info" | "warn",
  parts: Uint8Array[],
  total: number,
): void {
  const all = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  const text = lossy.decode(all);
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  for (const line of lines) {
    if (!admitLogLine(quota, maxPerCall, ctx.hook, post)) return;
    const long = line.length > MAX_GUEST_MESSAGE_BYTES;
    post({
      type: "log",
      hook: ctx.hook,
      level,
      message: cleanMessage(long ? line.slice(0, MAX_GUEST_MESSAGE_BYTES) : line),
      invalid: long ? "truncated" : undefined,
    });
  }
}
