/**
 * Binding command and HTTP hook definitions on the bus: the checks at load
 * (enabled by the host, allowed host, Deno permission) and the handler that
 * applies the matcher, runs the process or request, and reads its answer.
 *
 * @module
 */

import { resolve } from "node:path";
import { HookError } from "../../abi/errors.ts";
import type { HookBus } from "../bus.ts";
import type { Verdict } from "../../abi/envelope.ts";
import type { HookDefinition } from "../hookfiles/schema.ts";
import { compileMatcher } from "../hookfiles/matcher.ts";
import { runCommand } from "./command.ts";
import { hostPort, postHook } from "./http.ts";
import { applyVerdict, parseHandlerOutput } from "./protocol.ts";

/**
 * Which handlers that run outside the sandbox the embedding application
 * enables. Both are off by default.
 *
 * @example Enabling both
 * ```ts
 * import type { HandlersConfig } from "./binding.ts";
 * const handlers: HandlersConfig = { command: true, http: ["hooks.internal:8443"] };
 * ```
 */
export interface HandlersConfig {
  /** Allow command handlers (needs `--allow-run=setsid`). @default {false} */
  command?: boolean;
  /**
   * The `host:port`s HTTP handlers may post to (needs `--allow-net` for each).
   * @default {[]}
   */
  http?: readonly string[];
  /** Host environment variables passed to commands when readable. @default {DEFAULT_ENV_ALLOW} */
  envAllow?: readonly string[];
  /** Between `SIGTERM` and `SIGKILL` when a command's deadline expires, in ms. @default {500} */
  killGraceMs?: number;
  /** Cap of a command's stdout and stderr (each) and of a response body, in bytes. @default {1048576} */
  maxOutputBytes?: number;
}

/** What a binding needs from its host besides the configuration. */
export interface BindingContext {
  /** Aborted when the host closes: running commands are killed, requests abandoned. */
  signal?: AbortSignal;
}

/**
 * How a definition is named in messages.
 *
 * @param d The definition.
 * @returns E.g. `command hook "block-rm" (hooks.toml)`.
 */
export function describeDefinition(d: HookDefinition): string {
  return `${d.type} hook ${JSON.stringify(d.id)} (${d.file})`;
}

function granted(desc: Deno.PermissionDescriptor): boolean {
  try {
    return Deno.permissions.querySync(desc).state === "granted";
  } catch {
    return false;
  }
}

/**
 * Refuses a command or HTTP definition the host does not enable or cannot
 * run. Wasm definitions pass.
 *
 * @param d The definition.
 * @param config What the host enables.
 * @throws {HookError} `handler_not_allowed`, `permission_required`,
 * `invalid_hook_file` (a working directory that is not a folder).
 */
export function checkDefinition(d: HookDefinition, config: HandlersConfig | undefined): void {
  const who = describeDefinition(d);
  if (d.type === "command") {
    if (config?.command !== true) {
      throw new HookError(
        "handler_not_allowed",
        `Cannot bind ${who}: command handlers are off on this host; they run outside the ` +
          "sandbox, so the embedding application must enable them with " +
          "handlers: { command: true } in PluginHost.create",
        { hook: d.hook },
      );
    }
    if (!granted({ name: "run", command: "setsid" })) {
      throw new HookError(
        "permission_required",
        `Cannot bind ${who}: the host may not run subprocesses; run Deno with ` +
          "--allow-run=setsid (command hooks start through setsid, util-linux)",
        { hook: d.hook },
      );
    }
    const cwd = resolve(d.dir, d.cwd ?? ".");
    let ok = false;
    try {
      ok = Deno.statSync(cwd).isDirectory;
    } catch {
      ok = false;
    }
    if (!ok) {
      throw new HookError(
        "invalid_hook_file",
        `Invalid hook file ${JSON.stringify(d.file)}: key "cwd" of ${JSON.stringify(d.id)}: ${
          JSON.stringify(cwd)
        } is not a readable folder`,
        { hook: d.hook },
      );
    }
  } else if (d.type === "http") {
    const hp = hostPort(d.url!);
    if (!(config?.http ?? []).includes(hp)) {
      throw new HookError(
        "handler_not_allowed",
        `Cannot bind ${who}: ${hp} is not on this host's HTTP allow-list (${
          JSON.stringify(config?.http ?? [])
        }); HTTP handlers run outside the sandbox, so the embedding application must list the ` +
          `host:port with handlers: { http: ["${hp}"] } in PluginHost.create`,
        { hook: d.hook },
      );
    }
    const u = new URL(d.url!);
    if (!granted({ name: "net", host: u.port === "" ? u.hostname : `${u.hostname}:${u.port}` })) {
      throw new HookError(
        "permission_required",
        `Cannot bind ${who}: the host may not connect to ${hp}; run Deno with --allow-net=${hp}`,
        { hook: d.hook },
      );
    }
  }
}

/**
 * Runs a command or HTTP definition once and reads its answer as a verdict.
 *
 * @param d The definition (command or http).
 * @param config What the host enables (caps, environment allow-list).
 * @param value The filter value or guard subject (`undefined` for an action).
 * @param args The dispatch's other arguments.
 * @param context The host's abort signal.
 * @returns The verdict.
 * @throws {HookError} What {@linkcode runCommand} or {@linkcode postHook}
 * throws, or `bad_response` for output outside the protocol.
 */
export async function runDefinition(
  d: HookDefinition,
  config: HandlersConfig | undefined,
  value: unknown,
  args: readonly unknown[],
  context: BindingContext = {},
): Promise<Verdict> {
  const who = describeDefinition(d);
  const payload: Record<string, unknown> = { hook: d.hook, kind: d.kind, id: d.id };
  if (d.kind !== "action") payload.value = value ?? null;
  payload.args = args;
  let input: string;
  try {
    input = JSON.stringify(payload);
  } catch (cause) {
    throw new HookError(
      "bad_payload",
      `Cannot encode the context of ${who}: not JSON-serialisable; pass plain JSON values`,
      { cause },
    );
  }
  let out: string;
  if (d.type === "command") {
    const argv = d.shell !== undefined ? ["sh", "-c", d.shell] : [...d.command!];
    const r = await runCommand(
      {
        argv,
        cwd: resolve(d.dir, d.cwd ?? "."),
        env: d.env,
        timeoutMs: d.timeoutMs,
        maxOutputBytes: config?.maxOutputBytes,
        killGraceMs: config?.killGraceMs,
        envAllow: config?.envAllow,
        who,
        signal: context.signal,
      },
      input,
      {
        GN_HOOK: d.hook,
        GN_HOOK_KIND: d.kind,
        GN_HOOK_ID: d.id,
        GN_HOOK_FILE: d.file,
        GN_HOOK_DIR: d.dir,
      },
    );
    out = r.stdout;
  } else {
    out = await postHook({
      url: d.url!,
      headers: d.headers,
      timeoutMs: d.timeoutMs,
      maxResponseBytes: config?.maxOutputBytes,
      who,
      signal: context.signal,
    }, input);
  }
  return parseHandlerOutput(out, who);
}

/**
 * Registers a command or HTTP definition on the bus at its priority and fail
 * policy. Subjects its matcher does not match pass untouched (a filter keeps
 * its value, a guard continues, an action does nothing); an action's subject
 * is its first argument.
 *
 * @param bus The bus.
 * @param d The definition, already checked with {@linkcode checkDefinition}.
 * @param config What the host enables.
 * @param context The host's abort signal.
 * @returns Unsubscribe.
 */
export function bindDefinition(
  bus: HookBus,
  d: HookDefinition,
  config: HandlersConfig | undefined,
  context: BindingContext = {},
): () => void {
  const match = compileMatcher(d.matcher, d.matchField);
  const who = describeDefinition(d);
  // The label keeps the handler's typed codes (timeout, command_failed…) on the bus's errors.
  const opts = { priority: d.priority, fail: d.fail, plugin: `hook:${d.id}` };
  switch (d.kind) {
    case "filter":
      return bus.addFilter(d.hook, async (value: unknown, ...args: unknown[]) => {
        if (!match(value)) return value;
        return applyVerdict(
          "filter",
          await runDefinition(d, config, value, args, context),
          value,
          who,
        );
      }, opts);
    case "action":
      return bus.addAction(d.hook, async (...args: unknown[]) => {
        if (!match(args[0])) return;
        applyVerdict(
          "action",
          await runDefinition(d, config, undefined, args, context),
          undefined,
          who,
        );
      }, opts);
    default:
      return bus.addGuard(d.hook, async (subject: unknown, ...args: unknown[]) => {
        if (!match(subject)) return undefined;
        return await runDefinition(d, config, subject, args, context);
      }, opts);
  }
}
