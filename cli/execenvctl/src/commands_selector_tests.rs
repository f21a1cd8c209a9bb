#![allow(clippy::unwrap_used)]
//! `select` and `explain` against an in-process selector on port 0.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use execenv_client::to_status;
use execenv_core::{ErrorKind, FieldViolation};
use execenv_proto::environments::v1 as pb;
use execenv_proto::selector::v1 as sel;
use execenv_proto::selector::v1::selector_server::{Selector as SelectorService, SelectorServer};
use tonic::{Request, Response, Status};

use super::*;
use crate::render;
use crate::testing::fake_identity::{ALICE, DATA_SCIENCE, STAFF};
use crate::testing::{
    Calls, GUID, OTHER, against, assert_unreachable, cli, closed_address, environment, serve,
};

fn wire_environment() -> pb::Environment {
    pb::Environment::from(&environment())
}

fn chosen_python() -> sel::ChosenInstallation {
    sel::ChosenInstallation {
        language: "python".into(),
        version: "3.11.9".into(),
        path: "/opt/python/3.11.9/bin/python3".into(),
        closeness: "exact".into(),
    }
}

fn selection() -> sel::SelectResponse {
    sel::SelectResponse {
        environment: Some(wire_environment()),
        installations: vec![chosen_python()],
        selected_by: "automatic".into(),
        revision: 12,
        catalogue_age_seconds: 0.0,
    }
}

/// A selector that answers with fixed values (or fails with the failure of `calls`) and keeps
/// what it was sent.
#[derive(Clone, Default)]
struct FakeSelector {
    calls: Calls,
    requests: Arc<Mutex<Vec<sel::SelectRequest>>>,
}

impl FakeSelector {
    fn failing(status: Status) -> Self {
        FakeSelector {
            calls: Calls::failing(status),
            ..FakeSelector::default()
        }
    }

    fn answer<T>(&self, r: Request<sel::SelectRequest>, value: T) -> Result<Response<T>, Status> {
        self.calls.record(&r)?;
        self.requests.lock().unwrap().push(r.into_inner());
        Ok(Response::new(value))
    }
}

#[tonic::async_trait]
impl SelectorService for FakeSelector {
    async fn select(
        &self,
        r: Request<sel::SelectRequest>,
    ) -> Result<Response<sel::SelectResponse>, Status> {
        self.answer(r, selection())
    }

    async fn explain(
        &self,
        r: Request<sel::SelectRequest>,
    ) -> Result<Response<sel::ExplainResponse>, Status> {
        use sel::verdict::Outcome;
        let verdicts = vec![
            sel::Verdict {
                environment_guid: OTHER.into(),
                name: "img:old".into(),
                title: None,
                outcome: Outcome::Rejected as i32,
                reasons: vec!["no Python satisfying >=3.11: has 3.10.4".into()],
                installations: vec![],
                drift: String::new(),
            },
            sel::Verdict {
                environment_guid: GUID.into(),
                name: "ghcr.io/acme/py:3.11".into(),
                title: Some("Python 3.11".into()),
                outcome: Outcome::Chosen as i32,
                reasons: vec![],
                installations: vec![chosen_python()],
                drift: String::new(),
            },
        ];
        self.answer(
            r,
            sel::ExplainResponse {
                verdicts,
                selection: Some(selection()),
                error: String::new(),
                revision: 12,
                catalogue_age_seconds: 0.0,
            },
        )
    }
}

async fn serve_selector(fake: FakeSelector) -> SocketAddr {
    serve(tonic::transport::Server::builder().add_service(SelectorServer::new(fake))).await
}

/// `args` against the selector at `addr`; the registry is unreachable: selector commands must not
/// need it.
fn with_selector(addr: SocketAddr, args: &[&str]) -> Cli {
    against(&[("--selector", addr)], args)
}

#[tokio::test]
async fn select_prints_the_choice_and_sends_the_requirements_and_identity() {
    let fake = FakeSelector::default();
    let addr = serve_selector(fake.clone()).await;
    let report = run(with_selector(
        addr,
        &[
            "select",
            "--python",
            "3.11.4",
            "--default-image",
            "img:default",
            "--as-user",
            ALICE,
            "--as-groups",
            &format!("{STAFF},{DATA_SCIENCE}"),
            "--as-role",
            "publisher",
        ],
    ))
    .await
    .unwrap();
    assert_eq!(
        report.stdout,
        format!(
            "environment:    {GUID}\n\
             title:          Python 3.11\n\
             image:          ghcr.io/acme/py:3.11\n\
             selected by:    automatic\n\
             python:         3.11.9  /opt/python/3.11.9/bin/python3  (exact)\n\
             revision:       12\n\
             catalogue age:  0 s\n"
        )
    );
    assert_eq!(
        fake.calls.header(0, "x-execenv-user").as_deref(),
        Some(ALICE)
    );
    assert_eq!(
        fake.calls.header(0, "x-execenv-groups"),
        Some(format!("{STAFF},{DATA_SCIENCE}"))
    );
    assert_eq!(
        fake.calls.header(0, "x-execenv-role").as_deref(),
        Some("publisher")
    );
    assert_eq!(
        fake.calls.header(0, "authorization").as_deref(),
        Some("Bearer tok")
    );
    let requests = fake.requests.lock().unwrap();
    let request = &requests[0];
    let requirements = request.requirements.clone().unwrap();
    assert_eq!(requirements.python_version.as_deref(), Some("3.11.4"));
    assert_eq!(requirements.python_requires, None);
    assert_eq!(
        request
            .content
            .clone()
            .unwrap()
            .default_image_name
            .as_deref(),
        Some("img:default")
    );
}

#[tokio::test]
async fn select_and_explain_send_min_revision_and_refuse_a_negative_one() {
    let fake = FakeSelector::default();
    let addr = serve_selector(fake.clone()).await;
    run(with_selector(addr, &["select", "--min-revision", "45"]))
        .await
        .unwrap();
    run(with_selector(addr, &["explain", "--min-revision", "46"]))
        .await
        .unwrap();
    run(with_selector(addr, &["select"])).await.unwrap();
    let sent: Vec<i64> = fake
        .requests
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.min_revision)
        .collect();
    assert_eq!(sent, vec![45, 46, 0]);
    let refused = <crate::cli::Cli as clap::Parser>::try_parse_from([
        "execenvctl",
        "select",
        "--min-revision",
        "-1",
    ]);
    assert!(refused.is_err(), "a negative revision is refused");
}

#[tokio::test]
async fn select_sends_the_manifest_file_as_manifest_json() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("manifest.json");
    let text = r#"{"platform": "4.4.1", "environment": {"identifier": "x"}}"#;
    std::fs::write(&path, text).unwrap();
    let fake = FakeSelector::default();
    let addr = serve_selector(fake.clone()).await;
    run(with_selector(
        addr,
        &["select", "--manifest", path.to_str().unwrap()],
    ))
    .await
    .unwrap();
    let requests = fake.requests.lock().unwrap();
    assert_eq!(requests[0].manifest_json, text);
    assert_eq!(requests[0].requirements, None);
}

#[tokio::test]
async fn select_json_is_the_response_with_the_environment() {
    let addr = serve_selector(FakeSelector::default()).await;
    let report = run(with_selector(addr, &["-o", "json", "select"]))
        .await
        .unwrap();
    let json: serde_json::Value = serde_json::from_str(&report.stdout).unwrap();
    assert_eq!(json["environment"]["guid"], GUID);
    assert_eq!(json["environment"]["name"], "ghcr.io/acme/py:3.11");
    assert_eq!(
        json["installations"],
        serde_json::json!([{
            "language": "python",
            "version": "3.11.9",
            "path": "/opt/python/3.11.9/bin/python3",
            "closeness": "exact",
        }])
    );
    assert_eq!(json["selected_by"], "automatic");
    assert_eq!(json["revision"], 12);
    assert_eq!(json["catalogue_age_seconds"], 0.0);
}

#[tokio::test]
async fn select_failure_prints_each_environment_reason_and_exits_1() {
    let failure = Error {
        kind: ErrorKind::FailedPrecondition,
        message: "Cannot find compatible environment: no compatible Kubernetes environment with Python version 3.10.0".into(),
        violations: vec![
            FieldViolation::new(format!("environments[{GUID}]"), "no Python 3.10: has 3.11.9"),
            FieldViolation::new(format!("environments[{OTHER}]"), "matching is none"),
        ],
    };
    let fake = FakeSelector::failing(to_status(&failure));
    let addr = serve_selector(fake).await;
    let e = run(with_selector(addr, &["select", "--python", "3.10.0"]))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::FailedPrecondition);
    assert_eq!(render::exit_code(&e), 1);
    assert_eq!(
        render::error_text(&e),
        format!(
            "error: Cannot find compatible environment: no compatible Kubernetes environment with Python version 3.10.0\n  \
             - {GUID}: no Python 3.10: has 3.11.9\n  - {OTHER}: matching is none"
        )
    );
}

#[tokio::test]
async fn select_invalid_constraint_exits_2() {
    let fake = FakeSelector::failing(to_status(&Error::invalid_field(
        "python_requires",
        "\">=3.x\" is not a PEP 440 specifier",
    )));
    let addr = serve_selector(fake).await;
    let e = run(with_selector(
        addr,
        &["explain", "--python-requires", ">=3.x"],
    ))
    .await
    .unwrap_err();
    assert_eq!(render::exit_code(&e), 2);
    assert!(
        render::error_text(&e)
            .ends_with("\n  - python_requires: \">=3.x\" is not a PEP 440 specifier"),
        "{}",
        render::error_text(&e)
    );
}

#[tokio::test]
async fn explain_prints_chosen_first_then_the_rejected_and_the_choice() {
    let addr = serve_selector(FakeSelector::default()).await;
    let report = run(with_selector(addr, &["explain", "--python", "3.11.9"]))
        .await
        .unwrap();
    let lines: Vec<&str> = report.stdout.lines().collect();
    assert_eq!(
        lines[0],
        "VERDICT   GUID                                  TITLE        IMAGE                 INSTALLATIONS          WHY"
    );
    assert_eq!(
        lines[1],
        format!("chosen    {GUID}  Python 3.11  ghcr.io/acme/py:3.11  python 3.11.9 (exact)  -")
    );
    assert_eq!(
        lines[2],
        format!(
            "rejected  {OTHER}  -            img:old               -                      no Python satisfying >=3.11: has 3.10.4"
        )
    );
    assert_eq!(
        &lines[3..],
        [
            "",
            &format!("chosen: Python 3.11 ({GUID}) by automatic"),
            "revision 12, catalogue age 0 s"
        ]
    );
}

#[tokio::test]
async fn explain_yaml_is_the_response() {
    let addr = serve_selector(FakeSelector::default()).await;
    let report = run(with_selector(addr, &["-o", "yaml", "explain"]))
        .await
        .unwrap();
    let yaml: serde_json::Value = serde_saphyr::from_str(&report.stdout).unwrap();
    assert_eq!(yaml["verdicts"][0]["environment_guid"], OTHER);
    assert_eq!(yaml["verdicts"][0]["outcome"], "rejected");
    assert_eq!(yaml["verdicts"][1]["outcome"], "chosen");
    assert_eq!(yaml["selection"]["environment"]["guid"], GUID);
    assert_eq!(yaml["error"], "");
    assert_eq!(yaml["revision"], 12);
}

#[tokio::test]
async fn selector_unavailable_names_the_selector_and_its_url() {
    let fake = FakeSelector::failing(Status::unavailable("no catalogue yet"));
    let addr = serve_selector(fake).await;
    let e = run(with_selector(addr, &["select"])).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Unavailable);
    assert_eq!(
        e.message,
        format!("the selector at http://{addr} is unavailable: no catalogue yet")
    );
    assert_eq!(render::exit_code(&e), 1);
}

#[tokio::test]
async fn unreachable_selector_is_reported_with_a_hint() {
    let addr = closed_address().await;
    let e = run(cli(&["--selector", &addr.to_string(), "explain"]))
        .await
        .unwrap_err();
    assert_unreachable(
        &e,
        "the selector",
        addr,
        "is execenv-selector running? set --selector (or EXECENV_SELECTOR)",
    );
}

#[tokio::test]
async fn missing_manifest_fails_before_connecting() {
    // Nothing listens on port 9: the error must come from reading the file.
    let e = run(cli(&[
        "--selector",
        "http://127.0.0.1:9",
        "select",
        "--manifest",
        "/nonexistent/manifest.json",
    ]))
    .await
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidArgument);
    assert_eq!(e.violations[0].field, "--manifest");
}

#[test]
fn selector_address_defaults_to_the_local_port_or_execenv_selector() {
    // Read from the definition, so an EXECENV_SELECTOR in the test's environment does not matter.
    let command = <Cli as clap::CommandFactory>::command();
    let arg = command
        .get_arguments()
        .find(|a| a.get_id() == "selector")
        .unwrap();
    assert_eq!(arg.get_default_values(), ["http://127.0.0.1:50053"]);
    assert_eq!(arg.get_env().unwrap(), "EXECENV_SELECTOR");
}
