/**
 * Hook points: typed contexts, matchers, verdict merging, invariant and
 * opaque fields with re-validation, host-owned handles.
 *
 * @module
 */

export { HookPoints } from "./points.ts";
export type {
  HookPointsOptions,
  HookPointSpec,
  Mutability,
  PatchConflict,
  PluginCall,
  PointAnswer,
  PointBindingOptions,
  PointContext,
  PointHandler,
  PointKind,
  PointVerdict,
  SubjectSchema,
} from "./points.ts";
export { compileMatcher } from "./matcher.ts";
export type { Matcher } from "./matcher.ts";
export { jsonEqual, mergePatch } from "./merge_patch.ts";
export { HANDLE_TYPES, MemorySink, SinkHandle } from "./sink.ts";
export type { DurableSink, HandleType, SinkAck, SinkItem } from "./sink.ts";
