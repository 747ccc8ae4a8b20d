/*
 * Example plugin "c-title" (gn PDK for C): filter title_case upper-cases the first ASCII letter
 * of every word (a word starts after a space or a control character). Other values pass unchanged.
 * Built by (from the repository root):
 *   clang --target=wasm32 -O2 -mbulk-memory -nostdlib -Wl,--no-entry -Wl,--strip-all -I pdk/c pdk/c/gn_pdk.c examples/c-title/title.c -o examples/c-title/title.wasm
 */
#include "gn_pdk.h"

static int title_case(const gn_json *value, const gn_json *args, gn_answer *out) {
  (void)args;
  if (value->kind != GN_STRING) return GN_OK; /* not text: unchanged */
  char *s = value->text;
  int start = 1;
  for (uint32_t i = 0; i < value->len; i++) {
    char c = s[i];
    if (start && c >= 'a' && c <= 'z') s[i] = (char)(c - 32);
    start = (unsigned char)c <= ' '; /* after a space or a control character */
  }
  gn_answer_string(out, s, value->len);
  return GN_OK;
}

const gn_handler gn_handlers[] = {GN_FILTER("title_case", title_case), GN_END};
