#![no_main]
//! Bundle archives as the gateway unpacks them: harness/bundle_archive.rs.

#[path = "../harness/bundle_archive.rs"]
mod bundle_archive;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bundle_archive::run(data));
