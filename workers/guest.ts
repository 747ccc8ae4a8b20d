/**
 * One plugin instance and the atomic call exchange of docs/abi.md#one-call. Runs
 * inside the plugin's worker (and in-process for the benchmark floor); uses
 * no Deno APIs.
 *
 * Every path frees what it allocated: name, payload and body, error paths
 * included. Lengths are checked before anything is copied or decoded.
 *
 * @module
 */

import { HookError, type HookErrorCode } from "../abi/errors.ts";
import { codeForStatus, Status } from "../abi/status.ts";
import { decodeUtf8 } from "../abi/utf8.ts";
import { FUEL_EXPORTS, REFUEL_NAMES } from "../abi/imports.ts";
import { unpack } from "../abi/packed.ts";

const FUEL_GET = FUEL_EXPORTS.get;
const FUEL_SET = FUEL_EXPORTS.set;

/**
 * The import the meter adds with `refuel` (see `meter/`): called each time
 * the guest used up its slice of fuel; returns the next slice, or traps once
 * the host abandoned the call, so a guest that never calls the host stops
 * within one slice of the timeout.
 */
export const REFUEL_IMPORT: typeof REFUEL_NAMES = REFUEL_NAMES;

/**
 * The fuel one refuel hands out: about a millisecond of guest work, the
 * longest an abandoned guest runs on. Fuel accounting does not depend on it.
 */
export const REFUEL_SLICE = 1_000_000n;

/** Thrown by `gn_panic` to unwind the guest; becomes `trapped`. */
export class GuestPanic extends Error {
  constructor(message: string) {
    super(message);
    this.name = "GuestPanic";
  }
}

/** Thrown by WASI `proc_exit` to unwind the guest; becomes `trapped` with the exit code. */
export class GuestExit extends Error {
  /** The exit code the guest passed. */
  readonly code: number;
  constructor(code: number) {
    super(`exit code ${code}`);
    this.name = "GuestExit";
    this.code = code;
  }
}

/** The most bytes of a guest message (`gn_panic`, `gn_error_set`) that are kept. */
export const MAX_GUEST_MESSAGE_BYTES = 4096;

const lossy = new TextDecoder("utf-8", { fatal: false });
const encoder = new TextEncoder();

/** What a host import sees of the call it runs in. */
export interface GuestContext {
  /** The plugin. */
  readonly plugin: string;
  /** The hook being called, or `undefined` during start-up. */
  readonly hook: string | undefined;
  /** The guest's memory as it is now (re-read after anything that can grow it). */
  bytes(): Uint8Array;
  /**
   * Reads `[ptr, ptr+len)` from guest memory, unsigned and bounds-checked.
   * Returns `undefined` when out of bounds or over `max`.
   */
  read(ptr: number, len: number, max: number): Uint8Array | undefined;
  /** Allocates `data.length` bytes in the guest with `gn_alloc`, copies `data`, returns the pointer (0 on failure). */
  write(data: Uint8Array): number;
  /** Fuel left in this call, when metered. */
  fuelLeft(): bigint | undefined;
  /** The envelope bytes of the call in progress, `undefined` between calls. */
  payload(): Uint8Array | undefined;
}

/** Builds the `env` imports a plugin may use, given its context. */
export type ImportFactory = (ctx: GuestContext) => WebAssembly.ImportValue;

/** Options of a {@linkcode Guest}. */
export interface GuestOptions {
  /** The plugin name, for errors. */
  plugin: string;
  /** Largest response body, in bytes. */
  maxResponseBytes: number;
  /** Largest payload, in bytes. */
  maxPayloadBytes: number;
  /** Fuel per call (and for the start function), when the module is metered. */
  fuel?: bigint;
  /** Factories of the extra granted `env` imports, by import name. */
  imports?: Readonly<Record<string, ImportFactory>>;
  /** The `env` imports the module actually declares (only these are provided). */
  importNames: readonly string[];
  /**
   * Factories of the `wasi_snapshot_preview1` functions, by name, when `wasi`
   * is granted (docs/abi.md#wasi-ext); the module's own WASI imports are
   * served from it.
   */
  wasi?: Readonly<Record<string, ImportFactory>>;
  /** Runs before each call (resets per-call quotas). */
  beforeCall?: () => void;
  /**
   * Whether the host has abandoned this instance (timed out, closed). From
   * then on every host import traps, so a guest calling the host stops at
   * its next call, and a failed call does not re-instantiate.
   */
  abandoned?: () => boolean;
}

/** Thrown by a host import once the host abandoned the call: unwinds the guest. */
export class GuestAbandoned extends Error {
  constructor() {
    super("The host abandoned this call (timeout or close); host functions refuse to run");
    this.name = "GuestAbandoned";
  }
}

interface Exports {
  memory: WebAssembly.Memory;
  gn_alloc(size: number): number;
  gn_free(ptr: number, size: number): void;
  gn_handle_hook(namePtr: number, nameLen: number, payloadPtr: number, payloadLen: number): bigint;
  gn_abi_version?: () => number;
  [FUEL_EXPORTS.get]?: () => bigint;
  [FUEL_EXPORTS.set]?: (fuel: bigint) => void;
  [FUEL_EXPORTS.start]?: () => void;
  _initialize?: () => void;
}

/** Codes after which an instance is discarded and re-instantiated. */
const POISONING: ReadonlySet<HookErrorCode> = new Set([
  "trapped",
  "fuel_exhausted",
  "out_of_memory",
]);

/**
 * A live plugin instance that serves one call at a time.
 *
 * @example Calling a hook in-process
 * ```ts ignore
 * const guest = new Guest(module, { plugin: "p", maxResponseBytes: 1 << 20, maxPayloadBytes: 1 << 20, importNames: [] });
 * guest.callText("the_content", '{"kind":"filter","value":"hi","args":[]}'); // '{"value":"HI"}'
 * ```
 */
export class Guest {
  readonly #module: WebAssembly.Module;
  readonly #options: GuestOptions;
  #exports!: Exports;
  #hook: string | undefined;
  /** The envelope of the call in progress (host imports read its handles). */
  #payload: Uint8Array | undefined;
  #errorMessage: string | undefined;
  #scratch = new Uint8Array(1024);
  readonly #nameCache = new Map<string, Uint8Array>();
  /**
   * Set when re-instantiating failed (the start function trapped): no call
   * is served from that half-started instance; the next call tries again.
   */
  #broken: HookError | undefined;
  /** The instance whose start function is running (host imports act on it). */
  #starting: Exports | undefined;
  /** How many times the instance was replaced after a poisoning failure. */
  recycles = 0;
  /** Fuel used by the last call, when metered. */
  lastFuelUsed: bigint | undefined;

  /**
   * Instantiates `module` and runs its start function (under the fuel budget
   * when metered).
   *
   * @param module The compiled module, already checked.
   * @param options Caps, fuel and imports.
   * @throws {HookError} `trapped`, `fuel_exhausted` or `abi_version`.
   */
  constructor(module: WebAssembly.Module, options: GuestOptions) {
    this.#module = module;
    this.#options = options;
    this.#instantiate();
  }

  /** The size of the instance's memory now, in bytes (the conformance suite's leak check). */
  memoryBytes(): number {
    return this.#exports.memory.buffer.byteLength;
  }

  /** The ABI version the instance reports (1 when it has no `gn_abi_version`). */
  abiVersion(): number {
    const f = this.#exports.gn_abi_version;
    if (f === undefined) return 1;
    try {
      return f();
    } catch (cause) {
      throw this.#fault(cause, "gn_abi_version");
    }
  }

  #instantiate(): void {
    const ctx = this.#context();
    const env: Record<string, WebAssembly.ImportValue> = {};
    for (const name of this.#options.importNames) {
      const make = name === "gn_panic"
        ? panicImport
        : name === "gn_error_set"
        ? () => (ptr: number, len: number) => {
          this.#errorMessage = readMessage(ctx, ptr, len);
        }
        : this.#options.imports?.[name];
      if (make === undefined) {
        throw new HookError(
          "capability_denied",
          `Cannot instantiate plugin "${this.#options.plugin}": no host function "${name}" is provided`,
          { plugin: this.#options.plugin },
        );
      }
      env[name] = this.#guard(make(ctx));
    }
    const imports: WebAssembly.Imports = { env };
    const wasiNames = WebAssembly.Module.imports(this.#module)
      .filter((i) => i.module === "wasi_snapshot_preview1").map((i) => i.name);
    if (wasiNames.length > 0) {
      const wasi: Record<string, WebAssembly.ImportValue> = {};
      for (const name of wasiNames) {
        const make = this.#options.wasi?.[name];
        if (make === undefined) {
          throw new HookError(
            "capability_denied",
            `Cannot instantiate plugin "${this.#options.plugin}": no WASI function "${name}" is provided`,
            { plugin: this.#options.plugin },
          );
        }
        wasi[name] = this.#guard(make(ctx));
      }
      imports.wasi_snapshot_preview1 = wasi;
    }
    this.#hook = undefined;
    // The new exports are installed only once the start function returned:
    // a call must never run on a half-started instance.
    let next: Exports | undefined;
    try {
      const instance = new WebAssembly.Instance(this.#module, {
        ...imports,
        [REFUEL_IMPORT.module]: { [REFUEL_IMPORT.name]: this.#refuel },
      });
      next = instance.exports as unknown as Exports;
      // The start function, then a WASI reactor's `_initialize` (its constructors).
      for (const start of [next[FUEL_EXPORTS.start], next._initialize]) {
        if (typeof start !== "function") continue;
        const fuel = this.#options.fuel;
        if (fuel !== undefined && next[FUEL_SET] !== undefined) next[FUEL_SET](fuel);
        // Host imports called by the start function see the instance starting.
        this.#starting = next;
        start();
      }
    } catch (cause) {
      throw this.#fault(cause, undefined, next);
    } finally {
      this.#starting = undefined;
    }
    this.#exports = next;
    this.#broken = undefined;
  }

  /** The refuel import: the next slice, or a trap once the host abandoned the call. */
  readonly #refuel = (): bigint => {
    if (this.#options.abandoned?.()) throw new GuestAbandoned();
    return REFUEL_SLICE;
  };

  /** Wraps a host import so that it traps once the host abandoned the instance. */
  #guard(f: WebAssembly.ImportValue): WebAssembly.ImportValue {
    const abandoned = this.#options.abandoned;
    if (abandoned === undefined || typeof f !== "function") return f;
    const g = f as (...args: unknown[]) => unknown;
    return (...args: unknown[]) => {
      if (abandoned()) throw new GuestAbandoned();
      return g(...args);
    };
  }

  #context(): GuestContext {
    // deno-lint-ignore no-this-alias
    const self = this;
    const x = (): Exports => this.#starting ?? this.#exports;
    return {
      plugin: this.#options.plugin,
      get hook() {
        return self.#hook;
      },
      bytes: () => new Uint8Array(x().memory.buffer),
      read: (ptr, len, max) => {
        const p = ptr >>> 0;
        const n = len >>> 0;
        if (n > max) return undefined;
        const mem = new Uint8Array(x().memory.buffer);
        return p + n <= mem.length ? mem.subarray(p, p + n) : undefined;
      },
      write: (data) => {
        const ptr = x().gn_alloc(data.length) >>> 0;
        if (ptr === 0) return 0;
        const mem = new Uint8Array(x().memory.buffer);
        if (ptr + data.length > mem.length) return 0;
        mem.set(data, ptr);
        return ptr;
      },
      fuelLeft: () => this.#options.fuel === undefined ? undefined : x()[FUEL_GET]?.(),
      payload: () => this.#payload,
    };
  }

  #setFuel(): void {
    if (this.#options.fuel !== undefined && this.#exports[FUEL_SET] !== undefined) {
      this.#exports[FUEL_SET](this.#options.fuel);
    }
  }

  #mem: Uint8Array<ArrayBufferLike> = new Uint8Array(0);

  /** A view of guest memory, made again only when the memory grew or the instance was recycled. */
  #memory(): Uint8Array {
    const buffer = this.#exports.memory.buffer;
    if (this.#mem.buffer !== buffer) this.#mem = new Uint8Array(buffer);
    return this.#mem;
  }

  #nameBytes(hook: string): Uint8Array {
    let b = this.#nameCache.get(hook);
    if (b === undefined) {
      b = encoder.encode(hook);
      if (this.#nameCache.size < 1024) this.#nameCache.set(hook, b);
    }
    return b;
  }

  /**
   * Calls `gn_handle_hook` with a JSON payload and returns the body text.
   *
   * @param hook The hook name (already validated).
   * @param payload The envelope JSON.
   * @returns The body text, or `null` for no body.
   * @throws {HookError} Any guest or exchange failure.
   */
  callText(hook: string, payload: string): string | null {
    if (this.#scratch.length < payload.length * 3) {
      this.#scratch = new Uint8Array(Math.max(payload.length * 3, this.#scratch.length * 2));
    }
    const { written } = encoder.encodeInto(payload, this.#scratch);
    return this.call(hook, this.#scratch.subarray(0, written), decodeBody);
  }

  /**
   * The atomic exchange: allocates name and payload, copies them in, calls
   * `gn_handle_hook`, hands the body to `read` while it is still in guest
   * memory, then frees body, payload and name, on every path.
   *
   * @param hook The hook name (already validated).
   * @param payload The encoded envelope.
   * @param read Copies or decodes the body; may throw a HookError.
   * @returns What `read` returned, or `null` for no body.
   * @throws {HookError} Any guest or exchange failure.
   */
  call<R>(hook: string, payload: Uint8Array, read: (body: Uint8Array) => R): R | null {
    const plugin = this.#options.plugin;
    if (payload.length > this.#options.maxPayloadBytes) {
      throw new HookError(
        "payload_too_large",
        `Cannot call hook "${hook}": payload of ${payload.length} bytes is over the cap of ${this.#options.maxPayloadBytes}; send less, or raise the host's maxPayloadBytes (PluginHost.create)`,
        { plugin, hook },
      );
    }
    if (this.#broken !== undefined) {
      // The last re-instantiation failed: try again, or fail with its error.
      try {
        this.#instantiate();
      } catch (cause) {
        const e = cause instanceof HookError ? cause : this.#fault(cause, hook);
        this.#broken = e;
        throw new HookError(e.code, `Cannot call hook "${hook}": ${e.message}`, {
          plugin,
          hook,
          status: e.status,
          cause: e,
        });
      }
    }
    const name = this.#nameBytes(hook);
    const x = this.#exports;
    this.#hook = hook;
    this.#payload = payload;
    this.#errorMessage = undefined;
    this.#options.beforeCall?.();
    this.#setFuel();
    const fuelBefore = this.#options.fuel;
    let namePtr = 0;
    let payloadPtr = 0;
    let failure: HookError | undefined;
    try {
      namePtr = this.#alloc(name.length, hook, "name");
      payloadPtr = this.#alloc(payload.length, hook, "payload");
      const mem = this.#memory();
      mem.set(name, namePtr);
      mem.set(payload, payloadPtr);
      const packed = x.gn_handle_hook(namePtr, name.length, payloadPtr, payload.length);
      const result = this.#answer(packed, hook, read);
      // On success the frees are part of the call: metered, and a trap in them fails it.
      const p = payloadPtr;
      payloadPtr = 0;
      x.gn_free(p, payload.length);
      const n = namePtr;
      namePtr = 0;
      x.gn_free(n, name.length);
      return result;
    } catch (cause) {
      failure = cause instanceof HookError ? cause : this.#fault(cause, hook);
      throw failure;
    } finally {
      // Error paths: free what is still held, best effort (the instance may be recycled).
      if (payloadPtr !== 0) this.#free(payloadPtr, payload.length);
      if (namePtr !== 0) this.#free(namePtr, name.length);
      if (fuelBefore !== undefined && x[FUEL_GET] !== undefined) {
        this.lastFuelUsed = fuelBefore - x[FUEL_GET]();
      }
      this.#hook = undefined;
      this.#payload = undefined;
      if (
        failure !== undefined && POISONING.has(failure.code) && !this.#options.abandoned?.()
      ) this.#recycle();
    }
  }

  #answer<R>(packed: bigint, hook: string, read: (body: Uint8Array) => R): R | null {
    const plugin = this.#options.plugin;
    const { ptr, len } = unpack(packed);
    if (len === 0) return null;
    if (len < 0) {
      if (ptr !== 0) {
        throw new HookError(
          "bad_response",
          `Hook "${hook}" answered a malformed result: pointer ${ptr} with status ${len}; a status is returned with pointer 0 (docs/abi.md#packed-return)`,
          { plugin, hook },
        );
      }
      const code = codeForStatus(len);
      const detail = (this.#errorMessage === undefined ? "" : `: ${this.#errorMessage}`) +
        (code === "unknown_hook"
          ? "; the plugin does not handle this hook: its gn_handle_hook must know every hook its plugin.toml binds"
          : "");
      throw new HookError(code, `Hook "${hook}" failed with status ${len} (${code})${detail}`, {
        plugin,
        hook,
        status: len,
      });
    }
    if (len > this.#options.maxResponseBytes) {
      if (ptr !== 0) this.#free(ptr, len);
      throw new HookError(
        "response_too_large",
        `Hook "${hook}" answered ${len} bytes, over the response cap of ${this.#options.maxResponseBytes}; make the plugin answer less, or raise the host's maxResponseBytes (PluginHost.create)`,
        { plugin, hook },
      );
    }
    const mem = this.#memory();
    if (ptr === 0 || ptr + len > mem.length) {
      throw new HookError(
        "bad_response",
        `Hook "${hook}" answered a body at [${ptr}, ${
          ptr + len
        }) outside its ${mem.length}-byte memory; return (pointer << 32) | length of a body inside memory (docs/abi.md#packed-return)`,
        { plugin, hook },
      );
    }
    let result: R;
    try {
      result = read(mem.subarray(ptr, ptr + len));
    } catch (cause) {
      this.#free(ptr, len);
      if (cause instanceof HookError) {
        throw new HookError(cause.code, `Hook "${hook}" answered a bad body: ${cause.message}`, {
          plugin,
          hook,
          cause,
        });
      }
      throw cause;
    }
    this.#exports.gn_free(ptr, len);
    return result;
  }

  #alloc(size: number, hook: string, what: string): number {
    const ptr = this.#exports.gn_alloc(size) >>> 0;
    const plugin = this.#options.plugin;
    if (ptr === 0) {
      throw new HookError(
        "out_of_memory",
        `Cannot call hook "${hook}": gn_alloc(${size}) for the ${what} returned 0 (out of memory); send less, or raise \`memory_pages\` under \`[limits]\` in plugin.toml (the host clamps it to its limits.memoryPages ceiling)`,
        { plugin, hook, status: Status.out_of_memory },
      );
    }
    if (ptr + size > this.#exports.memory.buffer.byteLength) {
      throw new HookError(
        "bad_response",
        `Cannot call hook "${hook}": gn_alloc(${size}) for the ${what} returned ${ptr}, outside memory`,
        { plugin, hook },
      );
    }
    return ptr;
  }

  /** Frees on an error path: a trap here is not the call's first failure, so it is dropped. */
  #free(ptr: number, size: number): void {
    try {
      this.#exports.gn_free(ptr, size);
    } catch {
      // The call already failed; a poisoning failure recycles the instance.
    }
  }

  /**
   * Replaces the instance after a poisoning failure. A start function that
   * fails here leaves the guest broken (the call's own failure stays the one
   * reported); the next call re-instantiates first.
   */
  #recycle(): void {
    this.recycles++;
    try {
      this.#instantiate();
    } catch (cause) {
      this.#broken = cause instanceof HookError ? cause : this.#fault(cause, undefined);
    }
  }

  #fault(cause: unknown, hook: string | undefined, exports = this.#exports): HookError {
    const plugin = this.#options.plugin;
    if (cause instanceof HookError) return cause;
    const where = hook === undefined ? "start-up" : `hook "${hook}"`;
    const left = exports?.[FUEL_GET]?.();
    if (left !== undefined && left < 0n) {
      const budget = this.#options.fuel;
      return new HookError(
        "fuel_exhausted",
        `Plugin ran out of fuel in ${where}: it used its whole budget of ${budget} units${
          hook === undefined ? " for start-up" : " for this call"
        }; raise \`fuel\` under \`[limits]\` in plugin.toml (the host clamps it to its ceiling, limits.fuel of PluginHost.create, 1000000000 unless set), or make the plugin do less per call`,
        {
          plugin,
          hook,
          cause,
        },
      );
    }
    if (cause instanceof GuestExit) {
      return new HookError(
        "trapped",
        `Plugin exited with code ${cause.code} (WASI proc_exit) in ${where}; a plugin must return from its hooks, not exit`,
        { plugin, hook, status: Status.trapped, cause },
      );
    }
    if (cause instanceof GuestPanic) {
      return new HookError("trapped", `Plugin panicked in ${where}: ${cause.message}`, {
        plugin,
        hook,
        status: Status.trapped,
        cause,
      });
    }
    if (cause instanceof WebAssembly.RuntimeError || cause instanceof RangeError) {
      return new HookError("trapped", `Plugin trapped in ${where}: ${cause.message}`, {
        plugin,
        hook,
        status: Status.trapped,
        cause,
      });
    }
    return new HookError(
      "trapped",
      `Plugin failed in ${where}: ${cause instanceof Error ? cause.message : String(cause)}`,
      { plugin, hook, status: Status.trapped, cause },
    );
  }
}

function decodeBody(body: Uint8Array): string {
  try {
    return decodeUtf8(body);
  } catch (cause) {
    throw new HookError("bad_response", "body is not valid UTF-8", { cause });
  }
}

/**
 * Reads a guest message, bounded, lossy, with control characters replaced by
 * spaces and invisible format characters (bidi overrides and isolates,
 * zero-width characters, U+FEFF, U+2028, U+2029: Unicode `Cf`, `Zl`, `Zp`)
 * by a visible escape such as `\u{202e}`.
 */
export function readMessage(ctx: GuestContext, ptr: number, len: number): string {
  const n = Math.min(len >>> 0, MAX_GUEST_MESSAGE_BYTES);
  const bytes = ctx.read(ptr, n, MAX_GUEST_MESSAGE_BYTES);
  if (bytes === undefined) {
    return `<message at [${ptr >>> 0}, ${(ptr >>> 0) + (len >>> 0)}) is outside guest memory>`;
  }
  return cleanMessage(lossy.decode(bytes));
}

/** A guest's text as a log line: control characters to spaces, invisible characters escaped. */
export function cleanMessage(text: string): string {
  return text
    // deno-lint-ignore no-control-regex
    .replace(/[\u0000-\u001f\u007f-\u009f]/g, " ")
    .replace(INVISIBLE, (c) => `\\u{${c.codePointAt(0)!.toString(16)}}`);
}

/** Characters a log sink would not show, or would let reorder or split a line. */
const INVISIBLE = /[\p{Cf}\p{Zl}\p{Zp}]/gu;

const panicImport: ImportFactory = (ctx) => (ptr: number, len: number) => {
  throw new GuestPanic(readMessage(ctx, ptr, len));
};
