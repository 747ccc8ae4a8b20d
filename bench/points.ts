/**
 * `deno task bench:points`: what hook points cost, per dispatch of
 * `host.points.dispatch`, medians of rounds (µs, p50 / p99):
 *
 *   - no binding (the dispatch itself: schema check, matcher, merge)
 *   - one host handler (answers continue)
 *   - one plugin binding whose matcher misses (no worker crossing)
 *   - one plugin binding that matches (one crossing, answers continue)
 *   - four host handlers answering modify (the merging alone)
 *   - a guard chain of four plugins, each answering modify on its own field
 *     of `tool_input` (four crossings, four merge-patches, re-validation)
 *
 * Options: `--rounds N` (default 5), `--calls N` (default 2000), `--json FILE`
 * (default `bench/results/points.json`).
 *
 * @module
 */

import { z } from "zod";
import { PluginHost } from "../host/host.ts";
import type { HookPointSpec } from "../host/points/points.ts";
import { writePointPlugin } from "../tests/_point_plugins.ts";

const args = Deno.args;
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const ROUNDS = Number(opt("--rounds", "5"));
const CALLS = Number(opt("--calls", "2000"));
const JSON_OUT = opt("--json", new URL("./results/points.json", import.meta.url).pathname);

const POINT: HookPointSpec = {
  name: "pre_tool_use",
  kind: "guard",
  subject: z.object({
    session_id: z.string(),
    tool_name: z.string(),
    tool_input: z.record(z.string(), z.unknown()),
  }),
  decisions: ["continue", "block", "ask", "modify"],
  mutable: { tool_input: "replace" },
  opaque: ["session_id"],
  matchField: "tool_name",
};
const SUBJECT = {
  session_id: "s-1",
  tool_name: "Edit",
  tool_input: { file_path: "/workspace/a.ts", old: "a", new: "b" },
};

function hook(extra: string): string {
  return `[[hooks]]\nname = "pre_tool_use"\nkind = "guard"\n${extra}\n`;
}

async function measure(host: PluginHost): Promise<{ p50: number; p99: number }> {
  const p50s: number[] = [];
  const p99s: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const samples: number[] = [];
    for (let i = 0; i < CALLS; i++) {
      const t0 = performance.now();
      await host.points.dispatch("pre_tool_use", SUBJECT);
      samples.push(performance.now() - t0);
    }
    samples.sort((a, b) => a - b);
    p50s.push(samples[Math.floor(samples.length / 2)] * 1000);
    p99s.push(samples[Math.min(samples.length - 1, Math.floor(samples.length * 0.99))] * 1000);
  }
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  return { p50: median(p50s), p99: median(p99s) };
}

async function scenario(
  dir: string,
  setup: (host: PluginHost) => void | Promise<void>,
): Promise<{ p50: number; p99: number }> {
  await using host = await PluginHost.create({ points: [POINT], spareWorkers: 0 });
  await setup(host);
  await measure(host); // warm-up
  void dir;
  return await measure(host);
}

const dir = await Deno.makeTempDir({ prefix: "gn-bench-points-" });
try {
  const miss = await writePointPlugin(dir, {
    name: "bash-only",
    hooks: hook('match = "Bash"'),
    body: "",
  });
  const hit = await writePointPlugin(dir, {
    name: "edits",
    hooks: hook('match = "Edit"'),
    body: "",
  });
  const chain: string[] = [];
  for (let i = 0; i < 4; i++) {
    chain.push(
      await writePointPlugin(dir, {
        name: `modifier-${i}`,
        hooks: hook(`priority = ${i}`),
        body: JSON.stringify({ decision: "modify", value: { tool_input: { [`note_${i}`]: i } } }),
      }),
    );
  }
  const results: Record<string, { p50: number; p99: number }> = {};
  results["no binding"] = await scenario(dir, () => {});
  results["one host handler"] = await scenario(dir, (host) => {
    host.points.add("pre_tool_use", () => undefined);
  });
  results["one plugin, matcher miss"] = await scenario(dir, async (host) => {
    await host.load(miss);
  });
  results["one plugin, matched"] = await scenario(dir, async (host) => {
    await host.load(hit);
  });
  results["four host handlers, modify + merge"] = await scenario(dir, (host) => {
    for (let i = 0; i < 4; i++) {
      host.points.add("pre_tool_use", () => ({
        decision: "modify",
        value: { tool_input: { [`note_${i}`]: i } },
      }), { priority: i });
    }
  });
  results["four plugins, modify + merge"] = await scenario(dir, async (host) => {
    for (const f of chain) await host.load(f);
    const v = await host.points.dispatch("pre_tool_use", SUBJECT);
    if (v.applied.length !== 4) throw new Error("the chain did not merge four patches");
  });
  console.log(`hook points, µs per dispatch (p50 / p99), medians of ${ROUNDS} rounds of ${CALLS}`);
  for (const [name, r] of Object.entries(results)) {
    console.log(`  ${name.padEnd(34)} ${r.p50.toFixed(1).padStart(7)} / ${r.p99.toFixed(1)}`);
  }
  await Deno.writeTextFile(
    JSON_OUT,
    JSON.stringify(
      { date: new Date().toISOString(), rounds: ROUNDS, calls: CALLS, results },
      null,
      2,
    ) +
      "\n",
  );
} finally {
  await Deno.remove(dir, { recursive: true });
}
