#![no_main]
//! Image references: the core's grammar, and the image reader's agreement with it:
//! harness/image_reference.rs and harness/image_reference_oci.rs.

#[path = "../harness/image_reference.rs"]
mod image_reference;
#[path = "../harness/image_reference_oci.rs"]
mod image_reference_oci;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    image_reference::run(data);
    image_reference_oci::run(data);
});
