/**
 * The load pipeline, one for the host and the conformance suite: a manifest
 * read and verified ({@linkcode readManifest}), its grants checked
 * ({@linkcode checkGrants}), its limits clamped ({@linkcode clampLimits}),
 * its module checked, metered, compiled and started ({@linkcode Plugin.load}).
 *
 * @module
 */

import type { HookKind } from "../abi/envelope.ts";
import { checkGrants } from "./manifest/grants.ts";
import { clampLimits, type LimitRequest, type PluginLimits } from "./manifest/limits.ts";
import type { Manifest } from "./manifest/schema.ts";
import type { LoadedManifest } from "./manifest/read.ts";
import { Plugin } from "./plugin.ts";
import type { PluginOptions } from "./config.ts";
import { defaultServices, type LogEntry, type PluginEvent } from "./_services.ts";

export { readManifest } from "./manifest/read.ts";

/** Options of {@linkcode startPlugin}. */
export interface StartPluginOptions {
  /** Capability tokens the host allows this plugin. */
  granted: readonly string[];
  /** The hooks the host declares, when it declares them. */
  declaredHooks?: ReadonlyMap<string, HookKind>;
  /** The host's ceilings; absent ones are the limits table's. */
  ceilings?: LimitRequest;
  /** More checks of the manifest, after the grants and before anything starts. */
  check?: (manifest: Manifest) => void;
  /**
   * Where the plugin's log lines go when `plugin.services` is not given (the
   * other services are the defaults). @default {the console}
   */
  log?: (entry: LogEntry) => void;
  /**
   * Where the plugin's events go when `plugin.services` is not given.
   * @default {dropped}
   */
  event?: (event: PluginEvent) => void;
  /** Everything else the plugin is started with; the manifest gives its name, grants and limits. */
  plugin?: Omit<
    PluginOptions,
    | "name"
    | "granted"
    | "timeoutMs"
    | "fuel"
    | "memoryPages"
    | "tableElements"
    | "instances"
    | "digest"
  >;
}

/**
 * Starts a plugin from its verified manifest: grants, then limits, then load.
 *
 * @param loaded What {@linkcode readManifest} returned.
 * @param options The host's grants, declarations, ceilings and plugin options.
 * @returns The started plugin and the limits it got.
 * @throws {HookError} Every refusal, typed.
 */
export async function startPlugin(
  loaded: LoadedManifest,
  options: StartPluginOptions,
): Promise<{ plugin: Plugin; limits: PluginLimits }> {
  const { manifest, file } = loaded;
  const name = manifest.name;
  checkGrants(manifest, file, { granted: options.granted, declaredHooks: options.declaredHooks });
  options.check?.(manifest);
  const limits = clampLimits(manifest.limits, options.ceilings);
  const { log, event } = options;
  const services = options.plugin?.services ??
    (log === undefined && event === undefined ? undefined : {
      ...defaultServices(name, new Set(manifest.capabilities)),
      ...(log === undefined ? {} : { log }),
      ...(event === undefined ? {} : { event }),
    });
  const plugin = await Plugin.load(loaded.bytes, {
    ...options.plugin,
    services,
    name,
    granted: manifest.capabilities,
    // Every limit is a plugin option of the same name.
    ...limits,
    digest: manifest.digest,
  });
  return { plugin, limits };
}
