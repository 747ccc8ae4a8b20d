/**
 * {@linkcode HookBus}: WordPress-style actions and filters, plus guards that
 * return a {@linkcode Verdict}. Pure TypeScript, no workers: the plugin host
 * registers its plugin handlers here with `opts.plugin` set, and the
 * embedding application adds host handlers and dispatches.
 *
 * Chains run in ascending priority, ties in registration order. Registration
 * copies the chain (copy-on-write), dispatch never does, so a dispatch always
 * runs the chain as it was when it started.
 *
 * @example Filters, actions and guards
 * ```ts
 * import { HookBus } from "./bus.ts";
 * import assert from "node:assert/strict";
 *
 * const bus = new HookBus();
 * bus.addFilter("the_content", (v) => v + "!", { priority: 20 });
 * bus.addFilter("the_content", (v) => v.toUpperCase());
 * assert.equal(await bus.applyFilters("the_content", "hello"), "HELLO!");
 *
 * const seen: unknown[] = [];
 * bus.addAction("on_event", (...args) => void seen.push(args));
 * await bus.doAction("on_event", "user-42", 7);
 * assert.deepEqual(seen, [["user-42", 7]]);
 *
 * bus.addGuard("send_mail", (to) => to === "root" ? { decision: "block", reason: "no" } : undefined);
 * assert.deepEqual(await bus.checkGuards("send_mail", "root"), { decision: "block", reason: "no" });
 * ```
 *
 * @module
 */

import { AsyncLocalStorage } from "node:async_hooks";
import { HookError } from "../abi/errors.ts";
import { HOOK_NAME_PATTERN, isHookName, MAX_HOOK_NAME_BYTES } from "../abi/hook_name.ts";
import { closest } from "./_suggest.ts";
import { chainHops, ChainRun, RELAY, type RelayBinding, type RelayHop } from "./_relay.ts";

// Re-exported because this module's public types reference them (so that
// `deno doc --lint host/bus.ts` sees a complete surface).
import type { FailPolicy, HookKind, Verdict } from "../abi/envelope.ts";
export type { Decision, FailPolicy, HookKind, Verdict } from "../abi/envelope.ts";
export { HOOK_ERROR_CODES, HookError } from "../abi/errors.ts";
export type { HookErrorCode, HookErrorOptions, HookErrorRecord } from "../abi/errors.ts";

/**
 * Options of one registration.
 *
 * @example Registering a late, blocking plugin handler
 * ```ts
 * import { HookBus, type HookOptions } from "./bus.ts";
 * import assert from "node:assert/strict";
 *
 * const opts: HookOptions = { priority: 99, fail: "block", plugin: "the-content" };
 * const bus = new HookBus();
 * bus.addFilter("the_content", (v) => v, opts);
 * assert.deepEqual(bus.priorities("the_content"), [99]);
 * ```
 */
export interface HookOptions {
  /**
   * Lower runs first; ties run in registration order. Any finite number.
   *
   * @default {10}
   */
  priority?: number;
  /**
   * What a failure of this binding does.
   *
   * @default {"warn"}
   */
  fail?: FailPolicy;
  /**
   * The plugin this handler belongs to: the label on its errors and metrics.
   * Host handlers have none (their metrics label is `"host"`).
   */
  plugin?: string;
}

/**
 * A filter handler: receives the current value and the dispatch's extra
 * arguments, returns the next value (exactly what it returns, `undefined`
 * included), or {@linkcode stopWith}`(value)` to end the chain with a final
 * value. May return a promise (or any thenable) of either. The return type is
 * `unknown` because a filter may change the value's type.
 *
 * @typeParam T The type of the value it receives; `any` unless given, so that
 * handlers written inline need no annotation.
 *
 * @example A typed filter handler
 * ```ts
 * import { type FilterHandler, HookBus } from "./bus.ts";
 * import assert from "node:assert/strict";
 *
 * const shout: FilterHandler<string> = (v) => v.toUpperCase();
 * const bus = new HookBus();
 * bus.addFilter("title", shout);
 * assert.equal(await bus.applyFilters("title", "hi"), "HI");
 * ```
 */
// deno-lint-ignore no-explicit-any
export type FilterHandler<T = any> = (
  value: T,
  // deno-lint-ignore no-explicit-any
  ...args: any[]
) => unknown;

/**
 * An action handler: receives the dispatch's arguments. Its return value is
 * ignored, except that a promise is awaited (by `addAction` bindings) before
 * the next handler runs.
 *
 * @example An action handler
 * ```ts
 * import { type ActionHandler, HookBus } from "./bus.ts";
 * import assert from "node:assert/strict";
 *
 * const log: string[] = [];
 * const onLogin: ActionHandler = (user) => void log.push(user);
 * const bus = new HookBus();
 * bus.addAction("user_login", onLogin);
 * await bus.doAction("user_login", "ada");
 * assert.deepEqual(log, ["ada"]);
 * ```
 */
// deno-lint-ignore no-explicit-any
export type ActionHandler = (...args: any[]) => unknown;

/**
 * A guard handler: receives the subject (as modified by earlier guards) and
 * the dispatch's extra arguments; returns a {@linkcode Verdict}, or
 * `undefined` for "continue". May return a promise of either.
 *
 * @example A guard handler
 * ```ts
 * import { type GuardHandler, HookBus } from "./bus.ts";
 * import assert from "node:assert/strict";
 *
 * const noRoot: GuardHandler = (user) =>
 *   user === "root" ? { decision: "block", reason: "Not root" } : undefined;
 * const bus = new HookBus();
 * bus.addGuard("delete_user", noRoot);
 * assert.equal((await bus.checkGuards("delete_user", "root")).decision, "block");
 * assert.equal((await bus.checkGuards("delete_user", "ada")).decision, "continue");
 * ```
 */
export type GuardHandler = (
  // deno-lint-ignore no-explicit-any
  subject: any,
  // deno-lint-ignore no-explicit-any
  ...args: any[]
) => Verdict | undefined | void | PromiseLike<Verdict | undefined | void>;

/**
 * Where the bus sends metrics. Both methods must be cheap; a sink that throws
 * is swallowed (and reported once to the error sink), never breaking a
 * dispatch.
 *
 * Emitted: counter `hook.dispatch` `{hook}` per dispatch, counter
 * `hook.failure` `{hook, plugin}` per failed handler (whatever its policy),
 * histogram `hook.handler_ms` `{hook, plugin}` per handler run (`plugin` is
 * `"host"` for host handlers). Label objects are shared and frozen: copy them
 * to keep them.
 *
 * @example Counting dispatches
 * ```ts
 * import { HookBus, type MetricsSink } from "./bus.ts";
 * import assert from "node:assert/strict";
 *
 * const counts = new Map<string, number>();
 * const metrics: MetricsSink = {
 *   increment(metric, labels) {
 *     const key = `${metric} ${labels.hook}`;
 *     counts.set(key, (counts.get(key) ?? 0) + 1);
 *   },
 *   observe() {},
 * };
 * const bus = new HookBus({ metrics });
 * await bus.doAction("tick");
 * await bus.doAction("tick");
 * assert.equal(counts.get("hook.dispatch tick"), 2);
 * ```
 */
export interface MetricsSink {
  /** Adds one to a counter. */
  increment(metric: string, labels: Readonly<Record<string, string>>): void;
  /** Records one observation of a histogram, in milliseconds. */
  observe(metric: string, valueMs: number, labels: Readonly<Record<string, string>>): void;
}

/**
 * The default {@linkcode MetricsSink}: does nothing. A bus using it does not
 * read the clock at all.
 *
 * @example Explicitly disabling metrics
 * ```ts
 * import { HookBus, NOOP_METRICS } from "./bus.ts";
 * import assert from "node:assert/strict";
 *
 * const bus = new HookBus({ metrics: NOOP_METRICS });
 * assert.equal(await bus.applyFilters("title", "t"), "t");
 * ```
 */
export const NOOP_METRICS: MetricsSink = Object.freeze({
  increment(): void {},
  observe(): void {},
});

/**
 * Options of a {@linkcode HookBus}.
 *
 * @example Collecting errors
 * ```ts
 * import { HookBus, type HookBusOptions } from "./bus.ts";
 * import { HookError } from "../abi/errors.ts";
 * import assert from "node:assert/strict";
 *
 * const errors: HookError[] = [];
 * const options: HookBusOptions = { onError: (e) => void errors.push(e) };
 * const bus = new HookBus(options);
 * bus.addAction("save", () => { throw new Error("disk full"); });
 * await bus.doAction("save");
 * assert.equal(errors[0].code, "handler_failed");
 * ```
 *
 * @example Declaring the hooks: a typo is an error, not a silent no-op
 * ```ts
 * import { HookBus } from "./bus.ts";
 * import assert from "node:assert/strict";
 *
 * const bus = new HookBus({ hooks: { title_case: "filter", on_save: "action" } });
 * await assert.rejects(bus.applyFilters("titel_case", "x"), (e: any) => {
 *   assert.equal(e.code, "hook_not_declared");
 *   assert.match(e.message, /did you mean "title_case"/);
 *   return true;
 * });
 * await assert.rejects(bus.doAction("title_case"), { code: "hook_kind_mismatch" });
 * ```
 */
export interface HookBusOptions {
  /**
   * Receives every failure that is reported rather than rejected (`"warn"`
   * bindings, async actions). Should not throw; if it does, the bus falls
   * back to `console.warn`.
   *
   * @default {a one-line `console.warn`}
   */
  onError?: (error: HookError) => void;
  /**
   * Where metrics go.
   *
   * @default {NOOP_METRICS}
   */
  metrics?: MetricsSink;
  /**
   * The hooks this bus knows, with their kind. When given, every other name
   * is refused, by registration and dispatch alike, with `hook_not_declared`
   * naming the closest declared name; and each declared name keeps its kind
   * even while it has no handlers (`hook_kind_mismatch` otherwise).
   * `PluginHost` passes its own `hooks` option here.
   *
   * @default {undefined (any valid name, its kind set by its first handler)}
   */
  hooks?: Readonly<Record<string, HookKind>>;
}

/**
 * What a filter handler returns to end its chain early: made by
 * {@linkcode stopWith}. Branded: only this class is recognised, never a
 * look-alike object.
 *
 * @typeParam T The final value's type.
 *
 * @example Inspecting a stop signal
 * ```ts
 * import { StopSignal, stopWith } from "./bus.ts";
 * import assert from "node:assert/strict";
 *
 * const stop = stopWith(42);
 * assert.ok(stop instanceof StopSignal);
 * assert.equal(stop.value, 42);
 * ```
 */
export class StopSignal<T = unknown> {
  readonly #brand = true;
  /** The final value of the filter chain. */
  readonly value: T;

  /**
   * Prefer {@linkcode stopWith}.
   *
   * @param value The final value of the filter chain.
   */
  constructor(value: T) {
    this.value = value;
  }

  /**
   * Whether `x` is a {@linkcode StopSignal} (a branded check, not a shape check).
   *
   * @param x Anything.
   * @returns `true` for a real stop signal.
   *
   * @example Look-alikes are not stop signals
   * ```ts
   * import { StopSignal, stopWith } from "./bus.ts";
   * import assert from "node:assert/strict";
   *
   * assert.equal(StopSignal.is(stopWith(1)), true);
   * assert.equal(StopSignal.is({ value: 1 }), false);
   * ```
   */
  static is(x: unknown): x is StopSignal {
    return typeof x === "object" && x !== null && #brand in x;
  }
}

/**
 * Ends a filter chain: a filter handler that returns `stopWith(value)` makes
 * `value` the result of {@linkcode HookBus.prototype.applyFilters}; the
 * handlers after it do not run. Has no meaning outside a filter handler.
 *
 * @typeParam T The final value's type.
 * @param value The final value.
 * @returns A signal to return from the filter handler.
 *
 * @example Short-circuiting a filter chain
 * ```ts
 * import { HookBus, stopWith } from "./bus.ts";
 * import assert from "node:assert/strict";
 *
 * const bus = new HookBus();
 * bus.addFilter("price", (p) => (p > 100 ? stopWith(100) : p), { priority: 1 });
 * bus.addFilter("price", (p) => p * 2);
 * assert.equal(await bus.applyFilters("price", 500), 100);
 * assert.equal(await bus.applyFilters("price", 5), 10);
 * ```
 */
export function stopWith<T>(value: T): StopSignal<T> {
  return new StopSignal(value);
}

// ---------------------------------------------------------------------------
// Internals

const DEFAULT_PRIORITY = 10;

interface Binding {
  // deno-lint-ignore no-explicit-any
  readonly fn: (...args: any[]) => unknown;
  readonly priority: number;
  /** Bus-wide monotonic registration number: the tie-break key. */
  readonly seq: number;
  readonly fail: FailPolicy;
  readonly plugin: string | undefined;
  /** An `addAsyncAction` binding: started, never awaited. */
  readonly async: boolean;
  /** `{hook, plugin}`, built once at registration. */
  readonly labels: Readonly<Record<string, string>>;
  /** A plugin's filter binding that takes part in chain hand-offs (set by the host). */
  readonly relay: RelayBinding | undefined;
}

const relayHopOf = (b: Binding): RelayHop | undefined => b.relay?.hop;

interface HookState {
  readonly name: string;
  /** The kind of the current handlers, or the declared kind; `undefined` when neither. */
  kind: HookKind | undefined;
  /** Declared in `HookBusOptions.hooks`: its kind never resets. */
  readonly declared: boolean;
  /** Sorted by (priority, seq). Replaced, never mutated. */
  chain: readonly Binding[];
  /** Dispatches started. */
  fired: number;
  /** Dispatches not yet settled. */
  inFlight: number;
  /** `{hook}`, built once. */
  readonly labels: Readonly<Record<string, string>>;
}

const EMPTY: readonly Binding[] = Object.freeze([]);
const FAIL_POLICIES: ReadonlySet<string> = new Set(["warn", "block", "ignore"]);

/** A name for a message: quoted and cut at 64 characters, or `<type>`. */
function quote(x: unknown): string {
  if (typeof x !== "string") return `<${x === null ? "null" : typeof x}>`;
  return JSON.stringify(x.length > 64 ? x.slice(0, 64) + "…" : x);
}

function messageOf(x: unknown): string {
  try {
    return x instanceof Error ? x.message : String(x);
  } catch {
    return "<unprintable>";
  }
}

function invalidName(action: string, name: unknown): HookError {
  return new HookError(
    "invalid_hook_name",
    `Cannot ${action} ${quote(name)}: a hook name must be 1 to ${MAX_HOOK_NAME_BYTES} bytes ` +
      `matching ${HOOK_NAME_PATTERN.source}`,
  );
}

/** The bus methods of each kind, for messages that say what to call instead. */
const METHODS: Readonly<Record<HookKind, { add: string; call: string }>> = {
  action: { add: "addAction", call: "doAction(name, ...args)" },
  filter: { add: "addFilter", call: "applyFilters(name, value, ...args)" },
  guard: { add: "addGuard", call: "checkGuards(name, subject, ...args)" },
};

function kindMismatch(
  action: string,
  state: HookState,
  kind: HookKind,
  adding: boolean,
): HookError {
  const has = state.kind!;
  const why = state.declared ? "declared by the host" : `it has ${has} handlers`;
  const fix = adding
    ? `register it with ${
      METHODS[has].add
    } instead, or use another hook name for ${kind} handlers ` +
      "(a hook name has one kind)"
    : `call ${METHODS[has].call.replace("name", quote(state.name))} instead`;
  return new HookError(
    "hook_kind_mismatch",
    `Cannot ${action} ${quote(state.name)}: it is a ${has} hook (${why}), not ${
      kind === "action" ? "an" : "a"
    } ${kind} hook: ${fix}`,
    { hook: state.name },
  );
}

function notDeclared(
  action: string,
  name: string,
  declared: ReadonlyMap<string, HookKind>,
): HookError {
  const near = closest(name, declared.keys());
  const names = [...declared.keys()];
  const known = near !== undefined
    ? `did you mean ${quote(near)} (${declared.get(near)})?`
    : names.length === 0
    ? "it declares none."
    : `declared: ${names.slice(0, 8).map(quote).join(", ")}${names.length > 8 ? ", …" : ""}.`;
  return new HookError(
    "hook_not_declared",
    `Cannot ${action} ${quote(name)}: the host does not declare this hook; ${known} ` +
      `Use a declared name, or add ${quote(name)} to the \`hooks\` option of ` +
      "PluginHost.create (or new HookBus)",
    { hook: name },
  );
}

function isThenable(x: unknown): x is PromiseLike<unknown> {
  return (typeof x === "object" && x !== null || typeof x === "function") &&
    typeof (x as PromiseLike<unknown>).then === "function";
}

function isVerdict(x: unknown): x is Verdict {
  if (typeof x !== "object" || x === null) return false;
  const d = (x as Verdict).decision;
  return d === "continue" || d === "block" || d === "ask" || d === "modify";
}

/** First index whose binding sorts after `b` by (priority, seq). */
function upperBound(chain: readonly Binding[], b: Binding): number {
  let lo = 0;
  let hi = chain.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const m = chain[mid];
    if (m.priority < b.priority || (m.priority === b.priority && m.seq < b.seq)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function describe(e: HookError): string {
  const where = [
    e.hook === undefined ? "" : `hook ${quote(e.hook)}`,
    e.plugin === undefined ? "" : `plugin ${quote(e.plugin)}`,
  ].filter(Boolean).join(", ");
  return `HookError ${e.code}${where ? ` (${where})` : ""}: ${messageOf(e)}`.replace(
    /\s*\n\s*/g,
    " ",
  );
}

function defaultOnError(e: HookError): void {
  try {
    console.warn(describe(e));
  } catch {
    // Nowhere left to report to.
  }
}

function checkOptions(action: string, name: string, opts: HookOptions | undefined): void {
  if (opts === undefined) return;
  if (typeof opts !== "object" || opts === null) {
    throw new TypeError(`Cannot ${action} ${quote(name)}: options must be an object`);
  }
  const { priority, fail, plugin } = opts;
  if (priority !== undefined) {
    if (typeof priority !== "number") {
      throw new TypeError(
        `Cannot ${action} ${quote(name)}: priority must be a number, got ${typeof priority}`,
      );
    }
    if (!Number.isFinite(priority)) {
      throw new RangeError(
        `Cannot ${action} ${quote(name)}: priority must be finite, got ${priority}`,
      );
    }
  }
  if (fail !== undefined) {
    if (typeof fail !== "string") {
      throw new TypeError(
        `Cannot ${action} ${quote(name)}: fail must be a string, got ${typeof fail}`,
      );
    }
    if (!FAIL_POLICIES.has(fail)) {
      throw new RangeError(
        `Cannot ${action} ${quote(name)}: fail must be "warn", "block" or "ignore", got ${
          quote(fail)
        }`,
      );
    }
  }
  if (plugin !== undefined && (typeof plugin !== "string" || plugin.length === 0)) {
    throw new TypeError(`Cannot ${action} ${quote(name)}: plugin must be a non-empty string`);
  }
}

// ---------------------------------------------------------------------------

/**
 * The hook bus: actions, filters and guards, with priorities, per-binding
 * failure policies, metrics, and introspection.
 *
 * Every `add*` method returns an idempotent unsubscribe function. A handler
 * added or removed during a dispatch takes effect from the next dispatch.
 * A thrown exception and a rejected promise are the same failure.
 *
 * @example Plugin and host handlers on one hook
 * ```ts
 * import { HookBus } from "./bus.ts";
 * import assert from "node:assert/strict";
 *
 * const bus = new HookBus();
 * const off = bus.addFilter("the_content", (v) => v + "?", { plugin: "asker" });
 * bus.addFilter("the_content", (v) => v + "!", { priority: 20 });
 * assert.equal(await bus.applyFilters("the_content", "hi"), "hi?!");
 * off();
 * off(); // idempotent
 * assert.equal(await bus.applyFilters("the_content", "hi"), "hi!");
 * ```
 */
export class HookBus {
  readonly #hooks = new Map<string, HookState>();
  readonly #als = new AsyncLocalStorage<string>();
  readonly #onError: (error: HookError) => void;
  readonly #metrics: MetricsSink;
  /** `false` for {@linkcode NOOP_METRICS}: then no clock reads, no metric calls. */
  readonly #metered: boolean;
  /** `HookBusOptions.hooks`; `undefined` when any valid name is accepted. */
  readonly #declared: ReadonlyMap<string, HookKind> | undefined;
  #metricsReported = false;
  #seq = 0;
  #pendingAsync = 0;
  #idleWaiters: (() => void)[] = [];

  /**
   * Makes an empty bus.
   *
   * @param options The error sink, the metrics sink and the declared hooks.
   * @throws {TypeError} If `onError` is given and not a function, `metrics`
   * lacks `increment` or `observe`, `hooks` is not an object or declares a
   * kind other than `"action"`, `"filter"` or `"guard"`.
   * @throws {HookError} `invalid_hook_name` if `hooks` declares an invalid name.
   */
  constructor(options: HookBusOptions = {}) {
    const { onError, metrics, hooks } = options;
    if (onError !== undefined && typeof onError !== "function") {
      throw new TypeError("Cannot create hook bus: onError must be a function");
    }
    if (
      metrics !== undefined &&
      (typeof metrics?.increment !== "function" || typeof metrics?.observe !== "function")
    ) {
      throw new TypeError(
        "Cannot create hook bus: metrics must have increment and observe methods",
      );
    }
    if (hooks !== undefined && (typeof hooks !== "object" || hooks === null)) {
      throw new TypeError("Cannot create hook bus: hooks must be an object of name: kind");
    }
    this.#onError = onError ?? defaultOnError;
    this.#metrics = metrics ?? NOOP_METRICS;
    this.#metered = this.#metrics !== NOOP_METRICS;
    if (hooks === undefined) {
      this.#declared = undefined;
      return;
    }
    const declared = new Map<string, HookKind>();
    for (const [name, kind] of Object.entries(hooks)) {
      if (!isHookName(name)) throw invalidName("declare hook", name);
      if (kind !== "action" && kind !== "filter" && kind !== "guard") {
        throw new TypeError(
          `Cannot declare hook ${quote(name)}: its kind must be "action", "filter" or "guard", ` +
            `got ${typeof kind === "string" ? quote(kind) : typeof kind}`,
        );
      }
      declared.set(name, kind);
      this.#hooks.set(name, this.#newState(name, kind));
    }
    this.#declared = declared;
  }

  // -- registration ---------------------------------------------------------

  /**
   * Adds an action handler; it runs, and is awaited, on every
   * {@linkcode HookBus.prototype.doAction} of `name`.
   *
   * @param name The hook name (docs/abi.md#hook-names).
   * @param fn The handler.
   * @param opts Priority, failure policy, plugin label.
   * @returns An idempotent function that removes this handler.
   * @throws {HookError} `invalid_hook_name` for a bad name;
   * `hook_not_declared` when the bus has declared hooks and this is not one
   * (naming the closest declared name); `hook_kind_mismatch` when the hook is
   * declared as, or already has handlers of, another kind.
   * @throws {TypeError} If `fn` is not a function or an option has the wrong
   * type.
   * @throws {RangeError} If `priority` is not finite or `fail` is unknown.
   *
   * @example Ordering action handlers
   * ```ts
   * import { HookBus } from "./bus.ts";
   * import assert from "node:assert/strict";
   *
   * const order: string[] = [];
   * const bus = new HookBus();
   * bus.addAction("boot", () => void order.push("b"));
   * bus.addAction("boot", () => void order.push("a"), { priority: 1 });
   * await bus.doAction("boot");
   * assert.deepEqual(order, ["a", "b"]);
   * ```
   */
  addAction(name: string, fn: ActionHandler, opts?: HookOptions): () => void {
    return this.#add("action", false, "add action", name, fn, opts);
  }

  /**
   * Adds an action handler that {@linkcode HookBus.prototype.doAction} starts
   * but never awaits. It starts at its place in priority order (its
   * synchronous part runs then); its failures always go to the error sink,
   * unless its policy is `"ignore"`, and never reject `doAction`. Wait for
   * every started async action with {@linkcode HookBus.prototype.idle}.
   *
   * @param name The hook name (docs/abi.md#hook-names).
   * @param fn The handler.
   * @param opts Priority, failure policy, plugin label.
   * @returns An idempotent function that removes this handler.
   * @throws {HookError} `invalid_hook_name` for a bad name;
   * `hook_not_declared` when the bus has declared hooks and this is not one
   * (naming the closest declared name); `hook_kind_mismatch` when the hook is
   * declared as, or already has handlers of, another kind.
   * @throws {TypeError} If `fn` is not a function or an option has the wrong
   * type.
   * @throws {RangeError} If `priority` is not finite or `fail` is unknown.
   *
   * @example Fire and forget
   * ```ts
   * import { HookBus } from "./bus.ts";
   * import assert from "node:assert/strict";
   *
   * const mailer = Promise.withResolvers<void>();
   * let sent = 0;
   * const bus = new HookBus();
   * bus.addAsyncAction("user_created", async () => {
   *   await mailer.promise; // a slow mail server
   *   sent++;
   * });
   * await bus.doAction("user_created", "ada"); // does not wait for the mail
   * assert.equal(sent, 0);
   * mailer.resolve();
   * await bus.idle();
   * assert.equal(sent, 1);
   * ```
   */
  addAsyncAction(name: string, fn: ActionHandler, opts?: HookOptions): () => void {
    return this.#add("action", true, "add async action", name, fn, opts);
  }

  /**
   * Adds a filter handler; it runs on every
   * {@linkcode HookBus.prototype.applyFilters} of `name`, receiving the value
   * the previous handler returned.
   *
   * @typeParam T The filtered value's type; `any` unless given.
   * @param name The hook name (docs/abi.md#hook-names).
   * @param fn The handler.
   * @param opts Priority, failure policy, plugin label.
   * @returns An idempotent function that removes this handler.
   * @throws {HookError} `invalid_hook_name` for a bad name;
   * `hook_not_declared` when the bus has declared hooks and this is not one
   * (naming the closest declared name); `hook_kind_mismatch` when the hook is
   * declared as, or already has handlers of, another kind.
   * @throws {TypeError} If `fn` is not a function or an option has the wrong
   * type.
   * @throws {RangeError} If `priority` is not finite or `fail` is unknown.
   *
   * @example Threading a value
   * ```ts
   * import { HookBus } from "./bus.ts";
   * import assert from "node:assert/strict";
   *
   * const bus = new HookBus();
   * bus.addFilter("total", (n: number, tax: number) => n + tax);
   * bus.addFilter("total", (n: number) => Math.round(n));
   * assert.equal(await bus.applyFilters("total", 10, 0.6), 11);
   * ```
   */
  // deno-lint-ignore no-explicit-any
  addFilter<T = any>(name: string, fn: FilterHandler<T>, opts?: HookOptions): () => void {
    return this.#add("filter", false, "add filter", name, fn, opts);
  }

  /**
   * Adds a guard; it runs on every {@linkcode HookBus.prototype.checkGuards}
   * of `name` that an earlier guard did not end.
   *
   * @param name The hook name (docs/abi.md#hook-names).
   * @param fn The guard.
   * @param opts Priority, failure policy, plugin label.
   * @returns An idempotent function that removes this guard.
   * @throws {HookError} `invalid_hook_name` for a bad name;
   * `hook_not_declared` when the bus has declared hooks and this is not one
   * (naming the closest declared name); `hook_kind_mismatch` when the hook is
   * declared as, or already has handlers of, another kind.
   * @throws {TypeError} If `fn` is not a function or an option has the wrong
   * type.
   * @throws {RangeError} If `priority` is not finite or `fail` is unknown.
   *
   * @example Modifying the subject
   * ```ts
   * import { HookBus } from "./bus.ts";
   * import assert from "node:assert/strict";
   *
   * const bus = new HookBus();
   * bus.addGuard("send_mail", (to: string) => ({ decision: "modify", value: to.trim() }));
   * assert.deepEqual(await bus.checkGuards("send_mail", " ada "), {
   *   decision: "modify",
   *   value: "ada",
   * });
   * ```
   */
  addGuard(name: string, fn: GuardHandler, opts?: HookOptions): () => void {
    return this.#add("guard", false, "add guard", name, fn, opts);
  }

  #add(
    kind: HookKind,
    isAsync: boolean,
    action: string,
    name: string,
    // deno-lint-ignore no-explicit-any
    fn: (...args: any[]) => unknown,
    opts: HookOptions | undefined,
  ): () => void {
    if (!isHookName(name)) throw invalidName(action, name);
    if (typeof fn !== "function") {
      throw new TypeError(`Cannot ${action} ${quote(name)}: the handler must be a function`);
    }
    checkOptions(action, name, opts);
    const state = this.#stateOf(name, action);
    if (state.kind !== undefined && state.kind !== kind) {
      throw kindMismatch(action, state, kind, true);
    }
    const plugin = opts?.plugin;
    const binding: Binding = {
      fn,
      priority: opts?.priority ?? DEFAULT_PRIORITY,
      seq: ++this.#seq,
      fail: opts?.fail ?? "warn",
      plugin,
      async: isAsync,
      labels: Object.freeze({ hook: name, plugin: plugin ?? "host" }),
      relay: kind === "filter"
        ? (opts as { [RELAY]?: RelayBinding } | undefined)?.[RELAY]
        : undefined,
    };
    // Copy-on-write: a dispatch in flight keeps the array it started with.
    state.chain = state.chain.toSpliced(upperBound(state.chain, binding), 0, binding);
    state.kind = kind;
    let removed = false;
    return (): void => {
      if (removed) return;
      removed = true;
      const i = state.chain.indexOf(binding);
      if (i < 0) return;
      if (state.chain.length === 1) {
        state.chain = EMPTY;
        if (!state.declared) state.kind = undefined;
      } else {
        state.chain = state.chain.toSpliced(i, 1);
      }
    };
  }

  #newState(name: string, declared: HookKind | undefined): HookState {
    return {
      name,
      kind: declared,
      declared: declared !== undefined,
      chain: EMPTY,
      fired: 0,
      inFlight: 0,
      labels: Object.freeze({ hook: name }),
    };
  }

  /** The state of a valid name, made on first use; refuses undeclared names. */
  #stateOf(name: string, action: string): HookState {
    let state = this.#hooks.get(name);
    if (state === undefined) {
      if (this.#declared !== undefined) throw notDeclared(action, name, this.#declared);
      state = this.#newState(name, undefined);
      this.#hooks.set(name, state);
    }
    return state;
  }

  /** The state of a hook about to be dispatched; counts the dispatch. */
  #dispatchState(name: string, kind: HookKind, action: string): HookState {
    let state = this.#hooks.get(name);
    if (state === undefined) {
      // Only valid names ever get a state, so a known name needs no regex.
      if (!isHookName(name)) throw invalidName(action, name);
      state = this.#stateOf(name, action);
    } else if (state.kind !== undefined && state.kind !== kind) {
      throw kindMismatch(action, state, kind, false);
    }
    state.fired++;
    if (this.#metered) this.#increment("hook.dispatch", state.labels);
    return state;
  }

  // -- dispatch -------------------------------------------------------------

  /**
   * Runs the action handlers of `name` in priority order, awaiting each;
   * async actions are started at their place and not awaited. Every handler
   * runs whatever the others do.
   *
   * @param name The hook name.
   * @param args The arguments every handler receives.
   * @returns A promise that resolves once every (non-async) handler has
   * settled.
   * @throws {HookError} (rejects) `invalid_hook_name` for a bad name; or
   * `action_failed` if any `"block"` binding failed, with every such failure,
   * in dispatch order, in `errors`.
   * @throws {HookError} (rejects) `hook_not_declared` when the bus has
   * declared hooks and `name` is not one (naming the closest declared name);
   * `hook_kind_mismatch` if `name` is a filter or guard hook (naming the method to call).
   *
   * @example Collecting every blocking failure
   * ```ts
   * import { HookBus } from "./bus.ts";
   * import assert from "node:assert/strict";
   *
   * const bus = new HookBus();
   * bus.addAction("save", () => { throw new Error("a"); }, { fail: "block" });
   * bus.addAction("save", () => Promise.reject(new Error("b")), { fail: "block" });
   * await assert.rejects(bus.doAction("save"), (e: any) => {
   *   assert.equal(e.code, "action_failed");
   *   assert.deepEqual(e.errors.map((x: any) => x.cause.message), ["a", "b"]);
   *   return true;
   * });
   * ```
   */
  doAction(name: string, ...args: unknown[]): Promise<void> {
    let state: HookState;
    try {
      state = this.#dispatchState(name, "action", "do action");
    } catch (e) {
      return Promise.reject(e);
    }
    const chain = state.chain;
    if (chain.length === 0) return Promise.resolve();
    return this.#als.run(name, HookBus.#runActions, this, state, chain, args);
  }

  /**
   * Threads `value` through the filter handlers of `name` in priority order
   * and resolves to the result. A handler's {@linkcode stopWith} ends the
   * chain.
   *
   * @param name The hook name.
   * @param value The value to filter.
   * @param args Extra arguments every handler receives after the value.
   * @returns A promise of the filtered value.
   * @throws {HookError} (rejects) `invalid_hook_name` for a bad name; or,
   * when a `"block"` binding fails, its failure (`handler_failed` for a host
   * handler, the plugin's own code otherwise) with `value` set to the last
   * accepted value and the original failure as `cause`.
   * @throws {HookError} (rejects) `hook_not_declared` when the bus has
   * declared hooks and `name` is not one (naming the closest declared name);
   * `hook_kind_mismatch` if `name` is an action or guard hook (naming the method to call).
   *
   * @example A blocked chain keeps the last accepted value
   * ```ts
   * import { HookBus } from "./bus.ts";
   * import assert from "node:assert/strict";
   *
   * const bus = new HookBus();
   * bus.addFilter("slug", (s) => s.toLowerCase(), { priority: 1 });
   * bus.addFilter("slug", () => { throw new Error("nope"); }, { fail: "block" });
   * await assert.rejects(bus.applyFilters("slug", "Hello"), {
   *   code: "handler_failed",
   *   hook: "slug",
   *   value: "hello",
   * });
   * ```
   */
  applyFilters(name: string, value: unknown, ...args: unknown[]): Promise<unknown> {
    let state: HookState;
    try {
      state = this.#dispatchState(name, "filter", "apply filters");
    } catch (e) {
      return Promise.reject(e);
    }
    const chain = state.chain;
    if (chain.length === 0) return Promise.resolve(value);
    return this.#als.run(name, HookBus.#runFilters, this, state, chain, value, args);
  }

  /**
   * Asks the guards of `name`, in priority order, about `subject`.
   * `"continue"` (or `undefined`) goes on; `"modify"` replaces the subject
   * that later guards see and goes on; `"ask"` goes on too, and the first ask
   * is the result unless a later guard blocks (block beats ask beats modify
   * beats continue); `"block"` ends the chain and
   * is the result. If no guard ends it, the result is `{decision: "continue"}`,
   * or `{decision: "modify", value}` with the final subject if any guard
   * modified it. A failing guard follows its policy (`"warn"` and `"ignore"`
   * count as "continue").
   *
   * @param name The hook name.
   * @param subject What the guards judge.
   * @param args Extra arguments every guard receives after the subject.
   * @returns A promise of the verdict.
   * @throws {HookError} (rejects) `invalid_hook_name` for a bad name; or the
   * failure of a `"block"` guard, with `value` set to the subject it saw.
   * @throws {HookError} (rejects) `hook_not_declared` when the bus has
   * declared hooks and `name` is not one (naming the closest declared name);
   * `hook_kind_mismatch` if `name` is an action or filter hook (naming the method to call).
   *
   * @example Asking the user
   * ```ts
   * import { HookBus } from "./bus.ts";
   * import assert from "node:assert/strict";
   *
   * const bus = new HookBus();
   * bus.addGuard("delete_post", (_id, count: number) =>
   *   count > 10 ? { decision: "ask", question: `Delete ${count} posts?` } : undefined
   * );
   * assert.deepEqual(await bus.checkGuards("delete_post", "p1", 1), { decision: "continue" });
   * assert.equal((await bus.checkGuards("delete_post", "p1", 50)).question, "Delete 50 posts?");
   * ```
   */
  checkGuards(name: string, subject: unknown, ...args: unknown[]): Promise<Verdict> {
    let state: HookState;
    try {
      state = this.#dispatchState(name, "guard", "check guards");
    } catch (e) {
      return Promise.reject(e);
    }
    const chain = state.chain;
    if (chain.length === 0) return Promise.resolve({ decision: "continue" });
    return this.#als.run(name, HookBus.#runGuards, this, state, chain, subject, args);
  }

  // The chains are static so that `AsyncLocalStorage.run` can call them
  // without a per-dispatch closure; they still reach `bus`'s private fields.

  static async #runFilters(
    bus: HookBus,
    state: HookState,
    chain: readonly Binding[],
    value: unknown,
    args: unknown[],
  ): Promise<unknown> {
    const metered = bus.#metered;
    state.inFlight++;
    let run: ChainRun | undefined;
    try {
      for (let i = 0; i < chain.length; i++) {
        const b = chain[i];
        const t0 = metered ? performance.now() : 0;
        let out: unknown;
        try {
          const relay = b.relay;
          out = relay === undefined
            ? b.fn(value, ...args)
            : relay.filter(value, args, run ??= new ChainRun(chainHops(chain, relayHopOf)), i);
          if (isThenable(out)) out = await out;
        } catch (thrown) {
          const error = bus.#failed(b, t0, state.name, "apply filters", thrown, { value });
          if (error !== undefined) throw error;
          continue;
        }
        if (metered) bus.#measure(b, t0, false);
        if (StopSignal.is(out)) return out.value;
        value = out;
      }
      return value;
    } finally {
      state.inFlight--;
      run?.end();
    }
  }

  static async #runActions(
    bus: HookBus,
    state: HookState,
    chain: readonly Binding[],
    args: unknown[],
  ): Promise<void> {
    const metered = bus.#metered;
    let blocked: HookError[] | undefined;
    state.inFlight++;
    try {
      for (let i = 0; i < chain.length; i++) {
        const b = chain[i];
        if (b.async) {
          bus.#pendingAsync++;
          void HookBus.#runAsync(bus, state, b, args);
          continue;
        }
        const t0 = metered ? performance.now() : 0;
        try {
          const out = b.fn(...args);
          if (isThenable(out)) await out;
        } catch (thrown) {
          const error = bus.#failed(b, t0, state.name, "do action", thrown);
          if (error !== undefined) (blocked ??= []).push(error);
          continue;
        }
        if (metered) bus.#measure(b, t0, false);
      }
    } finally {
      state.inFlight--;
    }
    if (blocked !== undefined) {
      const n = blocked.length;
      throw new HookError(
        "action_failed",
        `Cannot do action ${quote(state.name)}: ${n} blocking handler${n === 1 ? "" : "s"} ` +
          `failed; first: ${blocked[0].message}`,
        { hook: state.name, errors: blocked },
      );
    }
  }

  /** Never rejects; `#pendingAsync` was incremented by the caller. */
  static async #runAsync(
    bus: HookBus,
    state: HookState,
    b: Binding,
    args: unknown[],
  ): Promise<void> {
    const metered = bus.#metered;
    const t0 = metered ? performance.now() : 0;
    try {
      const out = b.fn(...args);
      if (isThenable(out)) await out;
      if (metered) bus.#measure(b, t0, false);
    } catch (thrown) {
      // Nobody waits for an async action: a blocking one is reported too.
      const error = bus.#failed(b, t0, state.name, "run async action", thrown);
      if (error !== undefined) bus.#report(error);
    } finally {
      if (--bus.#pendingAsync === 0) bus.#wakeIdle();
    }
  }

  static async #runGuards(
    bus: HookBus,
    state: HookState,
    chain: readonly Binding[],
    subject: unknown,
    args: unknown[],
  ): Promise<Verdict> {
    const metered = bus.#metered;
    let modified = false;
    /** The first `ask`: it is the result unless a later guard blocks (block beats ask). */
    let ask: Verdict | undefined;
    state.inFlight++;
    try {
      for (let i = 0; i < chain.length; i++) {
        const b = chain[i];
        const t0 = metered ? performance.now() : 0;
        let verdict: unknown;
        try {
          verdict = b.fn(subject, ...args);
          if (isThenable(verdict)) verdict = await verdict;
          if (verdict !== undefined && !isVerdict(verdict)) {
            throw new TypeError(
              `Cannot check guard ${quote(state.name)}: the guard returned an invalid verdict, ` +
                `expected undefined or {decision: "continue" | "block" | "ask" | "modify"}`,
            );
          }
        } catch (thrown) {
          const error = bus.#failed(b, t0, state.name, "check guards", thrown, { value: subject });
          if (error !== undefined) throw error;
          continue;
        }
        if (metered) bus.#measure(b, t0, false);
        if (verdict === undefined) continue;
        const v = verdict as Verdict;
        switch (v.decision) {
          case "continue":
            continue;
          case "modify":
            subject = v.value;
            modified = true;
            continue;
          case "ask":
            ask ??= v;
            continue;
          default:
            return v;
        }
      }
    } finally {
      state.inFlight--;
    }
    if (ask !== undefined) return ask;
    return modified ? { decision: "modify", value: subject } : { decision: "continue" };
  }

  // -- failures and metrics -------------------------------------------------

  /**
   * A binding failed: the one place its fail policy is applied. The failure
   * is measured; `"warn"` reports it, `"ignore"` drops it, and `"block"`
   * returns it for the chain to throw (filters, guards: with the value it
   * had, when `held` is given) or to collect (actions).
   */
  #failed(
    b: Binding,
    t0: number,
    hook: string,
    action: string,
    thrown: unknown,
    held?: { value: unknown },
  ): HookError | undefined {
    if (this.#metered) this.#measure(b, t0, true);
    switch (b.fail) {
      case "block":
        return this.#failure(b, hook, action, thrown, held !== undefined, held?.value);
      case "warn":
        this.#report(this.#failure(b, hook, action, thrown, false));
        return undefined;
      default:
        return undefined;
    }
  }

  /**
   * The {@linkcode HookError} for a failed binding. A plugin binding's
   * HookError keeps its code (and is returned as is when it already names its
   * hook and plugin and no value is to be attached); anything else becomes
   * `handler_failed` with the thrown value as cause.
   */
  #failure(
    b: Binding,
    hook: string,
    action: string,
    thrown: unknown,
    withValue: boolean,
    value?: unknown,
  ): HookError {
    if (b.plugin !== undefined && thrown instanceof HookError) {
      if (!withValue && thrown.hook !== undefined && thrown.plugin !== undefined) return thrown;
      return new HookError(thrown.code, `Cannot ${action} ${quote(hook)}: ${thrown.message}`, {
        plugin: thrown.plugin ?? b.plugin,
        hook: thrown.hook ?? hook,
        status: thrown.status,
        cause: thrown,
        ...(withValue ? { value } : undefined),
      });
    }
    const who = b.plugin === undefined
      ? `host handler (priority ${b.priority})`
      : `handler of plugin ${quote(b.plugin)}`;
    return new HookError(
      "handler_failed",
      `Cannot ${action} ${quote(hook)}: ${who} threw: ${messageOf(thrown)}`,
      { plugin: b.plugin, hook, cause: thrown, ...(withValue ? { value } : undefined) },
    );
  }

  #report(error: HookError): void {
    try {
      this.#onError(error);
    } catch (sinkError) {
      try {
        console.warn(
          `${describe(error)} (the error sink threw: ${messageOf(sinkError)})`,
        );
      } catch {
        // Nowhere left to report to.
      }
    }
  }

  #measure(b: Binding, t0: number, failed: boolean): void {
    try {
      this.#metrics.observe("hook.handler_ms", performance.now() - t0, b.labels);
      if (failed) this.#metrics.increment("hook.failure", b.labels);
    } catch (e) {
      this.#metricsFailed(e);
    }
  }

  #increment(metric: string, labels: Readonly<Record<string, string>>): void {
    try {
      this.#metrics.increment(metric, labels);
    } catch (e) {
      this.#metricsFailed(e);
    }
  }

  #metricsFailed(e: unknown): void {
    if (this.#metricsReported) return;
    this.#metricsReported = true;
    this.#report(
      new HookError(
        "handler_failed",
        `Cannot record metrics: the metrics sink threw (reported once): ${
          messageOf(e)
        }; fix the metrics option (its increment and observe must not throw)`,
        { cause: e },
      ),
    );
  }

  #wakeIdle(): void {
    const waiters = this.#idleWaiters;
    if (waiters.length === 0) return;
    this.#idleWaiters = [];
    for (const wake of waiters) wake();
  }

  // -- waiting and introspection --------------------------------------------

  /**
   * Waits until no async action (see
   * {@linkcode HookBus.prototype.addAsyncAction}) is running: every one
   * started so far, and any they start in turn, has settled.
   *
   * @returns A promise that resolves (never rejects) once none is pending.
   *
   * @example Waiting without timers
   * ```ts
   * import { HookBus } from "./bus.ts";
   * import assert from "node:assert/strict";
   *
   * const bus = new HookBus();
   * const done: number[] = [];
   * bus.addAsyncAction("ping", async (n: number) => {
   *   await new Promise((r) => queueMicrotask(() => r(undefined)));
   *   done.push(n);
   * });
   * await Promise.all([bus.doAction("ping", 1), bus.doAction("ping", 2)]);
   * await bus.idle();
   * assert.deepEqual(done, [1, 2]);
   * ```
   */
  idle(): Promise<void> {
    if (this.#pendingAsync === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /**
   * Whether `name` has any handler.
   *
   * @param name A hook name (an invalid one has no handlers).
   * @returns `true` if at least one handler is registered.
   *
   * @example After unsubscribing
   * ```ts
   * import { HookBus } from "./bus.ts";
   * import assert from "node:assert/strict";
   *
   * const bus = new HookBus();
   * const off = bus.addAction("boot", () => {});
   * assert.equal(bus.hasHandlers("boot"), true);
   * off();
   * assert.equal(bus.hasHandlers("boot"), false);
   * ```
   */
  hasHandlers(name: string): boolean {
    return (this.#hooks.get(name)?.chain.length ?? 0) > 0;
  }

  /**
   * The kind of `name`'s handlers, or its declared kind (see
   * {@linkcode HookBusOptions.hooks}); `undefined` when it has neither.
   *
   * @param name A hook name.
   * @returns `"action"`, `"filter"`, `"guard"` or `undefined`.
   *
   * @example One kind per hook
   * ```ts
   * import { HookBus } from "./bus.ts";
   * import assert from "node:assert/strict";
   *
   * const bus = new HookBus();
   * bus.addAsyncAction("saved", () => {});
   * assert.equal(bus.kindOf("saved"), "action");
   * assert.throws(() => bus.addFilter("saved", (v) => v), { code: "hook_kind_mismatch" });
   * assert.equal(bus.kindOf("nothing"), undefined);
   * ```
   */
  kindOf(name: string): HookKind | undefined {
    return this.#hooks.get(name)?.kind;
  }

  /**
   * The priority of each handler of `name`, in run order.
   *
   * @param name A hook name.
   * @returns One entry per handler; empty when there are none.
   *
   * @example Run order
   * ```ts
   * import { HookBus } from "./bus.ts";
   * import assert from "node:assert/strict";
   *
   * const bus = new HookBus();
   * bus.addFilter("t", (v) => v, { priority: 20 });
   * bus.addFilter("t", (v) => v);
   * bus.addFilter("t", (v) => v, { priority: -1.5 });
   * assert.deepEqual(bus.priorities("t"), [-1.5, 10, 20]);
   * ```
   */
  priorities(name: string): number[] {
    const chain = this.#hooks.get(name)?.chain ?? EMPTY;
    return chain.map((b) => b.priority);
  }

  /**
   * How many dispatches of `name` have started (handlers or not); refused
   * dispatches (a bad name, the wrong kind) do not count.
   *
   * @param name A hook name.
   * @returns The count.
   *
   * @example Counting dispatches
   * ```ts
   * import { HookBus } from "./bus.ts";
   * import assert from "node:assert/strict";
   *
   * const bus = new HookBus();
   * await bus.applyFilters("t", 1);
   * await bus.applyFilters("t", 2);
   * assert.equal(bus.firedCount("t"), 2);
   * assert.equal(bus.firedCount("never"), 0);
   * ```
   */
  firedCount(name: string): number {
    return this.#hooks.get(name)?.fired ?? 0;
  }

  /**
   * The hook whose handler is executing in the caller's async context, or
   * `undefined` outside any handler. Follows `await`s and nested dispatches
   * (the innermost hook wins); an async action keeps its hook for its whole
   * life.
   *
   * @returns The hook name, or `undefined`.
   *
   * @example Inside and outside a handler
   * ```ts
   * import { HookBus } from "./bus.ts";
   * import assert from "node:assert/strict";
   *
   * const bus = new HookBus();
   * let inside: string | undefined;
   * bus.addAction("boot", async () => {
   *   await Promise.resolve();
   *   inside = bus.current();
   * });
   * await bus.doAction("boot");
   * assert.equal(inside, "boot");
   * assert.equal(bus.current(), undefined);
   * ```
   */
  current(): string | undefined {
    return this.#als.getStore();
  }

  /**
   * The hooks with a dispatch in flight (started, not settled), each once.
   * Async actions outliving their `doAction` do not count; see
   * {@linkcode HookBus.prototype.idle}.
   *
   * @returns Hook names, in first-registration-or-dispatch order.
   *
   * @example A dispatch in flight
   * ```ts
   * import { HookBus } from "./bus.ts";
   * import assert from "node:assert/strict";
   *
   * const bus = new HookBus();
   * let during: string[] = [];
   * bus.addFilter("outer", async (v) => {
   *   await Promise.resolve();
   *   during = bus.running();
   *   return v;
   * });
   * await bus.applyFilters("outer", 0);
   * assert.deepEqual(during, ["outer"]);
   * assert.deepEqual(bus.running(), []);
   * ```
   */
  running(): string[] {
    const out: string[] = [];
    for (const state of this.#hooks.values()) if (state.inFlight > 0) out.push(state.name);
    return out;
  }
}
