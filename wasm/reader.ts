/**
 * The WebAssembly binary reader, in a leaf folder (it imports nothing): the
 * byte cursor with LEB128 decoding and the header check that the meter
 * builds on, and {@linkcode readModuleInfo}, the sections the host needs to
 * check a module against the gn ABI before it is instantiated (types,
 * imports, functions, tables, memories, exports). Pure; no Deno APIs.
 *
 * The JavaScript API (`WebAssembly.Module.imports/exports`) gives names and
 * kinds but no signatures, so we read them from the bytes.
 *
 * @module
 */

/** A value type, as written in the text format. */
export type ValType = "i32" | "i64" | "f32" | "f64" | "v128" | "funcref" | "externref";

/** A function signature. */
export interface FuncType {
  params: ValType[];
  results: ValType[];
}

/** Limits of a memory or table. */
export interface Limits {
  min: number;
  max?: number;
  shared: boolean;
  memory64: boolean;
}

/** One import. */
export type ImportEntry =
  & { module: string; name: string }
  & (
    | { kind: "func"; type: FuncType }
    | { kind: "table"; limits: Limits }
    | { kind: "memory"; limits: Limits }
    | { kind: "global"; valType: ValType; mutable: boolean }
    | { kind: "tag" }
  );

/** One export. */
export interface ExportEntry {
  name: string;
  kind: "func" | "table" | "memory" | "global" | "tag";
  index: number;
  /** For function exports: the signature. */
  type?: FuncType;
}

/** What the reader extracts from a module. */
export interface ModuleInfo {
  types: FuncType[];
  imports: ImportEntry[];
  /** Type of every function, imported first, in function index order. */
  funcTypes: FuncType[];
  memories: Limits[];
  tables: Limits[];
  exports: ExportEntry[];
  /** How many functions are imported (they come first in the index space). */
  importedFuncs: number;
  /** Body bytes (locals + code) of each defined function, in order. */
  codeBodies: Uint8Array[];
  /** Ids of the sections present, in order. */
  sectionIds: number[];
}

/** Thrown for bytes that are not a well-formed module (as far as we read). */
export class WasmFormatError extends Error {
  /** Byte offset of the problem. */
  readonly offset: number;
  constructor(message: string, offset: number) {
    super(`${message} at byte ${offset}`);
    this.name = "WasmFormatError";
    this.offset = offset;
  }
}

const VAL_TYPES: Readonly<Record<number, ValType>> = {
  0x7f: "i32",
  0x7e: "i64",
  0x7d: "f32",
  0x7c: "f64",
  0x7b: "v128",
  0x70: "funcref",
  0x6f: "externref",
};

const EXPORT_KINDS = ["func", "table", "memory", "global", "tag"] as const;

/** A cursor over module bytes with LEB128 decoding. */
export class ByteReader {
  readonly bytes: Uint8Array;
  pos: number;
  readonly end: number;
  constructor(bytes: Uint8Array, pos = 0, end = bytes.length) {
    this.bytes = bytes;
    this.pos = pos;
    this.end = end;
  }
  fail(message: string): never {
    throw new WasmFormatError(message, this.pos);
  }
  byte(): number {
    if (this.pos >= this.end) this.fail("Unexpected end of section");
    return this.bytes[this.pos++];
  }
  /** Unsigned LEB128 up to 32 bits. */
  u32(): number {
    let result = 0;
    let shift = 0;
    for (let i = 0; i < 5; i++) {
      const b = this.byte();
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) {
        if (result > 0xffff_ffff) this.fail("Integer too large");
        return result;
      }
      shift += 7;
    }
    return this.fail("Integer representation too long");
  }
  /** Unsigned LEB128 up to 64 bits, as a number when safe. */
  u64(): number {
    let result = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      const b = this.byte();
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return Number(result);
      shift += 7n;
    }
    return this.fail("Integer representation too long");
  }
  bytesN(n: number): Uint8Array {
    if (n > this.end - this.pos) this.fail("Length out of bounds");
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  name(): string {
    const n = this.u32();
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(this.bytesN(n));
    } catch (e) {
      if (e instanceof WasmFormatError) throw e;
      return this.fail("Name is not valid UTF-8");
    }
  }
  valType(): ValType {
    const b = this.byte();
    const t = VAL_TYPES[b];
    if (t === undefined) this.fail(`Unsupported value type 0x${b.toString(16)}`);
    return t;
  }
  limits(): Limits {
    const flags = this.byte();
    if (flags > 0x07) this.fail(`Unknown limits flags 0x${flags.toString(16)}`);
    const memory64 = (flags & 0x04) !== 0;
    const min = memory64 ? this.u64() : this.u32();
    const hasMax = (flags & 0x01) !== 0;
    const max = hasMax ? (memory64 ? this.u64() : this.u32()) : undefined;
    return { min, max, shared: (flags & 0x02) !== 0, memory64 };
  }
}

function funcType(r: ByteReader): FuncType {
  const form = r.byte();
  if (form !== 0x60) {
    r.pos--;
    r.fail(`Unsupported type form 0x${form.toString(16)} (GC types are not supported)`);
  }
  const params: ValType[] = [];
  for (let n = r.u32(); n > 0; n--) params.push(r.valType());
  const results: ValType[] = [];
  for (let n = r.u32(); n > 0; n--) results.push(r.valType());
  return { params, results };
}

/**
 * Checks the magic number and version of a binary module.
 *
 * @param bytes The module bytes.
 * @returns A reader positioned at the first section.
 * @throws {WasmFormatError} For anything but a core module, version 1.
 */
export function readHeader(bytes: Uint8Array): ByteReader {
  const r = new ByteReader(bytes);
  if (
    bytes.length < 8 || bytes[0] !== 0x00 || bytes[1] !== 0x61 || bytes[2] !== 0x73 ||
    bytes[3] !== 0x6d
  ) {
    r.fail("Missing the \\0asm magic number");
  }
  if (bytes[4] !== 1 || bytes[5] !== 0 || bytes[6] !== 0 || bytes[7] !== 0) {
    r.pos = 4;
    r.fail("Unsupported binary version (a component or a future format?)");
  }
  r.pos = 8;
  return r;
}

/**
 * Reads the sections of `bytes` the host needs.
 *
 * @param bytes A WebAssembly binary module.
 * @returns Types, imports, function types, memories, tables and exports.
 * @throws {WasmFormatError} When the bytes are not a module we can read.
 */
export function readModuleInfo(bytes: Uint8Array): ModuleInfo {
  const r = readHeader(bytes);
  const info: ModuleInfo = {
    types: [],
    imports: [],
    funcTypes: [],
    memories: [],
    tables: [],
    exports: [],
    importedFuncs: 0,
    codeBodies: [],
    sectionIds: [],
  };
  while (r.pos < r.end) {
    const id = r.byte();
    const size = r.u32();
    if (size > r.end - r.pos) r.fail(`Section ${id} runs past the end of the module`);
    const s = new ByteReader(bytes, r.pos, r.pos + size);
    info.sectionIds.push(id);
    switch (id) {
      case 1:
        for (let n = s.u32(); n > 0; n--) info.types.push(funcType(s));
        break;
      case 2:
        for (let n = s.u32(); n > 0; n--) readImport(s, info);
        break;
      case 3:
        for (let n = s.u32(); n > 0; n--) info.funcTypes.push(typeAt(s, info, s.u32()));
        break;
      case 4:
        for (let n = s.u32(); n > 0; n--) {
          s.valType();
          info.tables.push(s.limits());
        }
        break;
      case 5:
        for (let n = s.u32(); n > 0; n--) info.memories.push(s.limits());
        break;
      case 7:
        for (let n = s.u32(); n > 0; n--) {
          const name = s.name();
          const k = s.byte();
          const kind = EXPORT_KINDS[k];
          if (kind === undefined) s.fail(`Unknown export kind ${k}`);
          const index = s.u32();
          const e: ExportEntry = { name, kind, index };
          if (kind === "func") {
            const t = info.funcTypes[index];
            if (t === undefined) s.fail(`Export "${name}" names a missing function ${index}`);
            e.type = t;
          }
          info.exports.push(e);
        }
        break;
      case 10:
        for (let n = s.u32(); n > 0; n--) {
          const len = s.u32();
          info.codeBodies.push(s.bytesN(len));
        }
        break;
      default:
        if (id > 13) r.fail(`Unknown section id ${id}`);
    }
    r.pos += size;
  }
  return info;
}

function typeAt(r: ByteReader, info: ModuleInfo, index: number): FuncType {
  const t = info.types[index];
  if (t === undefined) r.fail(`Type index ${index} out of range`);
  return t;
}

function readImport(r: ByteReader, info: ModuleInfo): void {
  const module = r.name();
  const name = r.name();
  const kind = r.byte();
  switch (kind) {
    case 0: {
      const type = typeAt(r, info, r.u32());
      info.funcTypes.push(type);
      info.importedFuncs++;
      info.imports.push({ module, name, kind: "func", type });
      return;
    }
    case 1: {
      r.valType();
      const limits = r.limits();
      info.tables.push(limits);
      info.imports.push({ module, name, kind: "table", limits });
      return;
    }
    case 2: {
      const limits = r.limits();
      info.memories.push(limits);
      info.imports.push({ module, name, kind: "memory", limits });
      return;
    }
    case 3: {
      const valType = r.valType();
      const mutable = r.byte() === 1;
      info.imports.push({ module, name, kind: "global", valType, mutable });
      return;
    }
    case 4:
      r.byte();
      r.u32();
      info.imports.push({ module, name, kind: "tag" });
      return;
    default:
      r.fail(`Unknown import kind ${kind}`);
  }
}

/**
 * Formats a signature as in the text format, e.g. `(i32, i32) -> i64`.
 *
 * @param t The signature.
 * @returns Its text form.
 */
export function formatFuncType(t: FuncType): string {
  const results = t.results.length === 0
    ? "()"
    : t.results.length === 1
    ? t.results[0]
    : `(${t.results.join(", ")})`;
  return `(${t.params.join(", ")}) -> ${results}`;
}

/**
 * Whether two signatures are identical.
 *
 * @param a One signature.
 * @param b The other.
 * @returns `true` when params and results match exactly.
 */
export function sameFuncType(a: FuncType, b: FuncType): boolean {
  return a.params.length === b.params.length && a.results.length === b.results.length &&
    a.params.every((p, i) => p === b.params[i]) && a.results.every((p, i) => p === b.results[i]);
}
