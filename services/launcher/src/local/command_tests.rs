use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::*;
use crate::local::fixtures::plan;

fn paths() -> RunnerPaths {
    RunnerPaths {
        bundle: "/data/content/c/7/bundle".into(),
        work: "/data/content/c/7/work".into(),
        cache: "/data/cache/img-0123".into(),
        status: "/data/launches/req-1/status.json".into(),
    }
}

fn strings(argv: &[OsString]) -> Vec<String> {
    argv.iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect()
}

#[test]
fn a_build_runs_the_runner_with_bundle_work_cache_and_status_file() {
    let plan = plan(LaunchKind::Build, &[]);
    let argv = argv(&plan, Path::new("/bin/runner"), None, &paths());
    assert_eq!(
        strings(&argv),
        [
            "/bin/runner",
            "build",
            "--bundle",
            "/data/content/c/7/bundle",
            "--work",
            "/data/content/c/7/work",
            "--cache",
            "/data/cache/img-0123",
            "--status-file",
            "/data/launches/req-1/status.json",
        ]
    );
}

#[test]
fn a_run_passes_its_command_after_a_double_dash_and_takes_no_cache() {
    let plan = plan(LaunchKind::Run, &["python", "-c", "print(1)"]);
    let argv = argv(&plan, Path::new("/bin/runner"), None, &paths());
    assert_eq!(
        strings(&argv),
        [
            "/bin/runner",
            "run",
            "--bundle",
            "/data/content/c/7/bundle",
            "--work",
            "/data/content/c/7/work",
            "--status-file",
            "/data/launches/req-1/status.json",
            "--",
            "python",
            "-c",
            "print(1)",
        ]
    );
    let entrypoint = argv_of(LaunchKind::Run, &[]);
    assert!(
        !entrypoint.contains(&"--".to_owned()),
        "no command, no double dash: {entrypoint:?}"
    );
}

fn argv_of(kind: LaunchKind, command: &[&str]) -> Vec<String> {
    strings(&argv(
        &plan(kind, command),
        Path::new("/bin/runner"),
        None,
        &paths(),
    ))
}

#[test]
fn the_global_supervisor_wraps_the_runner_and_the_environments_own_does_not() {
    let mut plan = plan(LaunchKind::Run, &[]);
    plan.environment.spec.supervisor = Some("/opt/in-image/supervisor".into());
    let argv = strings(&argv(
        &plan,
        Path::new("/bin/runner"),
        Some("/usr/local/bin/supervise"),
        &paths(),
    ));
    assert_eq!(
        argv[..3],
        ["/usr/local/bin/supervise", "/bin/runner", "run"]
    );
    assert!(!argv.iter().any(|a| a.contains("in-image")), "{argv:?}");
}

#[test]
fn the_environment_passes_the_installations_and_the_request_and_drops_the_launchers_settings() {
    let mut plan = plan(LaunchKind::Build, &[]);
    plan.request.env = vec![("MODE".into(), "test".into())];
    let inherited = [
        ("PATH", "/usr/bin"),
        ("EXECENV_AUTH__SERVICE_TOKEN", "secret"),
        ("EXECENV_R", "/stale/R"),
        ("PIP_NO_INDEX", "1"),
    ]
    .map(|(k, v)| (OsString::from(k), OsString::from(v)));
    let env: Vec<(String, String)> = environment(inherited, &plan, None)
        .into_iter()
        .map(|(k, v)| (k.to_string_lossy().into(), v.to_string_lossy().into()))
        .collect();
    assert_eq!(
        env,
        [
            ("PATH", "/usr/bin"),
            ("PIP_NO_INDEX", "1"),
            ("EXECENV_PYTHON", "/usr/bin/python3.11"),
            ("EXECENV_QUARTO", "/opt/quarto/bin/quarto"),
            ("MODE", "test"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
    );
}

#[test]
fn an_interactive_launch_is_told_its_port_host_and_base_path_after_the_requests_variables() {
    let mut plan = plan(LaunchKind::Interactive, &[]);
    plan.request.env = vec![
        ("MODE".into(), "test".into()),
        ("EXECENV_CONTENT_PORT".into(), "1".into()),
    ];
    let env: Vec<(String, String)> = environment([], &plan, Some(43117))
        .into_iter()
        .map(|(k, v)| (k.to_string_lossy().into(), v.to_string_lossy().into()))
        .collect();
    assert_eq!(
        env,
        [
            ("EXECENV_PYTHON", "/usr/bin/python3.11"),
            ("EXECENV_QUARTO", "/opt/quarto/bin/quarto"),
            ("MODE", "test"),
            ("EXECENV_CONTENT_PORT", "1"),
            ("EXECENV_CONTENT_PORT", "43117"),
            ("EXECENV_CONTENT_HOST", "127.0.0.1"),
            (
                "EXECENV_CONTENT_BASE_PATH",
                "/content/0d2b5b39-7c3b-4e0e-9d0c-1f1e5d1a2b3c"
            ),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
    );
    assert_eq!(address(43117), "127.0.0.1:43117");
}

#[test]
fn the_runner_is_the_configured_one_else_the_one_beside_the_launcher_else_on_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let beside = dir.path().join("bin");
    let on_path = dir.path().join("path");
    for folder in [&beside, &on_path] {
        std::fs::create_dir_all(folder).expect("mkdir");
        executable(&folder.join(RUNNER_NAME));
    }
    let configured = dir.path().join("my-runner");
    executable(&configured);
    let path_var =
        std::env::join_paths([dir.path().join("nothing"), on_path.clone()]).expect("PATH");
    let found = |c: Option<&Path>, b: Option<&Path>| find_runner(c, b, Some(&path_var));
    assert_eq!(
        found(Some(&configured), Some(&beside)),
        Ok(configured.clone())
    );
    assert_eq!(found(None, Some(&beside)), Ok(beside.join(RUNNER_NAME)));
    assert_eq!(
        found(None, Some(&dir.path().join("nothing"))),
        Ok(on_path.join(RUNNER_NAME))
    );
}

#[test]
fn a_missing_runner_says_how_to_set_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("absent");
    let configured = find_runner(Some(&missing), None, None).expect_err("missing");
    assert!(
        configured.contains("EXECENV_LOCAL__RUNNER") && configured.contains("absent"),
        "{configured}"
    );
    let not_executable = dir.path().join("plain");
    std::fs::write(&not_executable, "").expect("write");
    assert!(find_runner(Some(&not_executable), None, None).is_err());
    let searched =
        find_runner(None, Some(dir.path()), Some(dir.path().as_os_str())).expect_err("none");
    assert!(
        searched.contains("EXECENV_LOCAL__RUNNER") && searched.contains("on PATH"),
        "{searched}"
    );
}

fn executable(path: &PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, "#!/bin/sh\n").expect("write");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

#[test]
fn exit_zero_succeeds_and_a_non_zero_exit_fails_with_the_runners_reason() {
    let ok = finished(LaunchKind::Build, Exit::Code(0), Stop::No, None);
    assert_eq!(
        (ok.state, ok.reason.as_str(), ok.exit_code),
        (State::Succeeded, "Completed", Some(0))
    );

    let status = RunnerStatus::parse(
        br#"{"step":"run","outcome":"refused","exit_code":3,"reason":"the build for this bundle is missing or out of date (no build record at /w/build-record.json); run `execenv-content-runner build` first","durations":{"total_ms":3}}"#,
    );
    let refused = finished(LaunchKind::Run, Exit::Code(3), Stop::No, status.as_ref());
    assert_eq!(
        (refused.state, refused.reason.as_str(), refused.exit_code),
        (State::Failed, "Error", Some(3))
    );
    assert!(
        refused
            .message
            .starts_with("run refused (exit code 3): the build for this bundle is missing"),
        "{}",
        refused.message
    );

    let failed = RunnerStatus {
        outcome: "failed".into(),
        reason: "ERROR: no matching distribution\nmore".into(),
    };
    let seen = finished(LaunchKind::Build, Exit::Code(1), Stop::No, Some(&failed));
    assert_eq!(
        seen.message,
        "build failed (exit code 1): ERROR: no matching distribution"
    );

    let silent = finished(LaunchKind::Run, Exit::Code(2), Stop::No, None);
    assert!(
        silent.message.contains("exited with code 2") && silent.message.contains("logs"),
        "{}",
        silent.message
    );
    assert_eq!(RunnerStatus::parse(b"not json"), None);
}

#[test]
fn a_signal_is_a_kill_unless_the_launcher_stopped_it() {
    let killed = finished(LaunchKind::Run, Exit::Signal(9), Stop::No, None);
    assert_eq!(
        (killed.state, killed.reason.as_str(), killed.exit_code),
        (State::Failed, "Killed", None)
    );
    assert!(
        killed.message.contains("signal 9 (SIGKILL)"),
        "{}",
        killed.message
    );

    let cancelled = finished(LaunchKind::Run, Exit::Signal(15), Stop::Cancel, None);
    assert_eq!(
        (cancelled.state, cancelled.reason.as_str()),
        (State::Cancelled, "Cancelled")
    );
    // The runner forwards SIGTERM and exits 128 + 15 itself: still a cancellation.
    let forwarded = finished(LaunchKind::Run, Exit::Code(143), Stop::Cancel, None);
    assert_eq!(
        (forwarded.state, forwarded.exit_code),
        (State::Cancelled, Some(143))
    );

    let stopped = finished(LaunchKind::Build, Exit::Signal(9), Stop::Shutdown, None);
    assert_eq!(
        (stopped.state, stopped.reason.as_str()),
        (State::Failed, LAUNCHER_STOPPED)
    );
}

#[test]
fn a_queued_launch_stopped_before_it_started_is_cancelled_or_failed_for_shutdown() {
    let cancelled = never_started(Stop::Cancel);
    assert_eq!(
        (cancelled.state, cancelled.reason.as_str()),
        (State::Cancelled, "Cancelled")
    );
    let stopped = never_started(Stop::Shutdown);
    assert_eq!(
        (stopped.state, stopped.reason.as_str()),
        (State::Failed, LAUNCHER_STOPPED)
    );
}
