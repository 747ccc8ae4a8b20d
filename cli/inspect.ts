/**
 * `gn inspect`: what a `.wasm` module is, as the host sees it: size, exports,
 * imports and the capability each needs, memories and tables, whether the
 * host accepts its features, and what metering adds.
 *
 * @module
 */

import { HookError } from "../abi/errors.ts";
import {
  CAPABILITIES,
  type Capability,
  HOST_IMPORT_MODULE,
  HOST_IMPORTS,
  type HostImportSpec,
} from "../abi/imports.ts";
import { REQUIRED_EXPORTS } from "../abi/imports.ts";
import { WASI_IMPORTS, WASI_MODULE } from "../abi/wasi.ts";
import { formatFuncType, sameFuncType } from "../wasm/reader.ts";
import type { ParsedModule } from "../wasm/module.ts";
import { readModule } from "../abi/module_check.ts";
import { meter } from "../meter/mod.ts";
import { bytes, type Command, flag, UsageError } from "./_util.ts";

/** One import of a module, and what the host makes of it. */
export interface ImportReport {
  /** `module.name`. */
  name: string;
  /** `func (i32) -> i32`, `memory`, … */
  type: string;
  /**
   * The capability tokens it needs (`[]` for the always-granted ones), or
   * `null` when no token grants it (the load refuses it).
   */
  needs: Capability[] | null;
  /** Why it cannot be granted, when `needs` is `null`. */
  refused?: string;
}

/** What {@linkcode inspectModule} found. */
export interface ModuleSummary {
  /** Size in bytes. */
  size: number;
  /** Exports, as `name: kind signature`. */
  exports: string[];
  /** Required ABI exports that are missing or mistyped. */
  missingExports: string[];
  /** Imports. */
  imports: ImportReport[];
  /** The tokens the imports need, together. */
  capabilities: Capability[];
  /** Memories: initial and maximum pages. */
  memories: { min: number; max?: number; shared: boolean; memory64: boolean }[];
  /** Tables: initial and maximum elements. */
  tables: { min: number; max?: number }[];
  /** `ok`, or the host's refusal of a feature (threads, memory64, …). */
  features: string;
  /** Bytes one instance may hold, as metered (memories at their ceiling plus tables). */
  guestBytes?: number;
  /** Whether it has a start function; whether it is a WASI reactor (`_initialize`). */
  start: boolean;
  /** Whether it exports `_initialize`. */
  reactor: boolean;
}

const WASI = new Map(WASI_IMPORTS.map((s) => [s.name, s]));
const ENV = new Map<string, HostImportSpec>(HOST_IMPORTS.map((s) => [s.name, s]));

/**
 * Reads a module's shape without running it.
 *
 * @param wasm The module bytes.
 * @returns The summary.
 * @throws {HookError} `invalid_module` for bytes that are not a module.
 */
export function inspectModule(wasm: Uint8Array): ModuleSummary {
  // The one reader refuses what the host refuses, as the host would.
  const info: ParsedModule = readModule(wasm);
  const imports: ImportReport[] = info.imports.map((imp) => {
    const name = `${imp.module}.${imp.name}`;
    const type = imp.kind === "func" ? `func ${formatFuncType(imp.type)}` : imp.kind;
    if (imp.kind !== "func") {
      return { name, type, needs: null, refused: `a ${imp.kind} cannot be imported` };
    }
    if (imp.module === HOST_IMPORT_MODULE) {
      const spec = ENV.get(imp.name);
      if (spec === undefined) return { name, type, needs: null, refused: "not a gn host function" };
      if (!sameFuncType(spec.type, imp.type)) {
        return { name, type, needs: null, refused: `expected ${formatFuncType(spec.type)}` };
      }
      return { name, type, needs: spec.token === null ? [] : [spec.token] };
    }
    if (imp.module === WASI_MODULE) {
      const spec = WASI.get(imp.name);
      if (spec === undefined) {
        return {
          name,
          type,
          needs: null,
          refused: "not a WASI preview 1 function this host serves",
        };
      }
      if (!sameFuncType(spec.type, imp.type)) {
        return { name, type, needs: null, refused: `expected ${formatFuncType(spec.type)}` };
      }
      return { name, type, needs: spec.needs === null ? ["wasi"] : ["wasi", spec.needs] };
    }
    return { name, type, needs: null, refused: `module "${imp.module}" is not served` };
  });
  const needed = new Set(imports.flatMap((i) => i.needs ?? []));
  const exports = info.exports.map((e) =>
    `${e.name}: ${e.kind}${e.type === undefined ? "" : ` ${formatFuncType(e.type)}`}`
  );
  const byName = new Map(info.exports.map((e) => [e.name, e]));
  const missingExports = REQUIRED_EXPORTS.filter((r) => {
    const e = byName.get(r.name);
    if (r.type === "memory") return e?.kind !== "memory";
    return e?.kind !== "func" || !sameFuncType(e.type!, r.type);
  }).map((r) => r.type === "memory" ? "memory" : `${r.name} ${formatFuncType(r.type)}`);
  let features = "ok";
  let guestBytes: number | undefined;
  try {
    guestBytes = meter(wasm, { maxMemoryPages: 65536, maxGuestBytes: Number.MAX_SAFE_INTEGER })
      .guestBytes;
  } catch (e) {
    if (!(e instanceof HookError)) throw e;
    features = `${e.code}: ${e.message}`;
  }
  return {
    size: wasm.length,
    exports,
    missingExports,
    imports,
    capabilities: CAPABILITIES.filter((c) => needed.has(c)),
    memories: [
      ...info.imports.flatMap((i) => i.kind === "memory" ? [i.limits] : []),
      ...info.memories,
    ].map(({ min, max }) => ({ min, max, shared: false, memory64: false })),
    tables: [
      ...info.imports.flatMap((i) => i.kind === "table" ? [i.limits] : []),
      ...info.tables.map((t) => t.limits),
    ].map(({ min, max }) => ({ min, max })),
    features,
    guestBytes,
    start: info.start !== undefined,
    reactor: byName.get("_initialize")?.kind === "func",
  };
}

/**
 * The summary as lines of text.
 *
 * @param s What {@linkcode inspectModule} returned.
 * @returns The lines.
 */
export function formatSummary(s: ModuleSummary): string[] {
  const out = [`size        ${bytes(s.size)} (${s.size} bytes)`];
  out.push(`features    ${s.features === "ok" ? "accepted by the host" : s.features}`);
  for (const m of s.memories) {
    out.push(
      `memory      ${m.min} page(s) initial, ${
        m.max === undefined ? "no maximum" : `${m.max} maximum`
      }${m.shared ? ", shared" : ""}${m.memory64 ? ", memory64" : ""}`,
    );
  }
  for (const t of s.tables) {
    out.push(`table       ${t.min} element(s)${t.max === undefined ? "" : `, ${t.max} maximum`}`);
  }
  if (s.start) out.push("start       has a start function (run at load, under fuel)");
  if (s.reactor) out.push("reactor     exports _initialize (called once per instance)");
  out.push(`exports     ${s.exports.length}`);
  for (const e of s.exports) out.push(`  ${e}`);
  if (s.missingExports.length > 0) {
    out.push(`missing     ${s.missingExports.join(", ")} (the host refuses it: missing_export)`);
  }
  out.push(`imports     ${s.imports.length}`);
  for (const i of s.imports) {
    const needs = i.needs === null
      ? `refused: ${i.refused}`
      : i.needs.length === 0
      ? "always granted"
      : `needs ${i.needs.map((n) => `"${n}"`).join(" + ")}`;
    out.push(`  ${i.name}: ${i.type}  (${needs})`);
  }
  out.push(
    `capabilities ${
      s.capabilities.length === 0 ? "none" : s.capabilities.map((c) => `"${c}"`).join(", ")
    }`,
  );
  return out;
}

/** `gn inspect`. */
export const inspect: Command = {
  name: "inspect",
  summary: "show a .wasm module's exports, imports, capabilities, memory and features",
  help: `Usage: gn inspect [--json] <module.wasm>

Reads a module without running it: size, exports (and which ABI exports are
missing), imports with the capability token each needs (or why the host refuses
it), memories, tables, and whether the host accepts its features.

Options:
  --json    print the summary as JSON
  -h, --help

Example:
  gn inspect plugins/title/title.wasm`,
  options: { json: { type: "boolean" } },
  async run(args) {
    if (args.positionals.length !== 1) throw new UsageError("give exactly one .wasm file");
    const s = inspectModule(await Deno.readFile(args.positionals[0]));
    if (flag(args, "json")) console.log(JSON.stringify(s, null, 2));
    else for (const line of formatSummary(s)) console.log(line);
    return s.missingExports.length > 0 || s.imports.some((i) => i.needs === null) ||
        s.features !== "ok"
      ? 1
      : 0;
  },
};
