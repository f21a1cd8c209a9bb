//! In-process tests of `start`: configuration and first-sync failures. The sync against a real
//! registry is tested through the binaries in e2e/.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::path::PathBuf;

use execenv_config_sync::{Config, StartError, start};
use execenv_kit::shutdown::Shutdown;

fn config(file: Option<PathBuf>) -> Config {
    let mut c = Config::default();
    c.server.grpc_addr = "127.0.0.1:0".parse().unwrap();
    c.server.admin_addr = "127.0.0.1:0".parse().unwrap();
    // Nothing listens on port 1.
    c.registry.url = "http://127.0.0.1:1".to_owned();
    c.sync.file = file;
    c.sync.startup_timeout_ms = 0;
    c
}

#[tokio::test]
async fn start_without_any_file_fails_saying_what_to_set() {
    let err = start(config(None), Shutdown::new()).await.err().unwrap();
    assert!(matches!(err, StartError::Config(_)));
    assert!(err.to_string().contains("EXECENV_SYNC__FILE"), "{err}");
}

#[tokio::test]
async fn start_with_a_missing_file_fails_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("environments.yaml");
    let err = start(config(Some(file)), Shutdown::new())
        .await
        .err()
        .unwrap();
    let StartError::Failed { what, problems } = &err else {
        panic!("{err}");
    };
    assert!(what.starts_with("cannot sync "), "{err}");
    assert_eq!(problems.len(), 1);
    assert!(
        problems[0].contains("environments.yaml does not exist"),
        "{err}"
    );
}

#[tokio::test]
async fn start_with_invalid_definitions_fails_listing_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("environments.yaml");
    std::fs::write(&file, "- title: a\n- name: ghcr.io/a/b:1\n  colour: red\n").unwrap();
    let err = start(config(Some(file)), Shutdown::new())
        .await
        .err()
        .unwrap();
    assert_eq!(err.problems().len(), 2, "{err}");
    let text = err.to_string();
    assert!(text.contains("2 problems"), "{text}");
    assert!(text.contains("executionEnvironments[0].name"), "{text}");
    assert!(
        text.contains("executionEnvironments[1]: unknown key \"colour\""),
        "{text}"
    );
}

#[tokio::test]
async fn start_fails_when_the_registry_stays_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("environments.yaml");
    std::fs::write(&file, "[]\n").unwrap();
    let err = start(config(Some(file)), Shutdown::new())
        .await
        .err()
        .unwrap();
    let text = err.to_string();
    assert!(
        text.contains("cannot reach the registry at http://127.0.0.1:1: "),
        "{text}"
    );
    assert!(
        text.contains("is execenv-environment-registry running? set EXECENV_REGISTRY__URL"),
        "{text}"
    );
}

#[test]
fn configuration_variables_set_the_files_and_the_watch() {
    let env: HashMap<String, String> = [
        ("EXECENV_SYNC__FILE", "/etc/execenv/environments.yaml"),
        ("EXECENV_SYNC__LEGACY_FILE", "/etc/execenv/runtime.yaml"),
        ("EXECENV_SYNC__POLL_INTERVAL_MS", "500"),
        ("EXECENV_SYNC__DEBOUNCE_MS", "50"),
        ("EXECENV_REGISTRY__URL", "http://registry:50051"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let c: Config = execenv_kit::config::load(&Config::default(), None, &env).unwrap();
    assert_eq!(
        c.sync.file,
        Some(PathBuf::from("/etc/execenv/environments.yaml"))
    );
    assert_eq!(
        c.sync.legacy_file,
        Some(PathBuf::from("/etc/execenv/runtime.yaml"))
    );
    assert_eq!(c.sync.poll_interval_ms, 500);
    assert_eq!(c.sync.debounce_ms, 50);
    assert_eq!(c.registry.url, "http://registry:50051");
    assert_eq!(c.server.grpc_addr.port(), 50052);
    assert_eq!(c.server.admin_addr.port(), 9452);
}

#[test]
fn defaults_need_no_configuration() {
    let c: Config = execenv_kit::config::load(&Config::default(), None, &HashMap::new()).unwrap();
    assert_eq!(c, Config::default());
    assert_eq!(c.sync.poll_interval_ms, 2000);
    assert_eq!(c.sync.debounce_ms, 100);
    assert_eq!(c.registry.url, "http://127.0.0.1:50051");
}
