// The hooks example runs as its deno task does, with the task's permissions, and shows a command
// hook and a wasm plugin in one chain, from hooks.toml, under a trust store, with a signed plugin.
import assert from "node:assert/strict";

Deno.test("examples/hooks_demo: the task's run line, end to end", async () => {
  const root = new URL("../", import.meta.url).pathname;
  const task = JSON.parse(await Deno.readTextFile(`${root}deno.json`)).tasks["example:hooks"];
  const args = task.split(" ").slice(1); // after "deno"
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  assert.match(text, /0 bound, 3 waiting for approval, 0 refused/);
  assert.match(text, /approve plugin:shout \(new\)/);
  assert.match(text, /bound: block-rm \(command\), shout \(wasm\), frame \(command\)/);
  assert.match(text, /plugin shout 1\.0\.0: signed by "gn-demo"/);
  assert.match(text, /applyFilters\("the_content", "hello"\) → "\[HELLO\]"/);
  assert.match(
    text,
    /Bash "rm -rf \/"\) → \{"decision":"block","reason":"rm is not allowed here"\}/,
  );
  assert.match(text, /Bash "ls -la"\) → \{"decision":"continue"\}/);
});
