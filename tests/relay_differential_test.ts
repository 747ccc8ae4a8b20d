// The chain hand-off changes nothing observable. Two identical hosts, each with the same
// copies of fixtures/relay_ops.wasm bound to one filter hook and the same host handlers in
// between (modifying, throwing, stopping, async; every fail policy), run the same seeded random
// chains: host 1 with latencyPolicy.relay off, host 2 with it on. Every call must give the same
// value or rejection, the same onError reports, the same metrics, the same values seen by each
// host handler; at the end the plugins' stats and quarantine state must be the same. Some calls
// run several at once on both hosts; those compare as multisets.
import assert from "node:assert/strict";
import { HookError } from "../abi/errors.ts";
import { latencyPolicy } from "../channel/spin.ts";
import { RELAY_COUNTS_FOR_TESTS } from "../host/_relay.ts";
import { type MetricsSink, stopWith } from "../host/bus.ts";
import { PluginHost } from "../host/host.ts";
import { type TestHook, withTempDir, writePlugin } from "./_helpers.ts";
import { prng } from "../meter/_test_util.ts";

const HOOK = "relay_chain";
type Fail = NonNullable<TestHook["fail"]>;

type Rand = ReturnType<typeof prng>;
const int = (r: Rand, lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];

/** Picks by weight: `[item, weight]` pairs. */
function weighted<T>(r: Rand, xs: readonly (readonly [T, number])[]): T {
  let n = r() * xs.reduce((s, [, w]) => s + w, 0);
  for (const [x, w] of xs) if ((n -= w) < 0) return x;
  return xs[xs.length - 1][0];
}

/** The fixture's ops (fixtures/relay_ops.wat), weighted so that most chains run several plugins. */
const OPS: readonly (readonly [string, number])[] = [
  ["e", 30],
  ["n", 4],
  ["w", 5],
  ["d", 5],
  ["j", 2],
  ["A", 3],
  ["g", 3],
  ["b", 3],
  ["a", 3],
  ["v", 3],
  ["u", 3],
  ["t", 3],
  ["p", 3],
  ["f", 1],
  ["L", 3],
  ["O", 1],
];
const FAILS: readonly (readonly [Fail, number])[] = [["warn", 5], ["ignore", 3], ["block", 2]];

/** A random value: mostly "<ops>|<payload>", sometimes not a string. */
function randomValue(r: Rand): unknown {
  const x = r();
  if (x < 0.03) return null;
  if (x < 0.05) return int(r, 0, 99);
  if (x < 0.07) return { k: "e|obj" };
  if (x < 0.09) return "";
  let ops = "";
  for (let i = int(r, 0, 8); i > 0; i--) ops += weighted(r, OPS);
  let payload = "";
  for (let i = int(r, 0, 12); i > 0; i--) payload += pick(r, [..."abcxyz0123 -_.:"]);
  return `${ops}|${payload}`;
}

/** Extra arguments of one call (the envelope's `args`). */
function randomArgs(r: Rand): unknown[] {
  const x = r();
  if (x < 0.7) return [];
  if (x < 0.85) return [int(r, 0, 1000)];
  return ["arg", { n: int(r, 0, 9) }];
}

/** What one host handler does; `at` is its priority. */
interface HandlerSpec {
  id: string;
  at: number;
  fail: Fail;
  kind: "append" | "prefix" | "throw" | "stop" | "async" | "clear";
  /** The op a `prefix` handler puts in front (the next plugin's op). */
  op: string;
}

const KINDS: readonly (readonly [HandlerSpec["kind"], number])[] = [
  ["append", 3],
  ["prefix", 4],
  ["throw", 2],
  ["stop", 2],
  ["async", 2],
  ["clear", 0.3],
];

/** The host handlers of one round: 0–4, each with its own priority, policy and behaviour. */
function randomHandlers(r: Rand, round: number): HandlerSpec[] {
  return Array.from({ length: int(r, 0, 4) }, (_, i) => ({
    id: `h${round}.${i}`,
    at: pick(r, [5, 10, 15, 20, 25, 30, 35, 40, 45]),
    fail: weighted(r, FAILS),
    kind: weighted(r, KINDS),
    op: weighted(r, OPS),
  }));
}

/** A filter handler doing what `spec` says, logging every value it sees into `trace`. */
function handler(spec: HandlerSpec, trace: string[]): (v: unknown) => unknown {
  return (v) => {
    trace.push(`${spec.id}:${JSON.stringify(v)}`);
    const s = typeof v === "string" ? v : undefined;
    switch (spec.kind) {
      case "append":
        return s === undefined ? v : `${s}+${spec.id}`;
      case "prefix":
        return s === undefined ? v : spec.op + s;
      case "throw":
        // throws for about half of the values, passes the others on
        if (s === undefined || s.length % 2 === 0) throw new Error(`${spec.id} refused ${s}`);
        return v;
      case "stop":
        return s !== undefined && s.length % 3 === 0 ? stopWith(`${s}!${spec.id}`) : v;
      case "async":
        return Promise.resolve(s === undefined ? v : `${s}~`);
      case "clear":
        return undefined;
    }
  };
}

/** One host and everything it reported. */
interface Side {
  host: PluginHost;
  errors: HookError[];
  metrics: string[];
  trace: string[];
  handlers: (() => void)[];
}

async function side(plugins: string[]): Promise<Side> {
  const errors: HookError[] = [];
  const metrics: string[] = [];
  const sink: MetricsSink = {
    increment: (m, labels) => void metrics.push(`+${m} ${JSON.stringify(labels)}`),
    // the durations differ from run to run; which bindings were measured must not
    observe: (m, _v, labels) => void metrics.push(`~${m} ${JSON.stringify(labels)}`),
  };
  const host = await PluginHost.create({
    hooks: { [HOOK]: "filter" },
    // 4 KiB: the "L" op's answer is over it, so the next plugin's call fails
    maxPayloadBytes: 4096,
    // 64 KiB: the "O" op's 80 KB answer does not fit the region and goes by message
    channelBytes: 65536,
    quarantineAfter: 1_000_000,
    onError: (e) => void errors.push(e),
    metrics: sink,
  });
  for (const file of plugins) await host.load(file);
  return { host, errors, metrics, trace: [], handlers: [] };
}

/** A rejection or a value as plain data. */
function outcome(settled: PromiseSettledResult<unknown>): unknown {
  if (settled.status === "fulfilled") {
    return settled.value === undefined ? { undefined: true } : { ok: settled.value };
  }
  const e = settled.reason;
  if (!(e instanceof HookError)) return { thrown: String(e) };
  return {
    ...errorData(e),
    hasValue: "value" in e,
    value: e.value === undefined ? "<undefined>" : e.value,
    errors: e.errors?.map(errorData),
  };
}

/** A HookError's fields (and its cause's text) as plain data. */
function errorData(e: HookError): Record<string, unknown> {
  return {
    code: e.code,
    plugin: e.plugin,
    hook: e.hook,
    status: e.status,
    message: e.message,
    cause: e.cause === undefined ? undefined : String(e.cause),
  };
}

/** What a side reported since the last drain, as plain data; clears it. */
function drain(s: Side): { errors: unknown[]; metrics: string[]; trace: string[] } {
  const out = {
    errors: s.errors.map(errorData),
    metrics: s.metrics.slice(),
    trace: s.trace.slice(),
  };
  s.errors.length = 0;
  s.metrics.length = 0;
  s.trace.length = 0;
  return out;
}

/** Steps handed on from one plugin's worker to the next while relay was on. */
let handedOn = 0;

/** Runs `calls` on `s` with the hand-off `relay` on or off, `concurrency` at a time. */
async function run(
  s: Side,
  relay: boolean,
  calls: readonly [unknown, unknown[]][],
  concurrency: number,
): Promise<unknown[]> {
  const saved = latencyPolicy.relay;
  const savedGap = latencyPolicy.relayGapMs;
  latencyPolicy.relay = relay;
  latencyPolicy.relayGapMs = Infinity; // every chain call may hand on, however slow the machine
  const adopted = RELAY_COUNTS_FOR_TESTS.adopted;
  try {
    const out: unknown[] = [];
    for (let i = 0; i < calls.length; i += concurrency) {
      const batch = calls.slice(i, i + concurrency);
      const settled = await Promise.allSettled(
        batch.map(([v, args]) => s.host.bus.applyFilters(HOOK, v, ...args)),
      );
      out.push(...settled.map(outcome));
    }
    if (relay) handedOn += RELAY_COUNTS_FOR_TESTS.adopted - adopted;
    else {assert.equal(
        RELAY_COUNTS_FOR_TESTS.adopted,
        adopted,
        "a step was handed on with relay off",
      );}
    return out;
  } finally {
    latencyPolicy.relay = saved;
    latencyPolicy.relayGapMs = savedGap;
  }
}

const sorted = <T>(xs: T[]): string[] => xs.map((x) => JSON.stringify(x)).sort();

/** Each plugin's counters and quarantine state. */
function pluginState(s: Side, names: string[]): unknown {
  return names.map((n) => {
    const p = s.host.plugin(n)!;
    return { n, ...p.stats, quarantined: p.quarantined };
  });
}

/** What the sequential calls of one layout exercised (counted on the relay-off side). */
interface Coverage {
  calls: number;
  /** Calls in which a plugin's step was directly followed by another plugin's. */
  chained: number;
  /** Plugin steps directly followed by another plugin's: what the hand-off changes. */
  handoffs: number;
  /** Calls that rejected (a "block" binding failed). */
  rejected: number;
  /** Calls a host handler's stopWith ended. */
  stopped: number;
  /** Error codes seen, reported or rejected. */
  codes: Set<string>;
}

/** Counts what one call's reports show: the bindings run, in order, are its observations. */
function count(cov: Coverage, reports: ReturnType<typeof drain>, result: unknown): void {
  const steps = reports.metrics.filter((m) => m.startsWith("~"))
    .map((m) => (JSON.parse(m.slice(m.indexOf(" ") + 1)) as { plugin: string }).plugin);
  let pairs = 0;
  for (let i = 1; i < steps.length; i++) {
    if (steps[i] !== "host" && steps[i - 1] !== "host") pairs++;
  }
  cov.calls++;
  cov.handoffs += pairs;
  if (pairs > 0) cov.chained++;
  for (const e of reports.errors as { code: string }[]) cov.codes.add(e.code);
  const { code, ok } = result as { code?: string; ok?: unknown };
  if (code !== undefined) cov.codes.add(code), cov.rejected++;
  if (typeof ok === "string" && ok.includes("!h")) cov.stopped++;
}

/**
 * One layout: 3–6 plugins at random priorities and fail policies, host handlers re-drawn every
 * round of 30 sequential calls and one burst of 8 concurrent calls.
 *
 * @returns What the sequential calls exercised.
 */
async function differential(seed: number, rounds: number): Promise<Coverage> {
  const cov: Coverage = {
    calls: 0,
    chained: 0,
    handoffs: 0,
    rejected: 0,
    stopped: 0,
    codes: new Set(),
  };
  const r = prng(seed);
  await withTempDir(async (dir) => {
    const names: string[] = [];
    const files: string[] = [];
    const nPlugins = int(r, 3, 6);
    for (let i = 0; i < nPlugins; i++) {
      const name = `relay-${i}`;
      names.push(name);
      files.push(
        await writePlugin(dir, {
          name,
          fixture: "relay_ops",
          // a small fuel budget: the "f" op burns it in a few ms
          limits: "fuel = 400_000\ntimeout_ms = 1000",
          hooks: [{
            name: HOOK,
            kind: "filter",
            priority: pick(r, [10, 20, 20, 30, 40]),
            fail: weighted(r, FAILS),
          }],
        }),
      );
    }
    const off = await side(files);
    const on = await side(files);
    try {
      let step = 0;
      for (let round = 0; round < rounds; round++) {
        for (const s of [off, on]) for (const u of s.handlers.splice(0)) u();
        const specs = randomHandlers(r, round);
        for (const s of [off, on]) {
          for (const spec of specs) {
            s.handlers.push(
              s.host.bus.addFilter(HOOK, handler(spec, s.trace), {
                priority: spec.at,
                fail: spec.fail,
              }),
            );
          }
        }
        const where = () => `seed ${seed}, round ${round}, call ${step}`;
        // one call at a time: everything compares call by call, in order
        for (let i = 0; i < 30; i++, step++) {
          const call: [unknown, unknown[]] = [randomValue(r), randomArgs(r)];
          const a = await run(off, false, [call], 1);
          const b = await run(on, true, [call], 1);
          const what = `${where()}: ${JSON.stringify(call)}`;
          assert.deepEqual(b, a, `result, ${what}`);
          const reports = drain(off);
          assert.deepEqual(drain(on), reports, `reports, ${what}`);
          count(cov, reports, a[0]);
        }
        // several calls in flight at once: the same multisets
        const burst = Array.from({ length: 8 }, (): [unknown, unknown[]] => [
          randomValue(r),
          randomArgs(r),
        ]);
        const a = await run(off, false, burst, burst.length);
        const b = await run(on, true, burst, burst.length);
        assert.deepEqual(sorted(b), sorted(a), `concurrent results, ${where()}`);
        const [ra, rb] = [drain(off), drain(on)];
        for (const k of ["errors", "metrics", "trace"] as const) {
          assert.deepEqual(sorted(rb[k]), sorted(ra[k]), `concurrent ${k}, ${where()}`);
        }
      }
      assert.deepEqual(pluginState(on, names), pluginState(off, names), `plugins, seed ${seed}`);
    } finally {
      await off.host.close();
      await on.host.close();
    }
  });
  return cov;
}

for (const seed of [0x5eed, 0xc0ffee, 0xbeef]) {
  Deno.test(`relay on and off agree on random chains (seed ${seed})`, async () => {
    const before = handedOn;
    const cov = await differential(seed, 10);
    // the hand-off ran: steps were collected from requests a worker published
    assert.ok(handedOn - before > cov.calls / 4, `few steps handed on: ${handedOn - before}`);
    // the chains exercised what the hand-off changes, and every kind of failure
    assert.ok(cov.chained > cov.calls / 2, `few chained calls: ${cov.chained} of ${cov.calls}`);
    const want = [
      "bad_response",
      "fuel_exhausted",
      "guest_error",
      "handler_failed",
      "payload_too_large",
      "trapped",
    ];
    assert.deepEqual(want.filter((c) => !cov.codes.has(c)), [], "codes never seen");
    assert.ok(
      cov.rejected > 0 && cov.stopped > 0,
      `rejected ${cov.rejected}, stopped ${cov.stopped}`,
    );
  });
}

Deno.test("the relay_ops fixture answers each op as its header says", async () => {
  await withTempDir(async (dir) => {
    const files = [];
    for (const [i, priority] of [[0, 10], [1, 20]]) {
      files.push(
        await writePlugin(dir, {
          name: `relay-${i}`,
          fixture: "relay_ops",
          limits: "fuel = 400_000\ntimeout_ms = 1000",
          hooks: [{ name: HOOK, kind: "filter", priority, fail: "block" }],
        }),
      );
    }
    const s = await side(files);
    try {
      // relay-0 runs the op; relay-1 then sees "|" and answers no body
      const ok = async (v: unknown, want: unknown, ...args: unknown[]) =>
        assert.deepEqual(await s.host.bus.applyFilters(HOOK, v, ...args), want, String(v));
      const fails = (v: string, code: string, plugin = "relay-0") =>
        assert.rejects(s.host.bus.applyFilters(HOOK, v), { code, plugin }, v);
      await ok("e|x", "|x");
      await ok("ee|x", "|x");
      await ok("n|x", "n|x");
      await ok("|x", "|x");
      await ok("", "");
      await ok(null, null);
      await ok({ k: "e" }, { k: "e" });
      await ok("w|x", "|x");
      await ok("d|x", "|x");
      await ok("j|x", { r: "|x" });
      await ok("v|x", null);
      await ok("A|x", ["|x", [7, "s"]], 7, "s");
      await ok("O|x", "|x");
      await ok("eO|x", "|x");
      for (const op of "bau") await fails(`${op}|x`, "bad_response");
      await fails("t|x", "trapped");
      await fails("p|x", "trapped");
      await fails("f|x", "fuel_exhausted");
      await fails("g|x", "guest_error");
      await assert.rejects(s.host.bus.applyFilters(HOOK, "L|x"), (e: HookError) => {
        assert.equal(e.code, "payload_too_large");
        assert.equal(e.plugin, "relay-1");
        assert.equal(e.value, `|x${".".repeat(5000)}`);
        return true;
      });
    } finally {
      await s.host.close();
    }
  });
});
