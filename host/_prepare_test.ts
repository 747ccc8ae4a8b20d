import assert from "node:assert/strict";
import { HookError } from "../abi/errors.ts";
import { bigModule } from "../tests/_big_module.ts";
import { PREPARE_INLINE_BYTES, prepareModule, type PrepareRequest } from "./_prepare.ts";

const METER = { fuel: true, startFuel: 1_000_000, maxMemoryPages: 16, maxTableElements: 1000 };

function request(bytes: Uint8Array, compileTimeoutMs = 10_000): PrepareRequest {
  return { bytes, plugin: "big", granted: [], meter: METER, compileTimeoutMs };
}

Deno.test("prepareModule: a large module is prepared in a worker like a small one here", async () => {
  const small = bigModule(PREPARE_INLINE_BYTES / 2);
  const large = bigModule(PREPARE_INLINE_BYTES * 2);
  assert.ok(small.length <= PREPARE_INLINE_BYTES && large.length > PREPARE_INLINE_BYTES);
  const copy = large.slice();
  const [a, b] = await Promise.all([prepareModule(request(small)), prepareModule(request(large))]);
  assert.deepEqual(large, copy, "the caller's bytes are left alone");
  for (const p of [a, b]) {
    assert.deepEqual([p.imports, p.abiVersion, p.hasAbiVersionExport], [[], 1, false]);
    assert.ok(p.module instanceof WebAssembly.Module);
    // the metered module keeps the plugin's exports
    const names = WebAssembly.Module.exports(p.module!).map((e) => e.name);
    for (const n of ["memory", "gn_alloc", "gn_free", "gn_handle_hook"]) {
      assert.ok(names.includes(n));
    }
  }
  // check only: no module
  const checked = await prepareModule({ ...request(large), meter: undefined });
  assert.equal(checked.module, undefined);
});

Deno.test("prepareModule: a refusal from the worker keeps its code and plugin", async () => {
  const bytes = bigModule(PREPARE_INLINE_BYTES * 2, "gn_allok");
  await assert.rejects(prepareModule(request(bytes)), (e: unknown) => {
    assert.ok(e instanceof HookError);
    assert.equal(e.code, "missing_export");
    assert.equal(e.plugin, "big");
    return true;
  });
});

Deno.test("prepareModule: the compile deadline holds in the worker", async () => {
  const bytes = bigModule(4 * 1024 * 1024);
  await assert.rejects(prepareModule(request(bytes, 1)), (e: unknown) => {
    assert.ok(e instanceof HookError);
    assert.equal(e.code, "timeout");
    assert.match(e.message, /compiling it took longer than 1 ms/);
    return true;
  });
});
