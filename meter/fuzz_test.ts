// Robustness: random and mutated bytes never make the meter throw anything
// but a HookError, never hang, and whatever it accepts validates. Metered
// corpus modules round-trip through an independent decoder (wabt).
import assert from "node:assert/strict";
import { HookError } from "../abi/errors.ts";
import { meter } from "./mod.ts";
import { CORPUS } from "./_corpus_test_util.ts";
import { prng, toWat, wat } from "./_test_util.ts";

const HEADER = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];

function check(bytes: Uint8Array, what: string): "accepted" | "refused" {
  const t0 = performance.now();
  try {
    const out = meter(bytes);
    assert.ok(WebAssembly.validate(out.bytes), `${what}: output does not validate`);
    // With refuel every defined function is renumbered: still valid.
    const refuelled = meter(bytes, { refuel: true });
    assert.ok(WebAssembly.validate(refuelled.bytes), `${what}: refuel output does not validate`);
    return "accepted";
  } catch (e) {
    if (!(e instanceof HookError)) {
      throw new Error(`${what}: threw ${e} for ${Array.from(bytes)}`, { cause: e });
    }
    assert.ok(
      ["invalid_module", "unsupported_feature", "memory_limit"].includes(e.code),
      `${what}: ${e.code}`,
    );
    return "refused";
  } finally {
    assert.ok(performance.now() - t0 < 2_000, `${what}: took too long`);
  }
}

Deno.test("meter() survives random bytes", () => {
  const rand = prng(1);
  for (let i = 0; i < 2000; i++) {
    const n = Math.floor(rand() * 120);
    const body = Array.from({ length: n }, () => Math.floor(rand() * 256));
    check(Uint8Array.from(i % 2 === 0 ? [...HEADER, ...body] : body), `random #${i}`);
  }
});

Deno.test("meter() survives mutated modules", async () => {
  const seeds = await Promise.all(Object.values(CORPUS).map((t) => wat(t)));
  const rand = prng(2);
  const int = (n: number): number => Math.floor(rand() * n);
  const tally = { accepted: 0, refused: 0 };
  for (let i = 0; i < 4000; i++) {
    const bytes = [...seeds[i % seeds.length]];
    for (let k = 1 + int(3); k > 0; k--) {
      const at = 8 + int(bytes.length - 8);
      switch (int(6)) {
        case 0:
          bytes[at] ^= 1 << int(8);
          break;
        case 1:
          bytes[at] = int(256);
          break;
        case 2:
          bytes.splice(at, 0, int(256));
          break;
        case 3:
          bytes.splice(at, 1 + int(4));
          break;
        case 4:
          bytes.length = at;
          break;
        default:
          bytes[at] = [0x00, 0x0b, 0x0c, 0x0d, 0x02, 0x03, 0x04, 0x05, 0x10, 0xfc, 0xfd][int(11)];
      }
    }
    tally[check(Uint8Array.from(bytes), `mutant #${i}`)]++;
  }
  // Both paths were exercised.
  assert.ok(tally.accepted > 50, JSON.stringify(tally));
  assert.ok(tally.refused > 1000, JSON.stringify(tally));
});

Deno.test("meter() output round-trips through wabt", async () => {
  for (const [name, text] of Object.entries(CORPUS)) {
    const refuelled = await toWat(meter(await wat(text), { refuel: true }).bytes);
    assert.match(refuelled, /__gn_refuel/, name);
    const metered = meter(await wat(text)).bytes;
    const printed = await toWat(metered);
    assert.match(printed, /__gn_fuel_get/, name);
    // wabt 1.0.39 prints an extended constant expression (global 3 of
    // "globals") in a form its own parser rejects: decode + validate only.
    if (name === "globals") continue;
    const again = await wat(printed);
    assert.ok(WebAssembly.validate(again), name);
    // Printing and re-assembling is stable.
    assert.equal(await toWat(again), printed, name);
  }
});
