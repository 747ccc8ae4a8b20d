/**
 * {@linkcode HookPoints}: hook points declared by the host, each with its own
 * subject schema, allowed decisions, mutable, invariant and opaque fields,
 * handles and match field; bindings (host handlers and plugins) with
 * matchers; and the dispatch that merges their verdicts.
 *
 * @module
 */

import { z } from "zod";
import { HookError, type HookErrorCode } from "../../abi/errors.ts";
import type { Decision, FailPolicy } from "../../abi/envelope.ts";
import { isHookName } from "../../abi/hook_name.ts";
import { compileMatcher, type Matcher } from "./matcher.ts";
import { jsonEqual, mergePatch, patchLeaves, type PatchShape } from "./merge_patch.ts";
import {
  type DurableSink,
  HANDLE_TYPES,
  HandleTable,
  type HandleType,
  MemorySink,
  mintSink,
  type SinkAck,
  type SinkHandle,
  type SinkItem,
} from "./sink.ts";

/**
 * A subject schema: a zod 4 schema (`z.object({...})`), seen through the one
 * method the host calls on it, so that zod's types are not part of this
 * package's API. {@linkcode HookPoints.prototype.declare} refuses anything
 * that is not a zod schema.
 */
export interface SubjectSchema {
  /**
   * Validates a value without throwing.
   *
   * @param value The subject.
   * @returns Success, or the issues found.
   */
  safeParse(value: unknown):
    | { success: true }
    | {
      success: false;
      error: { issues: readonly { path: readonly PropertyKey[]; message: string }[] };
    };
}

/** The kinds of hook point: `guard` answers verdicts, `action` only observes. */
export type PointKind = "guard" | "action";

/** What a mutable field accepts: any change, or only items appended to an array. */
export type Mutability = "replace" | "append";

/**
 * A hook point as the host declares it.
 *
 * @example A pre-tool-use point
 * ```ts
 * import type { HookPointSpec } from "./points.ts";
 * import { z } from "zod";
 *
 * const preToolUse: HookPointSpec = {
 *   name: "pre_tool_use",
 *   kind: "guard",
 *   subject: z.object({ tool_name: z.string(), tool_input: z.record(z.string(), z.unknown()) }),
 *   decisions: ["continue", "block", "ask", "modify"],
 *   mutable: { tool_input: "replace" },
 *   matchField: "tool_name",
 * };
 * ```
 */
export interface HookPointSpec {
  /** The hook name bindings use (docs/abi.md#hook-names). */
  readonly name: string;
  /** `guard` (verdicts) or `action` (observe only: answers are ignored). */
  readonly kind: PointKind;
  /**
   * The subject's schema: every subject is checked against it before the
   * chain, and the result again after each modification (re-validation).
   * Subjects are JSON objects.
   */
  readonly subject: SubjectSchema;
  /**
   * Decisions a binding may answer; `continue` is always allowed.
   * @default {["continue"]}
   */
  readonly decisions?: readonly Decision[];
  /**
   * Top-level fields a `modify` may change: `"replace"` takes any change
   * (merge-patch), `"append"` only items appended to the array it holds.
   * Every other field is invariant. @default {{}}
   */
  readonly mutable?: Readonly<Record<string, Mutability>>;
  /** Top-level fields never sent to plugins (and invariant). @default {[]} */
  readonly opaque?: readonly string[];
  /** Handles a binding may ask for. @default {[]} */
  readonly handles?: readonly HandleType[];
  /** The top-level field matchers test; without one, only `*` matchers bind. */
  readonly matchField?: string;
}

/** What a host handler of a point receives besides the subject. */
export interface PointContext {
  /** The point. */
  readonly point: string;
  /** The sink handle, when the binding asked for it; revoked once the handler returns. */
  readonly sink?: SinkHandle;
}

/**
 * A host handler of a hook point: returns a {@linkcode PointAnswer}, or
 * `undefined` for continue. A `modify` answer's `value` is a JSON
 * merge-patch (RFC 7396) of the subject.
 */
export type PointHandler = (
  // deno-lint-ignore no-explicit-any
  subject: any,
  context: PointContext,
) => PointAnswer | undefined | void | PromiseLike<PointAnswer | undefined | void>;

/** One binding's answer (the guard answer of docs/abi.md#envelopes). */
export interface PointAnswer {
  /** What to do. */
  decision: Decision;
  /** Why. */
  reason?: string;
  /** What to ask, for `ask`. */
  question?: string;
  /** For `modify`: a merge-patch of the subject. */
  value?: unknown;
}

/** Options of one binding of a hook point. */
export interface PointBindingOptions {
  /** Lower runs first in the merge order. @default {10} */
  priority?: number;
  /** What a failure of this binding does. @default {"block" for a guard point, "warn" for an action point} */
  fail?: FailPolicy;
  /** Which subjects it is called for (see {@linkcode compileMatcher}). @default {"*"} */
  match?: string;
  /** Handles it needs; each must be offered by the point. @default {[]} */
  handles?: readonly HandleType[];
  /** Decisions it may answer; each must be allowed by the point. @default {the point's} */
  decisions?: readonly Decision[];
  /** The plugin it belongs to (set by the plugin host). */
  plugin?: string;
  /**
   * Told of each `bad_response` of this plugin binding (a body that is not
   * JSON, not a verdict, or with a decision it may not answer): the plugin
   * host counts it towards the plugin's quarantine.
   */
  onBadAnswer?: (error: HookError) => void;
}

/** Two modifications that set the same field to different values. */
export interface PatchConflict {
  /** JSON pointer of the field. */
  readonly path: string;
  /** Each binding's value, in merge order; the last one is what the result holds. */
  readonly values: readonly { readonly by: string; readonly value: unknown }[];
}

/** The merged outcome of a dispatch. */
export interface PointVerdict<T = unknown> {
  /** block > ask > modify > continue. */
  decision: Decision;
  /** For `block`: the first blocking binding's reason (in priority order). */
  reason?: string;
  /** For `ask`: the first asking binding's question. */
  question?: string;
  /** Who decided a `block` or `ask`: a plugin name or `"host"`. */
  by?: string;
  /** The subject after every accepted modification (the subject itself when none). */
  value: T;
  /** The modifications applied, in merge (priority) order. */
  applied: { by: string; patch: unknown }[];
  /** Fields two modifications set differently; the later binding's value won. */
  conflicts: PatchConflict[];
  /** Failed bindings (not those with `fail = "ignore"`), typed. */
  errors: HookError[];
  /** The sink's acknowledgment of this dispatch's items, when any were committed. */
  committed?: SinkAck;
  /** How many bindings were called (the others' matchers missed). */
  called: number;
}

/** Options of {@linkcode HookPoints}. */
export interface HookPointsOptions {
  /** Where committed sink items go. @default {new MemorySink()} */
  sink?: DurableSink;
  /** Item kinds sink handles accept. @default {[]} */
  sinkKinds?: readonly string[];
  /** Receives `warn` failures. @default {console.warn} */
  onError?: (error: HookError) => void;
}

/** A plugin's side of a binding: sends an envelope, answers the body text. */
export type PluginCall = (payload: string) => string | null | Promise<string | null>;

interface Point {
  readonly spec: HookPointSpec;
  readonly decisions: ReadonlySet<Decision>;
  readonly mutable: ReadonlyMap<string, Mutability>;
  readonly opaque: ReadonlySet<string>;
  readonly handles: ReadonlySet<HandleType>;
  chain: readonly Binding[];
}

interface Binding {
  readonly by: string;
  readonly plugin: string | undefined;
  readonly priority: number;
  readonly seq: number;
  readonly fail: FailPolicy;
  readonly matcher: Matcher;
  readonly handles: readonly HandleType[];
  readonly decisions: ReadonlySet<Decision> | undefined;
  readonly host?: PointHandler;
  readonly call?: PluginCall;
  readonly onBadAnswer?: (error: HookError) => void;
}

type Outcome =
  | { ok: true; answer: PointAnswer | undefined; items: SinkItem[] }
  | { ok: false; error: HookError };

const DECISIONS: ReadonlySet<string> = new Set(["continue", "block", "ask", "modify"]);

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

function q(s: string): string {
  return JSON.stringify(s);
}

/**
 * The host's hook points and their bindings.
 *
 * @example Merging a chain
 * ```ts
 * import { HookPoints } from "./points.ts";
 * import { z } from "zod";
 * import assert from "node:assert/strict";
 *
 * const points = new HookPoints();
 * points.declare({
 *   name: "pre_tool_use",
 *   kind: "guard",
 *   subject: z.object({ tool_name: z.string(), tool_input: z.object({ path: z.string() }) }),
 *   decisions: ["continue", "block", "ask", "modify"],
 *   mutable: { tool_input: "replace" },
 *   matchField: "tool_name",
 * });
 * points.add("pre_tool_use", () => ({ decision: "modify", value: { tool_input: { path: "/w/a" } } }), {
 *   match: "Write|Edit",
 * });
 * points.add("pre_tool_use", () => ({ decision: "block", reason: "no shell" }), { match: "Bash" });
 * const v = await points.dispatch("pre_tool_use", { tool_name: "Edit", tool_input: { path: "a" } });
 * assert.equal(v.decision, "modify");
 * assert.deepEqual(v.value, { tool_name: "Edit", tool_input: { path: "/w/a" } });
 * assert.equal(v.called, 1);
 * ```
 */
export class HookPoints {
  readonly #points = new Map<string, Point>();
  readonly #sink: DurableSink;
  readonly #kinds: ReadonlySet<string>;
  readonly #onError: (e: HookError) => void;
  readonly #table: HandleTable;
  #seq = 0;

  /**
   * Makes an empty registry.
   *
   * @param options The durable sink, its approved item kinds, the error sink.
   */
  constructor(options: HookPointsOptions = {}) {
    this.#sink = options.sink ?? new MemorySink();
    this.#kinds = new Set(options.sinkKinds ?? []);
    this.#onError = options.onError ??
      ((e) => console.warn(`[gn] ${e.code}: ${e.message}`));
    this.#table = new HandleTable((e) => this.#report(e));
  }

  /** The item kinds sink handles accept. */
  get sinkKinds(): readonly string[] {
    return [...this.#kinds];
  }

  /**
   * Declares a hook point.
   *
   * @param spec The point.
   * @throws {TypeError} For a malformed spec: a bad name, kind or decision, a
   * field both opaque and mutable, an unknown handle type, a second point of
   * one name.
   *
   * @example See {@linkcode HookPoints}.
   */
  declare(spec: HookPointSpec): void {
    const where = `Cannot declare hook point ${q(String(spec?.name))}`;
    if (!isHookName(spec?.name)) throw new TypeError(`${where}: not a hook name`);
    if (this.#points.has(spec.name)) throw new TypeError(`${where}: it is already declared`);
    if (spec.kind !== "guard" && spec.kind !== "action") {
      throw new TypeError(`${where}: kind must be "guard" or "action"`);
    }
    if (!(spec.subject instanceof z.ZodType)) {
      throw new TypeError(`${where}: subject must be a zod schema`);
    }
    const decisions = new Set<Decision>(["continue", ...(spec.decisions ?? [])]);
    for (const d of decisions) {
      if (!DECISIONS.has(d)) throw new TypeError(`${where}: unknown decision ${q(String(d))}`);
      if (spec.kind === "action" && d !== "continue") {
        throw new TypeError(`${where}: an action point only observes (decision ${q(d)})`);
      }
    }
    const mutable = new Map(Object.entries(spec.mutable ?? {}));
    for (const [field, m] of mutable) {
      if (m !== "replace" && m !== "append") {
        throw new TypeError(`${where}: field ${q(field)} must be "replace" or "append"`);
      }
    }
    const opaque = new Set(spec.opaque ?? []);
    for (const field of opaque) {
      if (mutable.has(field)) {
        throw new TypeError(`${where}: field ${q(field)} cannot be both opaque and mutable`);
      }
    }
    for (const h of spec.handles ?? []) {
      if (!(HANDLE_TYPES as readonly string[]).includes(h)) {
        throw new TypeError(`${where}: unknown handle type ${q(String(h))}`);
      }
    }
    this.#points.set(spec.name, {
      spec,
      decisions,
      mutable,
      opaque,
      handles: new Set(spec.handles ?? []),
      chain: [],
    });
  }

  /**
   * Whether `name` is a declared point.
   *
   * @param name A hook name.
   * @returns `true` when declared.
   */
  has(name: string): boolean {
    return this.#points.has(name);
  }

  /**
   * The declaration of a point.
   *
   * @param name A hook name.
   * @returns Its spec, or `undefined`.
   */
  spec(name: string): HookPointSpec | undefined {
    return this.#points.get(name)?.spec;
  }

  /**
   * The JSON Schema (draft 2020-12) of a point's subject as plugins receive
   * it (opaque fields left out), with the point's contract under `x-gn-point`.
   *
   * @param name A declared point.
   * @returns The schema.
   * @throws {HookError} `hook_not_declared` for an unknown point.
   *
   * @example
   * ```ts
   * import { HookPoints } from "./points.ts";
   * import { z } from "zod";
   * import assert from "node:assert/strict";
   *
   * const points = new HookPoints();
   * points.declare({ name: "pre_submit", kind: "guard", subject: z.object({ actor: z.string(), token: z.string() }),
   *   opaque: ["token"] });
   * const schema = points.jsonSchema("pre_submit");
   * assert.deepEqual(Object.keys(schema.properties as object), ["actor"]);
   * ```
   */
  jsonSchema(name: string): Record<string, unknown> {
    const p = this.#point(name, "describe");
    const schema = z.toJSONSchema(p.spec.subject as unknown as z.ZodType, {
      target: "draft-2020-12",
      unrepresentable: "any",
    }) as Record<string, unknown>;
    if (isObject(schema.properties)) {
      const properties = { ...schema.properties };
      for (const f of p.opaque) delete properties[f];
      schema.properties = properties;
      if (Array.isArray(schema.required)) {
        schema.required = schema.required.filter((f) => !p.opaque.has(String(f)));
      }
    }
    schema["x-gn-point"] = {
      name,
      kind: p.spec.kind,
      decisions: [...p.decisions],
      mutable: Object.fromEntries(p.mutable),
      opaque: [...p.opaque],
      handles: [...p.handles],
      matchField: p.spec.matchField ?? null,
    };
    return schema;
  }

  #point(name: string, action: string): Point {
    const p = this.#points.get(name);
    if (p === undefined) {
      const names = [...this.#points.keys()].map(q).join(", ");
      throw new HookError(
        "hook_not_declared",
        `Cannot ${action} hook point ${q(name)}: the host does not declare it (declared: ${
          names || "none"
        }); declare it with points in PluginHost.create (or HookPoints.declare)`,
        { hook: name },
      );
    }
    return p;
  }

  /**
   * Checks a binding against its point: the handles it asks for must be
   * offered, the decisions it declares allowed, its matcher valid.
   *
   * @param name The point.
   * @param opts The binding.
   * @returns The compiled matcher.
   * @throws {HookError} `hook_not_declared`; `point_mismatch` naming the
   * binding and the point.
   * @throws {SyntaxError} For a malformed matcher.
   */
  check(name: string, opts: PointBindingOptions): Matcher {
    const p = this.#point(name, "bind");
    const who = opts.plugin === undefined ? "a host handler" : `plugin ${q(opts.plugin)}`;
    const mismatch = (what: string): HookError =>
      new HookError(
        "point_mismatch",
        `Cannot bind ${who} to hook point ${q(name)}: ${what}`,
        { plugin: opts.plugin, hook: name },
      );
    for (const d of opts.decisions ?? []) {
      if (!p.decisions.has(d)) {
        throw mismatch(
          `the binding answers ${q(d)}, which the point does not allow (it allows ${
            [...p.decisions].map(q).join(", ")
          }): remove it from the binding's decisions`,
        );
      }
    }
    for (const h of opts.handles ?? []) {
      if (!p.handles.has(h)) {
        throw mismatch(
          `the binding needs handle ${q(h)}, which the point does not offer (it offers ${
            [...p.handles].map(q).join(", ") || "none"
          })`,
        );
      }
    }
    const matcher = compileMatcher(opts.match ?? "*");
    if (!matcher.all && p.spec.matchField === undefined) {
      throw mismatch(`the point has no match field, so only match = "*" can bind`);
    }
    return matcher;
  }

  /**
   * Adds a host handler to a point.
   *
   * @param name The point.
   * @param fn The handler.
   * @param opts Priority, fail policy, matcher, handles, decisions.
   * @returns An idempotent unsubscribe function.
   * @throws {HookError} `hook_not_declared`, `point_mismatch`.
   * @throws {SyntaxError} For a malformed matcher.
   *
   * @example See {@linkcode HookPoints}.
   */
  add(name: string, fn: PointHandler, opts: PointBindingOptions = {}): () => void {
    if (typeof fn !== "function") {
      throw new TypeError(`Cannot bind to hook point ${q(name)}: the handler must be a function`);
    }
    return this.#add(name, opts, { host: fn });
  }

  /**
   * Adds a plugin binding (what the plugin host calls for each manifest
   * binding of a point).
   *
   * @param name The point.
   * @param opts The binding; `plugin` is required.
   * @param call Sends an envelope to the plugin and answers its body text.
   * @returns An idempotent unsubscribe function.
   * @throws {HookError} `hook_not_declared`, `point_mismatch`.
   */
  addPlugin(name: string, opts: PointBindingOptions, call: PluginCall): () => void {
    return this.#add(name, opts, { call });
  }

  #add(
    name: string,
    opts: PointBindingOptions,
    impl: { host?: PointHandler; call?: PluginCall },
  ): () => void {
    const matcher = this.check(name, opts);
    const p = this.#points.get(name)!;
    const priority = opts.priority ?? 10;
    if (!Number.isFinite(priority)) {
      throw new RangeError(`Cannot bind to hook point ${q(name)}: priority must be finite`);
    }
    const b: Binding = {
      by: opts.plugin ?? "host",
      plugin: opts.plugin,
      priority,
      seq: ++this.#seq,
      fail: opts.fail ?? (p.spec.kind === "guard" ? "block" : "warn"),
      matcher,
      handles: [...new Set(opts.handles ?? [])],
      decisions: opts.decisions === undefined ? undefined : new Set(opts.decisions),
      onBadAnswer: opts.onBadAnswer,
      ...impl,
    };
    p.chain = [...p.chain, b].sort((x, y) => x.priority - y.priority || x.seq - y.seq);
    let removed = false;
    return () => {
      if (removed) return;
      removed = true;
      p.chain = p.chain.filter((x) => x !== b);
    };
  }

  /**
   * A sink append from a plugin's worker (`gn_sink_append`): honoured only
   * for a live handle of that plugin.
   *
   * @param plugin The plugin whose worker sent it.
   * @param handle The handle id.
   * @param kind The item kind.
   * @param data The item text.
   * @returns The status: 0, -6 denied, -7 over quota.
   */
  sinkAppend(plugin: string, handle: number, kind: string, data: string): number {
    return this.#table.append(plugin, handle, kind, data);
  }

  /**
   * Runs every binding of `name` whose matcher accepts the subject, all on
   * the same subject (plugins see it without its opaque fields), then merges
   * their answers in priority order: block > ask > modify > continue;
   * modifications are merge-patches checked against the mutable fields and
   * re-validated one by one; sink items are committed after the chain unless
   * it is blocked.
   *
   * @param name The point.
   * @param subject The subject (a JSON object valid under the point's schema).
   * @returns The merged verdict; failures are in `errors`, never thrown.
   * @throws {HookError} (rejects) `hook_not_declared`.
   * @throws {TypeError} (rejects) When the subject is not an object valid
   * under the point's own schema, or (with plugin bindings) not JSON.
   *
   * @example See {@linkcode HookPoints}.
   */
  async dispatch<T extends Record<string, unknown>>(
    name: string,
    subject: T,
  ): Promise<PointVerdict<T>> {
    const p = this.#point(name, "dispatch");
    if (!isObject(subject)) {
      throw new TypeError(`Cannot dispatch hook point ${q(name)}: the subject must be an object`);
    }
    const checked = p.spec.subject.safeParse(subject);
    if (!checked.success) {
      throw new TypeError(
        `Cannot dispatch hook point ${
          q(name)
        }: the subject is not valid under the point's schema: ${
          z.prettifyError(checked.error as unknown as z.ZodError)
        }`,
      );
    }
    const field = p.spec.matchField === undefined ? undefined : subject[p.spec.matchField];
    const chain = p.chain.filter((b) => b.matcher.test(field));
    /** What plugins receive: the subject without its opaque fields, encoded once per dispatch. */
    const view: { json?: string } = {};
    const outcomes = await Promise.all(chain.map((b) => {
      if (b.call !== undefined) {
        view.json ??= JSON.stringify(
          p.opaque.size === 0
            ? subject
            : Object.fromEntries(Object.entries(subject).filter(([k]) => !p.opaque.has(k))),
        );
        return this.#runPlugin(p, b, view.json);
      }
      return this.#runHost(p, b, subject);
    }));
    return await this.#merge(p, chain, outcomes, subject);
  }

  async #runHost(p: Point, b: Binding, subject: Record<string, unknown>): Promise<Outcome> {
    const handles = this.#mint(p, b);
    let answer: unknown;
    try {
      answer = b.host!(structuredClone(subject), { point: p.spec.name, sink: handles.sink });
      if (typeof (answer as PromiseLike<unknown>)?.then === "function") answer = await answer;
    } catch (cause) {
      this.#revoke(handles);
      return {
        ok: false,
        error: new HookError(
          "handler_failed",
          `Cannot check hook point ${
            q(p.spec.name)
          }: host handler (priority ${b.priority}) threw: ${
            cause instanceof Error ? cause.message : String(cause)
          }`,
          { hook: p.spec.name, cause },
        ),
      };
    }
    const items = this.#revoke(handles);
    return this.#answer(p, b, answer, items);
  }

  async #runPlugin(p: Point, b: Binding, value: string): Promise<Outcome> {
    const handles = this.#mint(p, b);
    let body: string | null;
    try {
      const h = handles.sink === undefined ? "" : `"handles":{"sink":${handles.sink.id}},`;
      const payload = p.spec.kind === "guard"
        ? `{"kind":"guard",${h}"value":${value},"args":[]}`
        : `{"kind":"action",${h}"args":[${value}]}`;
      const out = b.call!(payload);
      body = out instanceof Promise ? await out : out;
    } catch (cause) {
      this.#revoke(handles);
      return { ok: false, error: this.#pluginError(p, b, cause) };
    }
    const items = this.#revoke(handles);
    if (p.spec.kind === "action" || body === null) return { ok: true, answer: undefined, items };
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      const error = this.#bad(p, b, "bad_response", "its answer is not JSON");
      b.onBadAnswer?.(error);
      return { ok: false, error };
    }
    const outcome = this.#answer(p, b, parsed, items);
    if (!outcome.ok) b.onBadAnswer?.(outcome.error);
    return outcome;
  }

  #pluginError(p: Point, b: Binding, cause: unknown): HookError {
    if (cause instanceof HookError) {
      return new HookError(
        cause.code,
        `Cannot check hook point ${q(p.spec.name)}: ${cause.message}`,
        { plugin: b.plugin, hook: p.spec.name, status: cause.status, cause },
      );
    }
    return new HookError(
      "handler_failed",
      `Cannot check hook point ${q(p.spec.name)}: plugin ${q(b.by)} failed: ${String(cause)}`,
      { plugin: b.plugin, hook: p.spec.name, cause },
    );
  }

  #bad(p: Point, b: Binding, code: HookErrorCode, what: string, field?: string): HookError {
    const who = b.plugin === undefined
      ? `host handler (priority ${b.priority})`
      : `plugin ${q(b.plugin)}`;
    return new HookError(
      code,
      `Cannot check hook point ${q(p.spec.name)}: ${who}${
        field === undefined ? "" : ` (field ${q(field)})`
      }: ${what}`,
      { plugin: b.plugin, hook: p.spec.name, field },
    );
  }

  /** Validates one answer: a decision the point and binding allow; modify carries a value. */
  #answer(p: Point, b: Binding, a: unknown, items: SinkItem[]): Outcome {
    const code: HookErrorCode = b.plugin === undefined ? "handler_failed" : "bad_response";
    if (a === undefined || a === null || p.spec.kind === "action") {
      return { ok: true, answer: undefined, items };
    }
    if (!isObject(a)) {
      return { ok: false, error: this.#bad(p, b, code, "its answer is not a verdict object") };
    }
    const d = a.decision;
    if (typeof d !== "string" || !DECISIONS.has(d)) {
      return {
        ok: false,
        error: this.#bad(
          p,
          b,
          code,
          `unknown decision ${
            JSON.stringify(d) ?? "(none)"
          }; answer continue, block, ask or modify`,
        ),
      };
    }
    if (!p.decisions.has(d as Decision) || (b.decisions && !b.decisions.has(d as Decision))) {
      return {
        ok: false,
        error: this.#bad(
          p,
          b,
          code,
          `decision ${q(d)} is not allowed here (allowed: ${
            [...(b.decisions ?? p.decisions)].filter((x) => p.decisions.has(x)).map(q).join(", ")
          })`,
        ),
      };
    }
    for (const key of ["reason", "question"] as const) {
      if (key in a && typeof a[key] !== "string") {
        return { ok: false, error: this.#bad(p, b, code, `${q(key)} is not a string`) };
      }
    }
    const answer: PointAnswer = { decision: d as Decision };
    if (typeof a.reason === "string") answer.reason = a.reason;
    if (typeof a.question === "string") answer.question = a.question;
    if (d === "modify") {
      if (!("value" in a) || a.value === undefined) {
        // A modify without a value is a block, with that reason.
        return {
          ok: true,
          answer: {
            decision: "block",
            reason: answer.reason ??
              `${b.by} answered "modify" without a value (a modify must carry a merge-patch)`,
          },
          items,
        };
      }
      answer.value = a.value;
    }
    return { ok: true, answer, items };
  }

  #mint(p: Point, b: Binding): { sink?: SinkHandle } {
    if (!b.handles.includes("sink")) return {};
    const sink = mintSink(p.spec.name, b.by, this.#kinds);
    this.#table.open(sink, b.plugin ?? "\0host");
    return { sink };
  }

  #revoke(handles: { sink?: SinkHandle }): SinkItem[] {
    return handles.sink === undefined ? [] : this.#table.close(handles.sink);
  }

  #report(e: HookError): void {
    try {
      this.#onError(e);
    } catch {
      // an error sink that throws must not break a dispatch
    }
  }

  async #merge<T extends Record<string, unknown>>(
    p: Point,
    chain: readonly Binding[],
    outcomes: readonly Outcome[],
    subject: T,
  ): Promise<PointVerdict<T>> {
    let value: Record<string, unknown> = subject;
    const applied: { by: string; patch: unknown }[] = [];
    const leaves: Shaped[] = [];
    const index = new Map<string, PatchConflict>();
    const conflicts: PatchConflict[] = [];
    const errors: HookError[] = [];
    const items: SinkItem[] = [];
    let block: { by: string; reason: string } | undefined;
    let ask: { by: string; question: string } | undefined;
    const fail = (b: Binding, error: HookError): void => {
      if (b.fail === "ignore") return;
      errors.push(error);
      if (b.fail === "block") block ??= { by: b.by, reason: error.message };
      else this.#report(error);
    };
    for (let i = 0; i < chain.length; i++) {
      const b = chain[i];
      const o = outcomes[i];
      if (!o.ok) {
        fail(b, o.error);
        continue;
      }
      const a = o.answer;
      if (a === undefined || a.decision === "continue") {
        items.push(...o.items);
        continue;
      }
      if (a.decision === "block") {
        block ??= { by: b.by, reason: a.reason ?? `blocked by ${b.by}` };
        continue;
      }
      if (a.decision === "ask") {
        ask ??= { by: b.by, question: a.question ?? a.reason ?? `${b.by} asks to confirm` };
        items.push(...o.items);
        continue;
      }
      // modify
      let step: { next: Record<string, unknown>; conflictPatch: unknown } | HookError;
      let mine: PatchShape;
      try {
        step = this.#modify(p, b, subject, value, a.value);
        if (step instanceof HookError) {
          fail(b, step);
          continue;
        }
        mine = patchLeaves(step.conflictPatch);
      } catch (cause) {
        // A patch too deep for the stack (a megabyte of nested objects) is the binding's failure.
        const error = this.#bad(
          p,
          b,
          b.plugin === undefined ? "handler_failed" : "bad_response",
          `its modify value cannot be applied (${
            cause instanceof Error ? cause.message : String(cause)
          })`,
        );
        b.onBadAnswer?.(error);
        fail(b, error);
        continue;
      }
      const shaped: Shaped = { by: b.by, patch: step.conflictPatch, ...mine };
      for (const earlier of leaves) recordConflicts(earlier, shaped, index, conflicts);
      leaves.push(shaped);
      applied.push({ by: b.by, patch: a.value });
      value = step.next;
      items.push(...o.items);
    }
    const verdict: PointVerdict<T> = {
      decision: block ? "block" : ask ? "ask" : applied.length > 0 ? "modify" : "continue",
      value: value as T,
      applied,
      conflicts,
      errors,
      called: chain.length,
    };
    if (block) [verdict.reason, verdict.by] = [block.reason, block.by];
    else if (ask) [verdict.question, verdict.by] = [ask.question, ask.by];
    if (!block && items.length > 0) {
      try {
        verdict.committed = await this.#sink.append(items);
      } catch (cause) {
        const e = new HookError(
          "handler_failed",
          `Cannot commit ${items.length} sink item(s) of hook point ${
            q(p.spec.name)
          }: the durable sink failed (see the cause); fix the sink option of PluginHost.create`,
          { hook: p.spec.name, cause },
        );
        errors.push(e);
        this.#report(e);
      }
    }
    return verdict;
  }

  /**
   * One binding's modification: append-only fields take the items added to
   * what the binding saw; every field it changes must be mutable; the result
   * must pass the point's schema.
   */
  #modify(
    p: Point,
    b: Binding,
    original: Record<string, unknown>,
    current: Record<string, unknown>,
    patch: unknown,
  ): { next: Record<string, unknown>; conflictPatch: unknown } | HookError {
    if (!isObject(patch)) {
      return this.#bad(
        p,
        b,
        "invariant_violated",
        "its modify value is not an object (a merge-patch that is not an object would replace the whole subject)",
      );
    }
    let effective: Record<string, unknown> = patch;
    let conflictPatch: Record<string, unknown> = patch;
    for (const [field, m] of p.mutable) {
      if (m !== "append" || !Object.hasOwn(patch, field)) continue;
      const before = original[field];
      const after = patch[field];
      if (
        !Array.isArray(before) || !Array.isArray(after) || after.length < before.length ||
        !before.every((x, i) => jsonEqual(x, after[i]))
      ) {
        return this.#bad(
          p,
          b,
          "invariant_violated",
          "the field is append-only: its new value must be the array the plugin received with items added at the end",
          field,
        );
      }
      const base = Array.isArray(current[field]) ? current[field] as unknown[] : before;
      effective = { ...effective, [field]: [...base, ...after.slice(before.length)] };
      const { [field]: _skip, ...rest } = conflictPatch;
      conflictPatch = rest;
    }
    const next = mergePatch(current, effective) as Record<string, unknown>;
    for (const field of new Set([...Object.keys(current), ...Object.keys(next)])) {
      if (jsonEqual(current[field], next[field])) continue;
      if (!p.mutable.has(field)) {
        return this.#bad(
          p,
          b,
          "invariant_violated",
          p.opaque.has(field)
            ? "the field is opaque and invariant: a binding may not set or delete it"
            : `the field is invariant (mutable: ${
              [...p.mutable.keys()].map(q).join(", ") || "none"
            })`,
          field,
        );
      }
    }
    const checked = p.spec.subject.safeParse(next);
    if (!checked.success) {
      const issue = checked.error.issues[0];
      const field = issue.path.length > 0 ? issue.path.map(String).join(".") : "(subject)";
      return this.#bad(
        p,
        b,
        "revalidation_failed",
        `the modified subject fails the host's validation: ${issue.message}`,
        field,
      );
    }
    return { next, conflictPatch };
  }
}

/** An accepted patch and its shape. */
interface Shaped extends PatchShape {
  by: string;
  patch: unknown;
}

/** The value a patch holds at a JSON pointer it merges into. */
function at(patch: unknown, pointer: string): unknown {
  let v = patch;
  for (const part of pointer.split("/").slice(1)) {
    v = (v as Record<string, unknown>)[part.replaceAll("~1", "/").replaceAll("~0", "~")];
  }
  return v;
}

/**
 * Records where `later` sets a member `earlier` set to something else: the
 * same member, a member inside one `earlier` replaced, or one `later`
 * replaces with members of `earlier` inside. Map lookups only: linear in the
 * patches' leaves times their depth.
 */
function recordConflicts(
  earlier: Shaped,
  later: Shaped,
  index: Map<string, PatchConflict>,
  out: PatchConflict[],
): void {
  for (const [path, value] of later.leaves) {
    let key: string | undefined;
    if (earlier.leaves.has(path)) {
      if (!jsonEqual(earlier.leaves.get(path), value)) key = path;
    } else if (earlier.inner.has(path)) {
      key = path;
    } else {
      for (let i = path.lastIndexOf("/"); i > 0; i = path.lastIndexOf("/", i - 1)) {
        if (earlier.leaves.has(path.slice(0, i))) {
          key = path.slice(0, i);
          break;
        }
      }
    }
    if (key === undefined) continue;
    const mine = key === path ? value : at(later.patch, key);
    const existing = index.get(key);
    if (existing === undefined) {
      const before = earlier.leaves.has(key) ? earlier.leaves.get(key) : at(earlier.patch, key);
      const c: PatchConflict = {
        path: key,
        values: [{ by: earlier.by, value: before }, { by: later.by, value: mine }],
      };
      index.set(key, c);
      out.push(c);
    } else {
      const values = existing.values as { by: string; value: unknown }[];
      if (values[values.length - 1].by !== later.by) values.push({ by: later.by, value: mine });
    }
  }
}
