// Every row of docs/abi.md#packed-return and docs/abi.md#statuses through a real permission-less worker.
import assert from "node:assert/strict";
import { HookError } from "../abi/errors.ts";
import { loadFixture, withFixture } from "./_helpers.ts";

async function rejects(p: Promise<unknown>, code: string, extra: Record<string, unknown> = {}) {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof HookError, `expected a HookError, got ${e}`);
    assert.equal(e.code, code, e.message);
    for (const [k, v] of Object.entries(extra)) {
      assert.deepEqual((e as unknown as Record<string, unknown>)[k], v, `${k} of ${e.message}`);
    }
    return true;
  });
}

Deno.test("§2 (p, >0): a filter body replaces the value", async () => {
  await withFixture("content", async (p) => {
    assert.equal(await p.filter("the_content", "hello, world"), "HELLO, WORLD");
    // escapes are copied verbatim, non-ASCII passes through
    assert.equal(await p.filter("the_content", 'a\n"b" é'), 'A\n"B" é');
  });
});

Deno.test("§2 (0, 0): an action with no body is done; a filter with no body is unchanged", async () => {
  await withFixture("content", async (p) => {
    assert.equal(await p.action("on_event", ["user-42", 7, { k: "v" }]), undefined);
  });
  await withFixture("identity", async (p) => {
    const value = { deep: [1, "two", null] };
    assert.equal(await p.filter("anything", value), value);
  });
});

Deno.test("§2 (p≠0, 0): ok with no body", async () => {
  await withFixture("content", async (p) => {
    assert.equal(await p.filter("pointer_no_body", "kept"), "kept");
  });
});

Deno.test("§2 (p≠0, <0): malformed → bad_response", async () => {
  await withFixture("content", async (p) => {
    await rejects(p.action("bad_pointer_status"), "bad_response", { plugin: "content" });
  });
});

Deno.test("§2 bodies outside memory, overflowing, null, over the cap, not UTF-8, not JSON", async () => {
  await withFixture("bad_bodies", async (p) => {
    await rejects(p.filter("oob", 1), "bad_response", { hook: "oob" });
    await rejects(p.filter("overflow", 1), "bad_response");
    await rejects(p.filter("null_body", 1), "bad_response");
    await rejects(p.filter("too_large", 1), "response_too_large");
    await rejects(p.filter("not_utf8", 1), "bad_response");
    await rejects(p.filter("not_json", 1), "bad_response");
    // an action ignores the body, but it must still be well-formed UTF-8 within bounds
    await rejects(p.action("oob"), "bad_response");
  }, { quarantineAfter: 100 });
});

Deno.test("§2 a response cap below the body size refuses it", async () => {
  await withFixture("content", async (p) => {
    await rejects(p.filter("the_content", "x".repeat(100)), "response_too_large");
    assert.equal(await p.filter("the_content", "ok"), "OK");
  }, { maxResponseBytes: 64 });
});

Deno.test("§3 statuses map to codes, raw status kept", async () => {
  await withFixture("content", async (p) => {
    await rejects(p.action("fail_with_message"), "guest_error", { status: -1 });
    await rejects(p.action("oom"), "out_of_memory", { status: -2 });
    await rejects(p.callRaw("the_content", '{"kind":"filter","args":[]}'), "bad_payload", {
      status: -3,
    });
    await rejects(p.filter("the_content", 42), "bad_payload", { status: -3 });
    await rejects(p.action("no_such_hook"), "unknown_hook", { status: -4, hook: "no_such_hook" });
    await rejects(p.action("odd_status"), "guest_error", { status: -42 });
  });
});

Deno.test("§3 gn_error_set message and gn_panic message are kept", async () => {
  await withFixture("content", async (p) => {
    await assert.rejects(p.action("fail_with_message"), (e: HookError) => {
      assert.match(e.message, /custom failure from the guest/);
      return true;
    });
    await assert.rejects(p.action("trip_panic"), (e: HookError) => {
      assert.equal(e.code, "trapped");
      assert.equal(e.status, -5);
      assert.match(e.message, /boom/);
      return true;
    });
    await rejects(p.action("trap"), "trapped");
    // the message is per call: a later failure without gn_error_set has none
    await assert.rejects(p.action("odd_status"), (e: HookError) => {
      assert.doesNotMatch(e.message, /custom failure/);
      return true;
    });
  });
});

Deno.test("§3 host-side out_of_memory when gn_alloc returns 0", async () => {
  await withFixture("content", async (p) => {
    await p.action("fail_next_alloc");
    await rejects(p.filter("the_content", "x"), "out_of_memory");
    assert.equal(await p.filter("the_content", "back"), "BACK");
  });
});

Deno.test("the plugin keeps answering after every kind of failure", async () => {
  await withFixture("content", async (p) => {
    for (const hook of ["trip_panic", "trap", "oom", "fail_with_message", "odd_status", "nope"]) {
      await assert.rejects(p.action(hook));
      assert.equal(await p.filter("the_content", hook), hook.toUpperCase());
    }
  }, { quarantineAfter: 100 });
});

Deno.test("a 2 MiB payload is refused before any guest code runs", async () => {
  await withFixture("alloc_tracker", async (p) => {
    const [, , callsBefore, allocsBefore] = await p.filter("stats", null) as number[];
    await rejects(p.filter("echo", "x".repeat(2 * 1024 * 1024)), "payload_too_large", {
      plugin: "alloc-tracker",
      hook: "echo",
    });
    const [, , callsAfter, allocsAfter] = await p.filter("stats", null) as number[];
    assert.equal(callsAfter, callsBefore + 1, "only the stats call reached the guest");
    assert.equal(allocsAfter, allocsBefore + 3, "only the stats call allocated");
  });
});

Deno.test("the payload cap counts UTF-8 bytes", async () => {
  await withFixture("identity", async (p) => {
    const envelope = 40; // {"kind":"filter","value":"…","args":[]}
    // cap 1000: 400 × "é" is 800 bytes: fits; 560 × "é" is 1120 bytes: over
    assert.equal(await p.filter("x", "é".repeat(400)), "é".repeat(400));
    await rejects(p.filter("x", "é".repeat(600 - envelope)), "payload_too_large");
  }, { maxPayloadBytes: 1000 });
});

Deno.test("100 concurrent invocations on one plugin are all answered correctly", async () => {
  await withFixture("content", async (p) => {
    const inputs = Array.from({ length: 100 }, (_, i) => `call number ${i} ${"z".repeat(i)}`);
    const out = await Promise.all(inputs.map((s) => p.filter("the_content", s)));
    assert.deepEqual(out, inputs.map((s) => s.toUpperCase()));
  });
});

Deno.test("after 10,000 calls nothing is left allocated and memory did not grow", async () => {
  await withFixture("alloc_tracker", async (p) => {
    const [, pagesBefore] = await p.filter("stats", null) as number[];
    for (let batch = 0; batch < 100; batch++) {
      const answers = await Promise.all(
        Array.from({ length: 100 }, (_, i) => p.filter("echo", `payload ${batch}.${i}`)),
      );
      assert.ok(answers.every((a) => a === 1));
    }
    const [live, pages, calls] = await p.filter("stats", null) as number[];
    assert.equal(live, 2, "only this call's name and payload are outstanding");
    assert.equal(pages, pagesBefore);
    assert.equal(calls, 10_002);
  });
});

Deno.test("invalid hook names are refused before the guest runs", async () => {
  await withFixture("content", async (p) => {
    for (const name of ["", "Upper", "9x", "a..b", "a-b", "x".repeat(257)]) {
      await rejects(p.action(name), "invalid_hook_name", { plugin: "content" });
    }
  });
});

Deno.test("a closed plugin refuses calls with closed", async () => {
  const p = await loadFixture("content");
  await p.close();
  await rejects(p.filter("the_content", "x"), "closed");
});

Deno.test("close without drain settles queued calls with closed; with drain answers them", async () => {
  const p = await loadFixture("content");
  const calls = Array.from({ length: 20 }, (_, i) => p.filter("the_content", `v${i}`));
  await p.close({ drain: true });
  assert.deepEqual(await Promise.all(calls), calls.map((_, i) => `V${i}`));

  const q = await loadFixture("content");
  const pending = Array.from({ length: 20 }, () => q.filter("the_content", "v"));
  const closing = q.close();
  const settled = await Promise.allSettled(pending);
  await closing;
  for (const s of settled) {
    if (s.status === "rejected") assert.equal((s.reason as HookError).code, "closed");
  }
  assert.ok(settled.some((s) => s.status === "rejected"));
});

Deno.test("a plugin written for another gn host loads and answers unchanged", async () => {
  await withFixture("legacy", async (p) => {
    assert.equal(await p.filter("greet", null), "hello from legacy");
    await rejects(p.action("explode"), "trapped");
    assert.match(
      await p.action("explode").catch((e: HookError) => e.message) as string,
      /legacy boom/,
    );
    await rejects(p.action("other"), "unknown_hook");
    assert.equal(await p.filter("greet", null), "hello from legacy");
  });
});
