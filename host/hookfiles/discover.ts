/**
 * Discovery of hook files in layered folders (for example the user's, then
 * the project's): in each folder, `hooks.toml`, `hook.toml` and `HOOK.toml`,
 * then the same names in each of its immediate subfolders (in name order). A
 * definition of a later layer replaces the definition of the same `id` from
 * an earlier one (`enabled = false` removes it). One bad file is reported and
 * never stops the rest.
 *
 * @module
 */

import { resolve } from "node:path";
import { HookError } from "../../abi/errors.ts";
import { type HookDefinition, parseHookFile } from "./schema.ts";

/** The file names looked for, in order; the last two hold one definition. */
export const HOOK_FILE_NAMES: readonly string[] = ["hooks.toml", "hook.toml", "HOOK.toml"];

/** Largest hook file read. */
const MAX_HOOK_FILE_BYTES = 1024 * 1024;

/** What {@linkcode discoverHooks} found. */
export interface DiscoveredHooks {
  /** The effective definitions, after layering, in layer then file order. */
  definitions: HookDefinition[];
  /** The files that were refused, each with its typed error. */
  failed: { file: string; error: HookError }[];
  /** Every file read, in order. */
  files: string[];
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

async function filesIn(dir: string): Promise<string[]> {
  const out: string[] = [];
  const seen = new Set<string>();
  const add = async (folder: string) => {
    for (const name of HOOK_FILE_NAMES) {
      const path = `${folder}/${name}`;
      if (!(await isFile(path))) continue;
      const real = await Deno.realPath(path);
      if (seen.has(real)) continue; // hook.toml and HOOK.toml on a case-insensitive file system
      seen.add(real);
      out.push(path);
    }
  };
  await add(dir);
  const subs: string[] = [];
  for await (const e of Deno.readDir(dir)) if (e.isDirectory) subs.push(e.name);
  subs.sort();
  for (const s of subs) await add(`${dir}/${s}`);
  return out;
}

async function readHookFile(path: string): Promise<HookDefinition[]> {
  let bytes: Uint8Array;
  try {
    const info = await Deno.stat(path);
    if (info.size > MAX_HOOK_FILE_BYTES) {
      throw new HookError(
        "invalid_hook_file",
        `Cannot read hook file ${JSON.stringify(path)}: larger than ${MAX_HOOK_FILE_BYTES} bytes`,
      );
    }
    bytes = await Deno.readFile(path);
  } catch (cause) {
    if (cause instanceof HookError) throw cause;
    throw new HookError(
      "invalid_hook_file",
      `Cannot read hook file ${JSON.stringify(path)}: ${(cause as Error).message}`,
      { cause },
    );
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch (cause) {
    throw new HookError(
      "invalid_hook_file",
      `Invalid hook file ${JSON.stringify(path)}: not valid UTF-8`,
      { cause },
    );
  }
  const name = path.slice(path.lastIndexOf("/") + 1);
  return parseHookFile(text, { file: path, dir: resolve(path, "..") }, name !== "hooks.toml");
}

/**
 * Finds, reads and validates the hook files of each layer.
 *
 * @param layers Folders, lowest precedence first (e.g. `[userDir, projectDir]`).
 * A folder that does not exist is skipped. Paths are used as given (`~` is not expanded).
 * @returns The effective definitions and the refused files.
 *
 * @example Layering a project over a user folder
 * ```ts ignore
 * import { discoverHooks } from "./discover.ts";
 * const { definitions, failed } = await discoverHooks([`${Deno.env.get("HOME")}/.gn/hooks`, ".gn/hooks"]);
 * ```
 */
export async function discoverHooks(layers: readonly string[]): Promise<DiscoveredHooks> {
  const byId = new Map<string, HookDefinition>();
  const failed: { file: string; error: HookError }[] = [];
  const files: string[] = [];
  for (const layer of layers) {
    const dir = layer.replace(/\/+$/, "");
    let found: string[];
    try {
      if (!(await Deno.stat(dir)).isDirectory) continue;
      found = await filesIn(dir);
    } catch (cause) {
      if (cause instanceof Deno.errors.NotFound) continue;
      failed.push({
        file: dir,
        error: new HookError(
          "invalid_hook_file",
          `Cannot read hook folder ${JSON.stringify(dir)}: ${
            (cause as Error).message
          }; grant read permission on it`,
          { cause },
        ),
      });
      continue;
    }
    for (const file of found) {
      files.push(file);
      let defs: HookDefinition[];
      try {
        defs = await readHookFile(file);
      } catch (e) {
        const error = e instanceof HookError
          ? e
          : new HookError("invalid_hook_file", `Cannot read hook file "${file}": ${e}`, {
            cause: e,
          });
        failed.push({ file, error });
        continue;
      }
      for (const d of defs) {
        byId.delete(d.id); // a redefinition moves to its new layer's place
        if (d.enabled) byId.set(d.id, d);
      }
    }
  }
  return { definitions: [...byId.values()], failed, files };
}
