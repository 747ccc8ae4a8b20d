// Example plugin "as-title" (gn PDK for AssemblyScript): filter title_case upper-cases the first
// ASCII letter of every word (a word starts after a space or a control character). Other values pass unchanged.
// Built by (in this folder; asconfig.json extends the PDK's):
//   npx -y -p assemblyscript@0.28.20 asc title.ts -o title.wasm
import { filter, Json } from "../../pdk/assemblyscript/index";
export { gn_alloc, gn_free, gn_handle_hook } from "../../pdk/assemblyscript/index";

function titleCase(value: Json, args: Array<Json>): Json | null {
  if (!value.isString()) return null; // not text: unchanged
  const s = value.str;
  const n = s.length;
  const units = new StaticArray<u16>(n); // the UTF-16 code units of the answer
  let start = true;
  for (let i = 0; i < n; i++) {
    const c = <u16>s.charCodeAt(i);
    unchecked((units[i] = start && c >= 0x61 && c <= 0x7a ? c - 32 : c));
    start = c <= 0x20; // after a space or a control character
  }
  return Json.string(String.UTF16.decodeUnsafe(changetype<usize>(units), n << 1));
}

filter("title_case", titleCase);
