#![allow(clippy::unwrap_used)]
//! `sync plan` and `sync status` against an in-process config-sync on port 0.

use std::net::SocketAddr;

use execenv_client::to_status;
use execenv_core::{ErrorKind, FieldViolation};
use execenv_proto::registry::v1 as reg;
use execenv_proto::sync::v1::config_sync_server::{
    ConfigSync as ConfigSyncService, ConfigSyncServer,
};
use tonic::{Request, Response, Status};

use super::*;
use crate::args::GlobalArgs;
use crate::connection::identity;
use crate::render;
use crate::testing::fake_identity::ALICE;
use crate::testing::{
    Calls, GUID, against, assert_unreachable, cli, closed_address, serve, wire_noon,
};

#[test]
fn identity_of_the_service_carries_only_the_token() {
    let g: GlobalArgs = cli(&["--token", "tok", "sync", "status"]).global;
    let i = identity(&g);
    assert_eq!(i.token.as_deref(), Some("tok"));
    assert_eq!(i.user, None);
    assert_eq!(i.role, None);
}

/// A config-sync that answers with fixed values, or fails with the failure of `calls`.
#[derive(Clone, Default)]
struct FakeConfigSync {
    calls: Calls,
}

#[tonic::async_trait]
impl ConfigSyncService for FakeConfigSync {
    async fn status(
        &self,
        r: Request<sync_pb::StatusRequest>,
    ) -> Result<Response<sync_pb::StatusResponse>, Status> {
        self.calls.answer(
            &r,
            sync_pb::StatusResponse {
                file: "/etc/execenv/environments.yaml".into(),
                outcome: "failed".into(),
                last_sync_time: Some(wire_noon()),
                last_success_time: None,
                digest: "0123456789abcdef0123".into(),
                error: "the file has 2 problems".into(),
                problems: vec![
                    "images[0].name: is required".into(),
                    "images[1].guid: duplicate".into(),
                ],
                managed_count: 4,
            },
        )
    }
    async fn plan(
        &self,
        r: Request<sync_pb::PlanRequest>,
    ) -> Result<Response<reg::ApplyManagedSetResponse>, Status> {
        let change = |guid: &str, name: &str, fields: &[&str]| reg::PlannedChange {
            guid: guid.into(),
            name: name.into(),
            changed_fields: fields.iter().map(|f| (*f).to_owned()).collect(),
        };
        self.calls.answer(
            &r,
            reg::ApplyManagedSetResponse {
                created: vec![change(GUID, "img:new", &[])],
                adopted: vec![],
                updated: vec![change("g-upd", "img:upd", &["title", "python"])],
                deleted: vec![],
                unchanged: vec!["g-same".into()],
                revision: 12,
                dry_run: true,
            },
        )
    }
}

async fn serve_config_sync(fake: FakeConfigSync) -> SocketAddr {
    serve(tonic::transport::Server::builder().add_service(ConfigSyncServer::new(fake))).await
}

/// `args` against config-sync at `addr`; the registry is unreachable: sync commands must not need
/// it.
fn with_config_sync(addr: SocketAddr, args: &[&str]) -> Cli {
    against(&[("--config-sync", addr)], args)
}

#[tokio::test]
async fn sync_plan_prints_the_changes_and_the_counts() {
    let fake = FakeConfigSync::default();
    let addr = serve_config_sync(fake.clone()).await;
    let report = run(with_config_sync(addr, &["sync", "plan"]))
        .await
        .unwrap();
    assert_eq!(
        report.stdout,
        format!(
            "+ create  img:new ({GUID})\n~ update  img:upd (g-upd): title, python\n\n\
             1 to create, 0 to adopt, 1 to update, 0 to delete, 1 unchanged\n"
        )
    );
    assert_eq!(
        fake.calls.header(0, "authorization").as_deref(),
        Some("Bearer tok")
    );
    assert_eq!(fake.calls.header(0, "x-execenv-user"), None);
}

#[tokio::test]
async fn sync_plan_json_is_the_response() {
    let addr = serve_config_sync(FakeConfigSync::default()).await;
    let report = run(with_config_sync(addr, &["-o", "json", "sync", "plan"]))
        .await
        .unwrap();
    let json: serde_json::Value = serde_json::from_str(&report.stdout).unwrap();
    assert_eq!(json["created"][0]["guid"], GUID);
    assert_eq!(
        json["updated"][0]["changed_fields"],
        serde_json::json!(["title", "python"])
    );
    assert_eq!(json["unchanged"], serde_json::json!(["g-same"]));
    assert_eq!(json["revision"], 12);
}

#[tokio::test]
async fn sync_status_prints_a_block_with_the_short_digest_and_every_problem() {
    let fake = FakeConfigSync::default();
    let addr = serve_config_sync(fake.clone()).await;
    let report = run(with_config_sync(
        addr,
        &[
            "sync",
            "status",
            "--as-user",
            ALICE,
            "--as-role",
            "administrator",
        ],
    ))
    .await
    .unwrap();
    let text = &report.stdout;
    assert!(
        text.starts_with("file:                  /etc/execenv/environments.yaml\n"),
        "{text}"
    );
    assert!(
        text.contains("digest:                0123456789ab\n"),
        "{text}"
    );
    assert!(
        text.contains("last sync:             2026-01-31T12:00:00Z\n"),
        "{text}"
    );
    assert!(text.contains("managed environments:  4\n"), "{text}");
    assert!(
        text.ends_with(
            "problems:              images[0].name: is required\n                       images[1].guid: duplicate\n"
        ),
        "{text}"
    );
    assert_eq!(
        fake.calls.header(0, "x-execenv-user").as_deref(),
        Some(ALICE)
    );
    assert_eq!(
        fake.calls.header(0, "x-execenv-role").as_deref(),
        Some("administrator")
    );
    assert_eq!(
        fake.calls.header(0, "authorization").as_deref(),
        Some("Bearer tok")
    );
}

#[tokio::test]
async fn sync_status_yaml_has_the_full_status() {
    let addr = serve_config_sync(FakeConfigSync::default()).await;
    let report = run(with_config_sync(addr, &["-o", "yaml", "sync", "status"]))
        .await
        .unwrap();
    let yaml: serde_json::Value = serde_saphyr::from_str(&report.stdout).unwrap();
    assert_eq!(
        yaml,
        serde_json::json!({
            "file": "/etc/execenv/environments.yaml",
            "outcome": "failed",
            "last_sync_time": "2026-01-31T12:00:00Z",
            "last_success_time": null,
            "digest": "0123456789abcdef0123",
            "managed_count": 4,
            "error": "the file has 2 problems",
            "problems": ["images[0].name: is required", "images[1].guid: duplicate"],
        })
    );
}

#[tokio::test]
async fn sync_invalid_argument_lists_each_violation_and_exits_2() {
    let fake = FakeConfigSync {
        calls: Calls::failing(to_status(&Error::invalid(vec![
            FieldViolation::new("images[0].name", "is required"),
            FieldViolation::new("images[1].guid", "is used twice"),
        ]))),
    };
    let addr = serve_config_sync(fake).await;
    let e = run(with_config_sync(addr, &["sync", "plan"]))
        .await
        .unwrap_err();
    assert_eq!(render::exit_code(&e), 2);
    assert_eq!(
        render::error_text(&e),
        "error: invalid input (2 problems):\n  - images[0].name: is required\n  - images[1].guid: is used twice"
    );
}

#[tokio::test]
async fn sync_unavailable_names_config_sync_and_its_url() {
    let fake = FakeConfigSync {
        calls: Calls::failing(Status::unavailable("registry is down")),
    };
    let addr = serve_config_sync(fake).await;
    let e = run(with_config_sync(addr, &["sync", "status"]))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Unavailable);
    assert_eq!(
        e.message,
        format!("config-sync at http://{addr} is unavailable: registry is down")
    );
    assert_eq!(render::exit_code(&e), 1);
}

#[tokio::test]
async fn unreachable_config_sync_is_reported_with_a_hint() {
    let addr = closed_address().await;
    let e = run(cli(&["--config-sync", &addr.to_string(), "sync", "plan"]))
        .await
        .unwrap_err();
    assert_unreachable(
        &e,
        "config-sync",
        addr,
        "is execenv-config-sync running? set --config-sync (or EXECENV_CONFIG_SYNC)",
    );
}
