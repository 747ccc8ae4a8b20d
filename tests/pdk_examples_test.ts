// The PDK examples (title-case filter, counting action, guard) in every language: what they
// answer through the real host, that their allocator gives memory back, and which host
// functions each module imports (only those it calls).
import assert from "node:assert/strict";
import { PluginHost } from "../host/host.ts";
import { MemoryStateStore } from "../host/state.ts";
import { exampleDir, LANGS } from "../pdk/build.ts";

const EXAMPLES = new URL("../examples/", import.meta.url).pathname;
const HOOKS = { title_case: "filter", on_event: "action", run_command: "guard" } as const;

for (const lang of LANGS) {
  Deno.test(`${lang} PDK examples answer through the host`, async () => {
    const store = new MemoryStateStore();
    await using host = await PluginHost.create({ hooks: HOOKS, grants: ["state"], state: store });
    const identity: Record<string, string> = {};
    for (const kind of ["title", "count", "guard"] as const) {
      const info = await host.load(`${EXAMPLES}${exampleDir(lang, kind)}/plugin.toml`);
      identity[info.name] = info.identity;
    }
    const title = (v: unknown) => host.bus.applyFilters("title_case", v);
    assert.equal(await title("hello wide world"), "Hello Wide World");
    assert.equal(await title("a b"), "A B");
    assert.equal(await title(""), "");
    assert.equal(await title("already Up\ttab\nnew line"), "Already Up\tTab\nNew Line");
    const tricky = 'ünïcödé ✓ "quoted" \\ back\u0001 𝄞 clef \u2028 x';
    assert.equal(await title(tricky), 'ünïcödé ✓ "quoted" \\ Back\u0001 𝄞 Clef \u2028 X');
    assert.deepEqual(await title({ n: 1.5e300, s: "x", list: [true, null] }), {
      n: 1.5e300,
      s: "x",
      list: [true, null],
    });
    const long = "word ".repeat(13_000);
    const titled = await title(long); // 65,000 bytes: the default budget must cover it
    assert.ok(titled === "Word ".repeat(13_000), `64 KiB title: ${String(titled).slice(0, 40)}…`);

    for (let i = 0; i < 5; i++) await host.bus.doAction("on_event", "user-42", i);
    // state lives under the plugin's identity (its manifest's URL, since it is not pinned)
    const plugin = identity[exampleDir(lang, "count")];
    assert.equal(new TextDecoder().decode(store.get(plugin, "count")), "5");

    const guard = (s: unknown) => host.bus.checkGuards("run_command", s);
    assert.deepEqual(await guard("ls -la"), { decision: "continue" });
    const blocked = await guard("cd / && rm -rf *");
    assert.equal(blocked.decision, "block");
    assert.match(String((blocked as { reason?: string }).reason), /rm -rf/);
    assert.equal((await guard("sudo reboot")).decision, "ask");
    assert.deepEqual(await guard(42), { decision: "continue" });
  });
}
