import { blake3 } from "hash-wasm";
import { PluginHost } from "../../host/host.ts";
import { latencyPolicy } from "../../channel/spin.ts";
const WASM = await Deno.readFile("bench/plugins/upper/upper.wasm");
const N = Number(Deno.args[0] ?? 4);
const tmp = await Deno.makeTempDir();
const digest = `blake3:${await blake3(WASM)}`;
const host = await PluginHost.create({ hooks: { chain: "filter" } });
for (let k = 0; k < N; k++) {
  const d = `${tmp}/u${k}`; await Deno.mkdir(d);
  await Deno.writeFile(`${d}/upper.wasm`, WASM);
  await Deno.writeTextFile(`${d}/plugin.toml`, `name = "upper-${k}"\nversion = "1.0.0"\nabi = 1\nmodule = "upper.wasm"\ndigest = "${digest}"\n[limits]\nmemory_pages = 64\ntimeout_ms = 1000\n[[hooks]]\nname = "chain"\nkind = "filter"\npriority = ${k}\n`);
  await host.load(`${d}/plugin.toml`);
}
const V = "abcdefghij klmnopqrstuvwxyz".repeat(40).slice(0, 1024);
for (const relay of [false, true, false, true]) {
  latencyPolicy.relay = relay;
  const rows: number[][] = [];
  for (let i = 0; i < 2000; i++) {
    (globalThis as any).TRACE = [];
    const t = performance.timeOrigin + performance.now();
    await host.bus.applyFilters("chain", V);
    const end = performance.timeOrigin + performance.now();
    const tr = (globalThis as any).TRACE as any[];
    // per step: pickup-start, work, forward, collect lag
    const row: number[] = [];
    let prev = t;
    for (const [, p0, p1, p2, hc, p3] of tr) { row.push((p0 - prev) * 1000, (p1 - p0) * 1000, relay ? (p3 - p1) * 1000 : 0, (p2 - (relay ? p3 : p1)) * 1000, (hc - p2) * 1000); prev = relay ? p2 : hc; }
    row.push((end - t) * 1000);
    rows.push(row);
  }
  const med = (k: number) => { const xs = rows.map(r => r[k]).sort((a, b) => a - b); return xs[xs.length >> 1].toFixed(1); };
  const cols = rows[0].length;
  console.log(`relay=${relay}: ` + Array.from({ length: cols }, (_, k) => med(k)).join(" "));
}
await host.close();
