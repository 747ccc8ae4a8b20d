/**
 * The JSON envelopes (docs/abi.md#envelopes): what the host sends to
 * `gn_handle_hook`, and how it reads the guest's answer.
 *
 * @module
 */

import { HookError } from "./errors.ts";

/**
 * The kinds of hook (docs/abi.md#envelopes).
 *
 * @example Listing the kinds
 * ```ts
 * import { HOOK_KINDS } from "./envelope.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual([...HOOK_KINDS], ["action", "filter", "guard"]);
 * ```
 */
export const HOOK_KINDS: readonly ["action", "filter", "guard"] = ["action", "filter", "guard"];

/** One of {@linkcode HOOK_KINDS}. */
export type HookKind = typeof HOOK_KINDS[number];

/**
 * What a failure of one binding does (docs/abi.md#the-manifest): `warn` reports it and
 * carries on, `block` stops the chain, `ignore` carries on silently.
 *
 * @example Listing the policies
 * ```ts
 * import { FAIL_POLICIES } from "./envelope.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual([...FAIL_POLICIES], ["warn", "block", "ignore"]);
 * ```
 */
export const FAIL_POLICIES: readonly ["warn", "block", "ignore"] = ["warn", "block", "ignore"];

/** One of {@linkcode FAIL_POLICIES}. */
export type FailPolicy = typeof FAIL_POLICIES[number];

/** The decisions a guard can take. */
export type Decision = "continue" | "block" | "ask" | "modify";

/** What a guard answers (docs/abi.md#guard, an extension). */
export interface Verdict {
  /** What to do. */
  decision: Decision;
  /** Why, for `block` (and any other decision). */
  reason?: string;
  /** What to ask, for `ask`. */
  question?: string;
  /** The replacement subject, for `modify`. */
  value?: unknown;
}

function json(value: unknown, what: string): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (cause) {
    throw new HookError(
      "bad_payload",
      `Cannot encode the ${what}: not JSON-serialisable (${
        (cause as Error).message
      }); pass plain JSON values (no BigInt, no cycles)`,
      { cause },
    );
  }
  return text ?? "null";
}

/**
 * Encodes the payload of a hook call.
 *
 * @param kind Action, filter or guard.
 * @param value The filter value or guard subject (ignored for actions;
 *   `undefined` is sent as `null`).
 * @param args Extra arguments (`[]` when none).
 * @returns The envelope as JSON text.
 * @throws {HookError} `bad_payload` when a value is not JSON-serialisable.
 *
 * @example
 * ```ts
 * import { encodeEnvelope } from "./envelope.ts";
 * import assert from "node:assert/strict";
 * assert.equal(encodeEnvelope("action", undefined, []), '{"kind":"action","args":[]}');
 * assert.equal(
 *   encodeEnvelope("filter", "hi", [1]),
 *   '{"kind":"filter","value":"hi","args":[1]}',
 * );
 * ```
 */
export function encodeEnvelope(kind: HookKind, value: unknown, args: readonly unknown[]): string {
  const a = args.length === 0 ? "[]" : json(args, "arguments");
  if (kind === "action") return '{"kind":"action","args":' + a + "}";
  return '{"kind":"' + kind + '","value":' + json(value ?? null, "value") + ',"args":' + a + "}";
}

/** What a plugin must answer, by envelope kind: said by every `bad_response` of a body. */
const ANSWER: Readonly<Record<string, string>> = {
  filter: '{"value": <json>}',
  guard: '{"decision": "continue" | "block" | "ask" | "modify", "reason"?, "question"?, "value"?}',
};

function parseBody(text: string, what: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    throw new HookError(
      "bad_response",
      `Cannot read the ${what} answer: body is not JSON; the plugin must answer ${
        ANSWER[what] ?? "a JSON object"
      } or no body (docs/abi.md#envelopes)`,
      { cause },
    );
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new HookError(
      "bad_response",
      `Cannot read the ${what} answer: body is not a JSON object; the plugin must answer ${
        ANSWER[what] ?? "a JSON object"
      } or no body (docs/abi.md#envelopes)`,
    );
  }
  return parsed as Record<string, unknown>;
}

/**
 * Reads a filter's answer: `{"value": …}` (a missing value reads as `null`),
 * or no body (the value is unchanged).
 *
 * @param body The body text, or `null` for no body.
 * @param unchanged The value sent, returned when there is no body.
 * @returns The new value.
 * @throws {HookError} `bad_response` for a body that is not a JSON object.
 *
 * @example
 * ```ts
 * import { decodeFilterAnswer } from "./envelope.ts";
 * import assert from "node:assert/strict";
 * assert.equal(decodeFilterAnswer('{"value":"HI"}', "hi"), "HI");
 * assert.equal(decodeFilterAnswer(null, "hi"), "hi");
 * assert.equal(decodeFilterAnswer("{}", "hi"), null);
 * ```
 */
export function decodeFilterAnswer(body: string | null, unchanged: unknown): unknown {
  if (body === null) return unchanged;
  const o = parseBody(body, "filter");
  return "value" in o ? o.value : null;
}

const DECISIONS: ReadonlySet<string> = new Set(["continue", "block", "ask", "modify"]);

/**
 * Reads a guard's answer; no body means `continue`.
 *
 * @param body The body text, or `null`.
 * @returns The verdict.
 * @throws {HookError} `bad_response` for a malformed verdict.
 *
 * @example
 * ```ts
 * import { decodeGuardAnswer } from "./envelope.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual(decodeGuardAnswer(null), { decision: "continue" });
 * assert.deepEqual(
 *   decodeGuardAnswer('{"decision":"block","reason":"spam"}'),
 *   { decision: "block", reason: "spam" },
 * );
 * ```
 */
export function decodeGuardAnswer(body: string | null): Verdict {
  if (body === null) return { decision: "continue" };
  const o = parseBody(body, "guard");
  const d = o.decision;
  if (typeof d !== "string" || !DECISIONS.has(d)) {
    throw new HookError(
      "bad_response",
      `Cannot read the guard answer: "decision" must be continue, block, ask or modify (got ${
        JSON.stringify(d) ?? "nothing"
      }); the plugin must answer ${ANSWER.guard} or no body (docs/abi.md#envelopes)`,
    );
  }
  const v: Verdict = { decision: d as Decision };
  for (const key of ["reason", "question"] as const) {
    if (key in o) {
      if (typeof o[key] !== "string") {
        throw new HookError(
          "bad_response",
          `Cannot read the guard answer: "${key}" is not a string; the plugin must answer ${ANSWER.guard} (docs/abi.md#envelopes)`,
        );
      }
      v[key] = o[key] as string;
    }
  }
  if (d === "modify") v.value = "value" in o ? o.value : null;
  return v;
}
