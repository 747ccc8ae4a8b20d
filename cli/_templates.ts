/**
 * The files `gn new` writes: one title-case filter per language, its
 * manifest, its build script, its test file and its deno.json.
 *
 * @module
 */

/** A language `gn new` scaffolds. */
export type Lang = "wat" | "c" | "rust" | "as";

/** The source file of each language (the module is the same name with `.wasm`). */
export const SOURCE: Record<Lang, string> = {
  wat: "plugin.wat",
  c: "plugin.c",
  rust: "plugin.rs",
  as: "plugin.ts",
};

/**
 * The PDK files each language vendors into `gn_pdk/` (paths in this package),
 * so the new plugin builds on its own.
 */
export const PDK_FILES: Record<Lang, Record<string, string>> = {
  wat: {},
  c: { "gn_pdk/gn_pdk.h": "pdk/c/gn_pdk.h", "gn_pdk/gn_pdk.c": "pdk/c/gn_pdk.c" },
  rust: { "gn_pdk/lib.rs": "pdk/rust/src/lib.rs" },
  as: { "gn_pdk/index.ts": "pdk/assemblyscript/index.ts" },
};

/** The exact build command of each language, run by `build.sh` in the plugin's folder. */
export const BUILD: Record<Lang, string | null> = {
  wat: null, // gn build compiles the .wat with wabt
  c: "clang --target=wasm32 -O2 -mbulk-memory -nostdlib -Wl,--no-entry -Wl,--strip-all " +
    "-I gn_pdk gn_pdk/gn_pdk.c plugin.c -o plugin.wasm",
  rust: [
    "# The first rustc with the wasm32-unknown-unknown standard library (Debian: libstd-rust-dev-wasm32;",
    "# rustup: rustup target add wasm32-unknown-unknown), unless RUSTC names one.",
    'if [ -z "$RUSTC" ]; then for r in rustc /usr/bin/rustc; do',
    '  if [ -d "$($r --print sysroot 2>/dev/null)/lib/rustlib/wasm32-unknown-unknown" ]; then RUSTC=$r; break; fi',
    "done; fi",
    "mkdir -p target",
    '"$RUSTC" --edition 2021 --crate-type rlib --crate-name gn_pdk --target wasm32-unknown-unknown ' +
    "-C opt-level=3 gn_pdk/lib.rs -o target/libgn_pdk.rlib",
    '"$RUSTC" --edition 2021 --crate-type cdylib --target wasm32-unknown-unknown -C opt-level=3 ' +
    "-C lto -C strip=symbols --extern gn_pdk=target/libgn_pdk.rlib plugin.rs -o plugin.wasm",
  ].join("\n"),
  as: "npx -y -p assemblyscript@0.28.20 asc plugin.ts -o plugin.wasm",
};

/** The manifest: one filter hook, `title_case`; pinned by `gn build`. */
export function manifest(name: string): string {
  return `# The "${name}" plugin: filter title_case upper-cases the first letter of every word.
# Build and pin: gn build   Test: deno task test   Call: gn call . title_case '"hello world"'
name = "${name}"
version = "0.1.0"
abi = 1
module = "plugin.wasm"
digest = "blake3:${"0".repeat(64)}" # written by gn build (gn pin)
capabilities = []

[limits]
memory_pages = 64 # 4 MiB: GN-CAP-1 sends a sixteenth of it
fuel = 100_000_000
timeout_ms = 1000

[[hooks]]
name = "title_case"
kind = "filter"
`;
}

/** The source of each language. */
export function source(lang: Lang, name: string): string {
  switch (lang) {
    case "c":
      return `/*
 * Plugin "${name}" (gn PDK for C): filter title_case upper-cases the first ASCII letter of every
 * word (a word starts after a space or a control character). Other values pass unchanged.
 * Built by (build.sh, in this folder; gn build runs it and pins plugin.toml):
 *   ${BUILD.c}
 */
#include "gn_pdk.h"

static int title_case(const gn_json *value, const gn_json *args, gn_answer *out) {
  (void)args;
  if (value->kind != GN_STRING) return GN_OK; /* not text: unchanged */
  char *s = value->text;
  int start = 1;
  for (uint32_t i = 0; i < value->len; i++) {
    char c = s[i];
    if (start && c >= 'a' && c <= 'z') s[i] = (char)(c - 32);
    start = (unsigned char)c <= ' ';
  }
  gn_answer_string(out, s, value->len);
  return GN_OK;
}

const gn_handler gn_handlers[] = {GN_FILTER("title_case", title_case), GN_END};
`;
    case "rust":
      return `//! Plugin "${name}" (gn PDK for Rust): filter title_case upper-cases the first ASCII letter
//! of every word (a word starts after a space or a control character). Other values pass unchanged.
//! Built by (build.sh, in this folder; gn build runs it and pins plugin.toml):
${BUILD.rust!.split("\n").map((l) => `//!   ${l}`).join("\n")}

use gn_pdk::{Json, Plugin};

fn title_case(value: Json, _args: &[Json]) -> gn_pdk::Result<Option<Json>> {
    let text = match value {
        Json::String(text) => text,
        _ => return Ok(None), // not text: unchanged
    };
    let mut bytes = text.into_bytes();
    let mut start = true;
    for b in bytes.iter_mut() {
        let c = *b;
        if start {
            b.make_ascii_uppercase();
        }
        start = c <= b' ';
    }
    Ok(Some(Json::String(String::from_utf8(bytes).map_err(|_| "title_case: not UTF-8")?)))
}

gn_pdk::plugin!(Plugin::new().filter("title_case", title_case));
`;
    case "as":
      return `// Plugin "${name}" (gn PDK for AssemblyScript): filter title_case upper-cases the first ASCII
// letter of every word (a word starts after a space or a control character). Other values pass unchanged.
// Built by (build.sh, in this folder; gn build runs it and pins plugin.toml):
//   ${BUILD.as}
import { filter, Json } from "./gn_pdk/index";
export { gn_alloc, gn_free, gn_handle_hook } from "./gn_pdk/index";

function titleCase(value: Json, args: Array<Json>): Json | null {
  if (!value.isString()) return null; // not text: unchanged
  const s = value.str;
  const n = s.length;
  const units = new StaticArray<u16>(n); // the UTF-16 code units of the answer
  let start = true;
  for (let i = 0; i < n; i++) {
    const c = <u16>s.charCodeAt(i);
    unchecked((units[i] = start && c >= 0x61 && c <= 0x7a ? c - 32 : c));
    start = c <= 0x20; // after a space or a control character
  }
  return Json.string(String.UTF16.decodeUnsafe(changetype<usize>(units), n << 1));
}

filter("title_case", titleCase);
`;
    case "wat":
      return WAT.replaceAll("{name}", name);
  }
}

/** The AssemblyScript compiler options (the PDK's, with its abort handler). */
export const AS_CONFIG = JSON.stringify(
  {
    options: {
      optimizeLevel: 3,
      shrinkLevel: 0,
      converge: false,
      noAssert: false,
      runtime: "minimal",
      use: ["abort=gn_pdk/index/gnAbort"],
    },
  },
  null,
  2,
) + "\n";

/** The test file: the conformance suite and one functional assertion. */
export function testFile(name: string, testing: string): string {
  return `// Tests of the "${name}" plugin against the real sandbox: deno task test
import assert from "node:assert/strict";
import { loadForTest, testConformance } from "${testing}";

const manifest = new URL("./plugin.toml", import.meta.url);

// Every requirement of the gn conformance suite, one step each.
testConformance(manifest);

Deno.test("title_case upper-cases the first letter of every word", async () => {
  await using p = await loadForTest(manifest);
  assert.equal(await p.filter("title_case", "hello plugin world"), "Hello Plugin World");
});
`;
}

const WAT =
  `;; Plugin "{name}": filter title_case upper-cases the first ASCII letter of every word (a word
;; starts after a space or a control character); other values pass unchanged.
;; Built by: gn build   (compiles this file with wabt into plugin.wasm and pins plugin.toml)
(module
  (memory (export "memory") 1)
  (global $top (mut i32) (i32.const 4096))
  (global $live (mut i32) (i32.const 0))
  ;; A bump allocator that starts over once every block is freed (the host frees all it allocates).
  (func $alloc (export "gn_alloc") (param $size i32) (result i32)
    (local $p i32) (local $end i32) (local $need i32)
    (local.set $p (global.get $top))
    (local.set $end (i32.add (local.get $p) (i32.and (i32.add (local.get $size) (i32.const 7)) (i32.const -8))))
    (if (i32.lt_u (local.get $end) (local.get $p)) (then (return (i32.const 0))))
    (local.set $need (i32.sub (i32.shr_u (i32.add (local.get $end) (i32.const 65535)) (i32.const 16)) (memory.size)))
    (if (i32.gt_s (local.get $need) (i32.const 0))
      (then (if (i32.eq (memory.grow (local.get $need)) (i32.const -1)) (then (return (i32.const 0))))))
    (global.set $top (local.get $end))
    (global.set $live (i32.add (global.get $live) (i32.const 1)))
    (local.get $p))
  (func (export "gn_free") (param $ptr i32) (param $size i32)
    (if (i32.gt_s (global.get $live) (i32.const 0)) (then (global.set $live (i32.sub (global.get $live) (i32.const 1)))))
    (if (i32.eqz (global.get $live)) (then (global.set $top (i32.const 4096)))))
  ;; The address just after \`"value":\` (and spaces) in the payload, or -1.
  (func $value_at (param $p i32) (param $len i32) (result i32)
    (local $i i32) (local $end i32)
    (local.set $end (i32.add (local.get $p) (local.get $len)))
    (local.set $i (local.get $p))
    (block $none
      (loop $scan
        (br_if $none (i32.gt_u (i32.add (local.get $i) (i32.const 8)) (local.get $end)))
        (if (i64.eq (i64.load (local.get $i)) (i64.const 0x3a2265756c617622)) ;; "value":
          (then
            (local.set $i (i32.add (local.get $i) (i32.const 8)))
            (block $ws_done (loop $ws
              (br_if $ws_done (i32.ge_u (local.get $i) (local.get $end)))
              (br_if $ws_done (i32.ne (i32.load8_u (local.get $i)) (i32.const 32)))
              (local.set $i (i32.add (local.get $i) (i32.const 1)))
              (br $ws)))
            (return (local.get $i))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $scan)))
    (i32.const -1))
  ;; The end (exclusive) of the JSON string whose opening quote is at $q, or -1.
  (func $string_end (param $q i32) (param $end i32) (result i32)
    (local $i i32) (local $c i32)
    (local.set $i (i32.add (local.get $q) (i32.const 1)))
    (loop $str
      (if (i32.ge_u (local.get $i) (local.get $end)) (then (return (i32.const -1))))
      (local.set $c (i32.load8_u (local.get $i)))
      (if (i32.eq (local.get $c) (i32.const 34)) (then (return (i32.add (local.get $i) (i32.const 1)))))
      (local.set $i (i32.add (local.get $i) (select (i32.const 2) (i32.const 1) (i32.eq (local.get $c) (i32.const 92)))))
      (br $str))
    (i32.const -1))
  ;; Whether the hook name is "title_case".
  (func $is_title_case (param $np i32) (param $nl i32) (result i32)
    (if (i32.ne (local.get $nl) (i32.const 10)) (then (return (i32.const 0))))
    (i32.and
      (i64.eq (i64.load (local.get $np)) (i64.const 0x61635f656c746974)) ;; "title_ca"
      (i32.eq (i32.load16_u offset=8 (local.get $np)) (i32.const 0x6573)))) ;; "se"
  (func (export "gn_handle_hook") (param $np i32) (param $nl i32) (param $pp i32) (param $pl i32) (result i64)
    (local $v i32) (local $e i32) (local $out i32) (local $n i32) (local $i i32) (local $c i32)
    (local $esc i32) (local $start i32)
    (if (i32.eqz (call $is_title_case (local.get $np) (local.get $nl)))
      (then (return (i64.const 0x00000000_FFFFFFFC)))) ;; -4 unknown_hook
    (local.set $v (call $value_at (local.get $pp) (local.get $pl)))
    (if (i32.lt_s (local.get $v) (i32.const 0)) (then (return (i64.const 0)))) ;; no value: unchanged
    (if (i32.ne (i32.load8_u (local.get $v)) (i32.const 34)) (then (return (i64.const 0)))) ;; not text
    (local.set $e (call $string_end (local.get $v) (i32.add (local.get $pp) (local.get $pl))))
    (if (i32.lt_s (local.get $e) (i32.const 0)) (then (return (i64.const 0x00000000_FFFFFFFD)))) ;; -3
    ;; The answer: {"value": + the string, title-cased + }
    (local.set $n (i32.add (i32.sub (local.get $e) (local.get $v)) (i32.const 10)))
    (local.set $out (call $alloc (local.get $n)))
    (if (i32.eqz (local.get $out)) (then (return (i64.const 0x00000000_FFFFFFFE)))) ;; -2
    (i32.store8 (local.get $out) (i32.const 123))
    (i64.store (i32.add (local.get $out) (i32.const 1)) (i64.const 0x3a2265756c617622))
    (local.set $start (i32.const 1))
    (loop $copy
      (local.set $c (i32.load8_u (i32.add (local.get $v) (local.get $i))))
      (if (i32.and (i32.and (i32.eqz (local.get $esc)) (local.get $start))
                   (i32.lt_u (i32.sub (local.get $c) (i32.const 97)) (i32.const 26)))
        (then (local.set $c (i32.sub (local.get $c) (i32.const 32)))))
      ;; The opening quote, or an unescaped space or control character, starts a word.
      (local.set $start (i32.or (i32.eqz (local.get $i))
        (i32.and (i32.eqz (local.get $esc)) (i32.le_u (local.get $c) (i32.const 32)))))
      (local.set $esc (i32.and (i32.eqz (local.get $esc)) (i32.eq (local.get $c) (i32.const 92))))
      (i32.store8 (i32.add (i32.add (local.get $out) (i32.const 9)) (local.get $i)) (local.get $c))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $copy (i32.lt_u (local.get $i) (i32.sub (local.get $e) (local.get $v)))))
    (i32.store8 (i32.add (local.get $out) (i32.sub (local.get $n) (i32.const 1))) (i32.const 125))
    (i64.or (i64.shl (i64.extend_i32_u (local.get $out)) (i64.const 32)) (i64.extend_i32_u (local.get $n))))
)
`;
