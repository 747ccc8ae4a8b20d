/**
 * Hook points with real plugins: matchers that cost no worker crossing, the
 * envelope without opaque fields, a plugin trying to change each kind of
 * field, sink handles (live, forged, stale), and load-time refusals.
 */
import assert from "node:assert/strict";
import { z } from "zod";
import { type HookError, MemorySink, PluginHost } from "../mod.ts";
import type { HookPointSpec, LogEntry } from "../mod.ts";
import { withTempDir } from "./_helpers.ts";
import { writePointPlugin } from "./_point_plugins.ts";

const PRE_TOOL_USE: HookPointSpec = {
  name: "pre_tool_use",
  kind: "guard",
  subject: z.object({
    tool_name: z.string(),
    tool_input: z.record(z.string(), z.unknown()),
    session_token: z.string(),
  }),
  decisions: ["continue", "block", "ask", "modify"],
  mutable: { tool_input: "replace" },
  opaque: ["session_token"],
  matchField: "tool_name",
};

const PRE_SUBMIT: HookPointSpec = {
  name: "pre_submit",
  kind: "guard",
  subject: z.object({
    actor: z.string(),
    body: z.string().max(20),
    extra: z.array(z.string()),
    auth: z.string(),
  }),
  decisions: ["continue", "block", "modify"],
  mutable: { body: "replace", extra: "append" },
  opaque: ["auth"],
};

const POST_TOOL_USE: HookPointSpec = {
  name: "post_tool_use",
  kind: "guard",
  subject: z.object({ tool_name: z.string() }),
  decisions: ["continue", "block"],
  handles: ["sink"],
  matchField: "tool_name",
};

function hook(name: string, extra = ""): string {
  return `[[hooks]]\nname = "${name}"\nkind = "guard"\n${extra}\n`;
}

const OPTIONS = { points: [PRE_TOOL_USE, PRE_SUBMIT, POST_TOOL_USE], spareWorkers: 0 };

Deno.test("points: a matcher miss never crosses into the plugin's worker", async () => {
  await withTempDir(async (dir) => {
    const bash = await writePointPlugin(dir, {
      name: "bash-only",
      hooks: hook("pre_tool_use", 'match = "Bash"'),
      body: "",
    });
    const edits = await writePointPlugin(dir, {
      name: "edits",
      hooks: hook("pre_tool_use", 'match = "Write|Edit|mcp__*"'),
      body: "",
    });
    await using host = await PluginHost.create({ ...OPTIONS, grants: ["log"] });
    await host.load(bash);
    await host.load(edits);
    const before = [host.plugin("bash-only")!.stats.calls, host.plugin("edits")!.stats.calls];
    for (const tool of ["Bash", "Edit", "Write", "Read", "mcp__x", "WebFetch", "Bash"]) {
      const v = await host.points.dispatch("pre_tool_use", {
        tool_name: tool,
        tool_input: {},
        session_token: "t",
      });
      assert.equal(v.decision, "continue");
    }
    assert.equal(host.plugin("bash-only")!.stats.calls - before[0], 2);
    assert.equal(host.plugin("edits")!.stats.calls - before[1], 3);
  });
});

Deno.test("points: the envelope leaves opaque fields out", async () => {
  await withTempDir(async (dir) => {
    const file = await writePointPlugin(dir, {
      name: "looker",
      hooks: hook("pre_tool_use"),
      body: "",
      logPayload: true,
    });
    const lines: LogEntry[] = [];
    await using host = await PluginHost.create({
      ...OPTIONS,
      grants: ["log"],
      log: (e) => void lines.push(e),
    });
    await host.load(file);
    await host.points.dispatch("pre_tool_use", {
      tool_name: "Read",
      tool_input: { path: "a" },
      session_token: "sekrit-123",
    });
    const seen = lines.find((l) => l.plugin === "looker")!.message;
    assert.equal(
      seen,
      '{"kind":"guard","value":{"tool_name":"Read","tool_input":{"path":"a"}},"args":[]}',
    );
    assert.ok(!seen.includes("sekrit"));
  });
});

Deno.test("points: a plugin trying to change each kind of field", async () => {
  await withTempDir(async (dir) => {
    const tries: [string, unknown][] = [
      ["mutable", { body: "edited" }],
      ["appender", { extra: ["x", "added"] }],
      ["invariant", { actor: "root" }],
      ["opaque", { auth: "forged" }],
      ["rewriter", { extra: ["replaced"] }],
      ["invalid", { body: "this body is far longer than twenty" }],
    ];
    const files: string[] = [];
    for (const [i, [name, value]] of tries.entries()) {
      files.push(
        await writePointPlugin(dir, {
          name,
          hooks: hook("pre_submit", `priority = ${i}\nfail = "warn"`),
          body: JSON.stringify({ decision: "modify", value }),
        }),
      );
    }
    const reported: HookError[] = [];
    await using host = await PluginHost.create({
      ...OPTIONS,
      onError: (e) => void reported.push(e),
    });
    for (const f of files) await host.load(f);
    const subject = { actor: "ada", body: "hi", extra: ["x"], auth: "token-1" };
    const v = await host.points.dispatch("pre_submit", subject);
    assert.equal(v.decision, "modify");
    assert.deepEqual(v.value, {
      actor: "ada",
      body: "edited",
      extra: ["x", "added"],
      auth: "token-1",
    });
    assert.deepEqual(v.applied.map((a) => a.by), ["mutable", "appender"]);
    assert.deepEqual(
      v.errors.map((e) => [e.code, e.plugin, e.field]),
      [
        ["invariant_violated", "invariant", "actor"],
        ["invariant_violated", "opaque", "auth"],
        ["invariant_violated", "rewriter", "extra"],
        ["revalidation_failed", "invalid", "body"],
      ],
    );
    assert.equal(reported.length, 4);
    assert.deepEqual(subject.extra, ["x"]);
  });
});

Deno.test("points: a guard plugin's bad answer fails closed by default", async () => {
  await withTempDir(async (dir) => {
    const files = [
      await writePointPlugin(dir, {
        name: "unknown",
        hooks: hook("pre_tool_use"),
        body: '{"decision":"allow"}',
      }),
      await writePointPlugin(dir, {
        name: "garbled",
        hooks: hook("pre_tool_use", 'fail = "warn"'),
        body: "{not json",
      }),
      await writePointPlugin(dir, {
        name: "halfway",
        hooks: hook("pre_tool_use", 'fail = "warn"\npriority = 20'),
        body: '{"decision":"modify","reason":"no value given"}',
      }),
    ];
    await using host = await PluginHost.create({ ...OPTIONS, onError: () => {} });
    for (const f of files) await host.load(f);
    const v = await host.points.dispatch("pre_tool_use", {
      tool_name: "Bash",
      tool_input: {},
      session_token: "t",
    });
    assert.equal(v.decision, "block");
    assert.equal(v.by, "unknown");
    assert.match(v.reason!, /unknown decision "allow"/);
    assert.deepEqual(v.errors.map((e) => [e.code, e.plugin]), [
      ["bad_response", "unknown"],
      ["bad_response", "garbled"],
    ]);
    await host.unload("unknown");
    const w = await host.points.dispatch("pre_tool_use", {
      tool_name: "Bash",
      tool_input: {},
      session_token: "t",
    });
    assert.equal(w.decision, "block");
    assert.equal(w.by, "halfway");
    assert.equal(w.reason, "no value given");
  });
});

Deno.test("points: sink handles: the call's own is honoured, forged and stale ones are denied (-6)", async () => {
  await withTempDir(async (dir) => {
    const post = (extra = "") => hook("post_tool_use", `handles = ["sink"]\n${extra}`);
    const deny = '{"decision":"block","reason":"append refused"}';
    const files = [
      await writePointPlugin(dir, {
        name: "noter",
        hooks: post("priority = 2"),
        body: "",
        sink: { kind: "reminder", data: "run the tests", handle: "call" },
        failBody: deny,
      }),
      await writePointPlugin(dir, {
        name: "forger",
        hooks: post('match = "Forge"'),
        body: "",
        sink: { kind: "reminder", data: "forged", handle: "forged" },
        failBody: deny,
      }),
      await writePointPlugin(dir, {
        name: "keeper",
        hooks: post('match = "Keep"'),
        body: "",
        sink: { kind: "reminder", data: "kept", handle: "stale" },
        failBody: deny,
      }),
      await writePointPlugin(dir, {
        name: "wrong-kind",
        hooks: post('match = "Kind"'),
        body: "",
        sink: { kind: "shell", data: "rm", handle: "call" },
        failBody: deny,
      }),
    ];
    const sink = new MemorySink();
    await using host = await PluginHost.create({
      ...OPTIONS,
      grants: ["sink"],
      sink,
      sinkKinds: ["reminder"],
    });
    for (const f of files) await host.load(f);
    const run = (tool_name: string) => host.points.dispatch("post_tool_use", { tool_name });
    const ok = await run("Edit");
    assert.equal(ok.decision, "continue");
    assert.deepEqual(ok.committed, { count: 1, first: 0 });
    assert.deepEqual(sink.items(), [{
      point: "post_tool_use",
      by: "noter",
      kind: "reminder",
      data: "run the tests",
    }]);
    const forged = await run("Forge");
    assert.equal(forged.decision, "block");
    assert.equal(forged.by, "forger");
    const first = await run("Keep");
    assert.equal(first.decision, "continue");
    const stale = await run("Keep");
    assert.equal(stale.decision, "block");
    assert.equal(stale.by, "keeper");
    assert.equal((await run("Kind")).decision, "block");
    // Only the accepted items, in order; blocked dispatches commit nothing.
    assert.deepEqual(sink.items().map((i) => `${i.by}:${i.data}`), [
      "noter:run the tests",
      "noter:run the tests",
      "keeper:kept",
    ]);
    for (const v of [forged, stale]) assert.equal(v.reason, "append refused");
  });
});

Deno.test("points: bindings a point would refuse are refused at load", async () => {
  await withTempDir(async (dir) => {
    const cases: [string, string, string[], string, RegExp][] = [
      [
        "asks-too-much",
        hook("post_tool_use", 'decisions = ["ask"]'),
        [],
        "point_mismatch",
        /"ask".*post_tool_use|post_tool_use.*"ask"/,
      ],
      [
        "wants-handle",
        hook("pre_tool_use", 'handles = ["sink"]'),
        ["sink"],
        "point_mismatch",
        /handle "sink".*pre_tool_use|pre_tool_use.*handle "sink"/,
      ],
      [
        "no-sink-cap",
        hook("post_tool_use", 'handles = ["sink"]'),
        [],
        "capability_denied",
        /needs capability "sink"/,
      ],
      [
        "not-a-point",
        '[[hooks]]\nname = "the_content"\nkind = "filter"\nmatch = "x"\n',
        [],
        "point_mismatch",
        /only hook points take match/,
      ],
      [
        "wrong-kind",
        '[[hooks]]\nname = "pre_tool_use"\nkind = "filter"\n',
        [],
        "hook_kind_mismatch",
        /set kind = "guard"/,
      ],
      [
        "bad-match",
        hook("pre_tool_use", 'match = "/(/"'),
        [],
        "invalid_manifest",
        /hooks\[0\]\.match/,
      ],
      ["no-field", hook("pre_submit", 'match = "Bash"'), [], "point_mismatch", /no match field/],
    ];
    await using host = await PluginHost.create({ ...OPTIONS, grants: ["sink"] });
    for (const [name, hooks, capabilities, code, message] of cases) {
      const file = await writePointPlugin(dir, { name, hooks, body: "", capabilities });
      await assert.rejects(host.load(file), (e: HookError) => {
        assert.equal(e.code, code, name);
        assert.match(e.message, message, name);
        return true;
      });
    }
    const regex = await writePointPlugin(dir, {
      name: "regex",
      hooks: hook("pre_tool_use", 'match = "/^(Write|Edit)$/"'),
      body: "",
    });
    await assert.rejects(host.load(regex), (e: HookError) => {
      assert.equal(e.code, "point_mismatch");
      assert.match(e.message, /regexMatchers: true/);
      return true;
    });
    await using lenient = await PluginHost.create({ ...OPTIONS, regexMatchers: true });
    await lenient.load(regex);
    await using strict = await PluginHost.create({ ...OPTIONS });
    const granted = await writePointPlugin(dir, {
      name: "ungranted",
      hooks: hook("post_tool_use", 'handles = ["sink"]'),
      body: "",
      capabilities: ["sink"],
    });
    await assert.rejects(strict.load(granted), { code: "capability_denied" });
  });
});

Deno.test("points: create refuses a name that is both a bus hook and a point", async () => {
  await assert.rejects(
    PluginHost.create({ points: [PRE_SUBMIT], hooks: { pre_submit: "guard" } }),
    TypeError,
  );
});

Deno.test("points: an action point sends the subject as args[0], with its handle, and ignores answers", async () => {
  await withTempDir(async (dir) => {
    const sessionStart: HookPointSpec = {
      name: "session_start",
      kind: "action",
      subject: z.object({ session: z.string(), secret: z.string() }),
      opaque: ["secret"],
      handles: ["sink"],
    };
    const file = await writePointPlugin(dir, {
      name: "observer",
      hooks: '[[hooks]]\nname = "session_start"\nkind = "action"\nhandles = ["sink"]\n',
      body: '{"decision":"block","reason":"ignored"}',
      logPayload: true,
      sink: { kind: "note", data: "started", handle: "call" },
      failBody: "",
      handleAt: 35,
    });
    const lines: LogEntry[] = [];
    const sink = new MemorySink();
    await using host = await PluginHost.create({
      points: [sessionStart],
      spareWorkers: 0,
      grants: ["log", "sink"],
      sink,
      sinkKinds: ["note"],
      log: (e) => void lines.push(e),
    });
    await host.load(file);
    const v = await host.points.dispatch("session_start", { session: "s-9", secret: "x" });
    assert.equal(v.decision, "continue");
    assert.match(
      lines[0].message,
      /^\{"kind":"action","handles":\{"sink":\d+\},"args":\[\{"session":"s-9"\}\]\}$/,
    );
    assert.deepEqual(sink.items().map((i) => i.data), ["started"]);
    await assert.rejects(
      host.points.dispatch("session_start", { session: 7 } as unknown as Record<string, unknown>),
      TypeError,
    );
    await assert.rejects(host.points.dispatch("session_end", {}), { code: "hook_not_declared" });
  });
});

Deno.test("points: a guard binding cut short by close() answers block, whatever its fail policy", async () => {
  await withTempDir(async (dir) => {
    const file = await writePointPlugin(dir, {
      name: "slow",
      hooks: hook("pre_submit", 'fail = "warn"'),
      body: "",
      spin: 50_000_000,
    });
    const host = await PluginHost.create({ ...OPTIONS, onError: () => {} });
    await host.load(file);
    const verdict = host.points.dispatch("pre_submit", {
      actor: "a",
      body: "b",
      extra: [],
      auth: "t",
    });
    await new Promise((r) => setTimeout(r, 20));
    await host.close();
    const v = await verdict;
    assert.equal(v.decision, "block");
    assert.equal(v.by, "slow");
    assert.match(v.reason!, /was unloaded/);
  });
});

Deno.test("points: bad answers count towards the plugin's quarantine, like a bus hook's bad body", async () => {
  await withTempDir(async (dir) => {
    const file = await writePointPlugin(dir, {
      name: "babbler",
      hooks: hook("pre_submit", 'fail = "warn"'),
      body: '{"decision":"perhaps"}',
    });
    await using host = await PluginHost.create({
      ...OPTIONS,
      quarantineAfter: 3,
      onError: () => {},
    });
    await host.load(file);
    const subject = { actor: "a", body: "b", extra: [], auth: "t" };
    for (let i = 0; i < 3; i++) {
      const v = await host.points.dispatch("pre_submit", subject);
      assert.equal(v.errors[0].code, "bad_response");
    }
    assert.equal(host.plugin("babbler")!.quarantined, true);
    assert.equal(host.plugin("babbler")!.stats.failures, 3);
    const v = await host.points.dispatch("pre_submit", subject);
    assert.equal(v.errors[0].code, "quarantined");
  });
});
