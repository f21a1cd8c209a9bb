#![allow(clippy::unwrap_used)]

use std::time::Duration;

use execenv_proto::environments::v1 as pb;

use super::*;
use crate::backoff::Backoff;
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

/// The next event that is not a [`CatalogueEvent::Lost`].
async fn past_losses(watch: &mut CatalogueWatch) -> CatalogueEvent {
    loop {
        match next(watch).await {
            CatalogueEvent::Lost { .. } => continue,
            other => return other,
        }
    }
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
        matches!(&lost, CatalogueEvent::Lost { reason, from_revision: 0, .. }
            if reason == "the registry ended the watch"),
        "the session that listed ended: {lost:?}"
    );
    let refused = next(&mut w).await;
    assert!(
        matches!(&refused, CatalogueEvent::Lost { reason, from_revision: 1, .. }
            if reason.starts_with("Unavailable")),
        "an attempt to resume from 1 was refused: {refused:?}"
    );
    // Made while disconnected: the resumed watch carries it.
    fake.upsert(environment(2, "ghcr.io/a/two:1"));
    fake.refuse_watches(false);
    let changed = past_losses(&mut w).await;
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
    match past_losses(&mut w).await {
        CatalogueEvent::Relisting {
            from_revision,
            reason,
        } => {
            assert_eq!(from_revision, 1);
            assert!(reason.contains("not in the change log"), "{reason}");
        }
        other => panic!("expected the watch to say it lists again, got {other:?}"),
    }
    let listed = next(&mut w).await;
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

#[tokio::test]
async fn a_listing_of_10000_environments_is_passed_on_as_one_event() {
    let fake = FakeRegistry::new(Some("t"));
    for n in 0..10_000 {
        fake.upsert(environment(n, &format!("ghcr.io/a/image-{n}:1")));
    }
    let served = fake.serve().await;
    let mut w = watch(&served.url());
    let (revision, names) = names(&next(&mut w).await);
    assert_eq!((revision, names.len()), (10_000, 10_000));
    fake.upsert(environment(10_000, "ghcr.io/a/one-more:1"));
    assert!(
        matches!(
            next(&mut w).await,
            CatalogueEvent::Changed {
                revision: 10_001,
                ..
            }
        ),
        "the event after the listing is the next change"
    );
    served.stop().await;
}

#[tokio::test]
async fn a_listing_cut_short_passes_nothing_on_and_is_started_over() {
    let fake = FakeRegistry::new(Some("t"));
    fake.upsert(environment(1, "ghcr.io/a/one:1"));
    let served = fake.serve().await;
    let mut w = watch(&served.url());
    assert_eq!(names(&next(&mut w).await).0, 1);

    // The revision to resume from is compacted while away, and the listing that follows ends
    // before SYNCED.
    fake.refuse_watches(true);
    fake.end_watches();
    assert!(matches!(next(&mut w).await, CatalogueEvent::Lost { .. }));
    fake.upsert(environment(2, "ghcr.io/a/two:1"));
    fake.compact();
    fake.hold_synced(true);
    fake.refuse_watches(false);
    assert!(matches!(
        past_losses(&mut w).await,
        CatalogueEvent::Relisting {
            from_revision: 1,
            ..
        }
    ));
    fake.wait_for_calls(|c| c.last() == Some(&0) && c.len() >= 3)
        .await;
    fake.end_watches();
    let cut = next(&mut w).await;
    assert!(
        matches!(&cut, CatalogueEvent::Lost { reason, from_revision: 0, .. }
            if reason == "the registry ended the watch"),
        "the listing cut short passed nothing on: {cut:?}"
    );
    let calls_before = fake.watch_calls().len();
    fake.hold_synced(false);
    let listed = past_losses(&mut w).await;
    assert_eq!(
        names(&listed),
        (2, vec!["ghcr.io/a/one:1".into(), "ghcr.io/a/two:1".into()])
    );
    let calls = fake.watch_calls();
    assert!(
        calls[calls_before..].iter().all(|from| *from == 0),
        "the watch listed again rather than resume after a listing it did not finish: {calls:?}"
    );
    served.stop().await;
}

#[tokio::test]
async fn a_change_sent_again_on_resuming_is_passed_on_once() {
    let fake = FakeRegistry::new(Some("t"));
    fake.upsert(environment(1, "ghcr.io/a/one:1"));
    let served = fake.serve().await;
    let mut w = watch(&served.url());
    assert_eq!(names(&next(&mut w).await).0, 1);
    fake.upsert(environment(2, "ghcr.io/a/two:1"));
    assert!(matches!(
        next(&mut w).await,
        CatalogueEvent::Changed { revision: 2, .. }
    ));

    fake.repeat_on_resume(true);
    fake.refuse_watches(true);
    fake.end_watches();
    assert!(matches!(next(&mut w).await, CatalogueEvent::Lost { .. }));
    fake.delete(&guid(1).to_string());
    fake.refuse_watches(false);
    // The registry sends revision 2 again, then 3: only 3 is passed on.
    assert_eq!(
        past_losses(&mut w).await,
        CatalogueEvent::Removed {
            revision: 3,
            guid: guid(1)
        }
    );
    assert_eq!(next(&mut w).await, CatalogueEvent::Resumed { revision: 3 });
    served.stop().await;
}

#[tokio::test]
async fn an_environment_that_cannot_be_read_is_left_out() {
    let fake = FakeRegistry::new(Some("t"));
    fake.upsert(environment(1, "ghcr.io/a/one:1"));
    let mut unreadable = environment(2, "ghcr.io/a/two:1");
    unreadable.matching = "sometimes".into();
    fake.upsert(unreadable.clone());
    let served = fake.serve().await;
    let mut w = watch(&served.url());
    assert_eq!(
        names(&next(&mut w).await),
        (2, vec!["ghcr.io/a/one:1".into()])
    );

    // A change that cannot be read removes the environment rather than keep it as it was.
    let mut one = environment(1, "ghcr.io/a/one:2");
    one.matching = "sometimes".into();
    fake.upsert(one);
    assert_eq!(
        next(&mut w).await,
        CatalogueEvent::Removed {
            revision: 3,
            guid: guid(1)
        }
    );
    unreadable.matching = "any".into();
    fake.upsert(unreadable);
    match next(&mut w).await {
        CatalogueEvent::Changed { environment, .. } => assert_eq!(environment.guid, guid(2)),
        other => panic!("expected the environment readable again, got {other:?}"),
    }
    served.stop().await;
}
