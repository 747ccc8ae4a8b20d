// Example plugin "as-title" (gn PDK for AssemblyScript): filter title_case upper-cases the first
// ASCII letter of every word (a word starts after a space or a control character). Other values pass unchanged.
// Built by (in this folder; asconfig.json extends the PDK's):
//   npx -y -p assemblyscript@0.28.20 asc title.ts -o title.wasm
import { filter, Json } from "../../pdk/assemblyscript/index";
export { gn_alloc, gn_free, gn_handle_hook } from "../../pdk/assemblyscript/index";

function titleCase(value: Json, args: Array<Json>): Json | null {
  if (!value.isString()) return null; // not text: unchanged
  const s = value.str;
  const codes = new Array<i32>(s.length);
  let start = true;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    codes[i] = start && c >= 0x61 && c <= 0x7a ? c - 32 : c;
    start = c <= 0x20; // after a space or a control character
  }
  return Json.string(String.fromCharCodes(codes));
}

filter("title_case", titleCase);
