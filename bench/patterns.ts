/**
 * `deno task bench:patterns`: latency under the call patterns real
 * applications make, side by side in one run, at 1 KiB with the upper-casing
 * plugin (issue 13). Every cell is the median of the rounds' per-call medians.
 *
 *   - chains of 1, 2, 4 and 8 plugins on one filter, with gaps of 0, 10 µs,
 *     100 µs, 1 ms and 5 ms between calls;
 *   - the warm-up curve: p50 of calls 1–200, 201–1,000 and 1,001–10,000
 *     after a 100 ms idle period;
 *
 * each for: `ours` (the host, shared-memory channel, `host.bus.applyFilters`,
 * with the chain hand-off between plugin workers), `no_relay` (the same
 * without the hand-off: the host calls each plugin of a chain itself), `base`
 * (without the hand-off and without the host's spin for a worker it woke: the
 * host before issue 13, but for the worker's learned gap surviving idle periods),
 * `prepared` (the same as `ours`, with `host.prepare(hook)` called when the "request
 * arrives", 50 µs of the application's own work before the call; with gaps under
 * 50 µs its calls are therefore 50 µs apart, not comparable with the others), `inproc`
 * (the same metered wasm and envelopes called in-process, one instance per
 * plugin), `postmsg` (the host with the shared channel off) and `floor` (the
 * best host-driven bare-channel policy for the same pattern, `bench/floor.ts`:
 * no host code, no JSON, no guest, the host calling each worker in turn; with
 * each policy's own figure). `floor_relay` is not part of `floor`: the same
 * bare workers handing the request from one worker to the next, the last one
 * answering the host (no host code between the links): what a
 * worker-to-worker hand-off allows a chain, the floor of a relaying host.
 *
 * Options: `--rounds N` (default 3), `--quick` (1 round, fewer calls and
 * cells), `--json FILE` (default `bench/results/patterns.json`).
 *
 * @module
 */

import { blake3 } from "hash-wasm";
import { decodeFilterAnswer, encodeEnvelope } from "../abi/envelope.ts";
import { PluginHost } from "../host/host.ts";
import { meter } from "../meter/mod.ts";
import { Guest } from "../workers/guest.ts";
import { latencyPolicy } from "../channel/spin.ts";
import { BARE_POLICIES, bareChain, gap, HOST_DRIVEN_POLICIES } from "./floor.ts";

const args = Deno.args;
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const QUICK = args.includes("--quick");
const ROUNDS = Number(opt("--rounds", QUICK ? "1" : "3"));
const JSON_OUT = opt("--json", new URL("./results/patterns.json", import.meta.url).pathname);

const CHAINS = [1, 2, 4, 8] as const;
const GAPS_MS = [0, 0.01, 0.1, 1, 5] as const;
/** Calls timed per cell, by gap. */
const CALLS: Record<number, number> = QUICK
  ? { 0: 400, 0.01: 200, 0.1: 150, 1: 60, 5: 20 }
  : { 0: 2000, 0.01: 1000, 0.1: 500, 1: 200, 5: 60 };
const WARM_CALLS = QUICK ? 3000 : 10_000;
/** How long before the call the application says calls are coming (`prepared`). */
const PREPARE_LEAD_MS = 0.05;

const PLUGIN_DIR = new URL("./plugins/upper/", import.meta.url).pathname;
const WASM = await Deno.readFile(`${PLUGIN_DIR}upper.wasm`);
const FUEL = 100_000_000;
const VALUE = "abcdefghij klmnopqrstuvwxyz".repeat(40).slice(0, 1024);
const EXPECTED = VALUE.toUpperCase();
const hookOf = (n: number) => `chain${n}`;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Eight copies of the bench plugin; copy k binds `chainN` for every N > k. */
async function copies(dir: string): Promise<string[]> {
  const digest = `blake3:${await blake3(WASM)}`;
  const out: string[] = [];
  for (let k = 0; k < 8; k++) {
    const d = `${dir}/upper-${k}`;
    await Deno.mkdir(d, { recursive: true });
    await Deno.writeFile(`${d}/upper.wasm`, WASM);
    const hooks = CHAINS.filter((n) => n > k)
      .map((n) => `[[hooks]]\nname = "${hookOf(n)}"\nkind = "filter"\npriority = ${k}\n`)
      .join("");
    await Deno.writeTextFile(
      `${d}/plugin.toml`,
      `name = "upper-${k}"\nversion = "1.0.0"\nabi = 1\nmodule = "upper.wasm"\ndigest = "${digest}"\n` +
        `[limits]\nmemory_pages = 64\nfuel = ${FUEL}\ntimeout_ms = 1000\n` + hooks,
    );
    out.push(`${d}/plugin.toml`);
  }
  return out;
}

async function hostWith(files: string[], channelBytes?: number): Promise<PluginHost> {
  const host = await PluginHost.create({
    channelBytes,
    hooks: Object.fromEntries(CHAINS.map((n) => [hookOf(n), "filter"])),
  });
  for (const f of files) await host.load(f);
  return host;
}

const tmp = await Deno.makeTempDir({ prefix: "gn-patterns-" });
const files = await copies(tmp);
const ours = await hostWith(files);
const viaMessage = await hostWith(files, 0);
const module = await WebAssembly.compile(
  meter(WASM, { startFuel: FUEL, maxMemoryPages: 64 }).bytes,
);
const guests = Array.from({ length: 8 }, () =>
  new Guest(module, {
    plugin: "upper",
    maxPayloadBytes: 1 << 20,
    maxResponseBytes: 1 << 20,
    fuel: BigInt(FUEL),
    importNames: [],
  }));

type Config = "ours" | "prepared" | "no_relay" | "base" | "inproc" | "postmsg";
const CONFIGS: Config[] = ["ours", "prepared", "no_relay", "base", "inproc", "postmsg"];

/**
 * The host's latency policies under each config: `no_relay` without the
 * chain hand-off, `base` without it and without the host's spin for a woken
 * worker (the code before issue 13). The chain prewake stays off: measured
 * slower in the last round of this work (RATIONALE.md).
 */
function setPolicy(config: Config): void {
  latencyPolicy.chainPrewake = false;
  latencyPolicy.wakeSpin = config !== "base";
  latencyPolicy.relay = config !== "base" && config !== "no_relay";
}

/** One call of a chain of `n` under a config (the in-process chain: each guest in turn). */
function caller(config: Config, n: number): () => unknown {
  const hook = hookOf(n);
  switch (config) {
    case "ours":
    case "prepared":
    case "no_relay":
    case "base":
      return () => ours.bus.applyFilters(hook, VALUE);
    case "postmsg":
      return () => viaMessage.bus.applyFilters(hook, VALUE);
    case "inproc":
      return () => {
        let v: unknown = VALUE;
        for (let k = 0; k < n; k++) {
          v = decodeFilterAnswer(
            guests[k].callText(hook, encodeEnvelope("filter", v, [])),
            v,
          );
        }
        return v;
      };
  }
}

for (const c of CONFIGS) {
  for (const n of CHAINS) {
    if (await caller(c, n)() !== EXPECTED) throw new Error(`${c} chain ${n} answered wrongly`);
  }
}

/** Median µs of `calls` calls, `gapMs` apart. */
async function cell(config: Config, n: number, gapMs: number, calls: number): Promise<number> {
  const call = caller(config, n);
  setPolicy(config);
  const samples: number[] = [];
  for (let i = 0; i < 20; i++) await call(); // settle after the previous cell
  for (let i = 0; i < calls; i++) {
    if (config === "prepared") {
      await gap(Math.max(0, gapMs - PREPARE_LEAD_MS));
      ours.prepare(hookOf(n));
      await gap(PREPARE_LEAD_MS);
    } else await gap(gapMs);
    const t = performance.now();
    await call();
    samples.push((performance.now() - t) * 1000);
  }
  return median(samples);
}

const rounds: Record<string, number[]> = {};
const push = (k: string, x: number) => (rounds[k] ??= []).push(x);
const chainsFor = (g: number) => QUICK && g !== 0 && g !== 1 ? [1, 4] : CHAINS;
for (let r = 0; r < ROUNDS; r++) {
  for (const g of GAPS_MS) {
    for (const n of chainsFor(g)) {
      const calls = CALLS[g];
      // the order rotates each round: no config always runs after the floors' spinners
      for (let k = 0; k < CONFIGS.length; k++) {
        const c = CONFIGS[(k + r) % CONFIGS.length];
        push(`${c}|${n}|${g}`, await cell(c, n, g, calls));
      }
      for (const p of BARE_POLICIES) {
        push(`floor_${p}|${n}|${g}`, await bareChain(n, p, g, calls));
      }
    }
    console.error(`patterns round ${r + 1}/${ROUNDS}: gap ${g} ms done`);
  }
}

// The warm-up curve: after 100 ms idle, calls back to back.
const WARM_RANGES = [[0, 200], [200, 1000], [1000, WARM_CALLS]] as const;
const warm: Record<string, number[][]> = {};
for (let r = 0; r < ROUNDS; r++) {
  for (const c of ["ours", "base", "inproc", "postmsg"] as const) {
    const call = caller(c, 1);
    setPolicy(c);
    await new Promise((res) => setTimeout(res, 100));
    const samples: number[] = [];
    for (let i = 0; i < (c === "postmsg" ? 1000 : WARM_CALLS); i++) {
      const t = performance.now();
      await call();
      samples.push((performance.now() - t) * 1000);
    }
    (warm[c] ??= []).push(
      WARM_RANGES.map(([a, b]) => samples.length > a ? median(samples.slice(a, b)) : NaN),
    );
  }
}
setPolicy("ours");
await ours.close();
await viaMessage.close();
await Deno.remove(tmp, { recursive: true });

// ---------------------------------------------------------------------------
// Report

const fig: Record<string, number> = {};
for (const [k, xs] of Object.entries(rounds)) fig[k] = median(xs);
const floorOf = (n: number, g: number) =>
  Math.min(...HOST_DRIVEN_POLICIES.map((p) => fig[`floor_${p}|${n}|${g}`]));
const us = (x: number) => Number.isNaN(x) ? "–" : x < 100 ? x.toFixed(1) : x.toFixed(0);
const [load1] = Deno.loadavg();
console.log(
  `call patterns at 1 KiB: ${ROUNDS} round(s), medians of rounds, µs per call (Deno ${Deno.version.deno}, ${navigator.hardwareConcurrency} cores, load average ${
    load1.toFixed(1)
  } at the end)`,
);
const cols = [...CONFIGS, "floor", ...BARE_POLICIES.map((p) => `floor_${p}` as const)];
console.log(
  "chain gap      " + cols.map((c) => c.padEnd(14)).join("") +
    "ours/inproc ours/floor prepared/floor",
);
for (const g of GAPS_MS) {
  for (const n of chainsFor(g)) {
    const get = (c: string) => c === "floor" ? floorOf(n, g) : fig[`${c}|${n}|${g}`];
    console.log(
      `${String(n).padEnd(6)}${(g === 0 ? "0" : g < 1 ? `${g * 1000} µs` : `${g} ms`).padEnd(9)}` +
        cols.map((c) => us(get(c)).padEnd(14)).join("") +
        `${(get("ours") / get("inproc")).toFixed(2)}×`.padEnd(12) +
        `${(get("ours") / get("floor")).toFixed(2)}×`.padEnd(11) +
        `${(get("prepared") / get("floor")).toFixed(2)}×`,
    );
  }
}
const warmFig: Record<string, number[]> = {};
for (const [c, xs] of Object.entries(warm)) {
  warmFig[c] = WARM_RANGES.map((_, i) => median(xs.map((x) => x[i])));
}
console.log();
console.log(
  `warm-up after 100 ms idle, one plugin back to back, p50 µs of calls 1–200 / 201–1,000 / 1,001–${WARM_CALLS}`,
);
for (const [c, xs] of Object.entries(warmFig)) {
  console.log(
    `  ${c.padEnd(9)} ${xs.map(us).join(" / ")}   first/steady ${(xs[0] / xs[2]).toFixed(2)}×`,
  );
}
const targets = {
  chain4_over_inproc: fig["ours|4|0"] / fig["inproc|4|0"],
  chain8_over_inproc: fig["ours|8|0"] / fig["inproc|8|0"],
  chain4_1ms_over_one_1ms: fig["ours|4|1"] / fig["ours|1|1"],
  one_1ms_over_floor: fig["ours|1|1"] / floorOf(1, 1),
  prepared_one_1ms_over_floor: fig["prepared|1|1"] / floorOf(1, 1),
  warm_first_over_steady: warmFig.ours[0] / warmFig.ours[2],
};
console.log();
console.log(
  `targets: chain 4 / in-process ${targets.chain4_over_inproc.toFixed(2)}× (≤ 3), chain 8 ${
    targets.chain8_over_inproc.toFixed(2)
  }× (≤ 3); chain 4 at 1 ms / one plugin at 1 ms ${
    targets.chain4_1ms_over_one_1ms.toFixed(2)
  }× (≤ 1.5); one plugin at 1 ms / floor ${targets.one_1ms_over_floor.toFixed(2)}× (≤ 1.2; ${
    targets.prepared_one_1ms_over_floor.toFixed(2)
  }× prepared); warm-up ${targets.warm_first_over_steady.toFixed(2)}× (≤ 1.5)`,
);
await Deno.mkdir(new URL("./results/", import.meta.url), { recursive: true });
await Deno.writeTextFile(
  JSON_OUT,
  JSON.stringify(
    {
      date: new Date().toISOString(),
      deno: Deno.version.deno,
      cores: navigator.hardwareConcurrency,
      loadavg: Deno.loadavg(),
      rounds: ROUNDS,
      quick: QUICK,
      micros: fig,
      warmup: warmFig,
      targets,
    },
    null,
    2,
  ) + "\n",
);
console.log(`\nwrote ${JSON_OUT}`);
