/**
 * The isolation self-test: the worker tries what a permission-less worker
 * must not be able to do, and reports each outcome. It runs after
 * {@linkcode closeGlobals}, so it also proves that the globals closed there
 * are gone.
 *
 * Every probe works whatever the package was loaded from (a local path, a
 * registry over https, a vendored copy): none reads the worker's own source.
 *
 * (Named `_isolation_probe.ts`, not `_*_test.ts`: a test glob in
 * `publish.exclude` once dropped this file from the published package.)
 *
 * @module
 */

import type { IsolationReport, ProbeOutcome } from "../channel/protocol.ts";

/**
 * Globals a plugin's worker never needs, removed before any plugin code is
 * loaded: nested workers (which would start with the worker's own, empty,
 * permissions but outlive its supervision), cross-worker broadcast, and
 * blob URLs (a way to import code the worker made up). The guest is wasm and
 * reaches none of them; this is defence in depth for the shim.
 */
export const CLOSED_GLOBALS: readonly string[] = ["Worker", "BroadcastChannel"];

/** Removes {@linkcode CLOSED_GLOBALS} and `URL.createObjectURL`; idempotent. */
export function closeGlobals(): void {
  const g = globalThis as Record<string, unknown>;
  for (const name of CLOSED_GLOBALS) {
    try {
      delete g[name];
    } catch {
      // non-configurable: the probe below reports it
    }
  }
  for (const name of ["createObjectURL", "revokeObjectURL"]) {
    try {
      delete (URL as unknown as Record<string, unknown>)[name];
    } catch {
      // non-configurable: the probe below reports it
    }
  }
}

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

/** `denied` when the global is gone, `allowed` when it is still reachable. */
function gone(present: boolean): ProbeOutcome {
  return present ? "allowed" : "denied";
}

/**
 * A dynamic import of a file the host may read (a sibling of this module
 * that does not exist: no code is loaded either way). Deno checks the
 * worker's own read permission before it looks for the file, so a
 * permission-less worker gets a permission error; anything else (found, or
 * not found) means the import was let through. Only meaningful when the
 * package is loaded from `file:`; from a remote origin the worker can import
 * from that origin by construction (it loaded itself from there), which the
 * host reports as `remoteImport`.
 */
async function fileImport(): Promise<ProbeOutcome | undefined> {
  if (new URL(import.meta.url).protocol !== "file:") return undefined;
  const ext = ".ts"; // a template, so that `deno publish` sees a relative import, not an opaque one
  try {
    await import(`./_absent_import_probe_target${ext}`);
    return "allowed";
  } catch (e) {
    const o = outcome(e);
    if (o === "denied") return o;
    return e instanceof Error && /Requires read access/.test(e.message) ? "denied" : o;
  }
}

/** Whether a `data:` URL can be imported: equivalent to `eval`, which JS in the worker has anyway. */
async function dataImport(): Promise<boolean> {
  try {
    await import("data:text/javascript,export default 1");
    return true;
  } catch {
    return false;
  }
}

/**
 * Runs the probes: read the root folder, open a network connection
 * (loopback, a closed port), read an environment variable, run a
 * subprocess, import a file beside this one; queries write, ffi and sys;
 * checks that nested workers, `BroadcastChannel` and blob URLs are gone.
 *
 * @returns One outcome per enforced probe (isolated means every one is
 *   `denied`), and what stays open by design.
 */
export async function selfTest(): Promise<IsolationReport> {
  const probes: Record<string, ProbeOutcome> = {};
  // The root folder exists on every system and reading it needs no file of
  // ours: the probe works whether the package came from a path or a registry.
  probes.read = attempt(() => [...Deno.readDirSync("/")]);
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
  const imported = await fileImport();
  if (imported !== undefined) probes.fileImport = imported;
  const g = globalThis as Record<string, unknown>;
  probes.worker = gone(typeof g.Worker === "function");
  probes.broadcastChannel = gone(typeof g.BroadcastChannel === "function");
  probes.blobUrl = gone(
    typeof (URL as unknown as Record<string, unknown>).createObjectURL === "function",
  );
  return { probes, open: { dataImport: await dataImport() } };
}
