// Run by tests/containment_test.ts in a subprocess: times out a call, closes, and must then
// exit by itself (a leaked worker thread would keep the process alive).
import { HookError } from "../abi/errors.ts";
import { Plugin } from "../host/plugin.ts";

const bytes = await Deno.readFile(new URL("../fixtures/hostile/emit_loop.wasm", import.meta.url));
const p = await Plugin.load(bytes, {
  name: "emit-loop",
  granted: ["emit"],
  fuel: false,
  timeoutMs: 50,
});
let outcome = "ok";
try {
  await p.callRaw("emit", "{}");
} catch (e) {
  outcome = e instanceof HookError ? e.code : String(e);
}
// A second call is running when close() comes.
const running = p.callRaw("emit", "{}").catch((e: HookError) => e.code);
await new Promise((r) => setTimeout(r, 20));
await p.close();
console.log(outcome, await running);
