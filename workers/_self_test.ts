/**
 * The isolation self-test: the worker tries what a permission-less worker
 * must not be able to do, and reports each outcome.
 *
 * @module
 */

import type { IsolationReport, ProbeOutcome } from "./protocol.ts";

function outcome(e: unknown): ProbeOutcome {
  if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) {
    return "denied";
  }
  return `error: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`;
}

function attempt(f: () => unknown): ProbeOutcome {
  try {
    f();
    return "allowed";
  } catch (e) {
    return outcome(e);
  }
}

/**
 * Runs the probes: read a file, open a network connection (loopback, a
 * closed port), read an environment variable, run a subprocess; and queries
 * write, ffi and sys.
 *
 * @returns One outcome per probe; isolated means every one is `denied`.
 */
export async function selfTest(): Promise<IsolationReport> {
  const probes: Record<string, ProbeOutcome> = {};
  probes.read = attempt(() => Deno.readFileSync(new URL(import.meta.url)));
  probes.env = attempt(() => Deno.env.get("PATH"));
  probes.run = attempt(() => new Deno.Command("true").outputSync());
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: 9 });
    conn.close();
    probes.net = "allowed";
  } catch (e) {
    probes.net = outcome(e);
  }
  for (const name of ["write", "ffi", "sys"] as const) {
    const state = Deno.permissions.querySync({ name }).state;
    probes[name] = state === "granted" ? "allowed" : "denied";
  }
  return { probes };
}
