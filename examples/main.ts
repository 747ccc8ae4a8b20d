/**
 * The main job: the embedded host over the bundled example plugins.
 *
 *     deno task start                                # the_content "hello, plugin world"
 *     deno task start the_content '"make it loud"'   # a filter, with a JSON value
 *     deno task start on_event '{"user":"u-42"}'     # an action, with a JSON argument
 *
 * Loads every `examples/*\/plugin.toml` (the deliberately broken one is
 * refused with its typed error while the rest carry on): the WAT plugins and
 * the PDK-built ones (AssemblyScript, Rust and C: a title-case filter, a
 * counting action keeping its count in `state`, a guard). Adds a host handler
 * between the plugins' priorities, runs the hook given on the command line
 * (by default `the_content`, then the PDK plugins' hooks) and prints results
 * and per-call timings: back to back, and one request every 5 ms, where
 * `host.prepare(hook)` (called as each request arrives) wakes the plugins'
 * workers while the request is read.
 *
 * @module
 */

import { HookError } from "../abi/errors.ts";
import { PluginHost } from "../host/host.ts";
import { MemoryStateStore } from "../host/state.ts";

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
const state = new MemoryStateStore();
await using host = await PluginHost.create({
  hooks: {
    the_content: "filter",
    on_event: "action",
    "audit.count": "filter",
    title_case: "filter",
    run_command: "guard",
  },
  grants: ["state"], // the counting examples keep their count in the host's state store
  state,
  onError: (e) => refusals.push(e),
});
/** Each counter's stored count; a plugin's state lives under its identity (here its manifest's URL). */
const counts = () =>
  ["as-count", "rust-count", "c-count"]
    .map((p) => {
      const identity = host.plugins().find((i) => i.name === p)?.identity ?? p;
      return `${p} ${new TextDecoder().decode(state.get(identity, "count") ?? new Uint8Array())}`;
    })
    .join(", ");

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
    `  ok      ${p.name.padEnd(10)} ${p.version.padEnd(6)} ${hooks}; sandbox: ${
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
    console.log(`  audit.count says ${seen} event(s) were seen; state: ${counts()}`);
  } else if (kind === "guard") {
    console.log(`checkGuards(${JSON.stringify(hook)}, ${JSON.stringify(value)})`);
    const verdict = await time("per call", 200, () => host.bus.checkGuards(hook, value));
    console.log(`  → ${JSON.stringify(verdict)}`);
  } else {
    console.log(`applyFilters(${JSON.stringify(hook)}, ${JSON.stringify(value)})`);
    const out = await time("per call", 1000, () => host.bus.applyFilters(hook, value));
    console.log(`  → ${JSON.stringify(out)}`);
    // A server's pattern: a request now and then. prepare() says the hook is
    // about to run, so its plugins' workers wake while the request is read.
    // Alternating, so that both see the same machine.
    const sporadic: number[][] = [[], []];
    for (let i = 0; i < 200; i++) {
      const prepared = i % 2;
      await new Promise((r) => setTimeout(r, 5));
      const t = performance.now(); // a request arrives
      if (prepared) host.prepare(hook);
      const request = JSON.parse(JSON.stringify({ value })); // reading it
      await host.bus.applyFilters(hook, request.value);
      sporadic[prepared].push(performance.now() - t);
    }
    for (const prepared of [0, 1]) {
      const samples = sporadic[prepared].sort((a, b) => a - b);
      console.log(
        `  one request every 5 ms${prepared ? ", host.prepare() on arrival" : ""}: median ${
          us(percentile(samples, 0.5))
        }, p99 ${us(percentile(samples, 0.99))} over 100 requests`,
      );
    }
    console.log(`doAction("on_event", "user-42", 7, { k: "v" })`);
    await time("per call", 200, () => host.bus.doAction("on_event", "user-42", 7, { k: "v" }));
    console.log(`  audit.count says ${await host.bus.applyFilters("audit.count", 0)} event(s)`);
    console.log(`  state "count": ${counts()}`);
    if (hook === "the_content") {
      console.log(`applyFilters("title_case", "hello, plugin world")   (AS → Rust → C)`);
      const titled = await time(
        "per call",
        1000,
        () => host.bus.applyFilters("title_case", "hello, plugin world"),
      );
      console.log(`  → ${JSON.stringify(titled)}`);
      for (const command of ["ls -la", "sudo reboot", "rm -rf /"]) {
        const verdict = await host.bus.checkGuards("run_command", command);
        console.log(
          `checkGuards("run_command", ${JSON.stringify(command)}) → ${JSON.stringify(verdict)}`,
        );
      }
    }
  }
} catch (e) {
  if (!(e instanceof HookError)) throw e;
  console.log(`  failed: ${e.code}: ${e.message}`);
}
const late = refusals.filter((e) => !failed.some((f) => f.error === e));
for (const e of late) console.log(`  reported: ${e.code}: ${e.message}`);
