// The shared-memory call channel: requests and answers larger than its region still work
// (they go by message), and a stress run checks 100,000 answers byte for byte.
import assert from "node:assert/strict";
import process from "node:process";
import { HookError } from "../abi/errors.ts";
import { Plugin, type PluginOptions } from "../host/plugin.ts";
import { fixtureBytes, withFixture } from "./_helpers.ts";

const UPPER = new URL("../bench/plugins/upper/upper.wasm", import.meta.url);

/** Watches the event loop with a 1 ms interval: its ticks, and the longest gap between them. */
function watchEventLoop(): { ticks: number; longest: number; reset(): void; stop(): void } {
  let last = performance.now();
  const watch = {
    ticks: 0,
    longest: 0,
    reset() {
      last = performance.now();
      watch.longest = 0;
    },
    stop() {
      clearInterval(timer);
    },
  };
  const timer = setInterval(() => {
    const now = performance.now();
    watch.longest = Math.max(watch.longest, now - last);
    last = now;
    watch.ticks++;
  }, 1);
  return watch;
}

/** Runs `body` with the bench's upper-casing plugin and always closes it. */
async function withUpper(
  body: (p: Plugin) => Promise<void>,
  options: Partial<PluginOptions> = {},
): Promise<void> {
  const p = await Plugin.load(await Deno.readFile(UPPER), { name: "upper", ...options });
  try {
    await body(p);
  } finally {
    await p.close();
  }
}

Deno.test("a request larger than the shared region goes by message and is answered", () =>
  withUpper(async (p) => {
    for (const size of [10, 4000, 4100, 20_000, 200_000]) {
      const v = "ab".repeat(size / 2);
      assert.equal(await p.filter("the_content", v), v.toUpperCase(), `size ${size}`);
    }
    // and the channel is used again after a fallback
    assert.equal(await p.filter("the_content", "small"), "SMALL");
  }, { name: "upper", channelBytes: 4096 }));

Deno.test("an answer larger than the shared region comes by message", () =>
  withFixture("amplify", async (p) => {
    // Many calls, so the host also takes its parked path: the body message can then
    // arrive before the host looks for it (a race this test once caught).
    const values = Array.from({ length: 150 }, (_, i) => "x".repeat([1, 300, 2000][i % 3]));
    for (const v of values) {
      const payloadBytes = `{"kind":"filter","value":${JSON.stringify(v)},"args":[]}`.length;
      const out = await p.filter("amplify", v) as string;
      assert.equal(out.length, payloadBytes * 8);
      assert.ok(/^z+$/.test(out));
    }
  }, {
    name: "amplify",
    channelBytes: 4096,
    memoryPages: 64,
  }));

/** A deterministic pseudo-random source (the stress run must be repeatable). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 0x1_0000_0000;
  };
}

const ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789 .,;:!?"\\\n\t/-_';

Deno.test("stress: 100,000 calls across concurrent callers and plugins, sizes past the region", async () => {
  const region = 8192;
  const plugins = await Promise.all([
    Plugin.load(await Deno.readFile(UPPER), { name: "upper-a", channelBytes: region }),
    Plugin.load(await Deno.readFile(UPPER), {
      name: "upper-b",
      channelBytes: region,
      instances: 2,
    }),
    Plugin.load(await fixtureBytes("content"), {
      name: "content",
      channelBytes: region,
      fuel: 1e9,
    }),
  ]);
  try {
    await Promise.all(plugins.map((p) => p.prewarm()));
    const CALLERS = 8;
    const PER_CALLER = 100_000 / CALLERS;
    let answered = 0;
    await Promise.all(Array.from({ length: CALLERS }, async (_, caller) => {
      const random = rng(caller + 1);
      for (let i = 0; i < PER_CALLER; i++) {
        const p = plugins[Math.floor(random() * plugins.length)];
        // mostly small, some up to 1.5× the region
        const size = random() < 0.9
          ? Math.floor(random() * 256)
          : Math.floor(random() * region * 1.5);
        let v = "";
        for (let k = 0; k < size; k++) v += ALPHABET[Math.floor(random() * ALPHABET.length)];
        const out = await p.filter("the_content", v);
        if (out !== v.toUpperCase()) {
          assert.fail(`caller ${caller} call ${i} (${p.name}, ${size} chars) answered wrongly`);
        }
        answered++;
      }
    }));
    assert.equal(answered, 100_000);
  } finally {
    await Promise.all(plugins.map((p) => p.close()));
  }
});

Deno.test("Plugin.run: answers and typed errors are the same whether they come synchronously or by promise", async () => {
  const p = await Plugin.load(await fixtureBytes("content"), { name: "content" });
  const how = { sync: 0, promise: 0 };
  try {
    for (let i = 0; i < 3000; i++) {
      const v = `value ${i}`;
      let out: unknown;
      try {
        out = i % 3 === 2
          ? p.run("action", "fail_with_message", undefined, [])
          : p.run("filter", "the_content", v, []);
      } catch (e) {
        // thrown synchronously: the same typed error a rejection carries
        how.sync++;
        assert.ok(e instanceof HookError, `call ${i}: ${e}`);
        assert.equal(e.code, "guest_error");
        assert.equal(e.plugin, "content");
        assert.equal(e.hook, "fail_with_message");
        assert.match(e.message, /custom failure from the guest/);
        continue;
      }
      if (out instanceof Promise) {
        how.promise++;
        if (i % 3 === 2) {
          await assert.rejects(out, (e) => e instanceof HookError && e.code === "guest_error");
        } else assert.equal(await out, v.toUpperCase());
      } else {
        how.sync++;
        assert.notEqual(i % 3, 2, `call ${i}: a failing hook answered ${out}`);
        assert.equal(out, v.toUpperCase());
      }
    }
    assert.equal(how.sync + how.promise, 3000);
    assert.equal(p.stats.calls, 3000);
    assert.equal(p.stats.failures, 0, "a guest status is not an instance failure");
  } finally {
    await p.close();
  }
});

Deno.test("an idle plugin burns no CPU: after a burst of calls, its worker parks", () =>
  withUpper(async (p) => {
    const v = "x".repeat(1024);
    for (let i = 0; i < 5000; i++) assert.equal(await p.filter("the_content", v), v.toUpperCase());
    await new Promise((r) => setTimeout(r, 20)); // longer than any spin (0.5 ms)
    const before = process.cpuUsage();
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, 300));
    const used = process.cpuUsage(before);
    const cpuMs = (used.user + used.system) / 1000;
    const wallMs = performance.now() - t0;
    // A worker still spinning would use about a whole core (≈ wallMs).
    assert.ok(cpuMs < wallMs * 0.2, `the process used ${cpuMs} ms of CPU in ${wallMs} ms idle`);
    // and the plugin still answers at once
    assert.equal(await p.filter("the_content", "after"), "AFTER");
  }, { name: "upper" }));

Deno.test("a call in flight never blocks the host's event loop: timers keep firing", () =>
  withFixture("hostile/loop_hook", async (p) => {
    // Warm the channel first: the slow call may start on the spinning or the parked path,
    // and either must leave the event loop free.
    for (let i = 0; i < 2000; i++) assert.equal(await p.filter("ok", null), "ok");
    const loop = watchEventLoop();
    const outcome = await p.action("spin").then(() => "answered", (e: HookError) => e.code);
    loop.stop();
    assert.equal(outcome, "timeout");
    // The host spins at most 0.5 ms, then waits with Atomics.waitAsync: timers run
    // all along. A host that spun or blocked would show one long gap.
    assert.ok(loop.ticks >= 20, `only ${loop.ticks} timer ticks while the call was in flight`);
    assert.ok(loop.longest < 100, `the event loop stalled for ${loop.longest.toFixed(1)} ms`);
  }, {
    name: "loop-hook",
    fuel: false,
    timeoutMs: 300,
  }));

Deno.test("an error record larger than a small region still arrives whole, and the channel stays usable", () =>
  withFixture("content", async (p) => {
    // 64 bytes: the request fits, the error record (well over 100 bytes) does not.
    for (let i = 0; i < 3; i++) {
      await assert.rejects(
        p.action("fail_with_message"),
        (e) =>
          e instanceof HookError && e.code === "guest_error" &&
          /custom failure from the guest/.test(e.message),
      );
      assert.equal(await p.filter("the_content", "ok"), "OK");
    }
  }, { name: "content", channelBytes: 64 }));

Deno.test("a region too small for the hook name sends the call by message, to the right hook", () =>
  withFixture("content", async (p) => {
    // An empty payload fits any region; the name "the_content" does not. Cut to "the_",
    // it would reach no hook (unknown_hook); whole, the_content refuses the payload.
    await assert.rejects(
      p.callRaw("the_content", ""),
      (e) => e instanceof HookError && e.code === "bad_payload",
    );
  }, { name: "content", channelBytes: 4 }));

Deno.test("50,000 calls queued on one instance: all answered in order, timers keep running", () =>
  withUpper(async (p) => {
    for (let i = 0; i < 500; i++) await p.filter("the_content", "warm");
    const loop = watchEventLoop();
    // Idle long enough for the worker to park: the first call then waits, the rest queue
    // behind it, and the queue drains once it is answered, mostly synchronously.
    await new Promise((r) => setTimeout(r, 20));
    const started = performance.now();
    const calls = Array.from({ length: 50_000 }, (_, i) => p.filter("the_content", `v${i}`));
    loop.reset(); // queueing them is this test's own synchronous loop: measure from here
    const outs = await Promise.all(calls);
    const elapsed = performance.now() - started;
    loop.stop();
    outs.forEach((o, i) => assert.equal(o, `V${i}`));
    // Answers caught by the spin complete synchronously; the queue is still drained
    // in slices, so the event loop turns (and a queue this long drains in linear time).
    assert.ok(loop.longest < 100, `the event loop stalled for ${loop.longest.toFixed(1)} ms`);
    assert.ok(elapsed < 20_000, `50,000 queued calls took ${elapsed.toFixed(0)} ms`);
  }, { name: "upper" }));
