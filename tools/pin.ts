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

if (import.meta.main) {
  for (const file of Deno.args) {
    const text = await Deno.readTextFile(file);
    const { module } = parse(text) as { module: string };
    const dir = file.replace(/[^/]*$/, "");
    const digest = await digestOf(await Deno.readFile(`${dir}${module}`));
    const next = text.replace(/^digest\s*=.*$/m, `digest = "${digest}"`);
    await Deno.writeTextFile(file, next);
    console.log(`${file}: ${digest}`);
  }
}
