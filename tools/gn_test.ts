// The gn command line, run in-process: keygen, sign, trust (list, approve, show what changed),
// and the host agreeing with what gn approved.
import assert from "node:assert/strict";
import { main } from "./gn.ts";
import { PluginHost } from "../host/host.ts";

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const { log, error } = console;
  console.log = (...a: unknown[]) => void out.push(a.join(" "));
  console.error = (...a: unknown[]) => void err.push(a.join(" "));
  try {
    return { code: await main(argv), out: out.join("\n"), err: err.join("\n") };
  } finally {
    console.log = log;
    console.error = error;
  }
}

const SHOUT = new URL("../examples/shout/", import.meta.url).pathname;

Deno.test("gn --help, and unknown commands", async () => {
  const help = await run("--help");
  assert.equal(help.code, 0);
  assert.match(help.out, /deno task gn trust --store/);
  assert.equal((await run("nope")).code, 2);
  assert.equal((await run()).code, 2);
});

Deno.test("gn keygen, sign, trust: approve, then a change is shown and waits again", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.mkdir(`${dir}/plugins/shout`, { recursive: true });
  for (const f of ["plugin.toml", "shout.wasm"]) {
    await Deno.copyFile(SHOUT + f, `${dir}/plugins/shout/${f}`);
  }
  await Deno.mkdir(`${dir}/hooks`);
  const hooks = (reason: string) =>
    `[[hooks]]\nid = "no-rm"\nhook = "check"\nkind = "guard"\ntype = "command"\n` +
    `command = ["echo", "block: ${reason}"]\n`;
  await Deno.writeTextFile(`${dir}/hooks/hooks.toml`, hooks("no"));

  const kg = await run("keygen", "--out", `${dir}/acme`);
  assert.equal(kg.code, 0, kg.err);
  assert.equal((await Deno.stat(`${dir}/acme.key`)).mode! & 0o777, 0o600);
  const pub = (await Deno.readTextFile(`${dir}/acme.pub`)).trim();
  const signed = await run("sign", "--key", `${dir}/acme.key`, `${dir}/plugins/shout/plugin.toml`);
  assert.equal(signed.code, 0, signed.err);

  const store = `${dir}/trust.json`;
  const args = [
    "trust",
    "--store",
    store,
    "--hooks",
    `${dir}/hooks`,
    "--plugins",
    `${dir}/plugins`,
  ];
  const listed = await run(...args);
  assert.equal(listed.code, 1);
  assert.match(listed.out, /^new +hook:no-rm/m);
  assert.match(listed.out, /^new +plugin:shout/m);
  assert.match(listed.out, /command: \["echo","block: no"\]/);
  const approved = await run(...args, "--approve-all");
  assert.equal(approved.code, 0, approved.err);
  assert.match(approved.out, /^APPROVING hook:no-rm/m);
  assert.equal((await run(...args)).code, 0);

  // The host accepts what gn approved, and verifies the signature.
  {
    await using host = await PluginHost.create({
      trustStore: store,
      handlers: { command: true },
      signatures: { publishers: { acme: pub }, require: true },
    });
    const info = await host.load(`${dir}/plugins/shout/plugin.toml`);
    assert.equal(info.signedBy?.publisher, "acme");
    assert.deepEqual((await host.loadHooks([`${dir}/hooks`])).loaded.map((d) => d.id), ["no-rm"]);
  }

  await Deno.writeTextFile(`${dir}/hooks/hooks.toml`, hooks("never"));
  const changed = await run(...args);
  assert.equal(changed.code, 1);
  assert.match(changed.out, /^changed +hook:no-rm/m);
  assert.match(changed.out, /command: \["echo","block: no"\] → \["echo","block: never"\]/);
  assert.match(changed.out, /^approved +plugin:shout/m);
  const one = await run(...args, "--approve", "hook:no-rm");
  assert.equal(one.code, 0, one.err);
  const unknown = await run(...args, "--approve", "hook:nope");
  assert.equal(unknown.code, 1);
  assert.match(unknown.err, /no such hook definition or plugin/);
  await Deno.remove(dir, { recursive: true });
});
