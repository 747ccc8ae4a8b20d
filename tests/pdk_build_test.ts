// Rebuilding each PDK example with its toolchain, as its header says, gives the committed bytes.
// Skipped (with the reason in its name) only where a toolchain is missing; under CI (CI=true,
// where .ci/run installs them) a missing toolchain fails instead.
import assert from "node:assert/strict";
import { buildExample, BUILT, exampleDir, examplePaths, LANGS, toolchains } from "../pdk/build.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const have = await toolchains();
const ci = Deno.env.get("CI") === "true";

for (const lang of LANGS) {
  const missing = !have[lang];
  Deno.test({
    name: missing && !ci
      ? `${lang} examples and test kit rebuild to the committed bytes (SKIPPED: the ${lang} toolchain is not installed; .ci/run installs it)`
      : `${lang} examples and test kit rebuild to the committed bytes`,
    ignore: missing && !ci,
    async fn() {
      assert.ok(!missing, `the ${lang} toolchain is missing under CI: .ci/run must install it`);
      const scratch = await Deno.makeTempDir({ prefix: "gn-pdk-test-" });
      try {
        for (const kind of BUILT) {
          const out = `${scratch}/${exampleDir(lang, kind)}.wasm`;
          await buildExample(lang, kind, out, scratch);
          const fresh = await Deno.readFile(out);
          const committed = await Deno.readFile(`${ROOT}${examplePaths(lang, kind).wasm}`);
          assert.ok(
            fresh.length === committed.length && fresh.every((b, i) => b === committed[i]),
            `${
              examplePaths(lang, kind).wasm
            } differs from a fresh build (${fresh.length} vs ${committed.length} bytes): run deno task pdk`,
          );
        }
      } finally {
        await Deno.remove(scratch, { recursive: true });
      }
    },
  });
}
