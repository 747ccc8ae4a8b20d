/**
 * The instruction decoder: reads one instruction, skips its immediates
 * exactly, classifies it (for the meter's region analysis) and enforces the
 * feature gate. Anything it does not know is refused (fail closed), with a
 * {@linkcode WasmFeatureError} or a {@linkcode WasmUnknownError}.
 *
 * Accepted: MVP, sign extension, non-trapping float-to-int, bulk memory,
 * reference types (funcref/externref only), multi-value, fixed-width SIMD,
 * tail calls, extended constant expressions. Refused with
 * `unsupported_feature`: threads, memory64, multi-memory, GC, typed function
 * references, exception handling, relaxed SIMD.
 *
 * @module
 */

import {
  type ByteReader,
  readSigned,
  skipSigned,
  WasmFeatureError,
  WasmUnknownError,
} from "./reader.ts";

/** A straight-line instruction with no dynamic cost. */
export const K_PLAIN = 0;
/** `block`. */
export const K_BLOCK = 1;
/** `loop`. */
export const K_LOOP = 2;
/** `if`. */
export const K_IF = 3;
/** `else`. */
export const K_ELSE = 4;
/** `end`. */
export const K_END = 5;
/** `br`. */
export const K_BR = 6;
/** `br_if`. */
export const K_BR_IF = 7;
/** `br_table`. */
export const K_BR_TABLE = 8;
/** `return`. */
export const K_RETURN = 9;
/** `unreachable`. */
export const K_UNREACHABLE = 10;
/** `call`. */
export const K_CALL = 11;
/** `call_indirect`. */
export const K_CALL_INDIRECT = 12;
/** `return_call`. */
export const K_RETURN_CALL = 13;
/** `return_call_indirect`. */
export const K_RETURN_CALL_INDIRECT = 14;
/** `memory.grow`: charged per page. */
export const K_MEMORY_GROW = 15;
/** `memory.fill`, `memory.copy`, `memory.init`: charged per byte. */
export const K_BULK_BYTES = 16;
/** `table.fill`, `table.copy`, `table.init`, `table.grow`: charged per element. */
export const K_TABLE_ELEMS = 17;
/** `ref.func`: plain, but carries a function index. */
export const K_REF_FUNC = 18;

/** The decoded shape of one instruction (reused between calls). */
export interface Instr {
  /** One of the `K_*` constants. */
  kind: number;
  /** The first byte of the instruction. */
  opcode: number;
  /** The label depth of `br` / `br_if`; the function index of `call` / `return_call` / `ref.func`. */
  index: number;
  /** The label depths of `br_table`, default last. */
  labels: number[];
}

/** Creates a reusable {@linkcode Instr}. */
export function newInstr(): Instr {
  return { kind: K_PLAIN, opcode: 0, index: 0, labels: [] };
}

/** Value types the meter accepts. */
const VAL_TYPES = new Set([0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f]);
/** Reference/heap type codes of the GC, typed function references and exnref proposals. */
const GC_TYPE_CODES = new Set([
  0x63,
  0x64,
  0x69,
  0x6a,
  0x6b,
  0x6c,
  0x6d,
  0x6e,
  0x71,
  0x72,
  0x73,
  0x74,
]);

/** `0x`-prefixed hex of a byte, for messages. */
export function hex(n: number): string {
  return `0x${n.toString(16).padStart(2, "0")}`;
}

/**
 * The refusal of a feature the meter does not support.
 *
 * @param feature The feature's name.
 * @param what What was found, e.g. `opcode 0xfe 0x10`.
 * @param where Where: e.g. `function 3`.
 * @param offset Byte offset in the module.
 * @returns The error to throw.
 */
export function unsupported(
  feature: string,
  what: string,
  where: string,
  offset: number,
): WasmFeatureError {
  return new WasmFeatureError(feature, what, where, offset);
}

/**
 * The refusal of bytes the decoder does not know.
 *
 * @param what What was found.
 * @param where Where.
 * @param offset Byte offset in the module.
 * @returns The error to throw.
 */
export function unknown(what: string, where: string, offset: number): WasmUnknownError {
  return new WasmUnknownError(what, where, offset);
}

/**
 * Reads a value type, refusing GC and typed reference types.
 *
 * @param r The reader.
 * @param where For messages.
 * @returns The type byte.
 */
export function readValType(r: ByteReader, where: string): number {
  const at = r.pos;
  const b = r.byte();
  if (VAL_TYPES.has(b)) return b;
  if (GC_TYPE_CODES.has(b)) {
    throw unsupported("GC / typed function references", `value type ${hex(b)}`, where, at);
  }
  throw unknown(`value type ${hex(b)}`, where, at);
}

/**
 * Reads a reference type: only `funcref` and `externref`.
 *
 * @param r The reader.
 * @param where For messages.
 * @returns The type byte.
 */
export function readRefType(r: ByteReader, where: string): number {
  const at = r.pos;
  const b = readValType(r, where);
  if (b !== 0x70 && b !== 0x6f) throw unknown(`reference type ${hex(b)}`, where, at);
  return b;
}

function readBlockType(r: ByteReader, where: string): void {
  const at = r.pos;
  const b = r.bytes[r.pos];
  if (r.pos < r.end && (b === 0x40 || VAL_TYPES.has(b))) {
    r.pos++;
    return;
  }
  if (r.pos < r.end && GC_TYPE_CODES.has(b)) {
    throw unsupported("GC / typed function references", `block type ${hex(b)}`, where, at);
  }
  const index = readSigned(r, 33);
  if (index < 0) throw unknown(`block type ${hex(b)}`, where, at);
}

function readMemarg(r: ByteReader, where: string, at: number): void {
  const flags = r.u32();
  if ((flags & 0x40) !== 0) {
    throw unsupported("multi-memory", "a memory index in a memarg", where, at);
  }
  r.u32(); // offset (a 64-bit offset would need memory64, refused at declaration)
}

function readMemIndex(r: ByteReader, where: string, at: number): void {
  if (r.u32() !== 0) throw unsupported("multi-memory", "memory index other than 0", where, at);
}

function readHeapType(r: ByteReader, where: string, at: number): void {
  const b = r.bytes[r.pos];
  if (r.pos < r.end && (b === 0x70 || b === 0x6f)) {
    r.pos++;
    return;
  }
  if (r.pos < r.end && GC_TYPE_CODES.has(b)) {
    throw unsupported("GC / typed function references", `heap type ${hex(b)}`, where, at);
  }
  // A type index: a typed function reference.
  const index = readSigned(r, 33);
  if (index >= 0) {
    throw unsupported("typed function references", `heap type index ${index}`, where, at);
  }
  throw unknown(`heap type ${hex(b)}`, where, at);
}

/**
 * SIMD immediates by sub-opcode: 0 none, 1 memarg, 2 memarg + lane,
 * 3 lane, 4 sixteen bytes, 255 unknown. Sub-opcodes ≥ 256 are relaxed SIMD
 * (refused) or unknown.
 */
const SIMD_IMMEDIATES: Uint8Array = (() => {
  const t = new Uint8Array(256);
  for (let op = 0x00; op <= 0x0b; op++) t[op] = 1; // v128.load*, v128.store
  t[0x0c] = 4; // v128.const
  t[0x0d] = 4; // i8x16.shuffle
  for (let op = 0x15; op <= 0x22; op++) t[op] = 3; // extract/replace lane
  for (let op = 0x54; op <= 0x5b; op++) t[op] = 2; // load/store lane
  t[0x5c] = 1; // v128.load32_zero
  t[0x5d] = 1; // v128.load64_zero
  for (
    const op of [
      0x9a,
      0xa2,
      0xa5,
      0xa6,
      0xaf,
      0xb0,
      0xb2,
      0xb3,
      0xb4,
      0xbb,
      0xc2,
      0xc5,
      0xc6,
      0xcf,
      0xd0,
      0xd2,
      0xd3,
      0xd4,
      0xe2,
      0xee,
    ]
  ) t[op] = 255; // unassigned
  return t;
})();

function readSimd(r: ByteReader, where: string, at: number): void {
  const sub = r.u32();
  if (sub >= 0x100 && sub <= 0x113) {
    throw unsupported(
      "relaxed SIMD (non-deterministic)",
      `opcode 0xfd ${hex(sub)}`,
      where,
      at,
    );
  }
  const imm = sub < 256 ? SIMD_IMMEDIATES[sub] : 255;
  switch (imm) {
    case 0:
      return;
    case 1:
      readMemarg(r, where, at);
      return;
    case 2:
      readMemarg(r, where, at);
      r.byte();
      return;
    case 3:
      r.byte();
      return;
    case 4:
      r.bytesN(16);
      return;
    default:
      throw unknown(`opcode 0xfd ${hex(sub)}`, where, at);
  }
}

function readMisc(r: ByteReader, out: Instr, where: string, at: number): void {
  const sub = r.u32();
  switch (sub) {
    case 0:
    case 1:
    case 2:
    case 3:
    case 4:
    case 5:
    case 6:
    case 7: // *.trunc_sat_*
      return;
    case 8: // memory.init dataidx memidx
      r.u32();
      readMemIndex(r, where, at);
      out.kind = K_BULK_BYTES;
      return;
    case 9: // data.drop
      r.u32();
      return;
    case 10: // memory.copy memidx memidx
      readMemIndex(r, where, at);
      readMemIndex(r, where, at);
      out.kind = K_BULK_BYTES;
      return;
    case 11: // memory.fill memidx
      readMemIndex(r, where, at);
      out.kind = K_BULK_BYTES;
      return;
    case 12: // table.init elemidx tableidx
      r.u32();
      r.u32();
      out.kind = K_TABLE_ELEMS;
      return;
    case 13: // elem.drop
      r.u32();
      return;
    case 14: // table.copy dst src
      r.u32();
      r.u32();
      out.kind = K_TABLE_ELEMS;
      return;
    case 15: // table.grow
      r.u32();
      out.kind = K_TABLE_ELEMS;
      return;
    case 16: // table.size
      r.u32();
      return;
    case 17: // table.fill
      r.u32();
      out.kind = K_TABLE_ELEMS;
      return;
    default:
      throw unknown(`opcode 0xfc ${hex(sub)}`, where, at);
  }
}

/**
 * Reads one instruction at `r.pos`, skipping its immediates, and fills `out`.
 *
 * @param r The reader, positioned at an opcode.
 * @param out Receives the classification.
 * @param where For messages, e.g. `function 3`.
 * @throws {WasmFeatureError} For a refused feature; {@linkcode WasmUnknownError} for unknown bytes.
 */
export function readInstr(r: ByteReader, out: Instr, where: string): void {
  const at = r.pos;
  const op = r.byte();
  out.opcode = op;
  out.kind = K_PLAIN;
  if (op >= 0x45 && op <= 0xc4) return; // numeric, sign extension: no immediates
  switch (op) {
    case 0x00:
      out.kind = K_UNREACHABLE;
      return;
    case 0x01: // nop
    case 0x1a: // drop
    case 0x1b: // select
    case 0xd1: // ref.is_null
      return;
    case 0x02:
      readBlockType(r, where);
      out.kind = K_BLOCK;
      return;
    case 0x03:
      readBlockType(r, where);
      out.kind = K_LOOP;
      return;
    case 0x04:
      readBlockType(r, where);
      out.kind = K_IF;
      return;
    case 0x05:
      out.kind = K_ELSE;
      return;
    case 0x0b:
      out.kind = K_END;
      return;
    case 0x0c:
      out.index = r.u32();
      out.kind = K_BR;
      return;
    case 0x0d:
      out.index = r.u32();
      out.kind = K_BR_IF;
      return;
    case 0x0e: {
      const labels = out.labels;
      labels.length = 0;
      for (let n = r.u32(); n > 0; n--) labels.push(r.u32());
      labels.push(r.u32());
      out.kind = K_BR_TABLE;
      return;
    }
    case 0x0f:
      out.kind = K_RETURN;
      return;
    case 0x10:
      out.index = r.u32();
      out.kind = K_CALL;
      return;
    case 0x11:
      r.u32();
      r.u32();
      out.kind = K_CALL_INDIRECT;
      return;
    case 0x12:
      out.index = r.u32();
      out.kind = K_RETURN_CALL;
      return;
    case 0x13:
      r.u32();
      r.u32();
      out.kind = K_RETURN_CALL_INDIRECT;
      return;
    case 0x1c: // select t*
      for (let n = r.u32(); n > 0; n--) readValType(r, where);
      return;
    case 0x20:
    case 0x21:
    case 0x22:
    case 0x23:
    case 0x24:
    case 0x25:
    case 0x26:
      r.u32();
      return;
    case 0xd2: // ref.func
      out.index = r.u32();
      out.kind = K_REF_FUNC;
      return;
    case 0x3f: // memory.size
      readMemIndex(r, where, at);
      return;
    case 0x40: // memory.grow
      readMemIndex(r, where, at);
      out.kind = K_MEMORY_GROW;
      return;
    case 0x41:
      skipSigned(r, 5);
      return;
    case 0x42:
      skipSigned(r, 10);
      return;
    case 0x43:
      r.bytesN(4);
      return;
    case 0x44:
      r.bytesN(8);
      return;
    case 0xd0: // ref.null
      readHeapType(r, where, at);
      return;
    case 0xfc:
      readMisc(r, out, where, at);
      return;
    case 0xfd:
      readSimd(r, where, at);
      return;
    case 0x06:
    case 0x07:
    case 0x08:
    case 0x09:
    case 0x0a:
    case 0x18:
    case 0x19:
    case 0x1f:
      throw unsupported("exception handling", `opcode ${hex(op)}`, where, at);
    case 0x14:
    case 0x15:
    case 0xd3:
    case 0xd4:
    case 0xd6:
      throw unsupported("typed function references", `opcode ${hex(op)}`, where, at);
    case 0xd5:
    case 0xfb:
      throw unsupported("GC", `opcode ${hex(op)}`, where, at);
    case 0xfe:
      throw unsupported("threads (atomics)", `opcode ${hex(op)}`, where, at);
    default:
      if (op >= 0x28 && op <= 0x3e) {
        readMemarg(r, where, at);
        return;
      }
      throw unknown(`opcode ${hex(op)}`, where, at);
  }
}

/**
 * Skips a constant expression (global initialiser, segment offset or element
 * expression), up to and including its `end`.
 *
 * @param r The reader.
 * @param where For messages.
 */
export function skipConstExpr(r: ByteReader, where: string): void {
  const instr = newInstr();
  for (;;) {
    const at = r.pos;
    readInstr(r, instr, where);
    if (instr.kind === K_END) return;
    if (instr.kind !== K_PLAIN && instr.kind !== K_REF_FUNC) {
      throw unknown(`opcode ${hex(instr.opcode)}`, where, at);
    }
  }
}
