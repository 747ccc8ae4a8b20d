/**
 * Re-encoding of a parsed module: appends the fuel global, types, accessor
 * and helper functions and exports; drops the start section; rewrites
 * memory and table limits; replaces function bodies; recomputes every size.
 * Sections it does not touch are copied byte for byte.
 *
 * Nothing already in the module is renumbered: new types, functions and the
 * global are appended after the existing ones.
 *
 * @module
 */

import { ByteReader } from "../wasm/reader.ts";
import { ByteWriter } from "./_bytes.ts";
import type { GuestPlan } from "./_budget.ts";
import {
  type LimitsInfo,
  type ParsedModule,
  SECTION_RANK,
  type SectionRef,
} from "../wasm/module.ts";
import { newInstr } from "../wasm/code.ts";
import {
  checkBody,
  instrumentBody,
  type InstrumentContext,
  Scan,
  type Strategy,
} from "./_instrument.ts";
import { COSTS } from "./costs.ts";
import { FUEL_EXPORTS } from "../abi/imports.ts";

/** Where the appended items live. */
export interface Layout extends InstrumentContext {
  /** `__gn_fuel_get`. */
  fuelGet: number;
  /** `__gn_fuel_set`. */
  fuelSet: number;
  /** Index of the first appended type. */
  typeBase: number;
  /** Number of appended functions. */
  helperCount: number;
}

/** Normalised options of the rewrite. */
export interface RewriteOptions {
  /** Add fuel metering. */
  fuel: boolean;
  /** Initial value of the counter. */
  startFuel: bigint;
  /** Memory ceiling, in pages. */
  maxMemoryPages: number;
  /** Table ceiling, in elements across every defined table. */
  maxTableElements: number;
  /** Guest-memory budget, in bytes. */
  maxGuestBytes: number;
}

/**
 * Computes the indices of everything the meter appends.
 *
 * @param m The parsed module.
 * @param strategy The emission mode.
 * @returns The layout.
 */
export function layoutOf(m: ParsedModule, strategy: Strategy): Layout {
  const funcs = m.importedFuncs + m.funcTypes.length;
  return {
    fuelGlobal: m.importedGlobals + m.definedGlobals,
    importedFuncs: m.importedFuncs,
    fuelGet: funcs,
    fuelSet: funcs + 1,
    chargePages: funcs + 2,
    chargeBytes: funcs + 3,
    chargeElements: funcs + 4,
    chargeStatic: funcs + 5,
    helperCount: strategy === "helper" ? 6 : 5,
    typeBase: m.typeParams.length,
    strategy,
    scan: new Scan(),
    instr: newInstr(),
  };
}

/**
 * Instruments every function body.
 *
 * @param m The parsed module.
 * @param layout The layout.
 * @returns The new bodies, each prefixed with its size, concatenated.
 */
export function instrumentBodies(m: ParsedModule, layout: Layout): Uint8Array {
  const out = new ByteWriter(m.bytes.length * 2 + 64);
  const scratch = new ByteWriter(1024);
  for (let i = 0; i < m.bodies.length; i++) {
    const b = m.bodies[i];
    scratch.reset();
    instrumentBody(
      m.bytes,
      b.start,
      b.end,
      m.typeParams[m.funcTypes[i]],
      layout,
      `function ${b.index}`,
      scratch,
    );
    out.u32(scratch.length);
    out.bytes(scratch.view());
  }
  return out.finish();
}

/**
 * Encodes function bodies as `instrumentBodies` returns them.
 *
 * @param bodies Bodies (locals and code).
 * @returns Each prefixed with its size, concatenated.
 */
export function sizePrefixed(bodies: Uint8Array[]): Uint8Array {
  const out = new ByteWriter();
  for (const body of bodies) {
    out.u32(body.length);
    out.bytes(body);
  }
  return out.finish();
}

/**
 * Runs every function body through the feature gate.
 *
 * @param m The parsed module.
 */
export function checkBodies(m: ParsedModule): void {
  for (const b of m.bodies) checkBody(m.bytes, b.start, b.end, `function ${b.index}`);
}

function writeLimits(w: ByteWriter, l: LimitsInfo): void {
  w.byte(l.flags);
  w.u32(l.min);
  if (l.max !== undefined) w.u32(l.max);
}

/** Content of a vector section with `extra` entries appended. */
function appendVector(
  bytes: Uint8Array,
  s: SectionRef | undefined,
  extraCount: number,
  extra: Uint8Array,
): Uint8Array {
  const w = new ByteWriter();
  if (s === undefined) {
    w.u32(extraCount);
  } else {
    const r = new ByteReader(bytes, s.contentStart, s.end);
    const count = r.u32();
    w.u32(count + extraCount);
    w.bytes(bytes.subarray(r.pos, s.end));
  }
  w.bytes(extra);
  return w.finish();
}

function chargeBody(g: number, perUnit: number): Uint8Array {
  const w = new ByteWriter();
  w.byte(0x00); // no locals
  if (perUnit > 0) {
    w.byte(0x23); // global.get G
    w.u32(g);
    w.byte(0x20); // local.get 0
    w.byte(0x00);
    w.byte(0xad); // i64.extend_i32_u
    if (perUnit !== 1) {
      w.byte(0x42); // i64.const K
      w.s64(BigInt(perUnit));
      w.byte(0x7e); // i64.mul
    }
    w.byte(0x7d); // i64.sub
    w.byte(0x24); // global.set G
    w.u32(g);
    w.byte(0x23); // global.get G
    w.u32(g);
    w.bytes(Uint8Array.of(0x42, 0x00, 0x53, 0x04, 0x40, 0x00, 0x0b)); // < 0 ⇒ unreachable
  }
  w.bytes(Uint8Array.of(0x20, 0x00, 0x0b)); // local.get 0; end
  return w.finish();
}

function staticChargeBody(g: number): Uint8Array {
  const w = new ByteWriter();
  w.byte(0x00);
  w.byte(0x23);
  w.u32(g);
  w.bytes(Uint8Array.of(0x20, 0x00, 0x7d)); // local.get 0; i64.sub
  w.byte(0x24);
  w.u32(g);
  w.byte(0x23);
  w.u32(g);
  w.bytes(Uint8Array.of(0x42, 0x00, 0x53, 0x04, 0x40, 0x00, 0x0b, 0x0b));
  return w.finish();
}

function getBody(g: number): Uint8Array {
  const w = new ByteWriter();
  w.byte(0x00);
  w.byte(0x23);
  w.u32(g);
  w.byte(0x0b);
  return w.finish();
}

function setBody(g: number): Uint8Array {
  const w = new ByteWriter();
  w.bytes(Uint8Array.of(0x00, 0x20, 0x00, 0x24));
  w.u32(g);
  w.byte(0x0b);
  return w.finish();
}

/**
 * Assembles the output module.
 *
 * @param m The parsed module.
 * @param bodies Instrumented bodies, size-prefixed (when `options.fuel`), else `null`.
 * @param layout The layout.
 * @param options The normalised options.
 * @param plan The memory and table limits to write (from `planGuestMemory`).
 * @returns The bytes and whether the start function became `__gn_start`.
 */
export function assemble(
  m: ParsedModule,
  bodies: Uint8Array | null,
  layout: Layout,
  options: RewriteOptions,
  plan: Pick<GuestPlan, "memories" | "tables">,
): { bytes: Uint8Array<ArrayBuffer>; hasStart: boolean } {
  const bytes = m.bytes;
  const { memories, tables } = plan;
  const fuel = bodies !== null;
  const hasStart = fuel && m.start !== undefined;
  const g = layout.fuelGlobal;

  /** New content by section id; `null` drops the section. */
  const replaced = new Map<number, Uint8Array | null>();
  const changed = (before: LimitsInfo, after: LimitsInfo): boolean => before.max !== after.max;
  if (memories.some((l, i) => changed(m.memories[i], l))) {
    const w = new ByteWriter();
    w.u32(memories.length);
    for (const l of memories) writeLimits(w, l);
    replaced.set(5, w.finish());
  }
  if (tables.some((l, i) => changed(m.tables[i].limits, l))) {
    const w = new ByteWriter();
    w.u32(tables.length);
    m.tables.forEach((t, i) => {
      w.byte(t.refType);
      writeLimits(w, tables[i]);
    });
    replaced.set(4, w.finish());
  }
  if (fuel) {
    const find = (id: number): SectionRef | undefined => m.sections.find((s) => s.id === id);
    const t = layout.typeBase;
    replaced.set(
      1,
      appendVector(
        bytes,
        find(1),
        3,
        Uint8Array.of(
          ...[0x60, 0x00, 0x01, 0x7e], // t+0: () -> i64
          ...[0x60, 0x01, 0x7e, 0x00], // t+1: (i64) -> ()
          ...[0x60, 0x01, 0x7f, 0x01, 0x7f], // t+2: (i32) -> i32
        ),
      ),
    );
    {
      const w = new ByteWriter();
      w.u32(t);
      w.u32(t + 1);
      for (let i = 0; i < 3; i++) w.u32(t + 2);
      if (layout.helperCount === 6) w.u32(t + 1);
      replaced.set(3, appendVector(bytes, find(3), layout.helperCount, w.finish()));
    }
    {
      const w = new ByteWriter();
      w.bytes(Uint8Array.of(0x7e, 0x01, 0x42)); // mut i64 = i64.const startFuel
      w.s64(options.startFuel);
      w.byte(0x0b);
      replaced.set(6, appendVector(bytes, find(6), 1, w.finish()));
    }
    {
      const w = new ByteWriter();
      w.name(FUEL_EXPORTS.get);
      w.byte(0x00);
      w.u32(layout.fuelGet);
      w.name(FUEL_EXPORTS.set);
      w.byte(0x00);
      w.u32(layout.fuelSet);
      if (hasStart) {
        w.name(FUEL_EXPORTS.start);
        w.byte(0x00);
        w.u32(m.start!);
      }
      replaced.set(7, appendVector(bytes, find(7), hasStart ? 3 : 2, w.finish()));
    }
    replaced.set(8, null);
    {
      const w = new ByteWriter(bytes.length + 1024);
      w.u32(m.bodies.length + layout.helperCount);
      w.bytes(bodies);
      const helpers = [
        getBody(g),
        setBody(g),
        chargeBody(g, COSTS.memoryGrowPage),
        chargeBody(g, COSTS.bulkByte),
        chargeBody(g, COSTS.tableElement),
      ];
      if (layout.helperCount === 6) helpers.push(staticChargeBody(g));
      for (const body of helpers) {
        w.u32(body.length);
        w.bytes(body);
      }
      replaced.set(10, w.finish());
    }
  }

  const out = new ByteWriter(bytes.length + 1024);
  out.bytes(bytes.subarray(0, 8));
  const present = new Set(m.sections.map((s) => s.id));
  // Sections the rewrite needs that the input lacks, in canonical order.
  const missing = [...replaced.entries()]
    .filter(([id, content]) => content !== null && !present.has(id))
    .sort(([a], [b]) => SECTION_RANK[a] - SECTION_RANK[b]);
  const flushBelow = (rank: number): void => {
    while (missing.length > 0 && SECTION_RANK[missing[0][0]] < rank) {
      const [id, content] = missing.shift()!;
      out.section(id, content!);
    }
  };
  for (const s of m.sections) {
    if (s.id !== 0) flushBelow(SECTION_RANK[s.id]);
    const content = replaced.get(s.id);
    if (content === null) continue;
    if (content === undefined) out.bytes(bytes.subarray(s.start, s.end));
    else out.section(s.id, content);
  }
  flushBelow(Infinity);
  return { bytes: out.finish(), hasStart };
}
