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

/** One `[[hooks]]` entry of a test manifest. */
export interface TestHook {
  name: string;
  kind: "action" | "filter" | "guard";
  priority?: number;
  fail?: "warn" | "block" | "ignore";
}

/** What {@linkcode writePlugin} writes. */
export interface TestPlugin {
  /** The plugin name. */
  name: string;
  /** The fixture whose .wasm becomes the module. */
  fixture: string;
  hooks: TestHook[];
  capabilities?: string[];
  /** Raw TOML for a `[limits]` table body. */
  limits?: string;
  /** Overrides the computed digest. */
  digest?: string;
}

/**
 * Writes `<root>/<name>/plugin.toml` and the fixture's module beside it, with
 * the real BLAKE3 digest pinned.
 *
 * @returns The manifest path.
 */
export async function writePlugin(root: string, p: TestPlugin): Promise<string> {
  const { blake3 } = await import("hash-wasm");
  const dir = `${root}/${p.name}`;
  await Deno.mkdir(dir, { recursive: true });
  const bytes = await fixtureBytes(p.fixture);
  await Deno.writeFile(`${dir}/${p.fixture}.wasm`, bytes);
  const hooks = p.hooks.map((h) =>
    `[[hooks]]\nname = "${h.name}"\nkind = "${h.kind}"\npriority = ${h.priority ?? 10}\nfail = "${
      h.fail ?? "warn"
    }"\n`
  ).join("\n");
  const toml = `name = "${p.name}"
version = "1.0.0"
abi = 1
module = "${p.fixture}.wasm"
digest = "${p.digest ?? `blake3:${await blake3(bytes)}`}"
capabilities = ${JSON.stringify(p.capabilities ?? [])}
${p.limits ? `\n[limits]\n${p.limits}\n` : ""}
${hooks}`;
  await Deno.writeTextFile(`${dir}/plugin.toml`, toml);
  return `${dir}/plugin.toml`;
}

/** Runs `body` in a fresh temporary folder, removed afterwards. */
export async function withTempDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "gn-test-" });
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
