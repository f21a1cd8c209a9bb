#![no_main]
//! Connect's manifest.json as the gateway (summary, requirements, selection) and the content
//! runner read it: harness/manifest_json.rs and harness/runner_manifest.rs.

#[path = "../harness/manifest_json.rs"]
mod manifest_json;
#[path = "../harness/runner_manifest.rs"]
mod runner_manifest;
#[path = "../harness/selection.rs"]
mod selection;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    manifest_json::run(data);
    runner_manifest::run(data);
});
