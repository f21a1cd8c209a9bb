//! The selector in-process on port 0 against a test double of the registry served over gRPC
//! (`execenv_client::testing::FakeRegistry`): health until the catalogue is synced, answers with their revision and
//! age, changes reaching the answers, resuming after a broken watch, re-listing after
//! OUT_OF_RANGE, answering after the registry is gone, the token, metrics and configuration.
//! The real registry is exercised through the binaries in e2e/.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::HashMap;

use execenv_client::testing::{FakeRegistry, Served};
use execenv_kit::shutdown::Shutdown;
use execenv_proto::selector::v1 as sel;
use execenv_selector::{Config, Running, StartError, start};
use support::*;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

const SELECTOR: &str = "execenv.selector.v1.Selector";

async fn health(running: &Running) -> i32 {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", running.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut c = HealthClient::new(channel);
    c.check(HealthCheckRequest {
        service: SELECTOR.to_owned(),
    })
    .await
    .unwrap()
    .into_inner()
    .status
}

#[tokio::test]
async fn health_is_not_serving_and_select_unavailable_until_the_catalogue_is_synced() {
    let fake = FakeRegistry::new(Some(TOKEN));
    fake.upsert(environment("ghcr.io/a/py311:1", "3.11.9"));
    fake.hold_synced(true);
    let served = fake.serve().await;
    let running = start(config(served.url()), Shutdown::new()).await.unwrap();
    fake.wait_for_calls(|c| !c.is_empty()).await;

    assert_eq!(health(&running).await, ServingStatus::NotServing as i32);
    let (status, body) = get(&running, "/readyz").await;
    assert_eq!(status, 503);
    assert!(body.contains("catalogue"), "{body}");
    let mut c = client(&running).await;
    let err = select(&mut c, "3.11.9").await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unavailable);
    assert!(
        err.message()
            .contains("the selector has not received the catalogue from the registry yet"),
        "{}",
        err.message()
    );

    fake.hold_synced(false);
    eventually("health SERVING", || async {
        health(&running).await == ServingStatus::Serving as i32
    })
    .await;
    assert_eq!(get(&running, "/readyz").await.0, 200);
    let answer = select(&mut c, "3.11.9").await.unwrap();
    assert_eq!(answer.revision, 1);
    stop(running).await;
    served.stop().await;
}

#[tokio::test]
async fn select_answers_from_the_catalogue_with_its_revision_and_a_zero_age() {
    let fake = FakeRegistry::new(Some(TOKEN));
    let py311 = environment("ghcr.io/a/py311:1", "3.11.9");
    fake.upsert(py311.clone());
    fake.upsert(environment("ghcr.io/a/py312:1", "3.12.4"));
    let served = fake.serve().await;
    let (running, mut c) = start_ready(served.url()).await;

    let answer = select(&mut c, "3.11.9").await.unwrap();
    assert_eq!(answer.environment.unwrap().guid, py311.guid);
    assert_eq!(answer.revision, 2);
    assert_eq!(answer.catalogue_age_seconds, 0.0);
    assert_eq!(answer.installations.len(), 1);
    assert_eq!(answer.installations[0].language, "python");
    assert_eq!(answer.installations[0].version, "3.11.9");
    assert_eq!(
        answer.installations[0].path,
        "/opt/python/3.11.9/bin/python3"
    );
    assert_eq!(answer.selected_by, "automatic");

    let from_manifest = c
        .select(request(
            sel::SelectRequest {
                manifest_json: r#"{"version": 1, "python": {"version": "3.11.9"}}"#.into(),
                ..Default::default()
            },
            Some("publisher"),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(from_manifest.environment.unwrap().guid, py311.guid);

    let none = select(&mut c, "2.7.18").await.unwrap_err();
    assert_eq!(none.code(), tonic::Code::FailedPrecondition);
    assert!(
        none.message()
            .contains("Cannot find compatible environment"),
        "{}",
        none.message()
    );
    let violations = execenv_client::from_status(&none).violations;
    assert_eq!(violations.len(), 2, "one reason per environment");
    assert!(violations[0].field.starts_with("environments["));

    let viewer = c
        .select(request(python("3.11.9"), Some("viewer")))
        .await
        .unwrap_err();
    assert_eq!(viewer.code(), tonic::Code::PermissionDenied);

    let mut both = python("3.11.9");
    both.manifest_json = r#"{"python": {"version": "3.11.9"}}"#.into();
    let invalid = c.select(request(both, None)).await.unwrap_err();
    assert_eq!(invalid.code(), tonic::Code::InvalidArgument);
    assert!(
        invalid.message().contains("not both"),
        "{}",
        invalid.message()
    );
    stop(running).await;
    served.stop().await;
}

#[tokio::test]
async fn explain_gives_every_environment_a_verdict() {
    let fake = FakeRegistry::new(Some(TOKEN));
    let py311 = environment("ghcr.io/a/py311:1", "3.11.9");
    fake.upsert(py311.clone());
    fake.upsert(environment("ghcr.io/a/py312:1", "3.12.4"));
    let served = fake.serve().await;
    let (running, mut c) = start_ready(served.url()).await;

    let e = c
        .explain(request(python("3.11.9"), Some("administrator")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(e.verdicts.len(), 2);
    assert_eq!(e.revision, 2);
    let chosen: Vec<_> = e
        .verdicts
        .iter()
        .filter(|v| v.outcome == sel::verdict::Outcome::Chosen as i32)
        .collect();
    assert_eq!(chosen.len(), 1);
    assert_eq!(chosen[0].environment_guid, py311.guid);
    assert_eq!(chosen[0].name, "ghcr.io/a/py311:1");
    assert_eq!(e.selection.unwrap().environment.unwrap().guid, py311.guid);
    assert!(e.error.is_empty());

    let none = c
        .explain(request(python("2.7.18"), None))
        .await
        .unwrap()
        .into_inner();
    assert!(none.selection.is_none());
    assert!(
        none.error.contains("Cannot find compatible environment"),
        "{}",
        none.error
    );
    assert!(
        none.verdicts.iter().all(|v| {
            v.outcome == sel::verdict::Outcome::Rejected as i32 && !v.reasons.is_empty()
        })
    );

    let malformed = sel::SelectRequest {
        requirements: Some(sel::Requirements {
            python_requires: Some(">=three".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let err = c.explain(request(malformed, None)).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(err.message().contains(">=three"), "{}", err.message());

    let viewer = c
        .explain(request(python("3.11.9"), Some("viewer")))
        .await
        .unwrap_err();
    assert_eq!(viewer.code(), tonic::Code::PermissionDenied);
    stop(running).await;
    served.stop().await;
}

#[tokio::test]
async fn upserts_and_deletes_reach_the_answers() {
    let fake = FakeRegistry::new(Some(TOKEN));
    let py311 = environment("ghcr.io/a/py311:1", "3.11.9");
    fake.upsert(py311.clone());
    let served = fake.serve().await;
    let (running, c) = start_ready(served.url()).await;

    let py310 = environment("ghcr.io/a/py310:1", "3.10.14");
    let revision = fake.upsert(py310.clone());
    eventually("the new environment is selected", || {
        let mut c = c.clone();
        async move {
            select(&mut c, "3.10.14")
                .await
                .is_ok_and(|a| a.revision == revision)
        }
    })
    .await;
    let revision = fake.delete(&py311.guid);
    eventually("the deleted environment is gone", || {
        let mut c = c.clone();
        async move {
            select(&mut c, "3.11.9")
                .await
                .is_err_and(|e| e.code() == tonic::Code::FailedPrecondition)
        }
    })
    .await;
    assert_eq!(
        running.state.catalogue.current().unwrap().revision(),
        revision
    );
    assert_eq!(running.state.catalogue.current().unwrap().len(), 1);
    assert_eq!(fake.watch_calls(), vec![0], "one watch served every change");
    stop(running).await;
    served.stop().await;
}

#[tokio::test]
async fn a_watch_that_ends_is_resumed_from_the_last_revision() {
    let fake = FakeRegistry::new(Some(TOKEN));
    fake.upsert(environment("ghcr.io/a/py311:1", "3.11.9"));
    let last = fake.upsert(environment("ghcr.io/a/py312:1", "3.12.4"));
    let served = fake.serve().await;
    let (running, c) = start_ready(served.url()).await;

    // The registry goes away for a while; a change lands meanwhile.
    fake.refuse_watches(true);
    fake.end_watches();
    fake.wait_for_calls(|c| c.len() >= 3).await;
    let py310 = environment("ghcr.io/a/py310:1", "3.10.14");
    let revision = fake.upsert(py310.clone());
    fake.refuse_watches(false);

    eventually("the change made while away is selected", || {
        let mut c = c.clone();
        async move {
            select(&mut c, "3.10.14")
                .await
                .is_ok_and(|a| a.revision == revision && a.catalogue_age_seconds == 0.0)
        }
    })
    .await;
    let calls = fake.watch_calls();
    assert_eq!(calls[0], 0);
    assert!(
        calls[1..].iter().all(|from| *from == last),
        "every reconnect resumes from revision {last}: {calls:?}"
    );
    let (_, metrics) = get(&running, "/metrics").await;
    let reconnects = metric(&metrics, "execenv_selector_watch_reconnects_total");
    assert!(reconnects >= 2.0, "{metrics}");
    stop(running).await;
    served.stop().await;
}

#[tokio::test]
async fn a_compacted_revision_makes_the_selector_list_the_catalogue_again() {
    let fake = FakeRegistry::new(Some(TOKEN));
    let py311 = environment("ghcr.io/a/py311:1", "3.11.9");
    fake.upsert(py311.clone());
    let last = fake.upsert(environment("ghcr.io/a/py312:1", "3.12.4"));
    let served = fake.serve().await;
    let (running, c) = start_ready(served.url()).await;

    fake.refuse_watches(true);
    fake.end_watches();
    fake.wait_for_calls(|c| c.len() >= 2).await;
    fake.delete(&py311.guid);
    fake.compact();
    fake.refuse_watches(false);

    eventually("the deletion is seen after re-listing", || {
        let mut c = c.clone();
        async move {
            select(&mut c, "3.11.9")
                .await
                .is_err_and(|e| e.code() == tonic::Code::FailedPrecondition)
        }
    })
    .await;
    let calls = fake.watch_calls();
    let n = calls.len();
    assert_eq!(&calls[n - 2..], &[last, 0], "{calls:?}");
    assert_eq!(running.state.catalogue.current().unwrap().len(), 1);
    assert_eq!(
        running.state.catalogue.current().unwrap().revision(),
        fake.revision()
    );
    stop(running).await;
    served.stop().await;
}

#[tokio::test]
async fn after_the_registry_disappears_answers_carry_the_catalogue_age() {
    let fake = FakeRegistry::new(Some(TOKEN));
    fake.upsert(environment("ghcr.io/a/py311:1", "3.11.9"));
    let served = fake.serve().await;
    let (running, mut c) = start_ready(served.url()).await;
    assert_eq!(
        select(&mut c, "3.11.9")
            .await
            .unwrap()
            .catalogue_age_seconds,
        0.0
    );

    served.stop().await;
    eventually("answers say the catalogue is old", || {
        let mut c = c.clone();
        async move {
            select(&mut c, "3.11.9")
                .await
                .is_ok_and(|a| a.catalogue_age_seconds > 0.0 && a.revision == 1)
        }
    })
    .await;
    let e = c
        .explain(request(python("3.11.9"), None))
        .await
        .unwrap()
        .into_inner();
    assert!(e.catalogue_age_seconds > 0.0);
    assert!(e.selection.unwrap().catalogue_age_seconds > 0.0);
    assert_eq!(health(&running).await, ServingStatus::Serving as i32);
    assert_eq!(get(&running, "/readyz").await.0, 200);
    let (_, metrics) = get(&running, "/metrics").await;
    assert!(
        metric(&metrics, "execenv_selector_catalogue_age_seconds") > 0.0,
        "{metrics}"
    );
    stop(running).await;
}

#[tokio::test]
async fn the_service_token_is_required_from_callers_and_sent_to_the_registry() {
    // The fake requires the token: the selector is ready only if it sent it.
    let fake = FakeRegistry::new(Some(TOKEN));
    fake.upsert(environment("ghcr.io/a/py311:1", "3.11.9"));
    let served = fake.serve().await;
    let (running, mut c) = start_ready(served.url()).await;
    let err = c.select(python("3.11.9")).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    let err = c.explain(python("3.11.9")).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    stop(running).await;
    served.stop().await;
}

#[tokio::test]
async fn metrics_report_selections_and_the_catalogue() {
    let fake = FakeRegistry::new(Some(TOKEN));
    fake.upsert(environment("ghcr.io/a/py311:1", "3.11.9"));
    fake.upsert(environment("ghcr.io/a/py312:1", "3.12.4"));
    let served = fake.serve().await;
    let (running, mut c) = start_ready(served.url()).await;
    select(&mut c, "3.11.9").await.unwrap();
    select(&mut c, "2.7.18").await.unwrap_err();
    let (status, text) = get(&running, "/metrics").await;
    assert_eq!(status, 200);
    for (name, value) in [
        (
            "execenv_selector_selections_total{outcome=\"selected\"}",
            1.0,
        ),
        (
            "execenv_selector_selections_total{outcome=\"no_match\"}",
            1.0,
        ),
        ("execenv_selector_selection_seconds_count", 2.0),
        ("execenv_selector_catalogue_environments", 2.0),
        ("execenv_selector_catalogue_revision", 2.0),
        ("execenv_selector_catalogue_age_seconds", 0.0),
    ] {
        assert_eq!(metric(&text, name), value, "{name} in\n{text}");
    }
    assert!(text.contains("grpc_server_"), "{text}");
    stop(running).await;
    served.stop().await;
}

/// A selection for Python `version` from a catalogue at `min_revision` or newer.
fn python_at(version: &str, min_revision: i64) -> sel::SelectRequest {
    sel::SelectRequest {
        min_revision,
        ..python(version)
    }
}

#[tokio::test]
async fn a_selection_for_a_newer_revision_waits_until_the_catalogue_reaches_it() {
    let fake = FakeRegistry::new(Some(TOKEN));
    fake.upsert(environment("ghcr.io/a/py311:1", "3.11.9"));
    let served = fake.serve().await;
    let (running, c) = start_ready(served.url()).await;

    let waiting = tokio::spawn({
        let mut c = c.clone();
        async move {
            c.select(request(python_at("3.12.4", 2), None))
                .await
                .map(tonic::Response::into_inner)
        }
    });
    eventually("the selection waits for revision 2", || async {
        metric(
            &get(&running, "/metrics").await.1,
            "execenv_selector_revision_waiting",
        ) == 1.0
    })
    .await;
    let py312 = environment("ghcr.io/a/py312:1", "3.12.4");
    assert_eq!(fake.upsert(py312.clone()), 2);

    let answer = waiting.await.unwrap().unwrap();
    assert_eq!(answer.revision, 2);
    assert_eq!(answer.environment.unwrap().guid, py312.guid);
    let text = get(&running, "/metrics").await.1;
    assert_eq!(
        metric(
            &text,
            "execenv_selector_revision_waits_total{outcome=\"reached\"}"
        ),
        1.0
    );
    assert_eq!(metric(&text, "execenv_selector_revision_waiting"), 0.0);
    stop(running).await;
    served.stop().await;
}

/// A fake registry at revision 1 and the selector following it, waiting up to 200 ms for a
/// `min_revision`.
async fn waiting_200_ms() -> (FakeRegistry, Served, Running, Client) {
    let fake = FakeRegistry::new(Some(TOKEN));
    fake.upsert(environment("ghcr.io/a/py311:1", "3.11.9"));
    let served = fake.serve().await;
    let mut config = config(served.url());
    config.selection.min_revision_wait_ms = 200;
    let (running, c) = start_ready_with(config).await;
    (fake, served, running, c)
}

#[tokio::test]
async fn a_selection_for_a_revision_never_reached_is_refused_unavailable_with_both_revisions() {
    let (fake, served, running, mut c) = waiting_200_ms().await;
    // The selector loses the registry; revisions up to 5 are committed meanwhile, on their way
    // to it but not there.
    fake.refuse_watches(true);
    fake.end_watches();
    for n in 2..=5 {
        fake.upsert(environment(&format!("ghcr.io/a/py311:{n}"), "3.11.9"));
    }

    let refused = c
        .select(request(python_at("3.11.9", 5), None))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unavailable);
    assert_eq!(
        refused.message(),
        "the catalogue here is at revision 1; revision 5 was asked for (min_revision) and did not arrive within 200 ms (selection.min_revision_wait_ms); retry"
    );
    let explained = c
        .explain(request(python_at("3.11.9", 5), Some("publisher")))
        .await
        .unwrap_err();
    assert_eq!(explained.code(), tonic::Code::Unavailable);
    assert!(
        explained
            .message()
            .starts_with("the catalogue here is at revision 1; revision 5 was asked for"),
        "{}",
        explained.message()
    );
    let text = get(&running, "/metrics").await.1;
    assert_eq!(
        metric(
            &text,
            "execenv_selector_revision_waits_total{outcome=\"refused\"}"
        ),
        2.0
    );
    assert_eq!(
        metric(
            &text,
            "execenv_selector_selections_total{outcome=\"unavailable\"}"
        ),
        1.0
    );
    stop(running).await;
    served.stop().await;
}

#[tokio::test]
async fn a_selection_for_a_revision_the_registry_never_committed_is_a_failed_precondition() {
    let (_fake, served, running, mut c) = waiting_200_ms().await;

    let refused = c
        .select(request(python_at("3.11.9", 5), None))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::FailedPrecondition);
    assert_eq!(
        refused.message(),
        "the registry has committed no revision 5 yet (the catalogue here is at revision 1); give min_revision as a catalogue write answered it (X-Execenv-Revision)"
    );
    let text = get(&running, "/metrics").await.1;
    assert_eq!(
        metric(
            &text,
            "execenv_selector_revision_waits_total{outcome=\"refused\"}"
        ),
        1.0
    );
    stop(running).await;
    served.stop().await;
}

#[tokio::test]
async fn a_selection_at_min_revision_zero_or_one_already_reached_does_not_wait() {
    let fake = FakeRegistry::new(Some(TOKEN));
    let py311 = environment("ghcr.io/a/py311:1", "3.11.9");
    fake.upsert(py311.clone());
    fake.upsert(environment("ghcr.io/a/py312:1", "3.12.4"));
    let served = fake.serve().await;
    let (running, mut c) = start_ready(served.url()).await;

    for min_revision in [0, 1, 2] {
        let answer = c
            .select(request(python_at("3.11.9", min_revision), None))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(answer.revision, 2, "min_revision {min_revision}");
        assert_eq!(answer.environment.unwrap().guid, py311.guid);
    }
    let negative = c
        .select(request(python_at("3.11.9", -1), None))
        .await
        .unwrap_err();
    assert_eq!(negative.code(), tonic::Code::InvalidArgument);
    assert_eq!(
        execenv_client::from_status(&negative).violations[0].field,
        "min_revision"
    );
    let text = get(&running, "/metrics").await.1;
    assert!(
        !text.contains("execenv_selector_revision_waits_total{"),
        "no wait counted:\n{text}"
    );
    stop(running).await;
    served.stop().await;
}

#[tokio::test]
async fn python_nearest_matching_is_refused_at_start() {
    let mut c = config("http://127.0.0.1:1".into());
    c.selection.python_version_matching = serde_json::from_str("\"nearest\"").unwrap();
    let err = start(c, Shutdown::new()).await.err().unwrap();
    assert!(matches!(err, StartError::Config(_)), "{err}");
    assert!(
        err.to_string()
            .contains("EXECENV_SELECTION__PYTHON_VERSION_MATCHING"),
        "{err}"
    );
}

#[tokio::test]
async fn a_registry_url_that_is_not_a_url_is_refused_at_start() {
    let err = start(config("http://bad host:1".into()), Shutdown::new())
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("EXECENV_REGISTRY__URL"), "{err}");
}

#[test]
fn configuration_variables_set_the_registry_the_examiner_the_matching_and_skip_drift() {
    let env: HashMap<String, String> = [
        ("EXECENV_REGISTRY__URL", "http://registry:50051"),
        ("EXECENV_EXAMINER__URL", "http://image-examiner:50055"),
        ("EXECENV_SELECTION__SKIP_DRIFT", "true"),
        ("EXECENV_SELECTION__PYTHON_VERSION_MATCHING", "exact"),
        ("EXECENV_SELECTION__R_VERSION_MATCHING", "major-minor"),
        ("EXECENV_SELECTION__QUARTO_VERSION_MATCHING", "exact"),
        ("EXECENV_SELECTION__MIN_REVISION_WAIT_MS", "250"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let c: Config = execenv_kit::config::load(&Config::default(), None, &env).unwrap();
    assert_eq!(c.registry.url, "http://registry:50051");
    assert_eq!(c.examiner.url(), Some("http://image-examiner:50055"));
    let json = serde_json::to_value(&c.selection).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "python_version_matching": "exact",
            "r_version_matching": "major-minor",
            "quarto_version_matching": "exact",
            "skip_drift": true,
            "min_revision_wait_ms": 250,
        })
    );
}

#[test]
fn defaults_need_no_configuration() {
    let c: Config = execenv_kit::config::load(&Config::default(), None, &HashMap::new()).unwrap();
    assert_eq!(c, Config::default());
    assert_eq!(c.server.grpc_addr.to_string(), "0.0.0.0:50053");
    assert_eq!(c.server.admin_addr.to_string(), "0.0.0.0:9453");
    assert_eq!(c.registry.url, "http://127.0.0.1:50051");
    assert_eq!(c.examiner.url, "");
    assert_eq!(c.examiner.url(), None, "no examiner: no drift information");
    assert_eq!(
        serde_json::to_value(&c.selection).unwrap(),
        serde_json::json!({
            "python_version_matching": "major-minor",
            "r_version_matching": "nearest",
            "quarto_version_matching": "nearest",
            "skip_drift": false,
            "min_revision_wait_ms": 2000,
        })
    );
}
