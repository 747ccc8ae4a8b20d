// Containment: what a timed-out, trapping or failing plugin leaves behind. Threads and spinner
// counters come back, every answer reaches its own caller, every call settles.
import assert from "node:assert/strict";
import { HookError } from "../abi/errors.ts";
import { spinCountsForTests } from "../channel/spin.ts";
import { StateServer } from "../host/_services.ts";
import { Plugin, type PluginOptions } from "../host/plugin.ts";
import { DEFAULT_STATE_QUOTAS, MemoryStateStore, type StateStore } from "../host/state.ts";
import { StateSlot } from "../channel/layout.ts";
import { fixtureBytes } from "./_helpers.ts";

/**
 * Live threads of this process: the entries of `/proc/<pid>/task`. Deno lets
 * only `--allow-all` read `/proc/self` or `/proc/<pid>` itself, so `ls` reads it.
 */
function threads(): number {
  const out = new Deno.Command("ls", { args: [`/proc/${Deno.pid}/task`] }).outputSync();
  if (!out.success) throw new Error(`Cannot list threads: ${new TextDecoder().decode(out.stderr)}`);
  return new TextDecoder().decode(out.stdout).split("\n").filter((l) => l !== "").length;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls until `ok()` holds or `ms` pass; returns whether it held. */
async function eventually(ok: () => boolean, ms = 20_000): Promise<boolean> {
  const until = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > until) return false;
    await sleep(50);
  }
  return true;
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

async function load(fixture: string, options: Partial<PluginOptions> = {}): Promise<Plugin> {
  return await Plugin.load(await fixtureBytes(fixture), {
    name: fixture.replace(/^.*\//, "").replaceAll("_", "-"),
    quarantineAfter: 1000,
    ...options,
  });
}

/** The thread count once the process is idle: a plugin loaded and closed first (lazy pools). */
async function baseline(): Promise<number> {
  const p = await load("hostile/emit_loop", { granted: ["emit"], fuel: false });
  await p.callRaw("ok", "{}");
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

Deno.test("timeouts free their threads: a loop on a host call (unmetered), a metered loop, unload, close", async () => {
  const before = await baseline();
  // Unmetered, calling a denied host function: stopped at its next host call.
  const calls = await load("hostile/emit_loop", { granted: ["emit"], fuel: false, timeoutMs: 50 });
  for (let i = 0; i < 5; i++) assert.equal(await code(calls.callRaw("emit", "{}")), "timeout");
  assert.equal(await code(calls.callRaw("ok", "{}")), "ok");
  // Metered, no host call: stopped at its next refuel (tests/cancel_test.ts) or out of fuel.
  const metered = await load("hostile/emit_loop", {
    granted: ["emit"],
    fuel: 300_000_000,
    timeoutMs: 20,
  });
  let timeouts = 0;
  for (let i = 0; i < 5; i++) {
    const c = await code(metered.callRaw("spin", "{}"));
    assert.ok(c === "timeout" || c === "fuel_exhausted", c);
    if (c === "timeout") timeouts++;
  }
  await calls.close({ drain: true });
  await metered.close();
  const back = await eventually(() => threads() <= before);
  assert.ok(back, `threads: ${before} before, ${threads()} after (${timeouts} metered timeouts)`);
});

Deno.test("close() during a running call settles it with closed and frees the thread", async () => {
  const before = await baseline();
  const p = await load("hostile/emit_loop", { granted: ["emit"], fuel: false, timeoutMs: 60_000 });
  const running = code(p.callRaw("emit", "{}"));
  await sleep(100);
  await p.close();
  assert.equal(await running, "closed");
  assert.ok(await eventually(() => threads() <= before), `${before} → ${threads()}`);
});

Deno.test("the process exits by itself after a timeout and close()", async () => {
  const script = new URL("./_timeout_exit.ts", import.meta.url);
  const cmd = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-import=127.0.0.1:1", script.pathname],
    cwd: new URL("..", import.meta.url).pathname,
    stdout: "piped",
    stderr: "piped",
  });
  const child = cmd.spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  const out = await child.output();
  clearTimeout(timer);
  const text = new TextDecoder().decode(out.stdout);
  assert.equal(out.code, 0, `exit ${out.code}: ${text} ${new TextDecoder().decode(out.stderr)}`);
  assert.match(text, /timeout closed/);
});

Deno.test("spinner counters return to 0 after timeouts", async () => {
  const p = await load("hostile/emit_loop", { granted: ["emit"], fuel: false, timeoutMs: 30 });
  try {
    for (let i = 0; i < 5; i++) {
      assert.equal(await code(p.callRaw("emit", "{}")), "timeout");
      assert.equal(await code(p.callRaw("ok", "{}")), "ok");
    }
  } finally {
    await p.close();
  }
  assert.ok(
    await eventually(() => {
      const s = spinCountsForTests();
      return s.waiting === 0 && s.spinning === 0;
    }, 5_000),
    JSON.stringify(spinCountsForTests()),
  );
});

Deno.test("an answer larger than the region reaches only its own caller when frees trap", async () => {
  const p = await load("hostile/free_trap", { channelBytes: 4096 });
  let failed = 0;
  try {
    for (let i = 0; i < 200; i++) {
      const nonce = `call-${i}-${crypto.randomUUID()}`;
      try {
        const { body } = await p.callRaw("echo", nonce);
        assert.ok(body !== null);
        assert.equal(body.length, nonce.length + 6000);
        assert.equal(body.slice(0, nonce.length), nonce, `call ${i} got another caller's answer`);
      } catch (e) {
        if (e instanceof assert.AssertionError) throw e;
        assert.equal((e as HookError).code, "trapped");
        failed++;
      }
    }
  } finally {
    await p.close();
  }
  assert.ok(failed > 50, `${failed} trapped frees`);
});

/** A store that answers after a random delay, and wakes the worker spuriously meanwhile. */
class SlowStore implements StateStore {
  readonly inner = new MemoryStateStore();
  readonly channels: Int32Array[] = [];
  async #delay(): Promise<void> {
    // A late notify of an earlier request lands while this one is pending.
    for (const c of this.channels) Atomics.notify(c, StateSlot.state);
    await sleep(Math.random() < 0.5 ? 0 : Math.random() * 3);
    for (const c of this.channels) Atomics.notify(c, StateSlot.state);
  }
  async get(plugin: string, key: string) {
    await this.#delay();
    return this.inner.get(plugin, key);
  }
  async set(plugin: string, key: string, value: Uint8Array) {
    await this.#delay();
    this.inner.set(plugin, key, value);
  }
  async delete(plugin: string, key: string) {
    await this.#delay();
    this.inner.delete(plugin, key);
  }
  has(plugin: string, key: string) {
    return this.inner.has(plugin, key);
  }
  count(plugin: string) {
    return this.inner.count(plugin);
  }
}

Deno.test("state reads under an async store with spurious wake-ups: every value is its key's", async () => {
  const store = new SlowStore();
  const server = new (class extends StateServer {
    override channel() {
      const ch = super.channel();
      store.channels.push(new Int32Array(ch.buffer, 0, 8));
      return ch;
    }
  })({
    plugin: "state-kv",
    store,
    quotas: { ...DEFAULT_STATE_QUOTAS, maxKeys: 10_000 },
    onError: () => {},
  });
  const p = await load("state_kv", {
    granted: ["state"],
    instances: 4,
    services: { log: () => {}, event: () => {}, state: server },
  });
  try {
    const keys = 400;
    await Promise.all(Array.from({ length: 8 }, async (_, w) => {
      for (let i = w; i < keys; i += 8) {
        const key = `k${String(i).padStart(7, "0")}`;
        const value = `value of ${key}: ${crypto.randomUUID()}`;
        assert.equal((await p.callRaw("set", key + value)).body, null);
        assert.equal((await p.callRaw("get", key)).body, value, `key ${key}`);
        assert.equal((await p.callRaw("get", "absent!!")).body, null);
      }
    }));
  } finally {
    await p.close();
  }
});

/** A plugin whose start function traps on every start but its first (see the fixture). */
function restartTrap(options: Partial<PluginOptions> = {}): Promise<Plugin> {
  return load("hostile/restart_trap", {
    granted: ["state"],
    fuel: 50_000_000,
    timeoutMs: 1000,
    ...options,
  });
}

Deno.test("after a trap, no call runs on an instance whose start function trapped", async () => {
  const p = await restartTrap();
  try {
    assert.equal((await p.callRaw("ready", "{}")).body, "ready");
    assert.equal(await code(p.callRaw("boom", "{}")), "trapped");
    for (let i = 0; i < 3; i++) {
      await assert.rejects(p.callRaw("ready", "{}"), (e: HookError) => {
        assert.equal(e.code, "trapped");
        assert.match(e.message, /start-up/);
        return true;
      });
    }
  } finally {
    await p.close();
  }
});

Deno.test("a call queued behind a timeout settles when the restart fails", async () => {
  const p = await restartTrap();
  try {
    const spin = code(p.callRaw("spin", "{}"));
    const queued = code(p.callRaw("ready", "{}"));
    assert.equal(await spin, "timeout");
    const settled = await Promise.race([queued, sleep(10_000).then(() => "hung")]);
    assert.equal(settled, "trapped");
  } finally {
    await p.close();
  }
});

Deno.test("failed restarts count towards quarantine", async () => {
  const p = await restartTrap({ quarantineAfter: 4 });
  try {
    assert.equal(await code(p.callRaw("spin", "{}")), "timeout");
    const codes: string[] = [];
    for (let i = 0; i < 10 && !p.quarantined; i++) codes.push(await code(p.callRaw("ready", "{}")));
    assert.ok(p.quarantined, `never quarantined: ${codes.join(", ")}`);
    assert.ok(codes.length <= 4, codes.join(", "));
    assert.equal(await code(p.callRaw("ready", "{}")), "quarantined");
    assert.ok(p.stats.failures >= 4);
  } finally {
    await p.close();
  }
});

Deno.test("an answer already in the channel when a busy event loop runs the watchdog is not a timeout", async () => {
  const p = await load("hostile/emit_loop", { granted: ["emit"], fuel: false, timeoutMs: 50 });
  try {
    const codes: string[] = [];
    for (let i = 0; i < 10; i++) {
      const call = p.callRaw("ok", "{}");
      // The host thread is busy well past the deadline; the worker answers meanwhile.
      const until = performance.now() + 150;
      while (performance.now() < until) { /* busy */ }
      codes.push(await code(call));
    }
    assert.deepEqual(codes, Array(10).fill("ok"));
    assert.equal(p.stats.restarts, 0);
  } finally {
    await p.close();
  }
});
