// The Extism twin of the shout filter (bench/extism_upper.wasm) upper-cases ASCII a-z and
// nothing else, on Extism's main thread and on its worker thread.
import assert from "node:assert/strict";
import { EXTISM_ENV_VARS, extismUpper } from "./_extism.ts";

/** Extism reads these env variables when it is imported; without them the tests are skipped. */
const envGranted = EXTISM_ENV_VARS.every((variable) =>
  Deno.permissions.querySync({ name: "env", variable }).state === "granted"
);

const reference = (s: string): string => s.replace(/[a-z]/g, (c) => c.toUpperCase());

/** 64 KiB of UTF-8: ASCII of every class plus 2-, 3- and 4-byte characters at shifting offsets. */
function text64k(): string {
  const pieces = ["hello, World! ", "ünï ", "az AZ `{ @[ ", "✓ ", "𝄞 ", "0123456789 ", "\x7f\x00 "];
  const enc = new TextEncoder();
  let s = "";
  let bytes = 0;
  for (let i = 0; bytes < 65536 - 64; i++) {
    const piece = pieces[i % pieces.length] + String.fromCharCode(32 + (i % 95));
    s += piece;
    bytes += enc.encode(piece).length;
  }
  return s + "q".repeat(65536 - bytes);
}

for (const runInWorker of [false, true]) {
  const mode = runInWorker ? "worker" : "main thread";

  Deno.test({
    name: `extism upper (${mode}): ASCII only, non-ASCII bytes untouched`,
    ignore: !envGranted,
    async fn() {
      const upper = await extismUpper(runInWorker);
      try {
        // The "n" in "ünï" is ASCII, so it is upper-cased like in examples/shout.
        assert.equal(await upper.call("hello, World! ünï 123"), "HELLO, WORLD! üNï 123");
        // Lead bytes 0xe1 (ḁ), 0xe2 (✓), 0xf0 (𝄞) are "a", "b", "p" with bit 7 set: kept.
        assert.equal(await upper.call("äöü ß ÿ ḁ✓𝄞ḁ✓𝄞"), "äöü ß ÿ ḁ✓𝄞ḁ✓𝄞");
        assert.equal(await upper.call(""), "");
        // Every length 0..24 so the 8-byte chunks and the byte tail meet at each offset.
        for (let n = 0; n <= 24; n++) {
          const s = "a`{z".repeat(7).slice(0, n);
          assert.equal(await upper.call(s), reference(s), `length ${n}`);
        }
      } finally {
        await upper.close();
      }
    },
  });

  Deno.test({
    name: `extism upper (${mode}): 64 KiB`,
    ignore: !envGranted,
    async fn() {
      const s = text64k();
      assert.equal(new TextEncoder().encode(s).length, 65536);
      const upper = await extismUpper(runInWorker);
      try {
        assert.equal(await upper.call(s), reference(s));
        assert.equal(await upper.call(s + "tail"), reference(s + "tail"));
      } finally {
        await upper.close();
      }
    },
  });
}
