/**
 * The plugin manifest (`plugin.toml`, docs/abi.md#the-manifest): parsing, validation,
 * verified loading of the module it names, resource limits and grants.
 *
 * - {@linkcode parseManifest} turns TOML text into a typed {@linkcode Manifest}.
 * - {@linkcode readManifest} reads a manifest from disk, confines its module to
 *   the manifest's folder, caps its size and checks its BLAKE3 digest before
 *   anything compiles it.
 * - {@linkcode clampLimits} resolves the limits a plugin requests against the
 *   host's ceilings.
 * - {@linkcode checkGrants} checks the capabilities and hook bindings against
 *   what the host allows.
 * - {@linkcode manifestJsonSchema} is the JSON Schema of the file format
 *   (committed as `plugin.schema.json`).
 *
 * Naming: the file uses snake_case keys (`memory_pages`, `timeout_ms`); the
 * typed {@linkcode Manifest} uses camelCase (`memoryPages`, `timeoutMs`).
 * Error messages always name keys as they are written in the file.
 *
 * Every refusal is a {@linkcode HookError} whose message names the file, the
 * key and the reason.
 *
 * @module
 */

import { parse as parseToml, TomlError } from "smol-toml";
import { z } from "zod";
import { createBLAKE3 } from "hash-wasm";
import { dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { HookError, type HookErrorCode } from "../abi/errors.ts";
import {
  type Decision,
  FAIL_POLICIES,
  type FailPolicy,
  HOOK_KINDS,
  type HookKind,
} from "../abi/envelope.ts";
import { CAPABILITIES, type Capability } from "../abi/imports.ts";
import { closest } from "./_suggest.ts";
import { compileMatcher } from "./points/matcher.ts";
import { HANDLE_TYPES, type HandleType } from "./points/sink.ts";

// ---------------------------------------------------------------------------
// Vocabulary

export type { Capability, FailPolicy, HookKind };

/** The only manifest ABI version this host understands. */
const ABI_VERSION = 1;

// ---------------------------------------------------------------------------
// Types

/**
 * Resolved resource limits of one plugin, after {@linkcode clampLimits}.
 * camelCase here; the manifest's `[limits]` table spells them in snake_case.
 */
export interface PluginLimits {
  /** Linear memory ceiling in 64 KiB WebAssembly pages (`memory_pages`). */
  readonly memoryPages: number;
  /**
   * Elements of all the module's tables together (`table_elements`): a
   * table's maximum is clamped to it, tables without one share what the
   * others leave, and tables adding up to more are refused (`memory_limit`).
   */
  readonly tableElements: number;
  /** Fuel (metered instructions) per call (`fuel`). */
  readonly fuel: number;
  /** Wall-clock budget per call, in milliseconds (`timeout_ms`). */
  readonly timeoutMs: number;
  /** How many instances (workers) of the plugin may run at once (`instances`). */
  readonly instances: number;
}

/** Limits as requested by a manifest or offered by a host: any may be absent. */
export type LimitRequest = Partial<PluginLimits>;

/** One `[[hooks]]` entry of a manifest, with its defaults filled in. */
export interface HookBinding {
  /** The hook name (docs/abi.md#hook-names). */
  readonly name: string;
  /** Action, filter or guard. */
  readonly kind: HookKind;
  /**
   * Lower runs first; ties keep registration order.
   *
   * @default {10}
   */
  readonly priority: number;
  /**
   * What a failure of this binding does. A guard fails closed unless its
   * manifest says otherwise.
   *
   * @default {"block" for a guard, "warn" otherwise}
   */
  readonly fail: FailPolicy;
  /**
   * Hook points only: which subjects the binding is called for (see
   * `compileMatcher`: exact `Bash`, alternatives `Write|Edit`, wildcard
   * `mcp__*`, regular expression `/…/`). Absent: every subject.
   */
  readonly match?: string;
  /** Hook points only: the decisions the binding may answer; each must be allowed by the point. */
  readonly decisions?: readonly Decision[];
  /** Hook points only: the handles the binding needs; each needs its capability token. */
  readonly handles?: readonly HandleType[];
}

/**
 * A validated `plugin.toml` (docs/abi.md#the-manifest). Defaults are filled in:
 * `capabilities` is `[]` when absent and `limits` is `{}` when the `[limits]`
 * table is absent (the host fills the rest with {@linkcode clampLimits}).
 */
export interface Manifest {
  /** Plugin name, `^[a-z][a-z0-9-]{1,63}$`. */
  readonly name: string;
  /** Semantic version 2.0.0 of the plugin. */
  readonly version: string;
  /** Manifest ABI version; always 1. */
  readonly abi: 1;
  /** Module path relative to the manifest's folder, `/`-separated. */
  readonly module: string;
  /** `blake3:` followed by 64 lowercase hex digits. */
  readonly digest: string;
  /** Declared capability tokens, unique, in file order. */
  readonly capabilities: readonly Capability[];
  /** Requested limits (camelCase); absent ones are left out. */
  readonly limits: LimitRequest;
  /** Hook bindings, at least one, unique by name, in file order. */
  readonly hooks: readonly HookBinding[];
}

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

/** Options of {@linkcode checkGrants}. */
export interface CheckGrantsOptions {
  /**
   * Capability tokens the host allows this plugin. A declared token not in
   * this list is refused. An unknown token here is a `TypeError`.
   *
   * @default {[]}
   */
  granted?: readonly string[];
  /**
   * The hooks the host declares, with their kinds. When given, binding a hook
   * not in the map, or with another kind, is refused. When absent, any hook
   * may be bound.
   */
  declaredHooks?: ReadonlyMap<string, HookKind>;
}

// ---------------------------------------------------------------------------
// Limits

/**
 * Limits a plugin gets for what its manifest does not request (each still
 * clamped to the ceiling): 16 pages (1 MiB) of memory, 100,000 table
 * elements in all, 100 million fuel per call (about 100 ms of guest work, the
 * timeout; RATIONALE.md: "Why this default fuel budget?"), 100 ms per call, one instance.
 *
 * @example Reading a default
 * ```ts
 * import { DEFAULT_LIMITS } from "./manifest.ts";
 * import assert from "node:assert/strict";
 * assert.equal(DEFAULT_LIMITS.memoryPages, 16);
 * ```
 */
export const DEFAULT_LIMITS: Readonly<PluginLimits> = Object.freeze({
  memoryPages: 16,
  tableElements: 100_000,
  fuel: 100_000_000,
  timeoutMs: 100,
  instances: 1,
});

/**
 * The host's ceilings when it sets none of its own: 256 pages (16 MiB) of
 * memory, 1 million table elements in all (24 MiB of `funcref` slots), 1
 * billion fuel per call (about a second of guest work), 1000 ms per
 * call, four instances per plugin.
 *
 * @example Reading a ceiling
 * ```ts
 * import { HOST_CEILINGS } from "./manifest.ts";
 * import assert from "node:assert/strict";
 * assert.equal(HOST_CEILINGS.timeoutMs, 1000);
 * ```
 */
export const HOST_CEILINGS: Readonly<PluginLimits> = Object.freeze({
  memoryPages: 256,
  tableElements: 1_000_000,
  fuel: 1_000_000_000,
  timeoutMs: 1000,
  instances: 4,
});

/**
 * Default of {@linkcode ReadManifestOptions.maxModuleBytes}: 16 MiB.
 *
 * @example Reading the cap
 * ```ts
 * import { DEFAULT_MAX_MODULE_BYTES } from "./manifest.ts";
 * import assert from "node:assert/strict";
 * assert.equal(DEFAULT_MAX_MODULE_BYTES, 16 * 1024 * 1024);
 * ```
 */
export const DEFAULT_MAX_MODULE_BYTES: number = 16 * 1024 * 1024;

/** Largest `plugin.toml` read, in bytes. */
const MAX_MANIFEST_BYTES = 1024 * 1024;

/**
 * Representable range of each limit, the same in the schema and in
 * {@linkcode clampLimits}: WebAssembly's 65536-page address space, V8's
 * largest table (10 million elements), the largest delay a timer takes (2^31-1 ms), and safe integers otherwise.
 */
const LIMIT_RANGES: Readonly<Record<keyof PluginLimits, readonly [number, number]>> = {
  memoryPages: [1, 65536],
  tableElements: [0, 10_000_000],
  fuel: [1, Number.MAX_SAFE_INTEGER],
  timeoutMs: [1, 2_147_483_647],
  instances: [1, Number.MAX_SAFE_INTEGER],
};

/** camelCase limit name → its snake_case key in the file. */
const LIMIT_KEYS: Readonly<Record<keyof PluginLimits, string>> = {
  memoryPages: "memory_pages",
  tableElements: "table_elements",
  fuel: "fuel",
  timeoutMs: "timeout_ms",
  instances: "instances",
};

// ---------------------------------------------------------------------------
// Schema

const NAME_RE = /^[a-z][a-z0-9-]{1,63}$/;
/** Semantic Versioning 2.0.0, strict: no `v`, no leading zeros, no blanks. */
const SEMVER_RE =
  /^(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)(?:-(?:0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*))*)?(?:\+[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*)?$/;
const DIGEST_RE = /^blake3:[0-9a-f]{64}$/;
const HOOK_NAME_RE = /^[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*$/;

const NAME_REASON = 'not a plugin name (a lowercase letter, then 1..63 of "a-z", "0-9", "-")';
const HOOK_NAME_REASON = 'not a hook name (like "the_content" or "post.saved", at most 256 bytes)';
const DIGEST_REASON = 'not a BLAKE3 digest ("blake3:" then 64 lowercase hex digits)';

/**
 * How to get a module's digest into its manifest: said by every refusal of
 * the `digest` key. `gn pin` is the package's command (cli/pin.ts); `b3sum`
 * is the BLAKE3 reference tool.
 */
const PIN_HINT = "pin it with `deno run -A jsr:@gn/plugin-host/cli pin path/to/plugin.toml` " +
  "(`deno task gn pin …` in a checkout), or take the hex `b3sum --no-names <module>` prints";

/** A string with one reason for every way it can be wrong. */
function text(reason: string, maxLength: number): z.ZodString {
  return z.string({ error: reason }).min(1, { error: reason }).max(maxLength, { error: reason });
}

/** An integer in `[min, max]`; one reason for every way it can be wrong. */
function integer(min: number, max: number, reason: string): z.ZodNumber {
  return z.number({ error: reason }).int({ error: reason })
    .min(min, { error: reason }).max(max, { error: reason });
}

function limit(key: keyof PluginLimits, description: string): z.ZodOptional<z.ZodNumber> {
  const [min, max] = LIMIT_RANGES[key];
  return integer(min, max, `not an integer in ${min}..${max}`).optional()
    .describe(description);
}

const limitsShape = {
  memory_pages: limit(
    "memoryPages",
    "Requested linear memory ceiling, in 64 KiB pages; clamped to the host's ceiling.",
  ),
  table_elements: limit(
    "tableElements",
    "Requested ceiling of the elements of all tables together; clamped to the host's ceiling.",
  ),
  fuel: limit("fuel", "Requested fuel per call; clamped to the host's ceiling."),
  timeout_ms: limit(
    "timeoutMs",
    "Requested wall-clock budget per call, in milliseconds; clamped to the host's ceiling.",
  ),
  instances: limit(
    "instances",
    "Requested number of concurrent instances; clamped to the host's ceiling.",
  ),
};

const hookShape = {
  name: text(HOOK_NAME_REASON, 256)
    .regex(HOOK_NAME_RE, { error: HOOK_NAME_REASON })
    .describe("Hook name: dot-separated lowercase identifiers, 1..256 bytes."),
  kind: z.enum(HOOK_KINDS, { error: 'not one of "action", "filter", "guard"' })
    .describe("How the hook is dispatched."),
  priority: integer(-Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, "not an integer")
    .default(10)
    .describe("Lower runs first; ties keep registration order."),
  fail: z.enum(FAIL_POLICIES, { error: 'not one of "warn", "block", "ignore"' })
    .optional()
    .describe(
      'What a failure of this binding does; when absent, "block" for a guard (fail closed), "warn" otherwise.',
    ),
  match: z.string({ error: "not a match pattern string" })
    .min(1, { error: "empty match pattern" })
    .max(1024, { error: "match pattern longer than 1024 characters" })
    .optional()
    .describe(
      'Hook points only: which subjects the binding is called for: "*", an exact name ("Bash"), alternatives ("Write|Edit"), wildcards ("mcp__*"), or a regular expression ("/^Web/").',
    ),
  decisions: z.array(
    z.enum(["continue", "block", "ask", "modify"], {
      error: 'not one of "continue", "block", "ask", "modify"',
    }),
    { error: "not an array of decisions" },
  )
    .optional()
    .meta({ uniqueItems: true })
    .describe(
      "Hook points only: the decisions this binding may answer; each must be allowed by the point.",
    ),
  handles: z.array(z.enum(HANDLE_TYPES, { error: 'not one of "sink"' }), {
    error: "not an array of handle types",
  })
    .optional()
    .meta({ uniqueItems: true })
    .describe(
      "Hook points only: host-owned handles the binding needs; each needs its capability token.",
    ),
};

const manifestShape = {
  name: text(NAME_REASON, 64)
    .regex(NAME_RE, { error: NAME_REASON })
    .describe("Plugin name, unique within a host."),
  version: text("not a semantic version", 256)
    .regex(SEMVER_RE, { error: "not a semantic version" })
    .describe("Plugin version, Semantic Versioning 2.0.0."),
  abi: z.literal(ABI_VERSION, { error: "not the manifest ABI version 1" })
    .describe("Manifest and hook ABI version; this host speaks 1."),
  module: z.string({ error: "not a path string" })
    .min(1, { error: "empty path" })
    .max(1024, { error: "path longer than 1024 characters" })
    .regex(/^[^/]/, { error: "absolute path; write it relative to the manifest's folder" })
    .regex(/^[^\\]*$/, { error: 'contains a backslash; separate folders with "/"' })
    .regex(/^[^:]*$/, { error: 'contains ":"; URLs and drive letters are not allowed' })
    .regex(/^(?!(?:.*\/)?\.\.(?:\/|$))/, { error: 'contains a ".." segment' })
    // deno-lint-ignore no-control-regex -- refusing control characters is the point
    .regex(/^[^\u0000-\u001f\u007f]*$/, { error: "contains a control character" })
    .regex(/\.wasm$/, { error: 'does not end in ".wasm"' })
    .describe(
      'WebAssembly module, relative to the manifest\'s folder and inside it: "/"-separated, no "..", no backslash.',
    ),
  digest: z.string({ error: DIGEST_REASON })
    .regex(DIGEST_RE, { error: DIGEST_REASON })
    .describe("BLAKE3 digest of the module, checked before it compiles."),
  capabilities: z.array(
    z.enum(CAPABILITIES, {
      error: 'not one of "log", "clock", "state", "emit", "fuel", "sink"',
    }),
    { error: "not an array of capability tokens" },
  )
    .default([])
    .meta({ uniqueItems: true })
    .describe("Capability tokens the plugin asks for; the host grants a subset or refuses."),
  limits: z.strictObject(limitsShape, { error: "not a table" })
    .optional()
    .describe("Resource limits requested; the host clamps each to its own ceiling."),
  hooks: z.array(z.strictObject(hookShape, { error: "not a table" }), {
    error: "not an array of tables (write [[hooks]])",
  })
    .min(1, { error: "no hooks bound (add a [[hooks]] table)" })
    .describe("Hook bindings; a hook name may be bound once per manifest."),
};

/** Repeated string items (or item fields) after their first occurrence. */
function findDuplicates(
  items: unknown,
  field: readonly string[],
): { index: number; first: number; value: string }[] {
  if (!Array.isArray(items)) return [];
  const seen = new Map<string, number>();
  const found: { index: number; first: number; value: string }[] = [];
  items.forEach((item: unknown, index) => {
    const value = valueAt(item, field);
    if (typeof value !== "string") return;
    const first = seen.get(value);
    if (first === undefined) seen.set(value, index);
    else found.push({ index, first, value });
  });
  return found;
}

function toManifest(m: z.output<z.ZodObject<typeof manifestShape>>): Manifest {
  const limits: { -readonly [K in keyof PluginLimits]?: number } = {};
  const l = m.limits ?? {};
  if (l.memory_pages !== undefined) limits.memoryPages = l.memory_pages;
  if (l.table_elements !== undefined) limits.tableElements = l.table_elements;
  if (l.fuel !== undefined) limits.fuel = l.fuel;
  if (l.timeout_ms !== undefined) limits.timeoutMs = l.timeout_ms;
  if (l.instances !== undefined) limits.instances = l.instances;
  return {
    name: m.name,
    version: m.version,
    abi: ABI_VERSION,
    module: m.module,
    digest: m.digest,
    capabilities: m.capabilities,
    limits,
    hooks: m.hooks.map((h) => ({
      name: h.name,
      kind: h.kind,
      priority: h.priority,
      fail: h.fail ?? (h.kind === "guard" ? "block" : "warn"),
      ...(h.match === undefined ? {} : { match: h.match }),
      ...(h.decisions === undefined ? {} : { decisions: h.decisions }),
      ...(h.handles === undefined ? {} : { handles: h.handles }),
    })),
  };
}

/**
 * The zod schema of a parsed `plugin.toml` table: snake_case keys in,
 * {@linkcode Manifest} out; strict, so unknown keys are issues. Private:
 * exporting it would make zod's types part of the public API. Rules across
 * items (no repeats) are checked by {@linkcode parseManifest}, since zod skips
 * refinements once an item is malformed and every problem must be reported.
 */
const manifestSchema = z.strictObject(manifestShape, { error: "not a table" })
  .transform(toManifest);

/**
 * `$id` of the JSON Schema: a URN, since the schema has no canonical URL (it
 * is published with the package as `plugin.schema.json`).
 */
const SCHEMA_ID = "urn:gn:plugin-host:plugin-manifest:abi-1";

/**
 * The JSON Schema (draft 2020-12) of `plugin.toml`, generated from the zod
 * schema {@linkcode parseManifest} validates with. It describes the file
 * (snake_case keys), for editors and other tools. It cannot express two rules
 * {@linkcode parseManifest} enforces: hook names are unique within a manifest,
 * and the module must resolve inside the manifest's folder.
 *
 * @returns A fresh JSON-compatible object.
 *
 * @example Inspecting the schema
 * ```ts
 * import { manifestJsonSchema } from "./manifest.ts";
 * import assert from "node:assert/strict";
 * const schema = manifestJsonSchema();
 * assert.equal(schema.$schema, "https://json-schema.org/draft/2020-12/schema");
 * assert.equal(schema.additionalProperties, false);
 * ```
 */
export function manifestJsonSchema(): Record<string, unknown> {
  const generated = z.toJSONSchema(manifestSchema, {
    target: "draft-2020-12",
    io: "input",
    unrepresentable: "throw",
  }) as Record<string, unknown>;
  const { $schema, ...rest } = generated;
  return {
    $schema,
    $id: SCHEMA_ID,
    title: "gn plugin manifest (plugin.toml)",
    description:
      "Manifest of a gn WebAssembly plugin, ABI 1. Generated from host/manifest.ts by tools/gen_schema.ts; do not edit.",
    ...rest,
  };
}

// ---------------------------------------------------------------------------
// Parsing

/**
 * Parses and validates the text of a `plugin.toml`.
 *
 * @param text The TOML text.
 * @param file How to name the file in messages (a path or URL).
 * @returns The validated manifest, defaults filled in.
 * @throws {HookError} `invalid_manifest` for unparsable TOML (the message has
 * the line and column, the cause is the `TomlError`) and for any invalid or
 * unknown key (the message names each, first one in the headline; the cause is
 * the `ZodError`); `abi_version` when `abi` is an integer other than 1.
 *
 * @example Parsing a manifest
 * ```ts
 * import { parseManifest } from "./manifest.ts";
 * import assert from "node:assert/strict";
 * const manifest = parseManifest(
 *   `
 * name = "the-content"
 * version = "1.0.0"
 * abi = 1
 * module = "the_content.wasm"
 * digest = "blake3:${"ab".repeat(32)}"
 * capabilities = ["log"]
 *
 * [limits]
 * memory_pages = 16
 *
 * [[hooks]]
 * name = "the_content"
 * kind = "filter"
 * `,
 *   "plugins/the-content/plugin.toml",
 * );
 * assert.equal(manifest.name, "the-content");
 * assert.deepEqual(manifest.limits, { memoryPages: 16 });
 * assert.deepEqual(manifest.hooks, [
 *   { name: "the_content", kind: "filter", priority: 10, fail: "warn" },
 * ]);
 * ```
 *
 * @example Catching a refusal
 * ```ts
 * import { parseManifest } from "./manifest.ts";
 * import { HookError } from "../abi/errors.ts";
 * import assert from "node:assert/strict";
 * assert.throws(
 *   () => parseManifest('name = "x"\nversion = "1.0"', "x/plugin.toml"),
 *   (e) => e instanceof HookError && e.code === "invalid_manifest" &&
 *     e.message.includes('key "version": not a semantic version ("1.0")'),
 * );
 * ```
 */
export function parseManifest(text: string, file: string): Manifest {
  let table: Record<string, unknown>;
  try {
    table = parseToml(text, {
      integersAsBigInt: "asNeeded",
      unsafeKeyBehaviour: "throw",
      maxDepth: 16,
    });
  } catch (e) {
    if (!(e instanceof TomlError)) throw e;
    const [reason = "", ...rest] = e.message.replace(/^Invalid TOML document: /, "").split("\n");
    const excerpt = rest.filter((line) => line.trim() !== "").map((line) => "  " + line);
    throw new HookError(
      "invalid_manifest",
      [
        `Invalid manifest ${
          quote(file)
        }: TOML syntax error at line ${e.line}, column ${e.column}: ${reason}`,
        ...excerpt,
      ].join("\n"),
      { cause: e },
    );
  }

  const abi = table.abi;
  if (
    (typeof abi === "bigint" || (typeof abi === "number" && Number.isInteger(abi))) &&
    abi !== BigInt(ABI_VERSION) && abi !== ABI_VERSION
  ) {
    throw new HookError(
      "abi_version",
      `Unsupported manifest ${
        quote(file)
      }: key "abi": version ${abi} is not supported (this host speaks ${ABI_VERSION})`,
      { plugin: typeof table.name === "string" ? table.name : undefined },
    );
  }

  const result = manifestSchema.safeParse(table);
  const problems = result.success
    ? []
    : result.error.issues.flatMap((issue) => describeIssue(issue, table));
  for (const [key, field] of [["capabilities", []], ["hooks", ["name"]]] as const) {
    for (const { index, first, value } of findDuplicates(table[key], field)) {
      problems.push({
        key: formatPath([key, index, ...field]),
        reason: `duplicate of ${formatPath([key, first, ...field])} (${show(value)})`,
      });
    }
  }
  if (Array.isArray(table.hooks)) {
    table.hooks.forEach((h: unknown, i) => {
      const match = valueAt(h, ["match"]);
      if (typeof match !== "string" || match.length === 0) return;
      try {
        compileMatcher(match);
      } catch (e) {
        problems.push({
          key: formatPath(["hooks", i, "match"]),
          reason: (e as Error).message.replace(/^Invalid matcher [^:]*: /, "") +
            ` (${show(match)})`,
        });
      }
    });
  }
  if (result.success && problems.length === 0) return result.data;
  throw refusal(
    "invalid_manifest",
    `Invalid manifest ${quote(file)}`,
    dedupe(problems),
    {
      plugin: typeof table.name === "string" ? table.name : undefined,
      cause: result.success ? undefined : result.error,
    },
  );
}

interface Problem {
  /** Dotted key path as written in the file, e.g. `hooks[1].kind`. */
  key: string;
  /** Why, with the offending value in parentheses when there is one. */
  reason: string;
}

function describeIssue(issue: z.core.$ZodIssue, table: unknown): Problem[] {
  const path = issue.path as readonly PropertyKey[];
  if (issue.code === "unrecognized_keys") {
    const known = knownKeys(path);
    return issue.keys.map((key) => {
      const hint = known ? suggest(key, known) : undefined;
      return {
        key: formatPath([...path, key]),
        reason: hint ? `unknown key (did you mean "${hint}"?)` : "unknown key",
      };
    });
  }
  const value = valueAt(table, path);
  const key = path.length === 0 ? "(root)" : formatPath(path);
  const hint = key === "digest" ? `: ${PIN_HINT}` : "";
  if (value === undefined && (issue.code === "invalid_type" || issue.code === "invalid_value")) {
    return [{ key, reason: `required key is missing${hint}` }];
  }
  return [{ key, reason: `${issue.message} (${show(value)})${hint}` }];
}

/** Keeps the first problem of each key: one reason per key is enough. */
function dedupe(problems: readonly Problem[]): Problem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    if (seen.has(p.key)) return false;
    seen.add(p.key);
    return true;
  });
}

function knownKeys(path: readonly PropertyKey[]): readonly string[] | undefined {
  if (path.length === 0) return Object.keys(manifestShape);
  if (path.length === 1 && path[0] === "limits") return Object.keys(limitsShape);
  if (path.length === 2 && path[0] === "hooks") return Object.keys(hookShape);
  return undefined;
}

/** The closest known key, if the unknown one looks like a typo of it. */
function suggest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const d = candidate.startsWith(key) && key.length >= 3 ? 0 : distance(key, candidate);
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return bestDistance <= Math.max(1, Math.floor(key.length / 3)) ? best : undefined;
}

/** Levenshtein distance. */
function distance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(
        row[j] + 1,
        next[j - 1] + 1,
        row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    row = next;
  }
  return row[b.length];
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let value = root;
  for (const key of path) {
    if (typeof value !== "object" || value === null) return undefined;
    value = Object.hasOwn(value, key) ? (value as Record<PropertyKey, unknown>)[key] : undefined;
  }
  return value;
}

/** `["hooks", 1, "kind"]` → `hooks[1].kind`; odd keys are quoted. */
function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const key of path) {
    if (typeof key === "number") out += `[${key}]`;
    else if (/^[A-Za-z0-9_-]+$/.test(String(key))) out += (out ? "." : "") + String(key);
    else out += `[${JSON.stringify(String(key))}]`;
  }
  return out;
}

/** A short, escaped rendering of a TOML value for a message. */
function show(value: unknown): string {
  if (typeof value === "string") {
    return JSON.stringify(value.length > 80 ? value.slice(0, 77) + "..." : value);
  }
  if (typeof value === "number" || typeof value === "bigint" || typeof value === "boolean") {
    return String(value);
  }
  if (Array.isArray(value)) return value.length === 0 ? "an empty array" : "an array";
  if (value instanceof Date) return "a date";
  if (typeof value === "object" && value !== null) return "a table";
  return String(value);
}

function quote(s: string): string {
  return JSON.stringify(s);
}

/**
 * One error for several problems: the first in the headline, each of the
 * others on a line of its own.
 */
function refusal(
  code: HookErrorCode,
  action: string,
  problems: readonly Problem[],
  options: { plugin?: string; hook?: string; cause?: unknown; errors?: readonly HookError[] },
): HookError {
  const [first, ...others] = problems;
  const lines = [`${action}: key ${quote(first.key)}: ${first.reason}`];
  for (const p of others) lines.push(`  key ${quote(p.key)}: ${p.reason}`);
  return new HookError(code, lines.join("\n"), options);
}

// ---------------------------------------------------------------------------
// Reading

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
 * import { readManifest } from "./manifest.ts";
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

// ---------------------------------------------------------------------------
// Limits and grants

/**
 * Resolves the limits a plugin gets: each requested limit (or its
 * {@linkcode DEFAULT_LIMITS} value when absent) clamped to the host's ceiling
 * (or its {@linkcode HOST_CEILINGS} value when absent). Requests above the
 * ceiling are lowered, never refused.
 *
 * @param requested What the manifest asks for (`manifest.limits`).
 * @param ceilings The host's ceilings; absent ones are {@linkcode HOST_CEILINGS}.
 * @returns Every limit, resolved.
 * @throws {RangeError} When a requested limit or a ceiling is not an integer
 * in its range (memory pages 1..65536, table elements 0..10,000,000, timeout 1..2^31-1 ms, the others
 * 1..2^53-1).
 *
 * @example Clamping a request
 * ```ts
 * import { clampLimits } from "./manifest.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual(clampLimits({ memoryPages: 1024, fuel: 5 }, { memoryPages: 64 }), {
 *   memoryPages: 64,
 *   tableElements: 100_000,
 *   fuel: 5,
 *   timeoutMs: 100,
 *   instances: 1,
 * });
 * ```
 */
export function clampLimits(
  requested: LimitRequest = {},
  ceilings: LimitRequest = {},
): PluginLimits {
  const resolved = {} as { -readonly [K in keyof PluginLimits]: number };
  for (const key of Object.keys(LIMIT_RANGES) as (keyof PluginLimits)[]) {
    const want = checkLimit(requested[key] ?? DEFAULT_LIMITS[key], key, "requested");
    const ceiling = checkLimit(ceilings[key] ?? HOST_CEILINGS[key], key, "ceiling");
    resolved[key] = Math.min(want, ceiling);
  }
  return resolved;
}

function checkLimit(value: number, key: keyof PluginLimits, what: string): number {
  const [min, max] = LIMIT_RANGES[key];
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(
      `Cannot clamp limits: ${what} ${key} (${
        LIMIT_KEYS[key]
      }) must be an integer in ${min}..${max}, got ${value}`,
    );
  }
  return value;
}

/**
 * Checks a manifest against what the host allows: every declared capability
 * must be granted and, when the host declares its hooks, every bound hook must
 * be declared, with the same kind. All problems are reported in one error.
 *
 * @param manifest The validated manifest.
 * @param file How to name the manifest in messages.
 * @param options The granted tokens and the host's hook declarations.
 * @throws {TypeError} When `granted` holds an unknown capability token.
 * @throws {HookError} With the code of the first problem:
 * `capability_denied` (names the plugin, the tokens and the file),
 * `hook_not_declared` (names the hook and the closest declared one) or
 * `hook_kind_mismatch` (names `hooks[i].kind`). The message lists every problem and
 * `errors` holds one {@linkcode HookError} per problem when there are several.
 *
 * @example Refusing an ungranted capability
 * ```ts
 * import { checkGrants, parseManifest } from "./manifest.ts";
 * import { HookError } from "../abi/errors.ts";
 * import assert from "node:assert/strict";
 * const manifest = parseManifest(
 *   `name = "demo"
 * version = "1.0.0"
 * abi = 1
 * module = "demo.wasm"
 * digest = "blake3:${"0".repeat(64)}"
 * capabilities = ["log", "clock"]
 * [[hooks]]
 * name = "tick"
 * kind = "action"`,
 *   "demo/plugin.toml",
 * );
 * checkGrants(manifest, "demo/plugin.toml", { granted: ["log", "clock"] });
 * assert.throws(
 *   () => checkGrants(manifest, "demo/plugin.toml", { granted: ["log"] }),
 *   (e) => e instanceof HookError && e.code === "capability_denied",
 * );
 * ```
 */
export function checkGrants(
  manifest: Manifest,
  file: string,
  options: CheckGrantsOptions = {},
): void {
  const granted = new Set<string>(options.granted ?? []);
  for (const token of granted) {
    if (!(CAPABILITIES as readonly string[]).includes(token)) {
      throw new TypeError(`Cannot check grants: unknown capability token ${quote(token)}`);
    }
  }
  const plugin = manifest.name;
  const action = `Cannot load plugin ${quote(plugin)} from ${quote(file)}`;
  const found: { code: HookErrorCode; problem: Problem; hook?: string }[] = [];

  manifest.capabilities.forEach((token, i) => {
    if (granted.has(token)) return;
    found.push({
      code: "capability_denied",
      problem: {
        key: `capabilities[${i}]`,
        reason: `capability ${quote(token)} is not granted by the host: the host must allow it ` +
          `(\`grants\` in PluginHost.create), or remove it from \`capabilities\` in the manifest`,
      },
    });
  });

  const declared = options.declaredHooks;
  if (declared !== undefined) {
    manifest.hooks.forEach((hook, i) => {
      const kind = declared.get(hook.name);
      const hint = kind === undefined ? closest(hook.name, declared.keys()) : undefined;
      if (kind === undefined) {
        found.push({
          code: "hook_not_declared",
          hook: hook.name,
          problem: {
            key: `hooks[${i}].name`,
            reason: `hook ${quote(hook.name)} is not declared by the host${
              hint === undefined ? "" : ` (did you mean ${quote(hint)}?)`
            }: bind a declared hook, or the host must declare it (\`hooks\` in PluginHost.create)`,
          },
        });
      } else if (kind !== hook.kind) {
        found.push({
          code: "hook_kind_mismatch",
          hook: hook.name,
          problem: {
            key: `hooks[${i}].kind`,
            reason: `hook ${quote(hook.name)} is declared as ${quote(kind)} by the host, not ${
              quote(hook.kind)
            }: set kind = ${quote(kind)}`,
          },
        });
      }
    });
  }

  if (found.length === 0) return;
  const errors = found.map((f) => refusal(f.code, action, [f.problem], { plugin, hook: f.hook }));
  throw refusal(found[0].code, action, found.map((f) => f.problem), {
    plugin,
    hook: found[0].hook,
    errors: errors.length > 1 ? errors : undefined,
  });
}
