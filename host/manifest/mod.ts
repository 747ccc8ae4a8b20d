/**
 * The plugin manifest (`plugin.toml`, docs/abi.md#the-manifest), one file per concern:
 *
 * - `schema.ts`: the typed {@linkcode Manifest}, the zod schema and
 *   {@linkcode manifestJsonSchema} (committed as `plugin.schema.json`).
 * - `limits.ts`: the limits table, from which {@linkcode PluginLimits},
 *   the `[limits]` schema, {@linkcode DEFAULT_LIMITS},
 *   {@linkcode HOST_CEILINGS} and {@linkcode clampLimits} derive.
 * - `parse.ts`: {@linkcode parseManifest}, TOML text to a typed manifest.
 * - `read.ts`: {@linkcode readManifest}, a manifest and its module from
 *   disk, confined, size-capped and digest-checked before anything compiles.
 * - `grants.ts`: {@linkcode checkGrants}, capabilities and hook bindings
 *   against what the host allows.
 * - `problems.ts`: how refusals are worded.
 *
 * Every refusal is a `HookError` whose message names the file, the key and
 * the reason.
 *
 * @module
 */

export {
  clampLimits,
  DEFAULT_LIMITS,
  HOST_CEILINGS,
  type LimitName,
  type LimitRequest,
  type PluginLimits,
} from "./limits.ts";
export {
  type Capability,
  type FailPolicy,
  type HookBinding,
  type HookKind,
  type Manifest,
  manifestJsonSchema,
} from "./schema.ts";
export { parseManifest } from "./parse.ts";
export {
  DEFAULT_MAX_MODULE_BYTES,
  type LoadedManifest,
  readManifest,
  type ReadManifestOptions,
} from "./read.ts";
export { checkGrants, type CheckGrantsOptions } from "./grants.ts";
