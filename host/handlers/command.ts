/**
 * Command handlers: a hook handled by a subprocess, outside the sandbox.
 *
 * The process gets the hook context as JSON on stdin, a documented set of
 * environment variables (the rest of the environment is reduced to an
 * allow-list), its own process group (it is started through `setsid` from
 * util-linux), a deadline after which the whole group gets `SIGTERM` and,
 * after a grace period, `SIGKILL`, and caps on stdout and stderr. Whatever
 * happens, every process left in its group is killed when the call ends, so a
 * child it forked never outlives it.
 *
 * Needs `--allow-run` for `setsid` (which then runs anything: grant it only
 * where command hooks are wanted).
 *
 * @module
 */

import { HookError } from "../../abi/errors.ts";

/** Default cap of stdout and of stderr, each: 1 MiB. */
export const DEFAULT_OUTPUT_CAP = 1024 * 1024;

/** Default deadline of one command run, in ms. */
export const DEFAULT_COMMAND_TIMEOUT_MS = 10_000;

/** Time between `SIGTERM` and `SIGKILL` on a deadline, in ms. */
export const DEFAULT_KILL_GRACE_MS = 500;

/** Environment variables read from the host's environment when the host may read them. */
export const DEFAULT_ENV_ALLOW: readonly string[] = ["PATH", "LANG", "LC_ALL", "TZ"];

/** The `PATH` a command gets when the host may not read its own. */
export const FALLBACK_PATH = "/usr/local/bin:/usr/bin:/bin";

/** What to run, and how. */
export interface CommandSpec {
  /** The program and its arguments; `argv[0]` is looked up on the child's `PATH`. */
  argv: readonly string[];
  /** Working directory (absolute). */
  cwd: string;
  /** Extra variables given literally to the process. */
  env?: Readonly<Record<string, string>>;
  /** Deadline in ms. @default {DEFAULT_COMMAND_TIMEOUT_MS} */
  timeoutMs?: number;
  /** Cap of stdout and of stderr, each, in bytes. @default {DEFAULT_OUTPUT_CAP} */
  maxOutputBytes?: number;
  /** Between `SIGTERM` and `SIGKILL` on a deadline, in ms. @default {DEFAULT_KILL_GRACE_MS} */
  killGraceMs?: number;
  /** Host variables passed through when readable. @default {DEFAULT_ENV_ALLOW} */
  envAllow?: readonly string[];
  /** How to name the handler in messages. */
  who: string;
  /** Aborting it kills the process group at once; the call fails with `closed`. */
  signal?: AbortSignal;
}

/** What a finished run produced. */
export interface CommandResult {
  /** stdout, decoded as UTF-8. */
  stdout: string;
  /** stderr, decoded leniently (it only goes into messages). */
  stderr: string;
  /** The process id (also its process group id). */
  pid: number;
}

/**
 * Builds the child's environment: the allow-listed variables the host may
 * read (queried, never prompted), then `spec.env`, then the `GN_*` variables.
 */
function childEnv(
  spec: CommandSpec,
  gn: Readonly<Record<string, string>>,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of spec.envAllow ?? DEFAULT_ENV_ALLOW) {
    try {
      if (Deno.permissions.querySync({ name: "env", variable: name }).state !== "granted") continue;
      const v = Deno.env.get(name);
      if (v !== undefined) env[name] = v;
    } catch {
      // not readable: left out
    }
  }
  env.PATH ??= FALLBACK_PATH;
  Object.assign(env, spec.env ?? {}, gn);
  return env;
}

interface Drained {
  bytes: Uint8Array;
  over: boolean;
}

/** Reads a stream up to `cap` bytes; one byte more calls `onOver` and stops reading. */
async function drain(
  stream: ReadableStream<Uint8Array>,
  cap: number,
  onOver: () => void,
): Promise<Drained> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > cap) {
        onOver();
        await reader.cancel().catch(() => {});
        return { bytes: new Uint8Array(), over: true };
      }
      chunks.push(value);
    }
  } finally {
    reader.releaseLock();
  }
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.byteLength;
  }
  return { bytes, over: false };
}

function excerpt(text: string): string {
  // deno-lint-ignore no-control-regex -- control characters are replaced on purpose
  const t = text.trim().replace(/[\u0000-\u001f\u007f]+/g, " ");
  return t.length > 300 ? t.slice(0, 297) + "..." : t;
}

/**
 * Runs one command with `input` on its stdin and returns what it printed.
 *
 * @param spec The program, working directory, deadline and caps.
 * @param input The hook context, already JSON text.
 * @param gnEnv The documented `GN_*` variables of this call.
 * @returns stdout (UTF-8) and stderr.
 * @throws {HookError} `timeout` (the group was killed), `response_too_large`
 * (stdout or stderr over the cap; the group was killed), `bad_response`
 * (stdout not UTF-8), `command_failed` (could not start, non-zero exit,
 * killed by a signal), `permission_required` (no `--allow-run` for `setsid`),
 * `closed` (`spec.signal` aborted: the host closed).
 *
 * @example Echoing a verdict
 * ```ts ignore
 * import { runCommand } from "./command.ts";
 * const r = await runCommand({ argv: ["echo", "block: no"], cwd: "/tmp", who: "demo" }, "{}", {});
 * console.log(r.stdout); // "block: no\n"
 * ```
 */
export async function runCommand(
  spec: CommandSpec,
  input: string,
  gnEnv: Readonly<Record<string, string>>,
): Promise<CommandResult> {
  const cap = spec.maxOutputBytes ?? DEFAULT_OUTPUT_CAP;
  const timeoutMs = spec.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
  const grace = spec.killGraceMs ?? DEFAULT_KILL_GRACE_MS;
  const closed = () =>
    new HookError(
      "closed",
      `Cannot run ${spec.who}: the host closed; its process group was killed`,
    );
  if (spec.signal?.aborted) throw closed();
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("setsid", {
      args: [...spec.argv],
      cwd: spec.cwd,
      env: childEnv(spec, gnEnv),
      clearEnv: true,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (cause) {
    if (cause instanceof Deno.errors.NotCapable || cause instanceof Deno.errors.PermissionDenied) {
      throw new HookError(
        "permission_required",
        `Cannot run ${spec.who}: the host may not run subprocesses; run Deno with ` +
          `--allow-run=setsid (command hooks start through setsid)`,
        { cause },
      );
    }
    throw new HookError(
      "command_failed",
      `Cannot run ${spec.who}: ${(cause as Error).message}; command hooks need \`setsid\` ` +
        `(util-linux) on the PATH and an existing working directory (${JSON.stringify(spec.cwd)})`,
      { cause },
    );
  }
  const pgid = child.pid;
  let failure: HookError | undefined;
  const killGroup = (signal: Deno.Signal): void => {
    try {
      Deno.kill(-pgid, signal);
    } catch {
      // the group is gone already
    }
  };
  const fail = (e: HookError): void => {
    failure ??= e;
    killGroup("SIGKILL");
  };
  let killTimer: ReturnType<typeof setTimeout> | undefined;
  const timer = setTimeout(() => {
    failure ??= new HookError(
      "timeout",
      `Cannot run ${spec.who}: no answer within ${timeoutMs} ms; its process group was killed ` +
        `(raise timeout_ms in its hook definition if it needs longer)`,
    );
    killGroup("SIGTERM");
    killTimer = setTimeout(() => killGroup("SIGKILL"), grace);
  }, timeoutMs);
  const onAbort = () => fail(closed());
  spec.signal?.addEventListener("abort", onAbort, { once: true });

  // stdin: written without waiting; a process that never reads it must not
  // block the call (the write fails once the process is gone).
  const writer = child.stdin.getWriter();
  writer.write(new TextEncoder().encode(input)).then(() => writer.close()).catch(() => {});

  const over = (stream: string) => () =>
    fail(
      new HookError(
        "response_too_large",
        `Cannot run ${spec.who}: its ${stream} went over ${cap} bytes; the process group was ` +
          "killed and nothing it printed is used (print less, or write large output to a file)",
      ),
    );
  let status: Deno.CommandStatus;
  let out: Drained;
  let err: Drained;
  try {
    [out, err, status] = await Promise.all([
      drain(child.stdout, cap, over("stdout")),
      drain(child.stderr, cap, over("stderr")),
      child.status.then((s) => {
        // Children it forked die with it: nothing outlives the call.
        killGroup("SIGKILL");
        return s;
      }),
    ]);
  } finally {
    clearTimeout(timer);
    clearTimeout(killTimer);
    spec.signal?.removeEventListener("abort", onAbort);
    killGroup("SIGKILL");
  }
  if (failure !== undefined) throw failure;
  const stderr = new TextDecoder().decode(err.bytes);
  if (!status.success) {
    const how = status.signal !== null ? `was killed by ${status.signal}` : `exited ${status.code}`;
    const said = excerpt(stderr);
    throw new HookError(
      "command_failed",
      `Command ${spec.who} ${how}${said === "" ? "" : `: ${said}`}; exit 0 and print a verdict ` +
        `("block: <reason>" blocks)`,
      { status: status.code },
    );
  }
  let stdout: string;
  try {
    stdout = new TextDecoder("utf-8", { fatal: true }).decode(out.bytes);
  } catch (cause) {
    throw new HookError(
      "bad_response",
      `Cannot read the answer of ${spec.who}: stdout is not valid UTF-8; print UTF-8 text`,
      { cause },
    );
  }
  return { stdout, stderr, pid: pgid };
}
