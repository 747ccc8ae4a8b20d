// loadForTest: functional assertions against the real sandbox, as a plugin author writes them.
import assert from "node:assert/strict";
import { HookError } from "../abi/errors.ts";
import { loadForTest } from "./mod.ts";

const EXAMPLES = new URL("../examples/", import.meta.url);

Deno.test("loadForTest: a filter answers through the sandbox, with its fuel", async () => {
  await using p = await loadForTest(new URL("shout/plugin.toml", EXAMPLES));
  assert.equal(await p.filter("the_content", "a b"), "A B");
  assert.ok(p.lastFuel !== undefined && p.lastFuel > 0n, `fuel: ${p.lastFuel}`);
  assert.equal(p.manifest.name, "shout");
});

Deno.test("loadForTest: actions, logs and a typo'd or mis-kinded hook", async () => {
  await using p = await loadForTest(new URL("audit/plugin.toml", EXAMPLES));
  await p.action("on_event", ["user-42"]);
  await p.action("on_event", ["user-43"]);
  assert.equal(await p.filter("audit.count", null), 2);
  await assert.rejects(p.filter("on_event", 1), (e: unknown) => {
    assert.ok(e instanceof HookError);
    assert.equal(e.code, "hook_not_declared");
    assert.match(e.message, /declares on_event \(action\), audit\.count \(filter\)/);
    return true;
  });
});

Deno.test("loadForTest: WASI output is recorded as log lines; a guard's bad verdict is typed", async () => {
  await using c = await loadForTest(new URL("../fixtures/wasi_c/plugin.toml", import.meta.url));
  await c.action("wasi.hello", ["x"]);
  assert.deepEqual(c.logs.map((l) => l.message), ["hello from C: 30 bytes", "a line on stderr"]);
  await using g = await loadForTest(
    new URL("../fixtures/conformance/bad_verdict.toml", import.meta.url),
  );
  await assert.rejects(g.guard("conf.bad_verdict", "x"), (e: unknown) => {
    assert.ok(e instanceof HookError);
    assert.equal(e.code, "bad_response");
    assert.match(e.message, /answered hook "conf.bad_verdict" badly: .*got "maybe"/);
    return true;
  });
});
