//! Replays the bundle-archive fuzz target's inputs (`fuzz/seeds/bundle_archive`,
//! `fuzz/regressions/bundle_archive`) through its harness (`fuzz/harness/bundle_archive.rs`):
//! each unpacked into a temporary folder, nothing outside it, on the stable toolchain.

#[path = "../../../fuzz/harness/bundle_archive.rs"]
mod bundle_archive;
#[path = "../../../fuzz/harness/inputs.rs"]
mod inputs;

#[test]
fn bundle_archive_inputs_unpack_inside_their_folder() {
    assert!(inputs::replay("bundle_archive", bundle_archive::run) >= 4);
}
