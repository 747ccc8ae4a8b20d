// README "From `gn new` to a plugin the host calls": the block runs as written, with `gn` standing
// for `deno task gn` (this checkout's cli/main.ts, with the task's flags and environment), in a
// fresh folder, for WAT and for each PDK language whose toolchain is here.
import assert from "node:assert/strict";
import { toolchains } from "../pdk/build.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const README = await Deno.readTextFile(`${ROOT}README.md`);
const GN = [
  "run",
  "--unstable-worker-options",
  "--allow-read",
  "--allow-write",
  "--allow-run",
  "--allow-net",
  "--allow-env",
  "--allow-import=127.0.0.1:1",
  `${ROOT}cli/main.ts`,
];

/** The commands of the README's walkthrough, comments dropped. */
function walkthrough(): string[] {
  const at = README.indexOf("### From `gn new` to a plugin the host calls");
  assert.ok(at >= 0, "the walkthrough heading is in the README");
  const block = README.slice(at).match(/```sh\n([\s\S]*?)```/);
  assert.ok(block, "the walkthrough has a sh block");
  return block[1].split("\n").map((l) => l.replace(/\s+#.*$/, "").trim()).filter((l) => l !== "");
}

async function run(args: string[], cwd: string): Promise<string> {
  const o = await new Deno.Command(Deno.execPath(), {
    args,
    cwd,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", GN_UNSTABLE_WORKER_OPTIONS: "1" },
  }).output();
  const text = new TextDecoder().decode(o.stdout) + new TextDecoder().decode(o.stderr);
  assert.ok(o.success, `${args.join(" ")} (in ${cwd}):\n${text}`);
  return text;
}

/** Runs the walkthrough for one language in a fresh folder; returns what each command printed. */
async function follow(lang: string): Promise<string[]> {
  let cwd = await Deno.makeTempDir({ prefix: "gn-readme-" });
  const root = cwd;
  const out: string[] = [];
  try {
    for (const line of walkthrough()) {
      const cd = line.match(/^cd (\S+) && (.*)$/);
      const command = cd ? cd[2] : line;
      if (cd) cwd = `${cwd}/${cd[1]}`;
      const words = [...command.matchAll(/'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2]);
      if (words[0] === "gn") {
        const args = words.slice(1).map((w, i, all) => all[i - 1] === "--lang" ? lang : w);
        out.push(await run([...GN, ...args], cwd));
      } else {
        assert.deepEqual(words.slice(0, 3), ["deno", "task", "test"], line);
        out.push(await run(["task", "test"], cwd));
      }
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
  return out;
}

Deno.test("README: gn new → build → check → call → test → deno task test, per language", async (t) => {
  const have = { wat: true, ...await toolchains() };
  for (const lang of ["wat", "c", "rust", "as"] as const) {
    await t.step({
      name: `${lang}${have[lang] ? "" : " (toolchain absent: skipped)"}`,
      ignore: !have[lang],
      fn: async () => {
        const out = (await follow(lang)).join("\n");
        assert.match(out, /result {2}"Hello Plugin World"/);
        assert.match(out, /plugin\.toml: conforms/);
        assert.match(out, /title_case upper-cases the first letter of every word \.\.\. ok/);
        assert.match(out, /ok {4}hook title_case \(filter\): answered/);
      },
    });
  }
});
