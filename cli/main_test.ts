// The gn command, run as its users run it: a subprocess, its exit status, stdout and stderr.
import assert from "node:assert/strict";
import { join } from "node:path";
import { COMMANDS } from "./_commands.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const MAIN = join(ROOT, "cli/main.ts");
const FLAGS = [
  "--allow-read",
  "--allow-write",
  "--allow-run",
  "--allow-net",
  "--allow-env",
  "--allow-import=127.0.0.1:1",
];

interface Run {
  code: number;
  out: string;
  err: string;
}

async function gn(args: string[], cwd = ROOT): Promise<Run> {
  const o = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...FLAGS, MAIN, ...args],
    cwd,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const dec = new TextDecoder();
  return { code: o.code, out: dec.decode(o.stdout), err: dec.decode(o.stderr) };
}

/** A user error: the exit status, the typed code and message on stderr, and no stack trace. */
function userError(r: Run, code: string, status = 1): void {
  assert.equal(r.code, status, `${r.out}\n${r.err}`);
  assert.match(r.err, new RegExp(`^gn( \\w+)?: ${code}: `, "m"), r.err);
  assert.doesNotMatch(r.err, /^\s+at /m, "no stack trace");
}

async function withCopy(
  from: string,
  body: (dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "gn-cli-" });
  try {
    for await (const e of Deno.readDir(join(ROOT, from))) {
      if (e.isFile) await Deno.copyFile(join(ROOT, from, e.name), join(dir, e.name));
    }
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("gn --help lists every command; each command has --help", async () => {
  const r = await gn(["--help"]);
  assert.equal(r.code, 0);
  for (const c of COMMANDS) assert.match(r.out, new RegExp(`^  ${c.name} `, "m"));
  for (const c of COMMANDS) {
    const h = await gn([c.name, "--help"]);
    assert.equal(h.code, 0, h.err);
    assert.ok(h.out.startsWith(`Usage: gn ${c.name}`), h.out);
    assert.match(h.out, /Example/);
  }
});

Deno.test("gn: usage errors exit 2, user errors exit 1 with their code, never a stack trace", async () => {
  userError(await gn(["frobnicate"]), "usage", 2);
  userError(await gn(["pin", "--bogus"]), "usage", 2);
  userError(await gn(["call", "examples/shout"]), "usage", 2);
  userError(await gn(["pin", "no/such/plugin.toml"]), "invalid_manifest");
  userError(await gn(["inspect", "no-such.wasm"]), "not_found");
  userError(await gn(["inspect", "README.md"]), "invalid_module");
  userError(await gn(["call", "examples/broken", "the_content"]), "digest_mismatch");
  userError(await gn(["new", "Bad_Name", "--lang", "wat"]), "usage", 2);
  userError(await gn(["new", "fine", "--lang", "cobol"]), "usage", 2);
});

Deno.test("gn pin: inserts a missing digest, --check passes, then fails on a changed module", async () => {
  await withCopy("examples/shout", async (dir) => {
    const file = join(dir, "plugin.toml");
    const pinned = await Deno.readTextFile(file);
    await Deno.writeTextFile(file, pinned.replace(/^digest = .*\n/m, ""));
    assert.equal((await gn(["pin", "--check", dir])).code, 1);
    const r = await gn(["pin", dir]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /pinned blake3:[0-9a-f]{64}/);
    assert.equal(await Deno.readTextFile(file), pinned);
    assert.equal((await gn(["pin", "--check", file])).code, 0);
    const wasm = await Deno.readFile(join(dir, "shout.wasm"));
    await Deno.writeFile(join(dir, "shout.wasm"), Uint8Array.from([...wasm, 0, 1]));
    userError(await gn(["pin", "--check", file]), "digest_mismatch");
    // A manifest that is wrong in another way is refused before anything is written.
    await Deno.writeTextFile(file, pinned + "colour = 'red'\n");
    userError(await gn(["pin", file]), "invalid_manifest");
    assert.equal(await Deno.readTextFile(file), pinned + "colour = 'red'\n");
  });
});

Deno.test("gn inspect: exports, imports and the capabilities they need", async () => {
  const r = await gn(["inspect", "--json", "fixtures/wasi_c/wasi_c.wasm"]);
  assert.equal(r.code, 0, r.err);
  const s = JSON.parse(r.out);
  assert.deepEqual(s.capabilities, ["wasi"]);
  assert.equal(s.reactor, true);
  assert.deepEqual(s.missingExports, []);
  const caps = await gn(["inspect", "fixtures/caps.wasm"]);
  assert.match(caps.out, /env\.gn_state_get: func \(i32, i32\) -> i64 {2}\(needs "state"\)/);
  const bad = await gn(["inspect", "fixtures/unknown_import.wasm"]);
  assert.equal(bad.code, 1);
  assert.match(bad.out, /refused: not a gn host function/);
});

Deno.test("gn check: a declared hook the module does not answer is an error", async () => {
  const bad = await gn(["check", "fixtures/conformance/unknown_declared.toml"]);
  assert.equal(bad.code, 1, bad.out + bad.err);
  assert.match(bad.out, /^error hook conf\.unknown_declared \(filter\): unknown_hook: declared/m);
  const good = await gn(["check", "examples/audit"]);
  assert.equal(good.code, 0, good.out + good.err);
  assert.match(good.out, /^ok {4}hook audit\.count \(filter\): answered, \d+ fuel$/m);
  assert.match(good.out, /^ok {4}imports: none$/m);
});

Deno.test("gn call: result, status, fuel, time, logs; failures exit 1 with their code", async () => {
  const r = await gn(["call", "--json", "examples/shout", "the_content", '"hello"']);
  assert.equal(r.code, 0, r.err);
  const o = JSON.parse(r.out);
  assert.equal(o.result, "HELLO");
  assert.equal(o.status, "ok");
  assert.ok(o.fuel > 0 && o.ms > 0, r.out);
  const w = await gn(["call", "fixtures/wasi_c", "wasi.hello", "a", "1"]);
  assert.equal(w.code, 0, w.err);
  assert.match(w.out, /^status {2}ok$/m);
  assert.match(w.out, /^log {5}info: hello from C: \d+ bytes$/m);
  assert.match(w.out, /^log {5}warn: a line on stderr$/m);
  assert.match(w.out, /^fuel {4}\d+$/m);
  const exit = await gn(["call", "fixtures/wasi_c", "wasi.exit"]);
  assert.equal(exit.code, 1);
  assert.match(exit.out, /^status {2}trapped \(-5\): Plugin exited with code 3/m);
  userError(await gn(["call", "examples/shout", "the_contnet", '"x"']), "hook_not_declared");
  userError(await gn(["call", "examples/shout", "the_content", "not json"]), "usage", 2);
});

Deno.test("gn test: conformance passes a good plugin and names the requirement a bad one fails", async () => {
  const good = await gn(["test", "examples/shout"]);
  assert.equal(good.code, 0, good.out + good.err);
  assert.match(good.out, /examples\/shout\/plugin\.toml: conforms/);
  const bad = await gn(["test", "fixtures/conformance/leak.toml"]);
  assert.equal(bad.code, 1);
  assert.match(bad.out, /FAIL GN-LEAK-1 \(conf\.leak\): memory grew from \d+ to \d+ bytes/);
});

/** gn new, gn build, the generated tests, gn call and gn check, for one language. */
async function scaffoldWorks(lang: string): Promise<void> {
  const parent = await Deno.makeTempDir({ prefix: "gn-new-" });
  try {
    const r = await gn(["new", "title", "--lang", lang], parent);
    assert.equal(r.code, 0, r.err);
    const dir = join(parent, "title");
    userError(await gn(["new", "title", "--lang", "wat"], parent), "usage", 2); // exists
    const b = await gn(["build", "title"], parent);
    assert.equal(b.code, 0, b.err);
    assert.match(b.out, /pinned .*plugin\.toml: blake3:[0-9a-f]{64}/);
    const c = await gn(["call", "--json", dir, "title_case", '"hello plugin world"']);
    assert.equal(JSON.parse(c.out).result, "Hello Plugin World", c.err);
    const t = await new Deno.Command(Deno.execPath(), {
      args: ["task", "test"],
      cwd: dir,
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
    const out = new TextDecoder().decode(t.stdout) + new TextDecoder().decode(t.stderr);
    assert.ok(t.success, out);
    assert.match(out, /gn conformance: .*plugin\.toml \.\.\. ok/);
    assert.match(out, /GN-LEAK-1 \(title_case\) \.\.\. ok/);
    assert.match(out, /title_case upper-cases the first letter of every word \.\.\. ok/);
    assert.equal((await gn(["check", dir])).code, 0);
  } finally {
    await Deno.remove(parent, { recursive: true });
  }
}

Deno.test("gn new --lang wat: builds, passes its own tests and answers as generated", async () => {
  await scaffoldWorks("wat");
});
