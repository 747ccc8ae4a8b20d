/**
 * The resource limits of a plugin, as one table: each row names a limit and
 * gives its `[limits]` key, its representable range, the default a plugin
 * gets, the host's ceiling when it sets none, and its description. The
 * {@linkcode PluginLimits} type, the zod shape of `[limits]` (and so the JSON
 * Schema), the key mapping, {@linkcode DEFAULT_LIMITS},
 * {@linkcode HOST_CEILINGS} and the messages of {@linkcode clampLimits} all
 * derive from it: a new limit is one row (its name in {@linkcode LimitName} and
 * its row; the compiler asks for both), and whatever uses it.
 *
 * @module
 */

import { z } from "zod";

/** One row of the limits table. */
interface LimitRow {
  /** The snake_case key under `[limits]` in `plugin.toml`. */
  readonly key: string;
  /** Representable range, the same in the schema and in {@linkcode clampLimits}. */
  readonly range: readonly [number, number];
  /** What a plugin gets when its manifest does not ask (still clamped). */
  readonly default: number;
  /** The host's ceiling when it sets none of its own. */
  readonly ceiling: number;
  /** The schema's description of the key. */
  readonly description: string;
}

/**
 * The name of a limit (camelCase): the key of its row in the limits table,
 * which must have a row for each (the compiler checks both ways).
 */
export type LimitName = "memoryPages" | "tableElements" | "fuel" | "timeoutMs" | "instances";

/**
 * The limits table (ranges: WebAssembly's 65536-page address space, V8's
 * largest table (10 million elements), the largest delay a timer takes
 * (2^31-1 ms), and safe integers otherwise).
 *
 * Defaults: 16 pages (1 MiB) of memory, 100,000 table elements in all, 100
 * million fuel per call (about 100 ms of guest work, the timeout;
 * RATIONALE.md: "Why this default fuel budget?"), 100 ms per call, one
 * instance. Ceilings: 256 pages (16 MiB), 1 million table elements (24 MiB
 * of `funcref` slots), 1 billion fuel per call (about a second of guest
 * work), 1000 ms per call, four instances per plugin.
 */
const LIMITS: Readonly<Record<LimitName, LimitRow>> = {
  /** Linear memory ceiling in 64 KiB WebAssembly pages (`memory_pages`). */
  memoryPages: {
    key: "memory_pages",
    range: [1, 65536],
    default: 16,
    ceiling: 256,
    description: "Requested linear memory ceiling, in 64 KiB pages; clamped to the host's ceiling.",
  },
  /**
   * Elements of all the module's tables together (`table_elements`): a
   * table's maximum is clamped to it, tables without one share what the
   * others leave, and tables adding up to more are refused (`memory_limit`).
   */
  tableElements: {
    key: "table_elements",
    range: [0, 10_000_000],
    default: 100_000,
    ceiling: 1_000_000,
    description:
      "Requested ceiling of the elements of all tables together; clamped to the host's ceiling.",
  },
  /** Fuel (metered instructions) per call (`fuel`). */
  fuel: {
    key: "fuel",
    range: [1, Number.MAX_SAFE_INTEGER],
    default: 100_000_000,
    ceiling: 1_000_000_000,
    description: "Requested fuel per call; clamped to the host's ceiling.",
  },
  /** Wall-clock budget per call, in milliseconds (`timeout_ms`). */
  timeoutMs: {
    key: "timeout_ms",
    range: [1, 2_147_483_647],
    default: 100,
    ceiling: 1000,
    description:
      "Requested wall-clock budget per call, in milliseconds; clamped to the host's ceiling.",
  },
  /** How many instances (workers) of the plugin may run at once (`instances`). */
  instances: {
    key: "instances",
    range: [1, Number.MAX_SAFE_INTEGER],
    default: 1,
    ceiling: 4,
    description: "Requested number of concurrent instances; clamped to the host's ceiling.",
  },
};

/**
 * Resolved resource limits of one plugin, after {@linkcode clampLimits}: one
 * field per row of the limits table. camelCase here; the manifest's
 * `[limits]` table spells them in snake_case (`memory_pages`,
 * `table_elements`, `fuel`, `timeout_ms`, `instances`).
 */
export type PluginLimits = { readonly [K in LimitName]: number };

/** Limits as requested by a manifest or offered by a host: any may be absent. */
export type LimitRequest = Partial<PluginLimits>;

/** The limit names, in table order. */
const LIMIT_NAMES: readonly LimitName[] = Object.keys(LIMITS) as LimitName[];

function column(pick: (row: LimitRow) => number): Readonly<PluginLimits> {
  const out = {} as { -readonly [K in LimitName]: number };
  for (const name of LIMIT_NAMES) out[name] = pick(LIMITS[name]);
  return Object.freeze(out);
}

/**
 * Limits a plugin gets for what its manifest does not request (each still
 * clamped to the ceiling): the table's defaults.
 *
 * @example Reading a default
 * ```ts
 * import { DEFAULT_LIMITS } from "./limits.ts";
 * import assert from "node:assert/strict";
 * assert.equal(DEFAULT_LIMITS.memoryPages, 16);
 * ```
 */
export const DEFAULT_LIMITS: Readonly<PluginLimits> = column((row) => row.default);

/**
 * The host's ceilings when it sets none of its own: the table's ceilings.
 *
 * @example Reading a ceiling
 * ```ts
 * import { HOST_CEILINGS } from "./limits.ts";
 * import assert from "node:assert/strict";
 * assert.equal(HOST_CEILINGS.timeoutMs, 1000);
 * ```
 */
export const HOST_CEILINGS: Readonly<PluginLimits> = column((row) => row.ceiling);

/**
 * The `[limits]` key of a limit.
 *
 * @param name The limit's name.
 * @returns Its snake_case key in `plugin.toml`.
 */
export function limitKey(name: LimitName): string {
  return LIMITS[name].key;
}

/** An integer in `[min, max]`; one reason for every way it can be wrong. */
export function integer(min: number, max: number, reason: string): z.ZodNumber {
  return z.number({ error: reason }).int({ error: reason })
    .min(min, { error: reason }).max(max, { error: reason });
}

/** The zod shape of the `[limits]` table: one optional key per row, snake_case. */
export const limitsShape: Readonly<Record<string, z.ZodOptional<z.ZodNumber>>> = Object
  .fromEntries(
    LIMIT_NAMES.map((name) => {
      const { key, range: [min, max], description } = LIMITS[name];
      return [
        key,
        integer(min, max, `not an integer in ${min}..${max}`).optional().describe(description),
      ];
    }),
  );

/**
 * The limits a manifest's `[limits]` table requests, camelCase, the absent
 * ones left out.
 *
 * @param table The validated `[limits]` table (snake_case), if any.
 * @returns The request.
 */
export function limitRequest(
  table: Readonly<Record<string, number | undefined>> = {},
): LimitRequest {
  const limits: { -readonly [K in LimitName]?: number } = {};
  for (const name of LIMIT_NAMES) {
    const value = table[LIMITS[name].key];
    if (value !== undefined) limits[name] = value;
  }
  return limits;
}

/**
 * Resolves the limits a plugin gets: each requested limit (or its
 * {@linkcode DEFAULT_LIMITS} value when absent) clamped to the host's ceiling
 * (or its {@linkcode HOST_CEILINGS} value when absent). Requests above the
 * ceiling are lowered, never refused.
 *
 * @param requested What the manifest asks for (`manifest.limits`).
 * @param ceilings The host's ceilings; absent ones are {@linkcode HOST_CEILINGS}.
 * @returns Every limit, resolved.
 * @throws {RangeError} When a requested limit or a ceiling is not an integer
 * in its range (memory pages 1..65536, table elements 0..10,000,000, timeout 1..2^31-1 ms, the others
 * 1..2^53-1).
 *
 * @example Clamping a request
 * ```ts
 * import { clampLimits } from "./limits.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual(clampLimits({ memoryPages: 1024, fuel: 5 }, { memoryPages: 64 }), {
 *   memoryPages: 64,
 *   tableElements: 100_000,
 *   fuel: 5,
 *   timeoutMs: 100,
 *   instances: 1,
 * });
 * ```
 */
export function clampLimits(
  requested: LimitRequest = {},
  ceilings: LimitRequest = {},
): PluginLimits {
  const resolved = {} as { -readonly [K in LimitName]: number };
  for (const key of LIMIT_NAMES) {
    const want = checkLimit(requested[key] ?? DEFAULT_LIMITS[key], key, "requested");
    const ceiling = checkLimit(ceilings[key] ?? HOST_CEILINGS[key], key, "ceiling");
    resolved[key] = Math.min(want, ceiling);
  }
  return resolved;
}

function checkLimit(value: number, key: LimitName, what: string): number {
  const [min, max] = LIMITS[key].range;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(
      `Cannot clamp limits: ${what} ${key} (${
        LIMITS[key].key
      }) must be an integer in ${min}..${max}, got ${value}`,
    );
  }
  return value;
}
