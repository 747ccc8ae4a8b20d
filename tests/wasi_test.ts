// The `wasi` capability (docs/abi.md#wasi-ext): a C plugin built against wasi-libc runs with it,
// the load check validates WASI imports exactly, and every file and socket call answers an errno.
import assert from "node:assert/strict";
import { HookError } from "../abi/errors.ts";
import { WASI_IMPORTS, WasiErrno } from "../abi/wasi.ts";
import { watToWasm } from "../fixtures/build.ts";
import { PluginHost, type PluginHostOptions } from "../host/host.ts";
import { Plugin } from "../host/plugin.ts";
import type { LogEntry } from "../host/_services.ts";

const C_DIR = new URL("../fixtures/wasi_c/", import.meta.url);
const C_MANIFEST = new URL("plugin.toml", C_DIR).pathname;
const HOOKS = {
  "wasi.upper": "filter",
  "wasi.hello": "action",
  "wasi.random": "filter",
  "wasi.exit": "action",
} as const;

async function withC(
  options: PluginHostOptions,
  body: (host: PluginHost, logs: LogEntry[]) => Promise<void>,
  capabilities?: string[],
): Promise<void> {
  const logs: LogEntry[] = [];
  await using host = await PluginHost.create({
    hooks: HOOKS,
    grants: ["wasi", "log"],
    log: (e) => logs.push(e),
    ...options,
  });
  if (capabilities === undefined) {
    await host.load(C_MANIFEST);
    await body(host, logs);
    return;
  }
  // The same plugin declaring other capabilities: a copy of its folder.
  const dir = await Deno.makeTempDir({ prefix: "gn-wasi-" });
  try {
    const toml = (await Deno.readTextFile(C_MANIFEST))
      .replace(/^capabilities = .*$/m, `capabilities = ${JSON.stringify(capabilities)}`);
    await Deno.writeTextFile(`${dir}/plugin.toml`, toml);
    await Deno.copyFile(new URL("wasi_c.wasm", C_DIR), `${dir}/wasi_c.wasm`);
    await host.load(`${dir}/plugin.toml`);
    await body(host, logs);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("wasi: a C plugin built with wasi-libc (printf, malloc) loads and answers", async () => {
  await withC({}, async (host, logs) => {
    assert.equal(await host.bus.applyFilters("wasi.upper", "hello, wasi"), "HELLO, WASI");
    await host.bus.doAction("wasi.hello", "x");
    // malloc and free across many calls: memory is reused, the calls keep answering.
    for (let i = 0; i < 2000; i++) {
      assert.equal(await host.bus.applyFilters("wasi.upper", `n${i}`), `N${i}`);
    }
    const lines = logs.map((l) => `${l.level} ${l.hook} ${l.message}`);
    assert.equal(lines[0], "info wasi.upper upper-cased 11 bytes");
    assert.ok(lines.includes("info wasi.hello hello from C: 30 bytes"), lines.join("\n"));
    assert.ok(lines.includes("warn wasi.hello a line on stderr"), lines.join("\n"));
  });
});

Deno.test("wasi: without `log`, standard output and error are discarded and calls succeed", async () => {
  await withC({}, async (host, logs) => {
    await host.bus.doAction("wasi.hello");
    assert.equal(await host.bus.applyFilters("wasi.upper", "abc"), "ABC");
    assert.deepEqual(logs, []);
  }, ["wasi"]);
});

Deno.test("wasi: proc_exit ends the call as trapped with the exit code; the next call runs", async () => {
  const errors: HookError[] = [];
  await withC({ onError: (e) => errors.push(e) }, async (host) => {
    await host.bus.doAction("wasi.exit");
    await host.bus.doAction("wasi.hello");
    assert.equal(await host.bus.applyFilters("wasi.upper", "still here"), "STILL HERE");
  });
  assert.equal(errors.length, 1);
  assert.equal(errors[0].code, "trapped");
  assert.match(errors[0].message, /exited with code 3 \(WASI proc_exit\)/);
});

Deno.test("wasi: random_get is deterministic per plugin unless the host grants real randomness", async () => {
  const firsts = async (options: PluginHostOptions): Promise<unknown[]> => {
    let out: unknown[] = [];
    await withC(options, async (host) => {
      out = [
        await host.bus.applyFilters("wasi.random", 0),
        await host.bus.applyFilters("wasi.random", 0),
      ];
    });
    return out;
  };
  const a = await firsts({});
  const b = await firsts({});
  assert.deepEqual(a, b);
  assert.notEqual(a[0], a[1]); // a sequence, not a constant
  const c = await firsts({ wasiRandom: "crypto" });
  const d = await firsts({ wasiRandom: "crypto" });
  assert.notDeepEqual(c, d);
  assert.notDeepEqual(c, a);
  await assert.rejects(
    PluginHost.create({ wasiRandom: "dev-random" as "crypto" }),
    RangeError,
  );
});

Deno.test("wasi: not granted, a WASI import is refused at load and says how to grant it", async () => {
  const bytes = await Deno.readFile(new URL("wasi_c.wasm", C_DIR));
  await assert.rejects(Plugin.load(bytes, { name: "wasi-c", granted: ["log"] }), (e: unknown) => {
    assert.ok(e instanceof HookError);
    assert.equal(e.code, "capability_denied");
    assert.match(e.message, /"wasi_snapshot_preview1"\."fd_close"/);
    assert.match(e.message, /capability "wasi"/);
    return true;
  });
});

/** A module whose hooks each call one WASI function and return its errno as the status. */
function wasiModule(imports: string, body: string): string {
  return `(module
  ${imports}
  (memory (export "memory") 1)
  (global $top (mut i32) (i32.const 1024))
  (func (export "gn_alloc") (param $n i32) (result i32) (local $p i32)
    (if (i32.gt_u (global.get $top) (i32.const 32768)) (then (global.set $top (i32.const 1024))))
    (local.set $p (global.get $top))
    (global.set $top (i32.add (local.get $p) (i32.add (local.get $n) (i32.const 8))))
    (local.get $p))
  (func (export "gn_free") (param i32 i32))
  (func $errno (param $e i32) (result i64)
    (i64.extend_i32_u (i32.sub (i32.const 0) (local.get $e))))
  (func (export "gn_handle_hook") (param $n i32) (param $nl i32) (param i32 i32) (result i64)
    (local $h i32)
    (local.set $h (i32.load8_u (local.get $n)))
    ${body}
    (i64.const 0xfffffffc)))`;
}

const imp = (name: string) => {
  const spec = WASI_IMPORTS.find((s) => s.name === name)!;
  const p = spec.type.params.length ? ` (param ${spec.type.params.join(" ")})` : "";
  const r = spec.type.results.length ? ` (result ${spec.type.results.join(" ")})` : "";
  return `(import "wasi_snapshot_preview1" "${name}" (func $${name}${p}${r}))`;
};

/** Hook names are one letter; the hook calls `call` and answers its errno. */
const CASES: [string, string, string, number][] = [
  [
    "a",
    "path_open",
    "(call $path_open (i32.const 3) (i32.const 0) (i32.const 0) (i32.const 4) (i32.const 0) (i64.const 0) (i64.const 0) (i32.const 0) (i32.const 64))",
    WasiErrno.badf,
  ],
  [
    "b",
    "fd_read",
    "(call $fd_read (i32.const 5) (i32.const 0) (i32.const 0) (i32.const 64))",
    WasiErrno.badf,
  ],
  [
    "c",
    "sock_send",
    "(call $sock_send (i32.const 1) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 64))",
    WasiErrno.notcapable,
  ],
  [
    "d",
    "fd_write",
    "(call $fd_write (i32.const 7) (i32.const 0) (i32.const 0) (i32.const 64))",
    WasiErrno.badf,
  ],
  [
    "e",
    "fd_write",
    "(call $fd_write (i32.const 1) (i32.const 0xfffffff0) (i32.const 4) (i32.const 64))",
    WasiErrno.fault,
  ],
  ["f", "fd_prestat_get", "(call $fd_prestat_get (i32.const 3) (i32.const 64))", WasiErrno.badf],
  [
    "g",
    "poll_oneoff",
    "(call $poll_oneoff (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 64))",
    WasiErrno.nosys,
  ],
  [
    "h",
    "args_sizes_get",
    "(call $args_sizes_get (i32.const 64) (i32.const 68))",
    WasiErrno.success,
  ],
  [
    "i",
    "random_get",
    "(call $random_get (i32.const 0xffffff00) (i32.const 4096))",
    WasiErrno.fault,
  ],
  [
    "j",
    "fd_seek",
    "(call $fd_seek (i32.const 1) (i64.const 0) (i32.const 0) (i32.const 64))",
    WasiErrno.spipe,
  ],
  [
    "k",
    "sock_accept",
    "(call $sock_accept (i32.const 4) (i32.const 0) (i32.const 64))",
    WasiErrno.badf,
  ],
  [
    "l",
    "fd_fdstat_get",
    "(call $fd_fdstat_get (i32.const 1) (i32.const 0xfffffff8))",
    WasiErrno.fault,
  ],
  [
    "m",
    "environ_sizes_get",
    "(call $environ_sizes_get (i32.const 64) (i32.const 0xfffffffe))",
    WasiErrno.fault,
  ],
];

Deno.test("wasi: file, socket and bad-pointer calls answer a WASI errno, never a trap", async () => {
  const names = [...new Set(CASES.map(([, n]) => n))];
  const body = CASES.map(([h, , call]) =>
    `(if (i32.eq (local.get $h) (i32.const ${
      h.charCodeAt(0)
    })) (then (return (call $errno ${call}))))`
  ).join("\n    ");
  const bytes = await watToWasm("errnos.wat", wasiModule(names.map(imp).join("\n  "), body));
  const p = await Plugin.load(bytes, { name: "errnos", granted: ["wasi"] });
  try {
    for (const [h, name, , want] of CASES) {
      if (want === 0) {
        await p.action(h);
        continue;
      }
      await assert.rejects(p.action(h), (e: unknown) => {
        assert.ok(e instanceof HookError, name);
        assert.equal(e.code, "guest_error", `${name}: ${e.message}`);
        assert.equal(e.status, -want, name);
        return true;
      });
    }
  } finally {
    await p.close();
  }
});

Deno.test("wasi: clock_time_get needs `clock`; with it, it answers Unix time in ns", async () => {
  const body = `(if (i32.eq (local.get $h) (i32.const 116)) (then
      (drop (call $clock_time_get (i32.const 0) (i64.const 1) (i32.const 64)))
      (i64.store (i32.const 1024) (i64.const 0))
      (return (call $errno (call $clock_time_get (i32.const 7) (i64.const 1) (i32.const 64))))))
    (if (i32.eq (local.get $h) (i32.const 117)) (then
      (drop (call $clock_time_get (i32.const 0) (i64.const 1) (i32.const 64)))
      (return (i64.extend_i32_u (i32.sub (i32.const 0)
        (i32.wrap_i64 (i64.div_u (i64.load (i32.const 64)) (i64.const 1000000000000))))))))`;
  const bytes = await watToWasm("clock.wat", wasiModule(imp("clock_time_get"), body));
  await assert.rejects(Plugin.load(bytes, { name: "clock", granted: ["wasi"] }), (e: unknown) => {
    assert.ok(e instanceof HookError);
    assert.equal(e.code, "capability_denied");
    assert.match(e.message, /"clock_time_get" needs capability "clock"/);
    return true;
  });
  const p = await Plugin.load(bytes, { name: "clock", granted: ["wasi", "clock"] });
  try {
    await assert.rejects(
      p.action("t"),
      (e: unknown) => (e as HookError).status === -WasiErrno.inval,
    );
    // Unix seconds / 1000 as a status: the clock reads real time in nanoseconds.
    const want = -Math.floor(Date.now() / 1e6);
    await assert.rejects(p.action("u"), (e: unknown) => {
      const s = (e as HookError).status!;
      assert.ok(Math.abs(s - want) <= 1, `${s} vs ${want}`);
      return true;
    });
  } finally {
    await p.close();
  }
});

Deno.test("wasi: an unknown WASI function or a wrong signature is refused, naming it", async () => {
  const load = async (imports: string) =>
    Plugin.load(await watToWasm("w.wat", wasiModule(imports, "")), {
      name: "w",
      granted: ["wasi"],
    });
  await assert.rejects(
    load('(import "wasi_snapshot_preview1" "fd_frobnicate" (func (param i32) (result i32)))'),
    (e: unknown) => {
      assert.ok(e instanceof HookError);
      assert.equal(e.code, "capability_denied");
      assert.match(
        e.message,
        /"wasi_snapshot_preview1"\."fd_frobnicate".*not a WASI preview 1 function/,
      );
      return true;
    },
  );
  await assert.rejects(
    load('(import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32) (result i32)))'),
    (e: unknown) => {
      assert.ok(e instanceof HookError);
      assert.equal(e.code, "capability_denied");
      assert.match(e.message, /"fd_write" has signature \(i32, i32, i32\) -> i32, expected/);
      return true;
    },
  );
  // Every served function, with its exact signature, loads.
  const all = WASI_IMPORTS.map((s) => imp(s.name)).join("\n  ");
  const p = await Plugin.load(await watToWasm("all.wat", wasiModule(all, "")), {
    name: "all",
    granted: ["wasi", "clock"],
  });
  await p.close();
});

Deno.test("wasi: the committed C module is what its header's command builds (when clang is here)", async (t) => {
  const src = await Deno.readTextFile(new URL("wasi_c.c", C_DIR));
  const cmd = src.match(/^ \* {3}(clang .*)$/m)![1].split(" ");
  let out: Deno.CommandOutput;
  const tmp = await Deno.makeTempFile({ suffix: ".wasm" });
  try {
    const args = cmd.slice(1).map((a) => a === "fixtures/wasi_c/wasi_c.wasm" ? tmp : a);
    const builtins = [...Deno.readDirSync("/usr/lib")].some((e) =>
      e.name.startsWith("llvm-") && [...walkWasiBuiltins(`/usr/lib/${e.name}`)].length > 0
    );
    if (!builtins || !exists("/usr/lib/wasm32-wasi/libc.a")) {
      await t.step({
        name: "wasi-libc or clang's wasm32 builtins absent: skipped",
        ignore: true,
        fn() {},
      });
      return;
    }
    try {
      out = await new Deno.Command("clang", {
        args,
        cwd: new URL("../", import.meta.url).pathname,
        stdout: "piped",
        stderr: "piped",
      }).output();
    } catch {
      await t.step({ name: "clang absent: skipped", ignore: true, fn: () => {} });
      return;
    }
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    assert.deepEqual(await Deno.readFile(tmp), await Deno.readFile(new URL("wasi_c.wasm", C_DIR)));
  } finally {
    await Deno.remove(tmp);
  }
});

Deno.test("wasi: the table of docs/abi.md#wasi-ext is the one the load check uses", async () => {
  const doc = await Deno.readTextFile(new URL("../docs/abi.md", import.meta.url));
  const section = doc.slice(doc.indexOf("## WASI (ext)"), doc.indexOf("## Limits"));
  const rows = section.split("\n").filter((l) => /^\| `/.test(l)).map((l) =>
    l.slice(1, -1).split(/(?<!\\)\|/).map((c) => c.trim())
  );
  const documented = rows.map(([name, sig, needs]) => {
    const m = sig.match(/^`\(([^)]*)\)(?: -> (\w+))?`$/)!;
    return {
      name: name.replaceAll("`", ""),
      params: m[1] === "" ? [] : m[1].split(", "),
      results: m[2] === undefined ? [] : [m[2]],
      needs: needs === "—" ? null : needs.replaceAll("`", ""),
    };
  });
  assert.deepEqual(
    documented,
    WASI_IMPORTS.map((s) => ({ name: s.name, ...s.type, needs: s.needs })),
  );
});

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** `<llvm>/lib/clang/<version>/lib/wasi/libclang_rt.builtins-wasm32.a`, if any. */
function* walkWasiBuiltins(llvm: string): Generator<string> {
  if (!exists(`${llvm}/lib/clang`)) return;
  for (const v of Deno.readDirSync(`${llvm}/lib/clang`)) {
    const f = `${llvm}/lib/clang/${v.name}/lib/wasi/libclang_rt.builtins-wasm32.a`;
    if (exists(f)) yield f;
  }
}
