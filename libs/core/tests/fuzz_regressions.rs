//! Replays the fuzz targets' seed corpus and the inputs that once found a defect
//! (`fuzz/seeds/<target>`, `fuzz/regressions/<target>`) through the same harnesses the fuzzers
//! run (`fuzz/harness`), on the stable toolchain: version constraints, manifest.json and image
//! references.

#[path = "../../../fuzz/harness/image_reference.rs"]
mod image_reference;
#[path = "../../../fuzz/harness/inputs.rs"]
mod inputs;
#[path = "../../../fuzz/harness/manifest_json.rs"]
mod manifest_json;
#[path = "../../../fuzz/harness/selection.rs"]
mod selection;
#[path = "../../../fuzz/harness/version_constraints.rs"]
mod version_constraints;

#[test]
fn version_constraint_inputs_select_without_panicking() {
    assert!(inputs::replay("version_constraints", version_constraints::run) >= 3);
}

#[test]
fn manifest_inputs_are_read_without_panicking() {
    assert!(inputs::replay("manifest_json", manifest_json::run) >= 2);
}

#[test]
fn image_reference_inputs_are_checked_within_the_grammar_bounds() {
    assert!(inputs::replay("image_reference", image_reference::run) >= 4);
}
