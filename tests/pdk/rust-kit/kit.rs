//! Test plugin "rust-kit": every host-function wrapper and error path of the Rust PDK, one hook
//! each (tests/pdk_kit_test.ts calls them).
//! Built by (from the repository root):
//!   mkdir -p pdk/rust/target
//!   /usr/bin/rustc --edition 2021 --crate-type rlib --crate-name gn_pdk --target wasm32-unknown-unknown -C opt-level=3 --remap-path-prefix=$PWD/= pdk/rust/src/lib.rs -o pdk/rust/target/libgn_pdk.rlib
//!   /usr/bin/rustc --edition 2021 --crate-type cdylib --target wasm32-unknown-unknown -C opt-level=3 --remap-path-prefix=$PWD/= -C lto -C strip=symbols --extern gn_pdk=pdk/rust/target/libgn_pdk.rlib tests/pdk/rust-kit/kit.rs -o tests/pdk/rust-kit/kit.wasm

use gn_pdk::{Error, Json, Level, Plugin, Result, Verdict};

fn first(args: &[Json]) -> Option<&str> {
    args.get(0).and_then(|a| a.as_str())
}
fn k_log(args: &[Json]) -> Result<()> {
    gn_pdk::log(Level::Warn, first(args).unwrap_or("no text"));
    Ok(())
}
fn k_time(_: Json, _: &[Json]) -> Result<Option<Json>> {
    Ok(Some(Json::Number(gn_pdk::time_ms().to_string())))
}
fn k_fuel(_: Json, _: &[Json]) -> Result<Option<Json>> {
    Ok(Some(Json::Number(gn_pdk::fuel_remaining().to_string())))
}
fn k_emit(args: &[Json]) -> Result<()> {
    let data = first(args).ok_or_else(|| Error::BadPayload("kit.emit: the first argument must be a string".into()))?;
    gn_pdk::emit("kit.event", data)
}
fn k_state(v: Json, _: &[Json]) -> Result<Option<Json>> {
    let text = v.as_str().ok_or_else(|| Error::BadPayload("kit.state: the value must be a string".into()))?;
    gn_pdk::state_set("k", text.as_bytes())?;
    let got = gn_pdk::state_get("k").ok_or("kit.state: nothing read back")?;
    gn_pdk::state_del("k")?;
    let absent = gn_pdk::state_get("k").is_none();
    let got = String::from_utf8(got).map_err(|_| "kit.state: not UTF-8")?;
    Ok(Some(Json::Array(vec![Json::String(got), Json::Bool(absent)])))
}
fn k_echo(v: Json, _: &[Json]) -> Result<Option<Json>> {
    Ok(Some(v))
}
fn k_fail(_: &[Json]) -> Result<()> {
    Err("kit failed on purpose".into())
}
fn k_bad(_: &[Json]) -> Result<()> {
    Err(Error::BadPayload("kit wants other input".into()))
}
fn k_panic(_: &[Json]) -> Result<()> {
    panic!("kit panicked {}", 42)
}
fn k_modify(_: Json, _: &[Json]) -> Result<Verdict> {
    Ok(Verdict::Modify(Json::String("safe".into()), Some("replaced".into())))
}

/// Appends the subject's "note" through the call's sink handle; a refusal blocks with the error
/// (naming the status) and the handle, or "none".
fn k_sink(s: Json, _: &[Json]) -> Result<Verdict> {
    let note = s.get("note").and_then(|n| n.as_str()).ok_or_else(|| Error::BadPayload("kit.sink: the subject needs a string note".into()))?;
    match gn_pdk::sink_append("note", note) {
        Ok(()) => Ok(Verdict::Continue),
        Err(Error::Guest(m) | Error::BadPayload(m)) => {
            let handle = gn_pdk::sink_handle().map_or("none".to_string(), |h| h.to_string());
            Ok(Verdict::Block(Some(format!("{m}, handle {handle}"))))
        }
    }
}

gn_pdk::plugin!(Plugin::new()
    .action("kit.log", k_log)
    .filter("kit.time", k_time)
    .filter("kit.fuel", k_fuel)
    .action("kit.emit", k_emit)
    .filter("kit.state", k_state)
    .filter("kit.echo", k_echo)
    .action("kit.fail", k_fail)
    .action("kit.bad", k_bad)
    .action("kit.panic", k_panic)
    .guard("kit.modify", k_modify)
    .guard("kit.sink", k_sink));
