//! Example plugin "rust-count" (gn PDK for Rust): action on_event counts the events it sees in
//! the host's state store (key "count", decimal text); needs the "state" capability.
//! Built by (from the repository root):
//!   mkdir -p pdk/rust/target
//!   /usr/bin/rustc --edition 2021 --crate-type rlib --crate-name gn_pdk --target wasm32-unknown-unknown -C opt-level=3 --remap-path-prefix=$PWD/= pdk/rust/src/lib.rs -o pdk/rust/target/libgn_pdk.rlib
//!   /usr/bin/rustc --edition 2021 --crate-type cdylib --target wasm32-unknown-unknown -C opt-level=3 --remap-path-prefix=$PWD/= -C lto -C strip=symbols --extern gn_pdk=pdk/rust/target/libgn_pdk.rlib examples/rust-count/count.rs -o examples/rust-count/count.wasm

use gn_pdk::{Json, Plugin};

fn count(_args: &[Json]) -> gn_pdk::Result<()> {
    let n: u64 = match gn_pdk::state_get("count") {
        None => 0,
        Some(bytes) => std::str::from_utf8(&bytes)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or("count: the stored \"count\" is not a number")?,
    };
    gn_pdk::state_set("count", (n + 1).to_string().as_bytes())
}

gn_pdk::plugin!(Plugin::new().action("on_event", count));
