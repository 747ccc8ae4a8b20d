(globalThis as any).GN_DEBUG = true;
import { blake3 } from "hash-wasm";
import { PluginHost } from "../../host/host.ts";
const WASM = await Deno.readFile("bench/plugins/upper/upper.wasm");
const N = Number(Deno.args[0] ?? 2);
const tmp = await Deno.makeTempDir();
const digest = `blake3:${await blake3(WASM)}`;
const host = await PluginHost.create({ hooks: { chain: "filter" } });
for (let k = 0; k < N; k++) {
  const d = `${tmp}/u${k}`;
  await Deno.mkdir(d);
  await Deno.writeFile(`${d}/upper.wasm`, WASM);
  await Deno.writeTextFile(
    `${d}/plugin.toml`,
    `name = "upper-${k}"\nversion = "1.0.0"\nabi = 1\nmodule = "upper.wasm"\ndigest = "${digest}"\n[limits]\nmemory_pages = 64\ntimeout_ms = 300\n[[hooks]]\nname = "chain"\nkind = "filter"\npriority = ${k}\n`,
  );
  await host.load(`${d}/plugin.toml`);
}
for (let i = 0; i < 6; i++) {
  console.error(`--- call ${i}`);
  const t = performance.now();
  const out = await host.bus.applyFilters("chain", "ab");
  console.error(
    `--- call ${i} -> ${JSON.stringify(out)} in ${(performance.now() - t).toFixed(2)} ms`,
  );
}
await host.close();
