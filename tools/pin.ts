/**
 * Pins a plugin: computes the BLAKE3 digest of the module a `plugin.toml`
 * names and writes it into the manifest's `digest` line.
 *
 * Usage: `deno run --allow-read --allow-write tools/pin.ts examples/shout/plugin.toml …`
 *
 * @module
 */

import { blake3 } from "hash-wasm";
import { parse } from "smol-toml";

/**
 * The `blake3:<hex>` digest of `bytes`.
 *
 * @param bytes Module bytes.
 * @returns The digest as written in a manifest.
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

if (import.meta.main) {
  for (const file of Deno.args) {
    const text = await Deno.readTextFile(file);
    const { module } = parse(text) as { module: string };
    const dir = file.replace(/[^/]*$/, "");
    const digest = await digestOf(await Deno.readFile(`${dir}${module}`));
    await Deno.writeTextFile(file, pinText(text, digest));
    console.log(`${file}: ${digest}`);
  }
}
