import assert from "node:assert/strict";
import { decodeFilterAnswer, encodeEnvelope } from "../abi/envelope.ts";
import { filterTailBytes, nextFilterRequest } from "./relay.ts";
import { prng as rand } from "../meter/_test_util.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** What the host would send next for this answer, or `null` when it refuses the answer. */
function hostNext(body: Uint8Array, args: unknown[]): string | null {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(body);
  } catch {
    return null;
  }
  let value: unknown;
  try {
    value = decodeFilterAnswer(text, undefined);
  } catch {
    return null;
  }
  return encodeEnvelope("filter", value, args);
}

/** The tail of a request for `args`, as the host's first request of a chain has it. */
function tailOf(args: unknown[]): Uint8Array {
  const request = encoder.encode(encodeEnvelope("filter", "x", args));
  const n = filterTailBytes(args);
  return request.subarray(request.length - n);
}

const PIECES = [
  "a",
  "Z",
  " ",
  "~",
  '"',
  "\\",
  "\n",
  "\u0001",
  "é",
  "€",
  "😀",
  "\u2028",
  "\ufffd",
  "\u007f",
  "/",
];

Deno.test("relay: the next request is byte for byte what the host would send, or none when it would refuse", () => {
  const r = rand(7);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)];
  const argsList: unknown[][] = [[], [1], ["é", { k: [true, null] }], ["\u2028"]];
  const bodies: Uint8Array[] = [];
  for (let i = 0; i < 3000; i++) {
    let s = "";
    const pieces = r() < 0.5 ? PIECES.slice(0, 4) : PIECES; // half printable ASCII only
    for (let k = Math.floor(r() * 40); k > 0; k--) s += pick(pieces);
    const shape = Math.floor(r() * 9);
    const text = [
      JSON.stringify({ value: s }), // plain when s is printable ASCII
      `{"value":"${s}"}`, // raw, often not JSON
      `{ "value" : ${JSON.stringify(s)} }`,
      `{"value":${JSON.stringify(s)},"x":1}`,
      `{"x":"{\\"value\\":\\"${s}\\"}","value":${JSON.stringify(s)}}`,
      `{"value":${JSON.stringify(s.length)}}`,
      `[${JSON.stringify(s)}]`,
      `{"other":${JSON.stringify(s)}}`,
      `{"value":"a","value":${JSON.stringify(s)}}`,
    ][shape];
    bodies.push(encoder.encode(text));
  }
  bodies.push(new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x7d])); // not UTF-8
  bodies.push(encoder.encode('{"value":"\u00ff"}').subarray(0, 12)); // cut inside a character
  let plain = 0;
  for (const body of bodies) {
    const args = pick(argsList);
    const out = new Uint8Array(64 * 1024);
    const n = nextFilterRequest(body, tailOf(args), out);
    const want = hostNext(body, args);
    const what = JSON.stringify(decoder.decode(body));
    if (want === null) assert.equal(n, -1, what);
    else assert.equal(decoder.decode(out.subarray(0, n)), want, what);
    if (/^\{"value":"[\x20-\x21\x23-\x5b\x5d-\x7e]*"\}$/.test(decoder.decode(body))) plain++;
  }
  assert.ok(plain > 100, `few plain answers: ${plain}`);
});

Deno.test("relay: a next request that does not fit is not built", () => {
  const body = encoder.encode(JSON.stringify({ value: "x".repeat(100) }));
  const tail = tailOf([]);
  assert.equal(nextFilterRequest(body, tail, new Uint8Array(50)), -1);
  const slow = encoder.encode(JSON.stringify({ value: "é".repeat(100) }));
  assert.equal(nextFilterRequest(slow, tail, new Uint8Array(50)), -1);
  const exact = new Uint8Array(25 + 102 + tail.length); // head, quoted text, tail
  assert.equal(nextFilterRequest(body, tail, exact), exact.length);
});
