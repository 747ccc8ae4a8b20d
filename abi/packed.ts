/**
 * The packed i64 return of `gn_handle_hook` (docs/abi.md#packed-return): high 32 bits a
 * pointer (u32), low 32 bits a length read as a signed i32.
 *
 * @module
 */

/** A decoded packed return. */
export interface Packed {
  /** The pointer, unsigned. */
  ptr: number;
  /** The length, signed: negative is a status. */
  len: number;
}

/**
 * Splits a packed i64 into pointer and signed length.
 *
 * @param value What `gn_handle_hook` returned.
 * @returns `{ ptr, len }` with `ptr` unsigned and `len` signed.
 *
 * @example A status
 * ```ts
 * import { unpack } from "./packed.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual(unpack(0xffff_ffffn), { ptr: 0, len: -1 });
 * assert.deepEqual(unpack((16n << 32n) | 5n), { ptr: 16, len: 5 });
 * ```
 */
export function unpack(value: bigint): Packed {
  // Split through a DataView: no BigInt arithmetic on the hot path.
  view.setBigInt64(0, value, true);
  return { ptr: view.getUint32(4, true), len: view.getInt32(0, true) };
}

/** Scratch for splitting an i64 into halves. */
const view = new DataView(new ArrayBuffer(8));

/**
 * Packs a pointer and a signed length into the i64 a guest returns.
 *
 * @param ptr Pointer, 0..2^32-1.
 * @param len Length or negative status, -2^31..2^31-1.
 * @returns The packed value as a signed i64 (what JavaScript sees from wasm).
 * @throws {RangeError} When `ptr` or `len` is out of range.
 *
 * @example Round trip
 * ```ts
 * import { pack, unpack } from "./packed.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual(unpack(pack(0xffff_fff0, 12)), { ptr: 0xffff_fff0, len: 12 });
 * assert.deepEqual(unpack(pack(0, -4)), { ptr: 0, len: -4 });
 * ```
 */
export function pack(ptr: number, len: number): bigint {
  if (!Number.isInteger(ptr) || ptr < 0 || ptr > 0xffff_ffff) {
    throw new RangeError(`Cannot pack pointer ${ptr}: not a u32`);
  }
  if (!Number.isInteger(len) || len < -0x8000_0000 || len > 0x7fff_ffff) {
    throw new RangeError(`Cannot pack length ${len}: not an i32`);
  }
  return BigInt.asIntN(64, (BigInt(ptr) << 32n) | BigInt.asUintN(32, BigInt(len)));
}
