/**
 * Reading a manifest from disk: its module confined to the manifest's folder,
 * its size capped before it is read, its BLAKE3 digest checked before
 * anything compiles it.
 *
 * @module
 */

import { createBLAKE3 } from "hash-wasm";
import { dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { HookError } from "../../abi/errors.ts";
import type { Manifest } from "./schema.ts";
import { parseManifest } from "./parse.ts";
import { PIN_HINT, quote } from "./problems.ts";

/** A manifest read by {@linkcode readManifest}, with its verified module bytes. */
export interface LoadedManifest {
  /** The validated manifest. */
  manifest: Manifest;
  /** How the manifest is named in messages: the path or URL as given. */
  file: string;
  /** The manifest's canonical `file:` URL (absolute, symbolic links resolved). */
  canonicalFile: string;
  /** `file:` URL of the module, inside the manifest's folder. */
  moduleUrl: URL;
  /** The module's bytes; their BLAKE3 digest matches `manifest.digest`. */
  bytes: Uint8Array;
  /** The manifest file's bytes as read (what a publisher signature covers). */
  manifestBytes: Uint8Array;
}

/** Options of {@linkcode readManifest}. */
export interface ReadManifestOptions {
  /**
   * Largest module accepted, in bytes. A bigger file is refused with
   * `module_too_large` before it is read.
   *
   * @default {16777216}
   */
  maxModuleBytes?: number;
}

/**
 * Default of {@linkcode ReadManifestOptions.maxModuleBytes}: 16 MiB.
 *
 * @example Reading the cap
 * ```ts
 * import { DEFAULT_MAX_MODULE_BYTES } from "./read.ts";
 * import assert from "node:assert/strict";
 * assert.equal(DEFAULT_MAX_MODULE_BYTES, 16 * 1024 * 1024);
 * ```
 */
export const DEFAULT_MAX_MODULE_BYTES: number = 16 * 1024 * 1024;

/** Largest `plugin.toml` read, in bytes. */
const MAX_MANIFEST_BYTES = 1024 * 1024;

/**
 * Reads a `plugin.toml` and the module it names, and verifies the module.
 *
 * In order: reads and parses the manifest ({@linkcode parseManifest}); resolves
 * `module` inside the manifest's folder, following symbolic links, and refuses
 * it if its real path is outside the folder's real path; refuses a module
 * larger than the cap from its size alone, before reading it, and never reads
 * more than cap + 1 bytes; checks the BLAKE3 digest. Nothing is compiled.
 *
 * Only file system paths and `file:` URLs are accepted; remote manifests
 * (`http:`, `https:`) are refused: fetch them into a folder first.
 *
 * Needs read permission for the manifest's folder.
 *
 * @param location Path (relative to the working directory) or `file:` URL of
 * the manifest.
 * @param options The module size cap.
 * @returns The manifest, its display name, the module URL and verified bytes.
 * @throws {TypeError} When `location` is not a path or a `file:` URL.
 * @throws {RangeError} When `maxModuleBytes` is not a positive safe integer.
 * @throws {HookError} `invalid_manifest` for an unreadable or invalid manifest,
 * a missing module or one outside the folder; `abi_version`;
 * `module_too_large`; `digest_mismatch` (names the expected and actual digest).
 *
 * @example Refusing a remote manifest
 * ```ts
 * import { readManifest } from "./read.ts";
 * import assert from "node:assert/strict";
 * await assert.rejects(readManifest("https://example.com/plugin.toml"), TypeError);
 * ```
 */
export async function readManifest(
  location: string | URL,
  options: ReadManifestOptions = {},
): Promise<LoadedManifest> {
  const cap = options.maxModuleBytes ?? DEFAULT_MAX_MODULE_BYTES;
  if (!Number.isSafeInteger(cap) || cap < 1) {
    throw new RangeError(
      `Cannot read manifest: maxModuleBytes must be a positive safe integer, got ${cap}`,
    );
  }
  const { file, path } = resolveLocation(location);

  const manifestBytes = await readFileBounded(path, MAX_MANIFEST_BYTES, (e) =>
    new HookError(
      "invalid_manifest",
      `Cannot read manifest ${quote(file)}: ${describeFsError(e)}`,
      { cause: e },
    ));
  if (manifestBytes === null) {
    throw new HookError(
      "invalid_manifest",
      `Cannot read manifest ${quote(file)}: larger than ${MAX_MANIFEST_BYTES} bytes`,
    );
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(manifestBytes);
  } catch (e) {
    throw new HookError(
      "invalid_manifest",
      `Invalid manifest ${quote(file)}: not valid UTF-8`,
      { cause: e },
    );
  }
  const manifest = parseManifest(text, file);
  const plugin = manifest.name;

  // Resolve the module inside the folder, lexically and then for real.
  const segments = manifest.module.split("/");
  const folder = dirname(path);
  const modulePath = join(folder, ...segments);
  const moduleFile = isUrlLike(file)
    ? new URL(segments.map(encodeURIComponent).join("/"), file).href
    : join(dirname(file), ...segments);
  const moduleRefusal = (reason: string, cause?: unknown): HookError =>
    new HookError(
      "invalid_manifest",
      `Invalid manifest ${quote(file)}: key "module": ${reason}`,
      { plugin, cause },
    );
  if (!isInside(folder, modulePath)) {
    throw moduleRefusal(`${quote(manifest.module)} is outside the manifest's folder`);
  }
  let realFolder: string;
  let realModule: string;
  try {
    realFolder = await Deno.realPath(folder);
    realModule = await Deno.realPath(modulePath);
  } catch (e) {
    throw moduleRefusal(`cannot open ${quote(moduleFile)}: ${describeFsError(e)}`, e);
  }
  if (!isInside(realFolder, realModule)) {
    throw moduleRefusal(
      `${quote(manifest.module)} resolves to ${quote(realModule)}, outside the manifest's folder`,
    );
  }

  // Size first, from metadata only; a FIFO or device is never opened.
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(realModule);
  } catch (e) {
    throw moduleRefusal(`cannot open ${quote(moduleFile)}: ${describeFsError(e)}`, e);
  }
  if (!info.isFile) throw moduleRefusal(`${quote(moduleFile)} is not a regular file`);
  const tooLarge = (size: string): HookError =>
    new HookError(
      "module_too_large",
      `Module too large ${quote(moduleFile)} (from ${
        quote(file)
      }): key "module": ${size} bytes exceeds the cap of ${cap} bytes`,
      { plugin },
    );
  if (info.size > cap) throw tooLarge(String(info.size));
  // The digest, before anything compiles: hashed as the file is read, a chunk
  // at a time, so a large module never stalls the event loop.
  const hasher = await createBLAKE3();
  hasher.init();
  const bytes = await readFileBounded(
    realModule,
    cap,
    (e) => moduleRefusal(`cannot read ${quote(moduleFile)}: ${describeFsError(e)}`, e),
    (chunk) => hasher.update(chunk),
  );
  if (bytes === null) throw tooLarge(`more than ${cap}`);
  const actual = `blake3:${hasher.digest("hex")}`;
  if (actual !== manifest.digest) {
    throw new HookError(
      "digest_mismatch",
      `Digest mismatch for module ${quote(moduleFile)} (from ${
        quote(file)
      }): key "digest": expected ${manifest.digest}, actual ${actual}; not the module the ` +
        `manifest pins: if you rebuilt it on purpose, ${PIN_HINT}`,
      { plugin },
    );
  }
  let canonicalFile: string;
  try {
    canonicalFile = pathToFileURL(await Deno.realPath(path)).href;
  } catch (e) {
    throw new HookError(
      "invalid_manifest",
      `Cannot read manifest ${quote(file)}: ${describeFsError(e)}`,
      { plugin, cause: e },
    );
  }
  return {
    manifest,
    file,
    canonicalFile,
    moduleUrl: pathToFileURL(modulePath),
    bytes,
    manifestBytes,
  };
}

/** A scheme of two letters or more, so that `C:\x` stays a path. */
function isUrlLike(s: string): boolean {
  return /^[A-Za-z][A-Za-z0-9+.-]+:/.test(s);
}

function resolveLocation(location: string | URL): { file: string; path: string } {
  if (typeof location === "string" && !isUrlLike(location)) {
    if (location === "") throw new TypeError("Cannot read manifest: the path is empty");
    return { file: location, path: resolve(location) };
  }
  let url: URL;
  try {
    url = location instanceof URL ? location : new URL(location);
  } catch (e) {
    throw new TypeError(`Cannot read manifest ${quote(String(location))}: not a valid URL`, {
      cause: e,
    });
  }
  if (url.protocol !== "file:") {
    throw new TypeError(
      `Cannot read manifest ${
        quote(url.href)
      }: only file system paths and file: URLs are supported, not ${url.protocol} URLs`,
    );
  }
  try {
    return { file: url.href, path: fileURLToPath(url) };
  } catch (e) {
    throw new TypeError(`Cannot read manifest ${quote(url.href)}: ${(e as Error).message}`, {
      cause: e,
    });
  }
}

function isInside(folder: string, path: string): boolean {
  const rel = relative(folder, path);
  return rel !== "" && rel !== ".." && !rel.startsWith(".." + sep) && !isAbsolute(rel);
}

/**
 * Reads at most `cap + 1` bytes of a file; `null` when there are more than
 * `cap`. File system errors go through `refuse`; `onChunk` sees each chunk read.
 */
async function readFileBounded(
  path: string,
  cap: number,
  refuse: (e: unknown) => Error,
  onChunk?: (chunk: Uint8Array) => void,
): Promise<Uint8Array | null> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    using handle = await Deno.open(path, { read: true });
    while (total <= cap) {
      const chunk = new Uint8Array(Math.min(64 * 1024, cap + 1 - total));
      const n = await handle.read(chunk);
      if (n === null) break;
      chunks.push(chunk.subarray(0, n));
      total += n;
      if (total <= cap) onChunk?.(chunk.subarray(0, n));
    }
  } catch (e) {
    throw refuse(e);
  }
  if (total > cap) return null;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

function describeFsError(e: unknown): string {
  if (e instanceof Deno.errors.NotFound) return "file not found";
  if (e instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (e instanceof Deno.errors.IsADirectory) return "is a directory";
  return e instanceof Error ? e.message : String(e);
}
