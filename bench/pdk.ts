/**
 * `deno task bench:pdk` (also the last part of `deno task bench`): the PDK example plugins.
 *
 * - Fuel per call of every example on realistic inputs (title-case filter at 100 B, 1 KiB,
 *   64 KiB and 1,000,000 B; the counting action; the guard at 100 B, 1 KiB and 64 KiB), read from each call's
 *   outcome in the real sandbox. These figures set the default fuel budget (RATIONALE.md).
 * - In-process time per call at 1 KiB of each PDK's title-case filter against the hand-written
 *   WAT upper-casing filter (`bench/plugins/upper/upper.wat`): the same metered-wasm exchange
 *   and JSON envelope as the main benchmark's (a) column.
 * - Each example's module size.
 *
 * Options: `--quick` (fewer rounds).
 *
 * @module
 */

import { decodeFilterAnswer, encodeEnvelope } from "../abi/envelope.ts";
import { meter } from "../meter/mod.ts";
import { Guest } from "../workers/guest.ts";
import { examplePaths, KINDS, LANGS } from "../pdk/build.ts";
import { loadExample } from "./_pdk_util.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const QUICK = Deno.args.includes("--quick");
const text = (n: number) => "abcdefghij klmnopqrstuvwxyz".repeat(Math.ceil(n / 27)).slice(0, n);
const titled = (s: string) => s.replace(/(^|\s)([a-z])/g, (_, a, b) => a + b.toUpperCase());
const SIZES = [100, 1024, 65536];
/** The title filters also get a value near the 1 MiB payload cap. */
const TITLE_SIZES = [...SIZES, 1_000_000];
const LABEL = { as: "AssemblyScript", rust: "Rust", c: "C" } as const;

// ---------------------------------------------------------------------------
// Fuel per call, in the sandbox

const fuel: Record<string, Record<string, number>> = {};
for (const lang of LANGS) {
  const row: Record<string, number> = {};
  const dir = (k: string) => `${ROOT}examples/${lang}-${k}/plugin.toml`;
  const title = await loadExample(dir("title"), 1e12);
  for (const n of TITLE_SIZES) {
    const v = text(n);
    const o = await title.callRaw("title_case", encodeEnvelope("filter", v, []));
    if (decodeFilterAnswer(o.body, v) !== titled(v)) {
      throw new Error(`${lang}-title answered wrongly`);
    }
    row[`title ${n} B`] = Number(o.fuel);
  }
  await title.close();
  const count = await loadExample(dir("count"), 1e12);
  let last = 0;
  for (let i = 0; i < 10; i++) {
    last = Number(
      (await count.callRaw("on_event", encodeEnvelope("action", null, ["u-42", i]))).fuel,
    );
  }
  row["count (10th call)"] = last;
  await count.close();
  const guard = await loadExample(dir("guard"), 1e12);
  for (const n of SIZES) {
    const o = await guard.callRaw(
      "run_command",
      encodeEnvelope("guard", `${text(n - 9)} && rm -rf`, []),
    );
    if (!o.body?.includes('"block"')) throw new Error(`${lang}-guard did not block`);
    row[`guard ${n} B`] = Number(o.fuel);
  }
  await guard.close();
  fuel[lang] = row;
}
{
  const upper = await loadExample(`${ROOT}bench/plugins/upper/plugin.toml`, 1e12);
  const row: Record<string, number> = {};
  for (const n of TITLE_SIZES) {
    row[`title ${n} B`] = Number(
      (await upper.callRaw("the_content", encodeEnvelope("filter", text(n), []))).fuel,
    );
  }
  await upper.close();
  fuel.wat = row;
}

// ---------------------------------------------------------------------------
// In-process time per call at 1 KiB

async function guestOf(path: string): Promise<Guest> {
  const bytes = await Deno.readFile(path);
  const module = await WebAssembly.compile(
    meter(bytes, { startFuel: 1e9, maxMemoryPages: 64 }).bytes,
  );
  return new Guest(module, {
    plugin: "bench",
    maxPayloadBytes: 1 << 20,
    maxResponseBytes: 1 << 20,
    fuel: 1_000_000_000n,
    importNames: WebAssembly.Module.imports(module).map((i) => i.name),
  });
}

function perCall(call: () => unknown, rounds: number, batch: number): number {
  for (let i = 0; i < batch; i++) call();
  const xs: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t = performance.now();
    for (let i = 0; i < batch; i++) call();
    xs.push((performance.now() - t) / batch * 1000);
  }
  xs.sort((a, b) => a - b);
  return xs[Math.floor(xs.length / 2)];
}

const v1k = text(1024);
const contenders: [string, Guest, string, string][] = [
  [
    "WAT upper (hand-written)",
    await guestOf(`${ROOT}bench/plugins/upper/upper.wasm`),
    "the_content",
    v1k.toUpperCase(),
  ],
];
for (const lang of LANGS) {
  contenders.push([
    `${LABEL[lang]} PDK title_case`,
    await guestOf(`${ROOT}${examplePaths(lang, "title").wasm}`),
    "title_case",
    titled(v1k),
  ]);
}
const rounds = QUICK ? 5 : 15;
const times: Record<string, number> = {};
for (let pass = 0; pass < 3; pass++) { // interleaved passes: machine noise hits every contender
  for (const [label, guest, hook, want] of contenders) {
    const payload = encodeEnvelope("filter", v1k, []);
    if (decodeFilterAnswer(guest.callText(hook, payload), v1k) !== want) {
      throw new Error(`${label} answered wrongly`);
    }
    const t = perCall(() => guest.callText(hook, payload), rounds, QUICK ? 500 : 2000);
    times[label] = Math.min(times[label] ?? Infinity, t);
  }
}

// ---------------------------------------------------------------------------
// Report

const sizes: Record<string, number> = {};
for (const lang of LANGS) {
  for (const kind of KINDS) {
    sizes[`${lang}-${kind}`] = (await Deno.stat(`${ROOT}${examplePaths(lang, kind).wasm}`)).size;
  }
}
sizes["wat upper"] = (await Deno.stat(`${ROOT}bench/plugins/upper/upper.wasm`)).size;

const cols = Object.keys(fuel.c);
console.log("\nFuel per call (sandbox, deterministic)\n");
console.log(`| plugin | ${cols.join(" | ")} |`);
console.log(`| --- | ${cols.map(() => "---:").join(" | ")} |`);
for (const [k, row] of Object.entries(fuel)) {
  const name = k === "wat" ? "WAT upper (bench)" : LABEL[k as keyof typeof LABEL];
  console.log(
    `| ${name} | ${cols.map((c) => row[c]?.toLocaleString("en-US") ?? "–").join(" | ")} |`,
  );
}
const base = times["WAT upper (hand-written)"];
console.log(
  "\nIn-process time per call, 1 KiB filter (metered, best of 3 passes of median-of-rounds)\n",
);
console.log("| plugin | µs per call | × WAT |");
console.log("| --- | ---: | ---: |");
for (const [label, t] of Object.entries(times)) {
  console.log(`| ${label} | ${t.toFixed(2)} | ${(t / base).toFixed(2)} |`);
}
console.log("\nModule sizes (bytes)\n");
console.log("| example | AssemblyScript | Rust | C |");
console.log("| --- | ---: | ---: | ---: |");
for (const kind of KINDS) {
  console.log(
    `| ${kind} | ${LANGS.map((l) => sizes[`${l}-${kind}`].toLocaleString("en-US")).join(" | ")} |`,
  );
}
console.log(`| (WAT upper) | ${sizes["wat upper"].toLocaleString("en-US")} | | |`);
