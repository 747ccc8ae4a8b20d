/**
 * The one error type of the host: {@linkcode HookError} with a closed
 * {@linkcode HookErrorCode} union. Pure data, no Deno APIs.
 *
 * @module
 */

/**
 * Every code a {@linkcode HookError} can carry. Closed: callers switch on it,
 * never on message text.
 *
 * Guest-reported (docs/abi.md#statuses): `guest_error`, `out_of_memory`, `bad_payload`,
 * `unknown_hook`, `trapped`. Host-side (docs/abi.md#errors-the-host-reports): the rest of the first
 * block. Extensions of this host are in the second block.
 */
export const HOOK_ERROR_CODES = [
  // docs/abi.md#statuses: on the wire
  "guest_error",
  "out_of_memory",
  "bad_payload",
  "unknown_hook",
  "trapped",
  // docs/abi.md#errors-the-host-reports: host-side
  "payload_too_large",
  "response_too_large",
  "bad_response",
  "timeout",
  "fuel_exhausted",
  "worker_crashed",
  "closed",
  "capability_denied",
  "missing_export",
  "invalid_module",
  "memory_limit",
  "abi_version",
  "digest_mismatch",
  "invalid_manifest",
  "isolation_unavailable",
  "hook_not_declared",
  // extensions of this host
  "invalid_hook_name",
  // a hook used as another kind than it is declared or registered as: calling
  // a filter hook with doAction, adding an action handler to a guard hook, a
  // manifest binding a declared hook with another kind
  "hook_kind_mismatch",
  "handler_failed",
  "action_failed",
  "unknown_plugin",
  "duplicate_plugin",
  "quarantined",
  "unsupported_feature",
  "module_too_large",
  // the host process itself lacks a Deno permission it needs (the message names it and the flag)
  "permission_required",
  // a plugin claims a pinned name but is not the pinned plugin (digest or manifest path differ)
  "identity_mismatch",
  // issue 15, handlers outside the sandbox: a command or HTTP handler the host does not enable
  // (the kind is off, or the URL's host:port is not on the allow-list)
  "handler_not_allowed",
  // a command handler that could not start, exited non-zero or died of a signal
  "command_failed",
  // an HTTP handler whose request failed: connection, non-2xx status, redirect to another host
  "http_failed",
  // a hooks.toml / hook.toml / HOOK.toml that does not parse or validate
  "invalid_hook_file",
  // a hook definition or plugin whose fingerprint the trust store has not approved (skipped)
  "not_approved",
  // require_signature: a plugin without a detached signature file
  "signature_missing",
  // a signature that does not verify, is malformed, or is by a key the host does not trust
  "signature_invalid",
  // a binding asks a hook point for a decision it does not allow or a handle it does not offer
  "point_mismatch",
  // a hook point binding changed a field the point does not let it change (`field` names it)
  "invariant_violated",
  // a hook point binding's change makes the subject fail the host's validation (`field` names it)
  "revalidation_failed",
] as const;

/** One of {@linkcode HOOK_ERROR_CODES}. */
export type HookErrorCode = typeof HOOK_ERROR_CODES[number];

const CODE_SET: ReadonlySet<string> = new Set(HOOK_ERROR_CODES);

/**
 * Whether `value` is one of the closed set of {@linkcode HookErrorCode}s.
 *
 * @param value Anything.
 * @returns `true` when `value` is a known code.
 *
 * @example Narrowing a string
 * ```ts
 * import { isHookErrorCode } from "./errors.ts";
 * import assert from "node:assert/strict";
 * assert.equal(isHookErrorCode("trapped"), true);
 * assert.equal(isHookErrorCode("nope"), false);
 * ```
 */
export function isHookErrorCode(value: unknown): value is HookErrorCode {
  return typeof value === "string" && CODE_SET.has(value);
}

/** Fields of a {@linkcode HookError} besides its code and message. */
export interface HookErrorOptions {
  /** The plugin involved, when there is one. */
  plugin?: string;
  /** The hook involved, when there is one. */
  hook?: string;
  /** The raw negative status the guest returned, for guest-reported codes. */
  status?: number;
  /** The underlying error or record. */
  cause?: unknown;
  /** For a blocked filter chain: the last value accepted before the failure. */
  value?: unknown;
  /** For an aggregated action failure: every failure, in dispatch order. */
  errors?: readonly HookError[];
  /** For `invariant_violated` and `revalidation_failed`: the subject field involved. */
  field?: string;
}

/**
 * A plain, structured-clone-safe record of a {@linkcode HookError}: what
 * crosses the worker boundary. Messages never carry meaning; `code` does.
 */
export interface HookErrorRecord {
  /** The error code. */
  code: HookErrorCode;
  /** Human-readable detail. */
  message: string;
  /** The plugin involved. */
  plugin?: string;
  /** The hook involved. */
  hook?: string;
  /** The raw guest status. */
  status?: number;
}

/**
 * The error every failure of the host surfaces as. Switch on `code`.
 *
 * @example Catching a refusal
 * ```ts
 * import { HookError } from "./errors.ts";
 * import assert from "node:assert/strict";
 * try {
 *   throw new HookError("unknown_hook", "Cannot call hook \"x\": the plugin does not handle it", {
 *     plugin: "demo",
 *     hook: "x",
 *     status: -4,
 *   });
 * } catch (e) {
 *   assert.ok(e instanceof HookError);
 *   assert.equal(e.code, "unknown_hook");
 *   assert.equal(e.status, -4);
 * }
 * ```
 */
export class HookError extends Error {
  /** What went wrong, from a closed set. */
  readonly code: HookErrorCode;
  /** The plugin involved, if any. */
  readonly plugin?: string;
  /** The hook involved, if any. */
  readonly hook?: string;
  /** The raw guest status, if the guest returned one. */
  readonly status?: number;
  /** For a blocked filter chain: the last accepted value. */
  readonly value?: unknown;
  /** For an aggregated action failure: every failure. */
  readonly errors?: readonly HookError[];
  /** For `invariant_violated` and `revalidation_failed`: the subject field involved. */
  readonly field?: string;

  /**
   * Creates an error.
   *
   * @param code One of {@linkcode HOOK_ERROR_CODES}.
   * @param message Capitalised, names the failed action, detail after a colon.
   * @param options Plugin, hook, status, cause, value, errors.
   */
  constructor(code: HookErrorCode, message: string, options: HookErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "HookError";
    this.code = code;
    if (options.plugin !== undefined) this.plugin = options.plugin;
    if (options.hook !== undefined) this.hook = options.hook;
    if (options.status !== undefined) this.status = options.status;
    if ("value" in options) this.value = options.value;
    if (options.errors !== undefined) this.errors = options.errors;
    if (options.field !== undefined) this.field = options.field;
  }

  /**
   * The structured-clone-safe record of this error.
   *
   * @returns A plain object with the code, message, plugin, hook and status.
   *
   * @example Round trip
   * ```ts
   * import { HookError } from "./errors.ts";
   * import assert from "node:assert/strict";
   * const e = new HookError("trapped", "Hook trapped: boom", { plugin: "p" });
   * const back = HookError.fromRecord(e.toRecord());
   * assert.equal(back.code, "trapped");
   * assert.equal(back.plugin, "p");
   * ```
   */
  toRecord(): HookErrorRecord {
    const r: HookErrorRecord = { code: this.code, message: this.message };
    if (this.plugin !== undefined) r.plugin = this.plugin;
    if (this.hook !== undefined) r.hook = this.hook;
    if (this.status !== undefined) r.status = this.status;
    return r;
  }

  /**
   * Rebuilds a {@linkcode HookError} from a record that crossed a boundary.
   * An unknown code becomes `worker_crashed`, keeping the record as cause.
   *
   * @param record What {@linkcode HookError.prototype.toRecord} produced.
   * @param extra Fields to fill in where the record has none.
   * @returns The error.
   *
   * @example Filling in the plugin name
   * ```ts
   * import { HookError } from "./errors.ts";
   * import assert from "node:assert/strict";
   * const e = HookError.fromRecord({ code: "bad_payload", message: "Bad payload" }, { plugin: "p" });
   * assert.equal(e.plugin, "p");
   * ```
   */
  static fromRecord(
    record: HookErrorRecord,
    extra: Pick<HookErrorOptions, "plugin" | "hook"> = {},
  ): HookError {
    if (!isHookErrorCode(record?.code)) {
      return new HookError("worker_crashed", "Worker sent a malformed error record", {
        ...extra,
        cause: record,
      });
    }
    return new HookError(record.code, String(record.message), {
      plugin: record.plugin ?? extra.plugin,
      hook: record.hook ?? extra.hook,
      status: record.status,
    });
  }
}
