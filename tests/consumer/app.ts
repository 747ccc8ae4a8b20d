/**
 * The consumer test's app: it uses the package as a user would (the
 * specifier `@gn/plugin-host` is mapped by the app's own `deno.json`, to
 * `jsr:@gn/plugin-host` or to a path), loads the plugins in `plugins/`, calls
 * every hook kind, collects the typed refusals, and prints one JSON line.
 * `await using` closes the host at the end of the module, as the README
 * recommends (a loaded plugin's worker keeps the process alive).
 *
 * @module
 */

import { PluginHost } from "@gn/plugin-host";

await using host = await PluginHost.create({
  hooks: {
    the_content: "filter",
    on_event: "action",
    "audit.count": "filter",
    "gate.check": "guard",
  },
  onError: () => {},
});
const { loaded, failed } = await host.loadDir("plugins");
const refusals: Record<string, string> = {};
const messages: Record<string, string> = {};
for (const f of failed) {
  refusals[f.file.split("/").at(-2)!] = f.error.code;
  messages[f.file.split("/").at(-2)!] = f.error.message;
}
const filter = await host.bus.applyFilters("the_content", "hello");
await host.bus.doAction("on_event", "user-42", 7);
await host.bus.doAction("on_event", "user-43", 8);
const count = await host.bus.applyFilters("audit.count", 0);
const guard = await host.bus.checkGuards("gate.check", { user: "u-42" });
const isolation = loaded[0]?.isolation;

// What the isolation report claims about remote import, checked against
// what a permission-less worker of this process can actually do.
let observedRemoteImport: boolean | null = null;
const probeUrl: string | undefined = Deno.args[0];
if (probeUrl !== undefined) {
  const code = `import(${
    JSON.stringify(probeUrl)
  }).then(() => postMessage(true), (e) => postMessage(String(e)))`;
  const w = new Worker(`data:text/javascript,${encodeURIComponent(code)}`, {
    type: "module",
    deno: { permissions: "none" },
  });
  const answer = await new Promise((resolve) => w.onmessage = (e) => resolve(e.data));
  w.terminate();
  // Any failure other than a permission error means the import was attempted.
  observedRemoteImport = answer === true ||
    !/Requires import access|NotCapable/.test(String(answer));
  console.error(`remote import probe ${probeUrl}: ${answer}`);
}

console.log(`RESULT ${
  JSON.stringify({
    loaded: loaded.map((p) => p.name).sort(),
    refusals,
    messages,
    filter,
    count,
    guard,
    probes: isolation?.probes,
    open: isolation?.open,
    remoteImport: isolation?.remoteImport,
    observedRemoteImport,
  })
}`);
