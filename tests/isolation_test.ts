// The isolation self-test: passes under the project's tasks; without the
// worker-options feature, loading fails with isolation_unavailable (not a process exit).
import assert from "node:assert/strict";
import { loadFixture } from "./_helpers.ts";
import { missingPermission, remoteImportPossible } from "../host/_isolation.ts";

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

Deno.test("the worker has no nested workers, BroadcastChannel or blob URLs, and cannot import files", async () => {
  const p = await loadFixture("identity");
  try {
    const { probes, open } = p.isolation;
    // closed before the self-test runs (and before any guest is instantiated)
    assert.equal(probes.worker, "denied");
    assert.equal(probes.broadcastChannel, "denied");
    assert.equal(probes.blobUrl, "denied");
    // the package is loaded from a path here: a dynamic import of a file needs read permission
    assert.equal(probes.fileImport, "denied");
    // reported, not enforced: a data: import is what eval already allows
    assert.equal(open?.dataImport, true);
  } finally {
    await p.close();
  }
});

Deno.test("remote import: always possible for a worker loaded from a remote origin", () => {
  // The worker's own host is allowed, or it could not have loaded: JSR, https, vendored.
  assert.equal(
    remoteImportPossible(new URL("https://jsr.io/@gn/plugin-host/0.1.0/workers/plugin_worker.ts")),
    true,
  );
  assert.equal(
    remoteImportPossible(new URL("http://127.0.0.1:4545/workers/plugin_worker.ts")),
    true,
  );
  // From a path, under --allow-import=127.0.0.1:1 (this task's flag): closed.
  assert.equal(remoteImportPossible(new URL(import.meta.url)), false);
});

Deno.test("a missing permission of the host names the flag that grants it", () => {
  const read = missingPermission(
    'Requires read access to "/srv/pkg/workers/plugin_worker.ts", run again with the --allow-read flag',
    "/srv/pkg",
  );
  assert.deepEqual(read, {
    name: "read",
    target: "/srv/pkg/workers/plugin_worker.ts",
    flag: "--allow-read=/srv/pkg",
  });
  const imp = missingPermission(
    'Requires import access to "jsr.io:443", run again with the --allow-import flag',
    undefined,
  );
  assert.deepEqual(imp, {
    name: "import",
    target: "jsr.io:443",
    flag: "--allow-import=jsr.io:443",
  });
  assert.equal(
    missingPermission("RangeError: Maximum call stack size exceeded", "/srv/pkg"),
    undefined,
  );
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
