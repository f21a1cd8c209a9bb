//! Replays the image-reference fuzz target's inputs (`fuzz/seeds/image_reference`,
//! `fuzz/regressions/image_reference`) through its harness comparing the core's grammar with the
//! image reader's (`fuzz/harness/image_reference_oci.rs`), on the stable toolchain.

#[path = "../../../fuzz/harness/image_reference_oci.rs"]
mod image_reference_oci;
#[path = "../../../fuzz/harness/inputs.rs"]
mod inputs;

#[test]
fn every_valid_environment_name_is_a_reference_the_image_reader_parses() {
    assert!(inputs::replay("image_reference", image_reference_oci::run) >= 4);
}
