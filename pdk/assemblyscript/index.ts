// gn PDK for AssemblyScript: write only your hook logic. This file owns the gn ABI v1 glue
// (gn_alloc / gn_free on the runtime's allocator, gn_handle_hook dispatch, JSON envelopes and
// answers), wraps every host import, and maps `abort` (a failed assertion, a `throw`) to
// gn_panic through this folder's asconfig.json, so the build needs no extra flag.
//
//   import { filter, Json } from "../../pdk/assemblyscript/index";
//   export { gn_alloc, gn_free, gn_handle_hook } from "../../pdk/assemblyscript/index";
//   function shout(value: Json, args: Array<Json>): Json | null {
//     return value.isString() ? Json.string(value.str.toUpperCase()) : null;
//   }
//   filter("shout", shout);
//
// Build (in the plugin's folder, whose asconfig.json extends this folder's):
//   npx -y -p assemblyscript@0.28.20 asc my_plugin.ts -o my_plugin.wasm
//
// A host function is imported only if the plugin calls its wrapper (the compiler drops the
// rest), so the manifest needs only the capabilities really used.

// ---- Host imports (raw) -----------------------------------------------------------------------

@external("env", "gn_panic")
declare function host_panic(ptr: usize, len: usize): void;
@external("env", "gn_error_set")
declare function host_error_set(ptr: usize, len: usize): void;
@external("env", "gn_log")
declare function host_log(level: i32, ptr: usize, len: usize): void;
@external("env", "gn_time_ms")
declare function host_time_ms(): i64;
@external("env", "gn_state_get")
declare function host_state_get(kp: usize, kl: usize): i64;
@external("env", "gn_state_set")
declare function host_state_set(kp: usize, kl: usize, vp: usize, vl: usize): i32;
@external("env", "gn_state_del")
declare function host_state_del(kp: usize, kl: usize): i32;
@external("env", "gn_event_emit")
declare function host_event_emit(np: usize, nl: usize, dp: usize, dl: usize): i32;
@external("env", "gn_fuel_remaining")
declare function host_fuel_remaining(): i64;
@external("env", "gn_sink_append")
declare function host_sink_append(h: i32, kp: usize, kl: usize, dp: usize, dl: usize): i32;

// ---- Typed wrappers -----------------------------------------------------------------------------

/** Log levels of `gn_log`. */
export enum Level {
  Debug = 0,
  Info = 1,
  Warn = 2,
  Error = 3,
}

/** Logs `message` (capability `log`). */
export function log(level: Level, message: string): void {
  const b = String.UTF8.encode(message);
  host_log(level, changetype<usize>(b), b.byteLength);
}
/** Wall-clock Unix milliseconds (capability `clock`). */
export function timeMs(): i64 {
  return host_time_ms();
}
/** What is left of this call's fuel (capability `fuel`). */
export function fuelRemaining(): i64 {
  return host_fuel_remaining();
}
/** The value of `key` in the plugin's state as text, or null (capability `state`). */
export function stateGet(key: string): string | null {
  const k = String.UTF8.encode(key);
  const packed = <u64> host_state_get(changetype<usize>(k), k.byteLength);
  const ptr = <usize> (packed >> 32);
  const len = <i32> (<u32> packed);
  if (ptr == 0 || len <= 0) return null;
  const s = String.UTF8.decodeUnsafe(ptr, len);
  heap.free(ptr); // the host wrote it through gn_alloc
  return s;
}
/** Sets `key` to `value` (capability `state`); returns 0 or the host's status. */
export function stateSet(key: string, value: string): i32 {
  const k = String.UTF8.encode(key);
  const v = String.UTF8.encode(value);
  return host_state_set(changetype<usize>(k), k.byteLength, changetype<usize>(v), v.byteLength);
}
/** Deletes `key` (capability `state`); returns 0 or the host's status. */
export function stateDel(key: string): i32 {
  const k = String.UTF8.encode(key);
  return host_state_del(changetype<usize>(k), k.byteLength);
}
/** Appends an event (capability `emit`); returns 0 or the host's status. */
export function emit(name: string, data: string): i32 {
  const n = String.UTF8.encode(name);
  const d = String.UTF8.encode(data);
  return host_event_emit(changetype<usize>(n), n.byteLength, changetype<usize>(d), d.byteLength);
}
let hasSink: bool = false;
let sink: i32 = 0;
/**
 * Whether the current call received a sink handle (the envelope's `handles.sink`: a hook point
 * binding with `handles = ["sink"]`). Valid only during that call.
 */
export function hasSinkHandle(): bool {
  return hasSink;
}
/** The current call's sink handle (0 when {@link hasSinkHandle} is false). */
export function sinkHandle(): i32 {
  return sink;
}
/**
 * Appends an item through the current call's sink handle (capability `sink`; only kinds the host
 * approved); returns 0 (staged) or the host's status: -6 (also when the call has no handle), -3, -7.
 */
export function sinkAppend(kind: string, data: string): i32 {
  if (!hasSink) return -6;
  const k = String.UTF8.encode(kind);
  const d = String.UTF8.encode(data);
  return host_sink_append(
    sink,
    changetype<usize>(k),
    k.byteLength,
    changetype<usize>(d),
    d.byteLength,
  );
}
/** Ends the call as `trapped` with `message` (always granted). */
export function panic(message: string): void {
  const b = String.UTF8.encode(message);
  host_panic(changetype<usize>(b), b.byteLength);
  unreachable();
}

/** `abort` (assertions, `throw`): becomes gn_panic with the message and where it happened. */
export function gnAbort(
  message: string | null,
  fileName: string | null,
  line: u32,
  column: u32,
): void {
  const m = message !== null ? message : "abort";
  const f = fileName !== null ? fileName : "?";
  panic(m + " at " + f + ":" + line.toString() + ":" + column.toString());
}

// ---- Errors -------------------------------------------------------------------------------------

const GUEST_ERROR: i32 = -1;
const OUT_OF_MEMORY: i32 = -2;
const BAD_PAYLOAD: i32 = -3;
const UNKNOWN_HOOK: i32 = -4;

let failStatus: i32 = 0;
let failMessage: string = "";

/** Fails the current call as `guest_error` with `message` once the handler returns. */
export function fail(message: string): void {
  failStatus = GUEST_ERROR;
  failMessage = message;
}
/** Fails the current call as `bad_payload` with `message` once the handler returns. */
export function failBadPayload(message: string): void {
  failStatus = BAD_PAYLOAD;
  failMessage = message;
}

// ---- JSON ---------------------------------------------------------------------------------------

/** The kinds of a {@link Json} value. */
export enum Kind {
  Null,
  Bool,
  Number,
  String,
  Array,
  Object,
}

/** A JSON value; numbers keep their text (they round-trip exactly). */
export class Json {
  kind: Kind = Kind.Null;
  /** Kind.Bool */
  bool: bool = false;
  /** Kind.String: the string; Kind.Number: its JSON text. */
  str: string = "";
  private _items: Array<Json> | null = null;
  private _keys: Array<string> | null = null;
  /** Kind.Array: the items; Kind.Object: the member values (made on first use). */
  get items(): Array<Json> {
    let a = this._items;
    if (a === null) this._items = a = new Array<Json>();
    return a;
  }
  /** Kind.Object: the member names (made on first use). */
  get keys(): Array<string> {
    let k = this._keys;
    if (k === null) this._keys = k = new Array<string>();
    return k;
  }

  static null(): Json {
    return new Json();
  }
  static bool(b: bool): Json {
    const j = new Json();
    j.kind = Kind.Bool;
    j.bool = b;
    return j;
  }
  static string(s: string): Json {
    const j = new Json();
    j.kind = Kind.String;
    j.str = s;
    return j;
  }
  /** A number from its JSON text, e.g. "42" or "1.5e3". */
  static number(text: string): Json {
    const j = new Json();
    j.kind = Kind.Number;
    j.str = text;
    return j;
  }
  isString(): bool {
    return this.kind == Kind.String;
  }
  /** The member `key` of an object, or null. */
  get(key: string): Json | null {
    if (this.kind != Kind.Object) return null;
    for (let i = 0; i < this.keys.length; i++) if (this.keys[i] == key) return this.items[i];
    return null;
  }
  /** The JSON text of this value. */
  toJSON(): string {
    const w = new Writer(32);
    w.json(this);
    const s = String.UTF8.decodeUnsafe(w.ptr, w.len);
    heap.free(w.ptr);
    return s;
  }
  /** Parses JSON text; null (with `parseError` set) when it is not JSON. */
  static parse(text: string): Json | null {
    const b = String.UTF8.encode(text);
    const r = new Reader(changetype<usize>(b), changetype<usize>(b) + b.byteLength);
    const v = r.value();
    r.ws();
    if (v !== null && r.p != r.end) r.error = "trailing text";
    parseError = r.error;
    return r.error.length == 0 ? v : null;
  }
}

/** Why the last {@link Json.parse} failed. */
export let parseError: string = "";

class Reader {
  error: string = "";
  depth: i32 = 0;
  constructor(public p: usize, public end: usize) {}

  ws(): void {
    while (this.p < this.end) {
      const c = load<u8>(this.p);
      if (c != 0x20 && c != 0x09 && c != 0x0a && c != 0x0d) break;
      this.p++;
    }
  }
  fail(what: string): Json | null {
    if (this.error.length == 0) this.error = what;
    return null;
  }
  lit(word: string, v: Json): Json | null {
    const n = <usize> word.length;
    if (this.end - this.p < n) return this.fail("an unexpected character");
    for (let i: usize = 0; i < n; i++) {
      if (<i32> load<u8>(this.p + i) != word.charCodeAt(<i32> i)) {
        return this.fail("an unexpected character");
      }
    }
    this.p += n;
    return v;
  }
  value(): Json | null {
    this.ws();
    if (this.p >= this.end) return this.fail("a missing value");
    const c = load<u8>(this.p);
    if (c == 0x22) {
      const s = this.string();
      return s === null ? null : Json.string(s);
    }
    if (c == 0x6e) return this.lit("null", Json.null());
    if (c == 0x74) return this.lit("true", Json.bool(true));
    if (c == 0x66) return this.lit("false", Json.bool(false));
    if (c == 0x5b || c == 0x7b) {
      if (++this.depth > 128) return this.fail("nesting deeper than 128");
      this.p++;
      const v = this.list(c == 0x7b);
      this.depth--;
      return v;
    }
    return this.number();
  }
  list(object: bool): Json | null {
    const j = new Json();
    j.kind = object ? Kind.Object : Kind.Array;
    const close: u8 = object ? 0x7d : 0x5d;
    this.ws();
    if (this.p < this.end && load<u8>(this.p) == close) {
      this.p++;
      return j;
    }
    while (true) {
      if (object) {
        this.ws();
        if (this.p >= this.end || load<u8>(this.p) != 0x22) {
          return this.fail("an object key that is not a string");
        }
        const k = this.string();
        if (k === null) return null;
        this.ws();
        if (this.p >= this.end || load<u8>(this.p) != 0x3a) return this.fail("a missing ':'");
        this.p++;
        j.keys.push(k);
      }
      const v = this.value();
      if (v === null) return null;
      j.items.push(v);
      this.ws();
      if (this.p < this.end && load<u8>(this.p) == 0x2c) {
        this.p++;
        continue;
      }
      if (this.p < this.end && load<u8>(this.p) == close) {
        this.p++;
        return j;
      }
      return this.fail(object ? "a missing ',' or '}'" : "a missing ',' or ']'");
    }
  }
  digits(): bool {
    const d = this.p;
    while (this.p < this.end && <u32> (load<u8>(this.p) - 0x30) < 10) this.p++;
    return this.p > d;
  }
  number(): Json | null {
    const start = this.p;
    if (load<u8>(this.p) == 0x2d) this.p++;
    if (!this.digits()) return this.fail("an unexpected character");
    if (this.p < this.end && load<u8>(this.p) == 0x2e) {
      this.p++;
      if (!this.digits()) return this.fail("a bad number");
    }
    if (this.p < this.end && (load<u8>(this.p) | 0x20) == 0x65) {
      this.p++;
      if (this.p < this.end && (load<u8>(this.p) == 0x2b || load<u8>(this.p) == 0x2d)) this.p++;
      if (!this.digits()) return this.fail("a bad number");
    }
    return Json.number(String.UTF8.decodeUnsafe(start, this.p - start));
  }
  hex4(): i32 {
    if (this.end - this.p < 4) return -1;
    let v = 0;
    for (let i = 0; i < 4; i++) {
      const c = <i32> load<u8>(this.p + i);
      let d = -1;
      if (c >= 0x30 && c <= 0x39) d = c - 0x30;
      else if ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x66) d = (c | 0x20) - 0x61 + 10;
      if (d < 0) return -1;
      v = v * 16 + d;
    }
    this.p += 4;
    return v;
  }
  /** The string whose opening quote is at `p`; null on error. */
  string(): string | null {
    let p = this.p + 1;
    const end = this.end;
    let run = p;
    let ascii = true; // the current run has no byte over 0x7f
    let parts: Array<string> | null = null;
    while (true) {
      while (p + 8 <= end) { // 8 plain ASCII bytes at a time
        const w = load<u64>(p);
        if ((special8(w) | (w & 0x8080808080808080)) != 0) break;
        p += 8;
      }
      if (p >= end) {
        this.fail("an unterminated string");
        return null;
      }
      const c = load<u8>(p);
      if (c == 0x22) {
        const tail = decodeRun(run, p - run, ascii);
        this.p = p + 1;
        if (parts === null) return tail;
        parts.push(tail);
        return parts.join("");
      }
      if (c < 0x20) {
        this.p = p;
        this.fail("a control character inside a string");
        return null;
      }
      if (c != 0x5c) {
        if (c >= 0x80) ascii = false;
        p++;
        continue;
      }
      if (parts === null) parts = new Array<string>();
      parts.push(decodeRun(run, p - run, ascii));
      p++;
      if (p >= end) {
        this.fail("an unterminated string");
        return null;
      }
      const e = load<u8>(p++);
      let unit: i32 = -1;
      if (e == 0x22 || e == 0x5c || e == 0x2f) unit = e;
      else if (e == 0x62) unit = 8;
      else if (e == 0x66) unit = 12;
      else if (e == 0x6e) unit = 10;
      else if (e == 0x72) unit = 13;
      else if (e == 0x74) unit = 9;
      else if (e == 0x75) { // surrogate halves pair up in UTF-16 by themselves
        this.p = p;
        unit = this.hex4();
        p = this.p;
      }
      if (unit < 0) {
        this.p = p;
        this.fail("a bad escape in a string");
        return null;
      }
      parts.push(String.fromCharCode(unit));
      run = p;
      ascii = true;
    }
    return null; // not reached: the loop returns
  }
}

/** Nonzero when one of the 8 bytes of `w` is a quote, a backslash or a control byte (SWAR). */
// @ts-ignore: decorator
@inline
function special8(w: u64): u64 {
  const ones: u64 = 0x0101010101010101;
  const q = w ^ (ones * 0x22);
  const b = w ^ (ones * 0x5c);
  return (((q - ones) & ~q) | ((b - ones) & ~b) | ((w - ones * 0x20) & ~w)) & (ones * 0x80);
}

/** The string of the UTF-8 bytes `[ptr, ptr+len)`; plain ASCII is widened 4 bytes at a time. */
function decodeRun(ptr: usize, len: usize, ascii: bool): string {
  if (!ascii) return String.UTF8.decodeUnsafe(ptr, len);
  const out = changetype<usize>(__new(len << 1, idof<string>()));
  let i: usize = 0;
  for (; i + 4 <= len; i += 4) {
    const w = <u64>load<u32>(ptr + i);
    store<u64>(
      out + (i << 1),
      (w & 0xff) | ((w & 0xff00) << 8) | ((w & 0xff0000) << 16) | ((w & 0xff000000) << 24),
    );
  }
  for (; i < len; i++) store<u16>(out + (i << 1), load<u8>(ptr + i));
  return changetype<string>(out);
}

/** A growable byte buffer in raw heap memory (its block becomes the answer's body). */
class Writer {
  ptr: usize;
  len: i32 = 0;
  cap: i32;
  constructor(cap: i32) {
    this.cap = cap;
    this.ptr = heap.alloc(<usize> cap);
  }
  reserve(n: i32): void {
    if (this.len + n <= this.cap) return;
    let c = this.cap * 2;
    while (c < this.len + n) c *= 2;
    this.ptr = heap.realloc(this.ptr, <usize> c);
    this.cap = c;
  }
  byte(b: i32): void {
    this.reserve(1);
    store<u8>(this.ptr + this.len++, <u8> b);
  }
  ascii(s: string): void {
    const n = s.length;
    this.reserve(n);
    for (let i = 0; i < n; i++) store<u8>(this.ptr + this.len + i, <u8> s.charCodeAt(i));
    this.len += n;
  }
  jsonString(s: string): void {
    const n = s.length;
    this.reserve(n * 3 + 2); // UTF-8 of one UTF-16 unit is at most 3 bytes; escapes reserve again
    const src = changetype<usize>(s);
    store<u8>(this.ptr + this.len++, 0x22);
    for (let i = 0; i < n; i++) {
      while (i + 4 <= n) { // 4 plain ASCII units at a time, narrowed to 4 bytes
        const w = load<u64>(src + (<usize> i << 1));
        const q = w ^ 0x0022002200220022;
        const b = w ^ 0x005c005c005c005c;
        const lanes: u64 = 0x0001000100010001;
        const special = (w & 0xff80ff80ff80ff80) |
          ((((q - lanes) & ~q) | ((b - lanes) & ~b) | ((w - lanes * 0x20) & ~w)) &
            0x8000800080008000);
        if (special != 0) break;
        store<u32>(
          this.ptr + this.len,
          <u32> ((w & 0xff) | ((w >> 8) & 0xff00) | ((w >> 16) & 0xff0000) |
            ((w >> 24) & 0xff000000)),
        );
        this.len += 4;
        i += 4;
      }
      if (i >= n) break;
      const c = <u32> load<u16>(src + (<usize> i << 1));
      let o = this.ptr + this.len;
      if (c < 0x80) {
        if (c >= 0x20 && c != 0x22 && c != 0x5c) {
          store<u8>(o, <u8> c);
          this.len++;
          continue;
        }
        this.reserve(6 + (n - i) * 3);
        o = this.ptr + this.len;
        store<u8>(o, 0x5c);
        if (c == 0x22 || c == 0x5c) {
          store<u8>(o + 1, <u8> c);
          this.len += 2;
        } else if (c == 10 || c == 13 || c == 9) {
          store<u8>(o + 1, c == 10 ? 0x6e : c == 13 ? 0x72 : 0x74);
          this.len += 2;
        } else {
          const hex = "0123456789abcdef";
          store<u8>(o + 1, 0x75);
          store<u8>(o + 2, 0x30);
          store<u8>(o + 3, 0x30);
          store<u8>(o + 4, <u8> hex.charCodeAt(<i32> (c >> 4)));
          store<u8>(o + 5, <u8> hex.charCodeAt(<i32> (c & 15)));
          this.len += 6;
        }
      } else if (c < 0x800) {
        store<u8>(o, <u8> (0xc0 | (c >> 6)));
        store<u8>(o + 1, <u8> (0x80 | (c & 63)));
        this.len += 2;
      } else {
        let cp = c;
        if (c >= 0xd800 && c < 0xe000) {
          const next = i + 1 < n ? <u32> load<u16>(src + (<usize> (i + 1) << 1)) : 0;
          if (c < 0xdc00 && next >= 0xdc00 && next < 0xe000) {
            cp = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
            i++;
          } else {
            cp = 0xfffd; // a lone surrogate
          }
        }
        if (cp < 0x10000) {
          store<u8>(o, <u8> (0xe0 | (cp >> 12)));
          store<u8>(o + 1, <u8> (0x80 | ((cp >> 6) & 63)));
          store<u8>(o + 2, <u8> (0x80 | (cp & 63)));
          this.len += 3;
        } else {
          store<u8>(o, <u8> (0xf0 | (cp >> 18)));
          store<u8>(o + 1, <u8> (0x80 | ((cp >> 12) & 63)));
          store<u8>(o + 2, <u8> (0x80 | ((cp >> 6) & 63)));
          store<u8>(o + 3, <u8> (0x80 | (cp & 63)));
          this.len += 4;
        }
      }
    }
    this.byte(0x22);
  }
  json(v: Json): void {
    if (v.kind == Kind.Null) this.ascii("null");
    else if (v.kind == Kind.Bool) this.ascii(v.bool ? "true" : "false");
    else if (v.kind == Kind.Number) this.ascii(v.str);
    else if (v.kind == Kind.String) this.jsonString(v.str);
    else {
      const object = v.kind == Kind.Object;
      this.byte(object ? 0x7b : 0x5b);
      for (let i = 0; i < v.items.length; i++) {
        if (i > 0) this.byte(0x2c);
        if (object) {
          this.jsonString(v.keys[i]);
          this.byte(0x3a);
        }
        this.json(v.items[i]);
      }
      this.byte(object ? 0x7d : 0x5d);
    }
  }
}

// ---- Handlers and dispatch ----------------------------------------------------------------------

/** A guard's decision. */
export class Verdict {
  constructor(
    public decision: string,
    public note: string | null = null,
    public value: Json | null = null,
  ) {}
  static continue(): Verdict {
    return new Verdict("continue");
  }
  static block(reason: string | null = null): Verdict {
    return new Verdict("block", reason);
  }
  static ask(question: string | null = null): Verdict {
    return new Verdict("ask", question);
  }
  static modify(value: Json, reason: string | null = null): Verdict {
    return new Verdict("modify", reason, value);
  }
}

/** A filter: the value and the arguments; null leaves the value unchanged. */
export type FilterFn = (value: Json, args: Array<Json>) => Json | null;
/** An action: the arguments. */
export type ActionFn = (args: Array<Json>) => void;
/** A guard: the subject and the arguments. */
export type GuardFn = (subject: Json, args: Array<Json>) => Verdict;

const FILTER = 0;
const ACTION = 1;
const GUARD = 2;
const KIND_NAMES = ["filter", "action", "guard"];

class Binding {
  constructor(public name: ArrayBuffer, public kind: i32, public index: i32) {}
}
const bindings = new Array<Binding>();
const filters = new Array<FilterFn>();
const actions = new Array<ActionFn>();
const guards = new Array<GuardFn>();

/** Registers a filter for `hook`. */
export function filter(hook: string, f: FilterFn): void {
  bindings.push(new Binding(String.UTF8.encode(hook), FILTER, filters.length));
  filters.push(f);
}
/** Registers an action for `hook`. */
export function action(hook: string, f: ActionFn): void {
  bindings.push(new Binding(String.UTF8.encode(hook), ACTION, actions.length));
  actions.push(f);
}
/** Registers a guard for `hook`. */
export function guard(hook: string, f: GuardFn): void {
  bindings.push(new Binding(String.UTF8.encode(hook), GUARD, guards.length));
  guards.push(f);
}

/** `gn_alloc`: `size` bytes of the runtime's allocator (re-export it from your plugin). */
export function gn_alloc(size: usize): usize {
  return heap.alloc(size);
}
/** `gn_free`: gives back what gn_alloc returned (re-export it from your plugin). */
export function gn_free(ptr: usize, _size: usize): void {
  if (ptr != 0) heap.free(ptr);
}

function pack(ptr: usize, len: i32): i64 {
  return <i64> ((<u64> ptr << 32) | <u64> (<u32> len));
}

function failWith(status: i32, message: string): i64 {
  const b = String.UTF8.encode(message);
  host_error_set(changetype<usize>(b), b.byteLength);
  return pack(0, status);
}

function find(np: usize, nl: usize): Binding | null {
  for (let i = 0; i < bindings.length; i++) {
    const b = bindings[i];
    if (<usize> b.name.byteLength == nl && memory.compare(changetype<usize>(b.name), np, nl) == 0) {
      return b;
    }
  }
  return null;
}

/**
 * `gn_handle_hook`: dispatches on the hook name (re-export it from your plugin). The runtime is
 * AssemblyScript's "minimal" one: nothing is collected during a call, and everything the call
 * made is collected when it ends (no object is left on the stack then), which costs less fuel
 * than incremental collection during the call.
 */
export function gn_handle_hook(np: usize, nl: usize, pp: usize, pl: usize): i64 {
  const result = dispatch(np, nl, pp, pl);
  __collect();
  return result;
}

/** Sets `sink` when `t` is the JSON text of an integer in i32 range. */
function readI32(t: string): bool {
  const neg = t.length > 0 && t.charCodeAt(0) == 0x2d;
  const start = neg ? 1 : 0;
  if (t.length == start || t.length - start > 10) return false;
  let n: i64 = 0;
  for (let i = start; i < t.length; i++) {
    const c = t.charCodeAt(i) - 0x30;
    if (c < 0 || c > 9) return false;
    n = n * 10 + c;
  }
  if (neg) n = -n;
  if (n < <i64> i32.MIN_VALUE || n > <i64> i32.MAX_VALUE) return false;
  sink = <i32> n;
  return true;
}

function dispatch(np: usize, nl: usize, pp: usize, pl: usize): i64 {
  const b = find(np, nl);
  if (b === null) return pack(0, UNKNOWN_HOOK);
  const r = new Reader(pp, pp + pl);
  const env = r.value();
  r.ws();
  if (env === null || r.p != r.end || env.kind != Kind.Object) {
    const why = r.error.length > 0 ? r.error : "trailing text or not an object";
    return failWith(BAD_PAYLOAD, "The payload is not a JSON envelope object: " + why);
  }
  const kind = env.get("kind");
  const want = KIND_NAMES[b.kind];
  if (kind === null || kind.kind != Kind.String || kind.str != want) {
    return failWith(
      BAD_PAYLOAD,
      'The envelope\'s "kind" is not "' + want + '", the kind this hook is registered with',
    );
  }
  let value = env.get("value");
  if (value === null) value = Json.null();
  const a = env.get("args");
  const args = a !== null && a.kind == Kind.Array ? a.items : new Array<Json>();
  const handles = env.get("handles");
  const h = handles !== null ? handles.get("sink") : null;
  hasSink = h !== null && h.kind == Kind.Number && readI32(h.str);
  failStatus = 0;
  let w: Writer | null = null;
  if (b.kind == FILTER) {
    const out = filters[b.index](value, args);
    if (failStatus == 0 && out !== null) {
      w = new Writer(32);
      w.ascii('{"value":');
      w.json(out);
      w.byte(0x7d);
    }
  } else if (b.kind == ACTION) {
    actions[b.index](args);
  } else {
    const v = guards[b.index](value, args);
    if (failStatus == 0 && (v.decision != "continue" || v.note !== null)) {
      w = new Writer(32);
      w.ascii('{"decision":"');
      w.ascii(v.decision);
      w.byte(0x22);
      const note = v.note;
      if (note !== null) {
        w.ascii(v.decision == "ask" ? ',"question":' : ',"reason":');
        w.jsonString(note);
      }
      const mv = v.value;
      if (mv !== null) {
        w.ascii(',"value":');
        w.json(mv);
      }
      w.byte(0x7d);
    }
  }
  hasSink = false;
  sink = 0;
  if (failStatus != 0) {
    const status = failStatus;
    failStatus = 0;
    return failWith(status, failMessage);
  }
  if (w === null) return pack(0, 0);
  if (w.ptr == 0) return pack(0, OUT_OF_MEMORY);
  return pack(w.ptr, w.len);
}
