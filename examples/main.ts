/**
 * The main job: the embedded host over the bundled example plugins.
 *
 *     deno task start                                # the_content "hello, plugin world"
 *     deno task start the_content '"make it loud"'   # a filter, with a JSON value
 *     deno task start on_event '{"user":"u-42"}'     # an action, with a JSON argument
 *
 * Loads every `examples/*\/plugin.toml` (the deliberately broken one is
 * refused with its typed error while the rest carry on), adds a host handler
 * between the plugins' priorities, runs the hook given on the command line
 * and prints results and per-call timings.
 *
 * @module
 */

import { HookError } from "../abi/errors.ts";
import { PluginHost } from "../host/host.ts";

const hook = Deno.args[0] ?? "the_content";
let value: unknown = "hello, plugin world";
if (Deno.args[1] !== undefined) {
  try {
    value = JSON.parse(Deno.args[1]);
  } catch {
    console.error(`The value must be JSON, e.g. '"text"' or '{"k":1}'; got: ${Deno.args[1]}`);
    Deno.exit(2);
  }
}

const ms = (t: number) => `${t.toFixed(1)} ms`;
const us = (t: number) => `${(t * 1000).toFixed(1)} µs`;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

async function time<T>(label: string, n: number, f: () => Promise<T>): Promise<T> {
  let last!: T;
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    last = await f();
    samples.push(performance.now() - t0);
  }
  samples.sort((a, b) => a - b);
  console.log(
    `  ${label}: median ${us(percentile(samples, 0.5))}, p99 ${
      us(percentile(samples, 0.99))
    } over ${n} calls`,
  );
  return last;
}

const refusals: HookError[] = [];
await using host = await PluginHost.create({
  hooks: { the_content: "filter", on_event: "action", "audit.count": "filter" },
  onError: (e) => refusals.push(e),
});

console.log("gn plugin host: loading examples/");
const t0 = performance.now();
const dir = new URL("./", import.meta.url).pathname;
const { loaded, failed } = await host.loadDir(dir);
console.log(
  `  ${loaded.length} loaded, ${failed.length} refused, in ${ms(performance.now() - t0)}`,
);
for (const p of loaded) {
  const hooks = p.hooks.map((h) => `${h.name} (${h.kind}, priority ${h.priority})`).join(", ");
  const denied = Object.entries(p.isolation.probes).every(([, v]) => v === "denied");
  console.log(
    `  ok      ${p.name.padEnd(8)} ${p.version.padEnd(6)} ${hooks}; sandbox: ${
      denied ? "no file, net, env, run" : "NOT ISOLATED"
    }`,
  );
}
for (const { file, error } of failed) {
  console.log(`  refused ${file.slice(dir.length)}: ${error.code}: ${error.message}`);
}

host.bus.addFilter("the_content", (v) => typeof v === "string" ? `[${v}]` : v, {
  priority: 15,
});
console.log("  host handler: the_content at priority 15 wraps strings in [ ]");
console.log();

const kind = host.bus.kindOf(hook);
try {
  if (kind === "action") {
    console.log(`doAction(${JSON.stringify(hook)}, ${JSON.stringify(value)})`);
    await time("per call", 200, () => host.bus.doAction(hook, value));
    const seen = await host.bus.applyFilters("audit.count", 0);
    console.log(`  audit.count says ${seen} event(s) were seen`);
  } else {
    console.log(`applyFilters(${JSON.stringify(hook)}, ${JSON.stringify(value)})`);
    const out = await time("per call", 1000, () => host.bus.applyFilters(hook, value));
    console.log(`  → ${JSON.stringify(out)}`);
    console.log(`doAction("on_event", "user-42", 7, { k: "v" })`);
    await time("per call", 200, () => host.bus.doAction("on_event", "user-42", 7, { k: "v" }));
    console.log(`  audit.count says ${await host.bus.applyFilters("audit.count", 0)} event(s)`);
  }
} catch (e) {
  if (!(e instanceof HookError)) throw e;
  console.log(`  failed: ${e.code}: ${e.message}`);
}
const late = refusals.filter((e) => !failed.some((f) => f.error === e));
for (const e of late) console.log(`  reported: ${e.code}: ${e.message}`);
