/**
 * The schema of `plugin.toml` (docs/abi.md#the-manifest): the typed
 * {@linkcode Manifest}, the zod shapes (the `[limits]` one comes from the
 * limits table), the conversion from the file's snake_case keys, and the
 * JSON Schema generated from them (committed as `plugin.schema.json`).
 *
 * Naming: the file uses snake_case keys (`memory_pages`, `timeout_ms`); the
 * typed {@linkcode Manifest} uses camelCase (`memoryPages`, `timeoutMs`).
 *
 * @module
 */

import { z } from "zod";
import {
  type Decision,
  FAIL_POLICIES,
  type FailPolicy,
  HOOK_KINDS,
  type HookKind,
} from "../../abi/envelope.ts";
import { CAPABILITIES, type Capability } from "../../abi/imports.ts";
import { integer, type LimitRequest, limitRequest, limitsShape } from "./limits.ts";
import { HANDLE_TYPES, type HandleType } from "../points/sink.ts";

export type { Capability, FailPolicy, HookKind };

/** The only manifest ABI version this host understands. */
export const ABI_VERSION = 1;

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

const NAME_RE = /^[a-z][a-z0-9-]{1,63}$/;
/** Semantic Versioning 2.0.0, strict: no `v`, no leading zeros, no blanks. */
const SEMVER_RE =
  /^(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)(?:-(?:0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*))*)?(?:\+[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*)?$/;
const DIGEST_RE = /^blake3:[0-9a-f]{64}$/;
const HOOK_NAME_RE = /^[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*$/;

const NAME_REASON = 'not a plugin name (a lowercase letter, then 1..63 of "a-z", "0-9", "-")';
const HOOK_NAME_REASON = 'not a hook name (like "the_content" or "post.saved", at most 256 bytes)';
const DIGEST_REASON = 'not a BLAKE3 digest ("blake3:" then 64 lowercase hex digits)';

/** A token as the file writes it. */
function quoted(token: string): string {
  return `"${token}"`;
}

/** A string with one reason for every way it can be wrong. */
function text(reason: string, maxLength: number): z.ZodString {
  return z.string({ error: reason }).min(1, { error: reason }).max(maxLength, { error: reason });
}

export const hookShape = {
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

export const manifestShape = {
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
    z.enum(CAPABILITIES, { error: `not one of ${CAPABILITIES.map(quoted).join(", ")}` }),
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

function toManifest(m: z.output<z.ZodObject<typeof manifestShape>>): Manifest {
  const limits = limitRequest(m.limits);
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
export const manifestSchema = z.strictObject(manifestShape, { error: "not a table" })
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
 * import { manifestJsonSchema } from "./schema.ts";
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
      "Manifest of a gn WebAssembly plugin, ABI 1. Generated from host/manifest/ by tools/gen_schema.ts; do not edit.",
    ...rest,
  };
}
