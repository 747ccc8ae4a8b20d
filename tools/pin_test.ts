// tools/pin.ts: the tool every digest refusal names must also pin a manifest that has no digest.
import assert from "node:assert/strict";
import { parseManifest } from "../host/manifest/mod.ts";
import { pinText } from "./pin.ts";

const DIGEST = `blake3:${"ab".repeat(32)}`;
const BASE = 'name = "demo"\nversion = "1.0.0"\nabi = 1\nmodule = "demo.wasm"\n';
const HOOKS = '\n[[hooks]]\nname = "tick"\nkind = "action"\n';

Deno.test("pinText() replaces an existing digest line", () => {
  const text = `${BASE}digest = "blake3:${"0".repeat(64)}"\n${HOOKS}`;
  const out = pinText(text, DIGEST);
  assert.equal(out, `${BASE}digest = "${DIGEST}"\n${HOOKS}`);
  assert.equal(parseManifest(out, "demo/plugin.toml").digest, DIGEST);
});

Deno.test("pinText() adds the digest line when the manifest has none", () => {
  const out = pinText(BASE + HOOKS, DIGEST);
  assert.equal(parseManifest(out, "demo/plugin.toml").digest, DIGEST);
  assert.ok(out.startsWith(`${BASE}digest = "${DIGEST}"\n`), out);
  // No module line: still top-level, before the first table.
  const bare = pinText('name = "demo"' + HOOKS, DIGEST);
  assert.ok(bare.indexOf("digest") < bare.indexOf("[[hooks]]"), bare);
});

Deno.test("pinText() leaves a digest key inside a table alone", () => {
  const text = `${BASE}${HOOKS}digest = "not the top-level one"\n`;
  const out = pinText(text, DIGEST);
  assert.ok(out.startsWith(`${BASE}digest = "${DIGEST}"\n`), out);
  assert.ok(out.endsWith('digest = "not the top-level one"\n'), out);
});
