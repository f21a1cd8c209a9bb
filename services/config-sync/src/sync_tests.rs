#![allow(clippy::unwrap_used)]

use std::collections::VecDeque;
use std::sync::Mutex;

use execenv_core::FieldViolation;
use execenv_kit::metrics::Metrics;

use super::*;

/// Test double of the registry: records every request and answers from a script (then with an
/// empty success). It tests the syncer's bookkeeping only; the real registry is tested through the
/// binaries.
#[derive(Default)]
struct ScriptedRegistry {
    applies: Mutex<Vec<reg::ApplyManagedSetRequest>>,
    bootstraps: Mutex<Vec<reg::BootstrapRequest>>,
    script: Mutex<VecDeque<Result<reg::ApplyManagedSetResponse, Error>>>,
}

impl ScriptedRegistry {
    fn then(&self, answer: Result<reg::ApplyManagedSetResponse, Error>) {
        self.script.lock().unwrap().push_back(answer);
    }
    fn applies(&self) -> Vec<reg::ApplyManagedSetRequest> {
        self.applies.lock().unwrap().clone()
    }
}

#[async_trait]
impl Registry for ScriptedRegistry {
    async fn apply_managed_set(
        &self,
        request: ApplyRequest,
    ) -> Result<reg::ApplyManagedSetResponse, Error> {
        // Recorded as the registry reads it.
        let request = request.decoded().unwrap();
        let n = request.definitions.len();
        let dry_run = request.dry_run;
        self.applies.lock().unwrap().push(request);
        self.script.lock().unwrap().pop_front().unwrap_or_else(|| {
            Ok(reg::ApplyManagedSetResponse {
                unchanged: vec![String::new(); n],
                revision: 7,
                dry_run,
                ..Default::default()
            })
        })
    }

    async fn bootstrap(
        &self,
        request: reg::BootstrapRequest,
    ) -> Result<reg::BootstrapResponse, Error> {
        let created = request
            .definitions
            .iter()
            .map(|d| reg::PlannedChange {
                guid: String::new(),
                name: d.name.clone(),
                changed_fields: vec![],
            })
            .collect();
        self.bootstraps.lock().unwrap().push(request);
        Ok(reg::BootstrapResponse {
            applied: true,
            created,
        })
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    file: PathBuf,
    registry: Arc<ScriptedRegistry>,
    metrics: Metrics,
    syncer: Syncer,
}

fn fixture(content: Option<&str>) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("environments.yaml");
    if let Some(c) = content {
        std::fs::write(&file, c).unwrap();
    }
    let registry = Arc::new(ScriptedRegistry::default());
    let metrics = Metrics::new();
    let syncer = Syncer::new(
        file.clone(),
        registry.clone(),
        SyncMetrics::register(&metrics),
    );
    Fixture {
        _dir: dir,
        file,
        registry,
        metrics,
        syncer,
    }
}

const ONE: &str = "- name: ghcr.io/a/one:1\n";
const TWO: &str = "- name: ghcr.io/a/one:1\n- name: ghcr.io/a/two:1\n  title: Two\n";

fn status(f: &Fixture) -> SyncStatus {
    f.syncer.status().borrow().clone()
}

#[tokio::test]
async fn startup_sync_of_a_missing_file_fails_naming_the_file() {
    let mut f = fixture(None);
    let err = f.syncer.sync(Phase::Startup).await.unwrap_err();
    assert!(
        err.message.contains("environments.yaml does not exist"),
        "{}",
        err.message
    );
    assert!(f.registry.applies().is_empty());
    assert_eq!(status(&f).outcome, SyncOutcome::Failed);
}

#[tokio::test]
async fn startup_sync_with_invalid_definitions_fails_with_every_problem_and_no_registry_call() {
    let mut f = fixture(Some(
        "- title: no image\n- name: ghcr.io/a/b:1\n  pyhton: {}\n",
    ));
    let err = f.syncer.sync(Phase::Startup).await.unwrap_err();
    let problems = problems(&err);
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[0].starts_with("executionEnvironments[0].name"));
    assert!(problems[1].starts_with("executionEnvironments[1]: unknown key \"pyhton\""));
    assert!(f.registry.applies().is_empty());
    assert_eq!(status(&f).problems, problems);
}

#[tokio::test]
async fn sync_applies_the_file_and_records_the_success() {
    let mut f = fixture(Some(TWO));
    let synced = f.syncer.sync(Phase::Startup).await.unwrap();
    let Synced::Applied(report) = synced else {
        panic!("the file was not applied: {synced:?}");
    };
    assert_eq!(report.revision, 7);
    let requests = f.registry.applies();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].definitions.len(), 2);
    assert!(!requests[0].dry_run);
    assert_eq!(requests[0].field_prefix, "executionEnvironments");
    let s = status(&f);
    assert_eq!(s.outcome, SyncOutcome::Ok);
    assert_eq!(s.managed_count, 2);
    assert_eq!(s.digest, file::load(TWO, "x").unwrap().digest());
    assert!(s.last_success_time.is_some());
    assert_eq!(s.last_sync_time, s.last_success_time);
    let text = f.metrics.encode();
    assert!(
        text.contains("execenv_config_sync_syncs_total{outcome=\"ok\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("execenv_config_sync_managed_environments 2"),
        "{text}"
    );
}

#[tokio::test]
async fn unchanged_content_skips_the_registry_call() {
    let mut f = fixture(Some(ONE));
    f.syncer.sync(Phase::Startup).await.unwrap();
    let before = status(&f);
    assert_eq!(
        f.syncer.sync(Phase::Running).await.unwrap(),
        Synced::Unchanged
    );
    assert_eq!(f.registry.applies().len(), 1);
    assert_eq!(status(&f), before);
    assert!(
        f.metrics
            .encode()
            .contains("execenv_config_sync_syncs_total{outcome=\"unchanged\"} 1")
    );
}

/// Lets the file's metadata vouch for its content however recently it changed, as it does
/// once the file is [`STAMP_SETTLED_AFTER`] old (`a_file_changed_within_the_last_second_is_always_read`
/// keeps that threshold).
fn trust_fresh_metadata(f: &mut Fixture) {
    f.syncer.stamp_settled_after = Duration::ZERO;
}

/// Writes `content` to the file again (then sets its modification time to `modified`, if
/// given) until its change time differs from before: file systems keep times to a clock tick,
/// and two writes within one leave the same change time.
fn rewrite(f: &Fixture, content: &str, modified: Option<std::time::SystemTime>) {
    use std::os::unix::fs::MetadataExt;
    let changed = || {
        let m = std::fs::metadata(&f.file).unwrap();
        (m.ctime(), m.ctime_nsec())
    };
    let before = changed();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        std::fs::write(&f.file, content).unwrap();
        if let Some(modified) = modified {
            let file = std::fs::File::options().write(true).open(&f.file).unwrap();
            file.set_modified(modified).unwrap();
        }
        if changed() != before {
            return;
        }
        assert!(Instant::now() < deadline, "the change time did not move");
    }
}

#[tokio::test]
async fn a_file_whose_metadata_is_unchanged_is_not_read_again_until_the_trust_runs_out() {
    let mut f = fixture(Some(ONE));
    trust_fresh_metadata(&mut f);
    f.syncer.sync(Phase::Startup).await.unwrap();
    let read_at = |f: &Fixture| f.syncer.applied.as_ref().unwrap().read_at;
    let applied_at = read_at(&f);
    assert_eq!(
        f.syncer.sync(Phase::Running).await.unwrap(),
        Synced::Unchanged
    );
    assert_eq!(read_at(&f), applied_at, "read again");
    // The same bytes written again: new metadata, so the file is read (and found unchanged).
    rewrite(&f, ONE, None);
    assert_eq!(
        f.syncer.sync(Phase::Running).await.unwrap(),
        Synced::Unchanged
    );
    let reread_at = read_at(&f);
    assert!(reread_at > applied_at);
    // Once the metadata's trust runs out, the file is read whatever its metadata says.
    f.syncer.trust_stamp_for = Duration::ZERO;
    assert_eq!(
        f.syncer.sync(Phase::Running).await.unwrap(),
        Synced::Unchanged
    );
    assert!(read_at(&f) > reread_at);
    assert_eq!(f.registry.applies().len(), 1);
}

#[tokio::test]
async fn a_rewrite_of_the_same_size_with_its_old_modification_time_is_applied() {
    let mut f = fixture(Some(ONE));
    trust_fresh_metadata(&mut f);
    f.syncer.sync(Phase::Startup).await.unwrap();
    let modified = std::fs::metadata(&f.file).unwrap().modified().unwrap();
    let same_size = ONE.replace("one", "eno");
    assert_eq!(same_size.len(), ONE.len());
    rewrite(&f, &same_size, Some(modified));
    assert_eq!(
        std::fs::metadata(&f.file).unwrap().modified().unwrap(),
        modified
    );
    assert!(matches!(
        f.syncer.sync(Phase::Running).await.unwrap(),
        Synced::Applied(_)
    ));
    assert_eq!(f.registry.applies().len(), 2);
}

#[tokio::test]
async fn a_file_changed_within_the_last_second_is_always_read() {
    let mut f = fixture(Some(ONE));
    f.syncer.sync(Phase::Startup).await.unwrap();
    let applied_at = f.syncer.applied.as_ref().unwrap().read_at;
    assert_eq!(
        f.syncer.sync(Phase::Running).await.unwrap(),
        Synced::Unchanged
    );
    assert!(f.syncer.applied.as_ref().unwrap().read_at > applied_at);
}

#[tokio::test]
async fn reformatted_content_with_the_same_definitions_skips_the_registry_call() {
    let mut f = fixture(Some(ONE));
    f.syncer.sync(Phase::Startup).await.unwrap();
    std::fs::write(&f.file, "# the same image\n- {name: \"ghcr.io/a/one:1\"}\n").unwrap();
    assert_eq!(
        f.syncer.sync(Phase::Running).await.unwrap(),
        Synced::Unchanged
    );
    assert_eq!(f.registry.applies().len(), 1);
}

#[tokio::test]
async fn changed_content_is_applied() {
    let mut f = fixture(Some(ONE));
    f.syncer.sync(Phase::Startup).await.unwrap();
    std::fs::write(&f.file, TWO).unwrap();
    assert!(matches!(
        f.syncer.sync(Phase::Running).await.unwrap(),
        Synced::Applied(_)
    ));
    assert_eq!(f.registry.applies().len(), 2);
    assert_eq!(status(&f).managed_count, 2);
}

#[tokio::test]
async fn registry_failure_at_runtime_keeps_the_last_good_state_and_the_next_tick_retries() {
    let mut f = fixture(Some(ONE));
    f.syncer.sync(Phase::Startup).await.unwrap();
    let good = status(&f);
    std::fs::write(&f.file, TWO).unwrap();
    f.registry.then(Err(Error::unavailable("registry down")));

    let err = f.syncer.sync(Phase::Running).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Unavailable);
    let failed = status(&f);
    assert_eq!(failed.outcome, SyncOutcome::Failed);
    assert_eq!(failed.error, "registry down");
    assert_eq!(failed.problems, ["registry down"]);
    assert_eq!(failed.digest, good.digest);
    assert_eq!(failed.managed_count, 1);
    assert_eq!(failed.last_success_time, good.last_success_time);

    // The content did not change since the failure, and yet the next tick calls the registry.
    assert!(matches!(
        f.syncer.sync(Phase::Running).await.unwrap(),
        Synced::Applied(_)
    ));
    assert_eq!(f.registry.applies().len(), 3);
    let s = status(&f);
    assert_eq!((s.outcome, s.managed_count), (SyncOutcome::Ok, 2));
    assert!(s.error.is_empty() && s.problems.is_empty());
    let text = f.metrics.encode();
    assert!(
        text.contains("execenv_config_sync_syncs_total{outcome=\"failed\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("execenv_config_sync_syncs_total{outcome=\"ok\"} 2"),
        "{text}"
    );
}

#[tokio::test]
async fn registry_violations_are_reported_as_problems() {
    let mut f = fixture(Some(ONE));
    f.registry.then(Err(Error::invalid(vec![FieldViolation::new(
        "executionEnvironments[0].name",
        "several unmanaged environments have this name",
    )])));
    let err = f.syncer.sync(Phase::Startup).await.unwrap_err();
    assert_eq!(
        problems(&err),
        ["executionEnvironments[0].name: several unmanaged environments have this name"]
    );
    assert_eq!(status(&f).problems, problems(&err));
}

#[tokio::test]
async fn invalid_file_at_runtime_keeps_the_last_good_state_without_calling_the_registry() {
    let mut f = fixture(Some(ONE));
    f.syncer.sync(Phase::Startup).await.unwrap();
    std::fs::write(&f.file, "- name: [broken\n").unwrap();
    let err = f.syncer.sync(Phase::Running).await.unwrap_err();
    assert!(problems(&err)[0].contains("environments.yaml"), "{err:?}");
    assert_eq!(f.registry.applies().len(), 1);
    assert_eq!(status(&f).outcome, SyncOutcome::Failed);
    assert_eq!(status(&f).managed_count, 1);

    // Restoring the applied content clears the failure (the registry confirms it).
    std::fs::write(&f.file, ONE).unwrap();
    assert!(matches!(
        f.syncer.sync(Phase::Running).await.unwrap(),
        Synced::Applied(_)
    ));
    assert_eq!(status(&f).outcome, SyncOutcome::Ok);
}

#[tokio::test]
async fn a_file_removed_at_runtime_is_synced_as_an_empty_list() {
    let mut f = fixture(Some(TWO));
    f.syncer.sync(Phase::Startup).await.unwrap();
    std::fs::remove_file(&f.file).unwrap();
    assert!(matches!(
        f.syncer.sync(Phase::Running).await.unwrap(),
        Synced::Applied(_)
    ));
    let requests = f.registry.applies();
    assert!(requests[1].definitions.is_empty());
    assert_eq!(status(&f).managed_count, 0);
    // And it stays that way without further calls.
    assert_eq!(
        f.syncer.sync(Phase::Running).await.unwrap(),
        Synced::Unchanged
    );
}

#[tokio::test]
async fn an_empty_file_is_applied_as_no_definitions() {
    let mut f = fixture(Some("# nothing here\n"));
    f.syncer.sync(Phase::Startup).await.unwrap();
    assert!(f.registry.applies()[0].definitions.is_empty());
    assert_eq!(status(&f).outcome, SyncOutcome::Ok);
}

#[tokio::test]
async fn plan_sends_a_dry_run_of_the_current_file() {
    let f = fixture(Some(TWO));
    let report = plan(&f.file, f.registry.as_ref()).await.unwrap();
    assert!(report.dry_run);
    let requests = f.registry.applies();
    assert!(requests[0].dry_run);
    assert_eq!(requests[0].definitions.len(), 2);
    // A plan is not a sync.
    assert_eq!(status(&f).outcome, SyncOutcome::Never);
}

#[tokio::test]
async fn plan_of_an_invalid_file_reports_every_problem_without_calling_the_registry() {
    let f = fixture(Some("- title: a\n- title: b\n"));
    let err = plan(&f.file, f.registry.as_ref()).await.unwrap_err();
    assert_eq!(err.violations.len(), 2);
    assert!(f.registry.applies().is_empty());
}

#[tokio::test]
async fn legacy_bootstrap_sends_the_images_with_the_images_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let legacy = dir.path().join("runtime.yaml");
    std::fs::write(
        &legacy,
        "name: Kubernetes\nimages:\n  - name: ghcr.io/a/b:1\n  - name: ghcr.io/a/c:1\n",
    )
    .unwrap();
    let registry = ScriptedRegistry::default();
    let done = bootstrap(&legacy, &registry).await.unwrap();
    assert_eq!(
        done,
        Bootstrapped {
            applied: true,
            created: 2
        }
    );
    let sent = registry.bootstraps.lock().unwrap().clone();
    assert_eq!(sent[0].field_prefix, "images");
    assert_eq!(sent[0].definitions[1].name, "ghcr.io/a/c:1");
}

#[tokio::test]
async fn a_missing_legacy_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let registry = ScriptedRegistry::default();
    let err = bootstrap(&dir.path().join("runtime.yaml"), &registry)
        .await
        .unwrap_err();
    assert!(err.message.contains("does not exist"));
}

#[tokio::test]
async fn run_syncs_on_each_tick_until_shutdown() {
    let mut f = fixture(Some(ONE));
    f.syncer.sync(Phase::Startup).await.unwrap();
    let mut status_rx = f.syncer.status();
    let shutdown = Shutdown::new();
    let options = crate::watch::WatchOptions {
        poll_interval: std::time::Duration::from_millis(20),
        debounce: std::time::Duration::from_millis(20),
        notify: true,
    };
    let watch = crate::watch::watch(&f.file, options, shutdown.clone());
    let task = tokio::spawn(run(f.syncer, watch, shutdown.clone()));
    std::fs::write(&f.file, TWO).unwrap();
    let seen = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        status_rx.wait_for(|s| s.managed_count == 2),
    )
    .await;
    assert!(seen.is_ok(), "the change was not synced within 10 s");
    shutdown.trigger();
    task.await.unwrap();
}

#[tokio::test]
async fn new_content_is_re_read_until_it_settles_so_a_half_written_file_is_never_applied() {
    // The tick saw the file truncated (empty: "delete everything"), but by the time it settled
    // the writer had finished: what is applied is the finished file.
    let f = fixture(Some(TWO));
    let syncer = f.syncer.with_settle(std::time::Duration::from_millis(5));
    let text = syncer
        .settled(Some(String::new()), Phase::Running)
        .await
        .unwrap();
    assert_eq!(text.as_deref(), Some(TWO));
    // At startup the file is taken as it is.
    let text = syncer
        .settled(Some(String::new()), Phase::Startup)
        .await
        .unwrap();
    assert_eq!(text.as_deref(), Some(""));
}
