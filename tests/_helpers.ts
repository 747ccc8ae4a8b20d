/**
 * Test helpers: fixture bytes and plugins loaded from them.
 *
 * @module
 */

import { Plugin, type PluginOptions } from "../host/plugin.ts";

/** The bytes of `fixtures/<name>.wasm`. */
export function fixtureBytes(name: string): Promise<Uint8Array> {
  return Deno.readFile(new URL(`../fixtures/${name}.wasm`, import.meta.url));
}

/** Loads `fixtures/<name>.wasm` as a plugin named after it. */
export async function loadFixture(
  name: string,
  options: Partial<PluginOptions> = {},
): Promise<Plugin> {
  return await Plugin.load(await fixtureBytes(name), {
    name: name.replaceAll("_", "-"),
    ...options,
  });
}

/** Runs `body` with a plugin and always closes it. */
export async function withFixture(
  name: string,
  body: (p: Plugin) => Promise<void>,
  options: Partial<PluginOptions> = {},
): Promise<void> {
  const p = await loadFixture(name, options);
  try {
    await body(p);
  } finally {
    await p.close();
  }
}
