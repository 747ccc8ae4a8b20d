/**
 * Fingerprints: what the trust store approves. A hook definition's
 * fingerprint covers every field that changes what runs (and, for a command
 * whose program is a path, that file's bytes; for a wasm handler, its
 * manifest's bytes); a plugin's covers its manifest file and module digest.
 * Each comes with a snapshot, kept in the store, so a change can be shown.
 *
 * @module
 */

import { resolve } from "node:path";
import type { HookDefinition } from "../hookfiles/schema.ts";
import type { LoadedManifest } from "../manifest/mod.ts";

/** Something the trust store can approve. */
export interface TrustSubject {
  /** `hook:<id>` for a hook definition, `plugin:<name>` for a plugin. */
  readonly key: string;
  /** `sha256:<64 hex>` over the canonical JSON of `snapshot`. */
  readonly fingerprint: string;
  /** What was fingerprinted, as shown when it changes. */
  readonly snapshot: Readonly<Record<string, unknown>>;
}

/**
 * JSON with object keys sorted at every level: one text per value.
 *
 * @param value A JSON value.
 * @returns The canonical text.
 *
 * @example
 * ```ts
 * import { canonicalJson } from "./fingerprint.ts";
 * import assert from "node:assert/strict";
 * assert.equal(canonicalJson({ b: 1, a: [{ d: 2, c: 3 }] }), '{"a":[{"c":3,"d":2}],"b":1}');
 * ```
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const keys = Object.keys(value).filter((k) =>
      (value as Record<string, unknown>)[k] !== undefined
    ).sort();
    return `{${
      keys.map((k) =>
        `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`
      ).join(",")
    }}`;
  }
  return JSON.stringify(value) ?? "null";
}

/**
 * SHA-256 of bytes or text, as `sha256:<hex>`.
 *
 * @param data The bytes, or text (hashed as UTF-8).
 * @returns The digest.
 *
 * @example
 * ```ts
 * import { sha256 } from "./fingerprint.ts";
 * import assert from "node:assert/strict";
 * assert.equal(
 *   await sha256(""),
 *   "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
 * );
 * ```
 */
export async function sha256(data: Uint8Array | string): Promise<string> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as BufferSource));
  return "sha256:" + Array.from(d, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function fileDigest(path: string): Promise<string> {
  try {
    return await sha256(await Deno.readFile(path));
  } catch (e) {
    return `unreadable (${(e as Error).name})`;
  }
}

/**
 * The fingerprint of a hook definition. Paths are kept as written (relative
 * to its file's folder); a command whose program is a path (contains `/`) includes
 * that file's SHA-256, so editing the script needs a new approval; a wasm
 * handler includes its `plugin.toml`'s SHA-256 (which pins the module).
 *
 * @param d The definition.
 * @returns Its trust subject, key `hook:<id>`.
 */
export async function definitionFingerprint(d: HookDefinition): Promise<TrustSubject> {
  const snapshot: Record<string, unknown> = {
    id: d.id,
    hook: d.hook,
    kind: d.kind,
    type: d.type,
    matcher: d.matcher,
    match_field: d.matchField,
    priority: d.priority,
    fail: d.fail,
    timeout_ms: d.timeoutMs,
    command: d.command,
    shell: d.shell,
    env: d.env,
    url: d.url,
    headers: d.headers,
  };
  // Paths as written (relative to the hook file's folder), so that a checkout moved elsewhere
  // keeps its approvals; the bytes of what they name are covered by digests.
  if (d.type === "command") {
    snapshot.cwd = d.cwd;
    const program = d.command?.[0];
    if (program !== undefined && program.includes("/")) {
      snapshot.program_sha256 = await fileDigest(resolve(d.dir, d.cwd ?? ".", program));
    }
  }
  if (d.type === "wasm") {
    snapshot.plugin = d.plugin;
    snapshot.plugin_sha256 = await fileDigest(resolve(d.dir, d.plugin!));
  }
  return { key: `hook:${d.id}`, fingerprint: await sha256(canonicalJson(snapshot)), snapshot };
}

/**
 * The fingerprint of a plugin: its manifest file's bytes and module digest.
 *
 * @param name The plugin name.
 * @param manifestBytes The `plugin.toml` bytes as read.
 * @param moduleDigest The verified `blake3:` digest of its module.
 * @param shown Manifest fields shown when it changes (version, capabilities, hooks).
 * @returns Its trust subject, key `plugin:<name>`.
 */
export async function pluginFingerprint(
  name: string,
  manifestBytes: Uint8Array,
  moduleDigest: string,
  shown: Readonly<Record<string, unknown>> = {},
): Promise<TrustSubject> {
  const snapshot = {
    ...shown,
    manifest_sha256: await sha256(manifestBytes),
    module: moduleDigest,
  };
  return { key: `plugin:${name}`, fingerprint: await sha256(canonicalJson(snapshot)), snapshot };
}

/**
 * What changed between two snapshots, one line per field.
 *
 * @param before The approved snapshot, or `undefined` for a new subject.
 * @param after The current one.
 * @returns Lines like `command: ["a"] → ["b"]`; empty when equal.
 *
 * @example
 * ```ts
 * import { describeChange } from "./fingerprint.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual(describeChange({ a: 1, b: 2 }, { a: 1, b: 3 }), ["b: 2 → 3"]);
 * ```
 */
export function describeChange(
  before: Readonly<Record<string, unknown>> | undefined,
  after: Readonly<Record<string, unknown>>,
): string[] {
  const keys = [...new Set([...Object.keys(before ?? {}), ...Object.keys(after)])].sort();
  const lines: string[] = [];
  for (const k of keys) {
    const a = before === undefined ? undefined : canonicalJson(before[k]);
    const b = canonicalJson(after[k]);
    if (before === undefined) {
      if (after[k] !== undefined) lines.push(`${k}: ${b}`);
    } else if (a !== b) {
      lines.push(
        `${k}: ${before[k] === undefined ? "(none)" : a} → ${
          after[k] === undefined ? "(none)" : b
        }`,
      );
    }
  }
  return lines;
}

/**
 * The fingerprint of a plugin read by `readManifest`: what the host and
 * `gn trust` compute alike (version, capabilities and hooks are shown when
 * it changes).
 *
 * @param loaded The read and verified manifest.
 * @returns Its trust subject, key `plugin:<name>`.
 */
export function loadedPluginFingerprint(loaded: LoadedManifest): Promise<TrustSubject> {
  const m = loaded.manifest;
  return pluginFingerprint(m.name, loaded.manifestBytes, m.digest, {
    version: m.version,
    capabilities: m.capabilities,
    hooks: m.hooks,
  });
}
