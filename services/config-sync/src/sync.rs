//! The sync loop and its state: read the file, validate it, and apply it to the registry with one
//! `ApplyManagedSet` call; skip the call when the content did not change; on failure keep the last
//! good state and try again on the next tick.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::Utc;
use execenv_core::{Error, ErrorKind};
use execenv_kit::shutdown::Shutdown;
use execenv_proto::environments::v1 as pb;
use execenv_proto::registry::v1 as reg;
pub use execenv_proto::views::{SyncOutcome, SyncStatus};
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use crate::election::Leadership;
use crate::file;
use crate::metrics::SyncMetrics;
use crate::watch::FileWatch;
use execenv_proto::apply::ApplyRequest;

/// The registry calls config-sync makes; errors carry the registry's kind and violations.
#[async_trait]
pub trait Registry: Send + Sync {
    /// `ApplyManagedSet`: plan and (unless a dry run) apply the file in one transaction.
    async fn apply_managed_set(
        &self,
        request: ApplyRequest,
    ) -> Result<reg::ApplyManagedSetResponse, Error>;

    /// `Bootstrap`: create unmanaged environments when the catalogue is empty.
    async fn bootstrap(
        &self,
        request: reg::BootstrapRequest,
    ) -> Result<reg::BootstrapResponse, Error>;
}

/// When a sync runs: at startup a missing file is an error; later it means "no definitions".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The first sync, before the service is ready.
    Startup,
    /// A sync after a tick.
    Running,
}

/// What a sync did.
#[derive(Debug, Clone, PartialEq)]
pub enum Synced {
    /// The registry applied the file; its report.
    Applied(reg::ApplyManagedSetResponse),
    /// The content equals the last applied content; the registry was not called.
    Unchanged,
    /// Another replica leads (`election.lease`): nothing was read or applied.
    Standby,
}

/// How many times new content is re-read while it keeps changing.
const SETTLE_ROUNDS: usize = 20;

/// Keeps the registry's file-managed environments equal to one file.
pub struct Syncer {
    file: PathBuf,
    registry: Arc<dyn Registry>,
    metrics: SyncMetrics,
    status: watch::Sender<SyncStatus>,
    /// The last successfully applied content: the file's bytes' hash and the definitions' digest.
    applied: Option<Applied>,
    /// How long new content must stay unchanged before it is applied (see [`Syncer::settled`]).
    settle: Duration,
    /// Under an election, whether this replica leads (and its fence); none: it always applies.
    leadership: Option<Leadership>,
    /// How long the file's metadata alone may vouch for its content ([`TRUST_STAMP_FOR`]).
    trust_stamp_for: Duration,
    /// How long ago a file must have changed for its metadata to vouch for it
    /// ([`STAMP_SETTLED_AFTER`]).
    stamp_settled_after: Duration,
}

/// What was last applied, and what the file looked like when it was last read.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Applied {
    raw: Vec<u8>,
    digest: String,
    /// The file's metadata just before it was last read and found to hold what was applied.
    stamp: Option<Stamp>,
    /// When that was.
    read_at: Instant,
}

impl Applied {
    /// The file was read (its metadata just before was `stamp`) and holds what was applied.
    fn read_again(&mut self, stamp: Option<Stamp>) {
        self.stamp = stamp;
        self.read_at = Instant::now();
    }
}

/// How long a file whose metadata is unchanged since it was last read is not read again: a
/// tick (every poll, by default every 2 s) then costs a `stat`, not reading and hashing the
/// whole file (20 MB for 100,000 environments). After it, a tick reads the file whatever its
/// metadata says, in case a network file system shows new metadata late.
const TRUST_STAMP_FOR: Duration = Duration::from_secs(60);

/// What a file's metadata says about its content: which file it is (device and inode: a
/// rename over it, or a ConfigMap's `..data` swap, makes it another), its size, and its
/// modification and change times to the nanosecond. Any write changes the change time, which
/// no program can set back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    device: u64,
    inode: u64,
    len: u64,
    modified: (i64, i64),
    changed: (i64, i64),
}

/// A file changed less than this long ago has no [`Stamp`]: its times may be those of a write
/// still to come (file systems keep them to a clock tick of a few milliseconds, and a write of
/// the same size within the same tick would leave them as they are).
const STAMP_SETTLED_AFTER: Duration = Duration::from_secs(1);

/// The metadata of the file at `path` (following symbolic links); `None` when it cannot be read
/// or changed within `settled_after` (or in the future, by this machine's clock).
fn stamp(path: &Path, settled_after: Duration) -> Option<Stamp> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    let settled = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .saturating_sub(settled_after);
    let changed = Duration::new(
        u64::try_from(m.ctime()).ok()?,
        u32::try_from(m.ctime_nsec()).ok()?,
    );
    if changed >= settled {
        return None;
    }
    Some(Stamp {
        device: m.dev(),
        inode: m.ino(),
        len: m.len(),
        modified: (m.mtime(), m.mtime_nsec()),
        changed: (m.ctime(), m.ctime_nsec()),
    })
}

impl Syncer {
    /// A syncer of `file` that has not synced yet.
    pub fn new(file: PathBuf, registry: Arc<dyn Registry>, metrics: SyncMetrics) -> Self {
        let (status, _) = watch::channel(SyncStatus::never(file.display().to_string()));
        Syncer {
            file,
            registry,
            metrics,
            status,
            applied: None,
            settle: Duration::ZERO,
            leadership: None,
            trust_stamp_for: TRUST_STAMP_FOR,
            stamp_settled_after: STAMP_SETTLED_AFTER,
        }
    }

    /// Applies only while `leadership` says this replica leads, with its fence.
    pub fn with_leadership(mut self, leadership: Leadership) -> Self {
        self.leadership = Some(leadership);
        self
    }

    /// Waits until the leadership changes (for ever without an election). A replica that has
    /// just taken the lease forgets what it applied before, so that its next sync reaches the
    /// registry and records its term even if the file is unchanged.
    pub async fn leadership_changed(&mut self) {
        let Some(leadership) = self.leadership.as_mut() else {
            return std::future::pending().await;
        };
        if leadership.changed().await.is_err() {
            return std::future::pending().await;
        }
        if leadership.borrow().is_some() {
            self.applied = None;
        }
    }

    /// Applies new content only once it stayed the same for `settle` (the watch's debounce). A
    /// file written in place is truncated first and filled after: reading it in between would see
    /// an empty or cut-off file, and an empty file means "delete every managed environment".
    pub fn with_settle(mut self, settle: Duration) -> Self {
        self.settle = settle;
        self
    }

    /// The status, updated after every sync.
    pub fn status(&self) -> watch::Receiver<SyncStatus> {
        self.status.subscribe()
    }

    /// Reads, validates and applies the file. On failure the error lists every problem and the
    /// last good state (status digest, managed count, last success) is kept.
    pub async fn sync(&mut self, phase: Phase) -> Result<Synced, Error> {
        // The fence is taken now: a leader paused from here on, and deposed meanwhile, still
        // sends the term it had, which the registry then refuses.
        let fence = match &self.leadership {
            None => None,
            Some(leadership) => match leadership.borrow().clone() {
                Some(fence) => Some(fence),
                None => return Ok(Synced::Standby),
            },
        };
        let started = Instant::now();
        let last_ok = self.status.borrow().outcome == SyncOutcome::Ok;
        // Taken before reading: a write after it shows in the next tick's metadata.
        let stamp = stamp(&self.file, self.stamp_settled_after);
        if last_ok
            && stamp.is_some()
            && let Some(applied) = &self.applied
            && applied.stamp == stamp
            && applied.read_at.elapsed() < self.trust_stamp_for
        {
            self.metrics.unchanged();
            return Ok(Synced::Unchanged);
        }
        let text = match read(&self.file, phase) {
            Ok(text) => text,
            Err(e) => return Err(self.failed(e, phase, started)),
        };
        let raw = raw_hash(text.as_deref().unwrap_or_default());
        if last_ok
            && let Some(applied) = self.applied.as_mut()
            && applied.raw == raw
        {
            applied.read_again(stamp);
            self.metrics.unchanged();
            return Ok(Synced::Unchanged);
        }
        let text = match self.settled(text, phase).await {
            Ok(text) => text,
            Err(e) => return Err(self.failed(e, phase, started)),
        };
        let raw = raw_hash(text.as_deref().unwrap_or_default());
        let removed = text.is_none();
        let loaded = file::load(text.as_deref().unwrap_or_default(), &self.origin());
        // The text is not needed once loaded; a large file is not held while it is sent.
        drop(text);
        let loaded = match loaded {
            Ok(loaded) => loaded,
            Err(e) => return Err(self.failed(e, phase, started)),
        };
        let loaded_in = started.elapsed();
        if last_ok
            && let Some(applied) = self.applied.as_mut()
            && applied.digest == loaded.digest()
        {
            // Only formatting or comments changed.
            applied.raw = raw;
            applied.read_again(stamp);
            self.metrics.unchanged();
            return Ok(Synced::Unchanged);
        }
        if removed {
            tracing::warn!(file = %self.file.display(),
                "the declarative file was removed; syncing it as an empty file, which deletes every file-managed environment");
        }
        let managed = loaded.len();
        let digest = loaded.digest().to_owned();
        let fence = fence.map(|f| reg::SyncFence {
            lease: f.lease,
            holder: f.holder,
            term: f.term,
        });
        let request = ApplyRequest::new(loaded.definitions, false, file::FIELD_PREFIX, fence);
        match self.registry.apply_managed_set(request).await {
            Ok(report) => {
                self.succeeded(managed, &report, (digest, raw, stamp), (started, loaded_in));
                Ok(Synced::Applied(report))
            }
            Err(e) => Err(self.failed(e, phase, started)),
        }
    }

    fn origin(&self) -> String {
        self.file.display().to_string()
    }

    /// Re-reads the file after `settle` until two reads agree (at most [`SETTLE_ROUNDS`] times),
    /// so a write still in progress is never applied. At startup the file is taken as it is.
    async fn settled(&self, text: Option<String>, phase: Phase) -> Result<Option<String>, Error> {
        if self.settle.is_zero() || phase != Phase::Running {
            return Ok(text);
        }
        tracing::debug!(file = %self.file.display(), settle_ms = self.settle.as_millis(),
            "new content; waiting for it to stay the same before applying it");
        // Reads are compared by their hashes, so a large file is not held twice.
        let mut seen = fingerprint(&text);
        drop(text);
        for _ in 0..SETTLE_ROUNDS {
            let mut pause = tokio::time::interval(self.settle);
            pause.tick().await;
            pause.tick().await;
            let again = read(&self.file, phase)?;
            let now = fingerprint(&again);
            if now == seen {
                return Ok(again);
            }
            seen = now;
        }
        Err(Error::new(
            ErrorKind::Unavailable,
            format!(
                "{} kept changing for {SETTLE_ROUNDS} reads in a row; it is synced once it stays the same",
                self.file.display()
            ),
        ))
    }

    fn succeeded(
        &mut self,
        managed: usize,
        report: &reg::ApplyManagedSetResponse,
        (digest, raw, stamp): (String, Vec<u8>, Option<Stamp>),
        (started, loaded_in): (Instant, Duration),
    ) {
        let took = started.elapsed();
        let now = Utc::now();
        tracing::info!(
            file = %self.file.display(),
            created = report.created.len(),
            adopted = report.adopted.len(),
            updated = report.updated.len(),
            deleted = report.deleted.len(),
            unchanged = report.unchanged.len(),
            revision = report.revision,
            digest = short(&digest),
            duration_ms = took.as_millis() as u64,
            // Reading, parsing and checking the file, before it was sent.
            loaded_ms = loaded_in.as_millis() as u64,
            "synced the declarative file"
        );
        for (what, list) in [
            ("created", &report.created),
            ("adopted", &report.adopted),
            ("updated", &report.updated),
            ("deleted", &report.deleted),
        ] {
            for c in list {
                tracing::debug!(guid = %c.guid, name = %c.name, changed_fields = ?c.changed_fields, "{what}");
            }
        }
        self.metrics.ok(took, managed, now);
        self.status.send_modify(|s| {
            s.outcome = SyncOutcome::Ok;
            s.last_sync_time = Some(now);
            s.last_success_time = Some(now);
            s.digest.clone_from(&digest);
            s.error.clear();
            s.problems.clear();
            s.managed_count = managed as u64;
        });
        self.applied = Some(Applied {
            raw,
            digest,
            stamp,
            read_at: Instant::now(),
        });
    }

    /// Records a failure: status, metrics and a warning with every problem; returns the error.
    fn failed(&mut self, error: Error, phase: Phase, started: Instant) -> Error {
        let took = started.elapsed();
        let problems = problems(&error);
        let message = match phase {
            Phase::Startup => "the first sync failed",
            Phase::Running => {
                "sync failed; the registry keeps the last good state; retrying on the next change or poll"
            }
        };
        tracing::warn!(
            file = %self.file.display(),
            problems = %problems.join("; "),
            duration_ms = took.as_millis() as u64,
            "{message}"
        );
        let now = Utc::now();
        self.metrics.failed(took, &problems.join("; "), now);
        self.status.send_modify(|s| {
            s.outcome = SyncOutcome::Failed;
            s.last_sync_time = Some(now);
            s.error.clone_from(&error.message);
            s.problems.clone_from(&problems);
        });
        error
    }
}

/// Syncs on every tick until shutdown.
pub async fn run(mut syncer: Syncer, mut watch: FileWatch, shutdown: Shutdown) {
    loop {
        tokio::select! {
            () = shutdown.wait() => return,
            // Taking the lease syncs at once (a failure is retried on the next tick).
            () = syncer.leadership_changed() => {
                let _ = syncer.sync(Phase::Running).await;
            }
            tick = watch.next() => match tick {
                Some(_) => {
                    // A failure was logged and recorded; the next tick retries.
                    let _ = syncer.sync(Phase::Running).await;
                }
                None => return,
            },
        }
    }
}

/// What a sync of `file` would do now: reads and validates it (a missing file is an empty one,
/// as in a running sync) and asks the registry for a dry run.
pub async fn plan(
    file: &Path,
    registry: &dyn Registry,
) -> Result<reg::ApplyManagedSetResponse, Error> {
    let text = read(file, Phase::Running)?;
    let loaded = file::load(
        text.as_deref().unwrap_or_default(),
        &file.display().to_string(),
    )?;
    drop(text);
    let request = ApplyRequest::new(loaded.definitions, true, file::FIELD_PREFIX, None);
    registry.apply_managed_set(request).await
}

/// The outcome of a legacy bootstrap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bootstrapped {
    /// False when the catalogue already had environments.
    pub applied: bool,
    /// Environments created.
    pub created: usize,
}

/// Applies a legacy `runtime.yaml` once, if the catalogue is empty (deprecated).
pub async fn bootstrap(legacy_file: &Path, registry: &dyn Registry) -> Result<Bootstrapped, Error> {
    tracing::warn!(file = %legacy_file.display(),
        "the legacy runtime.yaml (sync.legacy_file) is deprecated: it only bootstraps an empty catalogue; \
         move the images into a declarative file (sync.file) with the API's field names");
    let origin = legacy_file.display().to_string();
    let text = read(legacy_file, Phase::Startup)?.unwrap_or_default();
    let drafts = crate::legacy::load(&text, &origin)?;
    let response = registry
        .bootstrap(reg::BootstrapRequest {
            definitions: drafts.iter().map(pb::EnvironmentSpec::from).collect(),
            field_prefix: crate::legacy::FIELD_PREFIX.to_owned(),
        })
        .await?;
    let done = Bootstrapped {
        applied: response.applied,
        created: response.created.len(),
    };
    if done.applied {
        tracing::info!(file = %legacy_file.display(), created = done.created,
            "bootstrapped the empty catalogue from the legacy file; the environments are unmanaged and the file is ignored from now on");
    } else {
        tracing::info!(file = %legacy_file.display(),
            "skipped the legacy file: the catalogue already has environments");
    }
    Ok(done)
}

/// Every problem of an error, one line each: its violations, or its message.
pub fn problems(error: &Error) -> Vec<String> {
    if error.violations.is_empty() {
        vec![error.message.clone()]
    } else {
        error.violations.iter().map(ToString::to_string).collect()
    }
}

/// The file's text; `None` when it does not exist while running (an empty list). At startup a
/// missing file is an error.
fn read(path: &Path, phase: Phase) -> Result<Option<String>, Error> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && phase == Phase::Running => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::new(
            ErrorKind::FailedPrecondition,
            format!(
                "{} does not exist; create it (an empty list `[]` declares no environments) or fix the path",
                path.display()
            ),
        )),
        Err(e) => Err(Error::new(
            ErrorKind::FailedPrecondition,
            format!("cannot read {}: {e}", path.display()),
        )),
    }
}

fn raw_hash(text: &str) -> Vec<u8> {
    Sha256::digest(text.as_bytes()).to_vec()
}

/// What tells two reads apart: whether the file existed, and its bytes' hash.
fn fingerprint(text: &Option<String>) -> (bool, Vec<u8>) {
    (
        text.is_some(),
        raw_hash(text.as_deref().unwrap_or_default()),
    )
}

/// The first 12 characters of a digest, for logs.
pub fn short(digest: &str) -> &str {
    digest.get(..12).unwrap_or(digest)
}

#[cfg(test)]
#[path = "sync_tests.rs"]
mod tests;
