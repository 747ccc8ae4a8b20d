/**
 * The hook-points example (examples/agent): its wasm plugins do what the
 * README says, through the host.
 */
import assert from "node:assert/strict";
import { MemorySink, PluginHost } from "../mod.ts";
import { POST_TOOL_USE, PRE_SUBMIT, PRE_TOOL_USE } from "../examples/agent/points.ts";

async function agentHost(sink = new MemorySink()) {
  const host = await PluginHost.create({
    points: [PRE_TOOL_USE, POST_TOOL_USE, PRE_SUBMIT],
    grants: ["sink"],
    sink,
    sinkKinds: ["reminder"],
    spareWorkers: 0,
    onError: () => {},
  });
  const { failed } = await host.loadDir(new URL("../examples/agent/plugins", import.meta.url));
  assert.deepEqual(failed, []);
  return host;
}

const tool = (tool_name: string, tool_input: Record<string, unknown>) => ({
  session_id: "s",
  tool_name,
  tool_input,
});

Deno.test("agent example: shell-guard blocks each destructive rule, and only those", async () => {
  await using host = await agentHost();
  for (
    const [command, rule] of [
      ["rm -rf /tmp/x", "rm -rf"],
      ["mkfs.ext4 /dev/sda", "mkfs"],
      ["dd if=/dev/zero of=/dev/sda", "dd if="],
      ["git push --force origin main", "git push --force"],
    ]
  ) {
    const v = await host.points.dispatch("pre_tool_use", tool("Bash", { command }));
    assert.equal(v.decision, "block", command);
    assert.equal(v.reason, `destructive shell command (rule: ${rule})`);
    assert.equal(v.by, "shell-guard");
  }
  for (const command of ["ls -la", "rm file.txt", "git push"]) {
    const v = await host.points.dispatch("pre_tool_use", tool("Bash", { command }));
    assert.equal(v.decision, "continue", command);
  }
  // The matcher: the same text in another tool's input is not judged by shell-guard.
  const other = await host.points.dispatch("pre_tool_use", tool("Read", { file_path: "rm -rf" }));
  assert.equal(other.decision, "continue");
});

Deno.test("agent example: path-jail rewrites paths outside /workspace with a merge-patch", async () => {
  await using host = await agentHost();
  const cases: [string, string | undefined][] = [
    ["/etc/hosts", "/workspace/hosts"],
    ["notes.md", "/workspace/notes.md"],
    ["/workspace/../etc/shadow", "/workspace/shadow"],
    ["/workspace/src/a.ts", undefined],
  ];
  for (const [path, want] of cases) {
    const v = await host.points.dispatch(
      "pre_tool_use",
      tool("Write", { file_path: path, content: "x" }),
    );
    if (want === undefined) {
      assert.equal(v.decision, "continue", path);
      continue;
    }
    assert.equal(v.decision, "modify", path);
    assert.deepEqual(v.value.tool_input, { file_path: want, content: "x" }, path);
  }
  const none = await host.points.dispatch("pre_tool_use", tool("Edit", { file_path: "/tmp/.." }));
  assert.equal(none.decision, "block");
  assert.equal(none.reason, "no file name in the path");
});

Deno.test("agent example: test-reminder appends through its sink handle after writes only", async () => {
  const sink = new MemorySink();
  await using host = await agentHost(sink);
  for (const tool_name of ["Write", "Read", "Edit"]) {
    await host.points.dispatch("post_tool_use", { session_id: "s", tool_name, tool_output: "" });
  }
  assert.deepEqual(sink.items().map((i) => [i.by, i.kind]), [
    ["test-reminder", "reminder"],
    ["test-reminder", "reminder"],
  ]);
});

Deno.test("agent example: tagger appends to extra; impersonator's actor change is rejected", async () => {
  await using host = await agentHost();
  for (const extra of [[], ["a"], ["x]", "{y}", 'q"]']]) {
    const v = await host.points.dispatch("pre_submit", {
      actor: "ada",
      body: "b",
      extra,
      auth_token: "t",
    });
    assert.equal(v.decision, "modify");
    assert.deepEqual(v.value, {
      actor: "ada",
      body: "b",
      extra: [...extra, "checked-by:tagger"],
      auth_token: "t",
    });
    assert.deepEqual(v.errors.map((e) => [e.code, e.plugin, e.field]), [
      ["invariant_violated", "impersonator", "actor"],
    ]);
  }
});
