/**
 * Host functions that the worker can serve by itself, without the host
 * thread: `gn_time_ms` (clock) and `gn_fuel_remaining` (fuel).
 *
 * @module
 */

import type { ImportFactory } from "./guest.ts";
import type { InitMessage } from "./protocol.ts";

/**
 * The import factories granted to a plugin.
 *
 * @param m The init message (granted tokens).
 * @returns Factories by import name.
 */
export function hostImports(m: InitMessage): Record<string, ImportFactory> {
  const out: Record<string, ImportFactory> = {};
  const granted = new Set(m.granted);
  if (granted.has("clock")) out.gn_time_ms = () => () => BigInt(Date.now());
  if (granted.has("fuel")) out.gn_fuel_remaining = (ctx) => () => ctx.fuelLeft() ?? -1n;
  return out;
}
