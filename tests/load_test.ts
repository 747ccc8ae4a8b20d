// Every load-time refusal, before instantiation, typed and naming the plugin and the reason.
import assert from "node:assert/strict";
import { HookError } from "../abi/errors.ts";
import { Plugin } from "../host/plugin.ts";
import { fixtureBytes, loadFixture } from "./_helpers.ts";

async function refused(name: string, code: string, pattern: RegExp, granted: string[] = []) {
  await assert.rejects(
    loadFixture(name, { granted: granted as never }),
    (e: unknown) => {
      assert.ok(e instanceof HookError);
      assert.equal(e.code, code, e.message);
      assert.equal(e.plugin, name.replaceAll("_", "-"));
      assert.match(e.message, pattern);
      return true;
    },
  );
}

Deno.test("missing export → missing_export", async () => {
  await refused("missing_export", "missing_export", /missing export "gn_free"/);
});

Deno.test("wrong export signature → missing_export naming both signatures", async () => {
  await refused(
    "wrong_signature",
    "missing_export",
    /"gn_alloc" has signature \(i64\) -> i32, expected \(i32\) -> i32/,
  );
});

Deno.test("unknown env import → capability_denied naming it", async () => {
  await refused("unknown_import", "capability_denied", /"env"\."gn_read_secrets"/);
});

Deno.test("WASI import → capability_denied naming the module", async () => {
  await refused("wasi_import", "capability_denied", /wasi_snapshot_preview1/);
});

Deno.test("host import with the wrong signature → capability_denied", async () => {
  await refused(
    "bad_import_signature",
    "capability_denied",
    /"gn_panic" has signature \(i32\) -> \(\)/,
  );
});

Deno.test("ungranted token → capability_denied, even when other tokens are granted", async () => {
  await refused("logger", "capability_denied", /needs capability "log"/);
  await refused("logger", "capability_denied", /needs capability "log"/, ["clock"]);
});

Deno.test("constant gn_abi_version 2 → abi_version before instantiation", async () => {
  await refused("abi_v2", "abi_version", /speaks gn ABI version 2/);
});

Deno.test("computed gn_abi_version 2 → abi_version at start-up", async () => {
  await refused("abi_computed", "abi_version", /speaks gn ABI version 2/);
});

Deno.test("bytes that are not a module → invalid_module", async () => {
  for (
    const bytes of [
      new Uint8Array(0),
      new TextEncoder().encode("hello, world"),
      crypto.getRandomValues(new Uint8Array(4096)),
      new Uint8Array([0, 0x61, 0x73, 0x6d, 0x0d, 0, 1, 0]), // a component
    ]
  ) {
    await assert.rejects(Plugin.load(bytes, { name: "junk" }), { code: "invalid_module" });
  }
});

Deno.test("truncated code → invalid_module naming the plugin", async () => {
  const broken = (await fixtureBytes("identity")).slice();
  broken[broken.lastIndexOf(0x0b)] = 0x00; // the last body's `end`
  await assert.rejects(Plugin.load(broken, { name: "broken" }), (e: HookError) => {
    assert.equal(e.code, "invalid_module");
    assert.equal(e.plugin, "broken");
    assert.match(e.message, /Cannot load plugin "broken"/);
    return true;
  });
});

Deno.test("decodable but ill-typed code → invalid_module (engine validation)", async () => {
  const bytes = (await fixtureBytes("identity")).slice();
  // gn_handle_hook's body is `i64.const 0; end`; make it `i32.const 0`: wrong result type.
  const at = bytes.length - 3;
  assert.deepEqual([...bytes.subarray(at)], [0x42, 0x00, 0x0b]);
  bytes[at] = 0x41;
  await assert.rejects(Plugin.load(bytes, { name: "ill-typed" }), (e: HookError) => {
    assert.equal(e.code, "invalid_module");
    assert.match(e.message, /does not compile|validator rejects it/);
    return true;
  });
});

Deno.test("a refused plugin leaves others working", async () => {
  const good = await loadFixture("content");
  try {
    await assert.rejects(loadFixture("missing_export"));
    await assert.rejects(loadFixture("abi_computed"));
    assert.equal(await good.filter("the_content", "still"), "STILL");
  } finally {
    await good.close();
  }
});
