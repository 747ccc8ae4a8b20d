/**
 * Matchers: which subjects of a hook point a binding is called for.
 *
 * Syntax of a `match` string (docs/abi.md#matchers):
 *
 * - `*` matches everything (the same as no `match`).
 * - `/…/` (a leading and a trailing slash) is a JavaScript regular expression,
 *   `u` flag, no other flags, unanchored: write `^` and `$` to anchor it. A
 *   regular expression can backtrack for a long time on the host's thread, so
 *   the plugin host accepts one in a manifest only with `regexMatchers: true`.
 * - Anything else is one or more alternatives separated by `|`; each is an
 *   exact name, where `*` stands for any run of characters (so `mcp__*` is a
 *   prefix, `*_file` a suffix). Alternatives use `A-Z a-z 0-9 _ - . :` and `*`.
 *
 * A matcher tests the point's match field of the subject; a subject whose
 * field is not a string matches only `*`.
 *
 * @module
 */

/** A compiled matcher: `test(value)` says whether a binding is called. */
export interface Matcher {
  /** The pattern as written. */
  readonly source: string;
  /** Whether it is a regular expression (`/…/`). */
  readonly regex: boolean;
  /** Whether the matcher accepts every subject. */
  readonly all: boolean;
  /**
   * Tests a subject's match field.
   *
   * @param value The field's value.
   * @returns `true` when the binding is to be called.
   */
  test(value: unknown): boolean;
}

const ALT = /^[A-Za-z0-9_.:*-]+$/;
const MAX_PATTERN = 1024;

/**
 * Compiles a `match` pattern.
 *
 * @param pattern The pattern (see the module documentation).
 * @returns The matcher.
 * @throws {SyntaxError} For an empty pattern, an empty alternative, a
 * character outside the alternative alphabet, or an invalid regular
 * expression; the message says which.
 *
 * @example The four forms
 * ```ts
 * import { compileMatcher } from "./matcher.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(compileMatcher("Bash").test("Bash"), true);
 * assert.equal(compileMatcher("Bash").test("BashX"), false);
 * assert.equal(compileMatcher("Write|Edit").test("Edit"), true);
 * assert.equal(compileMatcher("mcp__*").test("mcp__fetch__get"), true);
 * assert.equal(compileMatcher("/^Web(Fetch|Search)$/").test("WebSearch"), true);
 * assert.equal(compileMatcher("*").test(42), true);
 * ```
 */
export function compileMatcher(pattern: string): Matcher {
  if (typeof pattern !== "string" || pattern.length === 0 || pattern.length > MAX_PATTERN) {
    throw new SyntaxError(
      `Invalid matcher ${
        JSON.stringify(pattern)
      }: a match pattern is 1 to ${MAX_PATTERN} characters`,
    );
  }
  if (pattern === "*") return { source: pattern, all: true, regex: false, test: () => true };
  if (pattern.length >= 2 && pattern.startsWith("/") && pattern.endsWith("/")) {
    let re: RegExp;
    try {
      re = new RegExp(pattern.slice(1, -1), "u");
    } catch (e) {
      throw new SyntaxError(
        `Invalid matcher ${JSON.stringify(pattern)}: not a regular expression (${
          (e as Error).message
        })`,
      );
    }
    return {
      source: pattern,
      all: false,
      regex: true,
      test: (v) => typeof v === "string" && re.test(v),
    };
  }
  const exact = new Set<string>();
  const wild: string[][] = [];
  for (const alt of pattern.split("|")) {
    if (!ALT.test(alt)) {
      throw new SyntaxError(
        `Invalid matcher ${JSON.stringify(pattern)}: alternative ${JSON.stringify(alt)} ` +
          'must be a non-empty run of "A-Z a-z 0-9 _ - . :" and "*"; write /…/ for a regular expression',
      );
    }
    if (alt === "*") return { source: pattern, all: true, regex: false, test: () => true };
    if (!alt.includes("*")) exact.add(alt);
    else wild.push(alt.split("*"));
  }
  return {
    source: pattern,
    all: false,
    regex: false,
    test: (v) => typeof v === "string" && (exact.has(v) || wild.some((parts) => glob(parts, v))),
  };
}

/**
 * Whether `value` is `parts` joined by runs of any characters: the first
 * part a prefix, the last a suffix, the others found left to right. Greedy
 * leftmost search, linear in the value for each part: no backtracking, so
 * no pattern can make it slow.
 */
function glob(parts: readonly string[], value: string): boolean {
  const first = parts[0];
  const last = parts[parts.length - 1];
  if (value.length < first.length + last.length) return false;
  if (!value.startsWith(first) || !value.endsWith(last)) return false;
  let at = first.length;
  const end = value.length - last.length;
  for (let i = 1; i < parts.length - 1; i++) {
    const found = value.indexOf(parts[i], at);
    if (found < 0 || found + parts[i].length > end) return false;
    at = found + parts[i].length;
  }
  return true;
}
