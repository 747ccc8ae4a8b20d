/*
 * Test plugin "c-kit": every host-function wrapper and error path of the C PDK, one hook each
 * (tests/pdk_kit_test.ts calls them).
 * Built by (from the repository root):
 *   clang --target=wasm32 -O2 -mbulk-memory -nostdlib -Wl,--no-entry -Wl,--strip-all -I pdk/c pdk/c/gn_pdk.c tests/pdk/c-kit/kit.c -o tests/pdk/c-kit/kit.wasm
 */
#include "gn_pdk.h"

static int k_log(const gn_json *args) {
  const gn_json *a = gn_json_at(args, 0);
  gn_log(GN_WARN, a && a->kind == GN_STRING ? a->text : "no text");
  return GN_OK;
}
static int k_time(const gn_json *v, const gn_json *args, gn_answer *out) {
  (void)v; (void)args;
  char d[21];
  gn_answer_raw(out, d, gn_itoa(gn_time_ms(), d));
  return GN_OK;
}
static int k_fuel(const gn_json *v, const gn_json *args, gn_answer *out) {
  (void)v; (void)args;
  char d[21];
  gn_answer_raw(out, d, gn_itoa(gn_fuel_remaining(), d));
  return GN_OK;
}
static int k_emit(const gn_json *args) {
  const gn_json *a = gn_json_at(args, 0);
  if (!a || a->kind != GN_STRING) return gn_bad_payload("kit.emit: the first argument must be a string");
  return gn_emit("kit.event", a->text, a->len) == 0 ? GN_OK : gn_error("kit.emit: refused");
}
/* Sets "k" to the value's text, reads it back, deletes it, reads again: answers [read, absent]. */
static int k_state(const gn_json *v, const gn_json *args, gn_answer *out) {
  (void)args;
  if (v->kind != GN_STRING) return gn_bad_payload("kit.state: the value must be a string");
  if (gn_state_set("k", v->text, v->len) != 0) return gn_error("kit.state: set refused");
  char *got;
  uint32_t n;
  if (!gn_state_get("k", &got, &n)) return gn_error("kit.state: nothing read back");
  if (gn_state_del("k") != 0) return gn_error("kit.state: del refused");
  char *again;
  uint32_t m;
  int absent = !gn_state_get("k", &again, &m);
  gn_json items[2] = {{GN_STRING, n, 0, got, 0, 0}, {GN_BOOL, 0, absent, 0, 0, 0}};
  gn_json list = {GN_ARRAY, 2, 0, 0, items, 0};
  gn_answer_json(out, &list);
  gn_mfree(got);
  return GN_OK;
}
static int k_echo(const gn_json *v, const gn_json *args, gn_answer *out) {
  (void)args;
  gn_answer_json(out, v);
  return GN_OK;
}
static int k_fail(const gn_json *args) { (void)args; return gn_error("kit failed on purpose"); }
static int k_bad(const gn_json *args) { (void)args; return gn_bad_payload("kit wants other input"); }
static int k_panic(const gn_json *args) { (void)args; gn_panic("kit panicked"); }
static int k_modify(const gn_json *s, const gn_json *args, gn_answer *verdict) {
  (void)s; (void)args;
  gn_modify_string(verdict, "safe", 4, "replaced");
  return GN_OK;
}

/* Appends the subject's "note" through the call's sink handle; a refusal blocks with
 * "sink status <status>, handle <handle|none>". */
static int k_sink(const gn_json *s, const gn_json *args, gn_answer *verdict) {
  (void)args;
  const gn_json *note = gn_json_get(s, "note");
  if (!note || note->kind != GN_STRING) return gn_bad_payload("kit.sink: the subject needs a string note");
  int status = gn_sink_append("note", note->text, note->len);
  if (status == 0) return GN_OK;
  char reason[64], *p = reason;
  const char *lead = "sink status ";
  for (uint32_t i = 0; lead[i]; i++) *p++ = lead[i];
  p += gn_itoa(status, p);
  const char *mid = ", handle ";
  for (uint32_t i = 0; mid[i]; i++) *p++ = mid[i];
  int32_t h;
  if (gn_sink_handle(&h)) p += gn_itoa(h, p);
  else for (const char *n = "none"; *n; n++) *p++ = *n;
  *p = 0;
  gn_block(verdict, reason);
  return GN_OK;
}

const gn_handler gn_handlers[] = {
  GN_ACTION("kit.log", k_log),     GN_FILTER("kit.time", k_time),   GN_FILTER("kit.fuel", k_fuel),
  GN_ACTION("kit.emit", k_emit),   GN_FILTER("kit.state", k_state), GN_FILTER("kit.echo", k_echo),
  GN_ACTION("kit.fail", k_fail),   GN_ACTION("kit.bad", k_bad),     GN_ACTION("kit.panic", k_panic),
  GN_GUARD("kit.modify", k_modify), GN_GUARD("kit.sink", k_sink), GN_END,
};
