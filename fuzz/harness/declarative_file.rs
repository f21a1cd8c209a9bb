//! Fuzz harness of the declarative file: any text, read as config-sync reads it — as
//! `environments.yaml` (JSON when it starts with `[` or `{`), as `environments.json`, and as a
//! legacy `runtime.yaml`. Shared by the fuzz target and config-sync's regression test.

use execenv_config_sync::{file, legacy};

/// Reads `data` every way; panics (a defect) only if a reader panics or breaks its promise.
pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for origin in ["environments.yaml", "environments.json"] {
        if let Ok(loaded) = file::load(text, origin) {
            assert_eq!(loaded.drafts.len(), loaded.definitions.len());
            // The digest of what parsed is stable.
            assert_eq!(loaded.digest(), loaded.digest());
        }
    }
    if let Ok(loaded) = legacy::load(text, "runtime.yaml") {
        assert_eq!(loaded.drafts.len(), loaded.definitions.len());
    }
}
