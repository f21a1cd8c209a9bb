#![allow(clippy::unwrap_used)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use execenv_proto::environments::v1 as pb;
use futures::stream;
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;

use super::*;

const DEADLINE: Duration = Duration::from_secs(10);
type Item = Result<reg::WatchEnvironmentsResponse, tonic::Status>;

fn guid(n: u32) -> Uuid {
    Uuid::from_u128(0x4000_0000_0000_4000_8000_0000_0000_0000 | u128::from(n))
}

fn environment(n: u32, revision: i64) -> pb::Environment {
    pb::Environment {
        id: n.to_string(),
        guid: guid(n).to_string(),
        name: format!("ghcr.io/example/image-{n}:1"),
        cluster_name: "Kubernetes".into(),
        matching: "any".into(),
        created_time: Some(prost_types_timestamp()),
        updated_time: Some(prost_types_timestamp()),
        revision,
        ..Default::default()
    }
}

fn prost_types_timestamp() -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: 1_700_000_000,
        nanos: 0,
    }
}

fn event(kind: Kind, n: u32, revision: i64) -> Item {
    Ok(reg::WatchEnvironmentsResponse {
        kind: kind as i32,
        revision,
        environment_guid: guid(n).to_string(),
        environment: matches!(kind, Kind::Snapshot | Kind::Upsert)
            .then(|| environment(n, revision)),
    })
}

fn synced(revision: i64) -> Item {
    Ok(reg::WatchEnvironmentsResponse {
        kind: Kind::Synced as i32,
        revision,
        ..Default::default()
    })
}

fn snapshot(count: u32, revision: i64) -> Vec<Item> {
    let mut items: Vec<Item> = (0..count)
        .map(|n| event(Kind::Snapshot, n, revision))
        .collect();
    items.push(synced(revision));
    items
}

fn guids(shared: &SharedCatalogue) -> Vec<Uuid> {
    let mut g: Vec<Uuid> = shared
        .current()
        .unwrap()
        .environments()
        .map(|e| e.guid)
        .collect();
    g.sort();
    g
}

async fn builds_reach(shared: &SharedCatalogue, n: u64) {
    let mut rx = shared.inner.builds.subscribe();
    tokio::time::timeout(DEADLINE, rx.wait_for(|b| *b >= n))
        .await
        .expect("no rebuild within the deadline")
        .unwrap();
}

/// Follows `items` (one session from `from`) into `shared`, with metrics nobody reads.
async fn follow_into(
    items: Vec<Item>,
    from: i64,
    mirror: &mut Mirror,
    shared: &SharedCatalogue,
    max_batch: Duration,
) -> Outcome {
    follow(
        stream::iter(items).boxed(),
        "test",
        from,
        mirror,
        shared,
        &SelectorMetrics::default(),
        max_batch,
    )
    .await
}

/// [`follow_into`] a new catalogue.
async fn follow_all(
    items: Vec<Item>,
    from: i64,
    mirror: &mut Mirror,
    max_batch: Duration,
) -> (SharedCatalogue, Outcome) {
    let shared = SharedCatalogue::new();
    let outcome = follow_into(items, from, mirror, &shared, max_batch).await;
    (shared, outcome)
}

#[tokio::test]
async fn a_listing_of_10000_environments_is_built_once_at_synced() {
    let mut mirror = Mirror::default();
    let (shared, outcome) = follow_all(snapshot(10_000, 42), 0, &mut mirror, MAX_BATCH).await;
    assert_eq!(shared.builds(), 1);
    let catalogue = shared.current().unwrap();
    assert_eq!(catalogue.len(), 10_000);
    assert_eq!(catalogue.revision(), 42);
    assert!(outcome.synced);
    assert_eq!(outcome.end, End::Closed);
    assert!(shared.is_current());
    assert_eq!(mirror.resume_from(), 42);
}

#[tokio::test]
async fn the_catalogue_metrics_count_all_and_file_managed_environments() {
    let mut items = snapshot(3, 5);
    let mut managed = environment(7, 5);
    managed.managed_by = Some("config-file".into());
    items.insert(
        0,
        Ok(reg::WatchEnvironmentsResponse {
            kind: Kind::Snapshot as i32,
            revision: 5,
            environment_guid: managed.guid.clone(),
            environment: Some(managed),
        }),
    );
    let registry = execenv_kit::metrics::Metrics::new();
    let shared = SharedCatalogue::new();
    let metrics = SelectorMetrics::register(&registry, &shared);
    let mut mirror = Mirror::default();
    follow(
        stream::iter(items).boxed(),
        "test",
        0,
        &mut mirror,
        &shared,
        &metrics,
        MAX_BATCH,
    )
    .await;
    let text = registry.encode();
    assert!(
        text.contains("execenv_selector_catalogue_environments 4\n"),
        "{text}"
    );
    assert!(
        text.contains("execenv_selector_catalogue_managed_environments 1\n"),
        "{text}"
    );
}

#[tokio::test]
async fn a_burst_of_ready_changes_is_built_once() {
    let mut items = snapshot(3, 10);
    items.extend((0..10_000).map(|i| event(Kind::Upsert, 100 + i, 11 + i64::from(i))));
    let mut mirror = Mirror::default();
    // max_batch far away: only "nothing more is ready" (here: the end) triggers the rebuild.
    let (shared, _) = follow_all(items, 0, &mut mirror, Duration::from_secs(3600)).await;
    assert_eq!(
        shared.builds(),
        2,
        "one build for the listing, one for the burst"
    );
    let catalogue = shared.current().unwrap();
    assert_eq!(catalogue.len(), 10_003);
    assert_eq!(catalogue.revision(), 10_010);
}

#[tokio::test]
async fn a_steady_flow_of_changes_is_built_at_least_every_max_batch() {
    let mut items = snapshot(1, 1);
    items.extend((0..5).map(|i| event(Kind::Upsert, 10 + i, 2 + i64::from(i))));
    let mut mirror = Mirror::default();
    // A zero max_batch: every change is overdue at once.
    let (shared, _) = follow_all(items, 0, &mut mirror, Duration::ZERO).await;
    assert_eq!(shared.builds(), 6);
}

#[tokio::test]
async fn changes_arriving_apart_are_built_per_burst() {
    let (tx, rx) = mpsc::unbounded_channel::<Item>();
    let shared = SharedCatalogue::new();
    let task = {
        let shared = shared.clone();
        tokio::spawn(async move {
            let mut mirror = Mirror::default();
            follow(
                UnboundedReceiverStream::new(rx).boxed(),
                "test",
                0,
                &mut mirror,
                &shared,
                &SelectorMetrics::default(),
                Duration::from_secs(3600),
            )
            .await;
            mirror
        })
    };
    for item in snapshot(2, 5) {
        tx.send(item).unwrap();
    }
    builds_reach(&shared, 1).await;
    // Queued together while the follower waits: one burst.
    tx.send(event(Kind::Upsert, 7, 6)).unwrap();
    tx.send(event(Kind::Delete, 0, 7)).unwrap();
    tx.send(event(Kind::Upsert, 8, 8)).unwrap();
    builds_reach(&shared, 2).await;
    assert_eq!(guids(&shared), vec![guid(1), guid(7), guid(8)]);
    assert_eq!(shared.current().unwrap().revision(), 8);
    tx.send(event(Kind::Delete, 7, 9)).unwrap();
    builds_reach(&shared, 3).await;
    assert_eq!(shared.builds(), 3, "the first burst was built once");
    assert_eq!(guids(&shared), vec![guid(1), guid(8)]);
    drop(tx);
    let mirror = task.await.unwrap();
    assert_eq!(mirror.resume_from(), 9);
}

#[tokio::test]
async fn a_listing_cut_short_keeps_the_last_catalogue() {
    let mut mirror = Mirror::default();
    let (shared, _) = follow_all(snapshot(2, 5), 0, &mut mirror, MAX_BATCH).await;
    mirror.relist = true;
    let mut items: Vec<Item> = (10..20).map(|n| event(Kind::Snapshot, n, 30)).collect();
    items.push(Err(tonic::Status::unavailable("connection reset")));
    let outcome = follow_into(items, 0, &mut mirror, &shared, MAX_BATCH).await;
    assert!(!outcome.synced);
    assert!(matches!(outcome.end, End::Failed(ref m) if m.contains("connection reset")));
    assert_eq!(shared.builds(), 1);
    assert_eq!(guids(&shared), vec![guid(0), guid(1)]);
    assert_eq!(mirror.environments.len(), 2);
    assert_eq!(mirror.resume_from(), 0, "still has to re-list");
}

#[tokio::test]
async fn resuming_applies_the_changes_after_the_revision_then_builds_once() {
    let mut mirror = Mirror::default();
    let (shared, _) = follow_all(snapshot(3, 5), 0, &mut mirror, MAX_BATCH).await;
    let items = vec![
        // Already applied: skipped.
        event(Kind::Delete, 1, 5),
        event(Kind::Delete, 0, 6),
        event(Kind::Upsert, 9, 7),
        synced(7),
    ];
    let outcome = follow_into(items, 5, &mut mirror, &shared, MAX_BATCH).await;
    assert!(outcome.synced);
    assert_eq!(shared.builds(), 2);
    assert_eq!(guids(&shared), vec![guid(1), guid(2), guid(9)]);
    assert_eq!(mirror.resume_from(), 7);
}

#[tokio::test]
async fn resuming_without_changes_does_not_rebuild() {
    let mut mirror = Mirror::default();
    let (shared, _) = follow_all(snapshot(3, 5), 0, &mut mirror, MAX_BATCH).await;
    let outcome = follow_into(vec![synced(5)], 5, &mut mirror, &shared, MAX_BATCH).await;
    assert!(outcome.synced);
    assert_eq!(shared.builds(), 1);
}

#[tokio::test]
async fn an_unreadable_environment_is_left_out() {
    let mut items = snapshot(2, 5);
    let mut bad = environment(1, 6);
    bad.matching = "sometimes".into();
    items.push(Ok(reg::WatchEnvironmentsResponse {
        kind: Kind::Upsert as i32,
        revision: 6,
        environment_guid: guid(1).to_string(),
        environment: Some(bad),
    }));
    let mut mirror = Mirror::default();
    let (shared, _) = follow_all(items, 0, &mut mirror, MAX_BATCH).await;
    assert_eq!(guids(&shared), vec![guid(0)]);
}

/// Test double of the registry's watch: each session plays the next script and ends, except the
/// last, which stays open. Records the revision each session started from.
struct ScriptedSource {
    scripts: Mutex<VecDeque<Result<Vec<Item>, tonic::Status>>>,
    from: Arc<Mutex<Vec<i64>>>,
}

impl WatchSource for ScriptedSource {
    async fn watch(&self, from_revision: i64) -> Result<WatchStream, tonic::Status> {
        self.from.lock().unwrap().push(from_revision);
        let (next, last) = {
            let mut scripts = self.scripts.lock().unwrap();
            (scripts.pop_front(), scripts.is_empty())
        };
        match next {
            Some(Ok(items)) if last => Ok(stream::iter(items).chain(stream::pending()).boxed()),
            Some(Ok(items)) => Ok(stream::iter(items).boxed()),
            Some(Err(status)) => Err(status),
            None => Ok(stream::pending().boxed()),
        }
    }

    fn describe(&self) -> &str {
        "scripted"
    }
}

#[tokio::test]
async fn the_watch_resumes_after_its_revision_and_relists_when_out_of_range() {
    let from = Arc::new(Mutex::new(Vec::new()));
    let mut resumed = vec![event(Kind::Upsert, 9, 6)];
    resumed.push(synced(6));
    let source = ScriptedSource {
        scripts: Mutex::new(VecDeque::from([
            Ok(snapshot(2, 5)),
            Err(tonic::Status::unavailable("registry restarting")),
            Ok(resumed),
            Err(tonic::Status::out_of_range("revision 6 was compacted")),
            Ok(snapshot(4, 20)),
        ])),
        from: from.clone(),
    };
    let shared = SharedCatalogue::new();
    let shutdown = Shutdown::new();
    let options = WatchOptions {
        max_batch: MAX_BATCH,
        backoff: Backoff::new(Duration::from_millis(1), Duration::from_millis(1)),
    };
    let task = tokio::spawn(run(
        source,
        shared.clone(),
        SelectorMetrics::default(),
        options,
        shutdown.clone(),
    ));
    builds_reach(&shared, 3).await;
    // (Single-threaded runtime: the build and the mark as current happen without a yield.)
    assert!(shared.is_current());
    assert_eq!(shared.current().unwrap().revision(), 20);
    assert_eq!(shared.current().unwrap().len(), 4);
    assert_eq!(*from.lock().unwrap(), vec![0, 5, 5, 6, 0]);
    shutdown.trigger();
    task.await.unwrap();
}
