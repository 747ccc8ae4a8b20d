/**
 * Loads an example plugin the way the conformance suite does (its manifest's capabilities
 * granted, a state store behind `state`), with a fuel budget of the caller's choosing, so a
 * benchmark can read the fuel each call uses.
 *
 * @module
 */

import { readManifest } from "../host/manifest/mod.ts";
import { Plugin } from "../host/plugin.ts";
import { defaultServices } from "../host/_services.ts";

/** Loads the plugin of `manifest` with `fuel` per call. */
export async function loadExample(manifest: string, fuel: number): Promise<Plugin> {
  const { manifest: m, bytes } = await readManifest(manifest);
  return await Plugin.load(bytes, {
    name: m.name,
    granted: m.capabilities,
    fuel,
    memoryPages: 256,
    timeoutMs: 10_000,
    services: { ...defaultServices(m.name, new Set(m.capabilities)), log: () => {} },
  });
}
