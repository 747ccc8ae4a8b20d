/**
 * The output protocol of handlers that run outside the sandbox (command and
 * HTTP handlers): what their stdout or response body may say, and how it
 * becomes a guard verdict, a filter value or an action's outcome.
 *
 * The text, trimmed of surrounding white space, is one of:
 *
 * - empty, or `continue`: go on (a filter keeps its value);
 * - `block: <reason>`: block, with a reason;
 * - `ask: <question>`: ask, with a question;
 * - a JSON object: a decision as in the guard envelope
 *   (`{"decision": "continue" | "block" | "ask" | "modify", "reason"?, "question"?, "value"?}`),
 *   or, for a filter, `{"value": <json>}` (the new value).
 *
 * Anything else is `bad_response`.
 *
 * @module
 */

import { HookError } from "../../abi/errors.ts";
import { decodeGuardAnswer, type HookKind, type Verdict } from "../../abi/envelope.ts";

/**
 * Reads a handler's output text as a verdict.
 *
 * @param text The decoded stdout or response body.
 * @param who Names the handler in messages, e.g. `command hook "block-rm"`.
 * @returns The verdict; `{decision: "modify", value}` for a filter's `{"value": …}`.
 * @throws {HookError} `bad_response` for text the protocol does not allow.
 *
 * @example The four forms
 * ```ts
 * import { parseHandlerOutput } from "./protocol.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual(parseHandlerOutput("\n", "t"), { decision: "continue" });
 * assert.deepEqual(parseHandlerOutput("block: no rm", "t"), { decision: "block", reason: "no rm" });
 * assert.deepEqual(parseHandlerOutput("ask: sure?", "t"), { decision: "ask", question: "sure?" });
 * assert.deepEqual(parseHandlerOutput('{"value":"HI"}', "t"), { decision: "modify", value: "HI" });
 * ```
 */
export function parseHandlerOutput(text: string, who: string): Verdict {
  const t = text.trim();
  if (t === "" || t === "continue") return { decision: "continue" };
  const m = /^(block|ask):[ \t]*([\s\S]*)$/.exec(t);
  if (m !== null) {
    return m[1] === "block"
      ? { decision: "block", reason: m[2].trim() }
      : { decision: "ask", question: m[2].trim() };
  }
  if (t.startsWith("{")) {
    let o: unknown;
    try {
      o = JSON.parse(t);
    } catch (cause) {
      throw badOutput(who, t, cause);
    }
    if (o !== null && typeof o === "object" && !Array.isArray(o) && !("decision" in o)) {
      if ("value" in o) return { decision: "modify", value: (o as { value: unknown }).value };
    }
    try {
      return decodeGuardAnswer(t);
    } catch (cause) {
      throw badOutput(who, t, cause);
    }
  }
  throw badOutput(who, t);
}

function badOutput(who: string, text: string, cause?: unknown): HookError {
  const shown = JSON.stringify(text.length > 80 ? text.slice(0, 77) + "..." : text);
  return new HookError(
    "bad_response",
    `Cannot read the answer of ${who}: ${shown} is not in the handler output protocol; ` +
      `print nothing or "continue", "block: <reason>", "ask: <question>", or a JSON object ` +
      `{"decision": …} (or {"value": …} for a filter)`,
    { cause },
  );
}

/**
 * Turns a verdict into what a binding of `kind` returns to the bus: a guard
 * gets the verdict, a filter its new value (block and ask are failures, under
 * the binding's fail policy), an action nothing (block and ask are failures).
 *
 * @param kind The binding's kind.
 * @param verdict What the handler answered.
 * @param value The filter value or guard subject it was given.
 * @param who Names the handler in messages.
 * @returns The guard verdict, the filter value, or `undefined` for an action.
 * @throws {HookError} `handler_failed` when a filter or action answered block
 * or ask, or an action answered modify.
 *
 * @example A filter keeps its value on continue
 * ```ts
 * import { applyVerdict } from "./protocol.ts";
 * import assert from "node:assert/strict";
 * assert.equal(applyVerdict("filter", { decision: "continue" }, "hi", "t"), "hi");
 * assert.equal(applyVerdict("filter", { decision: "modify", value: "HI" }, "hi", "t"), "HI");
 * ```
 */
export function applyVerdict(
  kind: HookKind,
  verdict: Verdict,
  value: unknown,
  who: string,
): unknown {
  if (kind === "guard") return verdict;
  const d = verdict.decision;
  if (d === "continue") return kind === "filter" ? value : undefined;
  if (d === "modify" && kind === "filter") return verdict.value;
  const detail = d === "block"
    ? `block${verdict.reason ? `: ${verdict.reason}` : ""}`
    : d === "ask"
    ? `ask${verdict.question ? `: ${verdict.question}` : ""}`
    : "modify";
  throw new HookError(
    "handler_failed",
    `The ${kind} ${who} answered ${detail}; ${
      d === "modify" ? "an action cannot modify" : `a ${kind} cannot ${d}`
    }, so this is a failure of the binding under its fail policy (bind it to a guard hook to block or ask)`,
  );
}
