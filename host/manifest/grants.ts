/**
 * Checking a manifest against what the host allows: capabilities granted,
 * hooks declared with the same kind.
 *
 * @module
 */

import type { HookErrorCode } from "../../abi/errors.ts";
import { CAPABILITIES } from "../../abi/imports.ts";
import type { HookKind } from "../../abi/envelope.ts";
import { closest } from "../_suggest.ts";
import type { Manifest } from "./schema.ts";
import { type Problem, quote, refusal } from "./problems.ts";

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
 * import { checkGrants } from "./grants.ts";
 * import { parseManifest } from "./parse.ts";
 * import { HookError } from "../../abi/errors.ts";
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
