/**
 * The chain hand-off's wire part, shared by both ends (no Deno APIs): how a
 * plugin's worker turns its filter answer into the next plugin's request,
 * byte for byte what the host would have sent.
 *
 * A filter envelope is `{"kind":"filter","value":<value>,"args":<args>}`
 * (`abi/envelope.ts`). Only the value changes from one plugin to the next,
 * so the host tells the first worker how many bytes the tail after the value
 * (`,"args":<args>}`) has (`Slot.forwardTail`), and every worker of the
 * chain builds the next request as the head, the value it answered, and that
 * tail, unchanged.
 *
 * @module
 */

import { decodeFilterAnswer } from "../abi/envelope.ts";
import { decodeUtf8 } from "../abi/utf8.ts";

/** What every filter envelope starts with, up to the value. */
export const FILTER_HEAD = '{"kind":"filter","value":';

const encoder = new TextEncoder();
let scratch = new Uint8Array(16 * 1024);

/**
 * The next request of a chain, from a filter's answer: decoded and checked
 * exactly as the host decodes it (strict UTF-8, a JSON object, a missing
 * `value` is `null`), then written as head, value and `tail` into `out`.
 *
 * @param body The answer's bytes (may be a view of shared memory).
 * @param tail The envelope's bytes after the value (`,"args":…}`).
 * @param out Where the request goes.
 * @returns The request's length in bytes, or `-1` when the host would
 *   refuse the answer or the request does not fit in `out`.
 */
export function nextFilterRequest(body: Uint8Array, tail: Uint8Array, out: Uint8Array): number {
  const spliced = spliceString(body, tail, out);
  if (spliced !== NOT_PLAIN) return spliced;
  if (scratch.length < body.length) {
    scratch = new Uint8Array(Math.max(body.length, scratch.length * 2));
  }
  scratch.set(body);
  let value: unknown;
  try {
    value = decodeFilterAnswer(decodeUtf8(scratch.subarray(0, body.length)), undefined);
  } catch {
    return -1;
  }
  const text = FILTER_HEAD + (JSON.stringify(value) ?? "null");
  const head = encoder.encodeInto(text, out);
  if (head.read !== text.length || head.written + tail.length > out.length) return -1;
  out.set(tail, head.written);
  return head.written + tail.length;
}

const NOT_PLAIN = -2;
const HEAD_BYTES = encoder.encode(FILTER_HEAD);
const PLAIN_PREFIX = encoder.encode('{"value":"');

/**
 * The common answer, `{"value":"<text>"}` with printable ASCII text and no
 * escapes, spliced into the next request byte for byte without decoding or
 * parsing it: for such text, `JSON.stringify(JSON.parse(body).value)` is
 * the quoted text itself, so the request is the same bytes the host would
 * send. Any other answer (whitespace, escapes, other bytes, other members)
 * takes the full path.
 *
 * @returns The request's length, `-1` when it does not fit, or
 *   {@linkcode NOT_PLAIN}.
 */
function spliceString(body: Uint8Array, tail: Uint8Array, out: Uint8Array): number {
  const n = body.length;
  const p = PLAIN_PREFIX.length;
  if (n < p + 2 || body[n - 1] !== 0x7d || body[n - 2] !== 0x22) return NOT_PLAIN;
  for (let i = 0; i < p; i++) if (body[i] !== PLAIN_PREFIX[i]) return NOT_PLAIN;
  for (let i = p; i < n - 2; i++) {
    const b = body[i];
    // printable ASCII but `"` and `\`: written as is by JSON.stringify
    if (b < 0x20 || b > 0x7e || b === 0x22 || b === 0x5c) return NOT_PLAIN;
  }
  const text = n - 2 - p;
  const size = HEAD_BYTES.length + text + 2 + tail.length;
  if (size > out.length) return -1;
  out.set(HEAD_BYTES, 0);
  out[HEAD_BYTES.length] = 0x22;
  out.set(body.subarray(p, n - 2), HEAD_BYTES.length + 1);
  out[HEAD_BYTES.length + 1 + text] = 0x22;
  out.set(tail, HEAD_BYTES.length + 2 + text);
  return size;
}

/**
 * Bytes of a filter envelope's tail after the value, for `args`: what the
 * host writes into `Slot.forwardTail` with the first request of a chain.
 *
 * @param args The filter's extra arguments.
 * @returns The tail's length in UTF-8 bytes.
 */
export function filterTailBytes(args: readonly unknown[]): number {
  const a = args.length === 0 ? "[]" : JSON.stringify(args);
  return encoder.encode(',"args":' + a + "}").length;
}
