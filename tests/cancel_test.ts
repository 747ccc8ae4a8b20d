// Cooperative cancellation: a timed-out guest in a loop that never calls the host stops at its
// next refuel (about every million fuel units), metered or not, whatever its fuel budget; its
// thread exits and its CPU use stops. Fuel accounting is unchanged (tests/fuel_test.ts).
import assert from "node:assert/strict";
import process from "node:process";
import { HookError } from "../abi/errors.ts";
import { Plugin, type PluginOptions } from "../host/plugin.ts";
import { fixtureBytes } from "./_helpers.ts";

/** Live threads of this process (see tests/containment_test.ts). */
function threads(): number {
  const out = new Deno.Command("ls", { args: [`/proc/${Deno.pid}/task`] }).outputSync();
  if (!out.success) throw new Error(`Cannot list threads: ${new TextDecoder().decode(out.stderr)}`);
  return new TextDecoder().decode(out.stdout).split("\n").filter((l) => l !== "").length;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls until `ok()` holds or `ms` pass; returns whether it held. */
async function eventually(ok: () => boolean, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > until) return false;
    await sleep(20);
  }
  return true;
}

/** CPU time of the process (all threads), in ms. */
function cpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof HookError, `not a HookError: ${e}`);
    return e.code;
  }
  return "ok";
}

/** The steady thread count once a plugin was loaded and closed (lazy pools started). */
async function baseline(): Promise<number> {
  const p = await Plugin.load(await fixtureBytes("hostile/loop_hook"), { name: "warm-up" });
  await p.filter("ok", null);
  await p.close();
  let last = -1;
  await eventually(() => {
    const n = threads();
    const steady = n === last;
    last = n;
    return steady;
  }, 5_000);
  return threads();
}

/**
 * Times out a `spin` (a loop that never calls the host) 3 times on a plugin loaded with
 * `options`, closes it, and checks that the threads come back and the CPU goes quiet (the
 * thread count alone is noisy: V8 starts and ends helper threads; a spinning guest shows as
 * a core's worth of CPU).
 */
async function timedOutSpins(options: Partial<PluginOptions>): Promise<void> {
  const before = await baseline();
  const p = await Plugin.load(await fixtureBytes("hostile/loop_hook"), {
    name: "loop-hook",
    quarantineAfter: 1000,
    timeoutMs: 100,
    ...options,
  });
  try {
    for (let i = 0; i < 3; i++) {
      assert.equal(await code(p.action("spin")), "timeout");
      assert.equal(await p.filter("ok", null), "ok");
    }
  } finally {
    await p.close();
  }
  assert.ok(await eventually(() => threads() <= before, 20_000), `${before} → ${threads()}`);
  // Nothing spins any more. Idle, the process uses ~2 ms of CPU a second; one spinning guest
  // takes a core's worth (even on a loaded machine, well over 100 ms a second).
  const c0 = cpuMs();
  await sleep(1000);
  const used = cpuMs() - c0;
  assert.ok(used < 60, `${Math.round(used)} ms of CPU in the second after close`);
}

Deno.test("a timed-out unmetered loop (fuel: false) stops and frees its thread", async () => {
  await timedOutSpins({ fuel: false });
});

Deno.test("a timed-out metered loop with a huge budget (10^15) stops and frees its thread", async () => {
  await timedOutSpins({ fuel: 1e15 });
});

Deno.test("a huge budget still runs out exactly: fuel_exhausted, not a timeout", async () => {
  const p = await Plugin.load(await fixtureBytes("hostile/loop_hook"), {
    name: "loop-hook",
    fuel: 25_000_000, // many slices
    timeoutMs: 60_000,
  });
  try {
    assert.equal(await code(p.action("spin")), "fuel_exhausted");
    assert.equal(await p.filter("ok", null), "ok");
  } finally {
    await p.close();
  }
});

Deno.test("an unmetered start function that loops stops after the load's timeout", async () => {
  const bytes = await fixtureBytes("hostile/loop_start");
  for (let i = 0; i < 2; i++) {
    assert.equal(
      await code(Plugin.load(bytes, { name: "loop-start", fuel: false, timeoutMs: 100 })),
      "timeout",
    );
  }
  await sleep(300);
  const c0 = cpuMs();
  await sleep(1000);
  const used = cpuMs() - c0;
  assert.ok(used < 60, `${Math.round(used)} ms of CPU in the second after the timeouts`);
});
