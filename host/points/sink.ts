/**
 * The durable sink and the host-owned handle that appends to it.
 *
 * A {@linkcode SinkHandle} is made by the host only (its constructor is
 * private to this module), for one binding's one call; it stages items of
 * approved kinds, and is revoked when the call returns. The host commits the
 * staged items of a dispatch to the {@linkcode DurableSink} once the whole
 * chain has run (unless the verdict is `block`), in binding priority order,
 * and puts the sink's acknowledgment in the verdict.
 *
 * @module
 */

import { HookError } from "../../abi/errors.ts";

/** One item appended through a sink handle. */
export interface SinkItem {
  /** The hook point it was appended in. */
  readonly point: string;
  /** Who appended it: the plugin name, or `"host"`. */
  readonly by: string;
  /** Its kind: one the host approved. */
  readonly kind: string;
  /** Its data, UTF-8 text. */
  readonly data: string;
}

/** What a {@linkcode DurableSink} answers once it has stored a batch. */
export interface SinkAck {
  /** Items stored. */
  readonly count: number;
  /** The sequence number of the first one (the sink's own numbering). */
  readonly first: number;
}

/**
 * Where committed items go: implement it over a database or a log file.
 * `append` must store the items in order, and resolve only once they are
 * durable.
 */
export interface DurableSink {
  /**
   * Stores a batch, in order.
   *
   * @param items The batch (never empty).
   * @returns The acknowledgment.
   */
  append(items: readonly SinkItem[]): SinkAck | Promise<SinkAck>;
}

/**
 * The in-memory {@linkcode DurableSink}: the default of
 * `PluginHostOptions.sink`.
 *
 * @example Appending and reading back
 * ```ts
 * import { MemorySink } from "./sink.ts";
 * import assert from "node:assert/strict";
 *
 * const sink = new MemorySink();
 * const ack = sink.append([{ point: "p", by: "host", kind: "note", data: "hi" }]);
 * assert.deepEqual(ack, { count: 1, first: 0 });
 * assert.equal(sink.items()[0].data, "hi");
 * ```
 */
export class MemorySink implements DurableSink {
  readonly #items: SinkItem[] = [];

  /**
   * Stores a batch, in order.
   *
   * @param items The batch.
   * @returns Its acknowledgment.
   */
  append(items: readonly SinkItem[]): SinkAck {
    const first = this.#items.length;
    for (const item of items) this.#items.push(Object.freeze({ ...item }));
    return { count: items.length, first };
  }

  /**
   * Everything stored so far, in order.
   *
   * @returns A copy of the list.
   */
  items(): SinkItem[] {
    return [...this.#items];
  }
}

/** The handle types a hook point may offer (one host import each). */
export const HANDLE_TYPES: readonly ["sink"] = ["sink"];

/** One of {@linkcode HANDLE_TYPES}. */
export type HandleType = typeof HANDLE_TYPES[number];

/** Most items one handle takes; more are refused (-7 for plugins). */
export const MAX_SINK_ITEMS = 100;
/** Largest item data, in bytes of UTF-8. */
export const MAX_SINK_ITEM_BYTES = 65536;

const minting = Symbol("gn.sink.mint");
/** Revokes a handle and returns its staged items (module-private access to its fields). */
let revokeSink: (handle: SinkHandle) => SinkItem[] = () => [];
let nextId = 1;

/**
 * A host-owned handle on the durable sink, for one call of one binding.
 * Host handlers receive it as `context.sink`; plugins receive its integer
 * `id` in their envelope and use it with `gn_sink_append`.
 *
 * @example A host handler appends through its handle
 * ```ts
 * import { HookPoints, MemorySink } from "../../mod.ts";
 * import { z } from "zod";
 * import assert from "node:assert/strict";
 *
 * const sink = new MemorySink();
 * const points = new HookPoints({ sink, sinkKinds: ["reminder"] });
 * points.declare({ name: "post_tool_use", kind: "guard", subject: z.object({ tool_name: z.string() }),
 *   decisions: ["continue"], handles: ["sink"] });
 * points.add("post_tool_use", (_s, ctx) => void ctx.sink!.append("reminder", "run the tests"), {
 *   handles: ["sink"],
 * });
 * const v = await points.dispatch("post_tool_use", { tool_name: "Edit" });
 * assert.deepEqual(v.committed, { count: 1, first: 0 });
 * assert.equal(sink.items()[0].data, "run the tests");
 * ```
 */
export class SinkHandle {
  /** The integer a plugin receives in its envelope. */
  readonly id: number;
  readonly #point: string;
  readonly #by: string;
  readonly #kinds: ReadonlySet<string>;
  readonly #items: SinkItem[] = [];
  #live = true;

  /**
   * Not for users: handles are made by the host.
   *
   * @param token The module-private minting token.
   * @param point The hook point.
   * @param by The binding's plugin, or `"host"`.
   * @param kinds The approved item kinds.
   * @throws {TypeError} Always, outside the host.
   */
  constructor(token: symbol, point: string, by: string, kinds: ReadonlySet<string>) {
    if (token !== minting) {
      throw new TypeError("Cannot create a SinkHandle: handles are made by the host only");
    }
    this.id = nextId;
    nextId = nextId >= 0x7fffffff ? 1 : nextId + 1;
    this.#point = point;
    this.#by = by;
    this.#kinds = kinds;
  }

  /** Whether the handle can still be used (its call has not returned). */
  get live(): boolean {
    return this.#live;
  }

  /**
   * Stages one item, committed by the host after the chain.
   *
   * @param kind An approved item kind.
   * @param data The item's text.
   * @returns The status: 0 staged, -6 denied (revoked handle or unapproved
   * kind), -7 over a quota (items per call, bytes per item).
   *
   * @example See {@linkcode SinkHandle}.
   */
  append(kind: string, data: string): number {
    if (!this.#live || !this.#kinds.has(kind)) return -6;
    if (
      this.#items.length >= MAX_SINK_ITEMS ||
      new TextEncoder().encode(data).length > MAX_SINK_ITEM_BYTES
    ) {
      return -7;
    }
    this.#items.push({ point: this.#point, by: this.#by, kind, data });
    return 0;
  }

  static {
    revokeSink = (handle) => {
      handle.#live = false;
      return handle.#items;
    };
  }
}

/** @internal Makes a handle (the host's minting path). */
export function mintSink(point: string, by: string, kinds: ReadonlySet<string>): SinkHandle {
  return new SinkHandle(minting, point, by, kinds);
}

/**
 * The live handles of a host, by id: the plugin side of `gn_sink_append`
 * arrives here, and anything not live is refused.
 */
export class HandleTable {
  readonly #live = new Map<number, { handle: SinkHandle; plugin: string }>();
  readonly #report: (e: HookError) => void;

  /** @param report Where refused appends are reported. */
  constructor(report: (e: HookError) => void) {
    this.#report = report;
  }

  /** Registers a live handle owned by `plugin`. */
  open(handle: SinkHandle, plugin: string): void {
    this.#live.set(handle.id, { handle, plugin });
  }

  /** Revokes a handle; its staged items are returned. */
  close(handle: SinkHandle): SinkItem[] {
    this.#live.delete(handle.id);
    return revokeSink(handle);
  }

  /**
   * An append from a plugin's worker.
   *
   * @returns The status the append would have had.
   */
  append(plugin: string, id: number, kind: string, data: string): number {
    const entry = this.#live.get(id);
    if (entry === undefined || entry.plugin !== plugin) {
      this.#report(
        new HookError(
          "capability_denied",
          `Refused a sink append from plugin "${plugin}": handle ${id} is not one of its live ` +
            "handles (stale or forged); the item was dropped",
          { plugin },
        ),
      );
      return -6;
    }
    return entry.handle.append(kind, data);
  }
}
