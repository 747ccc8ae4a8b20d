// Finding processes a test left behind: each command a test starts gets a unique MARK in its
// environment, inherited by everything it forks; `ps` lists the environment of our own processes.
import assert from "node:assert/strict";

/** Live (non-zombie) processes whose environment holds MARK=mark, as `ps` sees them. */
export function survivors(m: string): string[] {
  const out = new Deno.Command("ps", { args: ["ewwax", "-o", "pid=,stat=,command="] }).outputSync();
  return new TextDecoder().decode(out.stdout).split("\n").filter((line) => {
    const [, stat = ""] = line.trim().split(/\s+/);
    return !stat.startsWith("Z") && line.split(/\s+/).includes(`MARK=${m}`);
  });
}

/** Waits (up to 2 s) for every process marked `m` to be gone; fails if any is left. */
export async function noSurvivors(m: string): Promise<void> {
  // A SIGKILLed process can take a moment to leave /proc on a busy machine; give it up to 2 s.
  for (let i = 0; i < 40 && survivors(m).length > 0; i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.deepEqual(survivors(m), [], `processes left behind with MARK=${m}`);
}
