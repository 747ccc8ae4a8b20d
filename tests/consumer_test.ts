// The package as its users receive it. The files are exactly those `deno publish --dry-run`
// lists (parsed from its output: no second list is kept), served by a local JSR-compatible
// registry (tests/consumer/registry.ts) or copied to another folder for a path import. An app
// with its own deno.json, in a temporary folder, runs with the README's run lines: it loads
// plugins, calls every hook kind, gets typed refusals, and runs the conformance suite from the
// `./testing` export. Also: the README's process-lifetime rules, in subprocesses.
import assert from "node:assert/strict";
import { blake3 } from "hash-wasm";

const ROOT = decodeURIComponent(new URL("../", import.meta.url).pathname).replace(/\/$/, "");
const HERE = `${ROOT}/tests/consumer`;
const DENO = Deno.execPath();
const decoder = new TextDecoder();

/** The files `deno publish --dry-run` would publish, relative to `root`. */
async function publishedFiles(root: string): Promise<string[]> {
  const out = await new Deno.Command(DENO, {
    args: ["publish", "--dry-run", "--allow-dirty", "--no-check"],
    cwd: root,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = decoder.decode(out.stdout) + decoder.decode(out.stderr);
  assert.equal(out.code, 0, text);
  const files: string[] = [];
  for (const line of text.split("\n")) {
    const m = /^\s+(file:\/\/\S+) \([^)]*\)$/.exec(line);
    if (m === null) continue;
    const path = decodeURIComponent(new URL(m[1]).pathname);
    if (path.startsWith(`${root}/`)) files.push(path.slice(root.length + 1));
  }
  assert.ok(files.includes("mod.ts"), `no file list in the dry run's output:\n${text}`);
  return files;
}

/** The local modules, relative to the root, that the module graphs of `entries` reach. */
async function reached(entries: string[]): Promise<Set<string>> {
  const found = new Set<string>();
  for (const entry of entries) {
    const out = await new Deno.Command(DENO, {
      args: ["info", "--json", entry],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, decoder.decode(out.stderr));
    const info = JSON.parse(decoder.decode(out.stdout)) as { modules: { specifier: string }[] };
    for (const m of info.modules) {
      if (!m.specifier.startsWith("file://")) continue;
      const path = decodeURIComponent(new URL(m.specifier).pathname);
      if (path.startsWith(`${ROOT}/`)) found.add(path.slice(ROOT.length + 1));
    }
  }
  return found;
}

async function copy(from: string, to: string): Promise<void> {
  await Deno.mkdir(to.replace(/\/[^/]*$/, ""), { recursive: true });
  await Deno.copyFile(from, to);
}

/**
 * A manifest with `timeout_ms = 1000` (the host's ceiling): the examples ask for 50–100 ms, which
 * a start or a call can exceed on a busy CI machine running other tests meanwhile. The digest
 * pins the module, not the manifest, so the copies stay valid.
 */
function roomy(toml: string): string {
  const line = "timeout_ms = 1000";
  if (/^timeout_ms\s*=.*$/m.test(toml)) return toml.replace(/^timeout_ms\s*=.*$/m, line);
  if (/^\[limits\]$/m.test(toml)) return toml.replace(/^\[limits\]$/m, `[limits]\n${line}`);
  const at = toml.indexOf("[[hooks]]");
  return `${toml.slice(0, at)}[limits]\n${line}\n\n${toml.slice(at)}`;
}

/** Writes a plugin manifest beside a copy of `wasm`, pinned to its digest. */
async function plugin(dir: string, name: string, wasm: string, rest: string): Promise<void> {
  await copy(wasm, `${dir}/${name}/${name}.wasm`);
  const digest = await blake3(await Deno.readFile(wasm));
  await Deno.writeTextFile(
    `${dir}/${name}/plugin.toml`,
    `name = "${name}"\nversion = "1.0.0"\nabi = 1\nmodule = "${name}.wasm"\ndigest = "blake3:${digest}"\n${rest}`,
  );
}

/**
 * An app folder: its deno.json (worker-options on, `imports` as given), the app and its
 * conformance test, and plugins: the examples, a guard, and one asking for a capability the
 * host does not grant.
 */
async function makeApp(dir: string, imports: Record<string, string>): Promise<void> {
  await Deno.mkdir(`${dir}/plugins`, { recursive: true });
  await Deno.writeTextFile(
    `${dir}/deno.json`,
    JSON.stringify({ unstable: ["worker-options"], imports }, null, 2),
  );
  await copy(`${HERE}/app.ts`, `${dir}/main.ts`);
  await copy(`${HERE}/conformance_suite.ts`, `${dir}/conformance_test.ts`);
  for (const name of ["audit", "broken", "exclaim", "shout"]) {
    for await (const e of Deno.readDir(`${ROOT}/examples/${name}`)) {
      await copy(`${ROOT}/examples/${name}/${e.name}`, `${dir}/plugins/${name}/${e.name}`);
    }
    await Deno.writeTextFile(
      `${dir}/plugins/${name}/plugin.toml`,
      roomy(await Deno.readTextFile(`${dir}/plugins/${name}/plugin.toml`)),
    );
  }
  await plugin(
    `${dir}/plugins`,
    "gate",
    `${ROOT}/fixtures/identity.wasm`,
    roomy(`\n[[hooks]]\nname = "gate.check"\nkind = "guard"\n`),
  );
  await plugin(
    `${dir}/plugins`,
    "nosy",
    `${ROOT}/examples/shout/shout.wasm`,
    roomy(
      `capabilities = ["log"]\n\n[[hooks]]\nname = "the_content"\nkind = "filter"\npriority = 30\n`,
    ),
  );
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs Deno in `cwd`; a run that has not ended after `limitMs` is killed (an app must end). */
async function run(
  cwd: string,
  args: string[],
  env: Record<string, string> = {},
  limitMs = 180_000,
): Promise<Run> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), limitMs);
  try {
    const out = await new Deno.Command(DENO, {
      args,
      cwd,
      env: { NO_COLOR: "1", ...env },
      stdout: "piped",
      stderr: "piped",
      signal: abort.signal,
    }).output();
    const stderr = decoder.decode(out.stderr) +
      (abort.signal.aborted ? `\n(killed: still running after ${limitMs} ms)` : "");
    return { code: out.code, stdout: decoder.decode(out.stdout), stderr };
  } finally {
    clearTimeout(timer);
  }
}

interface AppResult {
  loaded: string[];
  refusals: Record<string, string>;
  messages: Record<string, string>;
  filter: unknown;
  count: unknown;
  guard: unknown;
  probes: Record<string, string>;
  open: { dataImport: boolean };
  remoteImport: boolean;
  observedRemoteImport: boolean | null;
}

function result(r: Run): AppResult {
  const line = r.stdout.split("\n").find((l) => l.startsWith("RESULT "));
  assert.ok(line !== undefined, `exit ${r.code}\n${r.stdout}\n${r.stderr}`);
  return JSON.parse(line.slice("RESULT ".length));
}

/** What every run of the app must show, whatever the package was loaded from. */
function assertApp(r: Run, remoteImport: boolean): void {
  assert.equal(r.code, 0, r.stderr);
  const got = result(r);
  assert.deepEqual(got.loaded, ["audit", "exclaim", "gate", "shout"]);
  assert.deepEqual(
    got.refusals,
    { broken: "digest_mismatch", nosy: "capability_denied" },
    r.stdout,
  );
  assert.equal(got.filter, "HELLO!");
  assert.equal(got.count, 2);
  assert.deepEqual(got.guard, { decision: "continue" });
  for (const [name, outcome] of Object.entries(got.probes)) assert.equal(outcome, "denied", name);
  for (const name of ["read", "net", "env", "run", "worker", "broadcastChannel", "blobUrl"]) {
    assert.equal(got.probes[name], "denied", name);
  }
  assert.equal(got.open.dataImport, true);
  assert.equal(got.remoteImport, remoteImport);
  assert.equal(
    got.observedRemoteImport,
    remoteImport,
    "the report must match what a worker can do",
  );
}

/** The README's conformance line passes for every example plugin. */
function assertConformance(r: Run): void {
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /ok \| \d+ passed.* \| 0 failed/);
  assert.match(r.stdout, /GN-LOAD-1/);
}

Deno.test("consumer: the published files, from a local JSR registry and from a path", async (t) => {
  const files = await publishedFiles(ROOT);
  // Every module the exports and the worker reach is published (the worker is reached only
  // through `new URL(...)`, which no module graph follows).
  const config = JSON.parse(await Deno.readTextFile(`${ROOT}/deno.json`));
  const entries = [
    ...Object.values(config.exports as Record<string, string>),
    "workers/plugin_worker.ts",
  ];
  for (const f of await reached(entries)) assert.ok(files.includes(f), `"${f}" is not published`);
  const tmp = await Deno.makeTempDir({ prefix: "gn_consumer_" });
  const spec = `${tmp}/files.json`;
  await Deno.writeTextFile(spec, JSON.stringify({ root: ROOT, files }));
  const registry = new Deno.Command(DENO, {
    args: [
      "run",
      "--no-lock",
      `--allow-read=${ROOT},${tmp}`,
      "--allow-net=127.0.0.1",
      `${HERE}/registry.ts`,
      spec,
    ],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const log: string[] = [];
  const lines = registry.stdout.pipeThrough(new TextDecoderStream()).getReader();
  try {
    let buffered = "";
    let port = 0;
    while (port === 0) {
      const { value, done } = await lines.read();
      assert.ok(!done, "the registry ended before it listened");
      buffered += value;
      const m = /LISTENING (\d+)/.exec(buffered);
      if (m !== null) port = Number(m[1]);
    }
    void (async () => {
      for (;;) {
        const { value, done } = await lines.read();
        if (done) return;
        log.push(value);
      }
    })();
    const host = `127.0.0.1:${port}`;
    const jsrUrl = `http://${host}/`;

    await t.step("JSR import: jsr:@gn/plugin-host, README run line", async () => {
      const app = `${tmp}/app-jsr`;
      await makeApp(app, {
        "@gn/plugin-host": "jsr:@gn/plugin-host@^0.1.0",
        "@gn/plugin-host/testing": "jsr:@gn/plugin-host@^0.1.0/testing",
      });
      // README: deno run --allow-read=deno.json,plugins --allow-import=jsr.io:443 main.ts, with
      // the registry's host in place of jsr.io:443.
      const flags = ["--allow-read=deno.json,plugins", `--allow-import=${host}`];
      const env = { JSR_URL: jsrUrl };
      const probe = `${jsrUrl}@gn/plugin-host/0.1.0/abi/packed.ts`;
      assertApp(await run(app, ["run", ...flags, "main.ts", probe], env), true);
      assertConformance(await run(app, ["test", ...flags, "conformance_test.ts"], env));
      assert.ok(
        log.join("").includes("/workers/_isolation_probe.ts"),
        "the worker came from the registry",
      );
    });

    await t.step("JSR import: deno run jsr:@gn/plugin-host/cli (gn new, build, call)", async () => {
      const app = `${tmp}/app-cli`;
      await makeApp(app, {});
      const cli = "jsr:@gn/plugin-host@^0.1.0/cli";
      const flags = ["--allow-read", "--allow-write", `--allow-import=${host}`];
      const env = { JSR_URL: jsrUrl };
      const help = await run(app, ["run", ...flags, cli, "--help"], env);
      assert.equal(help.code, 0, help.stderr);
      assert.match(help.stdout, /^ {2}inspect /m);
      const made = await run(app, ["run", ...flags, cli, "new", "title", "--lang", "wat"], env);
      assert.equal(made.code, 0, made.stderr);
      const config = JSON.parse(await Deno.readTextFile(`${app}/title/deno.json`));
      assert.equal(config.imports["@gn/plugin-host/testing"], "jsr:@gn/plugin-host@0.1.0/testing");
      const built = await run(app, ["run", ...flags, cli, "build", "title"], env);
      assert.equal(built.code, 0, built.stderr);
      const called = await run(
        app,
        ["run", ...flags, cli, "call", "--json", "title", "title_case", '"from jsr"'],
        env,
      );
      assert.equal(called.code, 0, called.stderr);
      assert.equal(JSON.parse(called.stdout).result, "From Jsr");
    });

    await t.step('JSR import, vendored ("vendor": true), README run line', async () => {
      const app = `${tmp}/app-vendor`;
      await makeApp(app, {
        "@gn/plugin-host": "jsr:@gn/plugin-host@^0.1.0",
        "@gn/plugin-host/testing": "jsr:@gn/plugin-host@^0.1.0/testing",
      });
      const config = JSON.parse(await Deno.readTextFile(`${app}/deno.json`));
      await Deno.writeTextFile(`${app}/deno.json`, JSON.stringify({ ...config, vendor: true }));
      const flags = ["--allow-read=deno.json,plugins", `--allow-import=${host}`];
      const env = { JSR_URL: jsrUrl };
      const probe = `${jsrUrl}@gn/plugin-host/0.1.0/abi/packed.ts`;
      // The first run fills vendor/ (the worker's modules too); the second runs from it.
      assertApp(await run(app, ["run", ...flags, "main.ts", probe], env), true);
      let worker: string | undefined;
      for await (const h of Deno.readDir(`${app}/vendor`)) {
        const f = `${app}/vendor/${h.name}/@gn/plugin-host/0.1.0/workers/_isolation_probe.ts`;
        if (await Deno.stat(f).then(() => true, () => false)) worker = f;
      }
      assert.ok(worker !== undefined, "the worker's modules are not in vendor/");
      assertApp(await run(app, ["run", ...flags, "main.ts", probe], env), true);
    });

    await t.step(
      "JSR import with --allow-import=127.0.0.1:1: Deno refuses the package itself",
      async () => {
        // Without the registry's host in --allow-import, Deno refuses the package itself.
        const app = `${tmp}/app-jsr`;
        const r = await run(app, [
          "run",
          "--allow-read=deno.json,plugins",
          "--allow-import=127.0.0.1:1",
          "main.ts",
        ], {
          JSR_URL: jsrUrl,
        });
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, /Requires import access to "127\.0\.0\.1:\d+"/);
      },
    );

    await t.step("path import of mod.ts from another folder, README run line", async () => {
      const pkg = `${tmp}/pkg`;
      for (const f of files) await copy(`${ROOT}/${f}`, `${pkg}/${f}`);
      const app = `${tmp}/app-path`;
      const ours = JSON.parse(await Deno.readTextFile(`${ROOT}/deno.json`));
      await makeApp(app, {
        ...ours.imports,
        "@gn/plugin-host": `${pkg}/mod.ts`,
        "@gn/plugin-host/testing": `${pkg}/testing/mod.ts`,
      });
      // README: deno run --allow-read=deno.json,plugins,<package folder> --allow-import=127.0.0.1:1
      const flags = [`--allow-read=deno.json,plugins,${pkg}`, "--allow-import=127.0.0.1:1"];
      const probe = "https://jsr.io/@std/path/1.0.0/mod.ts";
      assertApp(await run(app, ["run", ...flags, "main.ts", probe]), false);
      assertConformance(await run(app, ["test", ...flags, "conformance_test.ts"]));
    });

    await t.step(
      "path import without read on the package: permission_required names the flag",
      async () => {
        const app = `${tmp}/app-path`;
        const r = await run(app, [
          "run",
          "--allow-read=deno.json,plugins",
          "--allow-import=127.0.0.1:1",
          "main.ts",
        ]);
        // Static imports of the main module need no permission; the worker's modules do.
        const got = result(r);
        assert.equal(got.refusals.shout, "permission_required");
        assert.match(got.messages.shout, new RegExp(`run Deno with --allow-read=${tmp}/pkg$`));
      },
    );

    await t.step(
      "without read permission on deno.json: permission_required names the flag",
      async () => {
        const app = `${tmp}/app-path`;
        const r = await run(app, [
          "run",
          `--allow-read=plugins,${tmp}/pkg`,
          "--allow-import=127.0.0.1:1",
          "main.ts",
        ]);
        const got = result(r);
        assert.equal(got.refusals.shout, "permission_required");
        assert.match(got.messages.shout, new RegExp(`run Deno with --allow-read=${app}/deno.json`));
      },
    );
  } finally {
    registry.kill();
    await registry.status;
    await lines.cancel().catch(() => {});
    await Deno.remove(tmp, { recursive: true });
  }
});

/**
 * Runs `body` (after `import { PluginHost } from <mod.ts>`) as a script and reports whether the
 * process ended by itself within `graceMs` of printing its last line, `END`.
 */
async function endsAlone(
  body: string,
  graceMs: number,
  workerOptions = true,
): Promise<{ ended: boolean; out: string }> {
  const dir = await Deno.makeTempDir({ prefix: "gn_lifetime_" });
  try {
    const script = `${dir}/main.ts`;
    // Without worker-options: a config of the script's own that maps the dependencies only.
    const ours = JSON.parse(await Deno.readTextFile(`${ROOT}/deno.json`));
    await Deno.writeTextFile(`${dir}/deno.json`, JSON.stringify({ imports: ours.imports }));
    await Deno.writeTextFile(
      script,
      `import { PluginHost } from ${JSON.stringify(`${ROOT}/mod.ts`)};\nconst SHOUT = ${
        JSON.stringify(`${dir}/shout/plugin.toml`)
      };\n${body}\nconsole.log("END");\n`,
    );
    // The shout example, with room for a busy machine (see roomy()).
    for (const f of ["shout.wasm", "plugin.toml"]) {
      await copy(`${ROOT}/examples/shout/${f}`, `${dir}/shout/${f}`);
    }
    const manifest = `${dir}/shout/plugin.toml`;
    await Deno.writeTextFile(manifest, roomy(await Deno.readTextFile(manifest)));
    // The script lives outside the project: it says it runs with --unstable-worker-options.
    const child = new Deno.Command(DENO, {
      args: [
        "run",
        ...(workerOptions ? [`--config=${ROOT}/deno.json`, "--unstable-worker-options"] : []),
        `--allow-read=${ROOT},${dir}`,
        "--allow-import=127.0.0.1:1",
        script,
      ],
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const stdout = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let out = "";
    while (!out.includes("END\n")) {
      const { value, done } = await stdout.read();
      if (done) break;
      out += value;
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const ended = await Promise.race([
      child.status.then(() => true),
      new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(false), graceMs)),
    ]);
    clearTimeout(timer);
    if (!ended) child.kill();
    const status = await child.status;
    out += decoder.decode(await new Response(child.stderr).arrayBuffer());
    await stdout.cancel().catch(() => {});
    assert.ok(out.includes("END\n"), out);
    if (ended) assert.equal(status.code, 0, out);
    return { ended, out };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const OPTIONS = `{ unstableWorkerOptions: true, hooks: { the_content: "filter" } }`;

Deno.test("lifetime: a host with no plugin loaded does not keep the process alive", async () => {
  // create() alone: no worker is started (spares come with the first plugin).
  const alone = await endsAlone(`await PluginHost.create(${OPTIONS});`, 10_000);
  assert.ok(alone.ended, `create() alone kept the process alive\n${alone.out}`);
  // Load, call, unload: the last unload releases the spare worker too.
  const unloaded = await endsAlone(
    `const host = await PluginHost.create(${OPTIONS});
await host.load(SHOUT);
if (await host.bus.applyFilters("the_content", "hi") !== "HI") throw new Error("bad answer");
await host.unload("shout");`,
    10_000,
  );
  assert.ok(unloaded.ended, `unloading every plugin did not let the process end\n${unloaded.out}`);
  // Only refusals: nothing is left running either.
  const refused = await endsAlone(
    `const host = await PluginHost.create(${OPTIONS});
await host.load(${JSON.stringify(`${ROOT}/examples/broken/plugin.toml`)}).catch(() => {});`,
    10_000,
  );
  assert.ok(refused.ended, refused.out);
});

Deno.test("lifetime: a loaded plugin keeps the process alive until unload or close (documented)", async () => {
  // Deno gives a program no way to unref a web Worker: a loaded plugin's worker keeps the
  // process running, as the README says. `await using` (or close()) ends it.
  const kept = await endsAlone(
    `const host = await PluginHost.create(${OPTIONS});
await host.load(SHOUT);
await host.bus.applyFilters("the_content", "hi");`,
    3_000,
  );
  assert.equal(
    kept.ended,
    false,
    "a loaded plugin no longer keeps the process alive: update the README",
  );
  const closed = await endsAlone(
    `await using host = await PluginHost.create(${OPTIONS});
await host.load(SHOUT);
await host.bus.applyFilters("the_content", "hi");`,
    10_000,
  );
  assert.ok(closed.ended, closed.out);
});

Deno.test("lifetime: create() without worker-options starts no worker (Deno would exit 70)", async () => {
  const r = await endsAlone(
    `await PluginHost.create({});\nawait new Promise((r) => setTimeout(r, 300));`,
    10_000,
    false,
  );
  assert.ok(r.ended, r.out);
});
