/**
 * Parsing a `plugin.toml`: TOML syntax, the ABI version, then the schema,
 * with every problem reported at once.
 *
 * @module
 */

import { parse as parseToml, TomlError } from "smol-toml";
import type { z } from "zod";
import { HookError } from "../../abi/errors.ts";
import { ABI_VERSION, hookShape, type Manifest, manifestSchema, manifestShape } from "./schema.ts";
import { limitsShape } from "./limits.ts";
import { compileMatcher } from "../points/matcher.ts";
import {
  dedupe,
  findDuplicates,
  formatPath,
  PIN_HINT,
  type Problem,
  quote,
  refusal,
  show,
  suggest,
  valueAt,
} from "./problems.ts";

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
 * import { parseManifest } from "./parse.ts";
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
 * import { parseManifest } from "./parse.ts";
 * import { HookError } from "../../abi/errors.ts";
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

function knownKeys(path: readonly PropertyKey[]): readonly string[] | undefined {
  if (path.length === 0) return Object.keys(manifestShape);
  if (path.length === 1 && path[0] === "limits") return Object.keys(limitsShape);
  if (path.length === 2 && path[0] === "hooks") return Object.keys(hookShape);
  return undefined;
}
