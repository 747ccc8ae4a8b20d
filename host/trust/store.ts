/**
 * The trust store: a JSON file of approved fingerprints, one per hook
 * definition (`hook:<id>`) or plugin (`plugin:<name>`), with the snapshot
 * that was approved, so a change can be shown against it.
 *
 * ```json
 * { "version": 1, "approved": { "hook:block-rm": { "fingerprint": "sha256:…", "snapshot": {…}, "approved_at": "…" } } }
 * ```
 *
 * @module
 */

import { HookError } from "../../abi/errors.ts";
import { describeChange, type TrustSubject } from "./fingerprint.ts";

/** One approval. */
export interface TrustEntry {
  /** The approved fingerprint. */
  readonly fingerprint: string;
  /** What it was computed from. */
  readonly snapshot: Readonly<Record<string, unknown>>;
  /** When, ISO 8601. */
  readonly approvedAt: string;
}

/** Where a subject stands against the store. */
export interface TrustStatus {
  /** `approved`: the fingerprint matches; `new`: never approved; `changed`: approved, then changed. */
  readonly state: "approved" | "new" | "changed";
  /** The approval on file, for `approved` and `changed`. */
  readonly previous?: TrustEntry;
  /** What changed since the approval (every field, for `new`). */
  readonly changes: readonly string[];
}

const KEY_RE = /^(hook|plugin):[A-Za-z0-9._-]{1,64}$/;

/**
 * A trust store backed by a file. Approvals are written at once (through a
 * temporary file and a rename, so a crash never leaves half a file).
 *
 * @example Approving a subject
 * ```ts
 * import { TrustStore } from "./store.ts";
 * import assert from "node:assert/strict";
 * const dir = await Deno.makeTempDir();
 * const store = await TrustStore.open(`${dir}/trust.json`);
 * const subject = { key: "hook:a", fingerprint: "sha256:00", snapshot: { x: 1 } };
 * assert.equal(store.status(subject).state, "new");
 * await store.approve(subject);
 * assert.equal((await TrustStore.open(`${dir}/trust.json`)).status(subject).state, "approved");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class TrustStore {
  /** The file. */
  readonly path: string;
  readonly #entries: Map<string, TrustEntry>;
  #writing: Promise<void> = Promise.resolve();

  private constructor(path: string, entries: Map<string, TrustEntry>) {
    this.path = path;
    this.#entries = entries;
  }

  /**
   * Opens a store; a missing file is an empty store (created on the first approval).
   *
   * @param path The JSON file.
   * @returns The store.
   * @throws {SyntaxError} For a file that is not a trust store, naming the file.
   * @throws {HookError} `permission_required` when the host may not read it.
   */
  static async open(path: string): Promise<TrustStore> {
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return new TrustStore(path, new Map());
      if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) {
        throw new HookError(
          "permission_required",
          `Cannot read trust store ${JSON.stringify(path)}: the host may not read it; run Deno ` +
            `with --allow-read and --allow-write on it (approvals are written there)`,
          { cause: e },
        );
      }
      throw e;
    }
    const bad = (why: string) =>
      new SyntaxError(
        `Cannot read trust store ${JSON.stringify(path)}: ${why}; fix or remove the file ` +
          "(then approve again with `deno task gn trust`)",
      );
    let o: unknown;
    try {
      o = JSON.parse(text);
    } catch {
      throw bad("not JSON");
    }
    if (o === null || typeof o !== "object" || (o as { version?: unknown }).version !== 1) {
      throw bad('not a {"version": 1, "approved": {...}} object');
    }
    const approved = (o as { approved?: unknown }).approved;
    if (approved === null || typeof approved !== "object" || Array.isArray(approved)) {
      throw bad('"approved" is not an object');
    }
    const entries = new Map<string, TrustEntry>();
    for (const [key, v] of Object.entries(approved)) {
      const e = v as Record<string, unknown>;
      if (
        !KEY_RE.test(key) || e === null || typeof e !== "object" ||
        typeof e.fingerprint !== "string" || !/^sha256:[0-9a-f]+$/.test(e.fingerprint) ||
        e.snapshot === null || typeof e.snapshot !== "object" ||
        typeof e.approved_at !== "string"
      ) {
        throw bad(`entry ${JSON.stringify(key)} is malformed`);
      }
      entries.set(key, {
        fingerprint: e.fingerprint,
        snapshot: e.snapshot as Record<string, unknown>,
        approvedAt: e.approved_at,
      });
    }
    return new TrustStore(path, entries);
  }

  /**
   * Where a subject stands.
   *
   * @param subject A fingerprinted definition or plugin.
   * @returns Approved, new or changed, with the changes.
   */
  status(subject: TrustSubject): TrustStatus {
    const previous = this.#entries.get(subject.key);
    if (previous === undefined) {
      return { state: "new", changes: describeChange(undefined, subject.snapshot) };
    }
    if (previous.fingerprint === subject.fingerprint) {
      return { state: "approved", previous, changes: [] };
    }
    return {
      state: "changed",
      previous,
      changes: describeChange(previous.snapshot, subject.snapshot),
    };
  }

  /**
   * Approves a subject's current fingerprint and writes the file.
   *
   * @param subject What to approve.
   * @returns When the file is written.
   */
  approve(subject: TrustSubject): Promise<void> {
    this.#entries.set(subject.key, {
      fingerprint: subject.fingerprint,
      snapshot: subject.snapshot,
      approvedAt: new Date().toISOString(),
    });
    return this.#save();
  }

  /**
   * Withdraws an approval and writes the file.
   *
   * @param key `hook:<id>` or `plugin:<name>`.
   * @returns Whether there was one.
   */
  async revoke(key: string): Promise<boolean> {
    const had = this.#entries.delete(key);
    if (had) await this.#save();
    return had;
  }

  /**
   * The approvals, by key.
   *
   * @returns A copy.
   */
  entries(): Map<string, TrustEntry> {
    return new Map(this.#entries);
  }

  #save(): Promise<void> {
    const approved: Record<string, unknown> = {};
    for (const key of [...this.#entries.keys()].sort()) {
      const e = this.#entries.get(key)!;
      approved[key] = {
        fingerprint: e.fingerprint,
        snapshot: e.snapshot,
        approved_at: e.approvedAt,
      };
    }
    const text = JSON.stringify({ version: 1, approved }, null, 2) + "\n";
    const run = async () => {
      const tmp = `${this.path}.tmp-${Deno.pid}`;
      await Deno.writeTextFile(tmp, text);
      await Deno.rename(tmp, this.path);
    };
    this.#writing = this.#writing.then(run, run);
    return this.#writing;
  }
}
