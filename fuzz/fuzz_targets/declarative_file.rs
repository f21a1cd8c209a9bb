#![no_main]
//! The declarative file (YAML and JSON) and the legacy runtime.yaml: harness/declarative_file.rs.

#[path = "../harness/declarative_file.rs"]
mod declarative_file;

libfuzzer_sys::fuzz_target!(|data: &[u8]| declarative_file::run(data));
