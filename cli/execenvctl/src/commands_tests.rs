#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use chrono::TimeZone;
use clap::Parser;
use execenv_core::{EnvironmentSpec, ErrorKind, FieldViolation, Installation};
use execenv_kit::status::to_status;
use execenv_proto::registry::v1::registry_server::{Registry as RegistryService, RegistryServer};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::*;
use crate::connection::server_url;

const GUID: &str = "0b6f0c8e-5d0c-4d8b-9d2a-7c1f3e2a9b10";

fn cli(args: &[&str]) -> Cli {
    Cli::try_parse_from(std::iter::once("execenvctl").chain(args.iter().copied())).unwrap()
}

fn wire_environment(guid: Uuid, name: &str) -> pb::Environment {
    let t = chrono::Utc.with_ymd_and_hms(2026, 1, 31, 12, 0, 0).unwrap();
    pb::Environment::from(&Environment {
        id: 1,
        guid,
        spec: EnvironmentSpec {
            name: name.into(),
            title: None,
            description: None,
            cluster_name: "Kubernetes".into(),
            matching: Matching::Any,
            supervisor: None,
            python: vec![Installation {
                version: "3.11.9".into(),
                path: "/py".into(),
            }],
            r: vec![],
            quarto: vec![],
            tensorflow: vec![],
            volume_mounts: vec![],
        },
        environment_type: "Kubernetes".into(),
        managed_by: None,
        permissions: vec![],
        created_time: t,
        updated_time: t,
        revision: 1,
    })
}

/// What the fake registry saw.
#[derive(Debug, Default)]
struct Seen {
    metadata: Vec<tonic::metadata::MetadataMap>,
    list_tokens: Vec<String>,
    update: Option<reg::UpdateEnvironmentRequest>,
}

/// A registry that serves two pages of environments and records what it receives.
#[derive(Clone, Default)]
struct FakeRegistry {
    seen: Arc<Mutex<Seen>>,
}

impl FakeRegistry {
    fn record<T>(&self, r: &Request<T>) {
        self.seen
            .lock()
            .unwrap()
            .metadata
            .push(r.metadata().clone());
    }
}

#[tonic::async_trait]
impl RegistryService for FakeRegistry {
    async fn create_environment(
        &self,
        r: Request<reg::CreateEnvironmentRequest>,
    ) -> Result<Response<pb::Environment>, Status> {
        self.record(&r);
        Err(to_status(&Error::invalid(vec![
            FieldViolation::new("name", "is not a valid container image reference"),
            FieldViolation::new(
                "python.installations[0].version",
                "\"3.11\" is not a semantic version",
            ),
        ])))
    }
    async fn get_environment(
        &self,
        r: Request<reg::GetEnvironmentRequest>,
    ) -> Result<Response<pb::Environment>, Status> {
        self.record(&r);
        let guid = Uuid::parse_str(&r.get_ref().guid)
            .map_err(|_| Status::not_found("no such environment"))?;
        Ok(Response::new(wire_environment(guid, "img:get")))
    }
    async fn update_environment(
        &self,
        r: Request<reg::UpdateEnvironmentRequest>,
    ) -> Result<Response<pb::Environment>, Status> {
        self.record(&r);
        let request = r.into_inner();
        let guid =
            Uuid::parse_str(&request.guid).map_err(|_| Status::not_found("no such environment"))?;
        self.seen.lock().unwrap().update = Some(request);
        Ok(Response::new(wire_environment(guid, "img:updated")))
    }
    async fn delete_environment(
        &self,
        r: Request<reg::DeleteEnvironmentRequest>,
    ) -> Result<Response<reg::DeleteEnvironmentResponse>, Status> {
        self.record(&r);
        Ok(Response::new(reg::DeleteEnvironmentResponse {}))
    }
    async fn list_environments(
        &self,
        r: Request<reg::ListEnvironmentsRequest>,
    ) -> Result<Response<reg::ListEnvironmentsResponse>, Status> {
        self.record(&r);
        let token = r.into_inner().page_token;
        self.seen.lock().unwrap().list_tokens.push(token.clone());
        let (name, next) = match token.as_str() {
            "" => ("img:page1", "p2"),
            "p2" => ("img:page2", ""),
            other => return Err(Status::invalid_argument(format!("bad token {other}"))),
        };
        Ok(Response::new(reg::ListEnvironmentsResponse {
            environments: vec![wire_environment(Uuid::new_v4(), name)],
            next_page_token: next.into(),
            total_count: 2,
        }))
    }
    async fn list_permissions(
        &self,
        _: Request<reg::ListPermissionsRequest>,
    ) -> Result<Response<reg::ListPermissionsResponse>, Status> {
        Ok(Response::new(reg::ListPermissionsResponse {
            permissions: vec![],
        }))
    }
    async fn add_permission(
        &self,
        r: Request<reg::AddPermissionRequest>,
    ) -> Result<Response<pb::Permission>, Status> {
        let r = r.into_inner();
        Ok(Response::new(pb::Permission {
            guid: Uuid::nil().to_string(),
            environment_guid: r.environment_guid,
            user_guid: r.user_guid,
            group_guid: r.group_guid,
        }))
    }
    async fn remove_permission(
        &self,
        _: Request<reg::RemovePermissionRequest>,
    ) -> Result<Response<reg::RemovePermissionResponse>, Status> {
        Err(Status::unavailable("database is down"))
    }
    type WatchEnvironmentsStream =
        tokio_stream::Empty<Result<reg::WatchEnvironmentsResponse, Status>>;
    async fn watch_environments(
        &self,
        _: Request<reg::WatchEnvironmentsRequest>,
    ) -> Result<Response<Self::WatchEnvironmentsStream>, Status> {
        Err(Status::unimplemented("not in the fake"))
    }
    async fn apply_managed_set(
        &self,
        _: Request<reg::ApplyManagedSetRequest>,
    ) -> Result<Response<reg::ApplyManagedSetResponse>, Status> {
        Err(Status::unimplemented("not in the fake"))
    }
    async fn bootstrap(
        &self,
        _: Request<reg::BootstrapRequest>,
    ) -> Result<Response<reg::BootstrapResponse>, Status> {
        Err(Status::unimplemented("not in the fake"))
    }
    async fn list_changes(
        &self,
        r: Request<reg::ListChangesRequest>,
    ) -> Result<Response<reg::ListChangesResponse>, Status> {
        assert_eq!(r.get_ref().after_revision, 3);
        Ok(Response::new(reg::ListChangesResponse {
            changes: vec![reg::Change {
                revision: 4,
                time: Some(prost_types::Timestamp {
                    seconds: 1_769_860_800,
                    nanos: 0,
                }),
                actor: "alice".into(),
                source: "api".into(),
                action: "update".into(),
                environment_guid: GUID.into(),
                before_json: r#"{"title":"old"}"#.into(),
                after_json: r#"{"title":"new"}"#.into(),
            }],
            next_page_token: String::new(),
        }))
    }
}

async fn serve(fake: FakeRegistry) -> SocketAddr {
    crate::test_server::serve(
        tonic::transport::Server::builder().add_service(RegistryServer::new(fake)),
    )
    .await
}

fn with_registry(addr: SocketAddr, args: &[&str]) -> Cli {
    let url = format!("http://{addr}");
    let mut all = vec!["--registry", url.as_str(), "--token", "tok"];
    all.extend_from_slice(args);
    cli(&all)
}

#[tokio::test]
async fn list_all_follows_every_page_and_sends_the_identity() {
    let fake = FakeRegistry::default();
    let addr = serve(fake.clone()).await;
    let report = run(with_registry(
        addr,
        &[
            "env",
            "list",
            "--all",
            "--as-user",
            "alice",
            "--as-groups",
            "g1,g2",
            "--as-role",
            "publisher",
        ],
    ))
    .await
    .unwrap();
    assert!(
        report.stdout.contains("img:page1") && report.stdout.contains("img:page2"),
        "{}",
        report.stdout
    );
    assert_eq!(report.note.as_deref(), Some("2 of 2 environments"));
    let seen = fake.seen.lock().unwrap();
    assert_eq!(seen.list_tokens, ["", "p2"]);
    let md = &seen.metadata[0];
    assert_eq!(md.get("x-execenv-user").unwrap(), "alice");
    assert_eq!(md.get("x-execenv-groups").unwrap(), "g1,g2");
    assert_eq!(md.get("x-execenv-role").unwrap(), "publisher");
    assert_eq!(md.get("authorization").unwrap(), "Bearer tok");
}

#[tokio::test]
async fn list_without_all_prints_one_page_and_the_next_token() {
    let addr = serve(FakeRegistry::default()).await;
    let report = run(with_registry(addr, &["-o", "json", "env", "list"]))
        .await
        .unwrap();
    let json: serde_json::Value = serde_json::from_str(&report.stdout).unwrap();
    assert_eq!(json["environments"].as_array().unwrap().len(), 1);
    assert_eq!(json["total_count"], 2);
    assert_eq!(json["next_page_token"], "p2");
}

#[tokio::test]
async fn service_calls_carry_no_identity_headers() {
    let fake = FakeRegistry::default();
    let addr = serve(fake.clone()).await;
    run(with_registry(addr, &["env", "get", GUID]))
        .await
        .unwrap();
    let seen = fake.seen.lock().unwrap();
    assert!(seen.metadata[0].get("x-execenv-user").is_none());
    assert!(seen.metadata[0].get("x-execenv-role").is_none());
}

#[tokio::test]
async fn invalid_argument_from_the_registry_keeps_every_violation() {
    let addr = serve(FakeRegistry::default()).await;
    let e = run(with_registry(
        addr,
        &["env", "create", "bad image", "--python", "3.11=/py"],
    ))
    .await
    .unwrap_err();
    assert_eq!(render::exit_code(&e), 2);
    let text = render::error_text(&e);
    assert!(
        text.starts_with("error: invalid input (2 problems):\n"),
        "{text}"
    );
    assert!(
        text.contains("\n  - python.installations[0].version: \"3.11\" is not a semantic version"),
        "{text}"
    );
}

#[tokio::test]
async fn update_sends_the_mask_and_the_expected_revision() {
    let fake = FakeRegistry::default();
    let addr = serve(fake.clone()).await;
    let report = run(with_registry(
        addr,
        &[
            "env",
            "update",
            GUID,
            "--title",
            "T",
            "--clear",
            "supervisor",
            "--expected-revision",
            "5",
        ],
    ))
    .await
    .unwrap();
    assert!(report.stdout.contains("img:updated"), "{}", report.stdout);
    let seen = fake.seen.lock().unwrap();
    let update = seen.update.as_ref().unwrap();
    assert_eq!(
        update.update_mask.as_ref().unwrap().paths,
        ["title", "supervisor"]
    );
    assert_eq!(update.expected_revision, 5);
    let spec = update.environment.as_ref().unwrap();
    assert_eq!(spec.title.as_deref(), Some("T"));
    assert_eq!(spec.supervisor, None);
}

#[tokio::test]
async fn update_with_nothing_to_change_fails_before_connecting() {
    // No registry listens here: the local error must come first.
    let e = run(cli(&[
        "--registry",
        "http://127.0.0.1:9",
        "env",
        "update",
        GUID,
    ]))
    .await
    .unwrap_err();
    assert!(e.message.contains("nothing to update"), "{}", e.message);
    assert_eq!(render::exit_code(&e), 2);
}

#[tokio::test]
async fn delete_and_permissions_print_their_results() {
    let addr = serve(FakeRegistry::default()).await;
    let deleted = run(with_registry(addr, &["env", "delete", GUID]))
        .await
        .unwrap();
    assert_eq!(deleted.stdout, format!("deleted environment {GUID}\n"));
    let added = run(with_registry(
        addr,
        &["env", "permissions", "add", GUID, "--group", "data"],
    ))
    .await
    .unwrap();
    assert!(
        added.stdout.starts_with("PERMISSION GUID"),
        "{}",
        added.stdout
    );
    assert!(added.stdout.contains("data"), "{}", added.stdout);
    let listed = run(with_registry(addr, &["env", "permissions", "list", GUID]))
        .await
        .unwrap();
    assert!(listed.note.unwrap().contains("every publisher"));
}

#[tokio::test]
async fn unavailable_status_names_the_registry_and_the_fix() {
    let addr = serve(FakeRegistry::default()).await;
    let e = run(with_registry(
        addr,
        &["env", "permissions", "remove", GUID, GUID],
    ))
    .await
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Unavailable);
    assert!(
        e.message.contains(&format!("http://{addr}")),
        "{}",
        e.message
    );
    assert!(e.message.contains("database is down"), "{}", e.message);
    assert_eq!(render::exit_code(&e), 1);
}

#[tokio::test]
async fn unreachable_registry_is_reported_with_a_hint() {
    let addr = crate::test_server::closed_address().await;
    let e = run(cli(&[
        "--registry",
        &format!("http://{addr}"),
        "env",
        "list",
    ]))
    .await
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Unavailable);
    assert!(
        e.message
            .starts_with(&format!("cannot reach the registry at http://{addr}: ")),
        "{}",
        e.message
    );
    assert!(
        e.message
            .ends_with("(is execenv-environment-registry running? set --registry)"),
        "{}",
        e.message
    );
}

#[tokio::test]
async fn changes_json_has_before_and_after_as_values() {
    let addr = serve(FakeRegistry::default()).await;
    let report = run(with_registry(
        addr,
        &["-o", "json", "changes", "--after-revision", "3"],
    ))
    .await
    .unwrap();
    let json: serde_json::Value = serde_json::from_str(&report.stdout).unwrap();
    assert_eq!(json[0]["before"]["title"], "old");
    assert_eq!(json[0]["after"]["title"], "new");
    assert_eq!(json[0]["time"], "2026-01-31T12:00:00Z");
}

#[test]
fn create_request_reads_a_yaml_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("env.yaml");
    std::fs::write(&path, "name: img:1\ntitle: From file\n").unwrap();
    let args = match cli(&["env", "create", "--file", path.to_str().unwrap()]).command {
        Command::Env(EnvCommand::Create(a)) => a,
        other => panic!("{other:?}"),
    };
    let spec = create_request(&args).unwrap().environment.unwrap();
    assert_eq!(spec.name, "img:1");
    assert_eq!(spec.title.as_deref(), Some("From file"));
}

#[test]
fn create_request_for_a_missing_file_names_it() {
    let args = match cli(&["env", "create", "--file", "/nonexistent/env.yaml"]).command {
        Command::Env(EnvCommand::Create(a)) => a,
        other => panic!("{other:?}"),
    };
    let e = create_request(&args).unwrap_err();
    assert_eq!(e.violations[0].field, "--file");
    assert!(
        e.violations[0]
            .description
            .contains("/nonexistent/env.yaml")
    );
}

#[test]
fn list_request_maps_every_filter() {
    let args = match cli(&[
        "env",
        "list",
        "--search",
        "py",
        "--name",
        "img",
        "--matching",
        "exact",
        "--unmanaged",
        "--language",
        "r",
        "--language-version",
        "4.4",
        "--sort",
        "python",
        "--desc",
        "--page-size",
        "10",
        "--page-token",
        "t",
    ])
    .command
    {
        Command::Env(EnvCommand::List(a)) => a,
        other => panic!("{other:?}"),
    };
    let r = list_request(&args);
    assert_eq!(r.search, "py");
    assert_eq!(r.name.as_deref(), Some("img"));
    assert_eq!(r.matching.as_deref(), Some("exact"));
    assert_eq!(r.managed, Some(false));
    assert_eq!(r.language.as_deref(), Some("r"));
    assert_eq!(r.language_version.as_deref(), Some("4.4"));
    assert_eq!(r.sort, reg::SortField::PythonVersion as i32);
    assert!(r.descending);
    assert_eq!(r.page_size, 10);
    assert_eq!(r.page_token, "t");
}

#[test]
fn next_page_stops_at_the_end_and_on_a_repeated_token() {
    assert!(!next_page("", "", true).unwrap());
    assert!(!next_page("", "t", false).unwrap());
    assert!(next_page("", "t", true).unwrap());
    assert!(next_page("t", "t", true).is_err());
}

#[test]
fn server_url_defaults_to_plain_http() {
    assert_eq!(server_url("registry:50051"), "http://registry:50051");
    assert_eq!(server_url("https://r.example.com"), "https://r.example.com");
}
