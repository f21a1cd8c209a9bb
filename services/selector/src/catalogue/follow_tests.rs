//! The follower fed catalogue events through a channel, as the client crate's `CatalogueWatch`
//! passes them on (the watch itself is tested against the fake registry in libs/client, and the
//! two together in tests/selector.rs).
#![allow(clippy::unwrap_used)]

use execenv_kit::metrics::Metrics;
use execenv_proto::environments::v1 as pb;
use tokio::sync::mpsc;

use super::*;

const DEADLINE: Duration = Duration::from_secs(10);

fn guid(n: u32) -> Uuid {
    Uuid::from_u128(0x4000_0000_0000_4000_8000_0000_0000_0000 | u128::from(n))
}

fn environment(n: u32, revision: i64) -> Environment {
    let at = prost_types::Timestamp {
        seconds: 1_700_000_000,
        nanos: 0,
    };
    Environment::try_from(pb::Environment {
        id: n.to_string(),
        guid: guid(n).to_string(),
        name: format!("ghcr.io/example/image-{n}:1"),
        cluster_name: "Kubernetes".into(),
        matching: "any".into(),
        created_time: Some(at),
        updated_time: Some(at),
        revision,
        ..Default::default()
    })
    .unwrap()
}

fn listed(count: u32, revision: i64) -> CatalogueEvent {
    CatalogueEvent::Listed {
        revision,
        environments: (0..count)
            .map(|n| Arc::new(environment(n, revision)))
            .collect(),
    }
}

fn changed(n: u32, revision: i64) -> CatalogueEvent {
    CatalogueEvent::Changed {
        revision,
        environment: Arc::new(environment(n, revision)),
    }
}

fn removed(n: u32, revision: i64) -> CatalogueEvent {
    CatalogueEvent::Removed {
        revision,
        guid: guid(n),
    }
}

fn lost(from_revision: i64) -> CatalogueEvent {
    CatalogueEvent::Lost {
        reason: "Unavailable: registry restarting".into(),
        retry_in: Duration::from_millis(100),
        from_revision,
    }
}

/// The follower with its metrics registered, fed by `events`.
struct Harness {
    events: mpsc::Sender<CatalogueEvent>,
    shared: SharedCatalogue,
    metrics: Metrics,
    shutdown: Shutdown,
    task: tokio::task::JoinHandle<()>,
}

impl Harness {
    /// A follower that builds a burst when nothing more is ready, or every `max_batch`.
    fn start(max_batch: Duration) -> Harness {
        Harness::start_with(max_batch, |_| {})
    }

    /// [`Harness::start`] with `queue` sending events before the follower runs: they are all
    /// ready at once.
    fn start_with(
        max_batch: Duration,
        queue: impl FnOnce(&mpsc::Sender<CatalogueEvent>),
    ) -> Harness {
        let (events, rx) = mpsc::channel(20_000);
        queue(&events);
        let shared = SharedCatalogue::new();
        let metrics = Metrics::new();
        let selector = SelectorMetrics::register(&metrics, &shared);
        let shutdown = Shutdown::new();
        let task = tokio::spawn(run(
            rx,
            "http://registry.test:50051".into(),
            shared.clone(),
            selector,
            // No gap between builds: these tests count builds, which a gap measured in real
            // time would make depend on the machine's speed.
            Pacing { max_batch, gap: 0 },
            shutdown.clone(),
        ));
        Harness {
            events,
            shared,
            metrics,
            shutdown,
            task,
        }
    }

    fn send(&self, event: CatalogueEvent) {
        self.events.try_send(event).unwrap();
    }

    async fn builds_reach(&self, n: u64) {
        let mut rx = self.shared.inner.builds.subscribe();
        tokio::time::timeout(DEADLINE, rx.wait_for(|b| *b >= n))
            .await
            .expect("no build within the deadline")
            .unwrap();
    }

    /// Ends the events (as a watch that stopped would) and waits until the follower has
    /// taken every one of them.
    async fn drain(self) -> (SharedCatalogue, Metrics) {
        drop(self.events);
        tokio::time::timeout(DEADLINE, self.task)
            .await
            .expect("the follower did not end with its events")
            .unwrap();
        (self.shared, self.metrics)
    }

    async fn stop(self) -> (SharedCatalogue, Metrics) {
        self.shutdown.trigger();
        self.task.await.unwrap();
        (self.shared, self.metrics)
    }
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

fn sample(metrics: &Metrics, name: &str) -> String {
    let text = metrics.encode();
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("{name} missing from\n{text}"))
        .to_owned()
}

#[tokio::test]
async fn a_listing_of_10000_environments_is_built_once_and_is_current() {
    let h = Harness::start(MAX_BATCH);
    h.send(listed(10_000, 42));
    h.builds_reach(1).await;
    let catalogue = h.shared.current().unwrap();
    assert_eq!((catalogue.len(), catalogue.revision()), (10_000, 42));
    assert!(h.shared.is_current());
    assert_eq!(h.shared.age(), Duration::ZERO);
    let (shared, metrics) = h.stop().await;
    assert_eq!(shared.builds(), 1);
    assert_eq!(
        sample(&metrics, "execenv_selector_catalogue_revision"),
        "42"
    );
}

#[tokio::test]
async fn nothing_is_held_and_the_catalogue_is_not_current_before_the_first_listing() {
    let h = Harness::start(MAX_BATCH);
    h.send(lost(0));
    let (shared, metrics) = h.drain().await;
    assert!(shared.current().is_none());
    assert!(!shared.is_current());
    assert_eq!(shared.builds(), 0);
    assert_eq!(
        sample(&metrics, "execenv_selector_watch_reconnects_total"),
        "1"
    );
}

#[tokio::test]
async fn the_catalogue_metrics_count_all_and_file_managed_environments() {
    let h = Harness::start(MAX_BATCH);
    let mut environments: Vec<Environment> = (0..3).map(|n| environment(n, 5)).collect();
    let mut managed = environment(7, 5);
    managed.managed_by = Some(execenv_core::ManagedBy::ConfigFile);
    environments.push(managed);
    h.send(CatalogueEvent::Listed {
        revision: 5,
        environments: environments.into_iter().map(Arc::new).collect(),
    });
    h.builds_reach(1).await;
    let (_, metrics) = h.stop().await;
    assert_eq!(
        sample(&metrics, "execenv_selector_catalogue_environments"),
        "4"
    );
    assert_eq!(
        sample(&metrics, "execenv_selector_catalogue_managed_environments"),
        "1"
    );
    assert_eq!(sample(&metrics, "execenv_selector_catalogue_revision"), "5");
}

#[tokio::test]
async fn a_burst_of_ready_changes_is_built_once() {
    // max_batch far away: only "nothing more is ready" triggers the build.
    let h = Harness::start_with(Duration::from_secs(3600), |events| {
        events.try_send(listed(3, 10)).unwrap();
        for i in 0..10_000 {
            events
                .try_send(changed(100 + i, 11 + i64::from(i)))
                .unwrap();
        }
    });
    let (shared, _) = h.drain().await;
    assert_eq!(
        shared.builds(),
        2,
        "one build for the listing, one for the burst"
    );
    let catalogue = shared.current().unwrap();
    assert_eq!((catalogue.len(), catalogue.revision()), (10_003, 10_010));
}

#[tokio::test]
async fn a_steady_flow_of_changes_is_built_at_least_every_max_batch() {
    // A zero max_batch: every change is overdue at once.
    let h = Harness::start_with(Duration::ZERO, |events| {
        events.try_send(listed(1, 1)).unwrap();
        for i in 0..5 {
            events.try_send(changed(10 + i, 2 + i64::from(i))).unwrap();
        }
    });
    let (shared, _) = h.drain().await;
    assert_eq!(shared.builds(), 6);
}

#[tokio::test]
async fn changes_arriving_apart_are_built_per_burst() {
    let h = Harness::start(Duration::from_secs(3600));
    h.send(listed(2, 5));
    h.builds_reach(1).await;
    // Queued together while the follower waits: one burst.
    h.send(changed(7, 6));
    h.send(removed(0, 7));
    h.send(changed(8, 8));
    h.builds_reach(2).await;
    assert_eq!(guids(&h.shared), vec![guid(1), guid(7), guid(8)]);
    assert_eq!(h.shared.current().unwrap().revision(), 8);
    h.send(removed(7, 9));
    h.builds_reach(3).await;
    assert_eq!(h.shared.builds(), 3, "the first burst was built once");
    assert_eq!(guids(&h.shared), vec![guid(1), guid(8)]);
    assert!(h.shared.is_current());
    h.stop().await;
}

#[tokio::test]
async fn resuming_without_changes_builds_nothing() {
    let h = Harness::start(MAX_BATCH);
    h.send(listed(2, 5));
    h.send(lost(0));
    h.send(lost(5));
    h.send(CatalogueEvent::Resumed { revision: 5 });
    let (shared, metrics) = h.drain().await;
    assert_eq!(shared.builds(), 1);
    assert_eq!(guids(&shared), vec![guid(0), guid(1)]);
    assert_eq!(
        sample(&metrics, "execenv_selector_watch_reconnects_total"),
        "2"
    );
}

#[tokio::test]
async fn a_loss_makes_the_catalogue_stale_until_the_watch_is_in_sync_again() {
    let h = Harness::start(MAX_BATCH);
    h.send(listed(1, 5));
    h.builds_reach(1).await;
    assert!(h.shared.is_current());
    // A change caught up before the next loss is built at that loss, which makes it observable:
    // the follower takes each event whole, on this single-threaded runtime, before the test
    // runs again.
    h.send(lost(0));
    h.send(changed(9, 6));
    h.send(lost(5));
    h.builds_reach(2).await;
    assert!(!h.shared.is_current());
    assert!(h.shared.current().is_some(), "still answering");
    assert_eq!(guids(&h.shared), vec![guid(0), guid(9)]);
    assert_eq!(h.shared.current().unwrap().revision(), 6);
    h.send(changed(10, 7));
    h.send(CatalogueEvent::Resumed { revision: 7 });
    h.builds_reach(3).await;
    assert!(h.shared.is_current());
    assert_eq!(h.shared.age(), Duration::ZERO);
    assert_eq!(guids(&h.shared), vec![guid(0), guid(9), guid(10)]);
    h.stop().await;
}

#[tokio::test]
async fn a_watch_that_stops_leaves_the_catalogue_to_age() {
    let h = Harness::start(MAX_BATCH);
    h.send(listed(1, 5));
    h.builds_reach(1).await;
    assert!(h.shared.is_current());
    let (shared, _) = h.drain().await;
    assert!(!shared.is_current());
    assert_eq!(guids(&shared), vec![guid(0)]);
}

#[tokio::test]
async fn changes_caught_up_after_a_loss_are_built_once_when_in_sync() {
    let h = Harness::start_with(Duration::ZERO, |events| {
        events.try_send(listed(3, 5)).unwrap();
        events.try_send(lost(0)).unwrap();
        events.try_send(removed(0, 6)).unwrap();
        events.try_send(changed(9, 7)).unwrap();
        events
            .try_send(CatalogueEvent::Resumed { revision: 7 })
            .unwrap();
    });
    let (shared, _) = h.drain().await;
    // Even with a zero max_batch: the changes that catch up wait for the copy to be in sync.
    assert_eq!(shared.builds(), 2);
    assert_eq!(guids(&shared), vec![guid(1), guid(2), guid(9)]);
    assert_eq!(shared.current().unwrap().revision(), 7);
}

#[tokio::test]
async fn a_listing_after_a_compaction_replaces_the_catalogue() {
    let h = Harness::start(MAX_BATCH);
    h.send(listed(2, 5));
    h.send(lost(0));
    h.send(CatalogueEvent::Relisting {
        from_revision: 5,
        reason: "revision 5 is not in the change log".into(),
    });
    h.send(CatalogueEvent::Listed {
        revision: 20,
        environments: (10..14).map(|n| Arc::new(environment(n, 20))).collect(),
    });
    h.builds_reach(2).await;
    assert!(h.shared.is_current());
    assert_eq!(h.shared.current().unwrap().revision(), 20);
    assert_eq!(
        guids(&h.shared),
        vec![guid(10), guid(11), guid(12), guid(13)]
    );
    let (_, metrics) = h.stop().await;
    assert_eq!(
        sample(&metrics, "execenv_selector_watch_reconnects_total"),
        "2",
        "the loss and the re-listing each start the watch again"
    );
}

#[test]
fn builds_are_spaced_by_the_gap_times_the_last_build() {
    let ended = Instant::now();
    let pacing = Pacing::default();
    assert_eq!(pacing.max_batch, Duration::from_millis(50));
    assert_eq!(
        pacing.next_build(ended, Duration::from_millis(25)),
        ended + Duration::from_millis(100)
    );
    let none = Pacing {
        max_batch: Duration::ZERO,
        gap: 0,
    };
    assert_eq!(none.next_build(ended, Duration::from_millis(25)), ended);
}
