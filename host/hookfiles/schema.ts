/**
 * Hook files: `hooks.toml` (any number of `[[hooks]]` tables) and the
 * one-hook forms `hook.toml` and `HOOK.toml` (the keys of one definition at
 * the top level). Each definition binds a command, HTTP or wasm handler to a
 * hook point, with a matcher, priority, timeout and fail policy. Validated
 * strictly, like `plugin.toml`: unknown keys are errors, and every refusal
 * names the file, the key and the reason. `hooks.schema.json` is the JSON
 * Schema of the format ({@linkcode hookFileJsonSchema}).
 *
 * @module
 */

import { parse as parseToml, TomlError } from "smol-toml";
import { z } from "zod";
import { HookError } from "../../abi/errors.ts";
import { FAIL_POLICIES, type FailPolicy, HOOK_KINDS, type HookKind } from "../../abi/envelope.ts";
import { compileMatcher } from "./matcher.ts";

/** The kinds of handler a hook file can declare. */
export const HANDLER_TYPES: readonly ["command", "http", "wasm"] = ["command", "http", "wasm"];

/** One of {@linkcode HANDLER_TYPES}. */
export type HandlerType = typeof HANDLER_TYPES[number];

/** One validated hook definition, camelCase, with where it came from. */
export interface HookDefinition {
  /** Unique within the layers; a later layer's definition of the same id replaces an earlier one. */
  readonly id: string;
  /** The hook point (hook name). */
  readonly hook: string;
  /** How the hook is dispatched. */
  readonly kind: HookKind;
  /** What handles it. */
  readonly type: HandlerType;
  /** `exact`, `A|B`, `prefix*`, or `/regex/`; absent matches everything. */
  readonly matcher?: string;
  /** Dotted path of the subject field the matcher applies to; absent: the subject itself. */
  readonly matchField?: string;
  /** Lower runs first. */
  readonly priority: number;
  /** What a failure does; `block` for a guard when absent, `warn` otherwise. */
  readonly fail: FailPolicy;
  /** Deadline of one run, in ms; for a wasm handler it can only lower the plugin's own. */
  readonly timeoutMs?: number;
  /** argv of a command handler. */
  readonly command?: readonly string[];
  /** Shell text of a command handler run with `sh -c` (explicit opt-in to a shell). */
  readonly shell?: string;
  /** Working directory of a command handler, relative to the file's folder. */
  readonly cwd?: string;
  /** Literal environment variables of a command handler. */
  readonly env?: Readonly<Record<string, string>>;
  /** URL of an http handler. */
  readonly url?: string;
  /** Extra request headers of an http handler. */
  readonly headers?: Readonly<Record<string, string>>;
  /** `plugin.toml` of a wasm handler, relative to the file's folder. */
  readonly plugin?: string;
  /** `false` turns off a definition of the same id from an earlier layer. */
  readonly enabled: boolean;
  /** The file it was read from. */
  readonly file: string;
  /** The file's folder (absolute): relative paths resolve against it. */
  readonly dir: string;
  /** Its index in the file (0 for the one-hook forms). */
  readonly index: number;
}

const ID_RE = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const HOOK_NAME_RE = /^[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*$/;
const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

function text(reason: string, max: number): z.ZodString {
  return z.string({ error: reason }).min(1, { error: reason }).max(max, { error: reason });
}

const definitionShape = {
  id: text('not an id (1..64 of "a-z", "0-9", ".", "_", "-", starting with a letter or digit)', 64)
    .regex(ID_RE, {
      error: 'not an id (1..64 of "a-z", "0-9", ".", "_", "-", starting with a letter or digit)',
    })
    .describe("Identity of the definition across layers and in the trust store."),
  hook: text("not a hook name", 256).regex(HOOK_NAME_RE, { error: "not a hook name" })
    .describe("The hook point."),
  kind: z.enum(HOOK_KINDS, { error: 'not one of "action", "filter", "guard"' })
    .describe("How the hook is dispatched."),
  type: z.enum(HANDLER_TYPES, { error: 'not one of "command", "http", "wasm"' })
    .describe("What handles it."),
  matcher: text("not a matcher string", 1024).optional()
    .describe('Which subjects it handles: "Bash", "Write|Edit", "mcp__*" or "/regex/".'),
  match_field: text("not a dotted field path", 256).regex(
    /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/,
    {
      error: "not a dotted field path",
    },
  ).optional().describe("The subject field the matcher applies to; absent: the subject."),
  priority: z.number({ error: "not an integer" }).int({ error: "not an integer" })
    .min(-Number.MAX_SAFE_INTEGER, { error: "not an integer" })
    .max(Number.MAX_SAFE_INTEGER, { error: "not an integer" })
    .default(10).describe("Lower runs first."),
  fail: z.enum(FAIL_POLICIES, { error: 'not one of "warn", "block", "ignore"' }).optional()
    .describe('What a failure does; "block" for a guard when absent, "warn" otherwise.'),
  timeout_ms: z.number({ error: "not an integer in 1..600000" })
    .int({ error: "not an integer in 1..600000" })
    .min(1, { error: "not an integer in 1..600000" })
    .max(600_000, { error: "not an integer in 1..600000" })
    .optional().describe(
      "Deadline of one run, in ms; for a wasm handler it can only lower the plugin's own.",
    ),
  command: z.array(text("not a non-empty string", 4096), {
    error: "not an array of strings (the argv)",
  }).min(1, { error: "empty argv" }).optional()
    .describe("argv of a command handler; no shell is involved."),
  shell: text("not a non-empty string", 65536).optional()
    .describe("Shell text of a command handler, run with sh -c: the explicit opt-in to a shell."),
  cwd: text("not a path", 1024).optional()
    .describe("Working directory of a command handler, relative to the file's folder."),
  env: z.record(
    z.string().regex(ENV_NAME_RE, { error: "not an environment variable name" }),
    z.string({ error: "not a string" }),
    { error: "not a table of strings" },
  ).optional().describe("Literal environment variables of a command handler."),
  url: text("not a URL", 4096).regex(/^https?:\/\//, { error: "not an http: or https: URL" })
    .optional().describe("URL of an http handler."),
  headers: z.record(
    z.string().regex(/^[A-Za-z0-9-]+$/, { error: "not a header name" }),
    z.string({ error: "not a string" }),
    { error: "not a table of strings" },
  ).optional().describe("Extra request headers of an http handler."),
  plugin: text("not a path", 1024).regex(/plugin\.toml$/, {
    error: 'does not end in "plugin.toml"',
  })
    .optional().describe("plugin.toml of a wasm handler, relative to the file's folder."),
  enabled: z.boolean({ error: "not a boolean" }).default(true)
    .describe("false turns off a definition of the same id from an earlier layer."),
};

const definitionSchema = z.strictObject(definitionShape, { error: "not a table" });

const fileSchema = z.strictObject({
  hooks: z.array(definitionSchema, { error: "not an array of tables (write [[hooks]])" })
    .describe("Hook definitions."),
}, { error: "not a table" });

/** Which keys each handler type needs (first) and allows. */
const TYPE_KEYS: Readonly<Record<HandlerType, readonly string[]>> = {
  command: ["command", "shell", "cwd", "env", "timeout_ms"],
  http: ["url", "headers", "timeout_ms"],
  wasm: ["plugin", "timeout_ms"],
};
const TYPE_ONLY = new Set(Object.values(TYPE_KEYS).flat());

/**
 * The JSON Schema (draft 2020-12) of `hooks.toml`, generated from the zod
 * schema {@linkcode parseHookFile} validates with (committed as
 * `hooks.schema.json`). `hook.toml` and `HOOK.toml` hold the keys of one item
 * of `hooks` at the top level. It cannot express the rules across keys:
 * which keys each `type` needs and allows, and unique ids.
 *
 * @returns A fresh JSON-compatible object.
 *
 * @example
 * ```ts
 * import { hookFileJsonSchema } from "./schema.ts";
 * import assert from "node:assert/strict";
 * assert.equal(hookFileJsonSchema().additionalProperties, false);
 * ```
 */
export function hookFileJsonSchema(): Record<string, unknown> {
  const generated = z.toJSONSchema(fileSchema, {
    target: "draft-2020-12",
    io: "input",
    unrepresentable: "throw",
  }) as Record<string, unknown>;
  const { $schema, ...rest } = generated;
  return {
    $schema,
    $id: "urn:gn:plugin-host:hook-file:1",
    title: "gn hook file (hooks.toml)",
    description:
      "Hook definitions: command, http and wasm handlers bound to hook points. hook.toml and HOOK.toml hold one item of `hooks` at the top level. Generated from host/hookfiles/schema.ts by tools/gen_schema.ts; do not edit.",
    ...rest,
  };
}

interface Problem {
  key: string;
  reason: string;
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const key of path) {
    if (typeof key === "number") out += `[${key}]`;
    else if (/^[A-Za-z0-9_-]+$/.test(String(key))) out += (out ? "." : "") + String(key);
    else out += `[${JSON.stringify(String(key))}]`;
  }
  return out === "" ? "(root)" : out;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let value = root;
  for (const key of path) {
    if (typeof value !== "object" || value === null) return undefined;
    value = Object.hasOwn(value, key) ? (value as Record<PropertyKey, unknown>)[key] : undefined;
  }
  return value;
}

function show(value: unknown): string {
  if (typeof value === "string") {
    return JSON.stringify(value.length > 80 ? value.slice(0, 77) + "..." : value);
  }
  if (typeof value === "number" || typeof value === "bigint" || typeof value === "boolean") {
    return String(value);
  }
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object" && value !== null) return "a table";
  return String(value);
}

function describe(issue: z.core.$ZodIssue, table: unknown, prefix: PropertyKey[]): Problem[] {
  const path = [...prefix, ...(issue.path as PropertyKey[])];
  if (issue.code === "unrecognized_keys") {
    return issue.keys.map((k) => ({ key: formatPath([...path, k]), reason: "unknown key" }));
  }
  const value = valueAt(table, issue.path as PropertyKey[]);
  if (value === undefined && (issue.code === "invalid_type" || issue.code === "invalid_value")) {
    return [{ key: formatPath(path), reason: "required key is missing" }];
  }
  return [{ key: formatPath(path), reason: `${issue.message} (${show(value)})` }];
}

/** Rules across keys: what each type needs and allows. */
function crossCheck(d: Record<string, unknown>, path: PropertyKey[]): Problem[] {
  const type = d.type as HandlerType;
  const problems: Problem[] = [];
  for (const key of TYPE_ONLY) {
    if (key in d && !TYPE_KEYS[type].includes(key)) {
      problems.push({
        key: formatPath([...path, key]),
        reason: `not allowed for type = "${type}" (it belongs to ${
          HANDLER_TYPES.filter((t) => TYPE_KEYS[t].includes(key)).map((t) => `"${t}"`).join(", ")
        })`,
      });
    }
  }
  if (type === "command" && ("command" in d) === ("shell" in d)) {
    problems.push({
      key: formatPath([...path, "command"]),
      reason: "a command handler needs exactly one of `command` (argv) and `shell` (sh -c text)",
    });
  }
  if (type === "http" && !("url" in d)) {
    problems.push({ key: formatPath([...path, "url"]), reason: "required key is missing" });
  }
  if (type === "wasm" && !("plugin" in d)) {
    problems.push({ key: formatPath([...path, "plugin"]), reason: "required key is missing" });
  }
  if ("match_field" in d && !("matcher" in d)) {
    problems.push({ key: formatPath([...path, "match_field"]), reason: "given without `matcher`" });
  }
  if (typeof d.matcher === "string") {
    try {
      compileMatcher(d.matcher, undefined);
    } catch (e) {
      problems.push({
        key: formatPath([...path, "matcher"]),
        reason: `not a valid regular expression: ${(e as Error).message}`,
      });
    }
  }
  return problems;
}

/** Where a parsed file came from. */
export interface HookFileSource {
  /** How to name it in messages. */
  file: string;
  /** Its folder, absolute. */
  dir: string;
}

/**
 * Parses and validates the text of a hook file.
 *
 * @param text The TOML text.
 * @param source Its name and folder.
 * @param oneHook `true` for `hook.toml` / `HOOK.toml` (one definition at the top level).
 * @returns Its definitions, defaults filled in.
 * @throws {HookError} `invalid_hook_file`, naming the file, every bad key and why.
 *
 * @example A command guard
 * ```ts
 * import { parseHookFile } from "./schema.ts";
 * import assert from "node:assert/strict";
 * const [d] = parseHookFile(
 *   `
 * [[hooks]]
 * id = "block-rm"
 * hook = "tool.before"
 * kind = "guard"
 * type = "command"
 * matcher = "Bash"
 * match_field = "tool"
 * command = ["./check.sh"]
 * `,
 *   { file: "hooks.toml", dir: "/project" },
 *   false,
 * );
 * assert.equal(d.fail, "block");
 * assert.deepEqual(d.command, ["./check.sh"]);
 * ```
 */
export function parseHookFile(
  text: string,
  source: HookFileSource,
  oneHook: boolean,
): HookDefinition[] {
  const { file, dir } = source;
  let table: Record<string, unknown>;
  try {
    table = parseToml(text, { integersAsBigInt: false, unsafeKeyBehaviour: "throw", maxDepth: 8 });
  } catch (e) {
    if (!(e instanceof TomlError)) throw e;
    const reason = e.message.replace(/^Invalid TOML document: /, "").split("\n")[0];
    throw new HookError(
      "invalid_hook_file",
      `Invalid hook file ${
        JSON.stringify(file)
      }: TOML syntax error at line ${e.line}, column ${e.column}: ${reason}`,
      { cause: e },
    );
  }
  const items: [Record<string, unknown>, PropertyKey[]][] = [];
  const problems: Problem[] = [];
  let zodError: unknown;
  if (oneHook) {
    const r = definitionSchema.safeParse(table);
    if (!r.success) {
      zodError = r.error;
      problems.push(...r.error.issues.flatMap((i) => describe(i, table, [])));
    } else items.push([table, []]);
  } else {
    const r = fileSchema.safeParse(table);
    if (!r.success) {
      zodError = r.error;
      problems.push(...r.error.issues.flatMap((i) => describe(i, table, [])));
    }
    const list = Array.isArray(table.hooks) ? table.hooks as unknown[] : [];
    list.forEach((item, i) => {
      if (definitionSchema.safeParse(item).success) {
        items.push([item as Record<string, unknown>, ["hooks", i]]);
      }
    });
  }
  const seen = new Map<string, string>();
  for (const [item, path] of items) problems.push(...crossCheck(item, path));
  for (const [item, path] of items) {
    const id = item.id as string;
    const first = seen.get(id);
    if (first !== undefined) {
      problems.push({
        key: formatPath([...path, "id"]),
        reason: `duplicate of ${first} (${show(id)})`,
      });
    } else seen.set(id, formatPath([...path, "id"]));
  }
  if (problems.length > 0) {
    const [head, ...rest] = problems;
    throw new HookError(
      "invalid_hook_file",
      [
        `Invalid hook file ${JSON.stringify(file)}: key ${
          JSON.stringify(head.key)
        }: ${head.reason}`,
        ...rest.map((p) => `  key ${JSON.stringify(p.key)}: ${p.reason}`),
      ].join("\n"),
      { cause: zodError },
    );
  }
  return items.map(([item, path]) => {
    const d = definitionSchema.parse(item);
    const out: Record<string, unknown> = {
      id: d.id,
      hook: d.hook,
      kind: d.kind,
      type: d.type,
      priority: d.priority,
      fail: d.fail ?? (d.kind === "guard" ? "block" : "warn"),
      enabled: d.enabled,
      file,
      dir,
      index: path.length === 0 ? 0 : path[1] as number,
    };
    const optional: [string, unknown][] = [
      ["matcher", d.matcher],
      ["matchField", d.match_field],
      ["timeoutMs", d.timeout_ms],
      ["command", d.command],
      ["shell", d.shell],
      ["cwd", d.cwd],
      ["env", d.env],
      ["url", d.url],
      ["headers", d.headers],
      ["plugin", d.plugin],
    ];
    for (const [k, v] of optional) if (v !== undefined) out[k] = v;
    return Object.freeze(out) as unknown as HookDefinition;
  });
}
