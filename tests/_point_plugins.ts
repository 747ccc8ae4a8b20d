/**
 * Test plugins for hook points, built in memory from a WAT template: each
 * answers a fixed body, may log the envelope it received (capability `log`),
 * and may append to the sink with the call's handle, a forged one, or the
 * one its previous call received (capability `sink`). When the append is
 * refused, it answers `failBody` instead.
 *
 * @module
 */

import { watToWasm } from "../fixtures/build.ts";

/** The answer when the append failed with a status other than -6. */
const OTHER = '{"decision":"block","reason":"append failed, not with -6"}';

/** What a test plugin does. */
export interface PointPluginSpec {
  name: string;
  /** Raw TOML of its `[[hooks]]` tables. */
  hooks: string;
  /** The answer body ("" = no body). */
  body: string;
  /** Logs its envelope with gn_log before answering. */
  logPayload?: boolean;
  /** Appends one item: with the call's handle, a forged one, or the previous call's. */
  sink?: { kind: string; data: string; handle: "call" | "forged" | "stale" };
  /** The answer when the append was denied (-6). */
  failBody?: string;
  /** Where the handle's digits start in the envelope (34 for a guard, 35 for an action). */
  handleAt?: number;
  capabilities?: string[];
  /** Loop iterations before answering (a slow plugin). */
  spin?: number;
}

function watString(s: string): string {
  return [...new TextEncoder().encode(s)].map((b) => `\\${b.toString(16).padStart(2, "0")}`)
    .join("");
}

/** The WAT text of a test plugin. */
export function pointPluginWat(p: PointPluginSpec): string {
  const body = new TextEncoder().encode(p.body);
  const fail = new TextEncoder().encode(p.failBody ?? "");
  const kind = new TextEncoder().encode(p.sink?.kind ?? "");
  const data = new TextEncoder().encode(p.sink?.data ?? "");
  const mode = p.sink?.handle;
  return `(module
  ${p.logPayload ? '(import "env" "gn_log" (func $log (param i32 i32 i32)))' : ""}
  ${
    p.sink
      ? '(import "env" "gn_sink_append" (func $sink (param i32 i32 i32 i32 i32) (result i32)))'
      : ""
  }
  (memory (export "memory") 1)
  (global $top (mut i32) (i32.const 16384))
  (global $live (mut i32) (i32.const 0))
  (global $saved (mut i32) (i32.const 0))
  (data (i32.const 1024) "${watString(p.body)}")
  (data (i32.const 5120) "${watString(p.failBody ?? "")}")
  (data (i32.const 7168) "${watString(OTHER)}")
  (data (i32.const 512) "${watString(p.sink?.kind ?? "")}")
  (data (i32.const 9216) "${watString(p.sink?.data ?? "")}")
  (func $alloc (export "gn_alloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $top))
    (global.set $top (i32.add (global.get $top) (i32.and (i32.add (local.get $n) (i32.const 7)) (i32.const -8))))
    (if (i32.gt_u (global.get $top) (i32.mul (memory.size) (i32.const 65536)))
      (then (if (i32.eq (memory.grow (i32.const 4)) (i32.const -1)) (then (return (i32.const 0))))))
    (global.set $live (i32.add (global.get $live) (i32.const 1)))
    (local.get $p))
  (func (export "gn_free") (param i32 i32)
    (global.set $live (i32.sub (global.get $live) (i32.const 1)))
    (if (i32.le_s (global.get $live) (i32.const 0))
      (then (global.set $live (i32.const 0)) (global.set $top (i32.const 16384)))))
  (func $handle (param $p i32) (param $len i32) (result i32)
    (local $i i32) (local $c i32) (local $v i32)
    (local.set $i (i32.add (local.get $p) (i32.const ${p.handleAt ?? 34})))
    (block $done (loop $digits
      (br_if $done (i32.ge_u (local.get $i) (i32.add (local.get $p) (local.get $len))))
      (local.set $c (i32.load8_u (local.get $i)))
      (br_if $done (i32.or (i32.lt_u (local.get $c) (i32.const 48)) (i32.gt_u (local.get $c) (i32.const 57))))
      (local.set $v (i32.add (i32.mul (local.get $v) (i32.const 10)) (i32.sub (local.get $c) (i32.const 48))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $digits)))
    (local.get $v))
  (func $answer (param $at i32) (param $len i32) (result i64)
    (local $p i32)
    (if (i32.eqz (local.get $len)) (then (return (i64.const 0))))
    (local.set $p (call $alloc (local.get $len)))
    (memory.copy (local.get $p) (local.get $at) (local.get $len))
    (i64.or (i64.shl (i64.extend_i32_u (local.get $p)) (i64.const 32)) (i64.extend_i32_u (local.get $len))))
  (func (export "gn_handle_hook") (param $np i32) (param $nl i32) (param $pp i32) (param $pl i32) (result i64)
    (local $h i32) (local $cur i32) (local $st i32) (local $i i32)
    ${
    p.spin
      ? `(loop $l (br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (i32.const ${p.spin}))))`
      : ""
  }
    ${p.logPayload ? "(call $log (i32.const 1) (local.get $pp) (local.get $pl))" : ""}
    ${
    p.sink
      ? `(local.set $cur (call $handle (local.get $pp) (local.get $pl)))
    (local.set $h ${
        mode === "forged"
          ? "(i32.add (local.get $cur) (i32.const 7919))"
          : mode === "stale"
          ? "(select (local.get $cur) (global.get $saved) (i32.eqz (global.get $saved)))"
          : "(local.get $cur)"
      })
    (global.set $saved (local.get $cur))
    (local.set $st (call $sink (local.get $h) (i32.const 512) (i32.const ${kind.length}) (i32.const 9216) (i32.const ${data.length})))
    (if (i32.eq (local.get $st) (i32.const -6))
      (then (return (call $answer (i32.const 5120) (i32.const ${fail.length})))))
    (if (i32.ne (local.get $st) (i32.const 0))
      (then (return (call $answer (i32.const 7168) (i32.const ${OTHER.length})))))`
      : ""
  }
    (call $answer (i32.const 1024) (i32.const ${body.length}))))
`;
}

/**
 * Builds a test plugin into `<root>/<name>/` with its manifest, digest pinned.
 *
 * @returns The manifest path.
 */
export async function writePointPlugin(root: string, p: PointPluginSpec): Promise<string> {
  const { blake3 } = await import("hash-wasm");
  const bytes = await watToWasm(`${p.name}.wat`, pointPluginWat(p));
  const dir = `${root}/${p.name}`;
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeFile(`${dir}/plugin.wasm`, bytes);
  const caps = p.capabilities ??
    [...(p.logPayload ? ["log"] : []), ...(p.sink ? ["sink"] : [])];
  await Deno.writeTextFile(
    `${dir}/plugin.toml`,
    `name = "${p.name}"
version = "1.0.0"
abi = 1
module = "plugin.wasm"
digest = "blake3:${await blake3(bytes)}"
capabilities = ${JSON.stringify(caps)}

[limits]
timeout_ms = 1000
fuel = 1_000_000_000

${p.hooks}
`,
  );
  return `${dir}/plugin.toml`;
}
