// Example plugin "as-guard" (gn PDK for AssemblyScript): guard run_command blocks a command
// containing "rm -rf", asks before one containing "sudo", and lets the rest continue.
// Built by (in this folder; asconfig.json extends the PDK's):
//   npx -y -p assemblyscript@0.28.20 asc guard.ts -o guard.wasm
import { guard, Json, Verdict } from "../../pdk/assemblyscript/index";
export { gn_alloc, gn_free, gn_handle_hook } from "../../pdk/assemblyscript/index";

function runCommand(subject: Json, args: Array<Json>): Verdict {
  if (!subject.isString()) return Verdict.continue();
  if (subject.str.includes("rm -rf")) {
    return Verdict.block('refusing a command containing "rm -rf"');
  }
  if (subject.str.includes("sudo")) return Verdict.ask("run this command as root?");
  return Verdict.continue();
}

guard("run_command", runCommand);
