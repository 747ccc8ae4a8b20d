// Test plugin "as-kit": every host-function wrapper and error path of the AssemblyScript PDK, one
// hook each (tests/pdk_kit_test.ts calls them).
// Built by (in this folder; asconfig.json is the PDK's, with `abort` pointed at the PDK from here):
//   npx -y -p assemblyscript@0.28.20 asc kit.ts -o kit.wasm
import {
  action, emit, fail, failBadPayload, filter, fuelRemaining, guard, hasSinkHandle, Json, Kind, Level,
  log, panic, sinkAppend, sinkHandle, stateDel, stateGet, stateSet, timeMs, Verdict,
} from "../../../pdk/assemblyscript/index";
export { gn_alloc, gn_free, gn_handle_hook } from "../../../pdk/assemblyscript/index";

function first(args: Array<Json>): string | null {
  return args.length > 0 && args[0].isString() ? args[0].str : null;
}
function kLog(args: Array<Json>): void {
  const t = first(args);
  log(Level.Warn, t !== null ? t : "no text");
}
function kTime(v: Json, args: Array<Json>): Json | null {
  return Json.number(timeMs().toString());
}
function kFuel(v: Json, args: Array<Json>): Json | null {
  return Json.number(fuelRemaining().toString());
}
function kEmit(args: Array<Json>): void {
  const t = first(args);
  if (t === null) {
    failBadPayload("kit.emit: the first argument must be a string");
    return;
  }
  if (emit("kit.event", t) != 0) fail("kit.emit: refused");
}
function kState(v: Json, args: Array<Json>): Json | null {
  if (!v.isString()) {
    failBadPayload("kit.state: the value must be a string");
    return null;
  }
  if (stateSet("k", v.str) != 0) {
    fail("kit.state: set refused");
    return null;
  }
  const got = stateGet("k");
  if (got === null) {
    fail("kit.state: nothing read back");
    return null;
  }
  if (stateDel("k") != 0) {
    fail("kit.state: del refused");
    return null;
  }
  const list = new Json();
  list.kind = Kind.Array;
  list.items.push(Json.string(got));
  list.items.push(Json.bool(stateGet("k") === null));
  return list;
}
function kEcho(v: Json, args: Array<Json>): Json | null {
  return v;
}
function kFail(args: Array<Json>): void {
  fail("kit failed on purpose");
}
function kBad(args: Array<Json>): void {
  failBadPayload("kit wants other input");
}
function kPanic(args: Array<Json>): void {
  panic("kit panicked");
}
function kThrow(args: Array<Json>): void {
  throw new Error("kit threw");
}
function kModify(s: Json, args: Array<Json>): Verdict {
  return Verdict.modify(Json.string("safe"), "replaced");
}
// Appends the subject's "note" through the call's sink handle; a refusal blocks with
// "sink status <status>, handle <handle|none>".
function kSink(s: Json, args: Array<Json>): Verdict {
  const note = s.get("note");
  if (note === null || !note.isString()) {
    failBadPayload("kit.sink: the subject needs a string note");
    return Verdict.continue();
  }
  const status = sinkAppend("note", note.str);
  if (status == 0) return Verdict.continue();
  const handle = hasSinkHandle() ? sinkHandle().toString() : "none";
  return Verdict.block("sink status " + status.toString() + ", handle " + handle);
}

action("kit.log", kLog);
filter("kit.time", kTime);
filter("kit.fuel", kFuel);
action("kit.emit", kEmit);
filter("kit.state", kState);
filter("kit.echo", kEcho);
action("kit.fail", kFail);
action("kit.bad", kBad);
action("kit.panic", kPanic);
action("kit.throw", kThrow);
guard("kit.modify", kModify);
guard("kit.sink", kSink);
