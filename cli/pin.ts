/**
 * `gn pin`: writes the BLAKE3 digest of a plugin's module into its
 * `plugin.toml` (replacing the `digest` line, or adding one), after checking
 * the manifest; `--check` only compares.
 *
 * @module
 */

import { blake3 } from "hash-wasm";
import { dirname, isAbsolute, join, relative } from "node:path";
import { HookError } from "../abi/errors.ts";
import { type Manifest, parseManifest } from "../host/manifest/mod.ts";
import { type Command, flag, manifestPath, UsageError } from "./_util.ts";

/**
 * The `blake3:<hex>` digest of `bytes`.
 *
 * @param bytes Module bytes.
 * @returns The digest as written in a manifest.
 *
 * @example
 * ```ts
 * import { digestOf } from "./pin.ts";
 * import assert from "node:assert/strict";
 * assert.match(await digestOf(new Uint8Array([0, 97, 115, 109])), /^blake3:[0-9a-f]{64}$/);
 * ```
 */
export async function digestOf(bytes: Uint8Array): Promise<string> {
  return `blake3:${await blake3(bytes)}`;
}

/**
 * The manifest text with its top-level `digest` line set to `digest`: the
 * line is replaced when there is one, otherwise added after the `module` line
 * (or before the first table when there is no `module` line).
 *
 * @param text The manifest.
 * @param digest What {@linkcode digestOf} returned.
 * @returns The pinned manifest.
 */
export function pinText(text: string, digest: string): string {
  const line = `digest = "${digest}"`;
  const top = text.search(/^\s*\[/m);
  const head = top < 0 ? text : text.slice(0, top);
  const rest = top < 0 ? "" : text.slice(top);
  if (/^digest\s*=.*$/m.test(head)) return head.replace(/^digest\s*=.*$/m, line) + rest;
  const module = head.match(/^module\s*=.*$/m);
  if (module !== null) {
    const at = module.index! + module[0].length;
    return `${head.slice(0, at)}\n${line}${head.slice(at)}${rest}`;
  }
  return `${head}${head === "" || head.endsWith("\n") ? "" : "\n"}${line}\n${rest}`;
}

/** What {@linkcode pinManifest} did. */
export interface PinResult {
  /** The manifest. */
  file: string;
  /** The validated manifest (its `digest` as found, or a placeholder when there was none). */
  manifest: Manifest;
  /** The module's path. */
  module: string;
  /** The module's digest. */
  digest: string;
  /** The digest the manifest had, if any. */
  previous: string | undefined;
  /** Whether the manifest was (or, with `check`, would be) changed. */
  changed: boolean;
}

const PLACEHOLDER = `blake3:${"0".repeat(64)}`;

/**
 * Validates a manifest, computes its module's digest and writes it into the
 * manifest (unless `check`).
 *
 * @param file The `plugin.toml`.
 * @param options `check`: compare only, and throw on a mismatch.
 * @returns What was found and done.
 * @throws {HookError} `invalid_manifest` for a bad manifest or a module
 *   outside its folder or missing; `digest_mismatch` with `check` when the
 *   pinned digest is missing or differs.
 */
export async function pinManifest(
  file: string,
  options: { check?: boolean } = {},
): Promise<PinResult> {
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    throw new HookError("invalid_manifest", `Cannot read manifest "${file}": ${e}`, { cause: e });
  }
  const previous = text.match(/^digest\s*=\s*"([^"]*)"/m)?.[1];
  // Validate everything but the digest (which may be missing or stale: that is why we pin).
  const manifest = parseManifest(pinText(text, PLACEHOLDER), file);
  const folder = dirname(file);
  const module = join(folder, ...manifest.module.split("/"));
  const rel = relative(folder, module);
  if (rel.startsWith("..") || isAbsolute(rel)) {
    throw new HookError(
      "invalid_manifest",
      `Invalid manifest "${file}": key "module": "${manifest.module}" is outside the manifest's folder`,
      { plugin: manifest.name },
    );
  }
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(module);
  } catch (e) {
    throw new HookError(
      "invalid_manifest",
      `Invalid manifest "${file}": key "module": cannot read "${module}" (${
        e instanceof Error ? e.message : e
      }); build the module first (gn build)`,
      { plugin: manifest.name, cause: e },
    );
  }
  const digest = await digestOf(bytes);
  const changed = previous !== digest;
  if (options.check && changed) {
    throw new HookError(
      "digest_mismatch",
      `Digest mismatch for module "${module}" (from "${file}"): key "digest": ${
        previous === undefined ? "missing" : `pinned ${previous}`
      }, actual ${digest}; run \`gn pin ${file}\` if you rebuilt it on purpose`,
      { plugin: manifest.name },
    );
  }
  if (changed && !options.check) await Deno.writeTextFile(file, pinText(text, digest));
  return { file, manifest, module, digest, previous, changed };
}

/** `gn pin`. */
export const pin: Command = {
  name: "pin",
  summary: "write the module's BLAKE3 digest into plugin.toml (--check: compare only)",
  help: `Usage: gn pin [--check] [manifest-or-folder…]

Validates each manifest (every key but the digest), computes the BLAKE3 digest of
the module it names and writes it into the manifest's \`digest\` line, adding the
line after \`module\` when there is none. Without arguments: ./plugin.toml.

Options:
  --check   write nothing; exit 1 (digest_mismatch) when a digest is missing or differs
  -h, --help

Example:
  gn pin plugins/title/plugin.toml
  gn pin --check plugins/*/plugin.toml`,
  options: { check: { type: "boolean" } },
  async run(args) {
    const files = args.positionals.length === 0 ? [undefined] : args.positionals;
    const check = flag(args, "check");
    let status = 0;
    for (const given of files) {
      const file = manifestPath(given);
      if (file === "") throw new UsageError("an empty manifest path");
      try {
        const r = await pinManifest(file, { check });
        const what = check ? "up to date" : r.changed ? "pinned" : "already pinned";
        console.log(`${file}: ${what} ${r.digest}`);
      } catch (e) {
        // Every manifest is looked at; the exit status says whether any failed.
        if (files.length === 1 || !(e instanceof HookError)) throw e;
        console.error(`gn pin: ${e.code}: ${e.message}`);
        status = 1;
      }
    }
    return status;
  },
};
