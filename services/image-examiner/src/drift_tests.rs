#![allow(clippy::unwrap_used)]

use execenv_core::examine::{CheckState, FindingKind, UnreadableKind};
use execenv_kit::metrics::Metrics;

use super::*;
use crate::board::{BoardEvent, Subscription};
use crate::examinations::Limits;
use crate::metrics::ExaminerMetrics;
use crate::testing::{DEADLINE, MemorySource, MemoryTree, environment, guid};

const IMAGE: &str = "127.0.0.1:5000/python:3";

/// The loop over a source in memory, fed catalogue events by the test, watched from the start.
struct Harness {
    source: MemorySource,
    board: CheckBoard,
    catalogue: mpsc::Sender<CatalogueEvent>,
    asks: mpsc::Sender<CheckNowAsk>,
    watch: Subscription,
    metrics: Metrics,
    shutdown: Shutdown,
    task: tokio::task::JoinHandle<()>,
}

impl Harness {
    fn start(source: MemorySource) -> Harness {
        let metrics = Metrics::new();
        let m = ExaminerMetrics::register(&metrics);
        let limits = Limits {
            max_concurrent_reads: 2,
            cached_trees: 8,
        };
        let examiner = Examiner::new(source.clone(), limits, m.clone());
        let board = CheckBoard::new(m);
        let watch = board.subscribe();
        let (catalogue, events) = mpsc::channel(16);
        let (asks, asked) = mpsc::channel(4);
        let shutdown = Shutdown::new();
        // No scheduled checks during a test: every check follows an event or an ask.
        let task = tokio::spawn(run(
            examiner,
            board.clone(),
            events,
            asked,
            Duration::from_secs(3600),
            shutdown.clone(),
        ));
        Harness {
            source,
            board,
            catalogue,
            asks,
            watch,
            metrics,
            shutdown,
            task,
        }
    }

    async fn send(&self, event: CatalogueEvent) {
        self.catalogue.send(event).await.unwrap();
    }

    async fn list(&self, environments: Vec<Environment>) {
        self.send(CatalogueEvent::Listed {
            revision: 1,
            environments: environments.into_iter().map(Arc::new).collect(),
        })
        .await;
    }

    async fn next(&mut self) -> BoardEvent {
        tokio::time::timeout(DEADLINE, self.watch.events.recv())
            .await
            .expect("no board event within the deadline")
            .unwrap()
    }

    /// The next check of `n` in `state`, skipping other events.
    async fn check_in(&mut self, n: u128, state: CheckState) -> Check {
        loop {
            if let BoardEvent::Check(c) = self.next().await
                && c.guid == guid(n)
                && c.state == state
            {
                return *c;
            }
        }
    }

    async fn check_now(&self) -> Vec<Check> {
        let (reply, answer) = oneshot::channel();
        self.asks.send(reply).await.unwrap();
        tokio::time::timeout(DEADLINE, answer)
            .await
            .unwrap()
            .unwrap()
    }

    async fn stop(self) {
        self.shutdown.trigger();
        self.task.await.unwrap();
    }
}

#[tokio::test]
async fn a_listing_checks_every_environment_once_per_image_then_completes_the_snapshot() {
    let source = MemorySource::held();
    source.tag(IMAGE, "sha256:a", MemoryTree::python("3.11.9"));
    let mut h = Harness::start(source);
    h.list(vec![
        environment(1, IMAGE, "3.12.4", 1),
        environment(2, IMAGE, "3.11.9", 1),
    ])
    .await;
    for _ in 0..2 {
        let BoardEvent::Check(c) = h.next().await else {
            panic!("expected the pending checks first");
        };
        assert_eq!(c.state, CheckState::Pending);
    }
    h.source.wait_for_reads(1).await;
    h.source.open();

    // The two checks end in either order, then the snapshot is complete.
    let mut last = HashMap::new();
    loop {
        match h.next().await {
            BoardEvent::Check(c) => {
                last.insert(c.guid, *c);
            }
            BoardEvent::SnapshotComplete => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    let drift = &last[&guid(1)];
    assert_eq!(drift.state, CheckState::Drift);
    assert_eq!(drift.digest.as_deref(), Some("sha256:a"));
    assert_eq!(
        drift.summary(),
        "Python 3.12.4 is declared at /opt/python/3.12.4/bin/python3, which is not in the image"
    );
    let ok = &last[&guid(2)];
    assert_eq!(ok.state, CheckState::Ok);
    assert_eq!(ok.findings, vec![]);
    assert_eq!(
        h.source.reads(),
        1,
        "both environments share the image's read"
    );
    let text = h.metrics.encode();
    for line in [
        "execenv_examiner_environments{state=\"drift\"} 1",
        "execenv_examiner_environments{state=\"ok\"} 1",
        "execenv_examiner_environments{state=\"pending\"} 0",
    ] {
        assert!(text.contains(line), "{line} missing from\n{text}");
    }
    h.stop().await;
}

#[tokio::test]
async fn an_empty_catalogue_completes_the_snapshot_at_once() {
    let mut h = Harness::start(MemorySource::default());
    h.list(vec![]).await;
    assert_eq!(h.next().await, BoardEvent::SnapshotComplete);
    assert_eq!(h.board.list(), Some(vec![]));
    h.stop().await;
}

#[tokio::test]
async fn new_installations_are_checked_again_and_a_new_title_only_renames_the_check() {
    let source = MemorySource::default();
    source.tag(IMAGE, "sha256:a", MemoryTree::python("3.11.9"));
    let mut h = Harness::start(source);
    h.list(vec![environment(1, IMAGE, "3.12.4", 1)]).await;
    let drift = h.check_in(1, CheckState::Drift).await;

    let fixed = environment(1, IMAGE, "3.11.9", 2);
    h.send(CatalogueEvent::Changed {
        revision: 2,
        environment: Arc::new(fixed.clone()),
    })
    .await;
    let ok = h.check_in(1, CheckState::Ok).await;
    assert_eq!(ok.revision, 2);
    assert_eq!(ok.findings, vec![]);
    assert!(ok.state_changed_time >= drift.state_changed_time);

    let mut retitled = fixed.clone();
    retitled.spec.title = Some("Python 3.11".into());
    retitled.revision = 3;
    h.send(CatalogueEvent::Changed {
        revision: 3,
        environment: Arc::new(retitled),
    })
    .await;
    let renamed = h.check_in(1, CheckState::Ok).await;
    assert_eq!(renamed.title.as_deref(), Some("Python 3.11"));
    assert_eq!(renamed.checked_time, ok.checked_time, "not checked again");
    assert_eq!(
        h.source.reads(),
        1,
        "the kept tree served the new definition"
    );
    h.stop().await;
}

#[tokio::test]
async fn check_now_finds_the_tag_moved_to_an_image_that_fits() {
    let source = MemorySource::default();
    source.tag(IMAGE, "sha256:a", MemoryTree::python("3.11.9"));
    let mut h = Harness::start(source);
    h.list(vec![environment(1, IMAGE, "3.12.4", 1)]).await;
    h.check_in(1, CheckState::Drift).await;

    h.source
        .tag(IMAGE, "sha256:b", MemoryTree::python("3.12.4"));
    let checks = h.check_now().await;
    assert_eq!(checks.len(), 1);
    let c = &checks[0];
    assert_eq!(c.state, CheckState::Ok);
    assert_eq!(
        (c.digest.as_deref(), c.previous_digest.as_deref()),
        (Some("sha256:b"), Some("sha256:a"))
    );
    let kinds: Vec<FindingKind> = c.findings.iter().map(|f| f.kind).collect();
    assert_eq!(kinds, [FindingKind::TagMoved]);
    assert_eq!(h.check_in(1, CheckState::Ok).await, *c);
    h.stop().await;
}

#[tokio::test]
async fn an_environment_that_leaves_the_catalogue_is_forgotten() {
    let source = MemorySource::default();
    source.tag(IMAGE, "sha256:a", MemoryTree::python("3.11.9"));
    let mut h = Harness::start(source);
    h.list(vec![
        environment(1, IMAGE, "3.11.9", 1),
        environment(2, IMAGE, "3.11.9", 1),
    ])
    .await;
    h.check_in(1, CheckState::Ok).await;
    h.send(CatalogueEvent::Removed {
        revision: 2,
        guid: guid(1),
    })
    .await;
    loop {
        if h.next().await == BoardEvent::Removed(guid(1)) {
            break;
        }
    }
    // A new listing (after a compacted revision) without environment 2 forgets it too.
    h.list(vec![environment(3, IMAGE, "3.11.9", 3)]).await;
    loop {
        if h.next().await == BoardEvent::Removed(guid(2)) {
            break;
        }
    }
    h.check_in(3, CheckState::Ok).await;
    let guids: Vec<Uuid> = h.board.list().unwrap().iter().map(|c| c.guid).collect();
    assert_eq!(guids, [guid(3)]);
    h.stop().await;
}

#[tokio::test]
async fn an_image_that_cannot_be_found_makes_the_environment_unreadable() {
    let mut h = Harness::start(MemorySource::default());
    h.list(vec![environment(1, "127.0.0.1:5000/gone:1", "3.11.9", 1)])
        .await;
    let c = h.check_in(1, CheckState::Unreadable).await;
    let why = c.unreadable.unwrap();
    assert_eq!(why.kind, UnreadableKind::NotFound);
    assert_eq!(
        why.message,
        "127.0.0.1:5000/gone:1 was not found in memory: no such repository or tag"
    );
    assert_eq!(h.next().await, BoardEvent::SnapshotComplete);
    h.stop().await;
}
