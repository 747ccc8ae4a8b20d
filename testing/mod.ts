/**
 * Testing helpers for plugin authors: the gn conformance suite, the same one
 * this project runs against its own examples.
 *
 * @example In a plugin's test file
 * ```ts ignore
 * import { testConformance } from "@gn/plugin-host/testing";
 * testConformance("plugins/my-plugin/plugin.toml");
 * ```
 *
 * @module
 */

export { checkConformance, REQUIREMENTS, testConformance } from "./conformance.ts";
export { HOOK_ERROR_CODES } from "../abi/errors.ts";
export type { HookErrorCode } from "../abi/errors.ts";
export { HOOK_KINDS } from "../abi/envelope.ts";
export type { HookKind } from "../abi/envelope.ts";
export type {
  ConformanceOptions,
  ConformanceResult,
  Expectation,
  Requirement,
} from "./conformance.ts";
