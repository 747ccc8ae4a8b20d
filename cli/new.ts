/**
 * `gn new`: scaffolds a plugin that builds and passes as generated: its
 * manifest, its source (a title-case filter), its build script, a test file
 * (the conformance suite and one functional assertion) and a deno.json that
 * runs it.
 *
 * @module
 */

import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import {
  AS_CONFIG,
  BUILD,
  type Lang,
  manifest,
  PDK_FILES,
  SOURCE,
  source,
  testFile,
} from "./_templates.ts";
import { type Command, str, UsageError } from "./_util.ts";

const LANGS: readonly Lang[] = ["as", "rust", "c", "wat"];
const ROOT = new URL("../", import.meta.url);

/** Reads a file of this package, wherever it is served from (a checkout or JSR). */
async function packageFile(path: string): Promise<string> {
  const url = new URL(path, ROOT);
  try {
    if (url.protocol === "file:") return await Deno.readTextFile(url);
    const res = await fetch(url);
    if (res.ok) return await res.text();
    await res.body?.cancel();
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  throw new Deno.errors.NotFound(
    `this copy of @gn/plugin-host has no ${path} (${url.href}), which gn new vendors into the ` +
      `plugin; use a version that ships the PDK, or --lang wat`,
  );
}

/** The deno.json of a new plugin: the package's testing module, and the tasks. */
async function denoJson(dir: string): Promise<string> {
  const imports: Record<string, string> = {};
  let allowImport = "127.0.0.1:1";
  let read = "--allow-read";
  if (ROOT.protocol === "file:") {
    // A checkout: map the package by path, with its npm dependencies.
    const root = fileURLToPath(ROOT);
    const rel = relative(dir, root) || ".";
    imports["@gn/plugin-host/"] = `${rel.startsWith(".") ? rel : `./${rel}`}/`;
    imports["@gn/plugin-host/testing"] = `${imports["@gn/plugin-host/"]}testing/mod.ts`;
    const own = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT))) as {
      imports?: Record<string, string>;
    };
    Object.assign(imports, own.imports);
  } else {
    const version = ROOT.pathname.match(/\/@gn\/plugin-host\/([^/]+)\//)?.[1];
    imports["@gn/plugin-host/testing"] = `jsr:@gn/plugin-host@${version ?? "^0.1.0"}/testing`;
    allowImport = `${ROOT.host}:443`;
    read = "--allow-read=.";
  }
  return JSON.stringify(
    {
      unstable: ["worker-options"],
      imports,
      tasks: {
        test: `deno test ${read} --allow-import=${allowImport}`,
      },
    },
    null,
    2,
  ) + "\n";
}

/**
 * Writes a new plugin into `<parent>/<name>/`.
 *
 * @param name The plugin name (`^[a-z][a-z0-9-]{1,63}$`).
 * @param lang Its language.
 * @param parent The folder to create it in.
 * @returns The plugin's folder and the files written (relative to it).
 * @throws {UsageError} For a bad name or language, or a folder that exists.
 */
export async function scaffold(
  name: string,
  lang: Lang,
  parent: string,
): Promise<{ dir: string; files: string[] }> {
  if (!/^[a-z][a-z0-9-]{1,63}$/.test(name)) {
    throw new UsageError(
      `plugin name ${
        JSON.stringify(name)
      } must match ^[a-z][a-z0-9-]{1,63}$ (lower case, digits, -)`,
    );
  }
  if (!LANGS.includes(lang)) {
    throw new UsageError(`--lang must be one of ${LANGS.join(", ")}, not ${JSON.stringify(lang)}`);
  }
  const dir = join(parent, name);
  try {
    await Deno.stat(dir);
    throw new UsageError(`${dir} exists: choose another name, or remove it`);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  const files: Record<string, string> = {
    "plugin.toml": manifest(name),
    [SOURCE[lang]]: source(lang, name),
    "plugin_test.ts": testFile(name, "@gn/plugin-host/testing"),
  };
  for (const [to, from] of Object.entries(PDK_FILES[lang])) files[to] = await packageFile(from);
  const build = BUILD[lang];
  if (build !== null) {
    files["build.sh"] =
      `#!/bin/sh\n# Builds plugin.wasm; gn build runs it, then pins plugin.toml.\nset -e\n${build}\n`;
  }
  if (lang === "as") files["asconfig.json"] = AS_CONFIG;
  if (lang === "rust") files[".gitignore"] = "target/\n";
  files["deno.json"] = await denoJson(dir);
  await Deno.mkdir(join(dir, "gn_pdk"), { recursive: true });
  if (Object.keys(PDK_FILES[lang]).length === 0) await Deno.remove(join(dir, "gn_pdk"));
  for (const [path, text] of Object.entries(files)) await Deno.writeTextFile(join(dir, path), text);
  return { dir, files: Object.keys(files) };
}

/** `gn new`. */
export const create: Command = {
  name: "new",
  summary: "scaffold a plugin (as, rust, c or wat) that builds and passes as generated",
  help: `Usage: gn new <name> --lang as|rust|c|wat [--dir <parent>]

Creates <parent>/<name>/ (parent: the working folder) with:
  plugin.toml     the manifest: one filter hook, title_case
  plugin.<ext>    the source: a title-case filter (AssemblyScript, Rust or C with
                  the gn PDK, vendored into gn_pdk/; or WAT, with no PDK)
  build.sh        the exact toolchain command (not for WAT: gn build compiles it)
  plugin_test.ts  the conformance suite and one functional assertion
  deno.json       maps @gn/plugin-host/testing; \`deno task test\` runs the tests

Then: gn build <name> && (cd <name> && deno task test)

Toolchains: clang + lld (c), rustc with the wasm32-unknown-unknown standard
library (rust), npx (as; AssemblyScript comes from npm); wat needs none.

Options:
  --lang <as|rust|c|wat>   the language (required)
  --dir <parent>           where to create the plugin's folder (default: .)
  -h, --help

Example:
  gn new title --lang wat && gn build title && gn call title title_case '"a b"'`,
  options: { lang: { type: "string" }, dir: { type: "string" } },
  async run(args) {
    const [name, ...rest] = args.positionals;
    if (name === undefined || rest.length > 0) throw new UsageError("give exactly one plugin name");
    const lang = str(args, "lang");
    if (lang === undefined) throw new UsageError("--lang is required: as, rust, c or wat");
    const { dir, files } = await scaffold(name, lang as Lang, str(args, "dir") ?? ".");
    console.log(`created ${dir}/: ${files.join(", ")}`);
    console.log(`next: gn build ${dir} && (cd ${dir} && deno task test)`);
    return 0;
  },
};
