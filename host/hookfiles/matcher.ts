/**
 * A small local matcher for hook definitions: which subjects a definition
 * handles. Kept apart so it can give way to the bus's own matchers.
 *
 * @module
 */

/**
 * Compiles a matcher: `"Bash"` (exact), `"Write|Edit"` (alternatives, each
 * exact or a prefix), `"mcp__*"` (prefix), `"*"` (anything), `"/regex/"`
 * (a JavaScript regular expression, unanchored).
 *
 * @param matcher The pattern; `undefined` matches everything.
 * @param field Dotted path of the subject field to test; `undefined` tests
 * the subject itself. A subject (or field) that is not a string never matches
 * a pattern.
 * @returns A predicate over the subject.
 * @throws {SyntaxError} For a `/regex/` that does not compile.
 *
 * @example
 * ```ts
 * import { compileMatcher } from "./matcher.ts";
 * import assert from "node:assert/strict";
 * const m = compileMatcher("Write|mcp__*", "tool");
 * assert.equal(m({ tool: "Write" }), true);
 * assert.equal(m({ tool: "mcp__fs" }), true);
 * assert.equal(m({ tool: "Bash" }), false);
 * assert.equal(compileMatcher("/^ba/i", undefined)("Bash"), true);
 * ```
 */
export function compileMatcher(
  matcher: string | undefined,
  field: string | undefined,
): (subject: unknown) => boolean {
  if (matcher === undefined || matcher === "*") return () => true;
  const path = field === undefined ? [] : field.split(".");
  const pick = (subject: unknown): string | undefined => {
    let v = subject;
    for (const k of path) {
      if (v === null || typeof v !== "object" || !Object.hasOwn(v, k)) return undefined;
      v = (v as Record<string, unknown>)[k];
    }
    return typeof v === "string" ? v : undefined;
  };
  let test: (s: string) => boolean;
  const re = /^\/(.*)\/([a-z]*)$/s.exec(matcher);
  if (re !== null && matcher.length > 1) {
    const r = new RegExp(re[1], re[2].replace(/[gy]/g, ""));
    test = (s) => r.test(s);
  } else {
    const alts = matcher.split("|").map((a) =>
      a.endsWith("*") ? ((s: string) => s.startsWith(a.slice(0, -1))) : ((s: string) => s === a)
    );
    test = (s) => alts.some((t) => t(s));
  }
  return (subject) => {
    const s = pick(subject);
    return s !== undefined && test(s);
  };
}
