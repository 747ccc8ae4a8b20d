/**
 * The byte level of the WebAssembly reader: the cursor with LEB128 decoding,
 * the header check, the signature types and the errors every part of the
 * reader throws (`module.ts` reads a module's sections, `code.ts` its
 * instructions). The folder is a leaf: it imports nothing. Pure; no Deno APIs.
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

/** The value type of each type byte (`0x7f` is `i32`, …). */
export const VAL_TYPE_NAMES: Readonly<Record<number, ValType>> = {
  0x7f: "i32",
  0x7e: "i64",
  0x7d: "f32",
  0x7c: "f64",
  0x7b: "v128",
  0x70: "funcref",
  0x6f: "externref",
};

/**
 * Thrown for a feature the reader refuses (fail closed): the meter and the
 * module check turn it into an `unsupported_feature` refusal.
 */
export class WasmFeatureError extends Error {
  /** The feature's name, e.g. `threads (shared memory)`. */
  readonly feature: string;
  /** What was found, e.g. `opcode 0xfe 0x10`. */
  readonly what: string;
  /** Where, e.g. `function 3`. */
  readonly where: string;
  /** Byte offset in the module. */
  readonly offset: number;
  constructor(feature: string, what: string, where: string, offset: number) {
    super(`${feature} is not supported: ${what} in ${where} at byte ${offset}`);
    this.name = "WasmFeatureError";
    this.feature = feature;
    this.what = what;
    this.where = where;
    this.offset = offset;
  }
}

/** Thrown for bytes the reader does not know (an opcode, a section id, a flag). */
export class WasmUnknownError extends Error {
  /** What was found. */
  readonly what: string;
  /** Where. */
  readonly where: string;
  /** Byte offset in the module. */
  readonly offset: number;
  constructor(what: string, where: string, offset: number) {
    super(`unknown ${what} in ${where} at byte ${offset}`);
    this.name = "WasmUnknownError";
    this.what = what;
    this.where = where;
    this.offset = offset;
  }
}

/** Thrown for an import or export name that uses a prefix the caller reserved. */
export class WasmReservedNameError extends Error {
  /** `export`, `import` or `import module`. */
  readonly kind: string;
  /** The name. */
  readonly nameFound: string;
  /** The reserved prefix. */
  readonly prefix: string;
  /** Byte offset in the module. */
  readonly offset: number;
  constructor(kind: string, name: string, prefix: string, offset: number) {
    super(`the ${kind} "${name}" uses the reserved prefix "${prefix}" at byte ${offset}`);
    this.name = "WasmReservedNameError";
    this.kind = kind;
    this.nameFound = name;
    this.prefix = prefix;
    this.offset = offset;
  }
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
 * Reads a signed LEB128 integer of at most `bits` bits (33 for block types)
 * as a number. Only used where the value fits a double exactly.
 *
 * @param r The reader, positioned at the integer.
 * @param bits The width of the integer: 32 or 33.
 * @returns The value.
 */
export function readSigned(r: ByteReader, bits: 32 | 33): number {
  const maxBytes = Math.ceil(bits / 7);
  let result = 0;
  let shift = 0;
  for (let i = 0; i < maxBytes; i++) {
    const b = r.byte();
    result += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if ((b & 0x80) === 0) {
      if ((b & 0x40) !== 0) result -= 2 ** shift;
      return result;
    }
  }
  return r.fail("Signed integer representation too long");
}

/**
 * Skips a signed LEB128 integer of at most `maxBytes` bytes (5 for i32,
 * 10 for i64). The engine's validator checks the unused bits.
 *
 * @param r The reader, positioned at the integer.
 * @param maxBytes The longest representation allowed.
 */
export function skipSigned(r: ByteReader, maxBytes: number): void {
  for (let i = 0; i < maxBytes; i++) {
    if ((r.byte() & 0x80) === 0) return;
  }
  r.fail("Signed integer representation too long");
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
