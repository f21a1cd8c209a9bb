//! Generated attacks on the REST API: schemathesis (pinned, installed under target/ on first use)
//! reads the document the real gateway serves (`/__api__/openapi.json`) and sends what it
//! generates from it — valid requests, invalid ones, and sequences that follow the document's
//! links (create → read, update, delete, permissions…) — as an administrator, a publisher and a
//! viewer, with every check it has (`--checks all`, `e2e/contract/schemathesis.toml`). The
//! gateway runs with everything behind it (`LocalStack`: the registry, config-sync, the
//! selector, the launcher on local processes, and the image examiner reading a local OCI
//! registry and no other), so no answer comes from a missing service. Any server error, any answer the
//! document does not describe, any request the document forbids that the server accepts (or the
//! reverse) fails the test with schemathesis' report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, ensure};
use execenv_e2e::connect_clients;
use execenv_e2e::drift_images::DriftImages;
use execenv_e2e::gateway::user_key;
use execenv_e2e::python::host_python_version;
use execenv_e2e::stack::LocalStack;

/// Cases per operation and phase: enough to reach every branch the document describes, small
/// enough for `make test`.
const MAX_EXAMPLES: &str = "10";
/// The same cases on every run, so that a failure can be replayed.
const SEED: &str = "22";

#[test]
fn schemathesis_finds_no_server_error_and_no_check_failure_for_any_role() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let images = DriftImages::push(dir.path())?;
    // The examiner reads only the local registry: generated references name registries
    // anywhere, and the test stays on this machine (403 for the others, as configured).
    let only_local = [(
        "EXECENV_EXAMINER__ALLOWED_REGISTRIES",
        images.oci.host().to_owned(),
    )];
    let stack = LocalStack::start_examining_with(&images, &only_local)?;
    let roles = [
        (
            "administrator",
            user_key(&stack.registry, "ada", "administrator")?,
        ),
        ("publisher", user_key(&stack.registry, "pat", "publisher")?),
        ("viewer", user_key(&stack.registry, "vic", "viewer")?),
    ];
    let mut failed = Vec::new();
    for (role, key) in &roles {
        let started = Instant::now();
        let (passed, report) = schemathesis(&stack.gateway.url, key, dir.path())?;
        eprintln!(
            "schemathesis as {role}: {} in {:.0?}\n{report}",
            if passed { "passed" } else { "FAILED" },
            started.elapsed()
        );
        if !passed {
            failed.push(format!("as {role}:\n{report}"));
        }
    }
    ensure!(
        failed.is_empty(),
        "schemathesis found failures:\n{}",
        failed.join("\n")
    );
    Ok(())
}

/// Runs schemathesis against the gateway at `url` with `key`; whether it passed and its report.
fn schemathesis(url: &str, key: &str, scratch: &Path) -> Result<(bool, String)> {
    let venv = connect_clients::schemathesis_venv()?;
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/contract/schemathesis.toml");
    // Teaches it to generate bundle archives (the upload's body).
    let hooks = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/contract/schemathesis_hooks.py"
    );
    let out = Command::new(venv.join("bin/schemathesis"))
        .arg("--config-file")
        .arg(config)
        .arg("--no-color")
        .arg("run")
        .arg(format!("{url}/__api__/openapi.json"))
        .args(["--checks", "all"])
        .args(["--phases", "examples,coverage,fuzzing,stateful"])
        .args(["--max-examples", MAX_EXAMPLES])
        .args(["--seed", SEED])
        .args(["--generation-database", "none"])
        .args(["--workers", "1"])
        .env("EXECENV_SCHEMATHESIS_KEY", key)
        .env("SCHEMATHESIS_HOOKS", hooks)
        .env("EXECENV_SCHEMATHESIS_PYTHON", host_python_version()?)
        // Reports and caches go to the scratch folder, not the source tree.
        .current_dir(scratch)
        .output()
        .context("cannot run schemathesis")?;
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok((out.status.success(), report))
}
