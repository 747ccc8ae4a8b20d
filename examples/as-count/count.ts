// Example plugin "as-count" (gn PDK for AssemblyScript): action on_event counts the events it
// sees in the host's state store (key "count", decimal text); needs the "state" capability.
// Built by (in this folder; asconfig.json extends the PDK's):
//   npx -y -p assemblyscript@0.28.20 asc count.ts -o count.wasm
import { action, fail, Json, stateGet, stateSet } from "../../pdk/assemblyscript/index";
export { gn_alloc, gn_free, gn_handle_hook } from "../../pdk/assemblyscript/index";

function count(args: Array<Json>): void {
  const stored = stateGet("count");
  let n: u64 = 0;
  if (stored !== null) {
    for (let i = 0; i < stored.length; i++) {
      const d = stored.charCodeAt(i) - 0x30;
      if (d < 0 || d > 9) {
        fail('count: the stored "count" is not a number');
        return;
      }
      n = n * 10 + <u64>d;
    }
  }
  if (stateSet("count", (n + 1).toString()) != 0) fail("count: the host refused to store the count");
}

action("on_event", count);
