/**
 * The `gn` command: scaffold, build, pin, check, call, inspect and test
 * plugins.
 *
 * ```sh
 * deno task gn --help                                  # in a checkout of this repository
 * deno run -A jsr:@gn/plugin-host/cli --help           # anywhere
 * ```
 *
 * Every command has `--help`. A user error exits with status 1 (2 for a
 * usage error) and prints its typed code and message, never a stack trace.
 *
 * @module
 */

import { COMMANDS } from "./_commands.ts";
import { flag, parse, report, UsageError } from "./_util.ts";

/**
 * The operator's commands (hook files and trust: tools/gn.ts), run from a
 * checkout of this repository; they are not in the published package.
 */
const OPERATOR: Record<string, string> = {
  keygen: "make an Ed25519 publisher key pair (operator; in a checkout)",
  sign: "sign plugin manifests (operator; in a checkout)",
  trust: "review and approve hook files and plugins (operator; in a checkout)",
};

const HELP = `gn: the gn plugin host's command for plugin authors

Usage: gn <command> [options] [arguments]

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(8)} ${c.summary}`).join("\n")}
${Object.entries(OPERATOR).map(([n, s]) => `  ${n.padEnd(8)} ${s}`).join("\n")}

Run \`gn <command> --help\` for a command's options and examples.
From a checkout: deno task gn …   Anywhere: deno run -A jsr:@gn/plugin-host/cli …`;

/**
 * Runs `gn` with `args` and resolves to the exit status; prints to stdout and
 * stderr.
 *
 * @param args The command line after `gn`.
 * @returns The exit status: 0 success, 1 failure, 2 usage error.
 *
 * @example
 * ```ts ignore
 * import { main } from "@gn/plugin-host/cli";
 * Deno.exit(await main(["pin", "--check", "plugins/title"]));
 * ```
 */
export async function main(args: readonly string[]): Promise<number> {
  const [name, ...rest] = args;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    console.log(HELP);
    return name === undefined ? 2 : 0;
  }
  if (name in OPERATOR) return await operator(args);
  const command = COMMANDS.find((c) => c.name === name);
  if (command === undefined) {
    return report(
      "",
      new UsageError(
        `unknown command ${JSON.stringify(name)}; the commands are ${
          COMMANDS.map((c) => c.name).join(", ")
        }`,
      ),
    );
  }
  try {
    const parsed = parse(command, rest);
    if (flag(parsed, "help")) {
      console.log(command.help);
      return 0;
    }
    return await command.run(parsed);
  } catch (e) {
    return report(command.name, e);
  }
}

/** Runs an operator command with tools/gn.ts, which only a checkout has. */
async function operator(args: readonly string[]): Promise<number> {
  // Not a literal specifier: the published module graph must not include tools/.
  const url = new URL(["..", "tools", "gn.ts"].join("/"), import.meta.url);
  let tools: { main(argv: readonly string[]): Promise<number> };
  try {
    tools = await import(url.href);
  } catch (e) {
    return report(
      args[0],
      new UsageError(
        `"${args[0]}" is an operator command of a checkout of the gn plugin host (tools/gn.ts), ` +
          `not in this copy (${url.href}: ${e instanceof Error ? e.message : e}); ` +
          "run `deno task gn " + args[0] + "` in the repository",
      ),
    );
  }
  return await tools.main(args);
}

if (import.meta.main) Deno.exit(await main(Deno.args));
