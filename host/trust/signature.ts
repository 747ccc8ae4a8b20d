/**
 * Publisher signatures: a detached Ed25519 signature (WebCrypto) over a
 * plugin's manifest bytes and module digest, kept beside the manifest as
 * `plugin.toml.sig`, verified against the publisher keys the host trusts.
 *
 * The signed message is the UTF-8 text
 * `gn plugin signature v1\nmanifest sha256:<hex>\nmodule blake3:<hex>\n`; the
 * manifest pins the module by its digest, and the digest is in the message
 * too, so neither can be swapped. Keys are written `ed25519:<base64 of the 32
 * raw bytes>`; a key's id is the first 16 hex digits of the SHA-256 of those
 * bytes.
 *
 * @module
 */

import { HookError } from "../../abi/errors.ts";
import { sha256 } from "./fingerprint.ts";

/** Suffix of a signature file: `plugin.toml.sig`. */
export const SIGNATURE_SUFFIX = ".sig";

/** What the host trusts, and whether it insists. */
export interface SignatureOptions {
  /**
   * Publisher name → its public keys (`ed25519:<base64>`). Several keys per
   * publisher allow a rotation: list the new key beside the old one, re-sign,
   * then drop the old key.
   */
  publishers: Readonly<Record<string, string | readonly string[]>>;
  /** Key ids or public keys that are refused even when listed (a leaked key). @default {[]} */
  revoked?: readonly string[];
  /**
   * Refuse plugins without a valid signature (`signature_missing`,
   * `signature_invalid`). Without it, an unsigned plugin loads, but a signature
   * that is present must verify. @default {false}
   */
  require?: boolean;
}

/** A generated key pair. */
export interface PublisherKeyPair {
  /** `ed25519:<base64 raw>`: give this to hosts. */
  publicKey: string;
  /** `ed25519-pkcs8:<base64 PKCS #8>`: keep it secret. */
  privateKey: string;
  /** The key id. */
  keyId: string;
}

/** Who signed a verified plugin. */
export interface SignedBy {
  /** The publisher name, as the host lists it. */
  readonly publisher: string;
  /** The key's id. */
  readonly keyId: string;
}

function b64(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

function unb64(text: string): Uint8Array {
  const s = atob(text);
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

/**
 * Decodes `ed25519:<base64>` into its 32 raw bytes.
 *
 * @param key The public key text.
 * @returns The raw key.
 * @throws {TypeError} For anything else.
 */
export function decodePublicKey(key: string): Uint8Array {
  const m = /^ed25519:([A-Za-z0-9+/]+={0,2})$/.exec(typeof key === "string" ? key.trim() : "");
  let raw: Uint8Array | undefined;
  try {
    raw = m === null ? undefined : unb64(m[1]);
  } catch {
    raw = undefined;
  }
  if (raw === undefined || raw.length !== 32) {
    throw new TypeError(
      `Cannot use public key ${
        JSON.stringify(key)
      }: not "ed25519:<base64 of 32 bytes>" (make one with \`deno task gn keygen\`)`,
    );
  }
  return raw;
}

/**
 * The id of a public key: 16 hex digits of its SHA-256.
 *
 * @param key `ed25519:<base64>`.
 * @returns The id.
 * @throws {TypeError} For a malformed key.
 */
export async function keyId(key: string): Promise<string> {
  return (await sha256(decodePublicKey(key))).slice("sha256:".length, "sha256:".length + 16);
}

/**
 * The message a signature covers.
 *
 * @param manifestBytes The `plugin.toml` bytes.
 * @param moduleDigest `blake3:<hex>` of the module.
 * @returns The bytes to sign.
 */
export async function signedMessage(
  manifestBytes: Uint8Array,
  moduleDigest: string,
): Promise<Uint8Array> {
  return new TextEncoder().encode(
    `gn plugin signature v1\nmanifest ${await sha256(manifestBytes)}\nmodule ${moduleDigest}\n`,
  );
}

/**
 * Generates an Ed25519 key pair.
 *
 * @returns The public key, private key and key id.
 *
 * @example Signing and verifying
 * ```ts
 * import { generateKeyPair, signPlugin, verifyPluginSignature } from "./signature.ts";
 * import assert from "node:assert/strict";
 * const pair = await generateKeyPair();
 * const manifest = new TextEncoder().encode('name = "x"');
 * const digest = "blake3:" + "0".repeat(64);
 * const sig = await signPlugin(manifest, digest, pair.privateKey);
 * const by = await verifyPluginSignature(manifest, digest, sig, {
 *   publishers: { acme: pair.publicKey },
 * }, "x/plugin.toml");
 * assert.deepEqual(by, { publisher: "acme", keyId: pair.keyId });
 * ```
 */
export async function generateKeyPair(): Promise<PublisherKeyPair> {
  const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, true, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
  const raw = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey));
  const publicKey = `ed25519:${b64(raw)}`;
  return { publicKey, privateKey: `ed25519-pkcs8:${b64(pkcs8)}`, keyId: await keyId(publicKey) };
}

/**
 * Signs a plugin.
 *
 * @param manifestBytes The `plugin.toml` bytes.
 * @param moduleDigest `blake3:<hex>` of its module (as the manifest pins it).
 * @param privateKey `ed25519-pkcs8:<base64>` from {@linkcode generateKeyPair}.
 * @returns The text of `plugin.toml.sig`.
 * @throws {TypeError} For a malformed private key.
 */
export async function signPlugin(
  manifestBytes: Uint8Array,
  moduleDigest: string,
  privateKey: string,
): Promise<string> {
  const m = /^ed25519-pkcs8:([A-Za-z0-9+/]+={0,2})$/.exec(privateKey.trim());
  if (m === null) {
    throw new TypeError('Cannot sign: the private key is not "ed25519-pkcs8:<base64>"');
  }
  const key = await crypto.subtle.importKey(
    "pkcs8",
    unb64(m[1]) as BufferSource,
    { name: "Ed25519" },
    true,
    ["sign"],
  );
  // The public key is the last 32 bytes of the JWK's x: derive it from the JWK export.
  const jwk = await crypto.subtle.exportKey("jwk", key);
  const raw = Uint8Array.from(
    atob(jwk.x!.replace(/-/g, "+").replace(/_/g, "/") + "="),
    (c) => c.charCodeAt(0),
  );
  const publicKey = `ed25519:${b64(raw)}`;
  const sig = new Uint8Array(
    await crypto.subtle.sign(
      "Ed25519",
      key,
      await signedMessage(manifestBytes, moduleDigest) as BufferSource,
    ),
  );
  return JSON.stringify(
    { version: 1, algorithm: "ed25519", key_id: await keyId(publicKey), signature: b64(sig) },
    null,
    2,
  ) + "\n";
}

/**
 * Verifies a plugin's signature against the trusted publisher keys.
 *
 * @param manifestBytes The `plugin.toml` bytes as read.
 * @param moduleDigest The verified `blake3:` digest of its module.
 * @param signatureText The text of `plugin.toml.sig`.
 * @param options The trusted publishers and revoked keys.
 * @param file The manifest, named in messages.
 * @returns The publisher and key.
 * @throws {HookError} `signature_invalid`: a malformed file, a key the host
 * does not list, a revoked key, or a signature that does not verify.
 */
export async function verifyPluginSignature(
  manifestBytes: Uint8Array,
  moduleDigest: string,
  signatureText: string,
  options: SignatureOptions,
  file: string,
): Promise<SignedBy> {
  const where = `${file}${SIGNATURE_SUFFIX}`;
  const invalid = (why: string) =>
    new HookError(
      "signature_invalid",
      `Cannot verify the signature of ${JSON.stringify(file)} (${where}): ${why}`,
    );
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(signatureText);
  } catch {
    throw invalid("not JSON; re-sign with `deno task gn sign`");
  }
  if (
    o === null || typeof o !== "object" || o.version !== 1 || o.algorithm !== "ed25519" ||
    typeof o.key_id !== "string" || typeof o.signature !== "string"
  ) {
    throw invalid(
      'not a {"version": 1, "algorithm": "ed25519", "key_id", "signature"} object; re-sign with `deno task gn sign`',
    );
  }
  const revoked = new Set<string>();
  for (const r of options.revoked ?? []) {
    revoked.add(r.startsWith("ed25519:") ? await keyId(r) : r);
  }
  let found: { publisher: string; key: string } | undefined;
  for (const [publisher, keys] of Object.entries(options.publishers)) {
    for (const key of typeof keys === "string" ? [keys] : keys) {
      if ((await keyId(key)) === o.key_id) found = { publisher, key };
    }
  }
  if (revoked.has(o.key_id)) {
    throw invalid(
      `signed with key ${o.key_id}, which this host has revoked; ask the publisher for a ` +
        "release signed with its new key",
    );
  }
  if (found === undefined) {
    throw invalid(
      `signed with key ${o.key_id}, which is not a key of any publisher this host trusts; add ` +
        "the publisher's public key to signatures.publishers if you trust it",
    );
  }
  let sig: Uint8Array;
  try {
    sig = unb64(o.signature);
  } catch {
    throw invalid("the signature is not base64");
  }
  const key = await crypto.subtle.importKey(
    "raw",
    decodePublicKey(found.key) as BufferSource,
    { name: "Ed25519" },
    false,
    ["verify"],
  );
  const ok = sig.length === 64 && await crypto.subtle.verify(
    "Ed25519",
    key,
    sig as BufferSource,
    await signedMessage(manifestBytes, moduleDigest) as BufferSource,
  );
  if (!ok) {
    throw invalid(
      `it does not match the manifest and module (key ${o.key_id} of "${found.publisher}"): ` +
        "the files changed after signing, or the signature was forged; get the publisher's " +
        "release again",
    );
  }
  return { publisher: found.publisher, keyId: o.key_id };
}

/**
 * Reads a manifest's signature file and verifies it; checks
 * `options.require` when there is none.
 *
 * @param file The manifest path (the signature is `<file>.sig`).
 * @param manifestBytes The manifest bytes as read.
 * @param moduleDigest The verified module digest.
 * @param options The host's signature options.
 * @returns Who signed it, or `undefined` for an unsigned plugin when not required.
 * @throws {HookError} `signature_missing`, `signature_invalid`.
 */
export async function checkPluginSignature(
  file: string,
  manifestBytes: Uint8Array,
  moduleDigest: string,
  options: SignatureOptions,
): Promise<SignedBy | undefined> {
  let text: string;
  try {
    const path = file.startsWith("file:") ? new URL(file) : file;
    text = await Deno.readTextFile(
      typeof path === "string" ? path + SIGNATURE_SUFFIX : new URL(path.href + SIGNATURE_SUFFIX),
    );
  } catch (cause) {
    if (!(cause instanceof Deno.errors.NotFound)) {
      throw new HookError(
        "signature_invalid",
        `Cannot read the signature of ${JSON.stringify(file)}: ${(cause as Error).message}`,
        { cause },
      );
    }
    if (options.require !== true) return undefined;
    throw new HookError(
      "signature_missing",
      `Cannot load ${JSON.stringify(file)}: this host requires signed plugins and there is no ` +
        `${file}${SIGNATURE_SUFFIX}; the publisher signs with \`deno task gn sign --key <key> ${file}\``,
    );
  }
  return await verifyPluginSignature(manifestBytes, moduleDigest, text, options, file);
}
