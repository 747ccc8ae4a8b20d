/**
 * `deno task bench:floor`: what the machine allows a shared-memory channel,
 * without our host. A bare channel (an i32 state per worker, no payload, no
 * JSON) with the real channel's spin policy, driven by one caller per
 * worker that does 4 µs of simulated host work per call (about what the
 * host's envelope and bus cost at 1 KiB).
 *
 * It shows the ceiling of the "4 plugins vs 1" ratio on a 2-core machine:
 * one worker can spin on the second core; four must share it, so either
 * they park and every hand-over is a wake-up, or they spin and starve each
 * other (the collapse the real channel's spin policy avoids).
 *
 * @module
 */

const WORKER = new URL("./_floor_worker.ts", import.meta.url);
const ROUNDS = Deno.args.includes("--rounds")
  ? Number(Deno.args[Deno.args.indexOf("--rounds") + 1])
  : 5;

interface Run {
  perSec: number;
  p50: number;
  p99: number;
}

async function measure(workers: number, spin: number, ms: number): Promise<Run[]> {
  const ws: Worker[] = [];
  const chans = Array.from({ length: workers }, () => {
    const channel = new SharedArrayBuffer(32);
    const w = new Worker(WORKER, { type: "module", deno: { permissions: "none" } });
    w.postMessage({ channel, spin });
    ws.push(w);
    return new Int32Array(channel);
  });
  const once = async (c: Int32Array) => {
    Atomics.store(c, 0, 1);
    if (Atomics.load(c, 2) === 1) Atomics.notify(c, 0);
    while (Atomics.load(c, 0) === 1) {
      Atomics.store(c, 3, 1);
      const r = Atomics.waitAsync(c, 0, 1);
      if (r.async) await r.value;
      Atomics.store(c, 3, 0);
    }
    Atomics.store(c, 0, 0);
    const t = performance.now();
    while (performance.now() - t < 0.004) { /* the host's own work */ }
  };
  await new Promise((r) => setTimeout(r, 200));
  const runs: Run[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const end = performance.now() + ms;
    const start = performance.now();
    const per: number[][] = chans.map(() => []);
    await Promise.all(chans.map(async (c, j) => {
      while (performance.now() < end) {
        const t = performance.now();
        await once(c);
        per[j].push(performance.now() - t);
      }
    }));
    const total = per.reduce((a, s) => a + s.length, 0);
    const pct = (s: number[], q: number) => {
      s.sort((a, b) => a - b);
      return s[Math.min(s.length - 1, Math.floor(s.length * q))] * 1000;
    };
    runs.push({
      perSec: total / ((performance.now() - start) / 1000),
      p50: median(per.map((s) => pct(s, 0.5))),
      p99: Math.max(...per.map((s) => pct(s, 0.99))),
    });
  }
  for (const c of chans) {
    Atomics.store(c, 0, 3); // closed: a parked worker would outlive terminate()
    Atomics.notify(c, 0);
  }
  for (const w of ws) w.terminate();
  return runs;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Medians of rounds of one case. */
export interface FloorCase {
  perSec: number;
  p50: number;
  p99: number;
  /** calls/s over the one-worker case's. */
  ratio: number;
}

/**
 * Runs the three cases: one spinning worker, four parking, four spinning.
 *
 * @param ms Length of each round, in ms.
 * @returns Each case's medians of rounds.
 */
export async function measureFloor(ms = 500): Promise<Record<string, FloorCase>> {
  const cases = {
    "1 worker, spinning": await measure(1, 200_000, ms),
    "4 workers, parking": await measure(4, 0, ms),
    "4 workers, naive spinning": await measure(4, 200_000, ms),
  };
  const one = median(cases["1 worker, spinning"].map((r) => r.perSec));
  const out: Record<string, FloorCase> = {};
  for (const [name, runs] of Object.entries(cases)) {
    const perSec = median(runs.map((r) => r.perSec));
    out[name] = {
      perSec,
      p50: median(runs.map((r) => r.p50)),
      p99: median(runs.map((r) => r.p99)),
      ratio: perSec / one,
    };
  }
  return out;
}

/** One line per case. */
export function floorLines(floor: Record<string, FloorCase>): string[] {
  return Object.entries(floor).map(([name, c]) =>
    `  ${name.padEnd(26)} ${Math.round(c.perSec)}/s  p50 ${c.p50.toFixed(1)} µs  p99 ${
      c.p99.toFixed(0)
    } µs  ${c.ratio.toFixed(2)}× one worker`
  );
}

// ---------------------------------------------------------------------------
// Call patterns: chains and gaps, on bare channels

/** A bare channel's worker, started with a spin budget in polls. */
interface BareWorker {
  c: Int32Array;
  w: Worker;
}

function startBare(spin: number, prewakeSpin = 0, next?: BareWorker): BareWorker {
  const channel = new SharedArrayBuffer(32);
  const w = new Worker(WORKER, { type: "module", deno: { permissions: "none" } });
  w.postMessage({ channel, spin, prewakeSpin, next: next?.c.buffer });
  return { c: new Int32Array(channel), w };
}

function stopBare(ws: BareWorker[]): void {
  for (const { c, w } of ws) {
    Atomics.store(c, 0, 3);
    Atomics.notify(c, 0);
    w.terminate();
  }
}

/** One bare exchange: spins up to `hostSpinMs` when the worker is awake, else parks (`waitAsync`). */
async function bareCall(c: Int32Array, hostSpinMs: number): Promise<void> {
  Atomics.store(c, 0, 1);
  if (Atomics.load(c, 2) === 1) Atomics.notify(c, 0);
  else if (hostSpinMs > 0) {
    const until = performance.now() + hostSpinMs;
    while (Atomics.load(c, 0) === 1 && performance.now() < until) { /* spin */ }
  }
  while (Atomics.load(c, 0) === 1) {
    Atomics.store(c, 3, 1);
    const r = Atomics.waitAsync(c, 0, 1);
    if (r.async) await r.value;
    Atomics.store(c, 3, 0);
  }
  Atomics.store(c, 0, 0);
}

/** How long the host spins for a relay's answer before it parks, in ms. */
const RELAY_HOST_SPIN_MS = 0.05;

/**
 * One call through a relay: the request goes to the first worker only (woken
 * when parked); the host spins up to {@linkcode RELAY_HOST_SPIN_MS} for the
 * last worker's answer, then waits for it with `Atomics.waitAsync`.
 */
async function relayCall(first: Int32Array, last: Int32Array): Promise<void> {
  Atomics.store(first, 0, 1);
  if (Atomics.load(first, 2) === 1) Atomics.notify(first, 0);
  const until = performance.now() + RELAY_HOST_SPIN_MS;
  while (Atomics.load(last, 0) !== 2 && performance.now() < until) { /* spin */ }
  for (let s = Atomics.load(last, 0); s !== 2; s = Atomics.load(last, 0)) {
    Atomics.store(last, 3, 1);
    const r = Atomics.waitAsync(last, 0, s);
    if (r.async) await r.value;
    Atomics.store(last, 3, 0);
  }
  Atomics.store(last, 0, 0);
}

/**
 * Waits `ms` between calls the way an application does: a busy host below
 * 1 ms (it is doing its own work), an idle event loop (`setTimeout`) from 1 ms.
 *
 * @param ms The gap, in ms; `0` returns at once.
 */
export async function gap(ms: number): Promise<void> {
  if (ms <= 0) return;
  if (ms < 1) {
    const t = performance.now();
    while (performance.now() - t < ms) { /* the application's own work */ }
    return;
  }
  await new Promise((r) => setTimeout(r, ms));
}

/** The bare chain policies in which the host calls each worker in turn: the `floor` of a pattern is their best. */
export const HOST_DRIVEN_POLICIES = ["park", "spin", "prewake"] as const;

/**
 * Policies of the bare chain floor: the host-driven ones, and `relay` (each
 * worker hands the request on to the next, the last one answers the host):
 * what a worker-to-worker hand-off allows.
 */
export const BARE_POLICIES = [...HOST_DRIVEN_POLICIES, "relay"] as const;

/**
 * A bare-channel chain policy: park after each answer, spin, park and be
 * prewoken by the chain, or park and relay to the next worker.
 */
export type BarePolicy = typeof BARE_POLICIES[number];

/**
 * The bare-channel floor of one call pattern: a chain of `n` bare workers
 * called one after the other (no host code, no JSON, no guest), `gapMs`
 * between chains, under one policy: `park` (every worker parks after its
 * answer: each call is a wake-up, what a parked worker's wake-up costs on
 * this machine), `spin` (every worker spins up to ~0.2 ms after an answer,
 * the host up to 0.05 ms), `prewake` (workers park; each chain first wakes
 * them all, and a prewoken worker spins for its request), `relay` (workers
 * park; the host writes to the first worker only, each worker writes the
 * request into the next one's channel, waking it when parked, and parks, and
 * the last one answers the host, which spins up to 0.05 ms, then parks: what
 * a worker-to-worker hand-off allows, with no host code between the links).
 *
 * @param n Workers in the chain.
 * @param policy The policy.
 * @param gapMs The gap between chains, in ms.
 * @param calls Chains to time (bounded by `maxMs`).
 * @param maxMs Longest the case may run, in ms.
 * @returns The median time of one chain, in µs.
 */
export async function bareChain(
  n: number,
  policy: BarePolicy,
  gapMs: number,
  calls: number,
  maxMs = 1500,
): Promise<number> {
  const ws: BareWorker[] = [];
  if (policy === "relay") {
    // started last to first: each is given the channel of the one after it
    for (let i = 0; i < n; i++) ws.unshift(startBare(0, 0, ws[0]));
  } else {
    for (let i = 0; i < n; i++) {
      ws.push(startBare(policy === "spin" ? 100_000 : 0, policy === "prewake" ? 100_000 : 0));
    }
  }
  try {
    await new Promise((r) => setTimeout(r, 100));
    // every worker has started
    if (policy === "relay") await relayCall(ws[0].c, ws[n - 1].c);
    else for (const w of ws) await bareCall(w.c, 0);
    const samples: number[] = [];
    const end = performance.now() + maxMs;
    for (let i = 0; i < calls && (i < 5 || performance.now() < end); i++) {
      await gap(gapMs);
      const t = performance.now();
      if (policy === "prewake") {
        for (const { c } of ws) {
          if (Atomics.load(c, 2) === 1) {
            Atomics.store(c, 4, 1);
            Atomics.notify(c, 0);
          }
        }
      }
      if (policy === "relay") await relayCall(ws[0].c, ws[n - 1].c);
      else for (const { c } of ws) await bareCall(c, policy === "park" ? 0 : 0.05);
      samples.push((performance.now() - t) * 1000);
    }
    return median(samples);
  } finally {
    stopBare(ws);
  }
}

if (import.meta.main) {
  const floor = await measureFloor();
  console.log(
    `bare channel floor (${ROUNDS} rounds, medians; ${navigator.hardwareConcurrency} cores)`,
  );
  for (const line of floorLines(floor)) console.log(line);
}
