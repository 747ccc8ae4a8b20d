//! gn PDK for Rust: write only your hook logic. This crate owns the gn ABI v1 glue (the
//! allocator behind `gn_alloc`/`gn_free`, `gn_handle_hook` dispatch, JSON envelopes and answers)
//! and wraps every host import. No dependencies: Debian's `rustc` with its
//! `wasm32-unknown-unknown` standard library is all it needs.
//!
//! ```text
//! use gn_pdk::{Json, Plugin};
//! fn shout(value: Json, _args: &[Json]) -> gn_pdk::Result<Option<Json>> {
//!     Ok(value.as_str().map(|s| Json::String(s.to_uppercase())))
//! }
//! gn_pdk::plugin!(Plugin::new().filter("shout", shout));
//! ```
//!
//! Build (from the repository root):
//!
//! ```text
//! mkdir -p pdk/rust/target
//! /usr/bin/rustc --edition 2021 --crate-type rlib --crate-name gn_pdk --target wasm32-unknown-unknown \
//!   -C opt-level=3 --remap-path-prefix=$PWD/= pdk/rust/src/lib.rs -o pdk/rust/target/libgn_pdk.rlib
//! /usr/bin/rustc --edition 2021 --crate-type cdylib --target wasm32-unknown-unknown -C opt-level=3 \
//!   --remap-path-prefix=$PWD/= -C lto -C strip=symbols --extern gn_pdk=pdk/rust/target/libgn_pdk.rlib my_plugin.rs -o my_plugin.wasm
//! ```
//!
//! A host function is imported only when the plugin calls its wrapper (the linker drops the
//! rest), so the manifest needs only the capabilities really used.

use std::alloc::{alloc, dealloc, Layout};

/// Statuses of CONTRACT §3.
pub mod status {
    /// The call failed in the guest (`guest_error`).
    pub const GUEST_ERROR: i32 = -1;
    /// The guest ran out of memory.
    pub const OUT_OF_MEMORY: i32 = -2;
    /// The payload was malformed.
    pub const BAD_PAYLOAD: i32 = -3;
    /// The plugin has no handler for the hook.
    pub const UNKNOWN_HOOK: i32 = -4;
}

// ---- Host imports (raw) ----------------------------------------------------------------------

mod host {
    #[link(wasm_import_module = "env")]
    extern "C" {
        pub fn gn_panic(ptr: *const u8, len: usize) -> !;
        pub fn gn_error_set(ptr: *const u8, len: usize);
        pub fn gn_log(level: i32, ptr: *const u8, len: usize);
        pub fn gn_time_ms() -> i64;
        pub fn gn_state_get(kp: *const u8, kl: usize) -> i64;
        pub fn gn_state_set(kp: *const u8, kl: usize, vp: *const u8, vl: usize) -> i32;
        pub fn gn_state_del(kp: *const u8, kl: usize) -> i32;
        pub fn gn_event_emit(np: *const u8, nl: usize, dp: *const u8, dl: usize) -> i32;
        pub fn gn_fuel_remaining() -> i64;
        pub fn gn_sink_append(h: i32, kp: *const u8, kl: usize, dp: *const u8, dl: usize) -> i32;
    }
}

/// Log levels of `gn_log`.
#[derive(Clone, Copy, Debug)]
pub enum Level {
    /// 0
    Debug = 0,
    /// 1
    Info = 1,
    /// 2
    Warn = 2,
    /// 3
    Error = 3,
}

/// Logs `message` (capability `log`).
pub fn log(level: Level, message: &str) {
    unsafe { host::gn_log(level as i32, message.as_ptr(), message.len()) }
}
/// Wall-clock Unix milliseconds (capability `clock`).
pub fn time_ms() -> i64 {
    unsafe { host::gn_time_ms() }
}
/// What is left of this call's fuel (capability `fuel`).
pub fn fuel_remaining() -> i64 {
    unsafe { host::gn_fuel_remaining() }
}
/// The value of `key` in the plugin's state, if any (capability `state`).
pub fn state_get(key: &str) -> Option<Vec<u8>> {
    let packed = unsafe { host::gn_state_get(key.as_ptr(), key.len()) } as u64;
    let (ptr, len) = ((packed >> 32) as usize, packed as u32 as i32);
    if ptr == 0 || len <= 0 {
        return None;
    }
    // The host wrote it through gn_alloc(len), that is with Layout(len, 1): a Vec<u8> of that capacity.
    Some(unsafe { Vec::from_raw_parts(ptr as *mut u8, len as usize, len as usize) })
}
/// Sets `key` (capability `state`); a refusal (quota) is an error.
pub fn state_set(key: &str, value: &[u8]) -> Result<()> {
    check(unsafe { host::gn_state_set(key.as_ptr(), key.len(), value.as_ptr(), value.len()) }, "state_set")
}
/// Deletes `key` (capability `state`).
pub fn state_del(key: &str) -> Result<()> {
    check(unsafe { host::gn_state_del(key.as_ptr(), key.len()) }, "state_del")
}
/// Appends an event to the host's sink (capability `emit`; only names the host approved).
pub fn emit(name: &str, data: &str) -> Result<()> {
    check(unsafe { host::gn_event_emit(name.as_ptr(), name.len(), data.as_ptr(), data.len()) }, "emit")
}
/// The current call's sink handle (the envelope's `handles.sink`; a hook point binding with
/// `handles = ["sink"]`), or `None`. Valid only during that call: forgotten when the handler returns.
pub fn sink_handle() -> Option<i32> {
    unsafe { SINK }
}
/// Appends an item through the current call's sink handle (capability `sink`; only kinds the host
/// approved). A refusal is an error naming the status: -6 (also when the call has no handle), -3, -7.
pub fn sink_append(kind: &str, data: &str) -> Result<()> {
    let status = match sink_handle() {
        Some(h) => unsafe { host::gn_sink_append(h, kind.as_ptr(), kind.len(), data.as_ptr(), data.len()) },
        None => -6,
    };
    check(status, "sink_append")
}
/// Attaches `message` to the call's next negative status (always granted).
pub fn error_set(message: &str) {
    unsafe { host::gn_error_set(message.as_ptr(), message.len()) }
}
/// Ends the call as `trapped` with `message` (always granted).
pub fn panic(message: &str) -> ! {
    unsafe { host::gn_panic(message.as_ptr(), message.len()) }
}

fn check(status: i32, what: &str) -> Result<()> {
    if status == 0 {
        Ok(())
    } else {
        Err(Error::Guest(format!("{what}: the host answered status {status}")))
    }
}

// ---- Errors ----------------------------------------------------------------------------------

/// What a handler fails with; the message reaches the host's `HookError`.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// `guest_error` (-1).
    Guest(String),
    /// `bad_payload` (-3).
    BadPayload(String),
}
impl From<String> for Error {
    fn from(s: String) -> Self {
        Error::Guest(s)
    }
}
impl From<&str> for Error {
    fn from(s: &str) -> Self {
        Error::Guest(s.to_string())
    }
}
/// The result of a handler.
pub type Result<T> = core::result::Result<T, Error>;

// ---- JSON ------------------------------------------------------------------------------------

/// A JSON value. Numbers keep their text (they round-trip exactly).
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// A number, as written.
    Number(String),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<Json>),
    /// An object, members in order.
    Object(Vec<(String, Json)>),
}

impl Json {
    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        if let Json::String(s) = self { Some(s) } else { None }
    }
    /// The number as f64, if this is one.
    pub fn as_f64(&self) -> Option<f64> {
        if let Json::Number(n) = self { n.parse().ok() } else { None }
    }
    /// The member `key` of an object.
    pub fn get(&self, key: &str) -> Option<&Json> {
        if let Json::Object(m) = self { m.iter().find(|(k, _)| k == key).map(|(_, v)| v) } else { None }
    }
    /// Parses JSON text.
    pub fn parse(text: &[u8]) -> core::result::Result<Json, String> {
        let mut r = Reader { s: text, i: 0, depth: 0 };
        let v = r.value()?;
        r.ws();
        if r.i != text.len() {
            return Err(format!("trailing text at byte {}", r.i));
        }
        Ok(v)
    }
    /// Appends this value's JSON text to `out`.
    pub fn write(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Number(n) => out.push_str(n),
            Json::String(s) => write_string(s, out),
            Json::Array(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write(out);
                }
                out.push(']');
            }
            Json::Object(members) => {
                out.push('{');
                for (i, (k, v)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_string(k, out);
                    out.push(':');
                    v.write(out);
                }
                out.push('}');
            }
        }
    }
}

/// Nonzero when one of the 8 bytes of `w` is `"`, `\` or a control character (SWAR: strings
/// are scanned a word at a time; a false hit can only follow a true one in the same word).
#[inline(always)]
fn special8(w: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let q = w ^ (ONES * b'"' as u64);
    let b = w ^ (ONES * b'\\' as u64);
    ((q.wrapping_sub(ONES) & !q) | (b.wrapping_sub(ONES) & !b) | (w.wrapping_sub(ONES * 0x20) & !w))
        & (ONES * 0x80)
}

/// The index of the first byte at or after `i` that is `"`, `\` or a control character.
#[inline(always)]
fn skip_plain(bytes: &[u8], mut i: usize) -> usize {
    while i + 8 <= bytes.len() {
        let mut w = [0u8; 8];
        w.copy_from_slice(&bytes[i..i + 8]);
        if special8(u64::from_le_bytes(w)) != 0 {
            break;
        }
        i += 8;
    }
    while i < bytes.len() && bytes[i] >= 0x20 && bytes[i] != b'"' && bytes[i] != b'\\' {
        i += 1;
    }
    i
}

/// Appends `s` as a JSON string literal.
pub fn write_string(s: &str, out: &mut String) {
    out.reserve(s.len() + 2);
    out.push('"');
    let bytes = s.as_bytes();
    let mut run = 0;
    let mut i = 0;
    loop {
        i = skip_plain(bytes, i);
        if i >= bytes.len() {
            break;
        }
        let c = bytes[i];
        i += 1;
        out.push_str(&s[run..i - 1]);
        run = i;
        match c {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.push_str("\\u00");
                out.push(HEX[(c >> 4) as usize] as char);
                out.push(HEX[(c & 15) as usize] as char);
            }
        }
    }
    out.push_str(&s[run..]);
    out.push('"');
}

struct Reader<'a> {
    s: &'a [u8],
    i: usize,
    depth: u32,
}

impl<'a> Reader<'a> {
    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }
    fn err<T>(&self, what: &str) -> core::result::Result<T, String> {
        Err(format!("{what} at byte {}", self.i))
    }
    fn lit(&mut self, word: &[u8], v: Json) -> core::result::Result<Json, String> {
        if self.s[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(v)
        } else {
            self.err("an unexpected character")
        }
    }
    fn value(&mut self) -> core::result::Result<Json, String> {
        self.ws();
        match self.s.get(self.i) {
            None => self.err("a missing value"),
            Some(b'"') => Ok(Json::String(self.string()?)),
            Some(b'n') => self.lit(b"null", Json::Null),
            Some(b't') => self.lit(b"true", Json::Bool(true)),
            Some(b'f') => self.lit(b"false", Json::Bool(false)),
            Some(&c @ (b'[' | b'{')) => {
                self.depth += 1;
                if self.depth > 128 {
                    return self.err("nesting deeper than 128");
                }
                self.i += 1;
                let v = if c == b'[' { self.array()? } else { self.object()? };
                self.depth -= 1;
                Ok(v)
            }
            Some(_) => self.number(),
        }
    }
    fn array(&mut self) -> core::result::Result<Json, String> {
        let mut items = Vec::new();
        self.ws();
        if self.s.get(self.i) == Some(&b']') {
            self.i += 1;
            return Ok(Json::Array(items));
        }
        loop {
            items.push(self.value()?);
            self.ws();
            match self.s.get(self.i) {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(Json::Array(items));
                }
                _ => return self.err("a missing ',' or ']' in an array"),
            }
        }
    }
    fn object(&mut self) -> core::result::Result<Json, String> {
        let mut members = Vec::new();
        self.ws();
        if self.s.get(self.i) == Some(&b'}') {
            self.i += 1;
            return Ok(Json::Object(members));
        }
        loop {
            self.ws();
            if self.s.get(self.i) != Some(&b'"') {
                return self.err("an object key that is not a string");
            }
            let k = self.string()?;
            self.ws();
            if self.s.get(self.i) != Some(&b':') {
                return self.err("a missing ':' in an object");
            }
            self.i += 1;
            members.push((k, self.value()?));
            self.ws();
            match self.s.get(self.i) {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(Json::Object(members));
                }
                _ => return self.err("a missing ',' or '}' in an object"),
            }
        }
    }
    fn number(&mut self) -> core::result::Result<Json, String> {
        let start = self.i;
        let digits = |r: &mut Self| {
            let d = r.i;
            while r.i < r.s.len() && r.s[r.i].is_ascii_digit() {
                r.i += 1;
            }
            r.i > d
        };
        if self.s.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        if !digits(self) {
            return self.err("an unexpected character");
        }
        if self.s.get(self.i) == Some(&b'.') {
            self.i += 1;
            if !digits(self) {
                return self.err("a bad number");
            }
        }
        if matches!(self.s.get(self.i), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.s.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if !digits(self) {
                return self.err("a bad number");
            }
        }
        // Only ASCII digits and signs were accepted.
        Ok(Json::Number(String::from_utf8(self.s[start..self.i].to_vec()).unwrap_or_default()))
    }
    fn hex4(&mut self) -> core::result::Result<u32, String> {
        let h = self.s.get(self.i..self.i + 4).ok_or_else(|| format!("a short \\u escape at byte {}", self.i))?;
        let mut v = 0;
        for &c in h {
            v = v * 16 + (c as char).to_digit(16).ok_or_else(|| format!("a bad \\u escape at byte {}", self.i))?;
        }
        self.i += 4;
        Ok(v)
    }
    fn string(&mut self) -> core::result::Result<String, String> {
        self.i += 1;
        let mut out = Vec::new();
        loop {
            let run = self.i;
            self.i = skip_plain(self.s, self.i);
            if out.is_empty() && self.s.get(self.i) == Some(&b'"') {
                let s = std::str::from_utf8(&self.s[run..self.i]).map_err(|_| format!("invalid UTF-8 at byte {run}"))?;
                self.i += 1;
                return Ok(s.to_string());
            }
            out.extend_from_slice(&self.s[run..self.i]);
            match self.s.get(self.i) {
                None => return self.err("an unterminated string"),
                Some(b'"') => {
                    self.i += 1;
                    return String::from_utf8(out).map_err(|_| format!("invalid UTF-8 in the string before byte {}", self.i));
                }
                Some(b'\\') => {
                    self.i += 1;
                    let e = *self.s.get(self.i).ok_or_else(|| "an unterminated string".to_string())?;
                    self.i += 1;
                    let c = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let mut cp = self.hex4()?;
                            if (0xd800..0xdc00).contains(&cp) && self.s[self.i..].starts_with(b"\\u") {
                                let save = self.i;
                                self.i += 2;
                                let lo = self.hex4()?;
                                if (0xdc00..0xe000).contains(&lo) {
                                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                                } else {
                                    self.i = save;
                                }
                            }
                            char::from_u32(cp).unwrap_or('\u{fffd}')
                        }
                        _ => return self.err("a bad escape"),
                    };
                    let mut b = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
                }
                Some(_) => return self.err("a control character inside a string"),
            }
        }
    }
}

// ---- Handlers and dispatch -------------------------------------------------------------------

/// A guard's decision.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Let it through.
    Continue,
    /// Stop it, with an optional reason.
    Block(Option<String>),
    /// Ask the user, with an optional question.
    Ask(Option<String>),
    /// Replace the subject, with an optional reason.
    Modify(Json, Option<String>),
}

/// A filter: the value and the arguments; `Ok(None)` leaves the value unchanged.
pub type FilterFn = fn(Json, &[Json]) -> Result<Option<Json>>;
/// An action: the arguments.
pub type ActionFn = fn(&[Json]) -> Result<()>;
/// A guard: the subject and the arguments.
pub type GuardFn = fn(Json, &[Json]) -> Result<Verdict>;

enum Handler {
    Filter(FilterFn),
    Action(ActionFn),
    Guard(GuardFn),
}

/// The plugin's handlers, by hook name. Build it in [`plugin!`].
#[derive(Default)]
pub struct Plugin {
    handlers: Vec<(&'static str, Handler)>,
}

impl Plugin {
    /// No handlers yet.
    pub fn new() -> Self {
        Plugin { handlers: Vec::new() }
    }
    /// Registers a filter for `hook`.
    pub fn filter(mut self, hook: &'static str, f: FilterFn) -> Self {
        self.handlers.push((hook, Handler::Filter(f)));
        self
    }
    /// Registers an action for `hook`.
    pub fn action(mut self, hook: &'static str, f: ActionFn) -> Self {
        self.handlers.push((hook, Handler::Action(f)));
        self
    }
    /// Registers a guard for `hook`.
    pub fn guard(mut self, hook: &'static str, f: GuardFn) -> Self {
        self.handlers.push((hook, Handler::Guard(f)));
        self
    }
}

/// Defines the plugin's exports (`gn_alloc`, `gn_free`, `gn_handle_hook`) from a [`Plugin`].
#[macro_export]
macro_rules! plugin {
    ($init:expr) => {
        #[no_mangle]
        pub extern "C" fn gn_alloc(size: usize) -> *mut u8 {
            $crate::alloc_bytes(size)
        }
        #[no_mangle]
        pub unsafe extern "C" fn gn_free(ptr: *mut u8, size: usize) {
            $crate::free_bytes(ptr, size)
        }
        #[no_mangle]
        pub unsafe extern "C" fn gn_handle_hook(np: *const u8, nl: usize, pp: *const u8, pl: usize) -> i64 {
            $crate::handle(np, nl, pp, pl, || $init)
        }
    };
}

/// `gn_alloc`: `size` bytes from the standard allocator (null when out of memory).
pub fn alloc_bytes(size: usize) -> *mut u8 {
    match Layout::from_size_align(size.max(1), 1) {
        Ok(layout) => unsafe { alloc(layout) },
        Err(_) => std::ptr::null_mut(),
    }
}

/// `gn_free`: gives back what [`alloc_bytes`] returned.
///
/// # Safety
/// `ptr` and `size` must be those of an allocation of [`alloc_bytes`].
pub unsafe fn free_bytes(ptr: *mut u8, size: usize) {
    if !ptr.is_null() {
        dealloc(ptr, Layout::from_size_align_unchecked(size.max(1), 1));
    }
}

static mut PLUGIN: Option<Plugin> = None;
static mut SINK: Option<i32> = None;

fn pack(ptr: usize, len: i32) -> i64 {
    (((ptr as u64) << 32) | (len as u32 as u64)) as i64
}

fn fail(status: i32, message: &str) -> i64 {
    error_set(message);
    pack(0, status)
}

fn body(text: String) -> i64 {
    let bytes = text.into_bytes().into_boxed_slice(); // capacity == length: gn_free(ptr, len) matches
    let len = bytes.len();
    pack(Box::into_raw(bytes) as *mut u8 as usize, len as i32)
}

/// `gn_handle_hook`, given the plugin's builder (run once, on the first call).
///
/// # Safety
/// The pointers and lengths must describe guest memory, as the host passes them.
pub unsafe fn handle(np: *const u8, nl: usize, pp: *const u8, pl: usize, init: impl FnOnce() -> Plugin) -> i64 {
    let plugin = match &*std::ptr::addr_of!(PLUGIN) {
        Some(p) => p,
        None => {
            std::panic::set_hook(Box::new(|info| panic(&info.to_string())));
            PLUGIN = Some(init());
            (*std::ptr::addr_of!(PLUGIN)).as_ref().unwrap()
        }
    };
    let name = std::slice::from_raw_parts(np, nl);
    let handler = match plugin.handlers.iter().find(|(n, _)| n.as_bytes() == name) {
        Some((_, h)) => h,
        None => return pack(0, status::UNKNOWN_HOOK),
    };
    let envelope = match Json::parse(std::slice::from_raw_parts(pp, pl)) {
        Ok(Json::Object(members)) => members,
        Ok(_) => return fail(status::BAD_PAYLOAD, "The payload is not a JSON envelope object"),
        Err(e) => return fail(status::BAD_PAYLOAD, &format!("The payload is not valid JSON: {e}")),
    };
    let mut kind = None;
    let mut value = Json::Null;
    let mut args = Vec::new();
    let mut sink = None;
    for (k, v) in envelope {
        match (k.as_str(), v) {
            ("kind", Json::String(s)) => kind = Some(s),
            ("value", v) => value = v,
            ("args", Json::Array(a)) => args = a,
            ("handles", h) => sink = h.get("sink").and_then(|n| if let Json::Number(n) = n { n.parse().ok() } else { None }),
            _ => {}
        }
    }
    let want = match handler {
        Handler::Filter(_) => "filter",
        Handler::Action(_) => "action",
        Handler::Guard(_) => "guard",
    };
    if kind.as_deref() != Some(want) {
        return fail(status::BAD_PAYLOAD, &format!("The envelope's \"kind\" is not \"{want}\", the kind this hook is registered with"));
    }
    SINK = sink;
    let answer = match handler {
        Handler::Filter(f) => f(value, &args).map(|v| {
            v.map(|v| {
                let mut out = String::with_capacity(16);
                out.push_str("{\"value\":");
                v.write(&mut out);
                out.push('}');
                out
            })
        }),
        Handler::Action(f) => f(&args).map(|_| None),
        Handler::Guard(f) => f(value, &args).map(|v| {
            let (decision, note, value) = match v {
                Verdict::Continue => return None,
                Verdict::Block(r) => ("block", r.map(|r| ("reason", r)), None),
                Verdict::Ask(q) => ("ask", q.map(|q| ("question", q)), None),
                Verdict::Modify(v, r) => ("modify", r.map(|r| ("reason", r)), Some(v)),
            };
            let mut out = format!("{{\"decision\":\"{decision}\"");
            if let Some((key, text)) = note {
                out.push_str(&format!(",\"{key}\":"));
                write_string(&text, &mut out);
            }
            if let Some(v) = value {
                out.push_str(",\"value\":");
                v.write(&mut out);
            }
            out.push('}');
            Some(out)
        }),
    };
    SINK = None;
    match answer {
        Ok(None) => pack(0, 0),
        Ok(Some(text)) => body(text),
        Err(Error::Guest(m)) => fail(status::GUEST_ERROR, &m),
        Err(Error::BadPayload(m)) => fail(status::BAD_PAYLOAD, &m),
    }
}
