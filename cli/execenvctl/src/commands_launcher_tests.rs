#![allow(clippy::unwrap_used)]
//! `launch build|run` against an in-process launcher on port 0.

use execenv_client::to_status;
use execenv_core::{ErrorKind, FieldViolation};
use execenv_proto::launcher::v1 as wire;
use execenv_proto::selector::v1 as sel;
use tonic::Status;
use uuid::Uuid;

use super::*;
use crate::render;
use crate::testing::cli;
use crate::testing::fake_identity::ALICE;
use crate::testing::fake_launcher::*;

#[tokio::test]
async fn launch_run_sends_the_requirements_env_resources_command_and_identity() {
    let fake = FakeLauncher::default();
    let addr = serve_launcher(fake.clone()).await;
    let args = launch_args(
        "run",
        &[
            "--request-id",
            "r-1",
            "--python",
            "3.11.4",
            "--r-requires",
            ">= 4.1",
            "--environment",
            ENVIRONMENT,
            "--default-image",
            "img:default",
            "--env",
            "MODE=prod",
            "--env",
            "EMPTY=",
            "--cpu-request",
            "500m",
            "--memory-limit",
            "1Gi",
            "--service-account",
            "runner",
            "--as-user",
            ALICE,
            "--as-role",
            "publisher",
            "--",
            "python",
            "app.py",
            "--port",
            "8080",
        ],
    );
    let (result, _) = run_launcher(addr, &args).await;
    result.unwrap();
    assert_eq!(
        fake.calls.header(0, "x-execenv-user").as_deref(),
        Some(ALICE)
    );
    assert_eq!(
        fake.calls.header(0, "authorization").as_deref(),
        Some("Bearer tok")
    );
    let seen = fake.seen.lock().unwrap();
    let request = &seen.launches[0];
    assert_eq!(request.request_id, "r-1");
    assert_eq!(request.kind(), wire::Kind::Run);
    let content = request.content.clone().unwrap();
    assert_eq!(
        (content.guid.as_str(), content.bundle.as_str()),
        (CONTENT, "12")
    );
    assert_eq!(
        content.requirements,
        Some(sel::Requirements {
            python_version: Some("3.11.4".into()),
            r_requires: Some(">= 4.1".into()),
            target_environment_guid: Some(ENVIRONMENT.into()),
            ..sel::Requirements::default()
        })
    );
    assert_eq!(content.manifest_json, "");
    assert_eq!(content.default_image_name.as_deref(), Some("img:default"));
    assert_eq!(content.default_environment_guid, None);
    assert_eq!(request.command, ["python", "app.py", "--port", "8080"]);
    assert_eq!(request.env.len(), 2);
    assert_eq!(request.env["MODE"], "prod");
    assert_eq!(request.env["EMPTY"], "");
    assert_eq!(
        request.resources,
        Some(wire::Resources {
            cpu_request: Some("500m".into()),
            memory_limit: Some("1Gi".into()),
            ..wire::Resources::default()
        })
    );
    assert_eq!(request.service_account.as_deref(), Some("runner"));
}

#[tokio::test]
async fn launch_build_sends_the_manifest_file_and_no_command_or_resources() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("manifest.json");
    let text = r#"{"platform": "4.4.1"}"#;
    std::fs::write(&path, text).unwrap();
    let fake = FakeLauncher::default();
    let addr = serve_launcher(fake.clone()).await;
    let args = launch_args("build", &["--manifest", path.to_str().unwrap()]);
    run_launcher(addr, &args).await.0.unwrap();
    let seen = fake.seen.lock().unwrap();
    let request = &seen.launches[0];
    assert_eq!(request.kind(), wire::Kind::Build);
    let content = request.content.clone().unwrap();
    assert_eq!(content.manifest_json, text);
    assert_eq!(content.requirements, None);
    assert!(request.command.is_empty());
    assert_eq!(request.resources, None);
    assert_eq!(request.service_account, None);
}

#[tokio::test]
async fn launch_without_request_id_sends_a_fresh_uuid_v4_and_prints_it() {
    let fake = FakeLauncher::default();
    let addr = serve_launcher(fake.clone()).await;
    let (first, _) = run_launcher(addr, &launch_args("build", &[])).await;
    run_launcher(addr, &launch_args("build", &[]))
        .await
        .0
        .unwrap();
    let seen = fake.seen.lock().unwrap();
    let ids: Vec<&str> = seen
        .launches
        .iter()
        .map(|r| r.request_id.as_str())
        .collect();
    assert_ne!(ids[0], ids[1]);
    for id in &ids {
        assert_eq!(Uuid::parse_str(id).unwrap().get_version_num(), 4, "{id}");
    }
    assert!(
        first
            .unwrap()
            .stdout
            .starts_with(&format!("id:           {}\n", ids[0])),
        "the generated id is shown"
    );
}

#[tokio::test]
async fn launch_prints_the_launch_with_its_environment_installations_and_job() {
    let addr = serve_launcher(FakeLauncher::default()).await;
    let (result, streamed) =
        run_launcher(addr, &launch_args("run", &["--request-id", "r-1"])).await;
    let report = result.unwrap();
    assert_eq!(
        report.stdout,
        format!(
            "id:           r-1\n\
             kind:         run\n\
             state:        pending\n\
             reason:       ContainerCreating\n\
             exit code:    -\n\
             content:      {CONTENT}\n\
             bundle:       12\n\
             environment:  Python 3.11 ({ENVIRONMENT})\n\
             image:        ghcr.io/acme/py:3.11\n\
             selected by:  automatic\n\
             owner:        -\n\
             python:       3.11.9  /opt/python/3.11.9/bin/python3\n\
             backend:      kubernetes\n\
             job:          run-r-1\n\
             namespace:    content\n\
             created:      2026-01-31T12:00:00Z\n\
             started:      -\n\
             finished:     -\n"
        )
    );
    assert_eq!((report.exit_code, streamed.as_str()), (0, ""));
}

#[tokio::test]
async fn launch_json_is_the_launch_message() {
    let addr = serve_launcher(FakeLauncher::default()).await;
    let mut args = vec!["-o", "json"];
    args.extend(launch_args("run", &["--request-id", "r-1"]));
    let report = run_launcher(addr, &args).await.0.unwrap();
    let json: serde_json::Value = serde_json::from_str(&report.stdout).unwrap();
    assert_eq!(json["id"], "r-1");
    assert_eq!(json["kind"], "run");
    assert_eq!(json["state"], "pending");
    assert_eq!(json["environment_guid"], ENVIRONMENT);
    assert_eq!(json["installations"][0]["version"], "3.11.9");
    assert_eq!(json["backend"], "kubernetes");
    assert_eq!(json["exit_code"], serde_json::Value::Null);
    assert_eq!(json["created_time"], "2026-01-31T12:00:00Z");
}

#[tokio::test]
async fn launch_wait_follows_the_launch_and_exits_1_when_it_failed() {
    let fake = FakeLauncher {
        events: vec![
            Ok(wire_launch("r-1", wire::State::Pending)),
            Ok(wire_launch("r-1", wire::State::Running)),
            Ok(wire::Launch {
                message: "container exited with 3".into(),
                ..wire_launch("r-1", wire::State::Failed)
            }),
        ],
        ..FakeLauncher::default()
    };
    let addr = serve_launcher(fake.clone()).await;
    let args = launch_args("run", &["--request-id", "r-1", "--wait"]);
    let (result, streamed) = run_launcher(addr, &args).await;
    let report = result.unwrap();
    assert_eq!(report.exit_code, 1);
    assert_eq!(
        report.note.as_deref(),
        Some("launch r-1 failed: Error: container exited with 3 (exit code 3)")
    );
    let lines: Vec<&str> = streamed.lines().collect();
    assert_eq!(lines[0], "id:           r-1");
    // The watch's first event repeats the state the block shows; it is not printed twice.
    assert_eq!(
        lines[lines.len() - 2..],
        [
            "2026-01-31T12:01:00Z  r-1  running  Started  -  -",
            "2026-01-31T12:02:00Z  r-1  failed  Error  container exited with 3  exit 3",
        ]
    );
    // The block (18 lines, the owner among them), then the two changes.
    assert_eq!(lines.len(), 20);
    assert_eq!(fake.seen.lock().unwrap().ids, [("watch", "r-1".to_owned())]);
}

#[tokio::test]
async fn launch_wait_exits_0_when_the_launch_succeeded() {
    let fake = FakeLauncher::watching(&[("r-1", wire::State::Succeeded)]);
    let addr = serve_launcher(fake).await;
    let args = launch_args("build", &["--request-id", "r-1", "--wait"]);
    let report = run_launcher(addr, &args).await.0.unwrap();
    assert_eq!(report.exit_code, 0);
    assert_eq!(
        report.note.as_deref(),
        Some("launch r-1 succeeded: Completed (exit code 0)")
    );
}

#[tokio::test]
async fn launch_wait_json_prints_only_the_finished_launch() {
    let fake = FakeLauncher::watching(&[
        ("r-1", wire::State::Running),
        ("r-1", wire::State::Cancelled),
    ]);
    let addr = serve_launcher(fake).await;
    let mut args = vec!["-o", "json"];
    args.extend(launch_args("run", &["--request-id", "r-1", "--wait"]));
    let (result, streamed) = run_launcher(addr, &args).await;
    let report = result.unwrap();
    assert_eq!(streamed, "");
    let json: serde_json::Value = serde_json::from_str(&report.stdout).unwrap();
    assert_eq!(json["state"], "cancelled");
    assert_eq!(report.exit_code, 1);
}

#[tokio::test]
async fn launch_wait_for_an_already_finished_launch_does_not_watch() {
    let fake = FakeLauncher {
        launched: Some(wire::State::Succeeded),
        ..FakeLauncher::default()
    };
    let addr = serve_launcher(fake.clone()).await;
    let args = launch_args("run", &["--request-id", "r-1", "--wait"]);
    let report = run_launcher(addr, &args).await.0.unwrap();
    assert_eq!(report.exit_code, 0);
    assert!(fake.seen.lock().unwrap().ids.is_empty());
}

#[tokio::test]
async fn launch_wait_fails_when_the_watch_ends_before_the_launch_finished() {
    let fake = FakeLauncher::watching(&[("r-1", wire::State::Running)]);
    let addr = serve_launcher(fake).await;
    let args = launch_args("run", &["--request-id", "r-1", "--wait"]);
    let e = run_launcher(addr, &args).await.0.unwrap_err();
    assert_eq!(render::exit_code(&e), 1);
    assert_eq!(
        e.message,
        "the launcher stopped reporting launch r-1 before it finished; \
         see `execenvctl launches get r-1`"
    );
}

#[tokio::test]
async fn launch_rejected_by_the_launcher_exits_2_with_each_violation() {
    let fake = FakeLauncher::failing(to_status(&Error::invalid(vec![FieldViolation::new(
        "content.bundle",
        "\"12/x\" has a character other than letters, digits, '-', '_' and '.'",
    )])));
    let addr = serve_launcher(fake).await;
    let e = run_launcher(addr, &launch_args("build", &[]))
        .await
        .0
        .unwrap_err();
    assert_eq!(render::exit_code(&e), 2);
    assert_eq!(
        render::error_text(&e),
        "error: invalid input (1 problem):\n  - content.bundle: \"12/x\" has a character other \
         than letters, digits, '-', '_' and '.'"
    );
}

#[tokio::test]
async fn launch_unavailable_names_the_launcher_and_the_generated_request_id() {
    let fake = FakeLauncher::failing(Status::unavailable("selector unreachable"));
    let addr = serve_launcher(fake.clone()).await;
    let e = run_launcher(addr, &launch_args("build", &[]))
        .await
        .0
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Unavailable);
    assert_eq!(fake.calls.count(), 1);
    assert!(
        e.message.starts_with(&format!(
            "the launcher at http://{addr} is unavailable: selector unreachable (request id "
        )),
        "{}",
        e.message
    );
    assert!(
        e.message.contains("repeat with --request-id "),
        "{}",
        e.message
    );
}

#[tokio::test]
async fn duplicate_env_variable_fails_before_connecting() {
    // Nothing listens on port 9: the error must come from the flags.
    let mut args = vec!["--launcher", "http://127.0.0.1:9"];
    args.extend(launch_args("run", &["--env", "A=1", "--env", "A=2"]));
    let e = run(cli(&args)).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidArgument);
    assert_eq!(e.violations[0].field, "--env");
    assert!(e.violations[0].description.contains("A is given twice"));
}

#[test]
fn launcher_address_defaults_to_the_local_port_or_execenv_launcher() {
    // Read from the definition, so an EXECENV_LAUNCHER in the test's environment does not matter.
    let command = <Cli as clap::CommandFactory>::command();
    let arg = command
        .get_arguments()
        .find(|a| a.get_id() == "launcher")
        .unwrap();
    assert_eq!(arg.get_default_values(), ["http://127.0.0.1:50054"]);
    assert_eq!(arg.get_env().unwrap(), "EXECENV_LAUNCHER");
}
