/**
 * `gn build`: runs a plugin's toolchain, then pins the module it built.
 *
 * @module
 */

import { dirname, join } from "node:path";
import { HookError } from "../abi/errors.ts";
import { watToWasm } from "../fixtures/build.ts";
import { parseManifest } from "../host/manifest/mod.ts";
import { type Command, manifestPath, UsageError } from "./_util.ts";
import { pinManifest, pinText } from "./pin.ts";

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Builds the module a manifest names, then pins it: `build.sh` beside the
 * manifest when there is one (run with `sh` in that folder), otherwise the
 * `.wat` of the same name as the module, compiled with wabt.
 *
 * @param file The `plugin.toml`.
 * @returns The module path and its digest.
 * @throws {HookError} `invalid_manifest` for a bad manifest or nothing to build from;
 *   `invalid_module` when the build fails.
 */
export async function buildPlugin(file: string): Promise<{ module: string; digest: string }> {
  const text = await Deno.readTextFile(file);
  const m = parseManifest(pinText(text, `blake3:${"0".repeat(64)}`), file);
  const folder = dirname(file);
  const module = join(folder, ...m.module.split("/"));
  const script = join(folder, "build.sh");
  const wat = module.replace(/\.wasm$/, ".wat");
  if (await exists(script)) {
    const out = await new Deno.Command("sh", { args: ["build.sh"], cwd: folder }).output();
    if (!out.success) {
      throw new HookError(
        "invalid_module",
        `Cannot build plugin "${m.name}": ${script} exited with status ${out.code} (its output is above); fix the source or the toolchain`,
        { plugin: m.name },
      );
    }
  } else if (wat !== module && await exists(wat)) {
    try {
      await Deno.writeFile(module, await watToWasm(wat, await Deno.readTextFile(wat)));
    } catch (e) {
      throw new HookError(
        "invalid_module",
        `Cannot build plugin "${m.name}": ${e instanceof Error ? e.message : e}`,
        { plugin: m.name, cause: e },
      );
    }
  } else {
    throw new HookError(
      "invalid_manifest",
      `Cannot build plugin "${m.name}": no build.sh in ${folder} and no ${wat} beside the module ` +
        `"${m.module}"; add a build.sh that writes the module (gn new writes one)`,
      { plugin: m.name },
    );
  }
  const { digest } = await pinManifest(file);
  return { module, digest };
}

/** `gn build`. */
export const build: Command = {
  name: "build",
  summary: "run the plugin's toolchain (build.sh, or its .wat), then pin the module",
  help: `Usage: gn build [manifest-or-folder]

Builds the module the manifest names and pins its digest into the manifest:
- with a build.sh beside the manifest, runs \`sh build.sh\` in that folder (gn new
  writes one for AssemblyScript, Rust and C, with the exact toolchain command);
- otherwise compiles the .wat of the same name as the module with wabt (WAT needs
  no toolchain).
Without arguments: ./plugin.toml.

Options:
  -h, --help

Example:
  gn build plugins/title`,
  options: {},
  async run(args) {
    if (args.positionals.length > 1) throw new UsageError("give one manifest (or its folder)");
    const file = manifestPath(args.positionals[0]);
    const { module, digest } = await buildPlugin(file);
    console.log(`built ${module}\npinned ${file}: ${digest}`);
    return 0;
  },
};
