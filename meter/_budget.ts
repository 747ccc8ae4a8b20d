/**
 * The guest-memory budget: what one instance of a module may make the engine
 * hold, counted from the module's declarations before anything is compiled,
 * and the memory and table maxima the rewrite writes back.
 *
 * @module
 */

import { HookError } from "../abi/errors.ts";
import type { LimitsInfo, ParsedModule } from "../wasm/module.ts";

/**
 * Bytes charged to the guest-memory budget (`maxGuestBytes` of `meter()`)
 * per item a module declares. The table and function figures cover what one
 * instance adds to the resident memory on Deno 2.9.6; the bookkeeping figures
 * are upper estimates. A global costs its value's size (16 for `v128`, 8
 * otherwise).
 *
 * @example Sizing a table
 * ```ts
 * import { GUEST_COSTS } from "./mod.ts";
 * import assert from "node:assert/strict";
 * // (table 100000 funcref), alone: its own objects and 100,000 slots.
 * const bytes = GUEST_COSTS.table + 100_000 * GUEST_COSTS.funcrefElement;
 * assert.equal(bytes, 2_400_512);
 * ```
 */
export const GUEST_COSTS: {
  readonly memoryPage: 65536;
  readonly table: 512;
  readonly funcrefElement: 24;
  readonly externrefElement: 8;
  readonly elementSegment: 16;
  readonly elementEntry: 8;
  readonly dataSegment: 16;
  readonly function: 48;
} = Object.freeze({
  /** A WebAssembly page. */
  memoryPage: 65536,
  /** A table's own objects, whatever its size (measured: about 360). */
  table: 512,
  /** A `funcref` slot: the reference (8) and the dispatch entry (16); measured 24.0. */
  funcrefElement: 24,
  /** An `externref` slot: the reference; measured 8.0. */
  externrefElement: 8,
  /** An element segment's bookkeeping. */
  elementSegment: 16,
  /** An element segment entry, once the engine materialises the segment. */
  elementEntry: 8,
  /** A data segment's bookkeeping (its bytes count on top). */
  dataSegment: 16,
  /**
   * A function: its per-instance entries (measured 16.0), and the reference
   * object the engine makes once a table or `ref.func` names it (measured 25).
   */
  function: 48,
});

/** What the guest-memory budget allows an instance beyond its memory ceiling, by default. */
export const DEFAULT_GUEST_EXTRA_BYTES: number = 64 * 1024 * 1024;

/** The bytes an instance of a module may hold, by kind, at the clamped maxima. */
export interface GuestBytes {
  /** Every defined memory at its maximum. */
  memory: number;
  /** Every defined table at its maximum. */
  tables: number;
  /** Element segments. */
  elements: number;
  /** Data segments. */
  data: number;
  /** Defined globals. */
  globals: number;
  /** Functions, imported and defined. */
  functions: number;
  /** The sum. */
  total: number;
}

/** The ceilings the budget applies. */
export interface GuestCeilings {
  /** Pages per memory. */
  maxMemoryPages: number;
  /** Elements across every defined table. */
  maxTableElements: number;
  /** Bytes of everything {@linkcode GuestBytes} counts. */
  maxGuestBytes: number;
}

/** Which ceiling a `memory_limit` refusal of the meter hit: the error's `cause`. */
export interface GuestLimitDetail {
  /** The meter option that sets it. */
  limit: keyof GuestCeilings;
  /** What the module needs. */
  needed: number;
  /** What the option allows. */
  allowed: number;
}

/** The limits the rewrite writes back, and what they cost. */
export interface GuestPlan {
  /** Each defined memory's limits, with a maximum. */
  memories: LimitsInfo[];
  /** Each defined table's limits, with a maximum. */
  tables: LimitsInfo[];
  /** The budget's count. */
  bytes: GuestBytes;
}

const fmt = (n: number): string => n.toLocaleString("en-US");

function refuse(detail: GuestLimitDetail, message: string): HookError {
  return new HookError(
    "memory_limit",
    `Cannot meter module: ${message}, over the limit of ${
      fmt(detail.allowed)
    } (option "${detail.limit}")`,
    { cause: detail },
  );
}

/**
 * Gives every defined memory and table a maximum within its ceiling and
 * counts what an instance may hold against the budget.
 *
 * A memory's maximum is `min(declared, maxMemoryPages)`, or `maxMemoryPages`
 * when none is declared. Tables share `maxTableElements`: a declared maximum
 * is clamped to it; the room the others leave is shared equally by the
 * tables without one, on top of their initial sizes (a lone table without a
 * maximum gets all of it).
 *
 * @param m The parsed module.
 * @param c The ceilings.
 * @returns The limits to write and their cost.
 * @throws {HookError} `memory_limit`, with a {@linkcode GuestLimitDetail} as
 * cause: a memory or table starting over its ceiling, tables whose initial
 * sizes or maxima add up to more than `maxTableElements`, or a total over
 * `maxGuestBytes`.
 */
export function planGuestMemory(m: ParsedModule, c: GuestCeilings): GuestPlan {
  const memories = m.memories.map((l, i): LimitsInfo => {
    if (l.min > c.maxMemoryPages) {
      throw refuse(
        { limit: "maxMemoryPages", needed: l.min, allowed: c.maxMemoryPages },
        `memory ${m.importedMemories + i} starts at ${fmt(l.min)} pages`,
      );
    }
    const max = l.max === undefined ? c.maxMemoryPages : Math.min(l.max, c.maxMemoryPages);
    return { flags: 0x01, min: l.min, max };
  });

  const limit = c.maxTableElements;
  const n = m.tables.length;
  const tablesNamed = `its ${fmt(n)} table${n === 1 ? "" : "s"}`;
  let initial = 0;
  let declared = 0;
  let open = 0;
  m.tables.forEach((t, i) => {
    const { min, max } = t.limits;
    if (min > limit) {
      throw refuse(
        { limit: "maxTableElements", needed: min, allowed: limit },
        `table ${m.importedTables + i} starts at ${fmt(min)} elements`,
      );
    }
    initial += min;
    if (max === undefined) open++;
    else declared += Math.max(min, Math.min(max, limit));
  });
  if (initial > limit) {
    throw refuse(
      { limit: "maxTableElements", needed: initial, allowed: limit },
      `${tablesNamed} start at ${fmt(initial)} elements in all`,
    );
  }
  const openInitial = m.tables.reduce(
    (s, t) => s + (t.limits.max === undefined ? t.limits.min : 0),
    0,
  );
  const reach = declared + openInitial;
  if (reach > limit) {
    throw refuse(
      { limit: "maxTableElements", needed: reach, allowed: limit },
      `${tablesNamed} may grow to ${
        fmt(reach)
      } elements in all (declared maxima, and initial sizes where none is declared)`,
    );
  }
  const share = open === 0 ? 0 : Math.floor((limit - reach) / open);
  const tables = m.tables.map(({ limits: { min, max } }): LimitsInfo => ({
    flags: 0x01,
    min,
    max: max === undefined ? min + share : Math.max(min, Math.min(max, limit)),
  }));

  const bytes: GuestBytes = {
    memory: memories.reduce((s, l) => s + l.max! * GUEST_COSTS.memoryPage, 0),
    tables: tables.reduce(
      (s, l, i) =>
        s + GUEST_COSTS.table +
        l.max! * (m.tables[i].refType === 0x70
            ? GUEST_COSTS.funcrefElement
            : GUEST_COSTS.externrefElement),
      0,
    ),
    elements: m.elementSegments * GUEST_COSTS.elementSegment +
      m.elementEntries * GUEST_COSTS.elementEntry,
    data: m.dataSegments * GUEST_COSTS.dataSegment + m.dataBytes,
    globals: m.globalBytes,
    functions: (m.importedFuncs + m.funcTypes.length) * GUEST_COSTS.function,
    total: 0,
  };
  bytes.total = bytes.memory + bytes.tables + bytes.elements + bytes.data + bytes.globals +
    bytes.functions;
  if (bytes.total > c.maxGuestBytes) {
    throw refuse(
      { limit: "maxGuestBytes", needed: bytes.total, allowed: c.maxGuestBytes },
      `an instance may hold ${fmt(bytes.total)} bytes (memory ${fmt(bytes.memory)}, ${
        fmt(n)
      } tables ${fmt(bytes.tables)}, ${fmt(m.elementSegments)} element segments ${
        fmt(bytes.elements)
      }, ${fmt(m.dataSegments)} data segments ${fmt(bytes.data)}, ${
        fmt(m.definedGlobals)
      } globals ${fmt(bytes.globals)}, ${fmt(m.importedFuncs + m.funcTypes.length)} functions ${
        fmt(bytes.functions)
      })`,
    );
  }
  return { memories, tables, bytes };
}
