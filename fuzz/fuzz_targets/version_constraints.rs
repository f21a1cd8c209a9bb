#![no_main]
//! Version constraints (PEP 440, R/Quarto comparisons) and versions, through selection:
//! harness/version_constraints.rs.

#[path = "../harness/selection.rs"]
mod selection;
#[path = "../harness/version_constraints.rs"]
mod version_constraints;

libfuzzer_sys::fuzz_target!(|data: &[u8]| version_constraints::run(data));
