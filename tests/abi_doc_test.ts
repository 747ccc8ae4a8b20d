// docs/abi.md is the ABI specification that ships with the package. These tests keep it and the
// code from drifting apart: every anchor the code cites exists, the status, export and host-import
// tables match the tables the host runs on, the WAT plugin in it loads and answers as described,
// and `deno publish` includes it.
import assert from "node:assert/strict";
import { HOOK_ERROR_CODES, HookError } from "../abi/errors.ts";
import { ABI_VERSION_EXPORT, HOST_IMPORTS, REQUIRED_EXPORTS } from "../abi/imports.ts";
import { codeForStatus, Status } from "../abi/status.ts";
import { watToWasm } from "../fixtures/build.ts";
import { Plugin } from "../host/plugin.ts";

const ROOT = new URL("../", import.meta.url);
const DOC = await Deno.readTextFile(new URL("docs/abi.md", ROOT));

/** GitHub's heading anchor: lower case, punctuation other than `-` and `_` dropped, spaces to `-`. */
function slug(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, "").replace(/ /g, "-");
}

function anchors(markdown: string): Set<string> {
  const out = new Set<string>();
  let fenced = false;
  for (const line of markdown.split("\n")) {
    if (line.startsWith("```")) fenced = !fenced;
    const m = !fenced && line.match(/^#{1,6} (.+)$/);
    if (m) out.add(slug(m[1]));
  }
  return out;
}

/** The rows of the first table after the heading `title`, as arrays of trimmed cells. */
function table(title: string): string[][] {
  const lines = DOC.split("\n");
  let i = lines.findIndex((l) => /^#{1,6} /.test(l) && l.replace(/^#+ /, "") === title);
  assert.ok(i >= 0, `heading "${title}" not found`);
  while (i < lines.length && !lines[i].startsWith("|")) i++;
  const rows: string[][] = [];
  for (; i < lines.length && lines[i].startsWith("|"); i++) {
    // Split on unescaped pipes only ("\|" stays in its cell).
    const cells = lines[i].slice(1, -1).split(/(?<!\\)\|/).map((c) => c.trim());
    if (cells.every((c) => /^:?-+:?$/.test(c))) continue;
    rows.push(cells);
  }
  return rows.slice(1); // without the header row
}

async function* sourceFiles(dir: URL): AsyncGenerator<URL> {
  for await (const e of Deno.readDir(dir)) {
    if (e.name.startsWith(".") || e.name === "node_modules") continue;
    const url = new URL(e.name + (e.isDirectory ? "/" : ""), dir);
    if (e.isDirectory) yield* sourceFiles(url);
    else if (/\.(ts|wat|md)$/.test(e.name)) yield url;
  }
}

Deno.test("every docs/abi.md anchor cited in the code, and every #link in the doc, exists", async () => {
  const known = anchors(DOC);
  const cited = new Map<string, string[]>();
  for await (const url of sourceFiles(ROOT)) {
    const text = await Deno.readTextFile(url);
    for (const m of text.matchAll(/docs\/abi\.md#([A-Za-z0-9_-]+)/g)) {
      const where = url.pathname.slice(ROOT.pathname.length);
      cited.set(m[1], [...(cited.get(m[1]) ?? []), where]);
    }
  }
  for (const m of DOC.matchAll(/\]\(#([A-Za-z0-9_-]+)\)/g)) {
    cited.set(m[1], [...(cited.get(m[1]) ?? []), "docs/abi.md"]);
  }
  assert.ok(cited.size >= 8, `expected the code to cite docs/abi.md, found ${[...cited.keys()]}`);
  const missing = [...cited].filter(([a]) => !known.has(a)).map(([a, w]) => `#${a} (${w})`);
  assert.deepEqual(missing, [], `anchors missing from docs/abi.md: ${missing.join(", ")}`);
  // No comment still points at the contract the package does not ship.
  const stale: string[] = [];
  for await (const url of sourceFiles(ROOT)) {
    if (!url.pathname.endsWith(".ts")) continue;
    if (/CONTRACT\s§/.test(await Deno.readTextFile(url))) stale.push(url.pathname);
  }
  assert.deepEqual(stale, []);
});

Deno.test("the status table of docs/abi.md is abi/status.ts", () => {
  const rows = table("Statuses");
  const documented = rows.map(([status, name]) => [name.replace(/`/g, ""), Number(status)]);
  assert.deepEqual(documented, Object.entries(Status));
  for (const [status, name, , asReturn] of rows) {
    const n = Number(status);
    const expected = n === 0 ? "(success)" : `\`${codeForStatus(n)}\``;
    assert.equal(asReturn, expected, `status ${n} (${name}) as a hook return`);
  }
});

/** `(a: i32, b: i32) -> i64` → params and results. */
function signature(text: string): { params: string[]; results: string[] } {
  const m = text.match(/\(([^)]*)\)\s*->\s*(\(\)|i32|i64)/);
  assert.ok(m, `not a signature: ${text}`);
  const params = m[1].trim() === "" ? [] : m[1].split(",").map((p) => p.split(":")[1].trim());
  return { params, results: m[2] === "()" ? [] : [m[2]] };
}

Deno.test("the export table of docs/abi.md is the one the load check uses", () => {
  const rows = table("Exports");
  const docs = new Map(rows.map(([name, sig]) => [name.replace(/`| \(ext\)/g, ""), sig]));
  for (const e of [...REQUIRED_EXPORTS, ABI_VERSION_EXPORT]) {
    const sig = docs.get(e.name);
    assert.ok(sig !== undefined, `export ${e.name} not documented`);
    if (e.type === "memory") assert.match(sig, /^memory/);
    else assert.deepEqual(signature(sig), e.type, e.name);
  }
  assert.equal(docs.size, REQUIRED_EXPORTS.length + 1);
});

Deno.test("the host import table of docs/abi.md is the one the load check uses", () => {
  const rows = table("Host imports");
  const documented = rows.map(([token, imp]) => {
    const name = imp.match(/`(\w+)\(/)![1];
    const t = token.replace(/`| \(ext\)/g, "");
    return { name, type: signature(imp), token: t === "always" ? null : t };
  });
  assert.deepEqual(documented, HOST_IMPORTS.map((s) => ({ ...s })));
});

Deno.test("the WAT plugin of docs/abi.md loads and answers as the doc says", async () => {
  const wat = DOC.match(/## A complete plugin in WAT[\s\S]*?```wat\n([\s\S]*?)```/);
  assert.ok(wat, "no wat block under 'A complete plugin in WAT'");
  const p = await Plugin.load(await watToWasm("abi.md.wat", wat[1]), { name: "answer" });
  try {
    assert.equal(await p.action("ping", ["x"]), undefined);
    assert.equal(await p.filter("answer", "what is it?"), 42);
    await assert.rejects(p.action("other"), (e: unknown) => {
      assert.ok(e instanceof HookError);
      assert.equal(e.code, "unknown_hook");
      assert.equal(e.status, -4);
      assert.match(e.message, /this plugin handles ping and answer/);
      return true;
    });
    // Its allocator starts over when everything is freed: the host freed name, payload and body.
    for (let i = 0; i < 1000; i++) assert.equal(await p.filter("answer", i), 42);
  } finally {
    await p.close();
  }
});

Deno.test("docs/abi.md is in the published package", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["publish", "--dry-run", "--allow-dirty"],
    cwd: ROOT.pathname,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert.ok(out.success, text);
  assert.match(text, /\/docs\/abi\.md \(/, "docs/abi.md is not in the publish dry run's file list");
});

Deno.test("the README's error policy names every HookError code", async () => {
  const readme = await Deno.readTextFile(new URL("README.md", ROOT));
  const policy = readme.slice(
    readme.indexOf("### Errors"),
    readme.indexOf("\n## ", readme.indexOf("### Errors")),
  );
  assert.ok(policy.length > 100, "no Errors section in the README");
  const missing = HOOK_ERROR_CODES.filter((c) => !policy.includes(`\`${c}\``));
  assert.deepEqual(missing, [], `codes missing from the README's error policy: ${missing}`);
});
