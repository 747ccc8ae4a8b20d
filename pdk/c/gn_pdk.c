/*
 * gn PDK for C: the implementation (see gn_pdk.h). Compiled with each plugin:
 *   clang --target=wasm32 -O2 -mbulk-memory -nostdlib -Wl,--no-entry -Wl,--strip-all \
 *     -I pdk/c pdk/c/gn_pdk.c my_plugin.c -o my_plugin.wasm
 */
#include "gn_pdk.h"

#define GN_IMPORT(n) __attribute__((import_module("env"), import_name(n)))
#define GN_EXPORT(n) __attribute__((export_name(n)))

GN_IMPORT("gn_panic") _Noreturn void gn__panic(const char *p, uint32_t n);
GN_IMPORT("gn_error_set") void gn__error_set(const char *p, uint32_t n);
GN_IMPORT("gn_log") void gn__log(int32_t level, const char *p, uint32_t n);
GN_IMPORT("gn_time_ms") int64_t gn__time_ms(void);
GN_IMPORT("gn_state_get") int64_t gn__state_get(const char *k, uint32_t kl);
GN_IMPORT("gn_state_set") int32_t gn__state_set(const char *k, uint32_t kl, const void *v, uint32_t vl);
GN_IMPORT("gn_state_del") int32_t gn__state_del(const char *k, uint32_t kl);
GN_IMPORT("gn_event_emit") int32_t gn__event_emit(const char *n, uint32_t nl, const char *d, uint32_t dl);
GN_IMPORT("gn_fuel_remaining") int64_t gn__fuel_remaining(void);
GN_IMPORT("gn_sink_append") int32_t gn__sink_append(int32_t h, const char *k, uint32_t kl, const char *d, uint32_t dl);

/* ---- libc pieces the compiler may call (lowered to memory.copy/fill) ---- */
void *memcpy(void *d, const void *s, size_t n) { __builtin_memcpy(d, s, n); return d; }
void *memmove(void *d, const void *s, size_t n) { __builtin_memmove(d, s, n); return d; }
void *memset(void *d, int c, size_t n) { __builtin_memset(d, c, n); return d; }
__attribute__((no_builtin)) int memcmp(const void *a, const void *b, size_t n) {
  const unsigned char *x = a, *y = b;
  for (size_t i = 0; i < n; i++) {
    if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
  }
  return 0;
}
int bcmp(const void *a, const void *b, size_t n) { return memcmp(a, b, n); }

uint32_t gn_strlen(const char *s) {
  uint32_t n = 0;
  while (s[n]) n++;
  return n;
}

/* ---- Allocator: power-of-two size classes with free lists; freed blocks are reused ---- */
/* A block of class c is 2^c bytes: an 8-byte header (class, magic) then the user bytes. */
#define GN_MAGIC 0x676e6d61u
#define GN_MIN_CLASS 4
#define GN_MAX_CLASS 31
extern unsigned char __heap_base;
static uintptr_t gn_top;
static void *gn_free_lists[GN_MAX_CLASS + 1];

void *gn_malloc(uint32_t size) {
  if (size > (1u << GN_MAX_CLASS) - 8) return 0;
  uint32_t c = GN_MIN_CLASS;
  while ((1u << c) < size + 8) c++;
  uint32_t *block = gn_free_lists[c];
  if (block) {
    gn_free_lists[c] = *(void **)(block + 2);
  } else {
    if (!gn_top) gn_top = ((uintptr_t)&__heap_base + 15) & ~(uintptr_t)15;
    uintptr_t end = gn_top + ((uintptr_t)1 << c);
    if (end < gn_top) return 0;
    uintptr_t have = __builtin_wasm_memory_size(0) * 65536u;
    if (end > have) {
      uintptr_t pages = (end - have + 65535u) / 65536u;
      if (__builtin_wasm_memory_grow(0, pages) == (size_t)-1) return 0;
    }
    block = (uint32_t *)gn_top;
    gn_top = end;
  }
  block[0] = c;
  block[1] = GN_MAGIC;
  return block + 2;
}

void gn_mfree(void *ptr) {
  if (!ptr) return;
  uint32_t *block = (uint32_t *)ptr - 2;
  if (block[1] != GN_MAGIC || block[0] < GN_MIN_CLASS || block[0] > GN_MAX_CLASS) return;
  block[1] = 0;
  *(void **)(block + 2) = gn_free_lists[block[0]];
  gn_free_lists[block[0]] = block;
}

void *gn_realloc(void *ptr, uint32_t size) {
  if (!ptr) return gn_malloc(size);
  uint32_t *block = (uint32_t *)ptr - 2;
  uint32_t have = (1u << block[0]) - 8;
  if (size <= have) return ptr;
  void *next = gn_malloc(size);
  if (!next) return 0;
  __builtin_memcpy(next, ptr, have);
  gn_mfree(ptr);
  return next;
}

GN_EXPORT("gn_alloc") void *gn_alloc(uint32_t size) { return gn_malloc(size); }
GN_EXPORT("gn_free") void gn_free(void *ptr, uint32_t size) { (void)size; gn_mfree(ptr); }

/* ---- A growable byte buffer ---- */
typedef struct { char *p; uint32_t len, cap; int oom; } gn_buf;

static void buf_reserve(gn_buf *b, uint32_t more) {
  if (b->oom || b->len + more <= b->cap) return;
  uint32_t cap = b->cap ? b->cap : 56;
  while (cap < b->len + more) cap *= 2;
  char *p = gn_realloc(b->p, cap);
  if (!p) { b->oom = 1; return; }
  b->p = p;
  b->cap = cap;
}
static void buf_put(gn_buf *b, const char *s, uint32_t n) {
  buf_reserve(b, n);
  if (b->oom) return;
  __builtin_memcpy(b->p + b->len, s, n);
  b->len += n;
}
static void buf_byte(gn_buf *b, char c) { buf_put(b, &c, 1); }
static void buf_free(gn_buf *b) { gn_mfree(b->p); b->p = 0; b->len = b->cap = 0; }

/* Nonzero when one of the 8 bytes of w is '"', '\\' or a control character (SWAR: strings are
 * scanned a word at a time; a false hit can only follow a true one in the same word). */
static inline uint64_t special8(uint64_t w) {
  const uint64_t ones = 0x0101010101010101ull;
  uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');
  return (((q - ones) & ~q) | ((b - ones) & ~b) | ((w - ones * 0x20) & ~w)) & (ones * 0x80);
}
static inline uint64_t load8(const void *p) {
  uint64_t w;
  __builtin_memcpy(&w, p, 8);
  return w;
}

static const char HEX[] = "0123456789abcdef";
static void buf_json_string(gn_buf *b, const char *s, uint32_t n) {
  buf_reserve(b, n + 2);
  buf_byte(b, '"');
  uint32_t run = 0;
  for (uint32_t i = 0; i < n; i++) {
    while (i + 8 <= n && !special8(load8(s + i))) i += 8;
    if (i >= n) break;
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    buf_put(b, s + run, i - run);
    run = i + 1;
    char e[6] = {'\\', 0, 0, 0, 0, 0};
    switch (c) {
      case '"': e[1] = '"'; buf_put(b, e, 2); break;
      case '\\': e[1] = '\\'; buf_put(b, e, 2); break;
      case '\n': e[1] = 'n'; buf_put(b, e, 2); break;
      case '\r': e[1] = 'r'; buf_put(b, e, 2); break;
      case '\t': e[1] = 't'; buf_put(b, e, 2); break;
      default:
        e[1] = 'u'; e[2] = '0'; e[3] = '0'; e[4] = HEX[c >> 4]; e[5] = HEX[c & 15];
        buf_put(b, e, 6);
    }
  }
  buf_put(b, s + run, n - run);
  buf_byte(b, '"');
}

static void buf_json(gn_buf *b, const gn_json *v) {
  switch (v->kind) {
    case GN_NULL: buf_put(b, "null", 4); break;
    case GN_BOOL: if (v->boolean) buf_put(b, "true", 4); else buf_put(b, "false", 5); break;
    case GN_NUMBER: buf_put(b, v->text, v->len); break;
    case GN_STRING: buf_json_string(b, v->text, v->len); break;
    case GN_ARRAY:
    case GN_OBJECT:
      buf_byte(b, v->kind == GN_ARRAY ? '[' : '{');
      for (uint32_t i = 0; i < v->len; i++) {
        if (i) buf_byte(b, ',');
        if (v->kind == GN_OBJECT) {
          buf_json_string(b, v->keys[i].text, v->keys[i].len);
          buf_byte(b, ':');
        }
        buf_json(b, &v->items[i]);
      }
      buf_byte(b, v->kind == GN_ARRAY ? ']' : '}');
  }
}

/* ---- JSON reader ---- */
typedef struct { const unsigned char *p, *end; int depth; const char *error; } gn_reader;

static void json_free(gn_json *v) {
  if (v->kind == GN_STRING || v->kind == GN_NUMBER) gn_mfree(v->text);
  if (v->kind == GN_ARRAY || v->kind == GN_OBJECT) {
    for (uint32_t i = 0; i < v->len; i++) {
      json_free(&v->items[i]);
      if (v->keys) json_free(&v->keys[i]);
    }
    gn_mfree(v->items);
    gn_mfree(v->keys);
  }
  v->kind = GN_NULL;
}

static void skip_ws(gn_reader *r) {
  while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r')) r->p++;
}

static int hex4(const unsigned char *p, uint32_t *out) {
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) {
    unsigned char c = p[i];
    v <<= 4;
    if (c >= '0' && c <= '9') v |= c - '0';
    else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
    else return 0;
  }
  *out = v;
  return 1;
}

static int read_string(gn_reader *r, gn_json *out) {
  const unsigned char *s = ++r->p, *end = r->end; /* after the quote */
  const unsigned char *q = s;
  int escaped = 0;
  for (;;) {
    while (q + 8 <= end && !special8(load8(q))) q += 8;
    if (q >= end) break;
    if (*q == '"') break;
    if (*q < 0x20) { r->error = "a control character inside a string"; return 0; }
    if (*q == '\\') { escaped = 1; q += 2; } else q++;
  }
  if (q >= end) { r->error = "an unterminated string"; return 0; }
  char *t = gn_malloc((uint32_t)(q - s) + 1);
  if (!t) { r->error = "out of memory"; return 0; }
  uint32_t n = 0;
  if (!escaped) {
    n = (uint32_t)(q - s);
    __builtin_memcpy(t, s, n);
  }
  for (const unsigned char *p = escaped ? s : q; p < q;) {
    if (*p != '\\') {
      const unsigned char *run = p;
      while (p < q && *p != '\\') p++;
      __builtin_memcpy(t + n, run, (size_t)(p - run));
      n += (uint32_t)(p - run);
      continue;
    }
    unsigned char e = p[1];
    p += 2;
    switch (e) {
      case '"': t[n++] = '"'; break;
      case '\\': t[n++] = '\\'; break;
      case '/': t[n++] = '/'; break;
      case 'b': t[n++] = '\b'; break;
      case 'f': t[n++] = '\f'; break;
      case 'n': t[n++] = '\n'; break;
      case 'r': t[n++] = '\r'; break;
      case 't': t[n++] = '\t'; break;
      case 'u': {
        uint32_t cp;
        if (q - p < 4 || !hex4(p, &cp)) goto bad;
        p += 4;
        if (cp >= 0xd800 && cp < 0xdc00 && q - p >= 6 && p[0] == '\\' && p[1] == 'u') {
          uint32_t lo;
          if (hex4(p + 2, &lo) && lo >= 0xdc00 && lo < 0xe000) {
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            p += 6;
          }
        }
        if (cp >= 0xd800 && cp < 0xe000) cp = 0xfffd; /* a lone surrogate */
        if (cp < 0x80) t[n++] = (char)cp;
        else if (cp < 0x800) { t[n++] = (char)(0xc0 | cp >> 6); t[n++] = (char)(0x80 | (cp & 63)); }
        else if (cp < 0x10000) {
          t[n++] = (char)(0xe0 | cp >> 12); t[n++] = (char)(0x80 | ((cp >> 6) & 63));
          t[n++] = (char)(0x80 | (cp & 63));
        } else {
          t[n++] = (char)(0xf0 | cp >> 18); t[n++] = (char)(0x80 | ((cp >> 12) & 63));
          t[n++] = (char)(0x80 | ((cp >> 6) & 63)); t[n++] = (char)(0x80 | (cp & 63));
        }
        break;
      }
      default: goto bad;
    }
  }
  t[n] = 0;
  r->p = q + 1;
  out->kind = GN_STRING;
  out->text = t;
  out->len = n;
  return 1;
bad:
  gn_mfree(t);
  r->error = "a bad escape in a string";
  return 0;
}

static int read_value(gn_reader *r, gn_json *out);

static int read_list(gn_reader *r, gn_json *out, int object) {
  uint32_t cap = 0;
  r->p++;
  out->kind = object ? GN_OBJECT : GN_ARRAY;
  out->len = 0;
  out->items = 0;
  out->keys = 0;
  skip_ws(r);
  if (r->p < r->end && *r->p == (object ? '}' : ']')) { r->p++; return 1; }
  for (;;) {
    if (out->len == cap) {
      cap = cap ? cap * 2 : 4;
      gn_json *items = gn_realloc(out->items, cap * sizeof(gn_json));
      if (!items) { r->error = "out of memory"; return 0; }
      out->items = items;
      if (object) {
        gn_json *keys = gn_realloc(out->keys, cap * sizeof(gn_json));
        if (!keys) { r->error = "out of memory"; return 0; }
        out->keys = keys;
      }
    }
    gn_json *item = &out->items[out->len];
    item->kind = GN_NULL;
    if (object) {
      gn_json *key = &out->keys[out->len];
      key->kind = GN_NULL;
      skip_ws(r);
      if (r->p >= r->end || *r->p != '"') { r->error = "an object key that is not a string"; return 0; }
      if (!read_string(r, key)) return 0;
      out->len++;
      skip_ws(r);
      if (r->p >= r->end || *r->p != ':') { r->error = "a missing ':' in an object"; return 0; }
      r->p++;
    } else {
      out->len++;
    }
    if (!read_value(r, item)) return 0;
    skip_ws(r);
    if (r->p < r->end && *r->p == ',') { r->p++; continue; }
    if (r->p < r->end && *r->p == (object ? '}' : ']')) { r->p++; return 1; }
    r->error = object ? "a missing ',' or '}' in an object" : "a missing ',' or ']' in an array";
    return 0;
  }
}

static int read_value(gn_reader *r, gn_json *out) {
  out->kind = GN_NULL;
  skip_ws(r);
  if (r->p >= r->end) { r->error = "a missing value"; return 0; }
  unsigned char c = *r->p;
  if (c == '"') return read_string(r, out);
  if (c == '{' || c == '[') {
    if (++r->depth > 128) { r->error = "nesting deeper than 128"; return 0; }
    int ok = read_list(r, out, c == '{');
    r->depth--;
    return ok;
  }
  uint32_t left = (uint32_t)(r->end - r->p);
  if (left >= 4 && __builtin_memcmp(r->p, "null", 4) == 0) { r->p += 4; return 1; }
  if (left >= 4 && __builtin_memcmp(r->p, "true", 4) == 0) {
    r->p += 4; out->kind = GN_BOOL; out->boolean = 1; return 1;
  }
  if (left >= 5 && __builtin_memcmp(r->p, "false", 5) == 0) {
    r->p += 5; out->kind = GN_BOOL; out->boolean = 0; return 1;
  }
  const unsigned char *s = r->p, *p = r->p;
  if (p < r->end && *p == '-') p++;
  const unsigned char *digits = p;
  while (p < r->end && *p >= '0' && *p <= '9') p++;
  if (p == digits) { r->error = "an unexpected character"; return 0; }
  if (p < r->end && *p == '.') {
    const unsigned char *f = ++p;
    while (p < r->end && *p >= '0' && *p <= '9') p++;
    if (p == f) { r->error = "a bad number"; return 0; }
  }
  if (p < r->end && (*p == 'e' || *p == 'E')) {
    p++;
    if (p < r->end && (*p == '+' || *p == '-')) p++;
    const unsigned char *x = p;
    while (p < r->end && *p >= '0' && *p <= '9') p++;
    if (p == x) { r->error = "a bad number"; return 0; }
  }
  uint32_t n = (uint32_t)(p - s);
  char *t = gn_malloc(n + 1);
  if (!t) { r->error = "out of memory"; return 0; }
  __builtin_memcpy(t, s, n);
  t[n] = 0;
  r->p = p;
  out->kind = GN_NUMBER;
  out->text = t;
  out->len = n;
  return 1;
}

const gn_json *gn_json_get(const gn_json *o, const char *key) {
  if (!o || o->kind != GN_OBJECT) return 0;
  uint32_t n = gn_strlen(key);
  for (uint32_t i = 0; i < o->len; i++) {
    if (o->keys[i].len == n && __builtin_memcmp(o->keys[i].text, key, n) == 0) return &o->items[i];
  }
  return 0;
}

const gn_json *gn_json_at(const gn_json *a, uint32_t i) {
  return a && a->kind == GN_ARRAY && i < a->len ? &a->items[i] : 0;
}

int gn_json_int(const gn_json *v, int64_t *out) {
  if (!v || v->kind != GN_NUMBER) return 0;
  const char *p = v->text;
  int neg = *p == '-';
  if (neg) p++;
  uint64_t n = 0;
  for (; *p; p++) {
    if (*p < '0' || *p > '9') return 0;
    if (n > (UINT64_C(9223372036854775808) - (uint64_t)(*p - '0')) / 10) return 0;
    n = n * 10 + (uint64_t)(*p - '0');
  }
  if (!neg && n > INT64_MAX) return 0;
  *out = neg ? (int64_t)(0 - n) : (int64_t)n;
  return 1;
}

/* ---- Answers ---- */
enum { DECISION_CONTINUE, DECISION_BLOCK, DECISION_ASK, DECISION_MODIFY };
struct gn_answer { int has_value; int decision; gn_buf value; gn_buf note; };

void gn_answer_string(gn_answer *a, const char *text, uint32_t len) {
  a->value.len = 0;
  buf_json_string(&a->value, text, len);
  a->has_value = 1;
}
void gn_answer_json(gn_answer *a, const gn_json *value) {
  a->value.len = 0;
  buf_json(&a->value, value);
  a->has_value = 1;
}
void gn_answer_raw(gn_answer *a, const char *json, uint32_t len) {
  a->value.len = 0;
  buf_put(&a->value, json, len);
  a->has_value = 1;
}
static void set_note(gn_answer *a, int decision, const char *note) {
  a->decision = decision;
  a->note.len = 0;
  if (note) buf_json_string(&a->note, note, gn_strlen(note));
}
void gn_block(gn_answer *a, const char *reason) { set_note(a, DECISION_BLOCK, reason); }
void gn_ask(gn_answer *a, const char *question) { set_note(a, DECISION_ASK, question); }
void gn_modify_string(gn_answer *a, const char *text, uint32_t len, const char *reason) {
  gn_answer_string(a, text, len);
  set_note(a, DECISION_MODIFY, reason);
}

/* ---- Errors and host imports ---- */
int gn_error(const char *message) {
  gn__error_set(message, gn_strlen(message));
  return GN_GUEST_ERROR;
}
int gn_bad_payload(const char *message) {
  gn__error_set(message, gn_strlen(message));
  return GN_BAD_PAYLOAD;
}
void gn_panic(const char *message) { gn__panic(message, gn_strlen(message)); }
void gn_log(gn_level level, const char *message) { gn__log(level, message, gn_strlen(message)); }
int64_t gn_time_ms(void) { return gn__time_ms(); }
int64_t gn_fuel_remaining(void) { return gn__fuel_remaining(); }
int gn_state_get(const char *key, char **value, uint32_t *len) {
  uint64_t packed = (uint64_t)gn__state_get(key, gn_strlen(key));
  uint32_t ptr = (uint32_t)(packed >> 32);
  int32_t n = (int32_t)(uint32_t)packed;
  if (ptr == 0 || n <= 0) { *value = 0; *len = 0; return 0; }
  *value = (char *)(uintptr_t)ptr;
  *len = (uint32_t)n;
  return 1;
}
int gn_state_set(const char *key, const void *value, uint32_t len) {
  return gn__state_set(key, gn_strlen(key), value, len);
}
int gn_state_del(const char *key) { return gn__state_del(key, gn_strlen(key)); }
int gn_emit(const char *name, const char *data, uint32_t len) {
  return gn__event_emit(name, gn_strlen(name), data, len);
}

/* The current call's sink handle (set by gn_handle_hook for the handler's run only). */
static int gn_has_sink;
static int32_t gn_sink;
int gn_sink_handle(int32_t *out) {
  if (gn_has_sink) *out = gn_sink;
  return gn_has_sink;
}
int gn_sink_append(const char *kind, const char *data, uint32_t len) {
  if (!gn_has_sink) return -6;
  return gn__sink_append(gn_sink, kind, gn_strlen(kind), data, len);
}

int gn_contains(const char *hay, uint32_t n, const char *needle) {
  uint32_t m = gn_strlen(needle);
  if (m == 0) return 1;
  for (uint32_t i = 0; i + m <= n; i++) {
    if (hay[i] == needle[0] && __builtin_memcmp(hay + i, needle, m) == 0) return 1;
  }
  return 0;
}

uint32_t gn_itoa(int64_t v, char *buf) {
  char tmp[21];
  uint32_t n = 0, k = 0;
  uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
  do { tmp[n++] = (char)('0' + u % 10); u /= 10; } while (u);
  if (v < 0) buf[k++] = '-';
  while (n) buf[k++] = tmp[--n];
  return k;
}

/* ---- The entry point ---- */
static int64_t pack(uint32_t ptr, int32_t len) { return (int64_t)(((uint64_t)ptr << 32) | (uint32_t)len); }

static const char *const KIND_NAMES[] = {"", "filter", "action", "guard"};
static const char *const DECISIONS[] = {"continue", "block", "ask", "modify"};

GN_EXPORT("gn_handle_hook")
int64_t gn_handle_hook(const char *name, uint32_t name_len, const char *payload, uint32_t payload_len) {
  const gn_handler *h = gn_handlers;
  while (h->kind != GN_KIND_END &&
         !(gn_strlen(h->name) == name_len && __builtin_memcmp(h->name, name, name_len) == 0)) h++;
  if (h->kind == GN_KIND_END) return pack(0, GN_UNKNOWN_HOOK);

  gn_reader r = {(const unsigned char *)payload, (const unsigned char *)payload + payload_len, 0, 0};
  gn_json env = {GN_NULL, 0, 0, 0, 0, 0};
  if (!read_value(&r, &env) || (skip_ws(&r), r.p != r.end) || env.kind != GN_OBJECT) {
    json_free(&env);
    if (r.error && r.error[0] == 'o') return pack(0, GN_OUT_OF_MEMORY);
    gn_buf m = {0, 0, 0, 0};
    const char *lead = "The payload is not a JSON envelope object: ";
    buf_put(&m, lead, gn_strlen(lead));
    const char *why = r.error ? r.error : "trailing text or not an object";
    buf_put(&m, why, gn_strlen(why));
    if (!m.oom) gn__error_set(m.p, m.len);
    buf_free(&m);
    return pack(0, GN_BAD_PAYLOAD);
  }
  const gn_json *kind = gn_json_get(&env, "kind");
  const char *want = KIND_NAMES[h->kind];
  if (!kind || kind->kind != GN_STRING || kind->len != gn_strlen(want) ||
      __builtin_memcmp(kind->text, want, kind->len) != 0) {
    json_free(&env);
    return pack(0, gn_bad_payload("The envelope's \"kind\" does not match the kind this hook is registered with"));
  }
  static const gn_json NUL = {GN_NULL, 0, 0, 0, 0, 0};
  static const gn_json EMPTY = {GN_ARRAY, 0, 0, 0, 0, 0};
  const gn_json *value = gn_json_get(&env, "value");
  const gn_json *args = gn_json_get(&env, "args");
  if (!value) value = &NUL;
  if (!args || args->kind != GN_ARRAY) args = &EMPTY;
  int64_t sink;
  gn_has_sink = gn_json_int(gn_json_get(gn_json_get(&env, "handles"), "sink"), &sink) &&
                sink >= INT32_MIN && sink <= INT32_MAX;
  gn_sink = gn_has_sink ? (int32_t)sink : 0;

  gn_answer a = {0, DECISION_CONTINUE, {0, 0, 0, 0}, {0, 0, 0, 0}};
  int status = h->kind == GN_KIND_FILTER ? h->filter(value, args, &a)
             : h->kind == GN_KIND_ACTION ? h->action(args)
             : h->guard(value, args, &a);
  gn_has_sink = 0;
  json_free(&env);
  int64_t result = pack(0, 0);
  if (status < 0) {
    result = pack(0, status);
  } else if (a.value.oom || a.note.oom) {
    result = pack(0, GN_OUT_OF_MEMORY);
  } else if (h->kind == GN_KIND_FILTER && a.has_value) {
    gn_buf out = {0, 0, 0, 0};
    buf_reserve(&out, a.value.len + 10);
    buf_put(&out, "{\"value\":", 9);
    buf_put(&out, a.value.p, a.value.len);
    buf_byte(&out, '}');
    result = out.oom ? pack(0, GN_OUT_OF_MEMORY) : pack((uint32_t)(uintptr_t)out.p, (int32_t)out.len);
    if (out.oom) buf_free(&out);
  } else if (h->kind == GN_KIND_GUARD && (a.decision != DECISION_CONTINUE || a.note.len)) {
    gn_buf out = {0, 0, 0, 0};
    buf_put(&out, "{\"decision\":\"", 13);
    const char *d = DECISIONS[a.decision];
    buf_put(&out, d, gn_strlen(d));
    buf_byte(&out, '"');
    if (a.note.len) {
      if (a.decision == DECISION_ASK) buf_put(&out, ",\"question\":", 12);
      else buf_put(&out, ",\"reason\":", 10);
      buf_put(&out, a.note.p, a.note.len);
    }
    if (a.decision == DECISION_MODIFY && a.has_value) {
      buf_put(&out, ",\"value\":", 9);
      buf_put(&out, a.value.p, a.value.len);
    }
    buf_byte(&out, '}');
    result = out.oom ? pack(0, GN_OUT_OF_MEMORY) : pack((uint32_t)(uintptr_t)out.p, (int32_t)out.len);
    if (out.oom) buf_free(&out);
  }
  buf_free(&a.value);
  buf_free(&a.note);
  return result;
}
