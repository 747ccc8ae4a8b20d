/**
 * `gn test`: the conformance suite against plugins.
 *
 * @module
 */

import { checkConformance, type ConformanceResult } from "../testing/conformance.ts";
import { type Command, flag, manifestPath, workerOptions } from "./_util.ts";

/** The manifests `gn test` runs when given none: ./plugin.toml, or every ./*\/plugin.toml. */
async function defaultManifests(): Promise<string[]> {
  try {
    await Deno.stat("plugin.toml");
    return ["plugin.toml"];
  } catch {
    // not a plugin folder: look one level down
  }
  const out: string[] = [];
  for await (const e of Deno.readDir(".")) {
    if (!e.isDirectory) continue;
    try {
      await Deno.stat(`${e.name}/plugin.toml`);
      out.push(`${e.name}/plugin.toml`);
    } catch {
      // no manifest there
    }
  }
  return out.sort();
}

/** `gn test`. */
export const test: Command = {
  name: "test",
  summary: "run the conformance suite against plugins",
  help: `Usage: gn test [--json] [manifest-or-folder…]

Runs the gn conformance suite (the requirements of REQUIREMENTS in
@gn/plugin-host/testing) against each plugin in the real sandbox and prints one
line per requirement and hook. Without arguments: ./plugin.toml, or every
./*/plugin.toml. Exit status 1 when any requirement fails.

Options:
  --json             print the results as JSON
  --worker-options   Deno runs with --unstable-worker-options (no deno.json enables it);
                     also GN_UNSTABLE_WORKER_OPTIONS=1 (deno task gn sets both);
                     also GN_UNSTABLE_WORKER_OPTIONS=1 (deno task gn sets both)
  -h, --help

Example:
  gn test plugins/*/plugin.toml`,
  options: { json: { type: "boolean" }, "worker-options": { type: "boolean" } },
  async run(args) {
    const files = args.positionals.length > 0
      ? args.positionals.map(manifestPath)
      : await defaultManifests();
    if (files.length === 0) {
      console.error("gn test: no plugin.toml here or in a folder below; name the manifests");
      return 1;
    }
    const all: Record<string, ConformanceResult[]> = {};
    let failed = 0;
    for (const file of files) {
      const results = await checkConformance(file, {
        unstableWorkerOptions: workerOptions(args),
      });
      all[file] = results;
      const bad = results.filter((r) => !r.ok);
      failed += bad.length;
      if (flag(args, "json")) continue;
      console.log(`${file}: ${bad.length === 0 ? "conforms" : `${bad.length} failure(s)`}`);
      for (const r of results) {
        const where = r.hook === undefined ? "" : ` (${r.hook})`;
        console.log(`  ${r.ok ? "ok  " : "FAIL"} ${r.id}${where}${r.ok ? "" : `: ${r.detail}`}`);
      }
    }
    if (flag(args, "json")) console.log(JSON.stringify(all, null, 2));
    return failed === 0 ? 0 : 1;
  },
};
