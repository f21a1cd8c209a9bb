//! Fuzz harness of Connect's manifest.json as the gateway reads it: its summary when a bundle is
//! uploaded, and the requirements selection reads from it (then a selection with them). Shared by
//! the fuzz target and the core's regression test.

use execenv_core::bundle::summarize_manifest;
use execenv_core::select::parse_manifest;

use crate::selection;

/// Reads `data` as a manifest; when it holds requirements, selects with them.
pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let summary = summarize_manifest(text);
    match parse_manifest(text) {
        Ok(requirements) => selection::check(&selection::catalogue(&[]), &requirements),
        // A manifest whose requirements do not parse has no summary either.
        Err(_) => assert!(summary.is_err()),
    }
}
