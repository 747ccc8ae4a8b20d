// The PDK allocators give memory back: each example, called over and over in-process through the
// exact exchange of docs/abi.md#one-call (alloc name and payload, call, free body, payload and name), stops
// growing its memory once it has seen every payload size. Also: each module imports only the host
// functions its example calls.
import assert from "node:assert/strict";
import {
  type Example,
  exampleDir,
  type ExampleKind,
  examplePaths,
  KINDS,
  type Lang,
  LANGS,
} from "../pdk/build.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const enc = new TextEncoder();

interface Exports {
  memory: WebAssembly.Memory;
  gn_alloc(size: number): number;
  gn_free(ptr: number, size: number): void;
  gn_handle_hook(np: number, nl: number, pp: number, pl: number): bigint;
}

/** Instantiates an example with in-memory host functions; `freeBodies: false` leaks on purpose. */
async function instantiate(lang: Lang, kind: ExampleKind): Promise<Exports> {
  const module = new WebAssembly.Module(
    await Deno.readFile(`${ROOT}${examplePaths(lang, kind).wasm}`),
  );
  const state = new Map<string, Uint8Array>();
  // deno-lint-ignore prefer-const -- assigned once the instance exists; the imports close over it
  let ex!: Exports;
  const bytes = (p: number, n: number) => new Uint8Array(ex.memory.buffer, p >>> 0, n >>> 0);
  const key = (p: number, n: number) => new TextDecoder().decode(bytes(p, n));
  const env: Record<string, (...a: number[]) => unknown> = {
    gn_panic: (p, n) => {
      throw new Error(`gn_panic: ${key(p, n)}`);
    },
    gn_error_set: () => {},
    gn_state_get: (p, n) => {
      const v = state.get(key(p, n));
      if (v === undefined) return 0n;
      const ptr = ex.gn_alloc(v.length) >>> 0;
      bytes(ptr, v.length).set(v);
      return (BigInt(ptr) << 32n) | BigInt(v.length);
    },
    gn_state_set: (kp, kl, vp, vl) => (state.set(key(kp, kl), bytes(vp, vl).slice()), 0),
  };
  const imports = WebAssembly.Module.imports(module).map((i) => i.name);
  const provided = Object.fromEntries(imports.map((n) => [n, env[n]]));
  ex = new WebAssembly.Instance(module, { env: provided }).exports as unknown as Exports;
  return ex;
}

function call(ex: Exports, name: Uint8Array, payload: Uint8Array, freeBodies = true): void {
  const np = ex.gn_alloc(name.length);
  new Uint8Array(ex.memory.buffer).set(name, np);
  const pp = ex.gn_alloc(payload.length);
  new Uint8Array(ex.memory.buffer).set(payload, pp);
  const packed = ex.gn_handle_hook(np, name.length, pp, payload.length);
  const ptr = Number(BigInt.asUintN(64, packed) >> 32n);
  const len = Number(BigInt.asIntN(32, packed));
  if (len < 0) throw new Error(`status ${len}`);
  if (ptr !== 0 && len > 0 && freeBodies) ex.gn_free(ptr, len);
  ex.gn_free(pp, payload.length);
  ex.gn_free(np, name.length);
}

const HOOK: Record<Example, string> = {
  title: "title_case",
  count: "on_event",
  guard: "run_command",
};
function payloads(kind: Example): Uint8Array[] {
  const text = (n: number) => "abc defgh ij".repeat(Math.ceil(n / 12)).slice(0, n);
  const subjects = [text(100), `${text(1000)} rm -rf /`, `sudo ${text(20_000)}`, 'ünï "q" \\ ✓'];
  return subjects.map((s) =>
    enc.encode(
      kind === "count"
        ? JSON.stringify({ kind: "action", args: [s, 7] })
        : JSON.stringify({ kind: kind === "title" ? "filter" : "guard", value: s, args: [] }),
    )
  );
}

/** Calls `n` times, mostly the small payload, every 50th a large one; returns memory sizes. */
function drive(ex: Exports, kind: Example, n: number, freeBodies = true) {
  const name = enc.encode(HOOK[kind]);
  const ps = payloads(kind);
  const pick = (i: number) => ps[i % 50 === 49 ? 1 + (i / 50 | 0) % 3 : 0];
  for (let i = 0; i < 1000; i++) call(ex, name, pick(i), freeBodies);
  const warm = ex.memory.buffer.byteLength;
  for (let i = 1000; i < n; i++) call(ex, name, pick(i), freeBodies);
  return { warm, end: ex.memory.buffer.byteLength };
}

for (const lang of LANGS) {
  for (const kind of KINDS) {
    const n = kind === "title" ? 1_000_000 : 100_000;
    Deno.test(`${exampleDir(lang, kind)}: memory stops growing over ${n} calls`, async () => {
      const ex = await instantiate(lang, kind);
      const { warm, end } = drive(ex, kind, n);
      assert.equal(end, warm, `grew from ${warm} to ${end} bytes after the warm-up`);
    });
  }
  Deno.test(`${lang}: the leak check catches a plugin whose bodies are never freed`, async () => {
    const ex = await instantiate(lang, "title");
    const { warm, end } = drive(ex, "title", 20_000, false);
    assert.ok(end > warm, `${warm} -> ${end}`);
  });
  Deno.test(`${lang}: each example imports only the host functions it calls`, async () => {
    for (const kind of KINDS) {
      const module = new WebAssembly.Module(
        await Deno.readFile(`${ROOT}${examplePaths(lang, kind).wasm}`),
      );
      const imports = WebAssembly.Module.imports(module);
      assert.ok(imports.every((i) => i.module === "env"), JSON.stringify(imports));
      const names = imports.map((i) => i.name).filter((n) =>
        n !== "gn_panic" && n !== "gn_error_set"
      );
      assert.deepEqual(names.sort(), kind === "count" ? ["gn_state_get", "gn_state_set"] : []);
    }
  });
}
