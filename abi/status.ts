/**
 * The status table (docs/abi.md#statuses), shared by hook returns and host imports.
 *
 * @module
 */

import type { HookErrorCode } from "./errors.ts";

/** Status codes on the wire. */
export const Status = {
  ok: 0,
  guest_error: -1,
  out_of_memory: -2,
  bad_payload: -3,
  unknown_hook: -4,
  trapped: -5,
  /**
   * Extension, host imports only: refused (an event name the host did not
   * approve, a handle that is not the call's own, an unapproved item kind).
   */
  denied: -6,
  /** Extension, host imports only: over a quota (state sizes, events per call). */
  quota_exceeded: -7,
} as const;

/**
 * The error code a negative status returned by a guest stands for. `-5`
 * (`trapped`) is host-only: a guest returning it is reported as `guest_error`
 * with the raw status kept, like any other unknown negative status.
 *
 * @param status A negative status from the guest.
 * @returns The matching code.
 *
 * @example
 * ```ts
 * import { codeForStatus } from "./status.ts";
 * import assert from "node:assert/strict";
 * assert.equal(codeForStatus(-4), "unknown_hook");
 * assert.equal(codeForStatus(-99), "guest_error");
 * ```
 */
export function codeForStatus(status: number): HookErrorCode {
  switch (status) {
    case Status.out_of_memory:
      return "out_of_memory";
    case Status.bad_payload:
      return "bad_payload";
    case Status.unknown_hook:
      return "unknown_hook";
    default:
      return "guest_error";
  }
}
