/*
 * Example plugin "c-count" (gn PDK for C): action on_event counts the events it sees in the
 * host's state store (key "count", decimal text); needs the "state" capability.
 * Built by (from the repository root):
 *   clang --target=wasm32 -O2 -mbulk-memory -nostdlib -Wl,--no-entry -Wl,--strip-all -I pdk/c pdk/c/gn_pdk.c examples/c-count/count.c -o examples/c-count/count.wasm
 */
#include "gn_pdk.h"

static int count(const gn_json *args) {
  (void)args;
  char *text;
  uint32_t len;
  int64_t n = 0;
  if (gn_state_get("count", &text, &len)) {
    for (uint32_t i = 0; i < len; i++) {
      if (text[i] < '0' || text[i] > '9') {
        gn_mfree(text);
        return gn_error("count: the stored \"count\" is not a number");
      }
      n = n * 10 + (text[i] - '0');
    }
    gn_mfree(text);
  }
  char digits[21];
  uint32_t k = gn_itoa(n + 1, digits);
  if (gn_state_set("count", digits, k) != 0) return gn_error("count: the host refused to store the count");
  return GN_OK;
}

const gn_handler gn_handlers[] = {GN_ACTION("on_event", count), GN_END};
