//! Replays the manifest.json fuzz target's inputs (`fuzz/seeds/manifest_json`,
//! `fuzz/regressions/manifest_json`) through the runner's half of its harness
//! (`fuzz/harness/runner_manifest.rs`), on the stable toolchain.

#[path = "../../../fuzz/harness/inputs.rs"]
mod inputs;
#[path = "../../../fuzz/harness/runner_manifest.rs"]
mod runner_manifest;

#[test]
fn manifest_inputs_keep_the_runner_inside_the_bundle() {
    assert!(inputs::replay("manifest_json", runner_manifest::run) >= 2);
}
