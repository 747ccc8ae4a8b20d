/**
 * The WASI subset a plugin granted the `wasi` capability may import
 * (docs/abi.md#wasi-ext): every function of `wasi_snapshot_preview1`, with its
 * exact core-wasm signature, and what the host answers. Pure data: the load-time
 * check refuses any other WASI import, and the worker serves exactly these.
 *
 * @module
 */

import type { FuncType, ValType } from "../wasm/reader.ts";
import type { Capability } from "./imports.ts";

/** The import module of WASI preview 1. */
export const WASI_MODULE = "wasi_snapshot_preview1";

/** WASI errno values the host answers (`wasi_snapshot_preview1.witx`, type `errno`). */
export const WasiErrno = {
  /** No error. */
  success: 0,
  /** Bad file descriptor: no file, directory or socket is open under that number. */
  badf: 8,
  /** A pointer or length from the guest is outside its memory. */
  fault: 21,
  /** Invalid argument (an unknown clock id). */
  inval: 28,
  /** Function not supported. */
  nosys: 52,
  /** Illegal seek (the standard streams). */
  spipe: 70,
  /** Not permitted by the plugin's capabilities. */
  notcapable: 76,
} as const;

/** One WASI function: its name, exact signature, the extra token it needs, and what it does here. */
export interface WasiImportSpec {
  /** The import name in module {@linkcode WASI_MODULE}. */
  name: string;
  /** The exact core-wasm signature (`wasi_snapshot_preview1.witx` lowered). */
  type: FuncType;
  /** A token needed besides `wasi` (the load fails without it); `null` for none. */
  needs: Capability | null;
  /** What the host answers, in one line (docs/abi.md#wasi-ext). */
  answer: string;
}

const i = "i32" as ValType;
const I = "i64" as ValType;
const sig = (params: ValType[], results: ValType[] = [i]): FuncType => ({ params, results });
const FD = "`EBADF` (8); fds 0–2: `ENOTCAPABLE` (76)";

/**
 * Every `wasi_snapshot_preview1` function, in witx order. A module may import
 * only these names with exactly these signatures; no call traps except
 * `proc_exit`, which ends the call as `trapped`.
 */
export const WASI_IMPORTS: readonly WasiImportSpec[] = [
  { name: "args_get", type: sig([i, i]), needs: null, answer: "0: no arguments" },
  { name: "args_sizes_get", type: sig([i, i]), needs: null, answer: "0: count 0, size 0" },
  { name: "environ_get", type: sig([i, i]), needs: null, answer: "0: no variables" },
  { name: "environ_sizes_get", type: sig([i, i]), needs: null, answer: "0: count 0, size 0" },
  {
    name: "clock_res_get",
    type: sig([i, i]),
    needs: "clock",
    answer: "realtime 1 ms, monotonic 1 µs; other clocks `EINVAL` (28)",
  },
  {
    name: "clock_time_get",
    type: sig([i, I, i]),
    needs: "clock",
    answer: "realtime: Unix ns; monotonic: ns since the worker started; other clocks `EINVAL` (28)",
  },
  { name: "fd_advise", type: sig([i, I, I, i]), needs: null, answer: FD },
  { name: "fd_allocate", type: sig([i, I, I]), needs: null, answer: FD },
  { name: "fd_close", type: sig([i]), needs: null, answer: FD },
  { name: "fd_datasync", type: sig([i]), needs: null, answer: FD },
  {
    name: "fd_fdstat_get",
    type: sig([i, i]),
    needs: null,
    answer: "fds 0–2: a character device (stdin readable, 1 and 2 writable); others `EBADF` (8)",
  },
  { name: "fd_fdstat_set_flags", type: sig([i, i]), needs: null, answer: FD },
  { name: "fd_fdstat_set_rights", type: sig([i, I, I]), needs: null, answer: FD },
  { name: "fd_filestat_get", type: sig([i, i]), needs: null, answer: FD },
  { name: "fd_filestat_set_size", type: sig([i, I]), needs: null, answer: FD },
  { name: "fd_filestat_set_times", type: sig([i, I, I, i]), needs: null, answer: FD },
  { name: "fd_pread", type: sig([i, i, i, I, i]), needs: null, answer: FD },
  {
    name: "fd_prestat_get",
    type: sig([i, i]),
    needs: null,
    answer: "`EBADF` (8): no preopened directories",
  },
  { name: "fd_prestat_dir_name", type: sig([i, i, i]), needs: null, answer: "`EBADF` (8)" },
  { name: "fd_pwrite", type: sig([i, i, i, I, i]), needs: null, answer: FD },
  {
    name: "fd_read",
    type: sig([i, i, i, i]),
    needs: null,
    answer: "fd 0: 0 bytes (end of file); 1, 2: `ENOTCAPABLE` (76); others `EBADF` (8)",
  },
  { name: "fd_readdir", type: sig([i, i, i, I, i]), needs: null, answer: FD },
  { name: "fd_renumber", type: sig([i, i]), needs: null, answer: FD },
  {
    name: "fd_seek",
    type: sig([i, I, i, i]),
    needs: null,
    answer: "fds 0–2: `ESPIPE` (70); others `EBADF` (8)",
  },
  { name: "fd_sync", type: sig([i]), needs: null, answer: FD },
  {
    name: "fd_tell",
    type: sig([i, i]),
    needs: null,
    answer: "fds 0–2: `ESPIPE` (70); others `EBADF` (8)",
  },
  {
    name: "fd_write",
    type: sig([i, i, i, i]),
    needs: null,
    answer:
      "fd 1 → log `info`, fd 2 → log `warn`, one line per `\\n` (with `log`; without it the bytes are discarded), all bytes written; others `EBADF` (8)",
  },
  { name: "path_create_directory", type: sig([i, i, i]), needs: null, answer: FD },
  { name: "path_filestat_get", type: sig([i, i, i, i, i]), needs: null, answer: FD },
  { name: "path_filestat_set_times", type: sig([i, i, i, i, I, I, i]), needs: null, answer: FD },
  { name: "path_link", type: sig([i, i, i, i, i, i, i]), needs: null, answer: FD },
  { name: "path_open", type: sig([i, i, i, i, i, I, I, i, i]), needs: null, answer: FD },
  { name: "path_readlink", type: sig([i, i, i, i, i, i]), needs: null, answer: FD },
  { name: "path_remove_directory", type: sig([i, i, i]), needs: null, answer: FD },
  { name: "path_rename", type: sig([i, i, i, i, i, i]), needs: null, answer: FD },
  { name: "path_symlink", type: sig([i, i, i, i, i]), needs: null, answer: FD },
  { name: "path_unlink_file", type: sig([i, i, i]), needs: null, answer: FD },
  { name: "poll_oneoff", type: sig([i, i, i, i]), needs: null, answer: "`ENOSYS` (52)" },
  {
    name: "proc_exit",
    type: sig([i], []),
    needs: null,
    answer: "ends the call as `trapped`, the exit code in the message",
  },
  { name: "proc_raise", type: sig([i]), needs: null, answer: "`ENOSYS` (52)" },
  { name: "sched_yield", type: sig([]), needs: null, answer: "0" },
  {
    name: "random_get",
    type: sig([i, i]),
    needs: null,
    answer:
      '0: bytes of a PRNG seeded per instance from the plugin name; real randomness if the host sets `wasiRandom: "crypto"`',
  },
  { name: "sock_accept", type: sig([i, i, i]), needs: null, answer: FD },
  { name: "sock_recv", type: sig([i, i, i, i, i, i]), needs: null, answer: FD },
  { name: "sock_send", type: sig([i, i, i, i, i]), needs: null, answer: FD },
  { name: "sock_shutdown", type: sig([i, i]), needs: null, answer: FD },
];
