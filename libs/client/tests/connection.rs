//! The typed clients against a real gRPC server (the crate's fake registry on a loopback port):
//! identity, token, the one "cannot reach" error, and a service's own errors passed through.
#![allow(clippy::unwrap_used)]

use execenv_client::testing::FakeRegistry;
use execenv_client::{Connection, Options, Service, Target};
use execenv_core::{Caller, ErrorKind, Role};
use execenv_proto::registry::v1 as reg;

/// A loopback port nothing listens on: bound, then released.
async fn closed_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

fn apply(name: &str) -> reg::ApplyManagedSetRequest {
    reg::ApplyManagedSetRequest {
        definitions: vec![execenv_proto::environments::v1::EnvironmentSpec {
            name: name.to_owned(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

#[tokio::test]
async fn an_unreachable_service_is_one_error_naming_it_its_address_and_its_variable() {
    let port = closed_port().await;
    let target = Target::new(Service::Registry, &format!("127.0.0.1:{port}"));
    let connection = Connection::lazy(target, None, &Options::default()).unwrap();
    let err = connection
        .registry(None)
        .call(|mut c| async move { c.apply_managed_set(apply("a")).await })
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Unavailable);
    let prefix = format!("cannot reach the registry at http://127.0.0.1:{port}: ");
    assert!(err.message.starts_with(&prefix), "{}", err.message);
    assert!(
        err.message
            .ends_with("; is execenv-environment-registry running? set EXECENV_REGISTRY__URL"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn connecting_now_to_an_unreachable_service_names_the_flag_that_sets_it() {
    let port = closed_port().await;
    let target =
        Target::new(Service::Selector, &format!("http://127.0.0.1:{port}")).set_with("--selector");
    let err = Connection::connect(target, None, &Options::default())
        .await
        .err()
        .unwrap();
    assert_eq!(err.kind, ErrorKind::Unavailable);
    assert!(
        err.message.starts_with(&format!(
            "cannot reach the selector at http://127.0.0.1:{port}: "
        )),
        "{}",
        err.message
    );
    assert!(
        err.message.contains("Connection refused"),
        "{}",
        err.message
    );
    assert!(
        err.message
            .ends_with("; is execenv-selector running? set --selector"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn a_url_that_does_not_parse_is_invalid_naming_what_sets_it() {
    let target = Target::new(Service::Launcher, "http://bad host:1");
    let err = Connection::lazy(target, None, &Options::default())
        .err()
        .unwrap();
    assert_eq!(err.kind, ErrorKind::InvalidArgument);
    assert_eq!(err.violations[0].field, "EXECENV_LAUNCHER__URL");
    assert!(
        err.violations[0]
            .description
            .ends_with("set EXECENV_LAUNCHER__URL to http://HOST:PORT"),
        "{:?}",
        err.violations
    );
}

#[tokio::test]
async fn calls_carry_the_service_token_and_the_service_answers() {
    let fake = FakeRegistry::new(Some("tok"));
    let served = fake.serve().await;
    let target = Target::new(Service::Registry, &served.url());
    let connection = Connection::lazy(target, Some("tok".to_owned()), &Options::default()).unwrap();
    let answer = connection
        .registry(None)
        .call(|mut c| async move { c.apply_managed_set(apply("ghcr.io/a/b:1")).await })
        .await
        .unwrap();
    assert_eq!(answer.created[0].name, "ghcr.io/a/b:1");
    let applies = fake.applies();
    assert_eq!(applies.len(), 1);
    assert_eq!(applies[0].1.as_deref(), Some("Bearer tok"));
    served.stop().await;
}

#[tokio::test]
async fn a_service_refusing_the_call_is_its_own_error_not_an_unreachable_one() {
    let fake = FakeRegistry::new(Some("tok"));
    let served = fake.serve().await;
    let target = Target::new(Service::Registry, &served.url());
    let without_token = Connection::lazy(target.clone(), None, &Options::default()).unwrap();
    let err = without_token
        .registry(None)
        .call(|mut c| async move { c.apply_managed_set(apply("a")).await })
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Unauthenticated);
    assert_eq!(
        err.message,
        "missing or wrong service token; set EXECENV_AUTH__SERVICE_TOKEN on the caller"
    );

    fake.refuse_watches(true);
    let with_token = Connection::lazy(target, Some("tok".to_owned()), &Options::default()).unwrap();
    let err = with_token
        .registry(None)
        .call(|mut c| async move {
            c.watch_environments(reg::WatchEnvironmentsRequest { from_revision: 0 })
                .await
        })
        .await
        .err()
        .unwrap();
    assert_eq!(err.kind, ErrorKind::Unavailable);
    assert_eq!(
        err.message,
        format!(
            "the registry at {} is unavailable: the fake registry refuses watches",
            served.url()
        )
    );
    served.stop().await;
}

#[tokio::test]
async fn a_call_acting_as_a_caller_sends_its_identity() {
    let caller = Caller {
        user: Some("alice".to_owned()),
        groups: vec!["g1".to_owned(), "g2".to_owned()],
        role: Role::Publisher,
    };
    let mut metadata = tonic::metadata::MetadataMap::new();
    execenv_client::Outgoing::new(Some(&caller), Some("tok".to_owned()))
        .apply(&mut metadata)
        .unwrap();
    assert_eq!(metadata.get("x-execenv-user").unwrap(), "alice");
    assert_eq!(metadata.get("x-execenv-groups").unwrap(), "g1,g2");
    assert_eq!(metadata.get("x-execenv-role").unwrap(), "publisher");
    assert_eq!(metadata.get("authorization").unwrap(), "Bearer tok");
    assert_eq!(
        execenv_client::ServiceAuth::new(Some("tok".to_owned()), None)
            .caller(&tonic::Request::from_parts(
                metadata,
                tonic::Extensions::default(),
                ()
            ))
            .unwrap(),
        caller
    );
}
