//! The local backend in-process, with a stand-in runner (a shell script that prints its arguments,
//! runs the command after `--` and writes a status file when it fails; for interactive launches, a
//! tiny app serving on the port it is given): [`STUB_RUNNER`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::StreamExt;

use execenv_kit::metrics::Metrics;

use super::fixtures::{CONTENT, STUB_APP_SOURCE, STUB_RUNNER, plan_with_id};
use super::*;
use crate::job_spec::LaunchKind;
use crate::launch::Phase;
use crate::metrics::LauncherMetrics;

pub(super) const WAIT: Duration = Duration::from_secs(20);

pub(super) struct Bed {
    dir: tempfile::TempDir,
    pub(super) launches: Launches,
    pub(super) backend: LocalBackend,
    pub(super) metrics: Metrics,
    shutdown: Shutdown,
    task: tokio::task::JoinHandle<()>,
}

fn config(dir: &Path, slots: usize) -> LocalConfig {
    use std::os::unix::fs::PermissionsExt;
    let runner = dir.join("stub-runner");
    std::fs::write(&runner, STUB_RUNNER).expect("write the stub runner");
    std::fs::set_permissions(&runner, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    LocalConfig {
        data_dir: dir.join("data"),
        runner: Some(runner),
        max_concurrent: slots,
        cancel_grace_ms: 2_000,
        supervisor: None,
        max_interactive: 20,
        restart_backoff_max_ms: 50,
    }
}

async fn bed(slots: usize) -> Bed {
    bed_with(slots, |_| {}).await
}

/// A backend with `slots` slots and the rest of its configuration as `tweak` leaves it.
pub(super) async fn bed_with(slots: usize, tweak: impl FnOnce(&mut LocalConfig)) -> Bed {
    let dir = tempfile::tempdir().expect("tempdir");
    let metrics = Metrics::new();
    let launcher_metrics = LauncherMetrics::register(&metrics);
    launcher_metrics.initialize(crate::launch::BackendKind::Local);
    let launches = Launches::new(launcher_metrics);
    let shutdown = Shutdown::new();
    let mut config = config(dir.path(), slots);
    tweak(&mut config);
    let (backend, task) = LocalBackend::open(&config, None, launches.clone(), shutdown.clone())
        .await
        .expect("open");
    std::fs::create_dir_all(dir.path().join(format!("data/content/{CONTENT}/7/bundle")))
        .expect("bundle");
    Bed {
        dir,
        launches,
        backend,
        metrics,
        shutdown,
        task,
    }
}

impl Bed {
    pub(super) async fn start(&self, id: &str, kind: LaunchKind, command: &[&str]) -> Launch {
        self.start_plan(plan_with_id(id, kind, command))
            .await
            .expect("start")
    }

    /// Starts interactive launch `id` whose stub app does what `app` says (see [`STUB_RUNNER`]).
    pub(super) async fn serve(&self, id: &str, app: &str) -> Result<Launch, Error> {
        let mut plan = plan_with_id(id, LaunchKind::Interactive, &[]);
        plan.request.env = vec![
            ("STUB_APP".into(), app.into()),
            ("STUB_APP_SOURCE".into(), STUB_APP_SOURCE.into()),
        ];
        self.start_plan(plan).await
    }

    async fn start_plan(&self, plan: Plan) -> Result<Launch, Error> {
        self.launches
            .insert_new(plan.launch.clone())
            .expect("new id");
        self.backend.start(plan).await
    }

    /// Starts launch `id` running for a minute; returns it once RUNNING, with its process group.
    pub(super) async fn occupy(&self, id: &str) -> (Launch, i32) {
        self.start(id, LaunchKind::Run, &["sleep", "60"]).await;
        let running = self.until(id, |l| l.state == State::Running).await;
        let pid = std::fs::read_to_string(self.data(&format!("launches/{id}/pid")))
            .expect("the pid file")
            .trim()
            .parse()
            .expect("a pid");
        (running, pid)
    }

    pub(super) async fn until(&self, id: &str, what: impl Fn(&Launch) -> bool) -> Launch {
        let mut events = self.launches.subscribe();
        tokio::time::timeout(WAIT, async {
            loop {
                if let Some(l) = self.launches.get(id).filter(|l| what(l)) {
                    return l;
                }
                let _ = events.recv().await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("launch {id} is {:?}", self.launches.get(id)))
    }

    pub(super) async fn logs(&self, id: &str, follow: bool) -> String {
        let launch = self.launches.get(id).expect("known");
        let chunks: Vec<_> = self
            .backend
            .logs(&launch, follow)
            .await
            .expect("logs")
            .collect()
            .await;
        let bytes: Vec<u8> = chunks.into_iter().flat_map(|c| c.expect("chunk")).collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    pub(super) fn data(&self, rest: &str) -> PathBuf {
        self.dir.path().join("data").join(rest)
    }

    pub(super) fn record(&self, id: &str) -> Launch {
        let text =
            std::fs::read(self.data(&format!("launches/{id}/launch.json"))).expect("launch.json");
        serde_json::from_slice(&text).expect("a launch record")
    }

    /// The value of the series `series` (name and labels) of the backend's metrics.
    pub(super) fn sample(&self, series: &str) -> String {
        crate::metrics::sample(&self.metrics, series)
    }

    /// Stops the backend and waits until every launch process has ended.
    pub(super) async fn finish(self) -> tempfile::TempDir {
        self.shutdown.trigger();
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("stopped")
            .expect("join");
        self.dir
    }
}

/// Whether a live (not zombie) process of group `pgid` remains: /proc/<pid>/stat is
/// `pid (comm) state ppid pgrp …`.
pub(super) fn group_alive(pgid: i32) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.filter_map(Result::ok).any(|entry| {
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        fields.len() > 2 && fields[0] != "Z" && fields[2] == pgid.to_string()
    })
}

#[tokio::test]
async fn a_build_runs_the_runner_with_the_images_cache_and_succeeds_with_its_output_logged() {
    let bed = bed(2).await;
    bed.start("b1", LaunchKind::Build, &[]).await;
    let done = bed.until("b1", |l| l.state.is_terminal()).await;
    assert_eq!(
        (done.state, done.reason.as_str(), done.exit_code),
        (State::Succeeded, "Completed", Some(0))
    );
    assert!(done.submitted.is_some() && done.started.is_some() && done.finished.is_some());
    assert!(
        done.milestones.duration(Phase::Run).is_some(),
        "a process's run phase: {:?}",
        done.milestones
    );
    let output = bed.logs("b1", false).await;
    let cache = bed.backend.shared.dir.cache("local/host-python");
    assert!(
        output.contains(&format!("--cache {}", cache.display())),
        "{output}"
    );
    assert!(
        output.contains(&format!(
            "--work {}",
            bed.data(&format!("content/{CONTENT}/7/work")).display()
        )),
        "{output}"
    );
    assert_eq!(bed.record("b1"), done, "launch.json holds the final record");
    assert!(
        !bed.data("launches/b1/pid").exists(),
        "the pid file goes with the process"
    );
    bed.finish().await;
}

#[tokio::test]
async fn a_failing_command_fails_with_its_exit_code_and_the_runners_reason() {
    let bed = bed(2).await;
    bed.start("r1", LaunchKind::Run, &["sh", "-c", "exit 3"])
        .await;
    let done = bed.until("r1", |l| l.state.is_terminal()).await;
    assert_eq!(
        (done.state, done.reason.as_str(), done.exit_code),
        (State::Failed, "Error", Some(3))
    );
    assert_eq!(done.message, "run failed (exit code 3): content exited 3");
    assert_eq!(bed.record("r1"), done);
    bed.finish().await;
}

#[tokio::test]
async fn start_refuses_a_bundle_that_is_not_in_the_data_folder_naming_the_folder() {
    let bed = bed(2).await;
    let mut plan = plan_with_id("x", LaunchKind::Build, &[]);
    plan.request.bundle_id = "8".into();
    bed.launches.insert_new(plan.launch.clone()).expect("new");
    let err = bed.backend.start(plan).await.expect_err("no bundle");
    assert_eq!(err.kind, ErrorKind::FailedPrecondition);
    let expected = bed.data(&format!("content/{CONTENT}/8/bundle"));
    assert!(
        err.message.contains(&expected.display().to_string()),
        "{}",
        err.message
    );
    assert!(!bed.data("launches/x").exists(), "nothing was written");
    bed.finish().await;
}

#[tokio::test]
async fn cancel_of_a_running_launch_ends_its_process_group_and_cancels_it() {
    let bed = bed(2).await;
    let (running, pid) = bed.occupy("long").await;
    assert_eq!(running.reason, "Started");
    assert!(group_alive(pid));
    let cancelled = bed.backend.cancel(&running).await.expect("cancel");
    assert_eq!(
        (cancelled.state, cancelled.reason.as_str()),
        (State::Cancelled, "Cancelled")
    );
    assert!(!group_alive(pid), "no process of the launch is left");
    assert_eq!(bed.record("long").state, State::Cancelled);
    bed.finish().await;
}

#[tokio::test]
async fn a_launch_beyond_the_slots_waits_queued_and_cancelling_it_means_it_never_starts() {
    let bed = bed(1).await;
    let (first, _) = bed.occupy("first").await;
    let second = bed.start("second", LaunchKind::Run, &["true"]).await;
    assert_eq!(
        (second.state, second.reason.as_str()),
        (State::Pending, "Queued")
    );
    assert!(second.message.contains("position 1"), "{}", second.message);
    assert_eq!(bed.record("second").reason, "Queued");
    let third = bed.start("third", LaunchKind::Run, &["true"]).await;
    assert!(third.message.contains("position 2"), "{}", third.message);

    let cancelled = bed.backend.cancel(&second).await.expect("cancel");
    assert_eq!(
        (cancelled.state, cancelled.submitted),
        (State::Cancelled, None)
    );
    let moved_up = bed
        .until("third", |l| l.message.contains("position 1"))
        .await;
    assert_eq!(moved_up.state, State::Pending);

    bed.backend.cancel(&first).await.expect("cancel the first");
    let third = bed.until("third", |l| l.state.is_terminal()).await;
    assert_eq!(
        third.state,
        State::Succeeded,
        "the freed slot went to the queue"
    );
    bed.finish().await;
}

#[tokio::test]
async fn shutdown_stops_running_launches_and_records_launcher_stopped() {
    let bed = bed(1).await;
    let (_, pid) = bed.occupy("long").await;
    bed.start("queued", LaunchKind::Run, &["true"]).await;
    let launches = bed.launches.clone();
    let (long, queued) = (
        bed.data("launches/long/launch.json"),
        bed.data("launches/queued/launch.json"),
    );
    let _dir = bed.finish().await;
    for (id, file) in [("long", long), ("queued", queued)] {
        let held = launches.get(id).expect("known");
        assert_eq!(
            (held.state, held.reason.as_str()),
            (State::Failed, "LauncherStopped"),
            "{id}"
        );
        let written: Launch =
            serde_json::from_slice(&std::fs::read(file).expect("record")).expect("json");
        assert_eq!(written, held);
    }
    assert!(!group_alive(pid), "nothing is left running");
}

#[tokio::test]
async fn follow_streams_the_output_until_the_launch_has_ended() {
    let bed = bed(2).await;
    bed.start(
        "talk",
        LaunchKind::Run,
        &["sh", "-c", "echo one; sleep 0.3; echo two"],
    )
    .await;
    let followed = bed.logs("talk", true).await;
    assert!(
        followed.contains("one\n") && followed.contains("two\n"),
        "{followed}"
    );
    assert!(bed.launches.get("talk").expect("known").state.is_terminal());
    bed.finish().await;
}

#[tokio::test]
async fn the_logs_of_a_launch_that_never_started_are_empty() {
    let bed = bed(1).await;
    bed.occupy("first").await;
    bed.start("waiting", LaunchKind::Run, &["true"]).await;
    assert_eq!(bed.logs("waiting", false).await, "");
    bed.finish().await;
}

#[tokio::test]
async fn open_reads_back_the_launches_and_fails_the_unfinished_ones_skipping_corrupt_records() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config(dir.path(), 1);
    let launches_dir = config.data_dir.join("launches");
    let write = |id: &str, launch: &Launch| {
        std::fs::create_dir_all(launches_dir.join(id)).expect("mkdir");
        std::fs::write(
            launches_dir.join(id).join("launch.json"),
            serde_json::to_vec(launch).expect("json"),
        )
        .expect("write");
    };
    let mut running = plan_with_id("was-running", LaunchKind::Run, &[]).launch;
    running.state = State::Running;
    write("was-running", &running);
    let mut done = plan_with_id("was-done", LaunchKind::Build, &[]).launch;
    done.state = State::Succeeded;
    done.reason = "Completed".into();
    write("was-done", &done);
    write(
        "elsewhere",
        &plan_with_id("other-id", LaunchKind::Build, &[]).launch,
    );
    std::fs::create_dir_all(launches_dir.join("corrupt")).expect("mkdir");
    std::fs::write(launches_dir.join("corrupt/launch.json"), "{not json").expect("write");
    std::fs::create_dir_all(launches_dir.join("empty")).expect("mkdir");

    let launches = Launches::new(LauncherMetrics::default());
    let shutdown = Shutdown::new();
    let (_backend, task) = LocalBackend::open(&config, None, launches.clone(), shutdown.clone())
        .await
        .expect("open");

    let failed = launches.get("was-running").expect("read back");
    assert_eq!(
        (failed.state, failed.reason.as_str()),
        (State::Failed, "LauncherRestarted")
    );
    assert_eq!(
        failed.message,
        "the launcher restarted while this launch was running; launch it again"
    );
    assert!(failed.finished.is_some());
    let rewritten: Launch = serde_json::from_slice(
        &std::fs::read(launches_dir.join("was-running/launch.json")).expect("read"),
    )
    .expect("json");
    assert_eq!(rewritten, failed, "the new state is written back");
    assert_eq!(
        launches.get("was-done"),
        Some(done),
        "a finished launch is kept as it was"
    );
    assert!(launches.get("other-id").is_none() && launches.get("corrupt").is_none());
    assert_eq!(launches.list(&Default::default()).len(), 2);
    shutdown.trigger();
    task.await.expect("join");
}

#[tokio::test]
async fn a_data_folder_that_cannot_be_created_is_a_start_error_naming_it_and_the_setting() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = config(dir.path(), 1);
    let blocker = dir.path().join("a-file");
    std::fs::write(&blocker, "").expect("write");
    config.data_dir = blocker.join("data");
    let message = refusal(&config).await;
    assert!(
        message.contains("a-file") && message.contains("EXECENV_LOCAL__DATA_DIR"),
        "{message}"
    );
}

#[tokio::test]
async fn zero_slots_is_a_configuration_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let message = refusal(&config(dir.path(), 0)).await;
    assert!(
        message.contains("EXECENV_LOCAL__MAX_CONCURRENT"),
        "{message}"
    );
}

/// Why the backend refuses to open with `config`.
async fn refusal(config: &LocalConfig) -> String {
    let opened = LocalBackend::open(
        config,
        None,
        Launches::new(LauncherMetrics::default()),
        Shutdown::new(),
    )
    .await;
    opened.err().expect("refused").to_string()
}
