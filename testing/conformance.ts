/**
 * The conformance suite for plugin authors: what every gn plugin must do,
 * as data (requirement id, input, expected outcome), run against a plugin's
 * manifest in a real isolated worker.
 *
 * @module
 */

import { HookError, type HookErrorCode } from "../abi/errors.ts";
import type { Capability } from "../abi/imports.ts";
import { decodeFilterAnswer, decodeGuardAnswer, type HookKind } from "../abi/envelope.ts";
import { memoryGrowth } from "./_memory.ts";
import type { Manifest } from "../host/manifest/mod.ts";
import type { Plugin } from "../host/plugin.ts";
import { DEFAULTS } from "../host/config.ts";
import { readManifest, startPlugin } from "../host/pipeline.ts";

/** What a requirement expects of one call. */
export type Expectation =
  /** Any answer or guest status, but not a host-side failure (trap, timeout, bad answer, …). */
  | "answers"
  /** A successful answer (no error at all). */
  | "succeeds"
  /** Exactly this error code. */
  | { code: HookErrorCode }
  /** Like `"answers"`, and none of these codes either (e.g. `unknown_hook` from a declared hook). */
  | { answersExcept: readonly HookErrorCode[] };

/** What a requirement's payload may depend on. */
export interface PayloadContext {
  /**
   * The largest payload this plugin is expected to take: the host's default
   * cap (1 MiB) or a sixteenth of its memory ceiling (`memory_pages`),
   * whichever is smaller: room for the payload, a PDK's decoded copy, the
   * answer and allocator slack (RATIONALE.md: "Why is GN-CAP-1's cap a
   * sixteenth of the memory ceiling?").
   */
  capBytes: number;
}

/** One requirement: an id, what it checks, and what it sends. */
export interface Requirement {
  /** Stable id, e.g. `GN-LOAD-1`. */
  id: string;
  /** What it checks, in one sentence. */
  description: string;
  /** The kinds of binding it applies to; `undefined` means once per plugin. */
  kinds?: readonly HookKind[];
  /** The raw envelope to send (JSON text), or `null` for load-only requirements. */
  payload: ((kind: HookKind, context: PayloadContext) => string) | null;
  /** The expected outcome. */
  expect: Expectation;
  /** Call it this many times (same input) and require identical answers. */
  repeat?: number;
  /** With `repeat`: also require the same fuel for every call after the first (when metered). */
  sameFuel?: boolean;
  /**
   * Call it this many times (same input, in-process, see `leak` in the README) and require
   * that the guest's memory does not grow after the first tenth of the calls.
   */
  leakCalls?: number;
  /** Decode the answer as the host does for the hook's kind (guard verdicts, filter values). */
  decode?: boolean;
  /**
   * Capabilities that make the requirement not apply: a plugin declaring one
   * of them passes it as "not applicable" (e.g. `state`: a counter's answers
   * and fuel depend on the store, by design).
   */
  unless?: readonly Capability[];
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
    id: "GN-HOOK-2",
    description:
      "Every declared hook is handled: a typical payload never answers unknown_hook (-4)",
    payload: (k) => envelope(k, "hello, world", ["user-42", 7, { k: "v" }]),
    expect: { answersExcept: ["unknown_hook"] },
  },
  {
    id: "GN-ERR-1",
    description:
      "Valid input for the declared kind (a string value, typical arguments) never answers guest_error",
    payload: (k) => envelope(k, "hello, world", ["user-42", 7, { k: "v" }]),
    expect: { answersExcept: ["guest_error"] },
  },
  {
    id: "GN-LEAK-1",
    description:
      "No leak: the guest's memory stops growing over 10,000 calls of each declared hook (none after the first 1,000)",
    payload: (k) => envelope(k, "hello, world", ["user-42", 7, { k: "v" }]),
    expect: "answers",
    leakCalls: 10_000,
  },
  {
    id: "GN-DET-2",
    description:
      "The same input gives the same answer and uses the same fuel, 20 times in a row (after the first call)",
    payload: (k) => envelope(k, "determinism", ["a"]),
    expect: "answers",
    repeat: 20,
    sameFuel: true,
    unless: ["state", "clock"],
  },
  {
    id: "GN-CAP-1",
    description:
      "A payload at the cap (1 MiB, or a sixteenth of the memory ceiling if smaller) is handled: no out_of_memory, no guest_error",
    payload: (k, { capBytes }) => {
      const overhead = new TextEncoder().encode(envelope(k, "")).length;
      return envelope(k, "x".repeat(Math.max(0, capBytes - overhead)));
    },
    expect: { answersExcept: ["out_of_memory", "guest_error", "unknown_hook"] },
  },
  {
    id: "GN-GUARD-1",
    description:
      "A guard answers a known decision (continue, block, ask, modify) or no body, as the host decodes it",
    kinds: ["guard"],
    payload: (k) => envelope(k, "delete everything", ["user-42"]),
    expect: "answers",
    decode: true,
  },
  {
    id: "GN-UTF8-1",
    description:
      "Non-ASCII input (accents, CJK, emoji, escapes) is handled: no guest_error, and the answer decodes",
    payload: (k) => envelope(k, 'Ünïcödé ✓ 日本語 🎉 "q" \\ tab\t', ["ß", "→"]),
    expect: { answersExcept: ["guest_error", "unknown_hook"] },
    decode: true,
  },
  {
    id: "GN-EMPTY-1",
    description:
      "Empty input (an empty string value, no arguments) is handled: no guest_error, and the answer decodes",
    payload: (k) => envelope(k, ""),
    expect: { answersExcept: ["guest_error", "unknown_hook"] },
    decode: true,
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
  decode?: HookKind,
): Promise<{ error?: HookError; body?: string | null; fuel?: bigint }> {
  try {
    const { body, fuel } = await p.callRaw(hook, payload);
    if (decode === "guard") decodeGuardAnswer(body);
    if (decode === "filter") decodeFilterAnswer(body, null);
    return { body, fuel };
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
  if ("answersExcept" in expect) {
    if (e === undefined) return { ok: true, detail: "answered" };
    return MISBEHAVIOUR.has(e.code) || expect.answersExcept.includes(e.code)
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
    const started = await startPlugin(loaded, {
      granted: m.capabilities,
      log: () => {},
      plugin: {
        quarantineAfter: Number.MAX_SAFE_INTEGER,
        unstableWorkerOptions: options.unstableWorkerOptions,
      },
    });
    plugin = started.plugin;
    const limits = started.limits;
    results.push({ id: "GN-LOAD-1", ok: true, detail: `loaded ${m.name} ${m.version}` });
    const context: PayloadContext = {
      capBytes: Math.min(DEFAULTS.maxPayloadBytes, (limits.memoryPages * 65536) / 16),
    };
    try {
      for (const req of REQUIREMENTS) {
        if (req.payload === null) continue;
        const targets = req.id === "GN-HOOK-1"
          ? [{ name: "gn_conformance.unbound_hook", kind: "action" as const }]
          : m.hooks.filter((h) => req.kinds === undefined || req.kinds.includes(h.kind));
        const excused = req.unless?.find((c) => m.capabilities.includes(c));
        for (const h of targets) {
          if (excused !== undefined) {
            results.push({
              id: req.id,
              hook: h.name,
              ok: true,
              detail:
                `not applicable: the plugin declares "${excused}", on which its answers may depend`,
            });
            continue;
          }
          const payload = req.payload(h.kind, context);
          const decode = req.decode ? h.kind : undefined;
          const first = await outcome(plugin, h.name, payload, decode);
          let verdict = judge(req.expect, first);
          let fuel: bigint | undefined;
          for (let i = 1; verdict.ok && i < (req.repeat ?? 1); i++) {
            const again = await outcome(plugin, h.name, payload, decode);
            const same = again.body === first.body && again.error?.code === first.error?.code;
            if (!same) {
              verdict = {
                ok: false,
                detail: `call ${i + 1} answered differently from call 1`,
              };
            } else if (req.sameFuel && i > 1 && again.fuel !== fuel) {
              verdict = {
                ok: false,
                detail: `call ${i + 1} used ${again.fuel} fuel, call 2 used ${fuel}: ` +
                  "the same input must cost the same (no hidden state)",
              };
            }
            if (i === 1) fuel = again.fuel;
          }
          if (verdict.ok && req.leakCalls !== undefined) {
            verdict = leakVerdict(plugin.module, m, h.name, payload, req.leakCalls, limits.fuel);
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

function leakVerdict(
  module: WebAssembly.Module,
  m: Manifest,
  hook: string,
  payload: string,
  calls: number,
  fuel: number | false,
): { ok: boolean; detail: string } {
  const g = memoryGrowth(module, {
    plugin: m.name,
    granted: m.capabilities,
    fuel: fuel === false ? undefined : fuel,
    hook,
    payload,
    calls,
  });
  if (g.error !== undefined) {
    const e = g.error;
    return {
      ok: false,
      detail: `a call failed during the leak run (memory ${g.after} bytes): ${
        e instanceof HookError ? `${e.code}: ${e.message}` : String(e)
      }`,
    };
  }
  return g.after > g.afterWarmup
    ? {
      ok: false,
      detail: `memory grew from ${g.afterWarmup} to ${g.after} bytes between call ${
        Math.floor(calls / 10)
      } and call ${calls}: the plugin does not free what it allocates (gn_free, or its own buffers)`,
    }
    : { ok: true, detail: `memory stayed at ${g.after} bytes over ${calls} calls` };
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
