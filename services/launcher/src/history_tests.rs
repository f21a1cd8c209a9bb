//! Two launcher replicas, each a table over its own metrics, sharing one launch history (a
//! SQLite file): what each writes, reads back and counts.

use execenv_kit::metrics::Metrics;
use execenv_kit::shutdown::Shutdown;

use super::*;
use crate::config::HistoryConfig;
use crate::job_spec::LaunchKind;
use crate::launch::{Observation, State};
use crate::local::fixtures::plan_with_id;
use crate::metrics::sample;
use crate::table::Launches;

struct Replica {
    launches: Launches,
    metrics: Metrics,
}

impl Replica {
    async fn open(url: &str, shutdown: &Shutdown) -> Replica {
        let metrics = Metrics::new();
        let launcher_metrics = LauncherMetrics::register(&metrics);
        launcher_metrics.initialize(crate::launch::BackendKind::Local);
        let config = HistoryConfig {
            database_url: url.into(),
            retention_days: 30,
        };
        let (history, _task) = History::open(&config, launcher_metrics.clone(), shutdown.clone())
            .await
            .expect("the history opens")
            .expect("a history is configured");
        let launches = Launches::with_history(launcher_metrics, Some(history.clone()));
        for launch in history.load().await.expect("loads") {
            launches.restore(launch);
        }
        Replica { launches, metrics }
    }

    fn history(&self) -> &History {
        self.launches.history().expect("a history")
    }

    fn outcome(&self, outcome: &str) -> String {
        sample(
            &self.metrics,
            &format!(
                "execenv_launcher_launches_total{{kind=\"run\",backend=\"local\",outcome=\"{outcome}\"}}"
            ),
        )
    }

    fn running(&self) -> String {
        sample(
            &self.metrics,
            "execenv_launcher_running_seconds_count{kind=\"run\",backend=\"local\"}",
        )
    }
}

/// Two replicas on one new SQLite history, and a launch `l-1` that replica A accepted.
struct Pair {
    a: Replica,
    b: Replica,
    launch: Launch,
    url: String,
    shutdown: Shutdown,
    _dir: tempfile::TempDir,
}

impl Pair {
    async fn new() -> Pair {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("history.db").display()
        );
        let shutdown = Shutdown::new();
        let (a, b) = (
            Replica::open(&url, &shutdown).await,
            Replica::open(&url, &shutdown).await,
        );
        let launch = plan_with_id("l-1", LaunchKind::Run, &[]).launch;
        a.launches.insert_new(launch.clone()).expect("new");
        assert_eq!(a.history().accept(&launch).await.expect("accepts"), None);
        Pair {
            a,
            b,
            launch,
            url,
            shutdown,
            _dir: dir,
        }
    }
}

#[tokio::test]
async fn no_database_url_is_no_history() {
    let opened = History::open(
        &HistoryConfig::default(),
        LauncherMetrics::default(),
        Shutdown::new(),
    )
    .await
    .expect("nothing to open");
    assert!(opened.is_none());
}

#[tokio::test]
async fn an_unknown_scheme_is_refused_naming_the_setting() {
    let config = HistoryConfig {
        database_url: "mysql://db/launches".into(),
        retention_days: 30,
    };
    let err = History::open(&config, LauncherMetrics::default(), Shutdown::new())
        .await
        .err()
        .expect("refused");
    assert_eq!(err.kind, ErrorKind::InvalidArgument);
    assert!(
        err.message.contains("EXECENV_HISTORY__DATABASE_URL") && err.message.contains("mysql"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn both_replicas_see_one_launch_end_and_count_it_once_and_a_restart_reads_it_back() {
    let Pair {
        a,
        b,
        launch,
        url,
        shutdown,
        _dir,
    } = Pair::new().await;
    let held = b
        .history()
        .accept(&launch)
        .await
        .expect("answers")
        .expect("the launch A accepted");
    assert_eq!(held, launch);
    b.launches.restore(held);
    // Both watch the same workload: both see it run and end.
    for replica in [&a, &b] {
        replica
            .launches
            .observe("l-1", Observation::new(State::Running, "Running", ""));
        replica
            .launches
            .observe("l-1", Observation::new(State::Succeeded, "Completed", ""));
    }
    a.history().flushed().await;
    b.history().flushed().await;
    let summed = |f: fn(&Replica) -> String| {
        [&a, &b]
            .iter()
            .map(|r| f(r).parse::<u64>().expect("a count"))
            .sum::<u64>()
    };
    assert_eq!(
        summed(|r| r.outcome("succeeded")),
        1,
        "one outcome over both"
    );
    assert_eq!(summed(Replica::running), 1, "one start over both");

    let restarted = Replica::open(&url, &shutdown).await;
    let back = restarted.launches.get("l-1").expect("read back");
    assert_eq!(
        (back.state, back.reason.as_str()),
        (State::Succeeded, "Completed")
    );
    assert_eq!(
        restarted.outcome("succeeded"),
        "0",
        "read back, not counted again"
    );
    shutdown.trigger();
}

#[tokio::test]
async fn a_final_state_in_the_history_is_not_replaced_by_a_later_end() {
    let Pair {
        a,
        b,
        launch,
        shutdown,
        _dir,
        ..
    } = Pair::new().await;
    b.launches.restore(launch.clone());
    // B's Cancel writes CANCELLED first; A then sees the workload vanish and would say FAILED.
    let mut cancelled = launch.clone();
    crate::table::apply(
        &mut cancelled,
        Observation::new(State::Cancelled, "Cancelled", "cancelled on request"),
    );
    assert_eq!(
        b.history().finalize(&cancelled).await.expect("writes"),
        None
    );
    let mut failed = launch.clone();
    crate::table::apply(
        &mut failed,
        Observation::new(State::Failed, "JobDeleted", ""),
    );
    let held = a
        .history()
        .finalize(&failed)
        .await
        .expect("answers")
        .expect("the end B recorded");
    assert_eq!(held.state, State::Cancelled);
    a.launches
        .observe("l-1", Observation::new(State::Failed, "JobDeleted", ""));
    a.history().flushed().await;
    assert_eq!(
        a.history()
            .get("l-1")
            .await
            .expect("reads")
            .map(|l| l.state),
        Some(State::Cancelled)
    );
    assert_eq!(
        (a.outcome("failed"), b.outcome("cancelled")),
        ("0".to_owned(), "1".to_owned()),
        "the replica whose write made it final counts it"
    );
    shutdown.trigger();
}
