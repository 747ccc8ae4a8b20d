/**
 * JSON merge-patch (RFC 7396), and the conflicts between two patches.
 *
 * @module
 */

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/**
 * Applies a JSON merge-patch (RFC 7396) to `target` without mutating either:
 * an object patch merges member by member (a `null` member deletes it, an
 * object member merges recursively); anything else (an array, a string,
 * `null`…) replaces the target whole.
 *
 * @param target The document to patch.
 * @param patch The merge-patch.
 * @returns The patched document (a new object where anything changed).
 *
 * @example Null deletes, objects merge, arrays are replaced whole
 * ```ts
 * import { mergePatch } from "./merge_patch.ts";
 * import assert from "node:assert/strict";
 *
 * const doc = { a: 1, b: { c: 2, d: 3 }, list: [1, 2] };
 * assert.deepEqual(mergePatch(doc, { a: null, b: { c: 9 }, list: [3] }), {
 *   b: { c: 9, d: 3 },
 *   list: [3],
 * });
 * ```
 */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return patch;
  const out: Record<string, unknown> = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else {
      // defineProperty: a "__proto__" member is data, never the prototype.
      Object.defineProperty(out, key, {
        value: mergePatch(Object.hasOwn(out, key) ? out[key] : undefined, value),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
  }
  return out;
}

/**
 * Whether two JSON values are equal (objects by members, arrays by items).
 *
 * @param a A JSON value.
 * @param b A JSON value.
 * @returns `true` when they are the same JSON.
 *
 * @example
 * ```ts
 * import { jsonEqual } from "./merge_patch.ts";
 * import assert from "node:assert/strict";
 * assert.equal(jsonEqual({ a: [1, { b: 2 }] }, { a: [1, { b: 2 }] }), true);
 * assert.equal(jsonEqual({ a: 1 }, { a: 1, b: null }), false);
 * ```
 */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((x, i) => jsonEqual(x, b[i]));
  }
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a);
    if (ka.length !== Object.keys(b).length) return false;
    return ka.every((k) => Object.hasOwn(b, k) && jsonEqual(a[k], b[k]));
  }
  return false;
}

/** Most levels of objects in a patch whose conflicts are computed. */
export const MAX_PATCH_DEPTH = 64;
/** Most members a patch may set, nested ones included. */
export const MAX_PATCH_LEAVES = 10_000;

/** What {@linkcode patchLeaves} finds in a merge-patch. */
export interface PatchShape {
  /** JSON pointer of each member it sets → the value (`null` = delete). */
  leaves: Map<string, unknown>;
  /** JSON pointer of each object it merges into (an ancestor of a leaf). */
  inner: Set<string>;
}

/**
 * The members a merge-patch sets, as JSON pointers.
 *
 * @param patch A merge-patch.
 * @returns Its leaves and inner objects.
 * @throws {RangeError} Over {@linkcode MAX_PATCH_DEPTH} levels or {@linkcode MAX_PATCH_LEAVES} leaves.
 */
export function patchLeaves(patch: unknown): PatchShape {
  const shape: PatchShape = { leaves: new Map(), inner: new Set() };
  if (!isObject(patch)) shape.leaves.set("", patch);
  else walk(patch, "", 1, shape);
  return shape;
}

function walk(
  patch: Record<string, unknown>,
  prefix: string,
  depth: number,
  shape: PatchShape,
): void {
  if (depth > MAX_PATCH_DEPTH) {
    throw new RangeError(`the patch is nested deeper than ${MAX_PATCH_DEPTH} levels`);
  }
  for (const [key, value] of Object.entries(patch)) {
    const path = `${prefix}/${key.replaceAll("~", "~0").replaceAll("/", "~1")}`;
    if (isObject(value)) {
      // An empty object merges nothing in: neither a leaf nor an inner object.
      if (Object.keys(value).length === 0) continue;
      shape.inner.add(path);
      walk(value, path, depth + 1, shape);
    } else {
      if (shape.leaves.size >= MAX_PATCH_LEAVES) {
        throw new RangeError(`the patch sets more than ${MAX_PATCH_LEAVES} members`);
      }
      shape.leaves.set(path, value);
    }
  }
}
