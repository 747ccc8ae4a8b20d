/**
 * Hook files, out-of-sandbox handlers and supply-chain trust, end to end:
 *
 *     deno task example:hooks
 *
 * - discovers `user/hooks.toml` then `project/hooks.toml` (the project layer
 *   turns one of the user's hooks off);
 * - runs under a trust store (`state/trust.json`, fresh on every run): every
 *   definition and plugin is skipped with a `not_approved` notice until the
 *   operator approves it (here `host.trust(...)`; `deno task gn trust` does the
 *   same from a terminal and shows what changed);
 * - requires signed plugins: `../shout` carries `plugin.toml.sig`, verified
 *   against `publisher.pub`;
 * - then runs one chain where the shout wasm plugin and a command hook both
 *   handle `the_content`, and a command guard that blocks `rm` on
 *   `tool.before`.
 *
 * @module
 */

import { relative } from "node:path";
import { HookError } from "../../abi/errors.ts";
import { PluginHost } from "../../host/host.ts";

const here = relative(Deno.cwd(), new URL(".", import.meta.url).pathname) + "/";
const store = `${here}state/trust.json`;
await Deno.mkdir(`${here}state`, { recursive: true });
await Deno.remove(store).catch(() => {});
const publisher = (await Deno.readTextFile(`${here}publisher.pub`)).trim();

const options = {
  hooks: { the_content: "filter", "tool.before": "guard" } as const,
  handlers: { command: true }, // command hooks on; no HTTP host allowed
  trustStore: store,
  signatures: { publishers: { "gn-demo": publisher }, require: true },
  onError: (e: HookError) => console.log(`  notice  ${e.code}: ${e.message.split("\n")[0]}`),
};

console.log(`gn hook files: layers user/, project/; trust store ${store} (fresh)`);
{
  await using host = await PluginHost.create(options);
  const first = await host.loadHooks([`${here}user`, `${here}project`]);
  console.log(
    `  ${first.loaded.length} bound, ${first.skipped.length} waiting for approval, ` +
      `${first.failed.length} refused`,
  );
  console.log("operator reviews and approves:");
  // Approving the wasm definition reveals its plugin, which needs its own approval.
  while (host.pending().length > 0) {
    const p = host.pending()[0];
    console.log(`  approve ${p.key} (${p.state}): ${p.changes.length} field(s)`);
    try {
      await host.trust(p.key);
    } catch (e) {
      if (!(e instanceof HookError && e.code === "not_approved")) throw e;
    }
  }
}

console.log("a new host on the same trust store:");
await using host = await PluginHost.create(options);
const r = await host.loadHooks([`${here}user`, `${here}project`]);
console.log(`  bound: ${r.loaded.map((d) => `${d.id} (${d.type})`).join(", ")}`);
for (const p of host.plugins()) {
  console.log(
    `  plugin ${p.name} ${p.version}: signed by "${p.signedBy?.publisher}" (key ${p.signedBy?.keyId})`,
  );
}
console.log(`  the_content chain priorities: ${host.bus.priorities("the_content").join(", ")}`);
console.log(
  `applyFilters("the_content", "hello") → ${
    JSON.stringify(await host.bus.applyFilters("the_content", "hello"))
  }`,
);
for (const command of ["ls -la", "rm -rf /"]) {
  const v = await host.bus.checkGuards("tool.before", { tool: "Bash", command });
  console.log(`checkGuards("tool.before", Bash ${JSON.stringify(command)}) → ${JSON.stringify(v)}`);
}
const other = await host.bus.checkGuards("tool.before", { tool: "Write", command: "rm -rf /" });
console.log(`checkGuards("tool.before", Write …) → ${JSON.stringify(other)} (matcher: Bash only)`);
