/*
 * Example plugin "c-guard" (gn PDK for C): guard run_command blocks a command containing
 * "rm -rf", asks before one containing "sudo", and lets the rest continue.
 * Built by (from the repository root):
 *   clang --target=wasm32 -O2 -mbulk-memory -nostdlib -Wl,--no-entry -Wl,--strip-all -I pdk/c pdk/c/gn_pdk.c examples/c-guard/guard.c -o examples/c-guard/guard.wasm
 */
#include "gn_pdk.h"

static int run_command(const gn_json *subject, const gn_json *args, gn_answer *verdict) {
  (void)args;
  if (subject->kind != GN_STRING) return GN_OK; /* continue */
  if (gn_contains(subject->text, subject->len, "rm -rf")) {
    gn_block(verdict, "refusing a command containing \"rm -rf\"");
  } else if (gn_contains(subject->text, subject->len, "sudo")) {
    gn_ask(verdict, "run this command as root?");
  }
  return GN_OK;
}

const gn_handler gn_handlers[] = {GN_GUARD("run_command", run_command), GN_END};
