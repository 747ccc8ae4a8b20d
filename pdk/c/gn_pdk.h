/*
 * gn PDK for C: write only your hook logic; this kit owns the gn ABI v1 exports
 * (memory, gn_alloc, gn_free, gn_handle_hook), the allocator, the JSON envelopes
 * and typed wrappers for every host import.
 *
 * Freestanding: clang --target=wasm32, no libc. A plugin is one .c file that
 * includes this header and defines the table `gn_handlers`, compiled with gn_pdk.c:
 *
 *   clang --target=wasm32 -O2 -mbulk-memory -nostdlib -Wl,--no-entry -Wl,--strip-all \
 *     -I pdk/c pdk/c/gn_pdk.c my_plugin.c -o my_plugin.wasm
 *
 *   static int title(const gn_json *value, const gn_json *args, gn_answer *out) {
 *     if (value->kind != GN_STRING) return gn_bad_payload("title: the value must be a string");
 *     ...; gn_answer_string(out, text, len); return GN_OK;
 *   }
 *   const gn_handler gn_handlers[] = { GN_FILTER("title_case", title), GN_END };
 *
 * A host function is imported only if the plugin calls its wrapper (the linker
 * drops the rest), so the manifest needs only the capabilities really used.
 */
#ifndef GN_PDK_H
#define GN_PDK_H

#include <stddef.h>
#include <stdint.h>

/* Statuses (CONTRACT §3). A handler returns GN_OK or one of the negative ones. */
#define GN_OK 0
#define GN_GUEST_ERROR (-1)
#define GN_OUT_OF_MEMORY (-2)
#define GN_BAD_PAYLOAD (-3)
#define GN_UNKNOWN_HOOK (-4)

/* ---- JSON values (the envelope's value and args, decoded) ---- */
typedef enum { GN_NULL, GN_BOOL, GN_NUMBER, GN_STRING, GN_ARRAY, GN_OBJECT } gn_kind;

typedef struct gn_json {
  gn_kind kind;
  /* GN_STRING: bytes of `text` (UTF-8, escapes resolved, NUL-terminated);
   * GN_NUMBER: bytes of its JSON text; GN_ARRAY / GN_OBJECT: number of items. */
  uint32_t len;
  int boolean;           /* GN_BOOL */
  char *text;            /* GN_STRING, GN_NUMBER */
  struct gn_json *items; /* GN_ARRAY, GN_OBJECT */
  struct gn_json *keys;  /* GN_OBJECT: keys[i] (a GN_STRING) names items[i] */
} gn_json;

/* The member `key` of an object, or NULL. */
const gn_json *gn_json_get(const gn_json *object, const char *key);
/* Item `i` of an array, or NULL. */
const gn_json *gn_json_at(const gn_json *array, uint32_t i);
/* Whether a JSON number is an integer in int64 range; writes it to *out. */
int gn_json_int(const gn_json *number, int64_t *out);

/* ---- What a filter or guard answers ---- */
typedef struct gn_answer gn_answer;
/* Filter: the new value is this string (UTF-8, `len` bytes). */
void gn_answer_string(gn_answer *a, const char *text, uint32_t len);
/* Filter: the new value is this JSON value. */
void gn_answer_json(gn_answer *a, const gn_json *value);
/* Filter: the new value is this JSON text, written as is (it must be valid JSON). */
void gn_answer_raw(gn_answer *a, const char *json, uint32_t len);
/* Guard verdicts (no verdict set = continue). `reason`/`question` may be NULL. */
void gn_block(gn_answer *a, const char *reason);
void gn_ask(gn_answer *a, const char *question);
void gn_modify_string(gn_answer *a, const char *text, uint32_t len, const char *reason);

/* ---- Handlers ---- */
typedef int (*gn_filter_fn)(const gn_json *value, const gn_json *args, gn_answer *out);
typedef int (*gn_action_fn)(const gn_json *args);
typedef int (*gn_guard_fn)(const gn_json *subject, const gn_json *args, gn_answer *verdict);

typedef enum { GN_KIND_END, GN_KIND_FILTER, GN_KIND_ACTION, GN_KIND_GUARD } gn_hook_kind;
typedef struct {
  const char *name;
  gn_hook_kind kind;
  gn_filter_fn filter;
  gn_action_fn action;
  gn_guard_fn guard;
} gn_handler;

#define GN_FILTER(name, fn) {(name), GN_KIND_FILTER, (fn), 0, 0}
#define GN_ACTION(name, fn) {(name), GN_KIND_ACTION, 0, (fn), 0}
#define GN_GUARD(name, fn) {(name), GN_KIND_GUARD, 0, 0, (fn)}
#define GN_END {0, GN_KIND_END, 0, 0, 0}

/* Defined by the plugin: its handlers, ended by GN_END. */
extern const gn_handler gn_handlers[];

/* ---- Errors: return these from a handler ---- */
/* Fails the call as guest_error (-1) with `message`. */
int gn_error(const char *message);
/* Fails the call as bad_payload (-3) with `message`. */
int gn_bad_payload(const char *message);

/* ---- Memory ---- */
void *gn_malloc(uint32_t size); /* NULL when out of memory */
void gn_mfree(void *ptr);
void *gn_realloc(void *ptr, uint32_t size);

/* ---- Host imports (each needs its capability token in the manifest) ---- */
typedef enum { GN_DEBUG = 0, GN_INFO = 1, GN_WARN = 2, GN_ERROR = 3 } gn_level;
void gn_log(gn_level level, const char *message);     /* "log" */
int64_t gn_time_ms(void);                              /* "clock" */
/* "state": gets `key` into *value (gn_malloc'd, free with gn_mfree); 1 found, 0 absent. */
int gn_state_get(const char *key, char **value, uint32_t *len);
int gn_state_set(const char *key, const void *value, uint32_t len); /* 0 or a status */
int gn_state_del(const char *key);                                  /* 0 or a status */
int gn_emit(const char *name, const char *data, uint32_t len);      /* "emit": 0 or a status */
int64_t gn_fuel_remaining(void);                                    /* "fuel" */
/* "sink": appends an item (`kind`, `len` bytes of UTF-8 `data`) through the current call's sink
 * handle (a hook point binding with handles = ["sink"]); 0 staged, -6 denied (also when the call
 * received no handle), -3 bad kind or data, -7 over quota. */
int gn_sink_append(const char *kind, const char *data, uint32_t len);
/* The current call's sink handle (the envelope's "handles"."sink"): 1 and *out, or 0 when the call
 * has none. Valid only during that call; the PDK forgets it when the handler returns. */
int gn_sink_handle(int32_t *out);
/* Always granted: ends the call as `trapped` with `message`. */
_Noreturn void gn_panic(const char *message);

/* ---- Small helpers (no libc) ---- */
uint32_t gn_strlen(const char *s);
int gn_contains(const char *hay, uint32_t hay_len, const char *needle);
/* Writes the decimal digits of `n` to buf (at least 21 bytes); returns their count. */
uint32_t gn_itoa(int64_t n, char *buf);

#endif
