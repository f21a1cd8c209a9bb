#![allow(clippy::unwrap_used)]

use std::time::Duration;

use execenv_proto::environments::v1 as pb;

use super::*;
use crate::connection::{Connection, Options, Target};
use crate::service::Service;
use crate::testing::FakeRegistry;

const DEADLINE: Duration = Duration::from_secs(10);

fn environment(n: u128, image: &str) -> pb::Environment {
    let at = prost_types_now();
    pb::Environment {
        id: n.to_string(),
        guid: guid(n).to_string(),
        name: image.to_owned(),
        cluster_name: "Kubernetes".into(),
        environment_type: "Kubernetes".into(),
        matching: "any".into(),
        created_time: Some(at),
        updated_time: Some(at),
        ..Default::default()
    }
}

fn prost_types_now() -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: 1_700_000_000,
        nanos: 0,
    }
}

fn guid(n: u128) -> Uuid {
    Uuid::from_u128(0x4000_0000_0000_4000_8000_0000_0000_0000 | n)
}

fn watch(url: &str) -> CatalogueWatch {
    let target = Target::new(Service::Registry, url);
    let connection =
        Connection::lazy(target, Some("t".into()), &Options::default().streaming()).unwrap();
    // Short delays: the tests wait for reconnections.
    let backoff = Backoff::new(Duration::from_millis(10), Duration::from_millis(50));
    CatalogueWatch::with_backoff(connection.registry(None), backoff)
}

async fn next(watch: &mut CatalogueWatch) -> CatalogueEvent {
    tokio::time::timeout(DEADLINE, watch.next())
        .await
        .expect("no catalogue event within the deadline")
        .expect("the watch stopped")
}

/// The names of a listing, sorted.
fn names(event: &CatalogueEvent) -> (i64, Vec<String>) {
    let CatalogueEvent::Listed {
        revision,
        environments,
    } = event
    else {
        panic!("expected a listing, got {event:?}");
    };
    let mut names: Vec<String> = environments.iter().map(|e| e.spec.name.clone()).collect();
    names.sort();
    (*revision, names)
}

#[tokio::test]
async fn lists_the_catalogue_then_passes_each_change_on() {
    let fake = FakeRegistry::new(Some("t"));
    fake.upsert(environment(1, "ghcr.io/a/one:1"));
    fake.upsert(environment(2, "ghcr.io/a/two:1"));
    let served = fake.serve().await;
    let mut w = watch(&served.url());

    assert_eq!(
        names(&next(&mut w).await),
        (2, vec!["ghcr.io/a/one:1".into(), "ghcr.io/a/two:1".into()])
    );
    fake.upsert(environment(1, "ghcr.io/a/one:2"));
    match next(&mut w).await {
        CatalogueEvent::Changed {
            revision,
            environment,
        } => {
            assert_eq!(revision, 3);
            assert_eq!(environment.guid, guid(1));
            assert_eq!(environment.spec.name, "ghcr.io/a/one:2");
        }
        other => panic!("expected a change, got {other:?}"),
    }
    fake.delete(&guid(2).to_string());
    assert_eq!(
        next(&mut w).await,
        CatalogueEvent::Removed {
            revision: 4,
            guid: guid(2)
        }
    );
    served.stop().await;
}

#[tokio::test]
async fn resumes_after_the_last_revision_when_the_stream_breaks() {
    let fake = FakeRegistry::new(Some("t"));
    fake.upsert(environment(1, "ghcr.io/a/one:1"));
    let served = fake.serve().await;
    let mut w = watch(&served.url());
    assert_eq!(names(&next(&mut w).await).0, 1);

    fake.refuse_watches(true);
    fake.end_watches();
    let lost = next(&mut w).await;
    assert!(
        matches!(&lost, CatalogueEvent::Lost { reason, .. } if reason == "the registry ended the watch"),
        "{lost:?}"
    );
    // Made while disconnected: the resumed watch carries it.
    fake.upsert(environment(2, "ghcr.io/a/two:1"));
    fake.refuse_watches(false);
    let changed = loop {
        match next(&mut w).await {
            CatalogueEvent::Lost { .. } => continue,
            other => break other,
        }
    };
    match changed {
        CatalogueEvent::Changed { environment, .. } => assert_eq!(environment.guid, guid(2)),
        other => panic!("expected the change made meanwhile, got {other:?}"),
    }
    assert_eq!(next(&mut w).await, CatalogueEvent::Resumed { revision: 2 });
    let calls = fake.watch_calls();
    assert_eq!(
        (calls.first(), calls.last()),
        (Some(&0), Some(&1)),
        "{calls:?}"
    );
    served.stop().await;
}

#[tokio::test]
async fn lists_again_when_the_revision_to_resume_from_was_compacted() {
    let fake = FakeRegistry::new(Some("t"));
    fake.upsert(environment(1, "ghcr.io/a/one:1"));
    let served = fake.serve().await;
    let mut w = watch(&served.url());
    assert_eq!(names(&next(&mut w).await).0, 1);

    fake.refuse_watches(true);
    fake.end_watches();
    assert!(matches!(next(&mut w).await, CatalogueEvent::Lost { .. }));
    fake.delete(&guid(1).to_string());
    fake.upsert(environment(3, "ghcr.io/a/three:1"));
    fake.compact();
    fake.refuse_watches(false);

    // Refused (Lost) until watches are let through again, then OUT_OF_RANGE from 1, then a
    // listing from 0 that replaces the catalogue.
    let listed = loop {
        match next(&mut w).await {
            CatalogueEvent::Lost { .. } => continue,
            other => break other,
        }
    };
    assert_eq!(names(&listed), (3, vec!["ghcr.io/a/three:1".into()]));
    let calls = fake.watch_calls();
    assert_eq!(calls.first(), Some(&0));
    assert_eq!(&calls[calls.len() - 2..], &[1, 0]);
    served.stop().await;
}

#[tokio::test]
async fn a_registry_that_cannot_be_reached_is_reported_and_retried() {
    let fake = FakeRegistry::new(Some("t"));
    let served = fake.serve().await;
    let url = served.url();
    served.stop().await;
    let mut w = watch(&url);
    for _ in 0..2 {
        match next(&mut w).await {
            CatalogueEvent::Lost { reason, .. } => {
                assert!(reason.starts_with("Unavailable"), "{reason}")
            }
            other => panic!("expected the watch to be lost, got {other:?}"),
        }
    }
}

#[test]
fn backoff_doubles_up_to_the_most_and_starts_over_after_a_success() {
    let mut b = Backoff::default();
    let ms: Vec<u128> = (0..8)
        .map(|_| b.next_delay_spread(0.0).as_millis())
        .collect();
    assert_eq!(ms, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
    assert_eq!(b.next_delay_spread(1.0), Duration::from_millis(3750));
    b.reset();
    assert_eq!(b.next_delay_spread(0.5), Duration::from_micros(87_500));
    let d = b.next_delay();
    assert!(
        d >= Duration::from_millis(150) && d <= Duration::from_millis(200),
        "{d:?}"
    );
}
