/**
 * The per-plugin key/value store behind the `state` capability: a small
 * interface an application can replace, and an in-memory default.
 *
 * @module
 */

/**
 * A host-owned key/value store, partitioned by plugin. The `plugin` argument
 * is the plugin's identity (`PluginInfo.identity`: its name when pinned,
 * otherwise its manifest's canonical `file:` URL), never just the name a
 * manifest claims. Methods may be synchronous or return promises; the plugin
 * waits either way (its worker parks), the host thread never does.
 */
export interface StateStore {
  /** The value of `key` for `plugin`, or `undefined`. */
  get(plugin: string, key: string): Uint8Array | undefined | Promise<Uint8Array | undefined>;
  /** Sets `key` for `plugin`. */
  set(plugin: string, key: string, value: Uint8Array): void | Promise<void>;
  /** Deletes `key` for `plugin`; deleting an absent key is fine. */
  delete(plugin: string, key: string): void | Promise<void>;
  /** Whether `key` exists for `plugin`. */
  has(plugin: string, key: string): boolean | Promise<boolean>;
  /** How many keys `plugin` has. */
  count(plugin: string): number | Promise<number>;
}

/** Quotas the host enforces on every plugin's state, whatever the store. */
export interface StateQuotas {
  /** Longest key, in UTF-8 bytes. @default {256} */
  maxKeyBytes: number;
  /** Largest value, in bytes. @default {65536} */
  maxValueBytes: number;
  /** Most keys per plugin. @default {1024} */
  maxKeys: number;
}

/** The default {@linkcode StateQuotas}. */
export const DEFAULT_STATE_QUOTAS: Readonly<StateQuotas> = Object.freeze({
  maxKeyBytes: 256,
  maxValueBytes: 65536,
  maxKeys: 1024,
});

/**
 * The in-memory default store.
 *
 * @example
 * ```ts
 * import { MemoryStateStore } from "./state.ts";
 * import assert from "node:assert/strict";
 * const store = new MemoryStateStore();
 * store.set("p", "k", new Uint8Array([1, 2]));
 * assert.deepEqual(store.get("p", "k"), new Uint8Array([1, 2]));
 * assert.equal(store.get("other", "k"), undefined);
 * assert.equal(store.count("p"), 1);
 * ```
 */
export class MemoryStateStore implements StateStore {
  readonly #data = new Map<string, Map<string, Uint8Array>>();

  #of(plugin: string): Map<string, Uint8Array> {
    let m = this.#data.get(plugin);
    if (m === undefined) this.#data.set(plugin, m = new Map());
    return m;
  }

  /** {@inheritDoc StateStore.get} */
  get(plugin: string, key: string): Uint8Array | undefined {
    return this.#data.get(plugin)?.get(key);
  }

  /** {@inheritDoc StateStore.set} */
  set(plugin: string, key: string, value: Uint8Array): void {
    this.#of(plugin).set(key, value.slice());
  }

  /** {@inheritDoc StateStore.delete} */
  delete(plugin: string, key: string): void {
    this.#data.get(plugin)?.delete(key);
  }

  /** {@inheritDoc StateStore.has} */
  has(plugin: string, key: string): boolean {
    return this.#data.get(plugin)?.has(key) ?? false;
  }

  /** {@inheritDoc StateStore.count} */
  count(plugin: string): number {
    return this.#data.get(plugin)?.size ?? 0;
  }
}
