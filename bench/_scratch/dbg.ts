import { blake3 } from "hash-wasm";
import { PluginHost } from "/work/wt/relay/host/host.ts";
import { latencyPolicy } from "/work/wt/relay/channel/spin.ts";
const WASM = await Deno.readFile("/work/wt/relay/bench/plugins/upper/upper.wasm");
const N = Number(Deno.args[0] ?? 4);
const CALLS = Number(Deno.args[1] ?? 2000);
const tmp = await Deno.makeTempDir();
const digest = `blake3:${await blake3(WASM)}`;
const host = await PluginHost.create({ hooks: { chain: "filter" } });
for (let k = 0; k < N; k++) {
  const d = `${tmp}/u${k}`;
  await Deno.mkdir(d);
  await Deno.writeFile(`${d}/upper.wasm`, WASM);
  await Deno.writeTextFile(
    `${d}/plugin.toml`,
    `name = "upper-${k}"\nversion = "1.0.0"\nabi = 1\nmodule = "upper.wasm"\ndigest = "${digest}"\n[limits]\nmemory_pages = 64\ntimeout_ms = 1000\n[[hooks]]\nname = "chain"\nkind = "filter"\npriority = ${k}\n`,
  );
  await host.load(`${d}/plugin.toml`);
}
const V = "abcdefghij klmnopqrstuvwxyz".repeat(40).slice(0, 1024);
for (const relay of [false, true, false, true, false, true]) {
  latencyPolicy.relay = relay;
  const s: number[] = [];
  for (let i = 0; i < CALLS; i++) {
    const t = performance.now();
    const out = await host.bus.applyFilters("chain", V);
    s.push((performance.now() - t) * 1000);
    if (out !== V.toUpperCase()) throw new Error("bad " + String(out).slice(0, 20));
  }
  s.sort((a, b) => a - b);
  console.log(
    `relay=${relay} n=${N}: p50 ${s[s.length >> 1].toFixed(1)} p90 ${
      s[Math.floor(s.length * .9)].toFixed(1)
    } max ${s[s.length - 1].toFixed(0)} µs`,
  );
}
for (const p of host.plugins ? [] : []) p;
await host.close();
