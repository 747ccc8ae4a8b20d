/**
 * The hook-point example: an agent's tool-call policy and a submission
 * pipeline, with wasm plugins and a host handler.
 *
 *     deno task start:agent
 *
 * - `pre_tool_use`: shell-guard (wasm) blocks destructive shell commands by
 *   rule; path-jail (wasm) rewrites file paths into /workspace (modify); a
 *   host handler asks before network tools.
 * - `post_tool_use`: test-reminder (wasm) appends a reminder through the
 *   durable sink handle.
 * - `pre_submit`: tagger (wasm) appends to the append-only `extra`;
 *   impersonator (wasm) tries to change the actor and is rejected.
 *
 * @module
 */

import { MemorySink, PluginHost } from "../../mod.ts";
import { POST_TOOL_USE, PRE_SUBMIT, PRE_TOOL_USE } from "./points.ts";

const sink = new MemorySink();
await using host = await PluginHost.create({
  points: [PRE_TOOL_USE, POST_TOOL_USE, PRE_SUBMIT],
  grants: ["sink"],
  sink,
  sinkKinds: ["reminder"],
  onError: (e) => console.log(`  reported: ${e.code} (plugin ${e.plugin}, field ${e.field})`),
});
const dir = new URL("./plugins", import.meta.url);
const { loaded, failed } = await host.loadDir(dir);
console.log(`gn plugin host: hook points example, ${loaded.length} plugins loaded`);
for (const p of loaded) {
  const hooks = p.hooks.map((h) => `${h.name} match=${JSON.stringify(h.match ?? "*")}`);
  console.log(`  ${p.name.padEnd(14)} ${hooks.join(", ")}`);
}
for (const f of failed) console.log(`  refused ${f.file}: ${f.error.code}`);

host.points.add("pre_tool_use", (s: { tool_input: { url?: string } }) => ({
  decision: "ask",
  question: `Allow network access to ${s.tool_input.url ?? "the network"}?`,
}), { match: "WebFetch|WebSearch|mcp__fetch__*", priority: 30 });
console.log('  host handler   pre_tool_use match="WebFetch|WebSearch|mcp__fetch__*" asks');

const calls: [string, Record<string, unknown>][] = [
  ["Bash", { command: "ls -la" }],
  ["Bash", { command: "rm -rf / --no-preserve-root" }],
  ["Write", { file_path: "/etc/hosts", content: "127.0.0.1 x" }],
  ["Edit", { file_path: "/workspace/notes.md", old: "a", new: "b" }],
  ["WebFetch", { url: "https://example.com" }],
  ["mcp__fetch__get", { url: "https://example.org" }],
  ["Read", { file_path: "/etc/passwd" }],
];
console.log("\npre_tool_use");
for (const [tool_name, tool_input] of calls) {
  const v = await host.points.dispatch("pre_tool_use", {
    session_id: "s-1f3a",
    tool_name,
    tool_input,
  });
  const detail = v.decision === "block"
    ? `${v.reason} (by ${v.by})`
    : v.decision === "ask"
    ? `${v.question} (by ${v.by})`
    : v.decision === "modify"
    ? `${JSON.stringify(v.value.tool_input)} (by ${v.applied.map((a) => a.by).join(", ")})`
    : "";
  console.log(
    `  ${tool_name.padEnd(16)} ${JSON.stringify(tool_input).slice(0, 44).padEnd(44)} → ${
      v.decision.padEnd(8)
    } ${detail}`,
  );
}

console.log("\npost_tool_use");
for (const tool_name of ["Write", "Read"]) {
  const v = await host.points.dispatch("post_tool_use", {
    session_id: "s-1f3a",
    tool_name,
    tool_output: "ok",
  });
  console.log(
    `  ${tool_name.padEnd(16)} → ${v.decision}, ${
      v.committed
        ? `${v.committed.count} item(s) committed at #${v.committed.first}`
        : "nothing committed"
    }`,
  );
}
for (const item of sink.items()) {
  console.log(`  sink: [${item.kind}] from ${item.by}: ${item.data}`);
}

console.log("\npre_submit");
const submission = {
  actor: "ada",
  body: "Fix the parser",
  extra: ["ticket:42"],
  auth_token: "tok-9b1e",
};
const v = await host.points.dispatch("pre_submit", submission);
console.log(`  → ${v.decision}: actor ${v.value.actor}, extra ${JSON.stringify(v.value.extra)}`);
for (const e of v.errors) {
  console.log(`  rejected: ${e.code}: plugin ${e.plugin}, field ${e.field}`);
}
