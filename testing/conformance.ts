/**
 * The conformance suite for plugin authors: what every gn plugin must do,
 * as data (requirement id, input, expected outcome), run against a plugin's
 * manifest in a real isolated worker.
 *
 * @module
 */

import { HookError, type HookErrorCode } from "../abi/errors.ts";
import type { HookKind } from "../abi/envelope.ts";
import type { Plugin } from "../host/plugin.ts";
import { readManifest, startPlugin } from "../host/pipeline.ts";

/** What a requirement expects of one call. */
export type Expectation =
  /** Any answer or guest status, but not a host-side failure (trap, timeout, bad answer, …). */
  | "answers"
  /** A successful answer (no error at all). */
  | "succeeds"
  /** Exactly this error code. */
  | { code: HookErrorCode };

/** One requirement: an id, what it checks, and what it sends. */
export interface Requirement {
  /** Stable id, e.g. `GN-LOAD-1`. */
  id: string;
  /** What it checks, in one sentence. */
  description: string;
  /** The kinds of binding it applies to; `undefined` means once per plugin. */
  kinds?: readonly HookKind[];
  /** The raw envelope to send (JSON text), or `null` for load-only requirements. */
  payload: ((kind: HookKind) => string) | null;
  /** The expected outcome. */
  expect: Expectation;
  /** Call it this many times (same input) and require identical answers. */
  repeat?: number;
}

/** Host-side codes that mean the plugin misbehaved rather than answered. */
const MISBEHAVIOUR: ReadonlySet<HookErrorCode> = new Set([
  "trapped",
  "timeout",
  "fuel_exhausted",
  "bad_response",
  "response_too_large",
  "worker_crashed",
]);

const envelope = (kind: HookKind, value: unknown, args: unknown[] = []) =>
  kind === "action"
    ? JSON.stringify({ kind, args })
    : JSON.stringify({ kind, value: value ?? null, args });

/** The requirements, in order. */
export const REQUIREMENTS: readonly Requirement[] = [
  {
    id: "GN-LOAD-1",
    description:
      "The manifest is valid, the digest matches, and the module loads: exports and imports exactly as the ABI says",
    payload: null,
    expect: "succeeds",
  },
  {
    id: "GN-CALL-1",
    description: "Every bound hook answers a typical payload without trapping",
    payload: (k) => envelope(k, "hello, world", ["user-42", 7, { k: "v" }]),
    expect: "answers",
  },
  {
    id: "GN-CALL-2",
    description: "Every bound hook answers an empty string value and no arguments",
    payload: (k) => envelope(k, ""),
    expect: "answers",
  },
  {
    id: "GN-CALL-3",
    description: "Every bound hook answers non-string values (number, null, object, array)",
    kinds: ["filter", "guard"],
    payload: (k) => envelope(k, { n: 42, list: [1, "two", null], nested: { ok: true } }),
    expect: "answers",
  },
  {
    id: "GN-CALL-4",
    description: "Every bound hook answers a 64 KiB value within its limits",
    payload: (k) => envelope(k, "x".repeat(65536)),
    expect: "answers",
  },
  {
    id: "GN-CALL-5",
    description: "A malformed payload (a filter envelope with no value) gets a status, not a trap",
    kinds: ["filter", "guard"],
    payload: (k) => JSON.stringify({ kind: k, args: [] }),
    expect: "answers",
  },
  {
    id: "GN-CALL-6",
    description: "Unicode passes through: the value survives non-ASCII text and escapes",
    payload: (k) => envelope(k, 'ünïcödé ✓ "quoted" \\ back\nslash'),
    expect: "answers",
  },
  {
    id: "GN-DET-1",
    description:
      "The same input gives the same answer, 50 times in a row (no hidden state leaks into answers)",
    kinds: ["filter", "guard"],
    payload: (k) => envelope(k, "determinism"),
    expect: "answers",
    repeat: 50,
  },
  {
    id: "GN-HOOK-1",
    description: "A hook the plugin does not bind answers unknown_hook (-4), or no body",
    payload: () => envelope("action", null),
    expect: "answers",
  },
];

/** The outcome of one requirement, for one hook where it applies per hook. */
export interface ConformanceResult {
  /** The requirement id. */
  id: string;
  /** The hook it ran against, when per hook. */
  hook?: string;
  /** Whether it passed. */
  ok: boolean;
  /** Why it failed, or what was seen. */
  detail: string;
}

/** Options of {@linkcode checkConformance}. */
export interface ConformanceOptions {
  /** Set when Deno runs with `--unstable-worker-options` rather than the config option. */
  unstableWorkerOptions?: boolean;
}

async function outcome(
  p: Plugin,
  hook: string,
  payload: string,
): Promise<{ error?: HookError; body?: string | null }> {
  try {
    return { body: (await p.callRaw(hook, payload)).body };
  } catch (e) {
    if (e instanceof HookError) return { error: e };
    throw e;
  }
}

function judge(expect: Expectation, o: { error?: HookError }): { ok: boolean; detail: string } {
  const e = o.error;
  if (expect === "succeeds") {
    return e === undefined
      ? { ok: true, detail: "answered" }
      : { ok: false, detail: `${e.code}: ${e.message}` };
  }
  if (expect === "answers") {
    if (e === undefined) return { ok: true, detail: "answered" };
    return MISBEHAVIOUR.has(e.code)
      ? { ok: false, detail: `${e.code}: ${e.message}` }
      : { ok: true, detail: `answered with status ${e.status} (${e.code})` };
  }
  return e?.code === expect.code ? { ok: true, detail: e.code } : {
    ok: false,
    detail: `expected ${expect.code}, got ${e ? `${e.code}: ${e.message}` : "an answer"}`,
  };
}

/**
 * Runs {@linkcode REQUIREMENTS} against the plugin a manifest describes. Its
 * declared capabilities are granted; its limits are the manifest's own.
 *
 * @param manifest Path or `file:` URL of the `plugin.toml`.
 * @param options Options.
 * @returns One result per requirement (per bound hook where it applies per hook).
 *
 * @example Checking a bundled example
 * ```ts
 * import { checkConformance } from "./conformance.ts";
 * import assert from "node:assert/strict";
 * const results = await checkConformance("examples/shout/plugin.toml");
 * assert.ok(results.every((r) => r.ok), JSON.stringify(results.filter((r) => !r.ok)));
 * ```
 */
export async function checkConformance(
  manifest: string | URL,
  options: ConformanceOptions = {},
): Promise<ConformanceResult[]> {
  const results: ConformanceResult[] = [];
  let plugin: Plugin;
  try {
    const loaded = await readManifest(manifest);
    const m = loaded.manifest;
    // Every capability the plugin declares is granted: the suite checks the
    // plugin's answers, not a host's policy.
    ({ plugin } = await startPlugin(loaded, {
      granted: m.capabilities,
      log: () => {},
      plugin: {
        quarantineAfter: Number.MAX_SAFE_INTEGER,
        unstableWorkerOptions: options.unstableWorkerOptions,
      },
    }));
    results.push({ id: "GN-LOAD-1", ok: true, detail: `loaded ${m.name} ${m.version}` });
    try {
      for (const req of REQUIREMENTS) {
        if (req.payload === null) continue;
        const targets = req.id === "GN-HOOK-1"
          ? [{ name: "gn_conformance.unbound_hook", kind: "action" as const }]
          : m.hooks.filter((h) => req.kinds === undefined || req.kinds.includes(h.kind));
        for (const h of targets) {
          const payload = req.payload(h.kind);
          const first = await outcome(plugin, h.name, payload);
          let verdict = judge(req.expect, first);
          for (let i = 1; verdict.ok && i < (req.repeat ?? 1); i++) {
            const again = await outcome(plugin, h.name, payload);
            const same = again.body === first.body && again.error?.code === first.error?.code;
            if (!same) {
              verdict = {
                ok: false,
                detail: `call ${i + 1} answered differently from call 1`,
              };
            }
          }
          results.push({ id: req.id, hook: h.name, ...verdict });
        }
      }
    } finally {
      await plugin.close();
    }
  } catch (e) {
    if (!(e instanceof HookError)) throw e;
    results.push({ id: "GN-LOAD-1", ok: false, detail: `${e.code}: ${e.message}` });
  }
  return results;
}

/**
 * Registers the suite as one `Deno.test` with a step per requirement and
 * hook, for a plugin's own test file:
 *
 * ```ts ignore
 * // my_plugin_test.ts — run with: deno test --allow-read my_plugin_test.ts
 * import { testConformance } from "@gn/plugin-host/testing";
 * testConformance("plugins/my-plugin/plugin.toml");
 * ```
 *
 * @param manifest Path or `file:` URL of the `plugin.toml`.
 * @param options Options.
 */
export function testConformance(manifest: string | URL, options: ConformanceOptions = {}): void {
  Deno.test(`gn conformance: ${manifest}`, async (t) => {
    const results = await checkConformance(manifest, options);
    for (const r of results) {
      await t.step(`${r.id}${r.hook ? ` (${r.hook})` : ""}`, () => {
        if (!r.ok) throw new Error(`${r.id} failed: ${r.detail}`);
      });
    }
  });
}
