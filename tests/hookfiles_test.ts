// Hook files: strict validation, discovery in layered folders, binding through PluginHost
// (command handlers and wasm plugins in one chain), the host's enablement and permissions.
import assert from "node:assert/strict";
import { HookError } from "../abi/errors.ts";
import { PluginHost } from "../host/host.ts";
import { parseHookFile } from "../host/hookfiles/schema.ts";
import { discoverHooks } from "../host/hookfiles/discover.ts";
import { hookFileJsonSchema } from "../host/hookfiles/schema.ts";
import { noSurvivors, survivors } from "./_processes.ts";

const SRC = { file: "hooks.toml", dir: "/p" };
const ROOT = new URL("../", import.meta.url);

function refusal(text: string, oneHook = false): string {
  try {
    parseHookFile(text, SRC, oneHook);
  } catch (e) {
    assert.ok(e instanceof HookError);
    assert.equal(e.code, "invalid_hook_file");
    return e.message;
  }
  assert.fail("the file was accepted");
}

Deno.test("hook file: every bad key is named, unknown keys included", () => {
  const msg = refusal(`
[[hooks]]
id = "Bad Id"
hook = "tool.before"
kind = "guard"
type = "command"
command = ["x"]
timeout = 5

[[hooks]]
id = "h2"
hook = "x"
kind = "filter"
type = "http"
command = ["y"]
`);
  assert.match(msg, /^Invalid hook file "hooks.toml": key "hooks\[0\]\.id": not an id/);
  assert.match(msg, /key "hooks\[0\]\.timeout": unknown key/);
  assert.match(msg, /key "hooks\[1\]\.command": not allowed for type = "http"/);
  assert.match(msg, /key "hooks\[1\]\.url": required key is missing/);
});

Deno.test("hook file: command needs exactly one of argv and shell; regex matchers compile", () => {
  const base = 'id = "a"\nhook = "h"\nkind = "guard"\ntype = "command"\n';
  assert.match(refusal(base, true), /exactly one of `command` \(argv\) and `shell`/);
  assert.match(
    refusal(base + 'command = ["a"]\nshell = "b"\n', true),
    /exactly one of `command`/,
  );
  assert.match(
    refusal(base + 'command = ["a"]\nmatcher = "/(/"\n', true),
    /key "matcher": not a valid regular expression/,
  );
  assert.match(refusal('[[hooks]]\nid = "a"\nhook = "h"\nkind = "x"'), /not one of "action"/);
  assert.match(refusal("hooks = ["), /TOML syntax error at line 1/);
  assert.match(
    refusal(`[[hooks]]\n${base}command = ["a"]\n[[hooks]]\n${base}command = ["b"]\n`),
    /key "hooks\[1\]\.id": duplicate of hooks\[0\]\.id/,
  );
});

Deno.test("hook file: defaults (priority 10, guard fails closed), one-hook form", () => {
  const [d] = parseHookFile(
    'id = "a"\nhook = "h"\nkind = "guard"\ntype = "http"\nurl = "http://127.0.0.1:1/x"\n',
    SRC,
    true,
  );
  assert.equal(d.priority, 10);
  assert.equal(d.fail, "block");
  assert.equal(d.url, "http://127.0.0.1:1/x");
  const [f] = parseHookFile(
    '[[hooks]]\nid = "b"\nhook = "h"\nkind = "filter"\ntype = "wasm"\nplugin = "p/plugin.toml"\n',
    SRC,
    false,
  );
  assert.equal(f.fail, "warn");
});

Deno.test("hooks.schema.json is the generated schema (run deno task schema)", async () => {
  const committed = JSON.parse(await Deno.readTextFile(new URL("hooks.schema.json", ROOT)));
  assert.deepEqual(committed, hookFileJsonSchema());
});

async function tree(files: Record<string, string>): Promise<string> {
  const dir = await Deno.makeTempDir();
  for (const [path, text] of Object.entries(files)) {
    const full = `${dir}/${path}`;
    await Deno.mkdir(full.slice(0, full.lastIndexOf("/")), { recursive: true });
    await Deno.writeTextFile(full, text);
  }
  return dir;
}

const cmd = (id: string, extra = "", hook = "check") =>
  `id = "${id}"\nhook = "${hook}"\nkind = "guard"\ntype = "command"\nshell = "echo 'block: ${id}'"\n${extra}`;

Deno.test("discovery: layers override by id, one bad file never stops the rest", async () => {
  const dir = await tree({
    "user/hooks.toml": `[[hooks]]\n${cmd("a")}\n[[hooks]]\n${cmd("b")}\n[[hooks]]\n${cmd("c")}`,
    "user/extra/HOOK.toml": cmd("d"),
    "project/hooks.toml": `[[hooks]]\n${cmd("a", "priority = 1")}\n[[hooks]]\n${
      cmd("b", "enabled = false")
    }`,
    "project/broken/hook.toml": "id = 5",
  });
  const found = await discoverHooks([`${dir}/user`, `${dir}/missing`, `${dir}/project`]);
  assert.deepEqual(found.definitions.map((d) => [d.id, d.priority]), [["c", 10], ["d", 10], [
    "a",
    1,
  ]]);
  assert.equal(found.failed.length, 1);
  assert.equal(found.failed[0].file, `${dir}/project/broken/hook.toml`);
  assert.equal(found.failed[0].error.code, "invalid_hook_file");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("host: command and http handlers are off unless the host enables them", async () => {
  const dir = await tree({
    "hooks.toml": `[[hooks]]\n${cmd("a")}\n[[hooks]]\nid = "w"\nhook = "check"\nkind = "guard"\n` +
      `type = "http"\nurl = "http://127.0.0.1:9/x"\n`,
  });
  const errors: HookError[] = [];
  await using host = await PluginHost.create({ onError: (e) => errors.push(e) });
  const r = await host.loadHooks([dir]);
  assert.deepEqual(r.failed.map((f) => f.error.code), [
    "handler_not_allowed",
    "handler_not_allowed",
  ]);
  assert.equal(errors.length, 2);
  assert.deepEqual(await host.bus.checkGuards("check", 1), { decision: "continue" });
  await using host2 = await PluginHost.create({
    onError: () => {},
    handlers: { command: true, http: ["127.0.0.1:8"] },
  });
  const r2 = await host2.loadHooks([dir]);
  assert.deepEqual(r2.loaded.map((d) => d.id), ["a"]);
  assert.match(r2.failed[0].error.message, /127\.0\.0\.1:9 is not on this host's HTTP allow-list/);
  assert.deepEqual(await host2.bus.checkGuards("check", 1), { decision: "block", reason: "a" });
  await Deno.remove(dir, { recursive: true });
});

Deno.test("host: a missing Deno permission is permission_required at load", async () => {
  // A child Deno without --allow-run and --allow-net binds a command and an http hook, and opens
  // a trust store where it may not read.
  const dir = await tree({
    "hooks.toml": `[[hooks]]\n${cmd("a")}\n[[hooks]]\nid = "w"\nhook = "check"\nkind = "guard"\n` +
      `type = "http"\nurl = "http://127.0.0.1:9/x"\n`,
    "main.ts": `import { PluginHost } from ${JSON.stringify(new URL("mod.ts", ROOT).href)};
const host = await PluginHost.create({ onError: () => {}, handlers: { command: true, http: ["127.0.0.1:9"] } });
const r = await host.loadHooks([new URL(".", import.meta.url).pathname]);
console.log(JSON.stringify(r.failed.map((f) => [f.error.code, f.error.message])));
await host.close();
await PluginHost.create({ trustStore: "/var/tmp/gn-trust-${Deno.pid}.json" }).catch((e) =>
  console.log(JSON.stringify([e.code, e.message])));`,
  });
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--config",
      new URL("deno.json", ROOT).pathname,
      `--allow-read=${new URL(".", ROOT).pathname},${dir}`,
      "--allow-import=127.0.0.1:1",
      `${dir}/main.ts`,
    ],
    cwd: new URL(".", ROOT).pathname,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const [line, storeLine] = text.trim().split("\n");
  const failed = JSON.parse(line) as [string, string][];
  assert.deepEqual(failed.map((f) => f[0]), ["permission_required", "permission_required"]);
  assert.match(failed[0][1], /--allow-run=setsid/);
  assert.match(failed[1][1], /--allow-net=127\.0\.0\.1:9/);
  const [code, message] = JSON.parse(storeLine);
  assert.equal(code, "permission_required");
  assert.match(message, /Cannot read trust store/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("host: a command hook and a wasm plugin in one chain, from one hooks.toml", async () => {
  const shout = new URL("examples/shout/", ROOT).pathname;
  const dir = await tree({
    "hooks.toml": `
[[hooks]]
id = "frame"
hook = "the_content"
kind = "filter"
type = "command"
priority = 20
shell = "sed -E 's/.*\\"value\\":\\"([^\\"]*)\\".*/{\\"value\\":\\"[\\\\1]\\"}/'"

[[hooks]]
id = "shout"
hook = "the_content"
kind = "filter"
type = "wasm"
plugin = "shout/plugin.toml"
matcher = "/^[a-z ]+$/"
priority = 10
timeout_ms = 800
`,
  });
  await Deno.mkdir(`${dir}/shout`);
  for (const f of ["plugin.toml", "shout.wasm"]) {
    await Deno.copyFile(shout + f, `${dir}/shout/${f}`);
  }
  const manifest = await Deno.readTextFile(`${dir}/shout/plugin.toml`);
  await Deno.writeTextFile(
    `${dir}/shout/plugin.toml`,
    manifest.replace(/^timeout_ms = \d+$/m, "timeout_ms = 1000"),
  );
  await using host = await PluginHost.create({ handlers: { command: true }, onError: () => {} });
  const r = await host.loadHooks([dir]);
  assert.deepEqual(r.failed, []);
  assert.deepEqual(r.loaded.map((d) => d.id), ["frame", "shout"]);
  assert.equal(await host.bus.applyFilters("the_content", "hello"), "[HELLO]");
  // the matcher keeps the plugin from subjects it does not match; the command still runs
  assert.equal(await host.bus.applyFilters("the_content", "Hello"), "[Hello]");
  assert.equal(host.plugins()[0].limits.timeoutMs, 800); // the manifest asks for 1000
  assert.deepEqual(host.plugins()[0].hooks, [
    { name: "the_content", kind: "filter", priority: 10, fail: "warn" },
  ]);
  // loading again rebinds: no duplicate handlers, no duplicate plugin
  const again = await host.loadHooks([dir]);
  assert.deepEqual(again.failed, []);
  assert.deepEqual(host.bus.priorities("the_content"), [10, 20]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("host: close() kills a command still running; the call settles with closed", async () => {
  const m = `gn-close-${Deno.pid}`;
  const dir = await tree({
    "hooks.toml": `[[hooks]]\nid = "slow"\nhook = "check"\nkind = "guard"\ntype = "command"\n` +
      `shell = "sleep 60 & sleep 60"\nenv = { MARK = "${m}" }\ntimeout_ms = 120000\n`,
  });
  const host = await PluginHost.create({ handlers: { command: true }, onError: () => {} });
  await host.loadHooks([dir]);
  const check = host.bus.checkGuards("check", 1).then(() => undefined, (e) => e);
  for (let i = 0; i < 200 && survivors(m).length < 2; i++) {
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.equal(survivors(m).length >= 2, true, "the command did not start");
  await host.close();
  const e = await check;
  assert.ok(e instanceof HookError, `expected a HookError, got ${e}`);
  assert.equal(e.code, "closed");
  await noSurvivors(m);
  await Deno.remove(dir, { recursive: true });
});
