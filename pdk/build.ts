/**
 * Builds the PDK example plugins (`examples/{as,rust,c}-{title,count,guard}/`) with their
 * toolchains, exactly as each source's header says, and pins their manifests.
 *
 *     deno task pdk            # rebuild every example, write the .wasm and the digests
 *     deno task pdk --check    # rebuild into a temporary folder; exit 1 naming each module that differs
 *
 * Toolchains: Debian's `clang` + `lld` (C), `/usr/bin/rustc` with `libstd-rust-dev-wasm32`
 * (Rust), AssemblyScript from npm at {@linkcode ASC_VERSION} through `npx` (AssemblyScript).
 *
 * @module
 */

import { digestOf } from "../tools/pin.ts";

/** The PDK languages. */
export const LANGS = ["as", "rust", "c"] as const;
/** A PDK language. */
export type Lang = typeof LANGS[number];
/**
 * An example: the title-case filter, the counting action, the guard; or `kit`, the test plugin
 * in `tests/pdk/<lang>-kit/` that calls every host-function wrapper and error path.
 */
export type ExampleKind = Example | "kit";
/** The examples proper: the title-case filter, the counting action, the guard. */
export type Example = "title" | "count" | "guard";
/** The examples of every language. */
export const KINDS: readonly Example[] = ["title", "count", "guard"];
/** Everything built from PDK sources: the examples and the test kits. */
export const BUILT: readonly ExampleKind[] = [...KINDS, "kit"];

/** The pinned AssemblyScript compiler. */
export const ASC_VERSION = "0.28.20";
/** The Rust compiler: Debian's, whose wasm32 standard library is installed beside it. */
export const RUSTC = "/usr/bin/rustc";

const ROOT = new URL("../", import.meta.url).pathname;
const SOURCE_EXT: Record<Lang, string> = { as: "ts", rust: "rs", c: "c" };

/** The folder of an example under `examples/` (also the plugin's name). */
export function exampleDir(lang: Lang, kind: ExampleKind): string {
  return `${lang}-${kind}`;
}

/** An example's folder, source and module paths, relative to the repository root. */
export function examplePaths(
  lang: Lang,
  kind: ExampleKind,
): { dir: string; source: string; wasm: string } {
  const dir = `${kind === "kit" ? "tests/pdk" : "examples"}/${exampleDir(lang, kind)}`;
  return { dir, source: `${dir}/${kind}.${SOURCE_EXT[lang]}`, wasm: `${dir}/${kind}.wasm` };
}

async function run(cmd: string, args: string[], cwd: string): Promise<void> {
  const out = await new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout);
    throw new Error(`Cannot build: "${cmd} ${args.join(" ")}" failed in ${cwd}:\n${err}`);
  }
}

async function present(cmd: string, args: string[]): Promise<boolean> {
  try {
    return (await new Deno.Command(cmd, { args, stdout: "null", stderr: "null" }).output())
      .success;
  } catch {
    return false;
  }
}

/**
 * Which toolchains this machine has: `clang` with `wasm-ld`; Debian's `rustc` with its
 * wasm32-unknown-unknown standard library; `npx` (AssemblyScript comes from npm).
 *
 * @returns For each language, whether its examples can be built here.
 */
export async function toolchains(): Promise<Record<Lang, boolean>> {
  let rustStd = false;
  try {
    rustStd = (await Deno.stat("/usr/lib/rustlib/wasm32-unknown-unknown")).isDirectory;
  } catch { /* absent */ }
  return {
    c: await present("clang", ["--version"]) && await present("wasm-ld", ["--version"]),
    rust: rustStd && await present(RUSTC, ["--version"]),
    as: await present("npx", ["--version"]),
  };
}

/**
 * Builds one example into `out` (an absolute path), with the command in its source's header.
 *
 * @param lang The language.
 * @param kind The example.
 * @param out Where the module goes.
 * @param scratch A folder for intermediate files (the Rust PDK's rlib).
 */
export async function buildExample(
  lang: Lang,
  kind: ExampleKind,
  out: string,
  scratch: string,
): Promise<void> {
  const { source } = examplePaths(lang, kind);
  if (lang === "c") {
    await run("clang", [
      "--target=wasm32",
      "-O2",
      "-mbulk-memory",
      "-nostdlib",
      "-Wl,--no-entry",
      "-Wl,--strip-all",
      "-I",
      "pdk/c",
      "pdk/c/gn_pdk.c",
      source,
      "-o",
      out,
    ], ROOT);
  } else if (lang === "rust") {
    const rlib = `${scratch}/libgn_pdk.rlib`;
    // Paths of the checkout would end up in panic locations (rustc records absolute source
    // paths in the rlib): remapped to the repository root, the bytes do not depend on it.
    const common = [
      "--edition",
      "2021",
      "--target",
      "wasm32-unknown-unknown",
      "-C",
      "opt-level=3",
      `--remap-path-prefix=${ROOT}=`,
    ];
    await run(RUSTC, [
      ...common,
      "--crate-type",
      "rlib",
      "--crate-name",
      "gn_pdk",
      "pdk/rust/src/lib.rs",
      "-o",
      rlib,
    ], ROOT);
    await run(RUSTC, [
      ...common,
      "--crate-type",
      "cdylib",
      "-C",
      "lto",
      "-C",
      "strip=symbols",
      "--extern",
      `gn_pdk=${rlib}`,
      source,
      "-o",
      out,
    ], ROOT);
  } else {
    const dir = `${ROOT}${examplePaths(lang, kind).dir}`;
    await run(
      "npx",
      ["-y", "-p", `assemblyscript@${ASC_VERSION}`, "asc", `${kind}.ts`, "-o", out],
      dir,
    );
  }
}

/** Writes the digest of the manifest's module into `plugin.toml`. */
async function pin(lang: Lang, kind: ExampleKind): Promise<void> {
  const file = `${ROOT}${examplePaths(lang, kind).dir}/plugin.toml`;
  const digest = await digestOf(await Deno.readFile(`${ROOT}${examplePaths(lang, kind).wasm}`));
  const text = await Deno.readTextFile(file);
  await Deno.writeTextFile(file, text.replace(/^digest\s*=.*$/m, `digest = "${digest}"`));
}

if (import.meta.main) {
  const check = Deno.args.includes("--check");
  const have = await toolchains();
  const scratch = await Deno.makeTempDir({ prefix: "gn-pdk-" });
  const stale: string[] = [];
  try {
    for (const lang of LANGS) {
      if (!have[lang]) {
        console.error(`skipped ${lang}: its toolchain is not installed (see .ci/run)`);
        continue;
      }
      for (const kind of BUILT) {
        const { wasm } = examplePaths(lang, kind);
        const out = check ? `${scratch}/${lang}-${kind}.wasm` : `${ROOT}${wasm}`;
        await buildExample(lang, kind, out, scratch);
        if (!check) await Deno.chmod(out, 0o644);
        if (!check) {
          await pin(lang, kind);
          console.log(`built ${wasm}`);
          continue;
        }
        const fresh = await Deno.readFile(out);
        const committed = await Deno.readFile(`${ROOT}${wasm}`);
        if (fresh.length !== committed.length || fresh.some((b, i) => b !== committed[i])) {
          stale.push(wasm);
        }
      }
    }
  } finally {
    await Deno.remove(scratch, { recursive: true });
  }
  for (const f of stale) {
    console.error(`stale: ${f} differs from a fresh build (run deno task pdk)`);
  }
  if (stale.length > 0) Deno.exit(1);
}
