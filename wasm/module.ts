/**
 * The module reader, the only one: one pass over a module gives the section
 * list and what the meter's rewriter needs from the non-code sections, and
 * the signatures, imports and exports the module check needs, with the
 * feature gate applied to everything outside function bodies. Function
 * bodies are only located here; `code.ts` reads them. A module is read once
 * per load: the host checks it and meters it from the same
 * {@linkcode ParsedModule}.
 *
 * @module
 */

import {
  ByteReader,
  type ExportEntry,
  type FuncType,
  type ImportEntry,
  readHeader,
  VAL_TYPE_NAMES,
  type ValType,
  WasmReservedNameError,
} from "./reader.ts";
import { readRefType, readValType, skipConstExpr, unknown, unsupported } from "./code.ts";

/** One section of the input, by byte range. */
export interface SectionRef {
  /** The section id. */
  id: number;
  /** Offset of the id byte. */
  start: number;
  /** Offset of the first content byte. */
  contentStart: number;
  /** Offset just past the content. */
  end: number;
}

/** Limits of a memory or table. */
export interface LimitsInfo {
  /** The flags byte (bit 0: has max). */
  flags: number;
  /** Initial size. */
  min: number;
  /** Maximum size, if declared. */
  max: number | undefined;
}

/** A defined table. */
export interface TableInfo {
  /** `0x70` funcref or `0x6f` externref. */
  refType: number;
  /** Its limits. */
  limits: LimitsInfo;
}

/** A function body, by byte range (after its size). */
export interface BodyRef {
  /** Function index (imports first). */
  index: number;
  /** Offset of the locals vector. */
  start: number;
  /** Offset just past the final `end`. */
  end: number;
}

/** What the rewriter and the module check need to know about the input module. */
export interface ParsedModule {
  /** The input. */
  bytes: Uint8Array;
  /** Every section, in order. */
  sections: SectionRef[];
  /** Parameter count of each type. */
  typeParams: number[];
  /** Each type's signature. */
  types: FuncType[];
  /** Every import, in order. */
  imports: ImportEntry[];
  /** Every export, in order (function exports with their signature). */
  exports: ExportEntry[];
  /** Imported functions. */
  importedFuncs: number;
  /** Type index of each imported function. */
  importTypes: number[];
  /** Imported globals. */
  importedGlobals: number;
  /** Imported memories. */
  importedMemories: number;
  /** Imported tables. */
  importedTables: number;
  /** Type index of each defined function. */
  funcTypes: number[];
  /** Defined globals. */
  definedGlobals: number;
  /** Bytes the engine keeps for the defined globals' values (16 for `v128`, 8 otherwise). */
  globalBytes: number;
  /** Defined tables. */
  tables: TableInfo[];
  /** Defined memories. */
  memories: LimitsInfo[];
  /** Number of exports. */
  exportCount: number;
  /** The start function, if any. */
  start: number | undefined;
  /** Function bodies. */
  bodies: BodyRef[];
  /** Element segments. */
  elementSegments: number;
  /** Entries of every element segment, summed. */
  elementEntries: number;
  /** Data segments. */
  dataSegments: number;
  /** Bytes of every data segment, summed. */
  dataBytes: number;
}

/** The canonical order of the known sections (custom sections excluded). */
export const SECTION_RANK: Readonly<Record<number, number>> = {
  1: 1, // type
  2: 2, // import
  3: 3, // function
  4: 4, // table
  5: 5, // memory
  13: 6, // tag
  6: 7, // global
  7: 8, // export
  8: 9, // start
  9: 10, // element
  12: 11, // data count
  10: 12, // code
  11: 13, // data
};

/** Options of {@linkcode parseModule}. */
export interface ParseOptions {
  /** A prefix no import or export name may use (the names the host adds). */
  reservedPrefix?: string;
}

/** Reads a name; refuses it when it uses the reserved prefix. */
function readName(r: ByteReader, kind: string, reserved: string | undefined, at: number): string {
  const name = r.name();
  if (reserved !== undefined && name.startsWith(reserved)) {
    throw new WasmReservedNameError(kind, name, reserved, at);
  }
  return name;
}

function readLimits(r: ByteReader, what: "memory" | "table", where: string): LimitsInfo {
  const at = r.pos;
  const flags = r.byte();
  if (flags > 0x07) throw unknown(`limits flags 0x${flags.toString(16)}`, where, at);
  if ((flags & 0x02) !== 0) {
    throw unsupported("threads (shared memory)", `a shared ${what}`, where, at);
  }
  if ((flags & 0x04) !== 0) {
    throw unsupported(
      what === "memory" ? "memory64" : "table64",
      `a 64-bit ${what}`,
      where,
      at,
    );
  }
  const min = r.u32();
  const max = (flags & 0x01) !== 0 ? r.u32() : undefined;
  return { flags, min, max };
}

function readTableType(r: ByteReader, where: string): TableInfo {
  const at = r.pos;
  if (r.bytes[r.pos] === 0x40) {
    throw unsupported("typed function references", "a table with an initialiser", where, at);
  }
  const refType = readRefType(r, where);
  return { refType, limits: readLimits(r, "table", where) };
}

function readFuncType(r: ByteReader, where: string): FuncType {
  const at = r.pos;
  const form = r.byte();
  if (form !== 0x60) {
    if (form === 0x4e || form === 0x50 || form === 0x4f || form === 0x5f || form === 0x5e) {
      throw unsupported("GC", `type form 0x${form.toString(16)}`, where, at);
    }
    throw unknown(`type form 0x${form.toString(16)}`, where, at);
  }
  const params: ValType[] = [];
  for (let n = r.u32(); n > 0; n--) params.push(VAL_TYPE_NAMES[readValType(r, where)]);
  const results: ValType[] = [];
  for (let n = r.u32(); n > 0; n--) results.push(VAL_TYPE_NAMES[readValType(r, where)]);
  return { params, results };
}

/**
 * Decodes the section structure of `bytes` and every non-code section the
 * meter looks at, applying the feature gate.
 *
 * @param bytes The input module.
 * @returns What the rewriter needs.
 * @throws {WasmFeatureError} For a refused feature; `WasmUnknownError` for unknown bytes; `WasmReservedNameError` for a reserved name.
 * @throws {WasmFormatError} For truncated or malformed bytes (the caller maps it).
 */
export function parseModule(bytes: Uint8Array, options: ParseOptions = {}): ParsedModule {
  const reserved = options.reservedPrefix;
  const r = readHeader(bytes);
  const m: ParsedModule = {
    bytes,
    sections: [],
    typeParams: [],
    types: [],
    imports: [],
    exports: [],
    importedFuncs: 0,
    importTypes: [],
    importedGlobals: 0,
    importedMemories: 0,
    importedTables: 0,
    funcTypes: [],
    definedGlobals: 0,
    globalBytes: 0,
    tables: [],
    memories: [],
    exportCount: 0,
    start: undefined,
    bodies: [],
    elementSegments: 0,
    elementEntries: 0,
    dataSegments: 0,
    dataBytes: 0,
  };
  let lastRank = 0;
  while (r.pos < r.end) {
    const start = r.pos;
    const id = r.byte();
    const size = r.u32();
    if (size > r.end - r.pos) r.fail(`Section ${id} runs past the end of the module`);
    const contentStart = r.pos;
    const end = r.pos + size;
    const s = new ByteReader(bytes, contentStart, end);
    if (id !== 0) {
      if (id === 13) throw unsupported("exception handling", "a tag section", "the module", start);
      const rank = SECTION_RANK[id];
      if (rank === undefined) throw unknown(`section id ${id}`, "the module", start);
      if (rank <= lastRank) throw unknown(`section order (section ${id})`, "the module", start);
      lastRank = rank;
    }
    m.sections.push({ id, start, contentStart, end });
    switch (id) {
      case 0:
        s.bytesN(s.u32()); // the name
        break;
      case 1:
        for (let n = s.u32(), i = 0; n > 0; n--, i++) {
          const type = readFuncType(s, `type ${i}`);
          m.types.push(type);
          m.typeParams.push(type.params.length);
        }
        break;
      case 2:
        for (let n = s.u32(); n > 0; n--) readImport(s, m, reserved);
        break;
      case 3:
        for (let n = s.u32(); n > 0; n--) m.funcTypes.push(s.u32());
        break;
      case 4:
        for (let n = s.u32(); n > 0; n--) {
          m.tables.push(readTableType(s, `table ${m.importedTables + m.tables.length}`));
        }
        break;
      case 5:
        for (let n = s.u32(); n > 0; n--) {
          m.memories.push(
            readLimits(s, "memory", `memory ${m.importedMemories + m.memories.length}`),
          );
        }
        break;
      case 6:
        for (let n = s.u32(); n > 0; n--) {
          const where = `global ${m.importedGlobals + m.definedGlobals}`;
          const type = readValType(s, where);
          const mut = s.byte();
          if (mut > 1) throw unknown(`global mutability ${mut}`, where, s.pos - 1);
          skipConstExpr(s, where);
          m.definedGlobals++;
          m.globalBytes += type === 0x7b ? 16 : 8;
        }
        break;
      case 7:
        for (let n = s.u32(); n > 0; n--) {
          const at = s.pos;
          const name = readName(s, "export", reserved, at);
          const kind = s.byte();
          if (kind === 4) throw unsupported("exception handling", "a tag export", "the module", at);
          if (kind > 4) throw unknown(`export kind ${kind}`, "the module", at);
          const index = s.u32();
          m.exports.push({ name, kind: EXPORT_KINDS[kind], index });
          m.exportCount++;
        }
        break;
      case 8:
        m.start = s.u32();
        break;
      case 9:
        for (let n = s.u32(), i = 0; n > 0; n--, i++) {
          m.elementEntries += readElement(s, `element segment ${i}`);
          m.elementSegments++;
        }
        break;
      case 10: {
        const count = s.u32();
        if (count !== m.funcTypes.length) {
          s.fail(`Code section has ${count} bodies for ${m.funcTypes.length} functions`);
        }
        for (let i = 0; i < count; i++) {
          const size = s.u32();
          if (size > s.end - s.pos) s.fail("Function body runs past the end of the section");
          m.bodies.push({ index: m.importedFuncs + i, start: s.pos, end: s.pos + size });
          s.pos += size;
        }
        break;
      }
      case 11:
        for (let n = s.u32(), i = 0; n > 0; n--, i++) {
          m.dataBytes += readData(s, `data segment ${i}`);
          m.dataSegments++;
        }
        break;
      case 12:
        s.u32();
        break;
    }
    if (id !== 0 && s.pos !== end) s.fail(`Section ${id} has trailing bytes`);
    r.pos = end;
  }
  if (m.bodies.length !== m.funcTypes.length) {
    r.fail(`Module declares ${m.funcTypes.length} functions but has no code for them`);
  }
  for (const t of m.funcTypes) {
    if (t >= m.typeParams.length) r.fail(`Function type index ${t} out of range`);
  }
  for (const e of m.exports) {
    if (e.kind !== "func") continue;
    const type = funcTypeOf(m, e.index);
    if (type === undefined) r.fail(`Export "${e.name}" names a missing function ${e.index}`);
    e.type = type;
  }
  if (m.importedMemories + m.memories.length > 1) {
    throw unsupported("multi-memory", "more than one memory", "the module", 8);
  }
  return m;
}

function readImport(r: ByteReader, m: ParsedModule, reserved: string | undefined): void {
  const at = r.pos;
  const module = readName(r, "import module", reserved, at);
  const name = readName(r, "import", reserved, at);
  const where = `import ${
    m.importedFuncs + m.importedTables + m.importedMemories +
    m.importedGlobals
  } ("${module}" "${name}")`;
  const kind = r.byte();
  switch (kind) {
    case 0: {
      const index = r.u32();
      const type = m.types[index];
      if (type === undefined) r.fail(`Type index ${index} out of range`);
      m.importTypes.push(index);
      m.importedFuncs++;
      m.imports.push({ module, name, kind: "func", type });
      return;
    }
    case 1: {
      const { limits } = readTableType(r, where);
      m.importedTables++;
      m.imports.push({ module, name, kind: "table", limits: entryLimits(limits) });
      return;
    }
    case 2: {
      const limits = readLimits(r, "memory", where);
      m.importedMemories++;
      m.imports.push({ module, name, kind: "memory", limits: entryLimits(limits) });
      return;
    }
    case 3: {
      const valType = VAL_TYPE_NAMES[readValType(r, where)];
      const mut = r.byte();
      if (mut > 1) throw unknown(`global mutability ${mut}`, where, r.pos - 1);
      m.importedGlobals++;
      m.imports.push({ module, name, kind: "global", valType, mutable: mut === 1 });
      return;
    }
    case 4:
      throw unsupported("exception handling", "a tag import", where, at);
    default:
      throw unknown(`import kind ${kind}`, where, at);
  }
}

/** Reads one element segment; returns its number of entries. */
function readElement(r: ByteReader, where: string): number {
  const at = r.pos;
  const flags = r.u32();
  if (flags > 7) throw unknown(`element segment flags ${flags}`, where, at);
  const active = (flags & 0x01) === 0;
  const explicitTable = (flags & 0x02) !== 0;
  const exprs = (flags & 0x04) !== 0;
  if (active && explicitTable) r.u32();
  if (active) skipConstExpr(r, where);
  if (!active || explicitTable) {
    if (exprs) readRefType(r, where);
    else if (r.byte() !== 0x00) throw unknown("element kind", where, r.pos - 1);
  }
  const count = r.u32();
  for (let n = count; n > 0; n--) {
    if (exprs) skipConstExpr(r, where);
    else r.u32();
  }
  return count;
}

/** Reads one data segment; returns its size in bytes. */
function readData(r: ByteReader, where: string): number {
  const at = r.pos;
  const flags = r.u32();
  if (flags > 2) throw unknown(`data segment flags ${flags}`, where, at);
  if (flags === 2 && r.u32() !== 0) {
    throw unsupported("multi-memory", "a data segment for memory other than 0", where, at);
  }
  if (flags !== 1) skipConstExpr(r, where);
  return r.bytesN(r.u32()).length;
}

const EXPORT_KINDS = ["func", "table", "memory", "global"] as const;

function entryLimits(
  l: LimitsInfo,
): { min: number; max?: number; shared: boolean; memory64: boolean } {
  return { min: l.min, max: l.max, shared: false, memory64: false };
}

/**
 * The signature of a function, imported ones first in the index space.
 *
 * @param m The parsed module.
 * @param index A function index.
 * @returns Its signature, or `undefined` when there is no such function.
 */
export function funcTypeOf(m: ParsedModule, index: number): FuncType | undefined {
  if (index < m.importedFuncs) return m.types[m.importTypes[index]];
  const t = m.funcTypes[index - m.importedFuncs];
  return t === undefined ? undefined : m.types[t];
}

/**
 * The body bytes (locals and code) of a defined function.
 *
 * @param m The parsed module.
 * @param index A function index.
 * @returns The bytes, or `undefined` for an imported or missing function.
 */
export function bodyOf(m: ParsedModule, index: number): Uint8Array | undefined {
  const b = m.bodies[index - m.importedFuncs];
  return b === undefined ? undefined : m.bytes.subarray(b.start, b.end);
}
