//! Replays the declarative-file fuzz target's inputs (`fuzz/seeds/declarative_file`,
//! `fuzz/regressions/declarative_file`) through its harness (`fuzz/harness/declarative_file.rs`),
//! on the stable toolchain.

#[path = "../../../fuzz/harness/declarative_file.rs"]
mod declarative_file;
#[path = "../../../fuzz/harness/inputs.rs"]
mod inputs;

#[test]
fn declarative_file_inputs_are_read_without_panicking() {
    assert!(inputs::replay("declarative_file", declarative_file::run) >= 4);
}
