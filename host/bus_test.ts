import assert from "node:assert/strict";
import {
  type FilterHandler,
  HookBus,
  type HookBusOptions,
  HookError,
  type MetricsSink,
  NOOP_METRICS,
  StopSignal,
  stopWith,
  type Verdict,
} from "./bus.ts";
import { prng } from "../meter/_test_util.ts";

// ---------------------------------------------------------------------------
// Helpers

/** A bus whose error sink collects into `errors`. */
function collecting(options: HookBusOptions = {}): { bus: HookBus; errors: HookError[] } {
  const errors: HookError[] = [];
  const bus = new HookBus({ onError: (e) => void errors.push(e), ...options });
  return { bus, errors };
}

interface Recorded {
  increments: { metric: string; labels: Record<string, string> }[];
  observations: { metric: string; valueMs: number; labels: Record<string, string> }[];
}

function recordingMetrics(): MetricsSink & Recorded {
  const increments: Recorded["increments"] = [];
  const observations: Recorded["observations"] = [];
  return {
    increments,
    observations,
    increment(metric, labels) {
      increments.push({ metric, labels: { ...labels } });
    },
    observe(metric, valueMs, labels) {
      observations.push({ metric, valueMs, labels: { ...labels } });
    },
  };
}

/** Replaces `console.warn` for the duration of `fn`. */
async function capturingWarn(fn: () => Promise<void>): Promise<unknown[][]> {
  const calls: unknown[][] = [];
  const original = console.warn;
  console.warn = (...args: unknown[]) => void calls.push(args);
  try {
    await fn();
  } finally {
    console.warn = original;
  }
  return calls;
}

const tick = (): Promise<void> => Promise.resolve();

// ---------------------------------------------------------------------------
// Registration, options, names

Deno.test("HookBus: add* return idempotent unsubscribe functions", async () => {
  const bus = new HookBus();
  const order: string[] = [];
  const f = (v: string) => {
    order.push("f");
    return v;
  };
  const off1 = bus.addFilter("t", f);
  bus.addFilter("t", f);
  bus.addFilter("t", (v) => (order.push("g"), v));
  off1();
  off1(); // must not remove the second registration of the same function
  assert.deepEqual(bus.priorities("t"), [10, 10]);
  await bus.applyFilters("t", "x");
  assert.deepEqual(order, ["f", "g"]);

  for (
    const add of [
      (n: string) => bus.addAction(n, () => {}),
      (n: string) => bus.addAsyncAction(n, () => {}),
      (n: string) => bus.addGuard(n, () => undefined),
    ]
  ) {
    const offA = add("k");
    const offB = add("k");
    offA();
    offA();
    assert.equal(bus.priorities("k").length, 1);
    offB();
    offB();
    assert.equal(bus.hasHandlers("k"), false);
  }
});

Deno.test("HookBus: unsubscribing works after the chain was replaced by later registrations", async () => {
  const bus = new HookBus();
  const seen: number[] = [];
  const off = bus.addAction("a", () => void seen.push(1), { priority: 5 });
  bus.addAction("a", () => void seen.push(2), { priority: 1 });
  bus.addAction("a", () => void seen.push(3), { priority: 9 });
  off();
  await bus.doAction("a");
  assert.deepEqual(seen, [2, 3]);
});

Deno.test("HookBus: options are validated", () => {
  const bus = new HookBus();
  const fn = (v: unknown) => v;
  for (const priority of [NaN, Infinity, -Infinity]) {
    assert.throws(() => bus.addFilter("t", fn, { priority }), RangeError);
  }
  assert.throws(
    () => bus.addFilter("t", fn, { priority: "5" as unknown as number }),
    (e: unknown) => e instanceof TypeError && /priority/.test(e.message) && /"t"/.test(e.message),
  );
  assert.throws(
    () => bus.addAction("t", fn, { fail: "crash" as "warn" }),
    (e: unknown) => e instanceof RangeError && /"crash"/.test(e.message),
  );
  assert.throws(() => bus.addGuard("t", fn as never, { fail: 1 as unknown as "warn" }), TypeError);
  assert.throws(() => bus.addAsyncAction("t", fn, { plugin: "" }), TypeError);
  assert.throws(() => bus.addFilter("t", fn, { plugin: 7 as unknown as string }), TypeError);
  assert.throws(() => bus.addFilter("t", fn, null as unknown as undefined), TypeError);
  assert.throws(() => bus.addFilter("t", "nope" as unknown as FilterHandler), TypeError);
  // Nothing was registered by the refused calls.
  assert.equal(bus.hasHandlers("t"), false);
  // Valid edge values are accepted.
  bus.addFilter("t", fn, { priority: -0.5, fail: "ignore", plugin: "p" });
  bus.addFilter("t", fn, { priority: Number.MAX_VALUE, fail: "block" });
  bus.addFilter("t", fn, {});
  assert.deepEqual(bus.priorities("t"), [-0.5, 10, Number.MAX_VALUE]);
});

Deno.test("HookBus: constructor options are validated", () => {
  assert.throws(() => new HookBus({ onError: 1 as never }), TypeError);
  assert.throws(() => new HookBus({ metrics: {} as MetricsSink }), TypeError);
});

const BAD_NAMES: unknown[] = [
  "",
  "Bad",
  "1a",
  "_a",
  "a.",
  ".a",
  "a..b",
  "a.1b",
  "a-b",
  "a b",
  "é",
  "a\n",
  "a".repeat(257),
  42,
  undefined,
];
const GOOD_NAMES = ["a", "the_content", "a.b_c.d9", "x0._y".replace("_y", "y"), "a".repeat(256)];

Deno.test("HookBus: invalid hook names are refused at registration", () => {
  const bus = new HookBus();
  for (const name of BAD_NAMES) {
    for (
      const add of [
        () => bus.addAction(name as string, () => {}),
        () => bus.addAsyncAction(name as string, () => {}),
        () => bus.addFilter(name as string, (v) => v),
        () => bus.addGuard(name as string, () => undefined),
      ]
    ) {
      assert.throws(add, (e: unknown) => {
        assert.ok(e instanceof HookError, `name ${JSON.stringify(name)}`);
        assert.equal(e.code, "invalid_hook_name");
        assert.match(e.message, /^Cannot add/);
        return true;
      });
    }
  }
  for (const name of GOOD_NAMES) bus.addFilter(name, (v) => v);
  assert.equal(GOOD_NAMES.every((n) => bus.hasHandlers(n)), true);
});

Deno.test("HookBus: invalid hook names reject (not throw) at dispatch and are not counted", async () => {
  const bus = new HookBus();
  for (const name of BAD_NAMES) {
    for (
      const dispatch of [
        () => bus.doAction(name as string),
        () => bus.applyFilters(name as string, 1),
        () => bus.checkGuards(name as string, 1),
      ]
    ) {
      const p = dispatch(); // must not throw synchronously
      await assert.rejects(p, { name: "HookError", code: "invalid_hook_name" });
    }
    assert.equal(bus.firedCount(name as string), 0);
    assert.equal(bus.hasHandlers(name as string), false);
    assert.deepEqual(bus.priorities(name as string), []);
  }
  await bus.applyFilters("a".repeat(256), 1);
  assert.equal(bus.firedCount("a".repeat(256)), 1);
});

Deno.test("HookBus: a hook name has one kind", async () => {
  const bus = new HookBus();
  const offA = bus.addAction("save", () => {});
  const offB = bus.addAsyncAction("save", () => {}); // same kind: fine
  assert.equal(bus.kindOf("save"), "action");
  assert.throws(
    () => bus.addFilter("save", (v) => v),
    (e: unknown) =>
      e instanceof HookError && e.code === "hook_kind_mismatch" && e.hook === "save" &&
      e.message.includes('"save"') && e.message.includes("it has action handlers") &&
      e.message.includes("register it with addAction instead"),
  );
  assert.throws(
    () => bus.addGuard("save", () => undefined),
    (e: unknown) =>
      e instanceof HookError && e.code === "hook_kind_mismatch" &&
      e.message.includes("action") && e.message.includes("guard"),
  );
  // Dispatching with the wrong kind is refused too, naming the method to call, and not counted.
  await assert.rejects(bus.applyFilters("save", 1), (e: unknown) => {
    assert.ok(e instanceof HookError);
    assert.equal(e.code, "hook_kind_mismatch");
    assert.equal(e.hook, "save");
    assert.ok(e.message.includes('call doAction("save", ...args) instead'), e.message);
    return true;
  });
  await assert.rejects(bus.checkGuards("save", 1), { code: "hook_kind_mismatch" });
  assert.equal(bus.firedCount("save"), 0);

  offA();
  assert.equal(bus.kindOf("save"), "action");
  offB();
  assert.equal(bus.kindOf("save"), undefined);
  bus.addFilter("save", (v) => v + 1);
  assert.equal(bus.kindOf("save"), "filter");
  assert.equal(await bus.applyFilters("save", 1), 2);
  await assert.rejects(bus.doAction("save"), (e: unknown) => {
    assert.ok(e instanceof HookError);
    assert.equal(e.code, "hook_kind_mismatch");
    assert.ok(e.message.includes('call applyFilters("save", value, ...args) instead'), e.message);
    return true;
  });
  assert.equal(bus.kindOf("never"), undefined);
});

Deno.test("HookBus: declared hooks refuse every other name, naming the closest", async () => {
  const bus = new HookBus({
    hooks: { title_case: "filter", on_event: "action", "mail.send": "guard" },
  });
  const notDeclared = (near: string | undefined) => (e: unknown): boolean => {
    assert.ok(e instanceof HookError, `expected a HookError, got ${e}`);
    assert.equal(e.code, "hook_not_declared");
    if (near !== undefined) assert.ok(e.message.includes(`did you mean "${near}"`), e.message);
    assert.ok(e.message.includes("`hooks` option of PluginHost.create"), e.message);
    return true;
  };
  // Dispatch: a typo no longer resolves silently.
  await assert.rejects(bus.applyFilters("titel_case", "x"), notDeclared("title_case"));
  await assert.rejects(bus.doAction("on_evnt", 1), notDeclared("on_event"));
  await assert.rejects(bus.checkGuards("mail.sned", "a"), notDeclared("mail.send"));
  // Registration: host handlers too.
  assert.throws(() => bus.addFilter("title", (v) => v), notDeclared("title_case"));
  assert.throws(() => bus.addAsyncAction("on_evt", () => {}), notDeclared("on_event"));
  // Far from every declared name: the declared names are listed instead.
  await assert.rejects(bus.applyFilters("zzz", 1), (e: unknown) => {
    assert.ok(notDeclared(undefined)(e));
    assert.ok((e as Error).message.includes('declared: "title_case", "on_event", "mail.send".'));
    return true;
  });
  // An invalid name is still invalid_hook_name, not hook_not_declared.
  await assert.rejects(bus.applyFilters("Bad", 1), { code: "invalid_hook_name" });
  // Nothing was created or counted for the refused names.
  for (const name of ["titel_case", "on_evnt", "title", "zzz"]) {
    assert.equal(bus.firedCount(name), 0);
    assert.equal(bus.kindOf(name), undefined);
  }
  assert.deepEqual(bus.running(), []);

  // A declared hook keeps its kind without handlers, and after its last one goes.
  assert.equal(bus.kindOf("title_case"), "filter");
  assert.equal(await bus.applyFilters("title_case", "same"), "same");
  await bus.doAction("on_event", 1);
  assert.deepEqual(await bus.checkGuards("mail.send", "a"), { decision: "continue" });
  await assert.rejects(bus.doAction("title_case"), (e: unknown) => {
    assert.ok(e instanceof HookError);
    assert.equal(e.code, "hook_kind_mismatch");
    assert.ok(e.message.includes("declared by the host"), e.message);
    assert.ok(e.message.includes('call applyFilters("title_case", value, ...args)'), e.message);
    return true;
  });
  const off = bus.addFilter("title_case", (v: string) => v.toUpperCase());
  assert.equal(await bus.applyFilters("title_case", "a"), "A");
  off();
  assert.equal(bus.kindOf("title_case"), "filter");
  assert.throws(() => bus.addAction("title_case", () => {}), (e: unknown) => {
    assert.ok(e instanceof HookError);
    assert.equal(e.code, "hook_kind_mismatch");
    assert.ok(e.message.includes("register it with addFilter instead"), e.message);
    return true;
  });
  await assert.rejects(bus.applyFilters("on_event", 1), { code: "hook_kind_mismatch" });
  await assert.rejects(bus.doAction("mail.send", 1), { code: "hook_kind_mismatch" });

  // An empty declaration accepts no name at all.
  await assert.rejects(new HookBus({ hooks: {} }).doAction("x"), (e: unknown) => {
    assert.ok(notDeclared(undefined)(e));
    assert.ok((e as Error).message.includes("it declares none."));
    return true;
  });
});

Deno.test("HookBus: bad declarations are programming errors, refused at construction", () => {
  assert.throws(() => new HookBus({ hooks: 1 as never }), TypeError);
  assert.throws(() => new HookBus({ hooks: { t: "filtre" as never } }), TypeError);
  assert.throws(() => new HookBus({ hooks: { "Bad Name": "filter" } }), {
    code: "invalid_hook_name",
  });
});

// ---------------------------------------------------------------------------
// Ordering

Deno.test("HookBus: priority ascending, ties in registration order, across removals", async () => {
  const rand = prng(7);
  const bus = new HookBus();
  const pris = [-1, 0, 10, 10, 10.5, 20];
  // The model: live handlers in registration order.
  let model: { id: number; priority: number; off: () => void }[] = [];
  let id = 0;
  const seen: number[] = [];
  for (let step = 0; step < 400; step++) {
    if (model.length > 0 && rand() < 0.3) {
      const victim = model[Math.floor(rand() * model.length)];
      victim.off();
      model = model.filter((m) => m !== victim);
    } else {
      const me = id++;
      const priority = pris[Math.floor(rand() * pris.length)];
      const useDefault = priority === 10 && rand() < 0.5;
      const off = bus.addAction("o", () => void seen.push(me), useDefault ? {} : { priority });
      model.push({ id: me, priority, off });
    }
    if (step % 25 === 0 || step === 399) {
      const expected = model.toSorted((a, b) => a.priority - b.priority); // stable
      assert.deepEqual(bus.priorities("o"), expected.map((m) => m.priority));
      seen.length = 0;
      await bus.doAction("o");
      assert.deepEqual(seen, expected.map((m) => m.id));
    }
  }
});

Deno.test("HookBus: a re-added handler runs after its equal-priority peers", async () => {
  const bus = new HookBus();
  const seen: string[] = [];
  const a = (v: string) => (seen.push("a"), v);
  const offA = bus.addFilter("t", a);
  bus.addFilter("t", (v) => (seen.push("b"), v));
  offA();
  bus.addFilter("t", a);
  await bus.applyFilters("t", "");
  assert.deepEqual(seen, ["b", "a"]);
});

// ---------------------------------------------------------------------------
// Filters

Deno.test("HookBus.applyFilters: threads the value and passes the extra arguments", async () => {
  const bus = new HookBus();
  const calls: unknown[][] = [];
  bus.addFilter("t", (v: number, ...args: unknown[]) => (calls.push(args), v * 2), {
    priority: 1,
  });
  bus.addFilter("t", async (v: number, ...args: unknown[]) => {
    calls.push(args);
    await tick();
    return v + 1;
  });
  bus.addFilter("t", (v: number) => ({ then: (ok: (x: number) => void) => ok(v * 10) })); // thenable
  assert.equal(await bus.applyFilters("t", 3, "a", 2), 70);
  assert.deepEqual(calls, [["a", 2], ["a", 2]]);
});

Deno.test("HookBus.applyFilters: a hook without handlers resolves to the same value", async () => {
  const bus = new HookBus();
  const value = { big: "x".repeat(1024) };
  assert.equal(await bus.applyFilters("none", value), value);
  assert.equal(bus.firedCount("none"), 1);
});

Deno.test("HookBus.applyFilters: what a handler returns is the next value, undefined included", async () => {
  const bus = new HookBus();
  bus.addFilter("t", () => undefined);
  bus.addFilter("t", (v) => [v]);
  assert.deepEqual(await bus.applyFilters("t", "x"), [undefined]);
});

Deno.test("HookBus.applyFilters: stopWith ends the chain with its value", async () => {
  const bus = new HookBus();
  let later = 0;
  bus.addFilter("t", (v: number) => (v > 10 ? stopWith("big") : v), { priority: 1 });
  bus.addFilter("t", async (v: number) => {
    await tick();
    return v === 5 ? stopWith(-5) : v;
  }, { priority: 2 });
  bus.addFilter("t", (v: number) => (later++, v + 1), { priority: 3 });
  assert.equal(await bus.applyFilters("t", 50), "big");
  assert.equal(await bus.applyFilters("t", 5), -5);
  assert.equal(later, 0);
  assert.equal(await bus.applyFilters("t", 1), 2);
  assert.equal(later, 1);
  // stopWith(undefined) is a final undefined, not "unchanged".
  bus.addFilter("u", () => stopWith(undefined));
  bus.addFilter("u", () => "after");
  assert.equal(await bus.applyFilters("u", "before"), undefined);
});

Deno.test("HookBus.applyFilters: a look-alike of a stop signal is a plain value", async () => {
  const bus = new HookBus();
  const lookAlike = { value: 1 };
  bus.addFilter("t", () => lookAlike);
  bus.addFilter("t", (v) => [v]);
  assert.deepEqual(await bus.applyFilters("t", 0), [lookAlike]);
  assert.equal(StopSignal.is(lookAlike), false);
  assert.equal(StopSignal.is(Object.create(StopSignal.prototype)), false);
  assert.equal(StopSignal.is(stopWith(1)), true);
});

Deno.test("HookBus.applyFilters: warn skips the failed handler, keeps the value, reports", async () => {
  const { bus, errors } = collecting();
  const boom = new Error("boom");
  bus.addFilter("t", (v: string) => v + "a", { priority: 1 });
  bus.addFilter("t", () => {
    throw boom;
  }, { priority: 2 });
  bus.addFilter("t", () => Promise.reject("rejected"), { priority: 3, fail: "warn" });
  bus.addFilter("t", (v: string) => v + "b", { priority: 4 });
  assert.equal(await bus.applyFilters("t", ""), "ab");
  assert.equal(errors.length, 2);
  assert.equal(errors[0].code, "handler_failed");
  assert.equal(errors[0].hook, "t");
  assert.equal(errors[0].plugin, undefined);
  assert.equal(errors[0].cause, boom);
  assert.match(errors[0].message, /^Cannot apply filters "t": .*boom/);
  assert.equal(errors[1].cause, "rejected");
  assert.equal(errors[0].value, undefined);
});

Deno.test("HookBus.applyFilters: ignore skips silently", async () => {
  const { bus, errors } = collecting();
  bus.addFilter("t", (v: number) => v + 1);
  bus.addFilter("t", () => {
    throw new Error("x");
  }, { fail: "ignore" });
  bus.addFilter("t", () => Promise.reject(new Error("y")), { fail: "ignore" });
  bus.addFilter("t", (v: number) => v * 3);
  assert.equal(await bus.applyFilters("t", 1), 6);
  assert.deepEqual(errors, []);
});

Deno.test("HookBus.applyFilters: block stops the chain and rejects with the last accepted value", async () => {
  for (
    const fail of [() => {
      throw new Error("sync");
    }, () => Promise.reject(new Error("async"))]
  ) {
    const { bus, errors } = collecting();
    let after = 0;
    bus.addFilter("t", (v: string) => v + "1", { priority: 1 });
    bus.addFilter("t", () => {
      throw new Error("warned");
    }, { priority: 2 });
    bus.addFilter("t", fail, { priority: 3, fail: "block" });
    bus.addFilter("t", (v: string) => (after++, v), { priority: 4 });
    await assert.rejects(bus.applyFilters("t", "0"), (e: unknown) => {
      assert.ok(e instanceof HookError);
      assert.equal(e.code, "handler_failed");
      assert.equal(e.hook, "t");
      assert.equal(e.value, "01");
      assert.ok(e.cause instanceof Error && /sync|async/.test(e.cause.message));
      return true;
    });
    assert.equal(after, 0);
    assert.equal(errors.length, 1); // only the warn failure; the block one was rejected
    assert.deepEqual(bus.running(), []);
  }
});

Deno.test("HookBus.applyFilters: a blocked value of undefined is still carried", async () => {
  const bus = new HookBus();
  bus.addFilter("t", () => {
    throw new Error("x");
  }, { fail: "block" });
  await assert.rejects(bus.applyFilters("t", undefined), (e: HookError) => "value" in e);
});

Deno.test("HookBus.applyFilters: a plugin's HookError keeps its code when blocking", async () => {
  const bus = new HookBus();
  const trap = new HookError("trapped", "Hook trapped: unreachable", {
    plugin: "p",
    hook: "t",
    status: -5,
  });
  bus.addFilter("t", (v: number) => v + 1, { priority: 1, plugin: "q" });
  bus.addFilter("t", () => {
    throw trap;
  }, { plugin: "p", fail: "block" });
  await assert.rejects(bus.applyFilters("t", 1), (e: unknown) => {
    assert.ok(e instanceof HookError);
    assert.notEqual(e, trap);
    assert.equal(e.code, "trapped");
    assert.equal(e.plugin, "p");
    assert.equal(e.hook, "t");
    assert.equal(e.status, -5);
    assert.equal(e.value, 2);
    assert.equal(e.cause, trap);
    return true;
  });
});

Deno.test("HookBus: a plugin's HookError is reported as is, or with its hook and plugin filled in", async () => {
  const { bus, errors } = collecting();
  const complete = new HookError("timeout", "Hook timed out", { plugin: "p", hook: "t" });
  const bare = new HookError("bad_response", "Bad response", { status: -1 });
  bus.addFilter("t", () => Promise.reject(complete), { plugin: "p" });
  bus.addFilter("t", () => Promise.reject(bare), { plugin: "q" });
  await bus.applyFilters("t", 0);
  assert.equal(errors[0], complete);
  assert.equal(errors[1].code, "bad_response");
  assert.equal(errors[1].plugin, "q");
  assert.equal(errors[1].hook, "t");
  assert.equal(errors[1].status, -1);
  assert.equal(errors[1].cause, bare);
});

Deno.test("HookBus: a plugin handler's non-HookError and a host handler's HookError are handler_failed", async () => {
  const { bus, errors } = collecting();
  const hostErr = new HookError("trapped", "nested");
  bus.addAction("a", () => {
    throw new TypeError("bug");
  }, { plugin: "p" });
  bus.addAction("a", () => {
    throw hostErr;
  });
  bus.addAction("a", () => {
    throw "a string";
  });
  await bus.doAction("a");
  assert.deepEqual(errors.map((e) => [e.code, e.plugin]), [
    ["handler_failed", "p"],
    ["handler_failed", undefined],
    ["handler_failed", undefined],
  ]);
  assert.ok(errors[0].cause instanceof TypeError);
  assert.equal(errors[1].cause, hostErr);
  assert.equal(errors[2].cause, "a string");
  assert.match(errors[0].message, /plugin "p"/);
  assert.match(errors[2].message, /a string/);
});

Deno.test("HookBus.applyFilters: sync handlers are not forced through extra awaits", async () => {
  const bus = new HookBus();
  for (let i = 0; i < 100; i++) bus.addFilter("t", (v: number) => v + 1);
  let done = false;
  const p = bus.applyFilters("t", 0).then((v) => {
    done = true;
    return v;
  });
  let ticks = 0;
  while (!done && ticks < 1000) {
    await tick();
    ticks++;
  }
  assert.equal(await p, 100);
  assert.ok(ticks < 10, `took ${ticks} microtask turns for 100 sync handlers`);
});

// ---------------------------------------------------------------------------
// Actions

Deno.test("HookBus.doAction: awaits each handler in turn and passes the arguments", async () => {
  const bus = new HookBus();
  const gate = Promise.withResolvers<void>();
  const log: unknown[] = [];
  bus.addAction("a", async (...args: unknown[]) => {
    log.push(["first", ...args]);
    await gate.promise;
    log.push("first done");
  });
  bus.addAction("a", (...args: unknown[]) => void log.push(["second", ...args]));
  const p = bus.doAction("a", "u", 7, { k: "v" });
  await tick();
  await tick();
  assert.deepEqual(log, [["first", "u", 7, { k: "v" }]]);
  gate.resolve();
  assert.equal(await p, undefined);
  assert.deepEqual(log, [
    ["first", "u", 7, { k: "v" }],
    "first done",
    ["second", "u", 7, { k: "v" }],
  ]);
});

Deno.test("HookBus.doAction: every handler runs whatever fails; block failures are aggregated", async () => {
  const { bus, errors } = collecting();
  const ran: number[] = [];
  const e1 = new Error("one");
  const e3 = new Error("three");
  bus.addAction("a", () => {
    ran.push(1);
    throw e1;
  }, { fail: "block", priority: 1 });
  bus.addAction("a", () => {
    ran.push(2);
    throw new Error("two");
  }, { priority: 2 }); // warn
  bus.addAction("a", () => {
    ran.push(3);
    return Promise.reject(e3);
  }, { fail: "block", priority: 3, plugin: "p" });
  bus.addAction("a", () => {
    ran.push(4);
    throw new Error("four");
  }, { fail: "ignore", priority: 4 });
  bus.addAction("a", () => void ran.push(5), { priority: 5 });
  await assert.rejects(bus.doAction("a"), (e: unknown) => {
    assert.ok(e instanceof HookError);
    assert.equal(e.code, "action_failed");
    assert.equal(e.hook, "a");
    assert.equal(e.errors?.length, 2);
    assert.deepEqual(e.errors?.map((x) => x.code), ["handler_failed", "handler_failed"]);
    assert.equal(e.errors?.[0].cause, e1);
    assert.equal(e.errors?.[1].cause, e3);
    assert.equal(e.errors?.[1].plugin, "p");
    assert.match(e.message, /^Cannot do action "a": 2 blocking handlers failed/);
    return true;
  });
  assert.deepEqual(ran, [1, 2, 3, 4, 5]);
  assert.equal(errors.length, 1);
  assert.equal((errors[0].cause as Error).message, "two");
  assert.deepEqual(bus.running(), []);
});

Deno.test("HookBus.doAction: warn and ignore failures never reject", async () => {
  const { bus, errors } = collecting();
  bus.addAction("a", () => Promise.reject(new Error("w")));
  bus.addAction("a", () => Promise.reject(new Error("i")), { fail: "ignore" });
  await bus.doAction("a");
  assert.equal(errors.length, 1);
});

// ---------------------------------------------------------------------------
// Async actions

Deno.test("HookBus.addAsyncAction: doAction does not wait; idle() does", async () => {
  const { bus, errors } = collecting();
  const gate = Promise.withResolvers<void>();
  let finished = false;
  bus.addAsyncAction("a", async () => {
    await gate.promise;
    finished = true;
  });
  await bus.doAction("a");
  assert.equal(finished, false);
  let idled = false;
  const idle = bus.idle().then(() => void (idled = true));
  await tick();
  await tick();
  assert.equal(idled, false);
  gate.resolve();
  await idle;
  assert.equal(finished, true);
  assert.deepEqual(errors, []);
  await bus.idle(); // nothing pending: resolves at once
});

Deno.test("HookBus.addAsyncAction: started at its place in priority order", async () => {
  const bus = new HookBus();
  const log: string[] = [];
  bus.addAction("a", () => void log.push("sync 1"), { priority: 1 });
  bus.addAsyncAction("a", async () => {
    log.push("async 5 start");
    await tick();
    log.push("async 5 end");
  }, { priority: 5 });
  bus.addAction("a", () => void log.push("sync 10"));
  bus.addAsyncAction("a", () => void log.push("async 20 start"), { priority: 20 });
  const p = bus.doAction("a");
  assert.deepEqual(log.slice(0, 3), ["sync 1", "async 5 start", "sync 10"]);
  await p;
  await bus.idle();
  assert.deepEqual(log.toSorted(), [
    "async 20 start",
    "async 5 end",
    "async 5 start",
    "sync 1",
    "sync 10",
  ]);
  assert.equal(log.indexOf("async 20 start"), 3);
});

Deno.test("HookBus.addAsyncAction: failures go to the sink whatever the policy, except ignore", async () => {
  const { bus, errors } = collecting();
  bus.addAsyncAction("a", () => Promise.reject(new Error("block")), { fail: "block" });
  bus.addAsyncAction("a", () => {
    throw new Error("sync warn");
  });
  bus.addAsyncAction("a", () => Promise.reject(new Error("ignored")), { fail: "ignore" });
  bus.addAsyncAction("a", async () => {
    await tick();
    throw new HookError("timeout", "Timed out", { plugin: "p", hook: "a" });
  }, { plugin: "p", fail: "block" });
  await bus.doAction("a"); // resolves: async failures never reject doAction
  await bus.idle();
  assert.deepEqual(errors.map((e) => e.code).toSorted(), [
    "handler_failed",
    "handler_failed",
    "timeout",
  ]);
  assert.deepEqual(
    errors.filter((e) => e.code === "handler_failed").map((e) => (e.cause as Error).message)
      .toSorted(),
    ["block", "sync warn"],
  );
});

Deno.test("HookBus.idle: waits for async actions started by async actions", async () => {
  const bus = new HookBus();
  const done: string[] = [];
  bus.addAsyncAction("outer", async () => {
    await tick();
    await bus.doAction("inner");
    done.push("outer");
  });
  bus.addAsyncAction("inner", async () => {
    for (let i = 0; i < 5; i++) await tick();
    done.push("inner");
  });
  await bus.doAction("outer");
  await bus.idle();
  assert.deepEqual(done, ["outer", "inner"]);
});

Deno.test("HookBus.idle: several waiters all wake", async () => {
  const bus = new HookBus();
  const gate = Promise.withResolvers<void>();
  bus.addAsyncAction("a", () => gate.promise);
  await bus.doAction("a");
  const waiters = [bus.idle(), bus.idle(), bus.idle()];
  gate.resolve();
  await Promise.all(waiters);
});

// ---------------------------------------------------------------------------
// Guards

Deno.test("HookBus.checkGuards: all continue, undefined included", async () => {
  const bus = new HookBus();
  const seen: unknown[][] = [];
  bus.addGuard("g", (s, ...args) => void seen.push([s, ...args]));
  bus.addGuard("g", async (s, ...args) => {
    seen.push([s, ...args]);
    await tick();
    return { decision: "continue", reason: "fine" };
  });
  assert.deepEqual(await bus.checkGuards("g", "s", 1, 2), { decision: "continue" });
  assert.deepEqual(seen, [["s", 1, 2], ["s", 1, 2]]);
  assert.deepEqual(await bus.checkGuards("nobody", "s"), { decision: "continue" });
});

Deno.test("HookBus.checkGuards: modify replaces the subject for later guards", async () => {
  const bus = new HookBus();
  const seen: unknown[] = [];
  bus.addGuard("g", (s: number) => ({ decision: "modify", value: s + 1 }), { priority: 1 });
  bus.addGuard("g", (s: number) => void seen.push(s), { priority: 2 });
  bus.addGuard("g", (s: number) => Promise.resolve({ decision: "modify", value: s * 10 }), {
    priority: 3,
  });
  bus.addGuard("g", (s: number) => void seen.push(s), { priority: 4 });
  assert.deepEqual(await bus.checkGuards("g", 1), { decision: "modify", value: 20 });
  assert.deepEqual(seen, [2, 20]);
});

Deno.test("HookBus.checkGuards: ask lets later guards run; a later block beats it, a later modify does not", async () => {
  const bus = new HookBus();
  const ask: Verdict = { decision: "ask", question: "sure?" };
  bus.addGuard("g", () => ask, { priority: 1 });
  bus.addGuard("g", (s: number) => ({ decision: "modify", value: s + 1 }), { priority: 2 });
  bus.addGuard("g", (s: number) => (s > 10 ? { decision: "block", reason: "big" } : undefined), {
    priority: 3,
  });
  assert.equal(await bus.checkGuards("g", 1), ask);
  assert.deepEqual(await bus.checkGuards("g", 10), { decision: "block", reason: "big" });
});

Deno.test("HookBus.checkGuards: block ends the chain and is the result", async () => {
  for (const decision of ["block"] as const) {
    const bus = new HookBus();
    let later = 0;
    const verdict: Verdict = { decision, reason: "r", question: "q?" };
    bus.addGuard("g", (s: number) => ({ decision: "modify", value: s + 1 }), { priority: 1 });
    bus.addGuard("g", (s: number) => (s === 2 ? verdict : undefined), { priority: 2 });
    bus.addGuard("g", () => void later++, { priority: 3 });
    assert.equal(await bus.checkGuards("g", 1), verdict);
    assert.equal(later, 0);
    assert.deepEqual(await bus.checkGuards("g", 5), { decision: "modify", value: 6 });
    assert.equal(later, 1);
  }
});

Deno.test("HookBus.checkGuards: failures follow the policy; invalid verdicts are failures", async () => {
  const { bus, errors } = collecting();
  let last: unknown;
  bus.addGuard("g", (s: number) => ({ decision: "modify", value: s + 1 }), { priority: 1 });
  bus.addGuard("g", () => {
    throw new Error("warned");
  }, { priority: 2 });
  bus.addGuard("g", () => ({ decision: "maybe" }) as unknown as Verdict, { priority: 3 });
  bus.addGuard("g", () => null as unknown as Verdict, { priority: 4 });
  bus.addGuard("g", () => Promise.reject(new Error("ignored")), { priority: 5, fail: "ignore" });
  bus.addGuard("g", () => ({ decision: "block" }), { priority: 6, fail: "ignore" }); // not a failure
  bus.addGuard("g", (s) => void (last = s), { priority: 7 });
  assert.deepEqual(await bus.checkGuards("g", 1), { decision: "block" });
  assert.equal(last, undefined); // the block verdict ended the chain
  assert.equal(errors.length, 3);
  assert.equal(errors[0].code, "handler_failed");
  assert.match(errors[0].message, /^Cannot check guards "g"/);
  assert.ok(errors[1].cause instanceof TypeError);
  assert.ok(errors[2].cause instanceof TypeError);
});

Deno.test("HookBus.checkGuards: a blocking failure rejects with the subject it saw", async () => {
  const { bus, errors } = collecting();
  let later = 0;
  bus.addGuard("g", (s: number) => ({ decision: "modify", value: s + 1 }), { priority: 1 });
  bus.addGuard("g", async () => {
    await tick();
    throw new HookError("fuel_exhausted", "Out of fuel", { plugin: "p", hook: "g" });
  }, { priority: 2, fail: "block", plugin: "p" });
  bus.addGuard("g", () => void later++, { priority: 3 });
  await assert.rejects(bus.checkGuards("g", 1), (e: unknown) => {
    assert.ok(e instanceof HookError);
    assert.equal(e.code, "fuel_exhausted");
    assert.equal(e.value, 2);
    assert.equal((e.cause as HookError).code, "fuel_exhausted");
    return true;
  });
  assert.equal(later, 0);
  assert.deepEqual(errors, []);
});

// ---------------------------------------------------------------------------
// Re-entrancy and concurrency

Deno.test("HookBus: handlers added or removed during a dispatch take effect from the next one", async () => {
  const bus = new HookBus();
  const seen: string[] = [];
  let offLate: () => void = () => {};
  let addedOnce = false;
  bus.addFilter("t", (v: string) => {
    seen.push("first");
    if (!addedOnce) {
      addedOnce = true;
      bus.addFilter("t", (w: string) => (seen.push("added-early"), w), { priority: 0 });
      bus.addFilter("t", (w: string) => (seen.push("added-late"), w), { priority: 99 });
      offLate();
    }
    return v;
  }, { priority: 1 });
  offLate = bus.addFilter("t", (v: string) => (seen.push("removed"), v), { priority: 50 });
  await bus.applyFilters("t", "");
  assert.deepEqual(seen, ["first", "removed"]);
  seen.length = 0;
  await bus.applyFilters("t", "");
  assert.deepEqual(seen, ["added-early", "first", "added-late"]);
});

Deno.test("HookBus: a handler may unsubscribe itself mid-dispatch", async () => {
  const bus = new HookBus();
  const seen: string[] = [];
  const off = bus.addAction("a", async () => {
    off();
    await tick();
    seen.push("once");
  });
  bus.addAction("a", () => void seen.push("always"));
  await bus.doAction("a");
  await bus.doAction("a");
  assert.deepEqual(seen, ["once", "always", "always"]);
  assert.deepEqual(bus.priorities("a"), [10]);
});

Deno.test("HookBus: nested dispatches, including of the same hook", async () => {
  const bus = new HookBus();
  const trail: (string | undefined)[] = [];
  bus.addFilter("outer", async (v: number) => {
    trail.push(bus.current());
    const inner = await bus.applyFilters("inner", v);
    trail.push(bus.current());
    const verdict = await bus.checkGuards("check", inner);
    await bus.doAction("log", verdict.decision);
    return inner;
  });
  bus.addFilter("inner", async (v: number) => {
    await tick();
    trail.push(bus.current());
    return v < 3 ? await bus.applyFilters("inner", v + 1) : v;
  });
  bus.addGuard("check", () => void trail.push(bus.current()));
  bus.addAction("log", (d: string) => void trail.push(`${bus.current()}:${d}`));
  assert.equal(await bus.applyFilters("outer", 0), 3);
  assert.deepEqual(trail, [
    "outer",
    "inner",
    "inner",
    "inner",
    "inner",
    "outer",
    "check",
    "log:continue",
  ]);
  assert.equal(bus.firedCount("inner"), 4);
  assert.equal(bus.current(), undefined);
});

Deno.test("HookBus: concurrent dispatches with registrations interleaved at awaits see their snapshot", async () => {
  const rand = prng(42);
  const bus = new HookBus();
  let model: { id: number; priority: number; seq: number; off: () => void }[] = [];
  let nextId = 0;
  let seq = 0;
  const order = () =>
    model.toSorted((a, b) => a.priority - b.priority || a.seq - b.seq).map((m) => m.id);
  const mutate = (): void => {
    if (model.length > 1 && rand() < 0.4) {
      const victim = model[Math.floor(rand() * model.length)];
      victim.off();
      model = model.filter((m) => m !== victim);
    } else {
      register();
    }
  };
  const register = (): void => {
    const id = nextId++;
    const priority = Math.floor(rand() * 4) * 5;
    const off = bus.addFilter("c", async (v: number[]) => {
      const turns = Math.floor(rand() * 3);
      for (let i = 0; i < turns; i++) await tick();
      if (rand() < 0.3) mutate(); // registration while other dispatches are in flight
      return [...v, id];
    }, { priority });
    model.push({ id, priority, seq: seq++, off });
  };
  for (let i = 0; i < 5; i++) register();
  const runs: Promise<void>[] = [];
  for (let i = 0; i < 60; i++) {
    const expected = order(); // the snapshot at dispatch start
    runs.push(bus.applyFilters("c", []).then((got) => assert.deepEqual(got, expected)));
    if (i % 3 === 0) await tick();
    if (rand() < 0.3) mutate();
  }
  await Promise.all(runs);
  assert.equal(bus.firedCount("c"), 60);
  assert.deepEqual(bus.running(), []);
});

// ---------------------------------------------------------------------------
// Introspection

Deno.test("HookBus.current: follows the caller's async context across interleaved dispatches", async () => {
  const bus = new HookBus();
  const seen: Record<string, (string | undefined)[]> = { a: [], b: [] };
  for (const name of ["a", "b"]) {
    bus.addAction(name, async () => {
      for (let i = 0; i < 4; i++) {
        seen[name].push(bus.current());
        await tick();
      }
    });
  }
  assert.equal(bus.current(), undefined);
  await Promise.all([bus.doAction("a"), bus.doAction("b")]);
  assert.deepEqual(seen.a, ["a", "a", "a", "a"]);
  assert.deepEqual(seen.b, ["b", "b", "b", "b"]);
  assert.equal(bus.current(), undefined);
});

Deno.test("HookBus.current: an async action keeps its hook after doAction settled", async () => {
  const bus = new HookBus();
  const gate = Promise.withResolvers<void>();
  let seen: string | undefined = "unset";
  bus.addAsyncAction("bg", async () => {
    await gate.promise;
    seen = bus.current();
  });
  await bus.doAction("bg");
  assert.equal(bus.current(), undefined);
  gate.resolve();
  await bus.idle();
  assert.equal(seen, "bg");
});

Deno.test("HookBus.running: hooks with a dispatch in flight", async () => {
  const bus = new HookBus();
  const gate = Promise.withResolvers<void>();
  let inside: string[] = [];
  bus.addFilter("outer", async (v) => {
    await bus.doAction("inner");
    return v;
  });
  bus.addAction("inner", async () => {
    inside = bus.running();
    await gate.promise;
  });
  bus.addAsyncAction("bg", () => gate.promise);
  const p = bus.applyFilters("outer", 1);
  await bus.doAction("bg");
  assert.deepEqual(bus.running().toSorted(), ["inner", "outer"]);
  gate.resolve();
  await p;
  await bus.idle();
  assert.deepEqual(inside.toSorted(), ["inner", "outer"]);
  assert.deepEqual(bus.running(), []);
});

Deno.test("HookBus: hasHandlers, priorities, firedCount", async () => {
  const bus = new HookBus();
  assert.equal(bus.hasHandlers("h"), false);
  assert.deepEqual(bus.priorities("h"), []);
  assert.equal(bus.firedCount("h"), 0);
  await bus.doAction("h");
  assert.equal(bus.firedCount("h"), 1);
  const off = bus.addAction("h", () => {}, { priority: 3 });
  bus.addAsyncAction("h", () => {}, { priority: 1 });
  assert.equal(bus.hasHandlers("h"), true);
  assert.deepEqual(bus.priorities("h"), [1, 3]);
  bus.priorities("h").push(99); // a copy
  assert.deepEqual(bus.priorities("h"), [1, 3]);
  await bus.doAction("h");
  await bus.doAction("h");
  await bus.idle();
  assert.equal(bus.firedCount("h"), 3);
  off();
  assert.deepEqual(bus.priorities("h"), [1]);
  // A dispatch that rejects still counts as started.
  bus.addFilter("f", () => {
    throw new Error("x");
  }, { fail: "block" });
  await assert.rejects(bus.applyFilters("f", 1));
  assert.equal(bus.firedCount("f"), 1);
});

// ---------------------------------------------------------------------------
// Error sink and metrics

Deno.test("HookBus: the default error sink writes one line to console.warn", async () => {
  const bus = new HookBus();
  bus.addFilter("t", () => {
    throw new Error("multi\nline");
  }, { plugin: "p" });
  const calls = await capturingWarn(async () => {
    assert.equal(await bus.applyFilters("t", 1), 1);
  });
  assert.equal(calls.length, 1);
  const [line] = calls[0] as string[];
  assert.equal(typeof line, "string");
  assert.equal(line.includes("\n"), false);
  assert.match(line, /handler_failed/);
  assert.match(line, /"t"/);
  assert.match(line, /"p"/);
  assert.match(line, /multi line/);
});

Deno.test("HookBus: an error sink that throws never breaks a dispatch", async () => {
  const bus = new HookBus({
    onError: () => {
      throw new Error("sink down");
    },
  });
  bus.addFilter("t", () => {
    throw new Error("handler down");
  });
  bus.addFilter("t", (v: number) => v + 1);
  let result: unknown;
  const calls = await capturingWarn(async () => {
    result = await bus.applyFilters("t", 1);
  });
  assert.equal(result, 2);
  assert.equal(calls.length, 1);
  assert.match(String(calls[0][0]), /handler down.*sink down/);
});

Deno.test("HookBus: metrics are emitted with the documented names and labels", async () => {
  const metrics = recordingMetrics();
  const { bus } = collecting({ metrics });
  bus.addFilter("m", (v: number) => v + 1);
  bus.addFilter("m", () => {
    throw new Error("x");
  }, { plugin: "p", fail: "ignore" });
  await bus.applyFilters("m", 1);
  await bus.applyFilters("empty", 1);
  bus.addAsyncAction("bg", () => Promise.reject(new Error("y")), { plugin: "q" });
  await bus.doAction("bg");
  await bus.idle();
  assert.deepEqual(metrics.increments, [
    { metric: "hook.dispatch", labels: { hook: "m" } },
    { metric: "hook.failure", labels: { hook: "m", plugin: "p" } },
    { metric: "hook.dispatch", labels: { hook: "empty" } },
    { metric: "hook.dispatch", labels: { hook: "bg" } },
    { metric: "hook.failure", labels: { hook: "bg", plugin: "q" } },
  ]);
  assert.deepEqual(metrics.observations.map((o) => [o.metric, o.labels]), [
    ["hook.handler_ms", { hook: "m", plugin: "host" }],
    ["hook.handler_ms", { hook: "m", plugin: "p" }],
    ["hook.handler_ms", { hook: "bg", plugin: "q" }],
  ]);
  for (const o of metrics.observations) assert.ok(o.valueMs >= 0 && Number.isFinite(o.valueMs));
});

Deno.test("HookBus: a throwing metrics sink never breaks a dispatch and is reported once", async () => {
  const metrics: MetricsSink = {
    increment() {
      throw new Error("statsd down");
    },
    observe() {
      throw new Error("statsd down");
    },
  };
  const { bus, errors } = collecting({ metrics });
  bus.addFilter("t", (v: number) => v + 1);
  bus.addGuard("g", () => ({ decision: "ask", question: "?" }));
  bus.addAction("a", () => {});
  for (let i = 0; i < 3; i++) {
    assert.equal(await bus.applyFilters("t", i), i + 1);
    assert.equal((await bus.checkGuards("g", i)).decision, "ask");
    await bus.doAction("a");
  }
  assert.equal(errors.length, 1);
  assert.equal(errors[0].code, "handler_failed");
  assert.match(errors[0].message, /metrics/);
  assert.match(
    errors[0].message,
    /fix the metrics option \(its increment and observe must not throw\)/,
  );
  assert.equal((errors[0].cause as Error).message, "statsd down");
});

Deno.test("HookBus: with the no-op metrics sink the clock is never read", async () => {
  let reads = 0;
  const realNow = performance.now;
  Object.defineProperty(performance, "now", {
    configurable: true,
    writable: true,
    value: () => (reads++, realNow.call(performance)),
  });
  try {
    const exercise = async (bus: HookBus): Promise<void> => {
      bus.addFilter("t", (v: number) => v + 1);
      bus.addFilter("t", () => {
        throw new Error("x");
      }, { fail: "ignore" });
      bus.addAction("a", () => {});
      bus.addAsyncAction("a", () => {});
      bus.addGuard("g", () => undefined);
      await bus.applyFilters("t", 1);
      await bus.doAction("a");
      await bus.checkGuards("g", 1);
      await bus.idle();
    };
    await exercise(new HookBus());
    await exercise(new HookBus({ metrics: NOOP_METRICS }));
    assert.equal(reads, 0);
    await exercise(new HookBus({ metrics: recordingMetrics() }));
    assert.ok(reads > 0, "the stub must see clock reads when metrics are on");
  } finally {
    delete (performance as { now?: unknown }).now;
  }
  assert.equal(performance.now, realNow);
});
