/**
 * `deno task bench`: everything side by side in one run, on the same plugin
 * logic (an ASCII upper-casing filter), repeated in rounds; the figures are
 * medians of the rounds' medians.
 *
 *   (a) in-process: the same metered wasm, the same envelope, no isolation (the floor)
 *   (b) postMessage: our host with the shared channel off, through `host.bus.applyFilters`
 *   (c) ours: our host, shared-memory channel, through `host.bus.applyFilters`
 *   (d) Extism's JS SDK with `runInWorker: true` and `false`, an equivalent plugin
 *
 * plus cold start, RSS per loaded plugin, fuel-metering overhead, 4 plugins
 * driven at once, 2 instances of one plugin, and the recycle time after a trap.
 *
 * Options: `--rounds N` (default 5), `--quick` (fewer calls), `--json FILE`
 * (default `bench/results/latest.json`).
 *
 * @module
 */

import { blake3 } from "hash-wasm";
import { decodeFilterAnswer, encodeEnvelope } from "../abi/envelope.ts";
import { PluginHost } from "../host/host.ts";
import { Plugin } from "../host/plugin.ts";
import { meter } from "../meter/mod.ts";
import { Guest } from "../workers/guest.ts";
import { extismUpper, type UpperCaller } from "./_extism.ts";
import { floorLines, measureFloor } from "./floor.ts";

const args = Deno.args;
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const ROUNDS = Number(opt("--rounds", "5"));
const QUICK = args.includes("--quick");
const JSON_OUT = opt("--json", new URL("./results/latest.json", import.meta.url).pathname);
const SIZES = [64, 1024, 65536] as const;
const CALLS: Record<number, number> = QUICK
  ? { 64: 500, 1024: 500, 65536: 60 }
  : { 64: 3000, 1024: 3000, 65536: 300 };
const WARMUP = QUICK ? 200 : 1000;

const PLUGIN_DIR = new URL("./plugins/upper/", import.meta.url).pathname;
const MANIFEST = `${PLUGIN_DIR}plugin.toml`;
const WASM = await Deno.readFile(`${PLUGIN_DIR}upper.wasm`);
const FUEL = 100_000_000;

interface Sample {
  p50: number;
  p99: number;
  perSec: number;
}

function summarise(samples: number[], totalMs: number): Sample {
  samples.sort((a, b) => a - b);
  return {
    p50: samples[Math.floor(samples.length / 2)] * 1000,
    p99: samples[Math.min(samples.length - 1, Math.floor(samples.length * 0.99))] * 1000,
    perSec: samples.length / (totalMs / 1000),
  };
}

/** Per-call timings of `n` sequential calls after a warm-up. */
async function timeCalls(n: number, call: () => unknown): Promise<Sample> {
  for (let i = 0; i < WARMUP; i++) await call();
  const samples = new Array<number>(n);
  const start = performance.now();
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await call();
    samples[i] = performance.now() - t;
  }
  return summarise(samples, performance.now() - start);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function medianSample(xs: Sample[]): Sample {
  return {
    p50: median(xs.map((x) => x.p50)),
    p99: median(xs.map((x) => x.p99)),
    perSec: median(xs.map((x) => x.perSec)),
  };
}

const value = (size: number) =>
  "abcdefghij klmnopqrstuvwxyz".repeat(Math.ceil(size / 27)).slice(0, size);
const expected = (v: string) => v.toUpperCase();

function check(out: unknown, v: string, who: string): void {
  if (out !== expected(v)) throw new Error(`${who} answered wrongly`);
}

/** Writes `n` copies of the bench plugin under distinct names; returns their manifests. */
async function copies(dir: string, n: number, instances = 1): Promise<string[]> {
  const digest = `blake3:${await blake3(WASM)}`;
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const d = `${dir}/upper-${i}`;
    await Deno.mkdir(d, { recursive: true });
    await Deno.writeFile(`${d}/upper.wasm`, WASM);
    await Deno.writeTextFile(
      `${d}/plugin.toml`,
      `name = "upper-${i}"\nversion = "1.0.0"\nabi = 1\nmodule = "upper.wasm"\ndigest = "${digest}"\n` +
        `[limits]\nmemory_pages = 64\nfuel = ${FUEL}\ntimeout_ms = 1000\ninstances = ${instances}\n` +
        `[[hooks]]\nname = "the_content"\nkind = "filter"\n`,
    );
    out.push(`${d}/plugin.toml`);
  }
  return out;
}

// ---------------------------------------------------------------------------
// Latency: (a) (b) (c) (d) side by side

type Config = "a_inprocess" | "b_postmessage" | "c_ours" | "d_extism_worker" | "d_extism_inprocess";
const CONFIGS: Config[] = [
  "a_inprocess",
  "b_postmessage",
  "c_ours",
  "d_extism_worker",
  "d_extism_inprocess",
];

const guest = new Guest(
  await WebAssembly.compile(meter(WASM, { startFuel: FUEL, maxMemoryPages: 64 }).bytes),
  {
    plugin: "upper",
    maxPayloadBytes: 1 << 20,
    maxResponseBytes: 1 << 20,
    fuel: BigInt(FUEL),
    importNames: [],
  },
);
const ours = await PluginHost.create();
await ours.load(MANIFEST);
const viaMessage = await PluginHost.create({ channelBytes: 0 });
await viaMessage.load(MANIFEST);
const extism: Record<string, UpperCaller> = {
  d_extism_worker: await extismUpper(true),
  d_extism_inprocess: await extismUpper(false),
};

const callers: Record<Config, (v: string) => unknown> = {
  a_inprocess: (v) =>
    decodeFilterAnswer(guest.callText("the_content", encodeEnvelope("filter", v, [])), v),
  b_postmessage: (v) => viaMessage.bus.applyFilters("the_content", v),
  c_ours: (v) => ours.bus.applyFilters("the_content", v),
  d_extism_worker: async (v) =>
    JSON.parse(await extism.d_extism_worker.call(encodeEnvelope("filter", v, []))).VALUE,
  d_extism_inprocess: async (v) =>
    JSON.parse(await extism.d_extism_inprocess.call(encodeEnvelope("filter", v, []))).VALUE,
};

for (const c of CONFIGS) {
  for (const size of SIZES) check(await callers[c](value(size)), value(size), c);
}

const rounds: Record<string, Sample[]> = {};
for (let r = 0; r < ROUNDS; r++) {
  for (const size of SIZES) {
    const v = value(size);
    for (const c of CONFIGS) {
      const n = c.startsWith("d_") || c === "b_postmessage"
        ? Math.ceil(CALLS[size] / 3)
        : CALLS[size];
      (rounds[`${c}@${size}`] ??= []).push(await timeCalls(n, () => callers[c](v)));
    }
  }
  console.error(`latency round ${r + 1}/${ROUNDS} done`);
}
const latency: Record<string, Sample> = {};
for (const [k, xs] of Object.entries(rounds)) latency[k] = medianSample(xs);

await ours.close();
await viaMessage.close();
for (const e of Object.values(extism)) await e.close();

// ---------------------------------------------------------------------------
// Cold start: load → first answer

// A fresh host spawns the plugin's worker on the spot; a host with a plugin
// loaded keeps a spare worker booted (when idle), so a load skips the ~17 ms
// spawn. (A host with no plugin keeps no spare: workers keep a process alive.)
const coldFresh: number[] = [];
for (let i = 0; i < (QUICK ? 5 : 15); i++) {
  const t = performance.now();
  const host = await PluginHost.create({ spareWorkers: 0 });
  await host.load(MANIFEST);
  await host.bus.applyFilters("the_content", "x");
  coldFresh.push(performance.now() - t);
  await host.close();
}
const coldSpare: number[] = [];
{
  await using host = await PluginHost.create();
  // a resident plugin on other hooks, so the host keeps its spare between loads
  await host.load(new URL("../examples/audit/plugin.toml", import.meta.url).pathname);
  for (let i = 0; i < (QUICK ? 5 : 15); i++) {
    await new Promise((r) => setTimeout(r, 150)); // idle: the spare boots
    const t = performance.now();
    await host.load(MANIFEST);
    await host.bus.applyFilters("the_content", "x");
    coldSpare.push(performance.now() - t);
    await host.unload("upper");
  }
}

// ---------------------------------------------------------------------------
// Concurrency: 1 plugin vs 4 plugins driven at once; 1 vs 2 instances

const tmp = await Deno.makeTempDir({ prefix: "gn-bench-" });

async function drive(
  host: PluginHost,
  hooks: number,
  callers: number,
  ms: number,
): Promise<Sample> {
  const v = value(1024);
  const samples: number[] = [];
  const end = performance.now() + ms;
  const start = performance.now();
  await Promise.all(Array.from({ length: callers }, async () => {
    while (performance.now() < end) {
      const t = performance.now();
      const out = await host.bus.applyFilters(`the_content`, v);
      samples.push(performance.now() - t);
      if (out !== expected(v)) throw new Error("wrong answer under load");
    }
  }));
  void hooks;
  return summarise(samples, performance.now() - start);
}

const concurrency: Record<string, Sample[]> = {};
const DRIVE_MS = QUICK ? 300 : 1000;
for (let r = 0; r < ROUNDS; r++) {
  // one plugin, one caller
  {
    await using host = await PluginHost.create();
    await host.load((await copies(`${tmp}/one-${r}`, 1))[0]);
    await drive(host, 1, 1, 100);
    (concurrency.single ??= []).push(await drive(host, 1, 1, DRIVE_MS));
  }
  // four plugins, four concurrent callers: each applyFilters runs all four plugins
  // in chain order, so drive them as four separate hosts' worth of work instead:
  {
    const hosts = await Promise.all(Array.from({ length: 4 }, () => PluginHost.create()));
    const files = await copies(`${tmp}/four-${r}`, 4);
    await Promise.all(hosts.map((h, i) => h.load(files[i])));
    await Promise.all(hosts.map((h) => drive(h, 1, 1, 100)));
    const parts = await Promise.all(hosts.map((h) => drive(h, 1, 1, DRIVE_MS)));
    (concurrency.four_plugins ??= []).push({
      perSec: parts.reduce((a, p) => a + p.perSec, 0),
      p50: median(parts.map((p) => p.p50)),
      p99: Math.max(...parts.map((p) => p.p99)),
    });
    await Promise.all(hosts.map((h) => h.close()));
  }
  // one plugin with 1 and with 2 instances, two concurrent callers
  for (const instances of [1, 2]) {
    await using host = await PluginHost.create();
    await host.load((await copies(`${tmp}/inst${instances}-${r}`, 1, instances))[0]);
    await drive(host, 1, 2, 100);
    (concurrency[`instances_${instances}`] ??= []).push(await drive(host, 1, 2, DRIVE_MS));
  }
  console.error(`concurrency round ${r + 1}/${ROUNDS} done`);
}
const conc: Record<string, Sample> = {};
for (const [k, xs] of Object.entries(concurrency)) conc[k] = medianSample(xs);

// The same question asked of a bare channel (no host, no JSON): what the machine allows.
const floor = await measureFloor(QUICK ? 300 : 500);

// ---------------------------------------------------------------------------
// RSS per loaded plugin (load 50)

const rssHost = await PluginHost.create();
const files = await copies(`${tmp}/rss`, 50);

const rss0 = Deno.memoryUsage().rss;
for (const f of files) await rssHost.load(f);
await rssHost.bus.applyFilters("the_content", "x");
const rss1 = Deno.memoryUsage().rss;
await rssHost.close();
const rssPerPluginMiB = (rss1 - rss0) / 50 / 1024 / 1024;

// ---------------------------------------------------------------------------
// Fuel-metering overhead on compute-heavy code (in-process, plain vs metered)

const compute = await Deno.readFile(new URL("../fixtures/content.wasm", import.meta.url));
async function computeGuest(fuel: boolean, wasm: Uint8Array): Promise<Guest> {
  return new Guest(await WebAssembly.compile(meter(wasm, { fuel, startFuel: 1e12 }).bytes), {
    plugin: "compute",
    maxPayloadBytes: 1 << 20,
    maxResponseBytes: 1 << 20,
    fuel: fuel ? 1_000_000_000_000n : undefined,
    importNames: ["gn_panic", "gn_error_set"],
  });
}
const fuelRounds: Record<string, number[]> = {};
for (
  const [label, wasm] of [["content (byte loop)", compute], ["upper (8-byte words)", WASM]] as const
) {
  const plain = await computeGuest(false, wasm);
  const metered = await computeGuest(true, wasm);
  const payload = encodeEnvelope("filter", value(65536), []);
  for (let r = 0; r < ROUNDS * 3; r++) {
    const p = await timeCalls(QUICK ? 50 : 200, () => plain.callText("the_content", payload));
    const m = await timeCalls(QUICK ? 50 : 200, () => metered.callText("the_content", payload));
    (fuelRounds[label] ??= []).push(m.p50 / p.p50 - 1);
  }
}
const fuelOverhead: Record<string, number> = {};
for (const [k, xs] of Object.entries(fuelRounds)) fuelOverhead[k] = median(xs) * 100;

// ---------------------------------------------------------------------------
// Recycle time after a trap

const trapPlugin = await Plugin.load(
  await Deno.readFile(new URL("../fixtures/content.wasm", import.meta.url)),
  {
    name: "trap",
    quarantineAfter: 1e9,
  },
);
const recycle: number[] = [];
for (let i = 0; i < (QUICK ? 20 : 100); i++) {
  await trapPlugin.action("trip_panic").catch(() => {});
  const t = performance.now();
  await trapPlugin.filter("the_content", "x");
  recycle.push(performance.now() - t);
}
await trapPlugin.close();
// The trap itself recycles in the worker before it answers; measure the failed call too.
const trapped: number[] = [];
{
  const p = await Plugin.load(
    await Deno.readFile(new URL("../fixtures/content.wasm", import.meta.url)),
    {
      name: "trap2",
      quarantineAfter: 1e9,
    },
  );
  for (let i = 0; i < (QUICK ? 20 : 100); i++) {
    const t = performance.now();
    await p.action("trip_panic").catch(() => {});
    trapped.push(performance.now() - t);
  }
  await p.close();
}
await Deno.remove(tmp, { recursive: true });

// ---------------------------------------------------------------------------
// Report

const us = (x: number) => x < 100 ? x.toFixed(1) : x.toFixed(0);
const ratio = (x: number) => x.toFixed(2);
const rel = (x: number) => x >= 100 ? x.toFixed(0) : x >= 1 ? x.toFixed(2) : x.toPrecision(2);
console.log(
  `gn plugin host benchmark: ${ROUNDS} rounds, medians of rounds (Deno ${Deno.version.deno}, ${navigator.hardwareConcurrency} cores)`,
);
console.log();
console.log("per call, µs (p50 / p99) and calls/s");
console.log(
  "size    " + CONFIGS.map((c) => c.padEnd(24)).join(""),
);
for (const size of SIZES) {
  console.log(
    `${String(size).padEnd(8)}` +
      CONFIGS.map((c) => {
        const s = latency[`${c}@${size}`];
        return `${us(s.p50)} / ${us(s.p99)}  ${Math.round(s.perSec)}/s`.padEnd(24);
      }).join(""),
  );
}
console.log();
console.log(
  "ratios of p50: c/a (≤ 2 at 1 KiB, ≤ 1.5 at 64 KiB), b/c (≥ 20), d_worker/c (≥ 30), d_inprocess/c",
);
const ratios: Record<string, Record<string, number>> = {};
for (const size of SIZES) {
  const p = (c: Config) => latency[`${c}@${size}`].p50;
  ratios[size] = {
    c_over_a: p("c_ours") / p("a_inprocess"),
    b_over_c: p("b_postmessage") / p("c_ours"),
    d_worker_over_c: p("d_extism_worker") / p("c_ours"),
    d_inprocess_over_c: p("d_extism_inprocess") / p("c_ours"),
    a_over_d_inprocess: p("a_inprocess") / p("d_extism_inprocess"),
  };
  console.log(
    `${String(size).padEnd(8)}c/a ${ratio(ratios[size].c_over_a)}   b/c ${
      ratio(ratios[size].b_over_c)
    }   d_worker/c ${ratio(ratios[size].d_worker_over_c)}   d_inprocess/c ${
      ratio(ratios[size].d_inprocess_over_c)
    }`,
  );
}
console.log();
// Every configuration against the floor (a) and against each Extism mode (d), p50 over p50.
const against: Record<string, Record<string, Record<string, number>>> = {};
for (const ref of ["a_inprocess", "d_extism_worker", "d_extism_inprocess"] as const) {
  console.log(`p50 of each over ${ref}`);
  console.log("size    " + CONFIGS.map((c) => c.padEnd(20)).join(""));
  for (const size of SIZES) {
    const row: Record<string, number> = {};
    for (const c of CONFIGS) row[c] = latency[`${c}@${size}`].p50 / latency[`${ref}@${size}`].p50;
    (against[ref] ??= {})[size] = row;
    console.log(
      `${String(size).padEnd(8)}` + CONFIGS.map((c) => `${rel(row[c])}×`.padEnd(20)).join(""),
    );
  }
}
console.log();
console.log(
  `cold start (load → first answer): ${
    median(coldSpare).toFixed(1)
  } ms with a spare worker ready, ${median(coldFresh).toFixed(1)} ms spawning one (medians)`,
);
console.log(`RSS per loaded plugin (50 loaded): ${rssPerPluginMiB.toFixed(2)} MiB`);
for (const [k, v] of Object.entries(fuelOverhead)) {
  console.log(`fuel-metering overhead, ${k}, 64 KiB: ${v.toFixed(1)} %`);
}
console.log(
  `recycle after a trap: the trapping call ${median(trapped).toFixed(3)} ms, the next answer ${
    median(recycle).toFixed(3)
  } ms (medians)`,
);
console.log();
console.log("concurrency at 1 KiB (calls/s, p50 / p99 µs)");
for (const [k, s] of Object.entries(conc)) {
  console.log(`  ${k.padEnd(14)} ${Math.round(s.perSec)}/s   ${us(s.p50)} / ${us(s.p99)}`);
}
const over = conc.four_plugins.perSec / conc.single.perSec;
console.log(
  `  4 plugins vs 1: ${ratio(over)}× the calls/s (≥ 0.8); p99/p50 ${
    ratio(conc.four_plugins.p99 / conc.four_plugins.p50)
  } (≤ 10)`,
);
console.log(
  `  2 instances vs 1 (two callers): ${ratio(conc.instances_2.perSec / conc.instances_1.perSec)}×`,
);
console.log(
  "bare channel floor, same drive (bench/floor.ts: no host, no JSON, 4 µs of host work a call)",
);
for (const line of floorLines(floor)) console.log(line);
// Issue 13: four plugins driven at once against the best bare-channel policy for the same drive.
const bestFourFloor = Math.max(
  floor["4 workers, parking"].perSec,
  floor["4 workers, naive spinning"].perSec,
);
const fourOverFloor = conc.four_plugins.perSec / bestFourFloor;
console.log(
  `  4 plugins vs the best bare-channel policy for four workers: ${
    ratio(fourOverFloor)
  }× the calls/s (target ≥ ${ratio(1 / 1.1)}, i.e. within 1.1×)`,
);

const report = {
  date: new Date().toISOString(),
  deno: Deno.version.deno,
  cores: navigator.hardwareConcurrency,
  rounds: ROUNDS,
  quick: QUICK,
  latencyMicros: latency,
  ratios,
  ratiosOfP50: against,
  coldStartMs: { withSpare: median(coldSpare), spawning: median(coldFresh) },
  rssPerPluginMiB,
  fuelOverheadPercent: fuelOverhead,
  recycleMs: { trappingCall: median(trapped), nextAnswer: median(recycle) },
  concurrency: conc,
  bareChannelFloor: floor,
  fourPluginsOverBestFloor: fourOverFloor,
};
await Deno.mkdir(new URL("./results/", import.meta.url), { recursive: true });
await Deno.writeTextFile(JSON_OUT, JSON.stringify(report, null, 2) + "\n");
console.log(`\nwrote ${JSON_OUT}`);
