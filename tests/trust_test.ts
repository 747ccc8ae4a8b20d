// Re-approval on change (trust store of fingerprints) and publisher signatures, through PluginHost.
import assert from "node:assert/strict";
import { HookError } from "../abi/errors.ts";
import { PluginHost } from "../host/host.ts";
import { generateKeyPair, type SignatureOptions, signPlugin } from "../host/trust/signature.ts";

const SHOUT = new URL("../examples/shout/", import.meta.url).pathname;

async function workspace(): Promise<string> {
  const dir = await Deno.makeTempDir();
  await Deno.mkdir(`${dir}/hooks`);
  await Deno.mkdir(`${dir}/shout`);
  for (const f of ["plugin.toml", "shout.wasm"]) {
    await Deno.copyFile(SHOUT + f, `${dir}/shout/${f}`);
  }
  await Deno.writeTextFile(`${dir}/hooks/check.sh`, "#!/bin/sh\necho 'block: by script'\n");
  await Deno.chmod(`${dir}/hooks/check.sh`, 0o755);
  return dir;
}

const hookFile = (shell: string) =>
  `[[hooks]]\nid = "a"\nhook = "check"\nkind = "guard"\ntype = "command"\nshell = "${shell}"\n\n` +
  `[[hooks]]\nid = "s"\nhook = "check"\nkind = "guard"\ntype = "command"\ncommand = ["./check.sh"]\npriority = 20\n`;

Deno.test("trust store: a new definition is skipped with a notice until approved", async () => {
  const dir = await workspace();
  await Deno.writeTextFile(`${dir}/hooks/hooks.toml`, hookFile("echo continue"));
  const notices: HookError[] = [];
  const opts = {
    handlers: { command: true },
    trustStore: `${dir}/trust.json`,
    onError: (e: HookError) => notices.push(e),
  };
  {
    await using host = await PluginHost.create(opts);
    const r = await host.loadHooks([`${dir}/hooks`]);
    assert.deepEqual(r.loaded, []);
    assert.deepEqual(r.skipped.map((s) => s.error.code), ["not_approved", "not_approved"]);
    assert.deepEqual(notices.map((e) => e.code), ["not_approved", "not_approved"]);
    assert.match(notices[0].message, /it is new/);
    assert.match(notices[0].message, /host\.trust\("hook:a"\)/);
    // not run: no handler answers
    assert.deepEqual(await host.bus.checkGuards("check", 1), { decision: "continue" });
    assert.deepEqual(host.pending().map((p) => [p.key, p.state]), [["hook:a", "new"], [
      "hook:s",
      "new",
    ]]);
    await host.trust("hook:a");
    await host.trust("hook:s");
    assert.deepEqual(await host.bus.checkGuards("check", 1), {
      decision: "block",
      reason: "by script",
    });
    assert.deepEqual(host.pending(), []);
    await assert.rejects(host.trust("hook:a"), RangeError);
  }
  {
    // a new host on the same store: approved, bound at once
    await using host = await PluginHost.create(opts);
    const r = await host.loadHooks([`${dir}/hooks`]);
    assert.deepEqual(r.loaded.map((d) => d.id), ["a", "s"]);
  }
  // Change the definition and the script: both need approval again, and say what changed.
  await Deno.writeTextFile(`${dir}/hooks/hooks.toml`, hookFile("echo 'block: changed'"));
  await Deno.writeTextFile(`${dir}/hooks/check.sh`, "#!/bin/sh\necho continue\n");
  notices.length = 0;
  {
    await using host = await PluginHost.create(opts);
    const r = await host.loadHooks([`${dir}/hooks`]);
    assert.deepEqual(r.loaded, []);
    assert.deepEqual(host.pending().map((p) => [p.key, p.state]), [["hook:a", "changed"], [
      "hook:s",
      "changed",
    ]]);
    const [a, s] = host.pending();
    assert.deepEqual(a.changes, [`shell: "echo continue" → "echo 'block: changed'"`]);
    assert.equal(s.changes.length, 1);
    assert.match(s.changes[0], /^program_sha256: "sha256:[0-9a-f]{64}" → "sha256:[0-9a-f]{64}"$/);
    assert.match(notices[0].message, /it changed since it was approved/);
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("trust store: a plugin is not loaded until approved; a changed manifest is new again", async () => {
  const dir = await workspace();
  const opts = { trustStore: `${dir}/trust.json`, onError: () => {} };
  {
    await using host = await PluginHost.create(opts);
    await assert.rejects(
      host.load(`${dir}/shout/plugin.toml`),
      (e) => e instanceof HookError && e.code === "not_approved" && e.plugin === "shout",
    );
    assert.deepEqual(host.plugins(), []);
    await host.trust("plugin:shout");
    assert.equal(await host.bus.applyFilters("the_content", "hi"), "HI");
  }
  const manifest = await Deno.readTextFile(`${dir}/shout/plugin.toml`);
  await Deno.writeTextFile(
    `${dir}/shout/plugin.toml`,
    manifest.replace("capabilities = []", 'capabilities = ["log"]'),
  );
  {
    await using host = await PluginHost.create({ ...opts, grants: ["log"] });
    await assert.rejects(
      host.load(`${dir}/shout/plugin.toml`),
      (e) =>
        e instanceof HookError && e.code === "not_approved" &&
        /capabilities: \[\] → \["log"\]/.test(e.message),
    );
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("trust store: a malformed store file is refused at create", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/trust.json`, '{"version": 2}');
  await assert.rejects(
    PluginHost.create({ trustStore: `${dir}/trust.json` }),
    (e) => e instanceof SyntaxError && e.message.includes("trust.json"),
  );
  await Deno.remove(dir, { recursive: true });
});

async function signed(dir: string, privateKey: string): Promise<void> {
  const file = `${dir}/shout/plugin.toml`;
  const bytes = await Deno.readFile(file);
  const digest = /digest = "(blake3:[0-9a-f]{64})"/.exec(new TextDecoder().decode(bytes))![1];
  await Deno.writeTextFile(`${file}.sig`, await signPlugin(bytes, digest, privateKey));
}

Deno.test("signatures: require_signature refuses unsigned, tampered, unknown and revoked", async () => {
  const dir = await workspace();
  const acme = await generateKeyPair();
  const other = await generateKeyPair();
  const file = `${dir}/shout/plugin.toml`;
  const load = async (signatures: SignatureOptions) => {
    await using host = await PluginHost.create({ signatures });
    try {
      return await host.load(file);
    } catch (e) {
      return e as HookError;
    }
  };
  const required = { publishers: { acme: acme.publicKey }, require: true };
  // unsigned
  assert.equal((await load(required) as HookError).code, "signature_missing");
  // unsigned, not required: loads
  assert.equal(
    (await load({ publishers: { acme: acme.publicKey } }) as { name: string }).name,
    "shout",
  );
  // signed by acme: verified
  await signed(dir, acme.privateKey);
  const info = await load(required) as { signedBy?: unknown };
  assert.deepEqual(info.signedBy, { publisher: "acme", keyId: acme.keyId });
  // rotation: the publisher lists its old and new keys
  assert.ok("signedBy" in await load({ publishers: { acme: [other.publicKey, acme.publicKey] } }));
  // revoked
  const revoked = await load({ ...required, revoked: [acme.keyId] }) as HookError;
  assert.equal(revoked.code, "signature_invalid");
  assert.match(revoked.message, /revoked/);
  // a key the host does not trust
  const unknown = await load({ publishers: { other: other.publicKey } }) as HookError;
  assert.equal(unknown.code, "signature_invalid");
  assert.match(unknown.message, /not a key of any publisher this host trusts/);
  // tampered manifest (one byte more): the signature no longer matches
  await Deno.writeTextFile(file, (await Deno.readTextFile(file)) + "\n");
  const tampered = await load(required) as HookError;
  assert.equal(tampered.code, "signature_invalid");
  assert.match(tampered.message, /does not match the manifest and module/);
  // a forged signature file
  await Deno.writeTextFile(`${file}.sig`, "{}");
  assert.equal((await load(required) as HookError).code, "signature_invalid");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("signatures: malformed publisher keys are a TypeError at create", async () => {
  await assert.rejects(
    PluginHost.create({ signatures: { publishers: { acme: "ed25519:AAAA" } } }),
    TypeError,
  );
});
