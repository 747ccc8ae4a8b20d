import assert from "node:assert/strict";
import { z } from "zod";
import { HookPoints, type PointAnswer } from "./points.ts";
import { MemorySink } from "./sink.ts";
import { compileMatcher } from "./matcher.ts";
import type { HookError } from "../../abi/errors.ts";

const tool = z.object({
  tool_name: z.string(),
  tool_input: z.record(z.string(), z.unknown()),
  session: z.string(),
});

function toolPoints(errors: HookError[] = []): HookPoints {
  const points = new HookPoints({ onError: (e) => void errors.push(e) });
  points.declare({
    name: "pre_tool_use",
    kind: "guard",
    subject: tool,
    decisions: ["continue", "block", "ask", "modify"],
    mutable: { tool_input: "replace" },
    opaque: ["session"],
    matchField: "tool_name",
  });
  return points;
}

const SUBJECT = { tool_name: "Edit", tool_input: { path: "a", text: "t" }, session: "s-1" };

const ANSWERS: Record<string, PointAnswer | undefined> = {
  continue: undefined,
  block: { decision: "block", reason: "no" },
  ask: { decision: "ask", question: "sure?" },
  modify: { decision: "modify", value: { tool_input: { path: "/w/a" } } },
};
const RANK = ["continue", "modify", "ask", "block"];

Deno.test("points: every pair of decisions merges block > ask > modify > continue, in either order", async () => {
  for (const first of RANK) {
    for (const second of RANK) {
      const points = toolPoints();
      points.add("pre_tool_use", () => ANSWERS[first], { priority: 1 });
      points.add("pre_tool_use", () => ANSWERS[second], { priority: 2 });
      const v = await points.dispatch("pre_tool_use", SUBJECT);
      const want = RANK[Math.max(RANK.indexOf(first), RANK.indexOf(second))];
      assert.equal(v.decision, want, `${first} then ${second}`);
      if (want === "block") assert.equal(v.reason, "no");
      if (want === "ask") assert.equal(v.question, "sure?");
      const modified = first === "modify" || second === "modify";
      assert.deepEqual(
        v.value.tool_input,
        modified ? { path: "/w/a", text: "t" } : SUBJECT.tool_input,
      );
    }
  }
});

Deno.test("points: the result does not depend on which binding finished last", async () => {
  for (const slowFirst of [true, false]) {
    const points = toolPoints();
    const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));
    points.add("pre_tool_use", async () => {
      await delay(slowFirst ? 30 : 0);
      return { decision: "modify", value: { tool_input: { path: "one" } } };
    }, { priority: 1, plugin: "a" });
    points.add("pre_tool_use", async () => {
      await delay(slowFirst ? 0 : 30);
      return { decision: "modify", value: { tool_input: { path: "two", mode: "x" } } };
    }, { priority: 2, plugin: "b" });
    const v = await points.dispatch("pre_tool_use", SUBJECT);
    assert.deepEqual(v.value.tool_input, { path: "two", text: "t", mode: "x" });
    assert.deepEqual(v.conflicts, [{
      path: "/tool_input/path",
      values: [{ by: "a", value: "one" }, { by: "b", value: "two" }],
    }]);
    assert.deepEqual(v.applied.map((x) => x.by), ["a", "b"]);
  }
});

Deno.test("points: same value twice is no conflict; a parent replaced under a child is one", async () => {
  const points = toolPoints();
  points.add("pre_tool_use", () => ({ decision: "modify", value: { tool_input: { path: "x" } } }));
  points.add("pre_tool_use", () => ({ decision: "modify", value: { tool_input: { path: "x" } } }));
  assert.deepEqual((await points.dispatch("pre_tool_use", SUBJECT)).conflicts, []);
  const nested = toolPoints();
  nested.add("pre_tool_use", () => ({
    decision: "modify",
    value: { tool_input: { path: { deep: 1 } } },
  }));
  nested.add("pre_tool_use", () => ({ decision: "modify", value: { tool_input: { path: "y" } } }));
  const v = await nested.dispatch("pre_tool_use", SUBJECT);
  assert.equal(v.conflicts.length, 1);
  assert.equal(v.conflicts[0].path, "/tool_input/path");
  assert.deepEqual(v.value.tool_input, { path: "y", text: "t" });
});

Deno.test("points: modify without a value is a block with its reason", async () => {
  const points = toolPoints();
  points.add("pre_tool_use", () => ({ decision: "modify", reason: "half an answer" }));
  const v = await points.dispatch("pre_tool_use", SUBJECT);
  assert.equal(v.decision, "block");
  assert.equal(v.reason, "half an answer");
  const bare = toolPoints();
  bare.add("pre_tool_use", () => ({ decision: "modify" }) as PointAnswer);
  const w = await bare.dispatch("pre_tool_use", SUBJECT);
  assert.equal(w.decision, "block");
  assert.match(w.reason!, /modify.*without a value/);
});

Deno.test("points: an unknown decision is the binding's failure under its fail policy", async () => {
  for (const fail of ["block", "warn", "ignore"] as const) {
    const errors: HookError[] = [];
    const points = toolPoints(errors);
    points.add("pre_tool_use", () => ({ decision: "allow" }) as unknown as PointAnswer, { fail });
    const v = await points.dispatch("pre_tool_use", SUBJECT);
    assert.equal(v.decision, fail === "block" ? "block" : "continue", fail);
    assert.equal(v.errors.length, fail === "ignore" ? 0 : 1, fail);
    assert.equal(errors.length, fail === "warn" ? 1 : 0, fail);
    if (fail !== "ignore") assert.match(v.errors[0].message, /unknown decision "allow"/);
  }
  // The default policy of a guard point fails closed.
  const points = toolPoints();
  points.add("pre_tool_use", () => {
    throw new Error("boom");
  });
  const v = await points.dispatch("pre_tool_use", SUBJECT);
  assert.equal(v.decision, "block");
  assert.equal(v.errors[0].code, "handler_failed");
});

Deno.test("points: a decision the point does not allow is a failure, and refused at bind time", async () => {
  const points = new HookPoints();
  points.declare({ name: "post_tool_use", kind: "guard", subject: tool, decisions: ["continue"] });
  points.add("post_tool_use", () => ({ decision: "block", reason: "late" }), { fail: "warn" });
  const v = await points.dispatch("post_tool_use", SUBJECT);
  assert.equal(v.decision, "continue");
  assert.match(v.errors[0].message, /decision "block" is not allowed/);
  assert.throws(() => points.add("post_tool_use", () => {}, { decisions: ["block"] }), {
    code: "point_mismatch",
  });
  assert.throws(() => points.add("post_tool_use", () => {}, { handles: ["sink"] }), {
    code: "point_mismatch",
  });
  assert.throws(() => points.add("post_tool_use", () => {}, { match: "Bash" }), {
    code: "point_mismatch",
  });
});

Deno.test("points: matchers select bindings; a miss does not call the handler", async () => {
  const points = toolPoints();
  const calls: Record<string, number> = { bash: 0, edit: 0, mcp: 0, re: 0, all: 0 };
  const count = (k: string) => () => void calls[k]++;
  points.add("pre_tool_use", count("bash"), { match: "Bash" });
  points.add("pre_tool_use", count("edit"), { match: "Write|Edit" });
  points.add("pre_tool_use", count("mcp"), { match: "mcp__*" });
  points.add("pre_tool_use", count("re"), { match: "/^Web(Fetch|Search)$/" });
  points.add("pre_tool_use", count("all"));
  for (const name of ["Bash", "Edit", "Write", "mcp__fetch__get", "WebSearch", "Other"]) {
    await points.dispatch("pre_tool_use", { ...SUBJECT, tool_name: name });
  }
  assert.deepEqual(calls, { bash: 1, edit: 2, mcp: 1, re: 1, all: 6 });
  assert.throws(() => points.add("pre_tool_use", () => {}, { match: "/(/" }), SyntaxError);
  // Wildcards: prefix, suffix, inside, several; never a backtracking regular expression.
  const glob = (p: string, v: string) => compileMatcher(p).test(v);
  assert.equal(glob("mcp__*", "mcp__"), true);
  assert.equal(glob("*_file", "read_file"), true);
  assert.equal(glob("*_file", "_fil"), false);
  assert.equal(glob("a*b*c", "abc"), true);
  assert.equal(glob("a*b*c", "aXbYc"), true);
  assert.equal(glob("a*b*c", "acb"), false);
  assert.equal(glob("ab*ba", "aba"), false);
  assert.equal(glob("a.b*", "aXb"), false);
  const evil = "*a".repeat(200) + "*b";
  const t0 = performance.now();
  assert.equal(glob(evil, "a".repeat(5000)), false);
  assert.ok(performance.now() - t0 < 1000, "a wildcard pattern must not backtrack");
  assert.throws(() => points.add("pre_tool_use", () => {}, { match: "Write||Edit" }), SyntaxError);
});

Deno.test("points: invariant, opaque, append-only and re-validated fields", async () => {
  const points = new HookPoints();
  points.declare({
    name: "pre_submit",
    kind: "guard",
    subject: z.object({
      actor: z.string(),
      body: z.string().max(10),
      extra: z.array(z.string()),
      token: z.string(),
    }),
    decisions: ["continue", "modify"],
    mutable: { body: "replace", extra: "append" },
    opaque: ["token"],
  });
  const sub = { actor: "ada", body: "hi", extra: ["a"], token: "secret" };
  const run = async (value: unknown) => {
    const off = points.add("pre_submit", () => ({ decision: "modify", value }), {
      plugin: "p",
      fail: "warn",
    });
    try {
      return await points.dispatch("pre_submit", sub);
    } finally {
      off();
    }
  };
  const cases: [unknown, string | undefined, string | undefined][] = [
    [{ body: "hello" }, undefined, undefined],
    [{ extra: ["a", "b"] }, undefined, undefined],
    [{ actor: "root" }, "invariant_violated", "actor"],
    [{ actor: null }, "invariant_violated", "actor"],
    [{ token: "mine" }, "invariant_violated", "token"],
    [{ token: null }, "invariant_violated", "token"],
    [{ extra: ["b"] }, "invariant_violated", "extra"],
    [{ extra: [] }, "invariant_violated", "extra"],
    [{ extra: null }, "invariant_violated", "extra"],
    [{ body: "far too long for it" }, "revalidation_failed", "body"],
    [{ extra: ["a", 7] }, "revalidation_failed", "extra.1"],
    [{ body: null }, "revalidation_failed", "body"],
    ["replace-all", "invariant_violated", undefined],
  ];
  for (const [patch, code, field] of cases) {
    const v = await run(patch);
    const label = JSON.stringify(patch);
    if (code === undefined) {
      assert.equal(v.decision, "modify", label);
      assert.deepEqual(v.errors, [], label);
      continue;
    }
    assert.equal(v.decision, "continue", label);
    assert.equal(v.errors[0].code, code, label);
    assert.equal(v.errors[0].plugin, "p", label);
    assert.equal(v.errors[0].field, field, label);
    assert.deepEqual(v.value, sub, label);
  }
});

Deno.test("points: two appends to an append-only field both land, in priority order", async () => {
  const points = new HookPoints();
  points.declare({
    name: "pre_submit",
    kind: "guard",
    subject: z.object({ extra: z.array(z.string()) }),
    decisions: ["modify"],
    mutable: { extra: "append" },
  });
  points.add(
    "pre_submit",
    (s) => ({ decision: "modify", value: { extra: [...s.extra, "late"] } }),
    {
      priority: 5,
    },
  );
  points.add(
    "pre_submit",
    (s) => ({ decision: "modify", value: { extra: [...s.extra, "early"] } }),
    {
      priority: 1,
    },
  );
  const v = await points.dispatch("pre_submit", { extra: ["x"] });
  assert.deepEqual(v.value.extra, ["x", "early", "late"]);
  assert.deepEqual(v.conflicts, []);
});

Deno.test("points: sink items commit after the chain, in priority order, unless blocked", async () => {
  const sink = new MemorySink();
  const points = new HookPoints({ sink, sinkKinds: ["note"] });
  points.declare({
    name: "post",
    kind: "guard",
    subject: z.object({ n: z.number() }),
    decisions: ["block"],
    handles: ["sink"],
  });
  let kept: import("./sink.ts").SinkHandle | undefined;
  points.add("post", (_s, ctx) => {
    assert.equal(ctx.sink!.append("note", "second"), 0);
  }, { priority: 2, handles: ["sink"] });
  points.add("post", async (s, ctx) => {
    await new Promise((r) => setTimeout(r, 10));
    kept = ctx.sink;
    assert.equal(ctx.sink!.append("other", "x"), -6);
    assert.equal(ctx.sink!.append("note", "first"), 0);
    return s.n > 1 ? { decision: "block", reason: "n" } : undefined;
  }, { priority: 1, handles: ["sink"] });
  const v = await points.dispatch("post", { n: 1 });
  assert.deepEqual(v.committed, { count: 2, first: 0 });
  assert.deepEqual(sink.items().map((i) => i.data), ["first", "second"]);
  assert.equal(kept!.live, false);
  assert.equal(kept!.append("note", "stale"), -6);
  const blocked = await points.dispatch("post", { n: 2 });
  assert.equal(blocked.decision, "block");
  assert.equal(blocked.committed, undefined);
  assert.equal(sink.items().length, 2);
});

Deno.test("points: the JSON Schema leaves opaque fields out and states the contract", () => {
  const points = toolPoints();
  const s = points.jsonSchema("pre_tool_use");
  assert.deepEqual(Object.keys(s.properties as object), ["tool_name", "tool_input"]);
  assert.deepEqual((s["x-gn-point"] as { mutable: unknown }).mutable, { tool_input: "replace" });
});

Deno.test("points: the host refuses an append on a handle that is not live or not the plugin's", async () => {
  const errors: HookError[] = [];
  const points = new HookPoints({ sinkKinds: ["note"], onError: (e) => void errors.push(e) });
  points.declare({
    name: "post",
    kind: "guard",
    subject: z.object({}),
    handles: ["sink"],
  });
  let seen = 0;
  let during: number[] = [];
  points.addPlugin("post", { plugin: "p", handles: ["sink"] }, (payload) => {
    seen = Number(/"sink":(\d+)/.exec(payload)![1]);
    during = [
      points.sinkAppend("q", seen, "note", "other plugin"),
      points.sinkAppend("p", seen + 1, "note", "forged"),
      points.sinkAppend("p", seen, "note", "mine"),
    ];
    return null;
  });
  const v = await points.dispatch("post", {});
  assert.deepEqual(during, [-6, -6, 0]);
  assert.equal(v.committed?.count, 1);
  assert.equal(points.sinkAppend("p", seen, "note", "after the call"), -6);
  assert.equal(errors.length, 3);
  assert.ok(errors.every((e) => e.code === "capability_denied"));
});

Deno.test("points: a SinkHandle cannot be made outside the host", async () => {
  const { SinkHandle } = await import("./sink.ts");
  assert.throws(
    () => new SinkHandle(Symbol("gn.sink.mint"), "p", "me", new Set(["note"])),
    TypeError,
  );
});

Deno.test("points: a patch too deep for the stack is the binding's failure, not a rejected dispatch", async () => {
  const points = toolPoints();
  let deep: Record<string, unknown> = {};
  const root = deep;
  for (let i = 0; i < 200_000; i++) deep = (deep.a = {}) as Record<string, unknown>;
  points.add("pre_tool_use", () => ({ decision: "modify", value: { tool_input: root } }), {
    fail: "warn",
  });
  const v = await points.dispatch("pre_tool_use", SUBJECT);
  assert.equal(v.decision, "continue");
  assert.equal(v.errors[0].code, "handler_failed");
  assert.match(v.errors[0].message, /cannot be applied/);
});

Deno.test("points: conflicts of three patches, a child under a replaced member, and wide patches", async () => {
  const points = toolPoints();
  for (const [by, value] of [["a", { path: "1" }], ["b", { path: "2" }], ["c", { path: "3" }]]) {
    points.add("pre_tool_use", () => ({ decision: "modify", value: { tool_input: value } }), {
      plugin: by as string,
    });
  }
  const v = await points.dispatch("pre_tool_use", SUBJECT);
  assert.deepEqual(v.conflicts, [{
    path: "/tool_input/path",
    values: [{ by: "a", value: "1" }, { by: "b", value: "2" }, { by: "c", value: "3" }],
  }]);
  const child = toolPoints();
  child.add("pre_tool_use", () => ({ decision: "modify", value: { tool_input: { path: "x" } } }), {
    plugin: "a",
  });
  child.add("pre_tool_use", () => ({
    decision: "modify",
    value: { tool_input: { path: { deep: 1 } } },
  }), { plugin: "b" });
  const w = await child.dispatch("pre_tool_use", SUBJECT);
  assert.deepEqual(w.conflicts, [{
    path: "/tool_input/path",
    values: [{ by: "a", value: "x" }, { by: "b", value: { deep: 1 } }],
  }]);
  const wide = toolPoints();
  for (const by of ["a", "b"]) {
    const input = Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`k${i}`, by]));
    wide.add("pre_tool_use", () => ({ decision: "modify", value: { tool_input: input } }), {
      plugin: by,
    });
  }
  const x = await wide.dispatch("pre_tool_use", SUBJECT);
  assert.equal(x.conflicts.length, 5000);
  assert.equal((x.value.tool_input as Record<string, string>).k42, "b");
});
