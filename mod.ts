/**
 * gn plugin host: run untrusted WebAssembly plugins in permission-less Deno
 * workers, behind a WordPress-style hook bus.
 *
 * - {@linkcode PluginHost} loads plugins from `plugin.toml` manifests
 *   (BLAKE3-pinned, validated, clamped to the host's limits), starts each in
 *   its own isolated worker, and registers its hooks on the bus.
 * - {@linkcode HookBus} runs host handlers and plugin handlers in one
 *   priority order: actions, filters and verdict-returning guards.
 * - Every run-time failure (loading, calling, a hook used under a name the
 *   host did not declare or as another kind) is a {@linkcode HookError} with
 *   a closed `code`; bad arguments are `TypeError` or `RangeError`. The
 *   README's "Errors" section lists which is which.
 * - {@linkcode PluginHost.loadHooks} binds command, HTTP and wasm handlers
 *   declared in layered hook files (`hooks.toml`, see {@linkcode parseHookFile});
 *   command and HTTP handlers are off unless `handlers` enables them. With a
 *   `trustStore` ({@linkcode TrustStore}), new or changed definitions and
 *   plugins wait for approval; `signatures` verifies publishers' Ed25519
 *   signatures ({@linkcode signPlugin}, {@linkcode verifyPluginSignature}).
 * - `docs/abi.md`, shipped with the package, specifies the plugin ABI.
 *
 * @example Embedding the host
 * ```ts ignore
 * import { PluginHost } from "@gn/plugin-host";
 *
 * await using host = await PluginHost.create({ hooks: { the_content: "filter" } });
 * await host.loadDir("plugins");
 * console.log(await host.bus.applyFilters("the_content", "hello"));
 * ```
 *
 * @module
 */

export { PluginHost } from "./host/host.ts";
export type { LoadDirResult, PluginHostOptions, PluginInfo } from "./host/host.ts";
export { HookBus, NOOP_METRICS, StopSignal, stopWith } from "./host/bus.ts";
export type {
  ActionHandler,
  FilterHandler,
  GuardHandler,
  HookBusOptions,
  HookOptions,
  MetricsSink,
} from "./host/bus.ts";
export { HOOK_ERROR_CODES, HookError, isHookErrorCode } from "./abi/errors.ts";
export type { HookErrorCode, HookErrorOptions, HookErrorRecord } from "./abi/errors.ts";
export type { Decision, FailPolicy, HookKind, Verdict } from "./abi/envelope.ts";
export { FAIL_POLICIES, HOOK_KINDS } from "./abi/envelope.ts";
export type { Capability } from "./abi/imports.ts";
export { CAPABILITIES } from "./abi/imports.ts";
export {
  clampLimits,
  DEFAULT_LIMITS,
  HOST_CEILINGS,
  manifestJsonSchema,
  parseManifest,
} from "./host/manifest/mod.ts";
export type {
  HookBinding,
  LimitName,
  LimitRequest,
  Manifest,
  PluginLimits,
} from "./host/manifest/mod.ts";
export type { PluginHandle, PluginStats } from "./host/plugin.ts";
export type { IsolationInfo } from "./host/_worker_boot.ts";
export type { IsolationReport, ProbeOutcome } from "./channel/protocol.ts";
export type { LogEntry, PluginEvent } from "./host/_services.ts";
export { DEFAULT_STATE_QUOTAS, MemoryStateStore } from "./host/state.ts";
export {
  HANDLE_TYPES,
  HookPoints,
  jsonEqual,
  MemorySink,
  mergePatch,
  SinkHandle,
} from "./host/points/mod.ts";
export type {
  DurableSink,
  HandleType,
  HookPointsOptions,
  HookPointSpec,
  Matcher as PointMatcher,
  Mutability,
  PatchConflict,
  PluginCall,
  PointAnswer,
  PointBindingOptions,
  PointContext,
  PointHandler,
  PointKind,
  PointVerdict,
  SinkAck,
  SinkItem,
  SubjectSchema,
} from "./host/points/mod.ts";
export type { StateQuotas, StateStore } from "./host/state.ts";
export type { LoadHooksResult, PendingApproval } from "./host/host.ts";
export { type HandlersConfig } from "./host/handlers/binding.ts";
export { parseHandlerOutput } from "./host/handlers/protocol.ts";
export {
  HANDLER_TYPES,
  type HandlerType,
  type HookDefinition,
  hookFileJsonSchema,
  type HookFileSource,
  parseHookFile,
} from "./host/hookfiles/schema.ts";
export { type DiscoveredHooks, discoverHooks, HOOK_FILE_NAMES } from "./host/hookfiles/discover.ts";
export { compileMatcher } from "./host/hookfiles/matcher.ts";
export { compileMatcher as compilePointMatcher } from "./host/points/mod.ts";
export {
  definitionFingerprint,
  describeChange,
  pluginFingerprint,
  type TrustSubject,
} from "./host/trust/fingerprint.ts";
export { type TrustEntry, type TrustStatus, TrustStore } from "./host/trust/store.ts";
export {
  generateKeyPair,
  keyId,
  type PublisherKeyPair,
  type SignatureOptions,
  type SignedBy,
  signPlugin,
  verifyPluginSignature,
} from "./host/trust/signature.ts";
