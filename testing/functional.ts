/**
 * Functional tests of a plugin against the real sandbox: {@linkcode loadForTest}
 * loads it from its manifest exactly as a host would (digest, checks,
 * metering, an isolated worker) and calls its hooks by kind.
 *
 * @module
 */

import {
  decodeFilterAnswer,
  decodeGuardAnswer,
  encodeEnvelope,
  type HookKind,
  type Verdict,
} from "../abi/envelope.ts";
import { HookError } from "../abi/errors.ts";
import type { Manifest } from "../host/manifest/mod.ts";
import { readManifest, startPlugin } from "../host/pipeline.ts";
import type { LogEntry, PluginEvent } from "../host/_services.ts";

/** Options of {@linkcode loadForTest}. */
export interface LoadForTestOptions {
  /** Event names the plugin may emit (`emit`); others answer -6 (denied). @default {[]} */
  events?: readonly string[];
  /** WASI `random_get` (capability `wasi`): seeded or real. @default {"seeded"} */
  wasiRandom?: "seeded" | "crypto";
  /** Set when Deno runs with `--unstable-worker-options` rather than the config option. @default {false} */
  unstableWorkerOptions?: boolean;
}

/** A plugin loaded for a test: call its hooks, read what it logged and emitted, then dispose of it. */
export interface TestPlugin extends AsyncDisposable {
  /** The validated manifest. */
  readonly manifest: Manifest;
  /** Every line it logged (`gn_log`, or WASI standard output and error), oldest first. */
  readonly logs: LogEntry[];
  /** Every event it emitted, oldest first. */
  readonly events: PluginEvent[];
  /** Fuel the last call used, when metered. */
  readonly lastFuel: bigint | undefined;
  /**
   * Applies a filter hook the manifest declares.
   *
   * @param hook The hook name.
   * @param value The value to filter.
   * @param args Extra arguments.
   * @returns The filtered value.
   * @throws {HookError} The plugin's failure, typed; `hook_not_declared` for a hook the manifest
   *   does not declare as a filter.
   */
  filter(hook: string, value: unknown, args?: readonly unknown[]): Promise<unknown>;
  /**
   * Runs an action hook the manifest declares.
   *
   * @param hook The hook name.
   * @param args The arguments.
   * @throws {HookError} As {@linkcode TestPlugin.filter}.
   */
  action(hook: string, args?: readonly unknown[]): Promise<void>;
  /**
   * Asks a guard hook the manifest declares for its verdict.
   *
   * @param hook The hook name.
   * @param subject What is guarded.
   * @param args Extra arguments.
   * @returns The verdict.
   * @throws {HookError} As {@linkcode TestPlugin.filter}.
   */
  guard(hook: string, subject: unknown, args?: readonly unknown[]): Promise<Verdict>;
  /** Stops its worker. Also done by `await using`. */
  close(): Promise<void>;
}

/**
 * Loads a plugin from its `plugin.toml` into the real sandbox, for a `deno test`
 * file: its declared capabilities are granted, its limits are the manifest's
 * own (clamped to the host's defaults), log lines and events are recorded.
 *
 * @param manifest Path or `file:` URL of the `plugin.toml` (a path is relative to the working
 *   folder).
 * @param options Approved events, randomness, worker options.
 * @returns The loaded plugin; dispose of it with `await using` or `close()`.
 * @throws {HookError} Every load-time refusal, typed (`digest_mismatch`, `capability_denied`, …).
 *
 * @example A functional test beside a plugin
 * ```ts
 * import { loadForTest } from "./functional.ts";
 * import assert from "node:assert/strict";
 *
 * await using p = await loadForTest("examples/shout/plugin.toml");
 * assert.equal(await p.filter("the_content", "a b"), "A B");
 * ```
 */
export async function loadForTest(
  manifest: string | URL,
  options: LoadForTestOptions = {},
): Promise<TestPlugin> {
  const loaded = await readManifest(manifest);
  const m = loaded.manifest;
  const logs: LogEntry[] = [];
  const events: PluginEvent[] = [];
  // The host's load pipeline, every declared capability granted, one instance.
  const { plugin } = await startPlugin(loaded, {
    granted: m.capabilities,
    ceilings: { instances: 1 },
    log: (e) => logs.push(e),
    event: (e) => events.push(e),
    plugin: {
      events: options.events,
      wasiRandom: options.wasiRandom,
      unstableWorkerOptions: options.unstableWorkerOptions,
    },
  });
  const declared = (hook: string, kind: string): void => {
    if (m.hooks.some((h) => h.name === hook && h.kind === kind)) return;
    const names = m.hooks.map((h) => `${h.name} (${h.kind})`).join(", ") || "none";
    throw new HookError(
      "hook_not_declared",
      `Cannot call ${kind} "${hook}" of plugin "${m.name}": ${loaded.file} does not declare it as ` +
        `a ${kind}; it declares ${names}`,
      { plugin: m.name, hook },
    );
  };
  let lastFuel: bigint | undefined;
  /** Calls through the raw path (to see the fuel), then decodes as the host's bus does. */
  const call = async (kind: HookKind, hook: string, value: unknown, args: readonly unknown[]) => {
    declared(hook, kind);
    lastFuel = undefined;
    const { body, fuel } = await plugin.callRaw(hook, encodeEnvelope(kind, value, args));
    lastFuel = fuel;
    try {
      return kind === "filter"
        ? decodeFilterAnswer(body, value)
        : kind === "guard"
        ? decodeGuardAnswer(body)
        : undefined;
    } catch (e) {
      if (!(e instanceof HookError)) throw e;
      throw new HookError(
        e.code,
        `Plugin "${m.name}" answered hook "${hook}" badly: ${e.message}`,
        {
          plugin: m.name,
          hook,
          cause: e,
        },
      );
    }
  };
  return {
    manifest: m,
    logs,
    events,
    get lastFuel() {
      return lastFuel;
    },
    filter: (hook, value, args = []) => call("filter", hook, value, args),
    action: async (hook, args = []) => {
      await call("action", hook, undefined, args);
    },
    guard: async (hook, subject, args = []) => await call("guard", hook, subject, args) as Verdict,
    close: () => plugin.close(),
    [Symbol.asyncDispose]: () => plugin.close(),
  };
}
