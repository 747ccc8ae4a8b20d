/**
 * "Did you mean …?" for hook names: the closest candidate by edit distance
 * (optimal string alignment: insertions, deletions, substitutions and
 * transpositions of neighbours each cost 1).
 *
 * @module
 */

/**
 * The edit distance between `a` and `b`, counting a swap of two neighbouring
 * characters as one edit (`"titel"` → `"title"` is 1).
 *
 * @param a One string.
 * @param b The other.
 * @returns The number of edits.
 *
 * @example
 * ```ts
 * import { editDistance } from "./_suggest.ts";
 * import assert from "node:assert/strict";
 * assert.equal(editDistance("titel_case", "title_case"), 1);
 * assert.equal(editDistance("on_evnt", "on_event"), 1);
 * ```
 */
export function editDistance(a: string, b: string): number {
  let prev: number[] = [];
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d = Math.min(d, prev[j - 2] + 1);
      }
      next[j] = d;
    }
    prev = row;
    row = next;
  }
  return row[b.length];
}

/**
 * The candidate closest to `name`, when it is close enough to be a likely
 * typo: at most a third of the name's length in edits (at least 2), or one
 * name a prefix of the other. Ties keep the candidates' order.
 *
 * @param name What was asked for.
 * @param candidates What exists.
 * @returns The closest candidate, or `undefined` when none is close.
 *
 * @example
 * ```ts
 * import { closest } from "./_suggest.ts";
 * import assert from "node:assert/strict";
 * assert.equal(closest("titel_case", ["on_event", "title_case"]), "title_case");
 * assert.equal(closest("zzz", ["on_event", "title_case"]), undefined);
 * ```
 */
export function closest(name: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const prefix = name.length >= 3 && (c.startsWith(name) || name.startsWith(c));
    const d = prefix ? Math.abs(c.length - name.length) / 1000 : editDistance(name, c);
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  return bestDistance <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}
