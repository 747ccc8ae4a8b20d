//! Example plugin "rust-title" (gn PDK for Rust): filter title_case upper-cases the first ASCII
//! letter of every word (a word starts after a space or a control character). Other values pass unchanged.
//! Built by (from the repository root):
//!   mkdir -p pdk/rust/target
//!   /usr/bin/rustc --edition 2021 --crate-type rlib --crate-name gn_pdk --target wasm32-unknown-unknown -C opt-level=3 --remap-path-prefix=$PWD/= pdk/rust/src/lib.rs -o pdk/rust/target/libgn_pdk.rlib
//!   /usr/bin/rustc --edition 2021 --crate-type cdylib --target wasm32-unknown-unknown -C opt-level=3 --remap-path-prefix=$PWD/= -C lto -C strip=symbols --extern gn_pdk=pdk/rust/target/libgn_pdk.rlib examples/rust-title/title.rs -o examples/rust-title/title.wasm

use gn_pdk::{Json, Plugin};

fn title_case(value: Json, _args: &[Json]) -> gn_pdk::Result<Option<Json>> {
    let text = match value {
        Json::String(text) => text,
        _ => return Ok(None), // not text: unchanged
    };
    let mut bytes = text.into_bytes();
    let mut start = true;
    for b in bytes.iter_mut() {
        let c = *b;
        if start {
            b.make_ascii_uppercase();
        }
        start = c <= b' '; // after a space or a control character
    }
    // Only ASCII bytes changed, so the text is still UTF-8.
    Ok(Some(Json::String(String::from_utf8(bytes).map_err(|_| "title_case: not UTF-8")?)))
}

gn_pdk::plugin!(Plugin::new().filter("title_case", title_case));
