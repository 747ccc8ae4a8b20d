/**
 * Strict UTF-8 decoding that is fast on valid input.
 *
 * Deno's fatal `TextDecoder` is about 3× slower than the replacing one
 * (1.65 µs against 0.54 µs for 1 KiB, measured on Deno 2.9.6). The replacing
 * decoder turns every invalid sequence into U+FFFD, so a result without
 * U+FFFD came from valid UTF-8; only a result with one (a real U+FFFD or an
 * invalid sequence) is decoded again strictly to tell which.
 *
 * @module
 */

const lax = new TextDecoder("utf-8", { ignoreBOM: true });
const strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Decodes UTF-8, refusing invalid input.
 *
 * @param bytes The bytes (not a shared buffer's view: copy those first).
 * @returns The text.
 * @throws {TypeError} When `bytes` is not valid UTF-8.
 *
 * @example
 * ```ts
 * import { decodeUtf8 } from "./utf8.ts";
 * import assert from "node:assert/strict";
 * assert.equal(decodeUtf8(new Uint8Array([0x68, 0xc3, 0xa9])), "hé");
 * assert.equal(decodeUtf8(new Uint8Array([0xef, 0xbf, 0xbd])), "\ufffd");
 * assert.throws(() => decodeUtf8(new Uint8Array([0xff])), TypeError);
 * ```
 */
export function decodeUtf8(bytes: Uint8Array): string {
  const text = lax.decode(bytes);
  return text.indexOf("\ufffd") < 0 ? text : strict.decode(bytes);
}
