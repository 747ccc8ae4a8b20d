/**
 * Load-time checks of a module against the gn ABI (docs/abi.md#exports,
 * docs/abi.md#host-imports), done on the bytes before anything is
 * instantiated.
 *
 * @module
 */

import { HookError } from "./errors.ts";
import {
  formatFuncType,
  type ImportEntry,
  sameFuncType,
  WasmFeatureError,
  WasmFormatError,
  WasmReservedNameError,
  WasmUnknownError,
} from "../wasm/reader.ts";
import { bodyOf, type ParsedModule, parseModule } from "../wasm/module.ts";
import {
  ABI_VERSION_EXPORT,
  type Capability,
  HOST_IMPORT_MODULE,
  HOST_IMPORTS,
  type HostImportSpec,
  REQUIRED_EXPORTS,
  RESERVED_PREFIX,
} from "./imports.ts";
import { WASI_IMPORTS, WASI_MODULE } from "./wasi.ts";

/** What {@linkcode checkModule} found out. */
export interface ModuleReport {
  /** The names of the `env` imports the module uses. */
  imports: string[];
  /** The names of the `wasi_snapshot_preview1` imports the module uses (capability `wasi`). */
  wasiImports: string[];
  /**
   * The ABI version when `gn_abi_version` is a constant function, `1` when the
   * export is absent, `undefined` when it must be called to be known.
   */
  abiVersion: number | undefined;
  /** Whether `gn_abi_version` is exported. */
  hasAbiVersionExport: boolean;
}

/** Options of {@linkcode checkModule}. */
export interface CheckModuleOptions {
  /** The plugin name, for errors. */
  plugin: string;
  /** Capability tokens granted to the plugin. */
  granted: ReadonlySet<Capability>;
}

/**
 * Reads a plugin's module with the one reader (`wasm/module.ts`), names the
 * host reserves refused, for {@linkcode checkModule} and the meter.
 *
 * @param bytes The module bytes.
 * @param plugin The plugin name, for errors; absent for a module of no plugin yet.
 * @returns The parsed module.
 * @throws {HookError} `invalid_module` (malformed or unknown bytes, a
 *   reserved name) or `unsupported_feature`, naming the plugin.
 */
export function readModule(bytes: Uint8Array, plugin?: string): ParsedModule {
  try {
    return parseModule(bytes, { reservedPrefix: RESERVED_PREFIX });
  } catch (cause) {
    const action = plugin === undefined ? "Cannot read module" : `Cannot load plugin "${plugin}"`;
    if (cause instanceof WasmFormatError) {
      throw new HookError(
        "invalid_module",
        `${action}: not a valid WebAssembly module: ${cause.message}`,
        { plugin, cause },
      );
    }
    if (cause instanceof WasmFeatureError) {
      throw new HookError(
        "unsupported_feature",
        `${action}: ${cause.message}; build the module without ${cause.feature} ` +
          `(docs/abi.md#limits lists what is accepted)`,
        { plugin, cause },
      );
    }
    if (cause instanceof WasmUnknownError || cause instanceof WasmReservedNameError) {
      throw new HookError("invalid_module", `${action}: ${cause.message}`, { plugin, cause });
    }
    throw cause;
  }
}

/**
 * Checks a module before instantiation, from what the one module reader
 * (`wasm/module.ts`) read: the required exports with their exact
 * signatures, `gn_abi_version` (when constant), and every import covered by
 * the granted tokens with the exact signature.
 *
 * @param info The parsed module.
 * @param options The plugin name and its granted tokens.
 * @returns The imports and ABI version found.
 * @throws {HookError} `missing_export`, `abi_version` or
 *   `capability_denied`, naming the plugin and the export or import.
 */
export function checkModule(info: ParsedModule, options: CheckModuleOptions): ModuleReport {
  const { plugin, granted } = options;
  const exports = new Map(info.exports.map((e) => [e.name, e]));
  for (const req of REQUIRED_EXPORTS) {
    const e = exports.get(req.name);
    if (req.type === "memory") {
      if (e?.kind !== "memory") {
        throw new HookError(
          "missing_export",
          `Cannot load plugin "${plugin}": it does not export its memory as "memory"; export it ` +
            `(in WAT: (memory (export "memory") 1)), see docs/abi.md#exports`,
          { plugin },
        );
      }
      continue;
    }
    if (e === undefined || e.kind !== "func") {
      throw new HookError(
        "missing_export",
        `Cannot load plugin "${plugin}": missing export "${req.name}" ${
          formatFuncType(req.type)
        }; export a function of exactly that signature, see docs/abi.md#exports`,
        { plugin },
      );
    }
    if (!sameFuncType(e.type!, req.type)) {
      throw new HookError(
        "missing_export",
        `Cannot load plugin "${plugin}": export "${req.name}" has signature ${
          formatFuncType(e.type!)
        }, expected ${
          formatFuncType(req.type)
        }; change it to the expected one, see docs/abi.md#exports`,
        { plugin },
      );
    }
  }
  let abiVersion: number | undefined = 1;
  const v = exports.get(ABI_VERSION_EXPORT.name);
  if (v !== undefined) {
    if (v.kind !== "func" || !sameFuncType(v.type!, ABI_VERSION_EXPORT.type)) {
      throw new HookError(
        "abi_version",
        `Cannot load plugin "${plugin}": export "gn_abi_version" must be ${
          formatFuncType(ABI_VERSION_EXPORT.type)
        }; fix its signature or remove it (absent means version 1), see docs/abi.md#versioning`,
        { plugin },
      );
    }
    abiVersion = constantI32Body(bodyOf(info, v.index));
    if (abiVersion !== undefined) assertAbiVersion(abiVersion, plugin);
  }
  const imports: string[] = [];
  const wasiImports: string[] = [];
  const specs = new Map<string, HostImportSpec>(HOST_IMPORTS.map((s) => [s.name, s]));
  for (const imp of info.imports) {
    const where = `"${imp.module}"."${imp.name}"`;
    if (imp.module === WASI_MODULE && granted.has("wasi")) {
      wasiImports.push(checkWasiImport(imp, where, plugin, granted));
      continue;
    }
    if (imp.module !== HOST_IMPORT_MODULE) {
      throw new HookError(
        "capability_denied",
        `Cannot load plugin "${plugin}": import ${where} is from module "${imp.module}"; only "env" ` +
          `host functions can be imported${
            imp.module === WASI_MODULE
              ? ` unless capability "wasi" is granted (capabilities = ["wasi"] in plugin.toml, and ` +
                `the host's \`grants\`; see docs/abi.md#wasi-ext), or`
              : ":"
          } build without WASI or another runtime's imports ` +
          `(e.g. Rust's wasm32-unknown-unknown target), see docs/abi.md#host-imports`,
        { plugin },
      );
    }
    const spec = specs.get(imp.name);
    if (imp.kind !== "func" || spec === undefined) {
      throw new HookError(
        "capability_denied",
        `Cannot load plugin "${plugin}": import ${where} (${imp.kind}) is not a gn host function; ${
          unknownImportHint(imp.name)
        }`,
        { plugin },
      );
    }
    if (!sameFuncType(imp.type, spec.type)) {
      throw new HookError(
        "capability_denied",
        `Cannot load plugin "${plugin}": import ${where} has signature ${
          formatFuncType(imp.type)
        }, expected ${
          formatFuncType(spec.type)
        }; declare the import with exactly that signature, see docs/abi.md#host-imports`,
        { plugin },
      );
    }
    if (spec.token !== null && !granted.has(spec.token)) {
      throw new HookError(
        "capability_denied",
        `Cannot load plugin "${plugin}": import ${where} needs capability "${spec.token}", which ` +
          `is not granted: declare it in plugin.toml (capabilities = ["${spec.token}"]; the ` +
          `host must also allow it in its \`grants\`), or remove the import`,
        { plugin },
      );
    }
    imports.push(imp.name);
  }
  return { imports, wasiImports, abiVersion, hasAbiVersionExport: v !== undefined };
}

const WASI_SPECS = new Map(WASI_IMPORTS.map((s) => [s.name, s]));

/** Checks one `wasi_snapshot_preview1` import of a plugin granted `wasi`; returns its name. */
function checkWasiImport(
  imp: ImportEntry,
  where: string,
  plugin: string,
  granted: ReadonlySet<Capability>,
): string {
  const spec = WASI_SPECS.get(imp.name);
  if (imp.kind !== "func" || spec === undefined) {
    throw new HookError(
      "capability_denied",
      `Cannot load plugin "${plugin}": import ${where} (${imp.kind}) is not a WASI preview 1 ` +
        `function this host serves; remove it (the served ones are listed in docs/abi.md#wasi-ext)`,
      { plugin },
    );
  }
  if (!sameFuncType(imp.type, spec.type)) {
    throw new HookError(
      "capability_denied",
      `Cannot load plugin "${plugin}": import ${where} has signature ${
        formatFuncType(imp.type)
      }, expected ${
        formatFuncType(spec.type)
      } (wasi_snapshot_preview1); build against a preview 1 libc, see docs/abi.md#wasi-ext`,
      { plugin },
    );
  }
  if (spec.needs !== null && !granted.has(spec.needs)) {
    throw new HookError(
      "capability_denied",
      `Cannot load plugin "${plugin}": import ${where} needs capability "${spec.needs}" as well ` +
        `as "wasi", which is not granted: declare it in plugin.toml (capabilities = ["wasi", ` +
        `"${spec.needs}"]; the host must also allow it in its \`grants\`), or stop using it`,
      { plugin },
    );
  }
  return imp.name;
}

/**
 * Throws `abi_version` unless `version` is 1.
 *
 * @param version What `gn_abi_version` returned.
 * @param plugin The plugin, for the error.
 * @throws {HookError} `abi_version`.
 */
export function assertAbiVersion(version: number, plugin: string): void {
  if (version !== 1) {
    throw new HookError(
      "abi_version",
      `Cannot load plugin "${plugin}": it speaks gn ABI version ${version}; this host speaks 1: ` +
        "build the plugin for gn ABI 1, or load it into a host that speaks its version",
      { plugin },
    );
  }
}

/** What to do about an "env" import that is no host function. */
function unknownImportHint(name: string): string {
  const available = HOST_IMPORTS.map((s) => s.name).join(", ");
  if (name === "abort") {
    return "AssemblyScript imports env.abort by default: add `--use abort=` to asc to drop it, " +
      "or `--use abort=assembly/index/myAbort` naming your own function that calls gn_panic";
  }
  if (name === "seed" || name === "trace") {
    return `AssemblyScript imports env.${name} for ${
      name === "seed" ? "Math.random" : "trace()"
    }: do not use it in a plugin, or \`--use ${name}=<file>/<yourFunction>\` to replace it`;
  }
  return `remove it; the host functions are ${available} (see docs/abi.md#host-imports)`;
}

/** The constant of a body that is exactly `i32.const N; end` with no locals. */
function constantI32Body(body: Uint8Array | undefined): number | undefined {
  if (body === undefined || body.length < 4 || body[0] !== 0 || body[1] !== 0x41) return undefined;
  let result = 0;
  let shift = 0;
  let i = 2;
  let b: number;
  do {
    if (i >= body.length || shift > 28) return undefined;
    b = body[i++];
    result |= (b & 0x7f) << shift;
    shift += 7;
  } while (b & 0x80);
  if (shift < 32 && (b & 0x40)) result |= -1 << shift;
  return i === body.length - 1 && body[i] === 0x0b ? result : undefined;
}
