/**
 * Hook names (docs/abi.md#hook-names): 1..256 bytes matching
 * `^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$`.
 *
 * @module
 */

import { HookError } from "./errors.ts";

/** The pattern every hook name matches. */
export const HOOK_NAME_PATTERN: RegExp = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$/;

/** The longest hook name, in bytes (names are ASCII, so also characters). */
export const MAX_HOOK_NAME_BYTES = 256;

/**
 * Whether `name` is a valid hook name.
 *
 * @param name Anything.
 * @returns `true` for a valid name.
 *
 * @example
 * ```ts
 * import { isHookName } from "./hook_name.ts";
 * import assert from "node:assert/strict";
 * assert.equal(isHookName("the_content"), true);
 * assert.equal(isHookName("a.b_c.d9"), true);
 * assert.equal(isHookName("Bad-Name"), false);
 * ```
 */
export function isHookName(name: unknown): name is string {
  return typeof name === "string" && name.length >= 1 && name.length <= MAX_HOOK_NAME_BYTES &&
    HOOK_NAME_PATTERN.test(name);
}

/**
 * Throws `invalid_hook_name` unless `name` is a valid hook name.
 *
 * @param name The name to check.
 * @param plugin The plugin involved, for the error.
 * @throws {HookError} `invalid_hook_name`, quoting the name.
 *
 * @example
 * ```ts
 * import { assertHookName } from "./hook_name.ts";
 * import assert from "node:assert/strict";
 * assert.throws(() => assertHookName("9lives"), { code: "invalid_hook_name" });
 * ```
 */
export function assertHookName(name: unknown, plugin?: string): asserts name is string {
  if (isHookName(name)) return;
  const shown = typeof name === "string"
    ? JSON.stringify(name.length > 64 ? name.slice(0, 64) + "…" : name)
    : typeof name;
  const why = typeof name !== "string"
    ? "not a string"
    : name.length === 0
    ? "empty"
    : name.length > MAX_HOOK_NAME_BYTES
    ? `longer than ${MAX_HOOK_NAME_BYTES} bytes`
    : `does not match ${HOOK_NAME_PATTERN.source}`;
  throw new HookError("invalid_hook_name", `Invalid hook name ${shown}: ${why}`, {
    plugin,
    hook: typeof name === "string" ? name : undefined,
  });
}
