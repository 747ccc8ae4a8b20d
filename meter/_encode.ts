/**
 * Re-encoding of a parsed module: appends the fuel global, types, accessor
 * and helper functions and exports; drops the start section; rewrites
 * memory and table limits; replaces function bodies; recomputes every size.
 * Sections it does not touch are copied byte for byte.
 *
 * New types, functions and globals are appended after the existing ones.
 * With refuel, the refuel function is imported after the module's own
 * imports, so every defined function moves up by one: `call`,
 * `return_call` and `ref.func` in bodies, function exports, the start
 * function, element segments and global initialisers are renumbered, and
 * the `name` custom section (whose indices would be stale) is dropped.
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
import {
  hex,
  K_END,
  K_PLAIN,
  K_REF_FUNC,
  newInstr,
  readInstr,
  readRefType,
  unknown,
} from "../wasm/code.ts";
import {
  checkBody,
  instrumentBody,
  type InstrumentContext,
  Scan,
  type Strategy,
} from "./_instrument.ts";
import { COSTS } from "./costs.ts";
import { FUEL_EXPORTS, REFUEL_NAMES } from "../abi/imports.ts";

/**
 * The fuel a refuelled counter holds after `__gn_fuel_set` (or at start):
 * the rest of the budget waits in the reserve until the counter runs dry.
 */
export const FIRST_SLICE = 1_000_000n;

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
  /** The reserve global (refuel only; else -1). */
  reserveGlobal: number;
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
  /** Refuel through an import instead of trapping (with `fuel` only). */
  refuel: boolean;
}

/**
 * Computes the indices of everything the meter appends.
 *
 * @param m The parsed module.
 * @param strategy The emission mode.
 * @returns The layout.
 */
export function layoutOf(m: ParsedModule, strategy: Strategy, refuel = false): Layout {
  const shift = refuel ? 1 : 0;
  const funcs = m.importedFuncs + shift + m.funcTypes.length;
  const fixed = strategy === "helper" ? 6 : 5;
  return {
    fuelGlobal: m.importedGlobals + m.definedGlobals,
    reserveGlobal: refuel ? m.importedGlobals + m.definedGlobals + 1 : -1,
    importedFuncs: m.importedFuncs,
    funcShift: shift,
    typeParams: m.typeParams,
    refuel: refuel ? funcs + fixed : -1,
    fuelGet: funcs,
    fuelSet: funcs + 1,
    chargePages: funcs + 2,
    chargeBytes: funcs + 3,
    chargeElements: funcs + 4,
    chargeStatic: funcs + 5,
    helperCount: fixed + shift,
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

/** `[G < 0] ⇒ unreachable`, or with refuel `[G < 0] ⇒ call R`: the tail of a check. */
function trapOrRefuel(w: ByteWriter, refuel: number): void {
  w.bytes(Uint8Array.of(0x42, 0x00, 0x53, 0x04, 0x40));
  if (refuel < 0) w.byte(0x00);
  else {
    w.byte(0x10);
    w.u32(refuel);
  }
  w.byte(0x0b);
}

function chargeBody(g: number, perUnit: number, refuel: number): Uint8Array {
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
    trapOrRefuel(w, refuel); // < 0 ⇒ unreachable (or refuel)
  }
  w.bytes(Uint8Array.of(0x20, 0x00, 0x0b)); // local.get 0; end
  return w.finish();
}

function staticChargeBody(g: number, refuel: number): Uint8Array {
  const w = new ByteWriter();
  w.byte(0x00);
  w.byte(0x23);
  w.u32(g);
  w.bytes(Uint8Array.of(0x20, 0x00, 0x7d)); // local.get 0; i64.sub
  w.byte(0x24);
  w.u32(g);
  w.byte(0x23);
  w.u32(g);
  trapOrRefuel(w, refuel);
  w.byte(0x0b);
  return w.finish();
}

/** `__gn_fuel_get`: the counter, plus the reserve with refuel. */
function getBody(g: number, reserve: number): Uint8Array {
  const w = new ByteWriter();
  w.byte(0x00);
  w.byte(0x23);
  w.u32(g);
  if (reserve >= 0) {
    w.byte(0x23);
    w.u32(reserve);
    w.byte(0x7c); // i64.add
  }
  w.byte(0x0b);
  return w.finish();
}

/** `__gn_fuel_set`: the counter; with refuel, the first slice to it and the rest to the reserve. */
function setBody(g: number, reserve: number): Uint8Array {
  const w = new ByteWriter();
  w.byte(0x00);
  const global = (opcode: number, index: number): void => {
    w.byte(opcode);
    w.u32(index);
  };
  const slice = (): void => {
    w.byte(0x42);
    w.s64(FIRST_SLICE);
  };
  if (reserve < 0) {
    w.bytes(Uint8Array.of(0x20, 0x00));
    global(0x24, g);
  } else {
    w.bytes(Uint8Array.of(0x20, 0x00)); // local.get 0
    slice();
    w.bytes(Uint8Array.of(0x55, 0x04, 0x40)); // i64.gt_s; if
    slice();
    global(0x24, g); // G = slice
    w.bytes(Uint8Array.of(0x20, 0x00));
    slice();
    w.byte(0x7d);
    global(0x24, reserve); // R = x - slice
    w.byte(0x05); // else
    w.bytes(Uint8Array.of(0x20, 0x00));
    global(0x24, g); // G = x
    w.bytes(Uint8Array.of(0x42, 0x00));
    global(0x24, reserve); // R = 0
    w.byte(0x0b);
  }
  w.byte(0x0b);
  return w.finish();
}

/**
 * The refuel helper, called when a check finds the counter `G` negative:
 * asks the host for the next slice `s` (the import traps when the call was
 * abandoned), moves `min(s - G, R)` from the reserve `R` to `G` (enough to
 * cover the deficit and leave `s`), and traps when `G` is still negative:
 * the whole budget is spent, and `G + R = G < 0` reports exhaustion.
 */
function refuelBody(g: number, reserve: number, imported: number): Uint8Array {
  const w = new ByteWriter();
  const op = (opcode: number, index: number): void => {
    w.byte(opcode);
    w.u32(index);
  };
  w.bytes(Uint8Array.of(0x01, 0x01, 0x7e)); // one i64 local: the amount to move
  op(0x10, imported); // s
  op(0x23, g);
  w.byte(0x7d); // s - G
  op(0x22, 0);
  op(0x23, reserve);
  w.bytes(Uint8Array.of(0x56, 0x04, 0x40)); // i64.gt_u; if
  op(0x23, reserve);
  op(0x21, 0);
  w.byte(0x0b);
  op(0x23, g);
  op(0x20, 0);
  w.byte(0x7c);
  op(0x24, g); // G += n
  op(0x23, reserve);
  op(0x20, 0);
  w.byte(0x7d);
  op(0x24, reserve); // R -= n
  op(0x23, g);
  trapOrRefuel(w, -1);
  w.byte(0x0b);
  return w.finish();
}

/**
 * Re-encodes a vector section entry by entry, then appends `extra`.
 *
 * @param each Copies one entry from the reader to the writer.
 */
function rewriteVector(
  bytes: Uint8Array,
  s: SectionRef | undefined,
  each: (r: ByteReader, w: ByteWriter) => void,
  extraCount: number,
  extra: Uint8Array,
): Uint8Array {
  if (s === undefined) return appendVector(bytes, s, extraCount, extra);
  const r = new ByteReader(bytes, s.contentStart, s.end);
  const count = r.u32();
  const w = new ByteWriter(s.end - s.contentStart + extra.length + 16);
  w.u32(count + extraCount);
  for (let i = 0; i < count; i++) each(r, w);
  w.bytes(extra);
  return w.finish();
}

/** Copies a name (length-prefixed bytes). */
function copyName(r: ByteReader, w: ByteWriter): void {
  const start = r.pos;
  r.bytesN(r.u32());
  w.range(r.bytes, start, r.pos);
}

/** Copies one element segment, moving function indices at or above `from` by `shift`. */
function copyElement(r: ByteReader, w: ByteWriter, from: number, shift: number, i: number): void {
  const where = `element segment ${i}`;
  const flags = r.u32();
  w.u32(flags);
  const active = (flags & 0x01) === 0;
  const explicitTable = (flags & 0x02) !== 0;
  const exprs = (flags & 0x04) !== 0;
  if (active && explicitTable) w.u32(r.u32());
  if (active) copyConstExpr(r, w, from, shift, where);
  if (!active || explicitTable) {
    if (exprs) w.byte(readRefType(r, where));
    else {
      const kind = r.byte();
      if (kind !== 0x00) throw unknown("element kind", where, r.pos - 1);
      w.byte(kind);
    }
  }
  const count = r.u32();
  w.u32(count);
  for (let n = count; n > 0; n--) {
    if (exprs) copyConstExpr(r, w, from, shift, where);
    else {
      const f = r.u32();
      w.u32(f >= from ? f + shift : f);
    }
  }
}

const NAME = new TextEncoder().encode("name");

/** Whether a custom section is the `name` section. */
function isNameSection(bytes: Uint8Array, s: SectionRef): boolean {
  const r = new ByteReader(bytes, s.contentStart, s.end);
  const name = r.bytesN(r.u32());
  return name.length === NAME.length && name.every((b, i) => b === NAME[i]);
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
    const reserve = layout.reserveGlobal;
    const refuel = reserve >= 0;
    const from = m.importedFuncs;
    const shift = layout.funcShift;
    replaced.set(
      1,
      appendVector(
        bytes,
        find(1),
        refuel ? 4 : 3,
        Uint8Array.of(
          ...[0x60, 0x00, 0x01, 0x7e], // t+0: () -> i64
          ...[0x60, 0x01, 0x7e, 0x00], // t+1: (i64) -> ()
          ...[0x60, 0x01, 0x7f, 0x01, 0x7f], // t+2: (i32) -> i32
          ...(refuel ? [0x60, 0x00, 0x00] : []), // t+3: () -> ()
        ),
      ),
    );
    if (refuel) {
      const w = new ByteWriter();
      w.name(REFUEL_NAMES.module);
      w.name(REFUEL_NAMES.name);
      w.byte(0x00);
      w.u32(t);
      replaced.set(2, appendVector(bytes, find(2), 1, w.finish()));
    }
    {
      const w = new ByteWriter();
      w.u32(t);
      w.u32(t + 1);
      for (let i = 0; i < 3; i++) w.u32(t + 2);
      if (layout.strategy === "helper") w.u32(t + 1);
      if (refuel) w.u32(t + 3);
      replaced.set(3, appendVector(bytes, find(3), layout.helperCount, w.finish()));
    }
    {
      const w = new ByteWriter();
      const first = refuel && options.startFuel > FIRST_SLICE ? FIRST_SLICE : options.startFuel;
      w.bytes(Uint8Array.of(0x7e, 0x01, 0x42)); // mut i64 = i64.const startFuel
      w.s64(first);
      w.byte(0x0b);
      if (refuel) {
        w.bytes(Uint8Array.of(0x7e, 0x01, 0x42)); // the reserve: the rest
        w.s64(options.startFuel - first);
        w.byte(0x0b);
      }
      const each = (r: ByteReader, w: ByteWriter): void => {
        w.byte(r.byte()); // the value type (checked at parse)
        w.byte(r.byte()); // mutability
        copyConstExpr(r, w, from, shift, "a global");
      };
      replaced.set(
        6,
        shift === 0
          ? appendVector(bytes, find(6), 1, w.finish())
          : rewriteVector(bytes, find(6), each, 2, w.finish()),
      );
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
        w.u32(m.start! >= from ? m.start! + shift : m.start!);
      }
      const each = (r: ByteReader, w: ByteWriter): void => {
        copyName(r, w);
        const kind = r.byte();
        const index = r.u32();
        w.byte(kind);
        w.u32(kind === 0 && index >= from ? index + shift : index);
      };
      replaced.set(
        7,
        shift === 0
          ? appendVector(bytes, find(7), hasStart ? 3 : 2, w.finish())
          : rewriteVector(bytes, find(7), each, hasStart ? 3 : 2, w.finish()),
      );
    }
    replaced.set(8, null);
    const elements = find(9);
    if (shift !== 0 && elements !== undefined) {
      let i = 0;
      const each = (r: ByteReader, w: ByteWriter): void => copyElement(r, w, from, shift, i++);
      replaced.set(9, rewriteVector(bytes, elements, each, 0, new Uint8Array(0)));
    }
    {
      const w = new ByteWriter(bytes.length + 1024);
      w.u32(m.bodies.length + layout.helperCount);
      w.bytes(bodies);
      const r = layout.refuel;
      const helpers = [
        getBody(g, reserve),
        setBody(g, reserve),
        chargeBody(g, COSTS.memoryGrowPage, r),
        chargeBody(g, COSTS.bulkByte, r),
        chargeBody(g, COSTS.tableElement, r),
      ];
      if (layout.strategy === "helper") helpers.push(staticChargeBody(g, r));
      if (refuel) helpers.push(refuelBody(g, reserve, from));
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
    else if (layout.funcShift !== 0 && fuel && isNameSection(bytes, s)) continue;
    const content = replaced.get(s.id);
    if (content === null) continue;
    if (content === undefined) out.bytes(bytes.subarray(s.start, s.end));
    else out.section(s.id, content);
  }
  flushBelow(Infinity);
  return { bytes: out.finish(), hasStart };
}

/**
 * Copies a constant expression up to and including its `end`, adding
 * `shift` to every `ref.func` index at or above `from`.
 *
 * @param r The reader, at the expression.
 * @param w Receives the expression.
 * @param from The first function index that moves.
 * @param shift How far it moves.
 * @param where For messages.
 */
export function copyConstExpr(
  r: ByteReader,
  w: ByteWriter,
  from: number,
  shift: number,
  where: string,
): void {
  const instr = newInstr();
  for (;;) {
    const at = r.pos;
    readInstr(r, instr, where);
    if (instr.kind === K_REF_FUNC && instr.index >= from) {
      w.byte(0xd2);
      w.u32(instr.index + shift);
    } else w.range(r.bytes, at, r.pos);
    if (instr.kind === K_END) return;
    if (instr.kind !== K_PLAIN && instr.kind !== K_REF_FUNC) {
      throw unknown(`opcode ${hex(instr.opcode)}`, where, at);
    }
  }
}
