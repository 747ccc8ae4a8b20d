/**
 * Testing helpers for plugin authors: the gn conformance suite, the same one
 * this project runs against its own examples, and {@linkcode loadForTest} for
 * functional tests against the real sandbox.
 *
 * @example In a plugin's test file
 * ```ts ignore
 * import { loadForTest, testConformance } from "@gn/plugin-host/testing";
 * import { assertEquals } from "jsr:@std/assert";
 *
 * testConformance("plugin.toml");
 *
 * Deno.test("title_case capitalises every word", async () => {
 *   await using p = await loadForTest("plugin.toml");
 *   assertEquals(await p.filter("title_case", "a b"), "A B");
 * });
 * ```
 *
 * @module
 */

export { checkConformance, REQUIREMENTS, testConformance } from "./conformance.ts";
export { loadForTest } from "./functional.ts";
export type { LoadForTestOptions, TestPlugin } from "./functional.ts";
export type { LogEntry, PluginEvent } from "../host/_services.ts";
export type { Verdict } from "../abi/envelope.ts";
export type { Manifest } from "../host/manifest/mod.ts";
export { HOOK_ERROR_CODES } from "../abi/errors.ts";
export type { HookErrorCode } from "../abi/errors.ts";
export { HOOK_KINDS } from "../abi/envelope.ts";
export type { HookKind } from "../abi/envelope.ts";
export type {
  ConformanceOptions,
  ConformanceResult,
  Expectation,
  PayloadContext,
  Requirement,
} from "./conformance.ts";
