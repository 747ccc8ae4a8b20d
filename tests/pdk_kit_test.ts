// Every host-function wrapper and error path of each PDK, through the real sandbox: the test kits
// in tests/pdk/<lang>-kit/ call log, clock, fuel, emit, state get/set/del, fail as guest_error and
// bad_payload with messages, panic (and AssemblyScript's throw, through its abort), and answer a
// guard's modify verdict; echo checks that JSON round-trips through each PDK's reader and writer.
// kit.sink appends through the call's sink handle (the envelope's "handles") at a hook point.
import assert from "node:assert/strict";
import { z } from "zod";
import { MemorySink, PluginHost } from "../mod.ts";
import { HookError } from "../abi/errors.ts";
import { readManifest } from "../host/manifest/mod.ts";
import { Plugin } from "../host/plugin.ts";
import { defaultServices, type LogEntry, type PluginEvent } from "../host/_services.ts";
import { examplePaths, LANGS } from "../pdk/build.ts";

const ROOT = new URL("../", import.meta.url).pathname;

type SinkCall = { handle: number; kind: string; data: string };

async function loadKit(
  lang: string,
  logs: LogEntry[],
  events: PluginEvent[],
  sunk: SinkCall[] = [],
): Promise<Plugin> {
  const { manifest: m, bytes } = await readManifest(
    `${ROOT}${examplePaths(lang as "c", "kit").dir}/plugin.toml`,
  );
  return await Plugin.load(bytes, {
    name: m.name,
    granted: m.capabilities,
    events: ["kit.event"],
    sinkKinds: ["note"],
    memoryPages: m.limits.memoryPages,
    timeoutMs: 5000,
    services: {
      ...defaultServices(m.name, new Set(m.capabilities)),
      log: (e) => logs.push(e),
      event: (e) => events.push(e),
      sink: ({ handle, kind, data }) => sunk.push({ handle, kind, data }),
    },
  });
}

const env = (kind: string, value: unknown, args: unknown[] = []) =>
  JSON.stringify(kind === "action" ? { kind, args } : { kind, value, args });

async function failure(p: Plugin, hook: string, payload: string): Promise<HookError> {
  try {
    await p.callRaw(hook, payload);
  } catch (e) {
    if (e instanceof HookError) return e;
    throw e;
  }
  throw new Error(`${hook} did not fail`);
}

for (const lang of LANGS) {
  Deno.test(`${lang} PDK: host-function wrappers, errors and JSON round-trip`, async () => {
    const logs: LogEntry[] = [];
    const events: PluginEvent[] = [];
    const p = await loadKit(lang, logs, events);
    try {
      await p.callRaw("kit.log", env("action", null, ["logged ✓"]));
      assert.deepEqual(logs.map((l) => [l.level, l.message]), [["warn", "logged ✓"]]);

      const before = Date.now();
      const t = JSON.parse((await p.callRaw("kit.time", env("filter", null))).body!).value;
      assert.ok(t >= before - 1000 && t <= Date.now() + 1000, `time ${t}`);

      const f = JSON.parse((await p.callRaw("kit.fuel", env("filter", null))).body!).value;
      assert.ok(f > 0 && f < 100_000_000, `fuel ${f}`);

      await p.callRaw("kit.emit", env("action", null, ['data "q" ü']));
      assert.deepEqual(events.map((e) => [e.name, e.data]), [["kit.event", 'data "q" ü']]);

      const s = await p.callRaw("kit.state", env("filter", "stored ✓ \\ \n"));
      assert.deepEqual(JSON.parse(s.body!).value, ["stored ✓ \\ \n", true]);

      const deep = {
        a: [1, -2.5e-3, true, false, null, { 'k"ey': "v\u0000\u001f\u2028𝄞" }],
        e: {},
      };
      const echo = await p.callRaw("kit.echo", env("filter", deep));
      assert.deepEqual(JSON.parse(echo.body!).value, deep);
      // \u escapes (a surrogate pair among them) and \/ decode to the same characters
      const escaped = '{"kind":"filter","value":"\\u00fc\\ud834\\udd1e \\/ \\b\\f","args":[]}';
      const decoded = await p.callRaw("kit.echo", escaped);
      assert.equal(JSON.parse(decoded.body!).value, "ü𝄞 / \b\f");

      const bad = await failure(p, "kit.echo", '{"kind":"filter","value":"unterminated}');
      assert.equal(bad.code, "bad_payload");
      assert.match(bad.message, /unterminated/);
      const kind = await failure(p, "kit.echo", env("action", null));
      assert.equal(kind.code, "bad_payload");
      assert.match(kind.message, /kind/);
      assert.equal((await failure(p, "kit.nothing", env("action", null))).code, "unknown_hook");

      const guest = await failure(p, "kit.fail", env("action", null));
      assert.equal(guest.code, "guest_error");
      assert.match(guest.message, /kit failed on purpose/);
      const payload = await failure(p, "kit.bad", env("action", null));
      assert.equal(payload.code, "bad_payload");
      assert.match(payload.message, /kit wants other input/);
      const panic = await failure(p, "kit.panic", env("action", null));
      assert.equal(panic.code, "trapped");
      assert.match(panic.message, /kit panicked/);
      if (lang === "as") {
        const thrown = await failure(p, "kit.throw", env("action", null));
        assert.equal(thrown.code, "trapped");
        assert.match(thrown.message, /kit threw at .*kit\.ts:\d+:\d+/);
      }

      const verdict = await p.callRaw("kit.modify", env("guard", "rm -rf"));
      assert.deepEqual(JSON.parse(verdict.body!), {
        decision: "modify",
        reason: "replaced",
        value: "safe",
      });
    } finally {
      await p.close();
    }
  });
}

for (const lang of LANGS) {
  Deno.test(`${lang} PDK: sink_append through the call's handle, -6 without one`, async () => {
    const sunk: SinkCall[] = [];
    const p = await loadKit(lang, [], [], sunk);
    try {
      const guard = (handles: unknown, note: string) =>
        p.callRaw(
          "kit.sink",
          JSON.stringify({ kind: "guard", handles, value: { note }, args: [] }),
        );
      const staged = await guard({ sink: 7 }, "with ✓");
      assert.equal(staged.body, null, "continue: no answer body");
      assert.deepEqual(sunk, [{ handle: 7, kind: "note", data: "with ✓" }]);
      // The next call has no handle: the PDK forgot the last one and answers -6 without the host.
      for (const handles of [undefined, {}, { sink: "7" }, { sink: 1.5 }]) {
        const none = JSON.parse((await guard(handles, "without")).body!);
        assert.equal(none.decision, "block");
        assert.match(none.reason, /-6\b.*handle none$/);
      }
      // A handle that is not the call's (the host reads the call's from the envelope's head):
      // the PDK passes it on and the host answers -6; nothing is staged.
      const forged = await p.callRaw(
        "kit.sink",
        '{"kind":"guard","value":{"note":"x"},"handles":{"sink":2147483647},"args":[]}',
      );
      assert.match(JSON.parse(forged.body!).reason, /-6\b.*handle 2147483647$/);
      assert.equal(sunk.length, 1);
    } finally {
      await p.close();
    }

    // At a hook point offering the sink, the item is committed to the host's DurableSink.
    const sink = new MemorySink();
    await using host = await PluginHost.create({
      points: [{
        name: "kit.sink",
        kind: "guard",
        subject: z.object({ note: z.string() }),
        decisions: ["continue", "block"],
        handles: ["sink"],
      }],
      grants: ["log", "clock", "state", "emit", "fuel", "sink"],
      sink,
      sinkKinds: ["note"],
      spareWorkers: 0,
    });
    await host.load(`${ROOT}${examplePaths(lang, "kit").dir}/plugin.toml`);
    const v = await host.points.dispatch("kit.sink", { note: `from ${lang}` });
    assert.equal(v.decision, "continue");
    assert.deepEqual(v.committed, { count: 1, first: 0 });
    assert.deepEqual(sink.items(), [{
      point: "kit.sink",
      by: `${lang}-kit`,
      kind: "note",
      data: `from ${lang}`,
    }]);
  });
}
