// Instrumentation preserves semantics: every fixture runs metered and plain, and every call
// gives the same answer or the same typed error.
import assert from "node:assert/strict";
import { HookError } from "../abi/errors.ts";
import { Plugin } from "../host/plugin.ts";
import { fixtureBytes } from "./_helpers.ts";

type Call = [kind: "filter" | "action", hook: string, value?: unknown];

const text = ["", "a", "hello, world", 'quote " and \\ backslash', "ünïcödé ✓", "x".repeat(5000)];
const CASES: Record<string, Call[]> = {
  content: [
    ...text.map((v): Call => ["filter", "the_content", v]),
    ["filter", "the_content", 42],
    ["filter", "the_content", null],
    ["action", "on_event"],
    ["action", "trip_panic"],
    ["action", "trap"],
    ["action", "oom"],
    ["action", "fail_with_message"],
    ["action", "odd_status"],
    ["action", "bad_pointer_status"],
    ["filter", "pointer_no_body", "kept"],
    ["action", "unknown"],
  ],
  identity: [["filter", "x", { a: [1, 2] }], ["action", "y"]],
  alloc_tracker: [["filter", "echo", 1], ["filter", "stats", null], ["action", "nope"]],
  bad_bodies: ["oob", "overflow", "too_large", "not_utf8", "not_json", "null_body", "other"].map(
    (h): Call => ["filter", h, 1],
  ),
  legacy: [["filter", "greet", null], ["action", "explode"], ["action", "other"]],
  "../examples/shout/shout": text.map((v): Call => ["filter", "the_content", v]),
  "../examples/exclaim/exclaim": text.map((v): Call => ["filter", "the_content", v]),
  "../examples/audit/audit": [["action", "on_event"], ["filter", "audit.count", 0]],
  "hostile/recursion": [["filter", "ok", null], ["action", "dive"], ["filter", "ok", null]],
  "hostile/grow_bomb": [["action", "grow"], ["filter", "ok", null]],
};

async function outcome(p: Plugin, [kind, hook, value]: Call): Promise<unknown> {
  try {
    return kind === "filter" ? { value: await p.filter(hook, value) } : await p.action(hook);
  } catch (e) {
    assert.ok(e instanceof HookError);
    return { code: e.code, status: e.status };
  }
}

for (const [fixture, calls] of Object.entries(CASES)) {
  Deno.test(`metered and plain agree: ${fixture}`, async () => {
    const bytes = await fixtureBytes(fixture);
    const opts = { name: "diff", quarantineAfter: 1000, memoryPages: 64 };
    const plain = await Plugin.load(bytes, { ...opts, fuel: false });
    const metered = await Plugin.load(bytes, { ...opts, fuel: 100_000_000 });
    try {
      for (const call of calls) {
        assert.deepEqual(
          await outcome(metered, call),
          await outcome(plain, call),
          JSON.stringify(call),
        );
      }
    } finally {
      await plain.close();
      await metered.close();
    }
  });
}
