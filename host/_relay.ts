/**
 * The chain hand-off, host side (issue 13): when the next bindings of a
 * filter dispatch are plugins, their idle instances are held before the
 * current plugin is called, and each worker publishes the next plugin's
 * request itself (`channel/relay.ts`). The next worker's wake-up then
 * overlaps the host collecting the answer before it, instead of following it.
 *
 * The bus still calls every binding, in order, with what the binding before
 * it returned: a held call is only *collected* when the bus reaches it with
 * exactly the value the worker handed on (the same object) and the same
 * arguments. Anything else (a binding that failed, was unloaded or skipped, a
 * value the host refused) takes the holds back: a request not yet picked up
 * never runs; one already running is collected and its outcome dropped, and
 * only then is the next hold taken back.
 *
 * @module
 */

import type { Forward } from "../channel/host_end.ts";
import { latencyPolicy } from "../channel/spin.ts";
import { filterTailBytes } from "../channel/relay.ts";
import type { Held, Plugin } from "./plugin.ts";

/** The option key by which the host marks a plugin's filter binding on the bus. */
export const RELAY: unique symbol = Symbol("gn.relay");

/** A plugin's filter binding, as the hand-off sees it. */
export interface RelayHop {
  readonly plugin: Plugin;
  readonly hook: string;
  /** Whether the bus would call the plugin now for any value: loaded, and no matcher. */
  ready(): boolean;
}

/** A binding of the bus that takes part in hand-offs. */
export interface RelayBinding {
  readonly hop: RelayHop;
  /**
   * Runs the binding at `at` in a dispatch: like the binding's own handler,
   * with the dispatch's holds.
   */
  filter(value: unknown, args: unknown[], run: ChainRun, at: number): unknown;
}

/**
 * Test hook, process-wide: steps handed on and collected (`adopted`), holds
 * taken back after a request was handed on into them (`takenBack`), and of
 * those, the ones whose request had already started (`discarded`).
 */
export const RELAY_COUNTS_FOR_TESTS: { adopted: number; discarded: number; takenBack: number } = {
  adopted: 0,
  discarded: 0,
  takenBack: 0,
};

/** When the last dispatch of each chain (by its hops) ended. */
const lastEnd = new WeakMap<readonly (RelayHop | undefined)[], number>();

/** How far ahead a chain holds plugins. */
const MAX_HOLDS = 16;

interface Hold {
  readonly held: Held;
  /** The value handed on to it, once its request was published. */
  expect: unknown;
  published: boolean;
  args: readonly unknown[] | undefined;
}

const hopsOf = new WeakMap<readonly unknown[], readonly (RelayHop | undefined)[]>();

/**
 * The hops of a chain snapshot (`undefined` where a binding is not a plugin
 * filter), cached per snapshot: the bus replaces a chain, never mutates it.
 *
 * @param chain The bus's chain snapshot.
 * @param hop Reads a binding's hop.
 * @returns One entry per binding.
 */
export function chainHops<B>(
  chain: readonly B[],
  hop: (b: B) => RelayHop | undefined,
): readonly (RelayHop | undefined)[] {
  let hops = hopsOf.get(chain);
  if (hops === undefined) {
    hops = chain.map(hop);
    hopsOf.set(chain, hops);
  }
  return hops;
}

function sameArgs(a: readonly unknown[], b: readonly unknown[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}

function isThenable(x: unknown): x is Promise<unknown> {
  return x instanceof Promise;
}

/** One filter dispatch's holds. */
export class ChainRun {
  readonly #hops: readonly (RelayHop | undefined)[];
  readonly #holds = new Map<number, Hold>();

  /** @param hops The dispatch chain's hops ({@linkcode chainHops}). */
  constructor(hops: readonly (RelayHop | undefined)[]) {
    this.#hops = hops;
  }

  /**
   * Calls the plugin of the hop at `at`: collects the request its
   * predecessor handed on when the value and arguments are the ones handed
   * on; otherwise takes back what was held from here on and calls it afresh,
   * holding the plugins after it.
   *
   * @returns The filtered value, or a promise of it; throws like `Plugin.run`.
   */
  call(hop: RelayHop, at: number, value: unknown, args: unknown[]): unknown {
    const hold = this.#holds.get(at);
    if (hold !== undefined) {
      this.#holds.delete(at);
      if (
        hold.published && Object.is(hold.expect, value) && sameArgs(hold.args!, args) &&
        hop.plugin.usable()
      ) {
        const seen = { forwarded: false };
        RELAY_COUNTS_FOR_TESTS.adopted++;
        return this.#then(at, args, seen, hop.plugin.adopt(hold.held, hop.hook, value, seen));
      }
      this.#dropFrom(at, hold);
      return hop.plugin.run("filter", hop.hook, value, args);
    }
    const forward = this.#holdAfter(hop, at, args);
    if (forward === undefined) return hop.plugin.run("filter", hop.hook, value, args);
    const seen = { forwarded: false };
    let out: unknown;
    try {
      out = hop.plugin.run("filter", hop.hook, value, args, forward, seen);
    } catch (e) {
      this.#after(at, args, seen, undefined, false);
      throw e;
    }
    return this.#then(at, args, seen, out);
  }

  /** Takes back every hold from `at` on (the bus will not reach them as handed on). */
  skip(at: number): void {
    const hold = this.#holds.get(at);
    if (hold !== undefined) {
      this.#holds.delete(at);
      this.#dropFrom(at, hold);
    } else this.#dropRest(at + 1);
  }

  /** The dispatch is over: takes back whatever is still held. */
  end(): void {
    lastEnd.set(this.#hops, performance.now());
    if (this.#holds.size === 0) return;
    const first = Math.min(...this.#holds.keys());
    this.skip(first);
  }

  #then(
    at: number,
    args: unknown[],
    seen: { forwarded: boolean },
    out: unknown,
  ): unknown {
    if (!isThenable(out)) {
      this.#after(at, args, seen, out, true);
      return out;
    }
    return out.then(
      (v) => {
        this.#after(at, args, seen, v, true);
        return v;
      },
      (e) => {
        this.#after(at, args, seen, undefined, false);
        throw e;
      },
    );
  }

  /** The call at `at` is done: its successor's hold is now published, or taken back. */
  #after(
    at: number,
    args: unknown[],
    seen: { forwarded: boolean },
    value: unknown,
    ok: boolean,
  ): void {
    const next = this.#holds.get(at + 1);
    if (next === undefined) return;
    if (ok && seen.forwarded) {
      next.published = true;
      next.expect = value;
      next.args = args;
      return;
    }
    // Not handed on, or handed on though the host refused the answer.
    this.#holds.delete(at + 1);
    this.#dropFrom(at + 1, next);
  }

  /**
   * Holds the idle instances of the plugin hops right after `at` (distinct
   * plugins, each ready and idle, each linked from the one before), and
   * returns where `at`'s answer goes, or `undefined` when nothing is held.
   */
  #holdAfter(hop: RelayHop, at: number, args: unknown[]): Forward | undefined {
    // Only while this chain's dispatches come close together (from the end of
    // the last one): after an idle gap the workers' cores are asleep, and a
    // hand-off between them measured slower than the host waking each worker
    // itself (RATIONALE.md).
    const hops = this.#hops;
    if (performance.now() - (lastEnd.get(hops) ?? -Infinity) > latencyPolicy.relayGapMs) {
      return undefined;
    }
    const first = hop.plugin.idleTransport();
    if (first === undefined || at + 1 >= hops.length) return undefined;
    const plugins = new Set<Plugin>([hop.plugin]);
    const chain: { at: number; hop: RelayHop; transport: NonNullable<typeof first> }[] = [];
    const links: number[] = [];
    let prev = first;
    for (let k = at + 1; k < hops.length && chain.length < MAX_HOLDS; k++) {
      const h = hops[k];
      if (h === undefined || plugins.has(h.plugin) || h.hook !== hop.hook || !h.ready()) break;
      const t = h.plugin.idleTransport();
      if (t === undefined) break;
      const link = prev.link(t);
      if (link === 0) break;
      plugins.add(h.plugin);
      chain.push({ at: k, hop: h, transport: t });
      links.push(link);
      prev = t;
    }
    if (chain.length === 0) return undefined;
    let tail: number;
    try {
      tail = filterTailBytes(args);
    } catch {
      // Arguments JSON cannot encode: the call fails with `bad_payload` as without a hold.
      return undefined;
    }
    // Reserve from the end, so that each hold knows where its answer goes.
    let last = chain.length - 1;
    const held: (Held | undefined)[] = [];
    for (let j = last; j >= 0; j--) {
      const forward = j < last
        ? {
          link: links[j + 1],
          cap: chain[j + 1].hop.plugin.maxPayloadBytes,
          tail,
          token: held[j + 1]!.token,
        }
        : undefined;
      const h = chain[j].hop.plugin.hold(hop.hook, forward);
      if (h === undefined) {
        // Nothing is published yet: what was held after it goes back as is.
        for (let k = j + 1; k <= last; k++) chain[k].hop.plugin.drop(held[k]!, hop.hook);
        last = j - 1;
        held.length = j;
        continue;
      }
      held[j] = h;
    }
    if (last < 0) return undefined;
    for (let j = 0; j <= last; j++) {
      this.#holds.set(chain[j].at, { held: held[j]!, expect: undefined, published: false, args });
    }
    return {
      link: links[0],
      cap: chain[0].hop.plugin.maxPayloadBytes,
      tail,
      token: held[0]!.token,
    };
  }

  /**
   * Takes back `hold` (at `at`) and every hold after it, in order: one whose
   * request is running is collected first, since it may hand on to the next.
   */
  #dropFrom(at: number, hold: Hold): void {
    if (hold.published) RELAY_COUNTS_FOR_TESTS.takenBack++;
    const taken = hold.held.plugin.drop(hold.held, hold.held.hook);
    if (taken === undefined) {
      this.#dropRest(at + 1);
      return;
    }
    // Its outcome is dropped (the plugin counts it like any call); the holds
    // after it wait until it can no longer publish into them.
    RELAY_COUNTS_FOR_TESTS.discarded++;
    const rest = this.#takeRest(at + 1);
    void taken.then(() => dropHolds(rest), () => dropHolds(rest));
  }

  #dropRest(from: number): void {
    dropHolds(this.#takeRest(from));
  }

  #takeRest(from: number): Hold[] {
    const rest: Hold[] = [];
    for (let k = from; this.#holds.has(k); k++) {
      rest.push(this.#holds.get(k)!);
      this.#holds.delete(k);
    }
    return rest;
  }
}

function dropHolds(holds: Hold[]): void {
  for (let i = 0; i < holds.length; i++) {
    const taken = holds[i].held.plugin.drop(holds[i].held, holds[i].held.hook);
    if (taken !== undefined) {
      RELAY_COUNTS_FOR_TESTS.discarded++;
      const rest = holds.slice(i + 1);
      void taken.then(() => dropHolds(rest), () => dropHolds(rest));
      return;
    }
  }
}
