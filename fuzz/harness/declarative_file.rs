//! Fuzz harness of the declarative file: any text, read as config-sync reads it — as
//! `environments.yaml` (JSON when it starts with `[` or `{`), as `environments.json`, and as a
//! legacy `runtime.yaml`. Shared by the fuzz target and config-sync's regression test.

use execenv_config_sync::{file, legacy};
use execenv_proto::apply::ApplyRequest;

/// Reads `data` every way; panics (a defect) only if a reader panics or breaks its promise.
pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for origin in ["environments.yaml", "environments.json"] {
        if let Ok(loaded) = file::load(text, origin) {
            // Every definition is sent, in a request the registry can read.
            let n = loaded.len();
            let digest = loaded.digest().to_owned();
            let request = ApplyRequest::new(loaded.definitions, false, file::FIELD_PREFIX, None);
            let decoded = request.decoded().map(|r| r.definitions.len());
            assert_eq!(decoded.ok(), Some(n));
            // The digest of what parsed is stable.
            let again = file::load(text, origin).map(|l| l.digest().to_owned());
            assert_eq!(again.ok(), Some(digest));
        }
    }
    if let Ok(drafts) = legacy::load(text, "runtime.yaml") {
        let parsed = legacy::parse(text, "runtime.yaml").map(|d| d.len());
        assert_eq!(parsed.ok(), Some(drafts.len()));
    }
}
