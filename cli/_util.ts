/**
 * What every `gn` command shares: argument parsing, the error that means "you
 * called it wrong", and printing errors as their typed code and message,
 * never as a stack trace.
 *
 * @module
 */

import { parseArgs, type ParseArgsConfig } from "node:util";
import { HookError } from "../abi/errors.ts";

/** A command called wrongly (an unknown option, a missing argument): exit status 2. */
export class UsageError extends Error {
  /**
   * @param message What was wrong, and what to do.
   */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** The options a command takes, as `node:util` `parseArgs` describes them. */
export type Options = NonNullable<ParseArgsConfig["options"]>;

/** Parsed arguments: option values by name, then the positionals. */
export interface Parsed {
  values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  positionals: string[];
}

/** One `gn` command. */
export interface Command {
  /** Its name, as typed after `gn`. */
  name: string;
  /** One line for `gn --help`. */
  summary: string;
  /** Its `--help` text (usage line first). */
  help: string;
  /** The options it takes (besides `--help`). */
  options: Options;
  /** Runs it; resolves to the exit status. */
  run(args: Parsed): Promise<number>;
}

/**
 * Parses a command's arguments strictly.
 *
 * @param command The command.
 * @param args Its arguments (after the command name).
 * @returns The values and positionals.
 * @throws {UsageError} For an unknown option or a missing option value.
 */
export function parse(command: Command, args: string[]): Parsed {
  try {
    const { values, positionals } = parseArgs({
      args,
      options: { ...command.options, help: { type: "boolean", short: "h" } },
      allowPositionals: true,
      strict: true,
    });
    return { values: values as Parsed["values"], positionals };
  } catch (e) {
    if (e instanceof TypeError) throw new UsageError(e.message);
    throw e;
  }
}

/**
 * The option `name` as a string, if given.
 *
 * @param p Parsed arguments.
 * @param name The option.
 * @returns Its value, or `undefined`.
 */
export function str(p: Parsed, name: string): string | undefined {
  const v = p.values[name];
  return typeof v === "string" ? v : undefined;
}

/**
 * Whether the boolean option `name` is set.
 *
 * @param p Parsed arguments.
 * @param name The option.
 * @returns `true` when given.
 */
export function flag(p: Parsed, name: string): boolean {
  return p.values[name] === true;
}

/**
 * Prints an error as `gn <command>: <code>: <message>` and returns the exit
 * status: 2 for a usage error, 1 for anything else. A stack trace is printed
 * only for an unexpected error when `GN_DEBUG` is set.
 *
 * @param command The command name (or `gn` itself).
 * @param e What was thrown.
 * @returns The exit status.
 */
export function report(command: string, e: unknown): number {
  const where = command === "" ? "gn" : `gn ${command}`;
  if (e instanceof UsageError) {
    console.error(`${where}: usage: ${e.message}\nRun \`${where} --help\` for its usage.`);
    return 2;
  }
  if (e instanceof HookError) {
    console.error(`${where}: ${e.code}: ${e.message}`);
    return 1;
  }
  if (e instanceof Deno.errors.NotFound) {
    console.error(`${where}: not_found: ${e.message}`);
    return 1;
  }
  if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) {
    console.error(
      `${where}: permission_required: ${e.message}; run gn with the permission it names ` +
        "(deno task gn grants read, write and run)",
    );
    return 1;
  }
  const message = e instanceof Error ? e.message : String(e);
  console.error(`${where}: internal_error: ${message} (set GN_DEBUG=1 for the stack trace)`);
  if (env("GN_DEBUG")) console.error(e);
  return 1;
}

/**
 * Reads the environment variable `name` when allowed, `undefined` otherwise.
 *
 * @param name The variable.
 * @returns Its value.
 */
export function env(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

/**
 * The manifest a positional names: a `plugin.toml` path, or a folder that holds one.
 *
 * @param given The positional (default: the working folder).
 * @returns The manifest path.
 */
export function manifestPath(given: string | undefined): string {
  const path = given ?? ".";
  try {
    if (Deno.statSync(path).isDirectory) return `${path.replace(/\/$/, "")}/plugin.toml`;
  } catch {
    // not there: let the reader say so
  }
  return path;
}

/** Formats bytes for people: `12.3 KiB`. */
export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(2)} MiB`;
}

/**
 * Whether Deno runs with `--unstable-worker-options`, as the user says: the
 * `--worker-options` option, or `GN_UNSTABLE_WORKER_OPTIONS=1` (set by
 * `deno task gn`). A program cannot see Deno's own flags.
 *
 * @param p Parsed arguments.
 * @returns `true` when said.
 */
export function workerOptions(p: Parsed): boolean {
  return flag(p, "worker-options") || env("GN_UNSTABLE_WORKER_OPTIONS") === "1";
}
