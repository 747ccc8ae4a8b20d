/**
 * `gn check`: a plugin's manifest and module together, the way the host will
 * judge them, plus what only running can tell: every declared hook is called
 * once in the real sandbox, and one the module does not answer is reported.
 *
 * @module
 */

import { HookError } from "../abi/errors.ts";
import type { HookKind } from "../abi/envelope.ts";
import { checkModule, readModule } from "../abi/module_check.ts";
import { clampLimits, DEFAULT_MAX_MODULE_BYTES, readManifest } from "../host/manifest/mod.ts";
import { loadForTest } from "../testing/functional.ts";
import { bytes, type Command, flag, manifestPath, UsageError, workerOptions } from "./_util.ts";
import { formatSummary, inspectModule } from "./inspect.ts";

/** One finding of {@linkcode checkPlugin}. */
export interface Finding {
  /** `error` fails the check; `warn` and `ok` do not. */
  level: "ok" | "warn" | "error";
  /** What it is about: `manifest`, `module`, `capabilities`, `hook <name>`, … */
  topic: string;
  /** What was found. */
  message: string;
  /** The error code, for an error the host would raise. */
  code?: string;
}

const SAMPLE: Record<HookKind, [unknown, unknown[]]> = {
  action: [undefined, ["gn-check", 1]],
  filter: ["gn check: sample value", []],
  guard: ["gn check: sample subject", []],
};

/**
 * Checks a plugin's manifest and module together, then calls each declared
 * hook once in the real sandbox.
 *
 * @param file The `plugin.toml`.
 * @param options `unstableWorkerOptions` when Deno runs with that flag.
 * @returns The findings; the check fails when any is an `error`.
 * @throws {HookError} When the manifest cannot be read or its digest does not match.
 */
export async function checkPlugin(
  file: string,
  options: { unstableWorkerOptions?: boolean } = {},
): Promise<Finding[]> {
  const out: Finding[] = [];
  const loaded = await readManifest(file);
  const m = loaded.manifest;
  out.push({
    level: "ok",
    topic: "manifest",
    message: `${m.name} ${m.version}, ${m.hooks.length} hook(s), digest matches`,
  });
  const s = inspectModule(loaded.bytes);
  out.push({
    level: s.size > DEFAULT_MAX_MODULE_BYTES ? "error" : "ok",
    topic: "size",
    message: `${bytes(s.size)}${
      s.size > DEFAULT_MAX_MODULE_BYTES
        ? `, over the default cap of ${bytes(DEFAULT_MAX_MODULE_BYTES)}`
        : ""
    }`,
    code: s.size > DEFAULT_MAX_MODULE_BYTES ? "module_too_large" : undefined,
  });
  out.push({
    level: s.features === "ok" ? "ok" : "error",
    topic: "features",
    message: s.features === "ok" ? "accepted by the host" : s.features,
  });
  try {
    checkModule(readModule(loaded.bytes, m.name), {
      plugin: m.name,
      granted: new Set(m.capabilities),
    });
    out.push({
      level: "ok",
      topic: "exports",
      message: "memory, gn_alloc, gn_free, gn_handle_hook",
    });
  } catch (e) {
    if (!(e instanceof HookError)) throw e;
    out.push({ level: "error", topic: "module", message: e.message, code: e.code });
  }
  const declared = new Set<string>(m.capabilities);
  const needed = new Set<string>(s.capabilities);
  out.push({
    level: "ok",
    topic: "imports",
    message: s.imports.length === 0
      ? "none"
      : s.imports.map((i) => `${i.name}${i.needs?.length ? ` (${i.needs.join("+")})` : ""}`)
        .join(", "),
  });
  for (const c of needed) {
    if (!declared.has(c)) {
      out.push({
        level: "error",
        topic: "capabilities",
        message:
          `the module needs "${c}", which the manifest does not declare: add it to capabilities`,
        code: "capability_denied",
      });
    }
  }
  // WASI output reaches the log only with `log`: then `log` is used even without gn_log.
  const writes = s.imports.some((i) => i.name === "wasi_snapshot_preview1.fd_write");
  if (writes && !declared.has("log")) {
    out.push({
      level: "warn",
      topic: "capabilities",
      message:
        'the module writes to stdout/stderr (WASI fd_write), which is discarded without "log"',
    });
  }
  if (writes) needed.add("log");
  for (const c of declared) {
    if (!needed.has(c)) {
      out.push({
        level: "warn",
        topic: "capabilities",
        message: `"${c}" is declared but no import needs it: remove it (least privilege)`,
      });
    }
  }
  const limits = clampLimits(m.limits);
  for (const mem of s.memories) {
    if (mem.min > limits.memoryPages) {
      out.push({
        level: "error",
        topic: "memory",
        message:
          `the module starts with ${mem.min} pages, over memory_pages = ${limits.memoryPages}: raise memory_pages under [limits]`,
        code: "memory_limit",
      });
    }
  }
  if (out.some((f) => f.level === "error")) return out;

  // What only running can tell: each declared hook, once, in the real sandbox.
  await using p = await loadForTest(file, options);
  for (const h of m.hooks) {
    const [value, args] = SAMPLE[h.kind];
    const topic = `hook ${h.name} (${h.kind})`;
    try {
      if (h.kind === "action") await p.action(h.name, args);
      else if (h.kind === "filter") await p.filter(h.name, value, args);
      else await p.guard(h.name, value, args);
      out.push({ level: "ok", topic, message: `answered, ${p.lastFuel ?? "unmetered"} fuel` });
    } catch (e) {
      if (!(e instanceof HookError)) throw e;
      const unknown = e.code === "unknown_hook";
      const status = e.code === "bad_payload" || e.code === "guest_error";
      out.push({
        level: status ? "warn" : "error",
        topic,
        message: unknown
          ? "declared in plugin.toml but the module answers unknown_hook: handle it in gn_handle_hook, or remove it from the manifest"
          : e.message,
        code: e.code,
      });
    }
  }
  return out;
}

/** `gn check`. */
export const check: Command = {
  name: "check",
  summary: "check a manifest and its module together; call each declared hook once",
  help: `Usage: gn check [--json] [--verbose] [manifest-or-folder]

Reads the manifest (every key, and the digest against the module), then the
module as the host will: its exports, its imports and the capabilities they
need against those the manifest declares, its features, size and initial
memory; then loads it in the real sandbox and calls each declared hook once
with a sample input, reporting a hook the module does not answer
(unknown_hook). Exit status 1 when anything is an error.

Options:
  --json      print the findings as JSON
  --verbose   also print what gn inspect prints about the module
  --worker-options   Deno runs with --unstable-worker-options (no deno.json enables it);
                     also GN_UNSTABLE_WORKER_OPTIONS=1 (deno task gn sets both);
                     also GN_UNSTABLE_WORKER_OPTIONS=1 (deno task gn sets both)
  -h, --help

Example:
  gn check plugins/title`,
  options: {
    json: { type: "boolean" },
    verbose: { type: "boolean" },
    "worker-options": { type: "boolean" },
  },
  async run(args) {
    if (args.positionals.length > 1) throw new UsageError("give one manifest (or its folder)");
    const file = manifestPath(args.positionals[0]);
    const findings = await checkPlugin(file, {
      unstableWorkerOptions: workerOptions(args),
    });
    if (flag(args, "json")) console.log(JSON.stringify(findings, null, 2));
    else {
      for (const f of findings) {
        console.log(
          `${f.level === "ok" ? "ok   " : f.level === "warn" ? "warn " : "error"} ${f.topic}: ${
            f.code && f.level !== "ok" ? `${f.code}: ` : ""
          }${f.message}`,
        );
      }
      if (flag(args, "verbose")) {
        const { bytes: wasm } = await readManifest(file);
        for (const line of formatSummary(inspectModule(wasm))) console.log(`  ${line}`);
      }
    }
    return findings.some((f) => f.level === "error") ? 1 : 0;
  },
};
