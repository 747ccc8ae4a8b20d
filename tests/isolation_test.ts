// The isolation self-test: passes under the project's tasks; without the
// worker-options feature, loading fails with isolation_unavailable (not a process exit).
import assert from "node:assert/strict";
import { loadFixture } from "./_helpers.ts";

Deno.test("the worker proves it cannot read, connect, read env or run", async () => {
  const p = await loadFixture("identity");
  try {
    const { probes, workerOptions } = p.isolation;
    for (const name of ["read", "net", "env", "run", "write", "ffi", "sys"]) {
      assert.equal(probes[name], "denied", `${name}: ${probes[name]}`);
    }
    assert.equal(workerOptions, "on");
  } finally {
    await p.close();
  }
});

Deno.test("the self-test reports whether remote import is possible", async () => {
  const p = await loadFixture("identity");
  try {
    // The test task passes --allow-import=127.0.0.1:1, which closes Deno's default allow-list.
    assert.equal(p.isolation.remoteImport, false);
  } finally {
    await p.close();
  }
});

Deno.test("without worker-options: isolation_unavailable, and the process lives", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const root = new URL("../", import.meta.url);
    // The main module lives outside the project, beside an app's own deno.json that maps
    // the host's dependencies but does not enable the feature.
    const ours = JSON.parse(await Deno.readTextFile(new URL("deno.json", root)));
    await Deno.writeTextFile(`${dir}/deno.json`, JSON.stringify({ imports: ours.imports }));
    const probe = `${dir}/probe.ts`;
    await Deno.writeTextFile(
      probe,
      `import { Plugin } from ${JSON.stringify(new URL("host/plugin.ts", root).href)};
const bytes = await Deno.readFile(new URL(${
        JSON.stringify(new URL("fixtures/identity.wasm", root).href)
      }));
try {
  await Plugin.load(bytes, { name: "probe" });
  console.log("LOADED");
} catch (e) {
  console.log("CODE=" + e.code);
  console.log(e.message);
}
console.log("ALIVE");
`,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-lock", `--allow-read=${dir},${new URL(root).pathname}`, probe],
      cwd: dir,
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, stderr);
    assert.match(stdout, /CODE=isolation_unavailable/);
    assert.match(stdout, /worker-options/);
    assert.match(stdout, /ALIVE/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
