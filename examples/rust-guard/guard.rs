//! Example plugin "rust-guard" (gn PDK for Rust): guard run_command blocks a command containing
//! "rm -rf", asks before one containing "sudo", and lets the rest continue.
//! Built by (from the repository root):
//!   mkdir -p pdk/rust/target
//!   /usr/bin/rustc --edition 2021 --crate-type rlib --crate-name gn_pdk --target wasm32-unknown-unknown -C opt-level=3 --remap-path-prefix=$PWD/= pdk/rust/src/lib.rs -o pdk/rust/target/libgn_pdk.rlib
//!   /usr/bin/rustc --edition 2021 --crate-type cdylib --target wasm32-unknown-unknown -C opt-level=3 --remap-path-prefix=$PWD/= -C lto -C strip=symbols --extern gn_pdk=pdk/rust/target/libgn_pdk.rlib examples/rust-guard/guard.rs -o examples/rust-guard/guard.wasm

use gn_pdk::{Json, Plugin, Verdict};

fn run_command(subject: Json, _args: &[Json]) -> gn_pdk::Result<Verdict> {
    let command = match subject.as_str() {
        Some(command) => command,
        None => return Ok(Verdict::Continue),
    };
    Ok(if command.contains("rm -rf") {
        Verdict::Block(Some("refusing a command containing \"rm -rf\"".into()))
    } else if command.contains("sudo") {
        Verdict::Ask(Some("run this command as root?".into()))
    } else {
        Verdict::Continue
    })
}

gn_pdk::plugin!(Plugin::new().guard("run_command", run_command));
