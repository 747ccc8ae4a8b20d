// The hostile-plugin matrix: one fixture per attack. Each test asserts the exact typed
// error, that the host survives, that a well-behaved plugin beside it keeps answering
// correctly meanwhile, and, where it makes sense, that the hostile plugin answers again.
import assert from "node:assert/strict";
import { HookError } from "../abi/errors.ts";
import { HOST_IMPORTS } from "../abi/imports.ts";
import { watToWasm } from "../fixtures/build.ts";
import { PluginHost } from "../host/host.ts";
import { CRASH_FOR_TESTS, Plugin, type PluginOptions } from "../host/plugin.ts";
import { fixtureBytes, loadFixture, withTempDir, writePlugin } from "./_helpers.ts";

/** Calls a well-behaved plugin in a loop until stopped; every answer must be right. */
function hammer(good: Plugin): { stop(): Promise<number> } {
  let running = true;
  let n = 0;
  const loop = (async () => {
    while (running) {
      const v = `neighbour ${n}`;
      assert.equal(await good.filter("the_content", v), v.toUpperCase());
      n++;
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return n;
    },
  };
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

/** Runs `attack` with a neighbour plugin answering beside it. */
async function beside(attack: () => Promise<void>): Promise<void> {
  const good = await loadFixture("content");
  const h = hammer(good);
  let answered = -1;
  try {
    await attack();
  } finally {
    answered = await h.stop();
  }
  try {
    assert.ok(answered > 0, "the neighbour answered meanwhile");
    assert.equal(await good.filter("the_content", "after"), "AFTER");
  } finally {
    await good.close();
  }
}

async function hostile(
  name: string,
  options: Partial<PluginOptions>,
  body: (p: Plugin) => Promise<void>,
): Promise<void> {
  const p = await Plugin.load(await fixtureBytes(`hostile/${name}`), {
    name: name.replaceAll("_", "-"),
    quarantineAfter: 1000,
    ...options,
  });
  try {
    await beside(() => body(p));
  } finally {
    await p.close();
  }
}

Deno.test("infinite loop in a hook, metered → fuel_exhausted, then answers again", async () => {
  await hostile("loop_hook", { fuel: 5_000_000 }, async (p) => {
    assert.equal(await code(p.action("spin")), "fuel_exhausted");
    assert.equal(await p.filter("ok", null), "ok");
    assert.equal(p.stats.restarts, 0, "recycled in its worker, not respawned");
  });
});

// Unmetered is an unlimited budget in slices: the timed-out loop stops at its next refuel
// (tests/cancel_test.ts checks that its thread exits and the CPU goes quiet).
Deno.test("infinite loop in a hook, unmetered → timeout; queued calls run on a fresh instance", async () => {
  await hostile("loop_hook", { fuel: false, timeoutMs: 200 }, async (p) => {
    const spin = code(p.action("spin"));
    const queued = [p.filter("ok", null), p.filter("ok", null), p.filter("ok", null)];
    assert.equal(await spin, "timeout");
    assert.deepEqual(await Promise.all(queued), ["ok", "ok", "ok"]);
    assert.equal(p.stats.restarts, 1);
  });
});

Deno.test("infinite loop in the start function → fuel_exhausted (metered) or timeout", async () => {
  await beside(async () => {
    const bytes = await fixtureBytes("hostile/loop_start");
    assert.equal(
      await code(Plugin.load(bytes, { name: "loop-start", fuel: 1_000_000 })),
      "fuel_exhausted",
    );
    assert.equal(
      await code(Plugin.load(bytes, { name: "loop-start", fuel: false, timeoutMs: 200 })),
      "timeout",
    );
  });
});

Deno.test("memory.grow bomb → grow fails inside the guest (out_of_memory), then answers", async () => {
  await hostile("grow_bomb", { memoryPages: 32 }, async (p) => {
    assert.equal(await code(p.action("grow")), "out_of_memory");
    assert.equal(await p.filter("ok", null), "ok");
  });
});

Deno.test("huge initial memory → memory_limit at load", async () => {
  await beside(async () => {
    const bytes = await fixtureBytes("hostile/huge_memory");
    await assert.rejects(Plugin.load(bytes, { name: "huge", memoryPages: 256 }), (e: HookError) => {
      assert.equal(e.code, "memory_limit");
      assert.equal(e.plugin, "huge");
      return true;
    });
  });
});

Deno.test("deep recursion → trapped (stack overflow), then answers", async () => {
  await hostile("recursion", {}, async (p) => {
    await assert.rejects(p.action("dive"), (e: HookError) => {
      assert.ok(e.code === "trapped", `${e.code}: ${e.message}`);
      return true;
    });
    assert.equal(await p.filter("ok", null), "ok");
  });
});

Deno.test("gn_alloc returning 0 → out_of_memory, every time, typed", async () => {
  await hostile("alloc_zero", {}, async (p) => {
    for (let i = 0; i < 3; i++) assert.equal(await code(p.action("x")), "out_of_memory");
  });
});

Deno.test("gn_alloc returning a pointer outside memory → bad_response", async () => {
  await hostile("alloc_oob", {}, async (p) => {
    for (let i = 0; i < 3; i++) assert.equal(await code(p.action("x")), "bad_response");
  });
});

Deno.test("a never-freeing allocator runs out after many calls, then is recycled", async () => {
  await hostile("leaky", { memoryPages: 2 }, async (p) => {
    let calls = 0;
    let outcome = "ok";
    while (outcome === "ok" && calls < 100_000) {
      outcome = await code(p.action("x", ["x".repeat(200)]));
      calls++;
    }
    assert.equal(outcome, "out_of_memory");
    assert.ok(calls > 100, `ran out after ${calls} calls`);
    assert.equal(await code(p.action("x")), "ok", "the recycled instance answers");
  });
});

Deno.test("a crashed worker settles the call in flight with worker_crashed and is replaced", async () => {
  await hostile("loop_hook", {}, async (p) => {
    p[CRASH_FOR_TESTS]();
    assert.equal(await code(p.filter("ok", null)), "worker_crashed");
    assert.equal(await p.filter("ok", null), "ok");
    assert.equal(p.stats.restarts, 1);
    // a worker that dies while idle is replaced before the next call needs it
    p[CRASH_FOR_TESTS]();
    while (p.stats.restarts < 2) await new Promise((r) => setTimeout(r, 5));
    assert.equal(await p.filter("ok", null), "ok");
    assert.equal(p.stats.restarts, 2);
  });
});

Deno.test("threads (shared memory) and memory64 → unsupported_feature at load", async () => {
  await beside(async () => {
    for (const name of ["threads", "memory64"]) {
      await assert.rejects(
        Plugin.load(await fixtureBytes(`hostile/${name}`), { name }),
        (e: HookError) => {
          assert.equal(e.code, "unsupported_feature", e.message);
          assert.equal(e.plugin, name);
          return true;
        },
      );
    }
  });
});

Deno.test("every ungranted host import → capability_denied naming it", async () => {
  await beside(async () => {
    for (const spec of HOST_IMPORTS.filter((s) => s.token !== null)) {
      const params = spec.type.params.map((t) => `(param ${t})`).join(" ");
      const results = spec.type.results.map((t) => `(result ${t})`).join(" ");
      const wasm = await watToWasm(
        `${spec.name}.wat`,
        `(module
          (import "env" "${spec.name}" (func ${params} ${results}))
          (memory (export "memory") 1)
          (func (export "gn_alloc") (param i32) (result i32) (i32.const 4096))
          (func (export "gn_free") (param i32 i32))
          (func (export "gn_handle_hook") (param i32 i32 i32 i32) (result i64) (i64.const 0)))`,
      );
      await assert.rejects(Plugin.load(wasm, { name: "greedy", granted: [] }), (e: HookError) => {
        assert.equal(e.code, "capability_denied");
        assert.match(e.message, new RegExp(`"${spec.name}".*"${spec.token}"`));
        return true;
      });
      const ok = await Plugin.load(wasm, { name: "granted", granted: [spec.token!] });
      await ok.close();
    }
  });
});

Deno.test("a 50 MB module is refused before it is hashed; random bytes are invalid_module", async () => {
  await withTempDir(async (dir) => {
    await using host = await PluginHost.create({ onError: () => {} });
    const file = await writePlugin(dir, {
      name: "giant",
      fixture: "identity",
      hooks: [{ name: "x", kind: "action" }],
    });
    // 50 MB: a valid module header followed by one huge custom section.
    const size = 50 * 1024 * 1024;
    const giant = new Uint8Array(size);
    giant.set([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 0]);
    await Deno.writeFile(`${dir}/giant/identity.wasm`, giant);
    // Refused on its size, before it is read or hashed (host/manifest_test.ts proves the
    // "before it is read" part with a sparse file).
    await assert.rejects(host.load(file), (e: HookError) => {
      assert.equal(e.code, "module_too_large");
      assert.match(e.message, /52428800/);
      return true;
    });

    const { blake3 } = await import("hash-wasm");
    const junk = crypto.getRandomValues(new Uint8Array(4096));
    const jfile = await writePlugin(dir, {
      name: "junk",
      fixture: "identity",
      hooks: [{ name: "x", kind: "action" }],
      digest: `blake3:${await blake3(junk)}`,
    });
    await Deno.writeFile(`${dir}/junk/identity.wasm`, junk);
    await assert.rejects(host.load(jfile), { code: "invalid_module" });

    await host.load(`${new URL("../examples/", import.meta.url).pathname}shout/plugin.toml`);
    assert.equal(await host.bus.applyFilters("the_content", "alive"), "ALIVE");
  });
});
