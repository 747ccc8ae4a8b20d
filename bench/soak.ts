/**
 * The containment soak: N calls (default 1,000,000) from 16 concurrent callers over four plugins,
 * with injected traps, panics, fuel exhaustion, memory failures, bad UTF-8, oversized answers
 * (some whose free traps), timeouts, and an unload/reload cycle every 50,000 calls. Every answer
 * is checked against its caller's nonce; RSS and threads are sampled every 100,000 calls.
 *
 * ```sh
 * deno task soak                 # 1,000,000 calls
 * deno task soak --calls 200000  # fewer
 * ```
 *
 * Reports crashes (worker_crashed or an outcome other than the injected one), unsettled calls
 * (none may wait over 60 s), wrong answers (another caller's nonce, or a corrupted body), threads
 * before the host and after its close, and RSS growth. Exits 1 unless all three counts are zero
 * and the threads are back.
 *
 * @module
 */

import { HookError } from "../abi/errors.ts";
import { PluginHost } from "../host/host.ts";
import { spinCountsForTests } from "../channel/spin.ts";
import { withTempDir, writePlugin } from "../tests/_helpers.ts";

function flag(name: string, fallback: number): number {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Number(Deno.args[i + 1]) : fallback;
}

const CALLS = flag("calls", 1_000_000);
const CALLERS = flag("callers", 16);
const PLUGINS = ["a", "b", "c", "d"];
const RELOAD_EVERY = 50_000;
const SAMPLE_EVERY = 100_000;
const STUCK_MS = 60_000;

/** Fault ops and their rate per call; the rest are plain echoes ("e"). */
const FAULTS: [op: string, rate: number, expected: string][] = [
  ["t", 0.0004, "trapped"],
  ["p", 0.0004, "trapped"],
  ["f", 0.0004, "fuel_exhausted"],
  ["m", 0.0004, "out_of_memory"],
  ["u", 0.0004, "bad_response"],
  ["o", 0.0004, "ok"],
  ["x", 0.0004, "trapped"],
  ["s", 0.00005, "timeout"],
];

function pickOp(): string {
  let r = Math.random();
  for (const [op, rate] of FAULTS) {
    if (r < rate) return op;
    r -= rate;
  }
  return "e";
}

const expectedOf = new Map(FAULTS.map(([op, , e]) => [op, e]));

function threads(): number {
  const out = new Deno.Command("ls", { args: [`/proc/${Deno.pid}/task`] }).outputSync();
  return new TextDecoder().decode(out.stdout).split("\n").filter((l) => l !== "").length;
}

const mib = (n: number) => Math.round(n / 2 ** 20);

await withTempDir(async (dir) => {
  const threadsBefore = threads();
  const files = new Map<string, string>();
  for (const name of PLUGINS) {
    files.set(
      name,
      await writePlugin(dir, {
        name: `soak-${name}`,
        fixture: "soak",
        capabilities: ["emit"],
        limits: "fuel = 10_000_000\ntimeout_ms = 400\nmemory_pages = 16",
        hooks: [{ name: `soak_${name}.echo`, kind: "filter", fail: "block" }],
      }),
    );
  }
  const host = await PluginHost.create({
    grants: ["emit"],
    limits: { timeoutMs: 400, fuel: 10_000_000, memoryPages: 16 },
    quarantineAfter: 1_000_000_000,
    onError: () => {},
    log: () => {},
  });
  for (const f of files.values()) await host.load(f);

  const counts = {
    calls: 0,
    ok: 0,
    wrong: 0,
    crashes: 0,
    unexpected: 0,
    closedDuringReload: 0,
    unboundDuringReload: 0,
    byOutcome: {} as Record<string, number>,
  };
  const samples: { calls: number; rssMiB: number; threads: number; s: number }[] = [];
  const inFlight = new Map<number, number>();
  const reloading = new Set<string>();
  let issued = 0;
  let nextId = 0;
  const t0 = performance.now();
  const rss0 = Deno.memoryUsage().rss;
  samples.push({ calls: 0, rssMiB: mib(rss0), threads: threads(), s: 0 });
  let wrongExample = "";
  let unexpectedExample = "";

  const reloadMs: number[] = [];
  let reloadFailures = 0;
  let reloadStage = "";
  /** Settles when the reload in progress does (callers of that plugin wait for it). */
  let reloadDone: Promise<void> = Promise.resolve();
  async function reload(name: string): Promise<void> {
    reloading.add(name);
    let done!: () => void;
    reloadDone = new Promise((resolve) => done = resolve);
    const started = performance.now();
    try {
      reloadStage = `unload ${name}`;
      await host.unload(`soak-${name}`);
      reloadStage = `load ${name}`;
      await host.load(files.get(name)!);
      reloadStage = "";
    } catch (e) {
      reloadFailures++;
      console.error(`reload of ${name} failed:`, e);
    } finally {
      reloading.delete(name);
      reloadMs.push(Math.round(performance.now() - started));
      done();
    }
  }
  let reloads: Promise<void> = Promise.resolve();

  async function caller(c: number): Promise<void> {
    while (issued < CALLS) {
      const n = issued++;
      if (n > 0 && n % RELOAD_EVERY === 0) {
        const name = PLUGINS[(n / RELOAD_EVERY) % PLUGINS.length];
        reloads = reloads.then(() => reload(name));
      }
      const name = PLUGINS[(c + n) % PLUGINS.length];
      const op = pickOp();
      const nonce = `${c.toString(36)}x${n.toString(36)}x${
        Math.random().toString(36).slice(2, 10)
      }`;
      const value = op + nonce;
      const id = nextId++;
      inFlight.set(id, performance.now());
      const wasReloading = reloading.has(name);
      let outcome: string;
      let answer: unknown;
      try {
        answer = await host.bus.applyFilters(`soak_${name}.echo`, value);
        outcome = "ok";
      } catch (e) {
        outcome = e instanceof HookError ? e.code : `thrown: ${e}`;
      } finally {
        inFlight.delete(id);
      }
      counts.calls++;
      counts.byOutcome[outcome] = (counts.byOutcome[outcome] ?? 0) + 1;
      const reloadWindow = wasReloading || reloading.has(name);
      if (outcome === "ok") {
        const text = typeof answer === "string" ? answer.trimEnd() : answer;
        if (text === `ok:${value}`) counts.ok++;
        else if (text === value && reloadWindow) counts.unboundDuringReload++;
        else {
          counts.wrong++;
          wrongExample ||= `sent ${value}, got ${JSON.stringify(answer).slice(0, 80)}`;
        }
      }
      const expected = expectedOf.get(op) ?? "ok";
      if (outcome === "worker_crashed" || outcome.startsWith("thrown")) counts.crashes++;
      else if (outcome === "closed" && reloadWindow) counts.closedDuringReload++;
      else if (outcome !== expected && !(outcome === "ok" && reloadWindow)) {
        counts.unexpected++;
        unexpectedExample ||= `op ${op}: expected ${expected}, got ${outcome}`;
      }
      if (counts.calls % SAMPLE_EVERY === 0) {
        samples.push({
          calls: counts.calls,
          rssMiB: mib(Deno.memoryUsage().rss),
          threads: threads(),
          s: Math.round((performance.now() - t0) / 1000),
        });
        console.log(JSON.stringify({ ...samples.at(-1), reloadStage }));
      }
      // A call to an unloaded plugin answers at once, without an event-loop turn: callers
      // would flood it and starve the reload. Each makes one such call, then waits.
      if (reloading.has(name)) await reloadDone;
    }
  }

  let stuck = 0;
  const monitor = setInterval(() => {
    const now = performance.now();
    stuck = 0;
    for (const started of inFlight.values()) if (now - started > STUCK_MS) stuck++;
  }, 1000);
  const done = Promise.all(Array.from({ length: CALLERS }, (_, c) => caller(c)));
  const finished = await Promise.race([
    done.then(() => true),
    new Promise<false>((resolve) => {
      const check = setInterval(() => {
        if (stuck > 0) {
          clearInterval(check);
          resolve(false);
        }
      }, 1000);
      done.finally(() => clearInterval(check));
    }),
  ]);
  clearInterval(monitor);
  await reloads;
  const seconds = (performance.now() - t0) / 1000;
  const rssBeforeClose = Deno.memoryUsage().rss;
  await host.close();
  let threadsAfter = threads();
  for (let i = 0; i < 200 && threadsAfter > threadsBefore; i++) {
    await new Promise((r) => setTimeout(r, 50));
    threadsAfter = threads();
  }
  const unsettled = finished ? 0 : inFlight.size;
  const report = {
    calls: counts.calls,
    seconds: Math.round(seconds),
    callsPerSecond: Math.round(counts.calls / seconds),
    crashes: counts.crashes,
    unsettled,
    wrong: counts.wrong,
    unexpected: counts.unexpected,
    wrongExample,
    unexpectedExample,
    closedDuringReload: counts.closedDuringReload,
    reloads: reloadMs.length,
    reloadFailures,
    slowestReloadMs: Math.max(0, ...reloadMs),
    unboundDuringReload: counts.unboundDuringReload,
    byOutcome: counts.byOutcome,
    threadsBeforeHost: threadsBefore,
    threadsAfterClose: threadsAfter,
    spinCountersAfterClose: spinCountsForTests(),
    rssStartMiB: mib(rss0),
    rssEndMiB: mib(rssBeforeClose),
    rssGrowthMiB: mib(rssBeforeClose - rss0),
    samples,
  };
  console.log(JSON.stringify(report, null, 2));
  if (
    report.crashes > 0 || unsettled > 0 || report.wrong > 0 || report.unexpected > 0 ||
    threadsAfter > threadsBefore
  ) Deno.exitCode = 1;
  // A call that never settled may hold a worker: do not wait for it.
  if (!finished) Deno.exit(1);
});
