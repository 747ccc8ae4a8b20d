// Command and HTTP handlers against real subprocesses and a real HTTP server on 127.0.0.1,
// hostile ones included. Every hostile case must end in a typed outcome and leave no process
// behind: each command gets a unique MARK in its environment, inherited by everything it forks,
// and /proc is scanned for it afterwards.
import assert from "node:assert/strict";
import { HookBus } from "../host/bus.ts";
import { HookError } from "../abi/errors.ts";
import { bindDefinition, type HandlersConfig } from "../host/handlers/binding.ts";
import type { HookDefinition } from "../host/hookfiles/schema.ts";
import { noSurvivors } from "./_processes.ts";

const ALL: HandlersConfig = { command: true, killGraceMs: 200 };

let marks = 0;
function mark(): string {
  return `gn-test-${Deno.pid}-${++marks}`;
}

function def(over: Partial<HookDefinition> & { env?: Record<string, string> }): HookDefinition {
  return {
    id: "t",
    hook: "check",
    kind: "guard",
    type: "command",
    priority: 10,
    fail: "block",
    enabled: true,
    file: "hooks.toml",
    dir: Deno.cwd(),
    index: 0,
    timeoutMs: 5000,
    ...over,
  } as HookDefinition;
}

async function guard(shell: string, over: Partial<HookDefinition> = {}, subject: unknown = "x") {
  const bus = new HookBus({ onError: () => {} });
  const m = mark();
  bindDefinition(bus, def({ shell, env: { MARK: m }, ...over }), ALL);
  let outcome: unknown;
  try {
    outcome = await bus.checkGuards("check", subject);
  } catch (e) {
    outcome = e;
  }
  await noSurvivors(m);
  return outcome;
}

function code(e: unknown): string {
  assert.ok(e instanceof HookError, `expected a HookError, got ${e}`);
  return e.code;
}

Deno.test("command: the four output forms become verdicts", async () => {
  assert.deepEqual(await guard("echo continue"), { decision: "continue" });
  assert.deepEqual(await guard("true"), { decision: "continue" });
  assert.deepEqual(await guard("echo 'block: no rm'"), { decision: "block", reason: "no rm" });
  assert.deepEqual(await guard("echo 'ask: really?'"), { decision: "ask", question: "really?" });
  assert.deepEqual(
    await guard(`echo '{"decision":"modify","value":{"n":2}}'`),
    { decision: "modify", value: { n: 2 } },
  );
  assert.equal(code(await guard("echo maybe")), "bad_response");
});

Deno.test("command: argv runs without a shell; context JSON on stdin; GN_* variables", async () => {
  // No shell: the metacharacters reach the program as one literal argument.
  assert.deepEqual(
    await guard("", { shell: undefined, command: ["echo", "block: $HOME; `id`"] }),
    { decision: "block", reason: "block: $HOME; `id`".slice(7) },
  );
  const bus = new HookBus();
  bindDefinition(bus, def({ kind: "filter", shell: "cat", id: "echo-ctx" }), ALL);
  const ctx = await bus.applyFilters("check", { text: "hi" }, 7);
  // cat answers the context itself: a JSON object with "value", read as the new value
  assert.deepEqual(ctx, { text: "hi" });
  const bus2 = new HookBus();
  bindDefinition(
    bus2,
    def({ shell: 'echo "block: $GN_HOOK $GN_HOOK_KIND $GN_HOOK_ID"; cat >/dev/null', id: "envs" }),
    ALL,
  );
  assert.deepEqual(await bus2.checkGuards("check", 1), {
    decision: "block",
    reason: "check guard envs",
  });
});

Deno.test("command: the environment is reduced to the allow-list and GN_* variables", async () => {
  const v = await guard(`echo "block: $(env | cut -d= -f1 | sort | tr '\\n' ' ')"`) as {
    reason: string;
  };
  const names = v.reason.split(" ").filter((n) => n !== "");
  // PWD is set by sh itself
  const allowed = new Set([
    "PATH",
    "LANG",
    "LC_ALL",
    "TZ",
    "MARK",
    "PWD",
    "SHLVL",
    "_",
    "GN_HOOK",
    "GN_HOOK_KIND",
    "GN_HOOK_ID",
    "GN_HOOK_FILE",
    "GN_HOOK_DIR",
  ]);
  assert.deepEqual(names.filter((n) => !allowed.has(n)), []);
  assert.ok(names.includes("GN_HOOK") && names.includes("PATH"));
});

Deno.test("command: a working directory relative to the hook file's folder", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.mkdir(`${dir}/sub`);
  const v = await guard('echo "block: $(pwd)"', { dir, cwd: "sub" }) as { reason: string };
  assert.equal(v.reason, await Deno.realPath(`${dir}/sub`));
  await Deno.remove(dir, { recursive: true });
});

Deno.test("hostile command: floods stdout → response_too_large, group killed", async () => {
  const e = await guard("yes flood");
  assert.equal(code(e), "response_too_large");
  assert.match((e as Error).message, /stdout went over 1048576 bytes/);
});

Deno.test("hostile command: floods stderr → response_too_large", async () => {
  assert.equal(code(await guard("yes flood >&2")), "response_too_large");
});

// The bound on these two is loose on purpose (60 s of sleep against 20 s): it tells "the group was
// killed" from "the call waited for the process to end by itself", not speed.
Deno.test("hostile command: ignores SIGTERM → timeout, SIGKILL after the grace", async () => {
  const t0 = performance.now();
  const e = await guard("trap '' TERM; sleep 60; echo continue", { timeoutMs: 300 });
  assert.equal(code(e), "timeout");
  assert.ok(
    performance.now() - t0 < 20_000,
    "the call waited for the process instead of killing it",
  );
});

Deno.test("hostile command: forks a child that outlives it → the child is killed", async () => {
  // The subshell's background sleep is reparented when sh exits; it still holds stdout.
  const v = await guard("(sleep 60 &) ; echo continue");
  assert.deepEqual(v, { decision: "continue" });
});

Deno.test("hostile command: a forked child in the background on timeout is killed too", async () => {
  const t0 = performance.now();
  assert.equal(code(await guard("sleep 60 & sleep 60", { timeoutMs: 300 })), "timeout");
  assert.ok(
    performance.now() - t0 < 20_000,
    "the call waited for the process instead of killing it",
  );
});

Deno.test("hostile command: writes invalid UTF-8 → bad_response", async () => {
  const e = await guard("printf 'block: \\377\\376'");
  assert.equal(code(e), "bad_response");
  assert.match((e as Error).message, /not valid UTF-8/);
});

Deno.test("hostile command: never reads a 2 MiB stdin → still answers", async () => {
  const v = await guard("exec 0<&-; echo 'block: did not read'", {}, "x".repeat(2 * 1024 * 1024));
  assert.deepEqual(v, { decision: "block", reason: "did not read" });
});

Deno.test("command: a non-zero exit is command_failed with stderr, under the fail policy", async () => {
  const e = await guard("echo oops >&2; exit 3");
  assert.equal(code(e), "command_failed");
  assert.match((e as Error).message, /exited 3: oops/);
  // warn policy: reported, the guard chain carries on
  const errors: HookError[] = [];
  const bus = new HookBus({ onError: (x) => errors.push(x) });
  bindDefinition(bus, def({ shell: "exit 1", fail: "warn" }), ALL);
  assert.deepEqual(await bus.checkGuards("check", 1), { decision: "continue" });
  assert.equal(errors[0]?.code, "command_failed");
  assert.equal(errors[0]?.plugin, "hook:t");
});

Deno.test("command: a filter that answers block fails under its fail policy", async () => {
  const bus = new HookBus({ onError: () => {} });
  bindDefinition(bus, def({ kind: "filter", shell: "echo 'block: nope'", fail: "block" }), ALL);
  await assert.rejects(bus.applyFilters("check", "v"), (e) => code(e) === "handler_failed");
});

Deno.test("command: the matcher picks subjects (exact, A|B, prefix*, /regex/)", async () => {
  const bus = new HookBus();
  bindDefinition(
    bus,
    def({
      shell: "cat >/dev/null; echo 'block: matched'",
      matcher: "Bash|mcp__*",
      matchField: "tool",
    }),
    ALL,
  );
  assert.equal((await bus.checkGuards("check", { tool: "Bash" })).decision, "block");
  assert.equal((await bus.checkGuards("check", { tool: "mcp__fs" })).decision, "block");
  assert.equal((await bus.checkGuards("check", { tool: "Write" })).decision, "continue");
  assert.equal((await bus.checkGuards("check", "Bash")).decision, "continue");
  const bus2 = new HookBus();
  bindDefinition(bus2, def({ shell: "echo 'block: re'", matcher: "/^rm\\b/" }), ALL);
  assert.equal((await bus2.checkGuards("check", "rm -rf /")).decision, "block");
  assert.equal((await bus2.checkGuards("check", "ls")).decision, "continue");
});

// -- HTTP ---------------------------------------------------------------------

/** A raw TCP server on 127.0.0.1: full control over what goes on the wire. */
function rawServer(
  handle: (conn: Deno.Conn, stats: { written: number }, closed: Promise<void>) => Promise<void>,
): { port: number; stats: { written: number }; close: () => Promise<void> } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { promise: closed, resolve: release } = Promise.withResolvers<void>();
  const stats = { written: 0 };
  const conns = new Set<Deno.Conn>();
  const tasks: Promise<void>[] = [];
  const loop = (async () => {
    for await (const conn of listener) {
      conns.add(conn);
      tasks.push(
        (async () => {
          // read the request head (and whatever body arrives) before answering
          const buf = new Uint8Array(65536);
          try {
            await conn.read(buf);
            await handle(conn, stats, closed);
          } catch {
            // the client went away
          } finally {
            conns.delete(conn);
            try {
              conn.close();
            } catch {
              // closed already
            }
          }
        })(),
      );
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    stats,
    close: async () => {
      release();
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch {
          // closed already
        }
      }
      await loop.catch(() => {});
      await Promise.all(tasks);
    },
  };
}

const enc = new TextEncoder();

async function httpGuard(port: number, path = "/hook", over: Partial<HookDefinition> = {}) {
  const bus = new HookBus({ onError: () => {} });
  bindDefinition(
    bus,
    def({ type: "http", url: `http://127.0.0.1:${port}${path}`, ...over }),
    { http: [`127.0.0.1:${port}`] },
  );
  try {
    return await bus.checkGuards("check", { tool: "Bash" });
  } catch (e) {
    return e;
  }
}

Deno.test("http: posts the context JSON, reads the verdict from the body", async () => {
  let got: unknown;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    got = { method: req.method, type: req.headers.get("content-type"), body: await req.json() };
    return new Response("block: logged and refused");
  });
  const v = await httpGuard(server.addr.port);
  await server.shutdown();
  assert.deepEqual(v, { decision: "block", reason: "logged and refused" });
  assert.deepEqual(got, {
    method: "POST",
    type: "application/json",
    body: { hook: "check", kind: "guard", id: "t", value: { tool: "Bash" }, args: [] },
  });
});

Deno.test("http: a same-host redirect is followed; a non-2xx status is http_failed", async () => {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const path = new URL(req.url).pathname;
    if (path === "/old") return new Response(null, { status: 307, headers: { location: "/new" } });
    if (path === "/new") return new Response('{"decision":"ask","question":"ok?"}');
    return new Response("no", { status: 500 });
  });
  assert.deepEqual(await httpGuard(server.addr.port, "/old"), { decision: "ask", question: "ok?" });
  const e = await httpGuard(server.addr.port, "/else");
  await server.shutdown();
  assert.equal(code(e), "http_failed");
  assert.equal((e as HookError).status, 500);
});

Deno.test("hostile server: redirects to another host → http_failed, not followed", async () => {
  let elsewhere = 0;
  const other = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
    elsewhere++;
    return new Response("continue");
  });
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () =>
      new Response(null, {
        status: 307,
        headers: { location: `http://127.0.0.1:${other.addr.port}/hook` },
      }),
  );
  const e = await httpGuard(server.addr.port);
  await server.shutdown();
  await other.shutdown();
  assert.equal(code(e), "http_failed");
  assert.match((e as Error).message, /another host, scheme or port, which is never followed/);
  assert.equal(elsewhere, 0);
});

Deno.test("hostile server: stalls → timeout", async () => {
  const server = rawServer((_conn, _stats, closed) => closed);
  const e = await httpGuard(server.port, "/hook", { timeoutMs: 300 });
  assert.equal(code(e), "timeout");
  await server.close();
});

Deno.test("hostile server: sends headers then stalls the body → timeout", async () => {
  const server = rawServer(async (conn, _stats, closed) => {
    await conn.write(enc.encode("HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nblock"));
    await closed;
  });
  const e = await httpGuard(server.port, "/hook", { timeoutMs: 300 });
  assert.equal(code(e), "timeout");
  await server.close();
});

Deno.test("hostile server: answers 100 MiB → response_too_large, streamed not buffered", async () => {
  const total = 100 * 1024 * 1024;
  const server = rawServer(async (conn, stats) => {
    await conn.write(enc.encode(`HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\n`));
    const chunk = new Uint8Array(64 * 1024).fill(0x61);
    while (stats.written < total) stats.written += await conn.write(chunk);
  });
  const e = await httpGuard(server.port);
  assert.equal(code(e), "response_too_large");
  await server.close();
  // The client stopped reading at the cap: the server could not push the whole 100 MiB.
  assert.ok(stats(server) < total / 2, `server wrote ${stats(server)} bytes`);
});

function stats(server: { stats: { written: number } }): number {
  return server.stats.written;
}

Deno.test("hostile server: a declared 100 MiB content-length is refused before reading", async () => {
  const server = rawServer(async (conn, s) => {
    await conn.write(enc.encode(`HTTP/1.1 200 OK\r\ncontent-length: ${100 * 1024 * 1024}\r\n\r\n`));
    const chunk = new Uint8Array(64 * 1024);
    while (s.written < 100 * 1024 * 1024) s.written += await conn.write(chunk);
  });
  assert.equal(code(await httpGuard(server.port)), "response_too_large");
  await server.close();
});

Deno.test("http: a body that is not UTF-8 → bad_response", async () => {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response(new Uint8Array([0x62, 0xff, 0xfe])),
  );
  const e = await httpGuard(server.addr.port);
  await server.shutdown();
  assert.equal(code(e), "bad_response");
});

Deno.test("command: an action gets its arguments on stdin (no value), its output is ignored", async () => {
  const dir = await Deno.makeTempDir();
  const bus = new HookBus();
  bindDefinition(
    bus,
    def({
      kind: "action",
      hook: "saved",
      shell: 'cat > "$OUT"; echo continue',
      env: { OUT: `${dir}/ctx` },
    }),
    ALL,
  );
  await bus.doAction("saved", "post-1", { n: 2 });
  assert.deepEqual(JSON.parse(await Deno.readTextFile(`${dir}/ctx`)), {
    hook: "saved",
    kind: "action",
    id: "t",
    args: ["post-1", { n: 2 }],
  });
  await Deno.remove(dir, { recursive: true });
});
