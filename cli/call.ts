/**
 * `gn call`: runs one hook of a plugin in the real sandbox and prints what
 * happened: the result, the status, fuel used, time, log lines and events.
 *
 * @module
 */

import { HookError } from "../abi/errors.ts";
import { readManifest } from "../host/manifest/mod.ts";
import { loadForTest } from "../testing/functional.ts";
import { type Command, flag, manifestPath, UsageError, workerOptions } from "./_util.ts";

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new UsageError(
      `${what} ${JSON.stringify(text)} is not JSON; quote a string as JSON, e.g. '"hello"'`,
    );
  }
}

/** `gn call`. */
export const call: Command = {
  name: "call",
  summary: "run one hook in the real sandbox; print result, status, fuel, time, logs, events",
  help: `Usage: gn call [options] <manifest-or-folder> <hook> [json] [args…]

Loads the plugin as a host would (digest, checks, metering, an isolated worker,
its declared capabilities) and runs one hook it declares. For a filter, [json]
is the value and defaults to null; for a guard, the subject; for an action,
every argument after the hook is an argument. Each argument is JSON, or taken
as a string when it is not.

Prints the result, the status (ok, or the error code and the plugin's status),
the fuel the call used, the time it took, and the log lines and events it wrote.
Exit status 1 when the call failed.

Options:
  --event <name>     approve an event name for gn_event_emit (repeatable)
  --json             print everything as one JSON object
  --worker-options   Deno runs with --unstable-worker-options (no deno.json enables it);
                     also GN_UNSTABLE_WORKER_OPTIONS=1 (deno task gn sets both);
                     also GN_UNSTABLE_WORKER_OPTIONS=1 (deno task gn sets both)
  -h, --help

Examples:
  gn call plugins/title title_case '"hello plugin world"'
  gn call plugins/counter on_event user-42 7`,
  options: {
    event: { type: "string", multiple: true },
    json: { type: "boolean" },
    "worker-options": { type: "boolean" },
  },
  async run(args) {
    const [where, hook, ...rest] = args.positionals;
    if (where === undefined || hook === undefined) {
      throw new UsageError("give a manifest (or its folder) and a hook name");
    }
    const file = manifestPath(where);
    const { manifest } = await readManifest(file);
    const binding = manifest.hooks.find((h) => h.name === hook);
    if (binding === undefined) {
      throw new HookError(
        "hook_not_declared",
        `Plugin "${manifest.name}" does not declare hook "${hook}" in ${file}; it declares ${
          manifest.hooks.map((h) => `${h.name} (${h.kind})`).join(", ") || "none"
        }`,
        { plugin: manifest.name, hook },
      );
    }
    const kind = binding.kind;
    const value = kind === "action" || rest.length === 0 ? null : parseJson(rest[0], "the value");
    const extra = (kind === "action" ? rest : rest.slice(1)).map((a) => {
      try {
        return JSON.parse(a);
      } catch {
        return a;
      }
    });
    const events = args.values.event;
    await using p = await loadForTest(file, {
      events: Array.isArray(events) ? events.map(String) : [],
      unstableWorkerOptions: workerOptions(args),
    });
    const started = performance.now();
    let result: unknown;
    let error: HookError | undefined;
    try {
      result = kind === "filter"
        ? await p.filter(hook, value, extra)
        : kind === "guard"
        ? await p.guard(hook, value, extra)
        : await p.action(hook, extra);
    } catch (e) {
      if (!(e instanceof HookError)) throw e;
      error = e;
    }
    const ms = performance.now() - started;
    const fuel = p.lastFuel === undefined ? null : Number(p.lastFuel);
    if (flag(args, "json")) {
      console.log(JSON.stringify(
        {
          plugin: manifest.name,
          hook,
          kind,
          status: error === undefined ? "ok" : error.code,
          guestStatus: error?.status ?? null,
          message: error?.message ?? null,
          result: error === undefined && kind !== "action" ? result : null,
          fuel,
          ms: Number(ms.toFixed(3)),
          logs: p.logs.map(({ level, message }) => ({ level, message })),
          events: p.events.map(({ name, data }) => ({ name, data })),
        },
        null,
        2,
      ));
    } else {
      console.log(`${manifest.name} ${kind} ${hook}`);
      if (error === undefined) {
        if (kind !== "action") console.log(`result  ${JSON.stringify(result)}`);
        console.log("status  ok");
      } else {
        console.log(
          `status  ${error.code}${
            error.status === undefined ? "" : ` (${error.status})`
          }: ${error.message}`,
        );
      }
      console.log(`fuel    ${fuel ?? "unmetered"}`);
      console.log(`time    ${ms.toFixed(2)} ms (in the sandbox, first call: includes warm-up)`);
      for (const l of p.logs) console.log(`log     ${l.level}: ${l.message}`);
      for (const e of p.events) console.log(`event   ${e.name}: ${e.data}`);
    }
    return error === undefined ? 0 : 1;
  },
};
