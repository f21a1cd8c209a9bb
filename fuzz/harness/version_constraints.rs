//! Fuzz harness of version constraints and versions (PEP 440 for Python; comma-separated
//! comparisons for R and Quarto): the input's lines are the Python, R and Quarto constraints,
//! then the versions asked for, then installed versions of one more environment. Shared by the
//! fuzz target and the core's regression test.

use execenv_core::select::{LanguageNeed, Requirements};

use crate::selection;

/// Selects with the constraints and versions that `data` holds.
pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let lines: Vec<&str> = text.split('\n').collect();
    let line = |i: usize| lines.get(i).map(|s| (*s).to_owned());
    let need = |i: usize| LanguageNeed {
        constraint: line(i),
        version: line(i + 3),
    };
    let requirements = Requirements {
        python: need(0),
        r: need(1),
        quarto: need(2),
        target_environment_guid: None,
        target_image: None,
    };
    let installed = lines.get(6..).unwrap_or_default();
    selection::check(&selection::catalogue(installed), &requirements);
}
