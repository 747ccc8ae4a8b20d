/**
 * How a manifest refusal is worded: one problem per key, named as written in
 * the file, the offending value shown short and escaped, a typo's closest
 * known key suggested, and several problems in one error.
 *
 * @module
 */

import { HookError, type HookErrorCode } from "../../abi/errors.ts";

/**
 * How to get a module's digest into its manifest: said by every refusal of
 * the `digest` key. `gn pin` is the package's command (cli/pin.ts); `b3sum`
 * is the BLAKE3 reference tool.
 */
export const PIN_HINT =
  "pin it with `deno run -A jsr:@gn/plugin-host/cli pin path/to/plugin.toml` " +
  "(`deno task gn pin …` in a checkout), or take the hex `b3sum --no-names <module>` prints";

/** Repeated string items (or item fields) after their first occurrence. */
export function findDuplicates(
  items: unknown,
  field: readonly string[],
): { index: number; first: number; value: string }[] {
  if (!Array.isArray(items)) return [];
  const seen = new Map<string, number>();
  const found: { index: number; first: number; value: string }[] = [];
  items.forEach((item: unknown, index) => {
    const value = valueAt(item, field);
    if (typeof value !== "string") return;
    const first = seen.get(value);
    if (first === undefined) seen.set(value, index);
    else found.push({ index, first, value });
  });
  return found;
}

export interface Problem {
  /** Dotted key path as written in the file, e.g. `hooks[1].kind`. */
  key: string;
  /** Why, with the offending value in parentheses when there is one. */
  reason: string;
}

/** Keeps the first problem of each key: one reason per key is enough. */
export function dedupe(problems: readonly Problem[]): Problem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    if (seen.has(p.key)) return false;
    seen.add(p.key);
    return true;
  });
}

/** The closest known key, if the unknown one looks like a typo of it. */
export function suggest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const d = candidate.startsWith(key) && key.length >= 3 ? 0 : distance(key, candidate);
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return bestDistance <= Math.max(1, Math.floor(key.length / 3)) ? best : undefined;
}

/** Levenshtein distance. */
function distance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(
        row[j] + 1,
        next[j - 1] + 1,
        row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    row = next;
  }
  return row[b.length];
}

export function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let value = root;
  for (const key of path) {
    if (typeof value !== "object" || value === null) return undefined;
    value = Object.hasOwn(value, key) ? (value as Record<PropertyKey, unknown>)[key] : undefined;
  }
  return value;
}

/** `["hooks", 1, "kind"]` → `hooks[1].kind`; odd keys are quoted. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const key of path) {
    if (typeof key === "number") out += `[${key}]`;
    else if (/^[A-Za-z0-9_-]+$/.test(String(key))) out += (out ? "." : "") + String(key);
    else out += `[${JSON.stringify(String(key))}]`;
  }
  return out;
}

/** A short, escaped rendering of a TOML value for a message. */
export function show(value: unknown): string {
  if (typeof value === "string") {
    return JSON.stringify(value.length > 80 ? value.slice(0, 77) + "..." : value);
  }
  if (typeof value === "number" || typeof value === "bigint" || typeof value === "boolean") {
    return String(value);
  }
  if (Array.isArray(value)) return value.length === 0 ? "an empty array" : "an array";
  if (value instanceof Date) return "a date";
  if (typeof value === "object" && value !== null) return "a table";
  return String(value);
}

export function quote(s: string): string {
  return JSON.stringify(s);
}

/**
 * One error for several problems: the first in the headline, each of the
 * others on a line of its own.
 */
export function refusal(
  code: HookErrorCode,
  action: string,
  problems: readonly Problem[],
  options: { plugin?: string; hook?: string; cause?: unknown; errors?: readonly HookError[] },
): HookError {
  const [first, ...others] = problems;
  const lines = [`${action}: key ${quote(first.key)}: ${first.reason}`];
  for (const p of others) lines.push(`  key ${quote(p.key)}: ${p.reason}`);
  return new HookError(code, lines.join("\n"), options);
}
