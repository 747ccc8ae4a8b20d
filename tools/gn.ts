/**
 * `gn`: the operator's commands for hook files and plugin trust.
 *
 * ```sh
 * deno task gn --help
 * deno task gn keygen --out keys/acme                 # keys/acme.key (secret), keys/acme.pub
 * deno task gn sign --key keys/acme.key plugins/shout/plugin.toml   # writes plugin.toml.sig
 * deno task gn trust --store trust.json --hooks ~/.gn/hooks --hooks .gn/hooks --plugins plugins
 * deno task gn trust --store trust.json --hooks .gn/hooks --approve hook:block-rm
 * ```
 *
 * `trust` shows every hook definition and plugin with its state against the
 * store (approved, new, changed) and, for new and changed ones, what changed;
 * `--approve KEY` (repeatable) or `--approve-all` records their current
 * fingerprints. Nothing is run: fingerprints are computed from the files.
 *
 * @module
 */

import { discoverHooks } from "../host/hookfiles/discover.ts";
import { readManifest } from "../host/manifest/mod.ts";
import {
  definitionFingerprint,
  loadedPluginFingerprint,
  type TrustSubject,
} from "../host/trust/fingerprint.ts";
import { TrustStore } from "../host/trust/store.ts";
import { generateKeyPair, SIGNATURE_SUFFIX, signPlugin } from "../host/trust/signature.ts";
import { resolve } from "node:path";

const HELP = `gn: hook files and plugin trust for the gn plugin host

Usage:
  deno task gn keygen --out <path>
      Generates an Ed25519 publisher key pair: <path>.key (secret, mode 0600)
      and <path>.pub ("ed25519:<base64>", give it to hosts: signatures.publishers).
  deno task gn sign --key <path.key> <plugin.toml>...
      Verifies each manifest's module digest, then writes <plugin.toml>.sig: a
      detached signature over the manifest bytes and the module digest.
  deno task gn trust --store <trust.json> [--hooks <dir>]... [--plugins <dir>]...
                     [--approve <key>]... [--approve-all]
      Shows each hook definition (key hook:<id>) found in the --hooks layers,
      and each plugin (key plugin:<name>) in --plugins folders and wasm hook
      definitions, as approved, new or changed against the store, with what
      changed. --approve records the current fingerprint of the keys given,
      --approve-all of everything new or changed. Exits 1 while anything
      shown is unapproved and not approved by this run.
  deno task gn --help
`;

interface Args {
  command?: string;
  flags: Map<string, string[]>;
  positional: string[];
}

function parseArgs(argv: readonly string[]): Args {
  const flags = new Map<string, string[]>();
  const positional: string[] = [];
  let command: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--help" || a === "-h" || a === "--approve-all") {
      flags.set(a, ["true"]);
    } else if (a.startsWith("--")) {
      const [name, inline] = a.split("=", 2);
      const value = inline ?? argv[++i];
      if (value === undefined) throw new TypeError(`${name} needs a value`);
      flags.set(name, [...(flags.get(name) ?? []), value]);
    } else if (command === undefined) {
      command = a;
    } else {
      positional.push(a);
    }
  }
  return { command, flags, positional };
}

function one(args: Args, name: string): string {
  const v = args.flags.get(name);
  if (v === undefined || v.length !== 1) throw new TypeError(`give ${name} once`);
  return v[0];
}

async function keygen(args: Args): Promise<number> {
  const out = one(args, "--out");
  const pair = await generateKeyPair();
  await Deno.writeTextFile(`${out}.key`, pair.privateKey + "\n", { mode: 0o600 });
  await Deno.writeTextFile(`${out}.pub`, pair.publicKey + "\n");
  console.log(`Wrote ${out}.key (secret) and ${out}.pub; key id ${pair.keyId}`);
  console.log(`Public key: ${pair.publicKey}`);
  return 0;
}

async function sign(args: Args): Promise<number> {
  const key = (await Deno.readTextFile(one(args, "--key"))).trim();
  if (args.positional.length === 0) throw new TypeError("name at least one plugin.toml");
  for (const file of args.positional) {
    const loaded = await readManifest(file); // checks the module's digest first
    const sig = await signPlugin(loaded.manifestBytes, loaded.manifest.digest, key);
    await Deno.writeTextFile(file + SIGNATURE_SUFFIX, sig);
    console.log(
      `Signed ${file} (${loaded.manifest.name} ${loaded.manifest.version}): ` +
        `${file}${SIGNATURE_SUFFIX}, key ${JSON.parse(sig).key_id}`,
    );
  }
  return 0;
}

async function trust(args: Args): Promise<number> {
  const store = await TrustStore.open(one(args, "--store"));
  const subjects: { subject: TrustSubject; file: string }[] = [];
  const problems: string[] = [];
  const found = await discoverHooks(args.flags.get("--hooks") ?? []);
  for (const f of found.failed) problems.push(`${f.error.code}: ${f.error.message}`);
  const manifests: string[] = [];
  for (const d of found.definitions) {
    subjects.push({ subject: await definitionFingerprint(d), file: d.file });
    if (d.type === "wasm") manifests.push(resolve(d.dir, d.plugin!));
  }
  for (const dir of args.flags.get("--plugins") ?? []) {
    const names: string[] = [];
    for await (const e of Deno.readDir(dir)) if (e.isDirectory) names.push(e.name);
    for (const n of names.sort()) {
      try {
        if ((await Deno.stat(`${dir}/${n}/plugin.toml`)).isFile) {
          manifests.push(`${dir}/${n}/plugin.toml`);
        }
      } catch {
        // not a plugin folder
      }
    }
  }
  for (const file of new Set(manifests)) {
    try {
      subjects.push({ subject: await loadedPluginFingerprint(await readManifest(file)), file });
    } catch (e) {
      problems.push(`${(e as { code?: string }).code ?? "error"}: ${(e as Error).message}`);
    }
  }
  const approve = new Set(args.flags.get("--approve") ?? []);
  const all = args.flags.has("--approve-all");
  const known = new Set(subjects.map((s) => s.subject.key));
  for (const key of approve) {
    if (!known.has(key)) problems.push(`--approve ${key}: no such hook definition or plugin found`);
  }
  let waiting = 0;
  for (const { subject, file } of subjects) {
    const status = store.status(subject);
    const approving = status.state !== "approved" && (all || approve.has(subject.key));
    const label = status.state === "approved" ? "approved" : approving ? "APPROVING" : status.state;
    console.log(`${label.padEnd(9)} ${subject.key}  (${file})`);
    if (status.state !== "approved") {
      for (const line of status.changes) console.log(`            ${line}`);
      if (approving) await store.approve(subject);
      else waiting++;
    }
  }
  for (const p of problems) console.error(`problem: ${p}`);
  if (waiting > 0) {
    console.log(
      `\n${waiting} waiting for approval: review, then --approve <key> (or --approve-all)`,
    );
  }
  return waiting > 0 || problems.length > 0 ? 1 : 0;
}

/**
 * Runs the command line.
 *
 * @param argv The arguments after `gn`.
 * @returns The exit code.
 */
export async function main(argv: readonly string[]): Promise<number> {
  let args: Args;
  try {
    args = parseArgs(argv);
  } catch (e) {
    console.error(`gn: ${(e as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (args.flags.has("--help") || args.command === undefined || args.command === "help") {
    console.log(HELP);
    return args.command === undefined && !args.flags.has("--help") ? 2 : 0;
  }
  try {
    switch (args.command) {
      case "keygen":
        return await keygen(args);
      case "sign":
        return await sign(args);
      case "trust":
        return await trust(args);
      default:
        console.error(`gn: unknown command "${args.command}"\n\n${HELP}`);
        return 2;
    }
  } catch (e) {
    const code = (e as { code?: string }).code;
    console.error(
      `gn ${args.command}: ${code === undefined ? "" : `${code}: `}${(e as Error).message}`,
    );
    return e instanceof TypeError ? 2 : 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
