/**
 * Which loaded plugins each hook reaches, in chain order: what
 * `PluginHost.prepare` wakes, and which plugin a chain reaches next (woken
 * while the one before it works).
 *
 * @module
 */

import { latencyPolicy } from "../channel/spin.ts";

const CORES = typeof navigator === "undefined" ? 1 : navigator.hardwareConcurrency ?? 1;
import type { Plugin } from "./plugin.ts";

interface Entry {
  readonly plugin: Plugin;
  readonly priority: number;
  /** Load order: the tie-break, like the bus's registration order. */
  readonly order: number;
}

/** Plugins by hook, sorted by (priority, load order) like their bus bindings. */
export class HookPlugins {
  readonly #byHook = new Map<string, Entry[]>();
  #order = 0;

  /** Adds a plugin's bindings. */
  add(plugin: Plugin, hooks: readonly { name: string; priority: number }[]): void {
    const order = ++this.#order;
    for (const h of hooks) {
      const list = [...(this.#byHook.get(h.name) ?? []), { plugin, priority: h.priority, order }];
      list.sort((a, b) => a.priority - b.priority || a.order - b.order);
      this.#byHook.set(h.name, list);
    }
  }

  /** Removes every binding of a plugin. */
  remove(plugin: Plugin): void {
    for (const [hook, list] of this.#byHook) {
      const rest = list.filter((e) => e.plugin !== plugin);
      if (rest.length === 0) this.#byHook.delete(hook);
      else this.#byHook.set(hook, rest);
    }
  }

  /**
   * Wakes the workers of the first plugins bound to `hook`, in chain order:
   * as many as may spin at once (cores − 1, at least one). A worker woken
   * beyond that could not spin: it would only compete for the cores with the
   * ones that run first (the chain wakes the others as it reaches them).
   */
  prepare(hook: string): void {
    const list = this.#byHook.get(hook);
    if (list === undefined) return;
    const n = Math.min(list.length, Math.max(1, CORES - 1));
    for (let i = 0; i < n; i++) list[i].plugin.prewake();
  }

  /**
   * A chain has reached `plugin` on `hook`: wakes the plugin after it, so its
   * wake-up overlaps this one's work instead of adding to it.
   */
  reached(hook: string, plugin: Plugin): void {
    if (!latencyPolicy.chainPrewake) return;
    const list = this.#byHook.get(hook);
    if (list === undefined || list.length < 2) return;
    for (let i = 0; i < list.length - 1; i++) {
      if (list[i].plugin === plugin) {
        list[i + 1].plugin.prewake();
        return;
      }
    }
  }
}
