//! Instances of interactive content and the launcher: a request with no ready instance starts
//! one — one start per content however many requests wait ([`crate::instance_table`] is the
//! single flight) — as a launch of kind INTERACTIVE of the content's newest bundle, acting as
//! the content's owner; the start is followed with `Watch` until the launch is READY (waiters
//! get its address), FAILED or CANCELLED (they get 503), each waiter giving up after
//! `content.start_timeout_s` (504; the start goes on). An instance nothing used for
//! `content.idle_timeout_s` is cancelled. When the gateway starts it adopts the interactive
//! launches it had started (`app-<guid>-…`) that still run, so a restart neither leaks nor
//! duplicates them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use execenv_client::{UNSENT_RETRY_WITHIN, retry_unanswered, retry_unsent};
use execenv_core::{Caller, ErrorKind, Role};
use execenv_kit::shutdown::Shutdown;
use execenv_proto::identity::v1 as id;
use execenv_proto::launcher::v1 as pb;
use serde::Serialize;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::bundles::BundleStore;
use crate::config::ContentConfig;
use crate::content_error::ContentError;
use crate::content_metrics::{ColdStart, ContentMetrics, Totals};
use crate::content_records::{ContentRecords, Owner};
use crate::instance_table::{InstanceTable, InstanceView, Lease, Progress, Removed, sweep_period};
use crate::registry::Registry;
use crate::upstream::Upstream;

/// How long the gateway tries, at start, to list the launches it may adopt.
const ADOPT_WITHIN: Duration = Duration::from_secs(60);

/// The pause between two tries to follow a launch whose Watch broke off, growing to 5 s.
const REWATCH_FIRST: Duration = Duration::from_millis(250);

/// The timing of instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstanceSettings {
    /// How long a request waits for an instance to become ready.
    pub start_timeout: Duration,
    /// How long an unused instance lives; None: for ever.
    pub idle_timeout: Option<Duration>,
}

impl From<&ContentConfig> for InstanceSettings {
    fn from(c: &ContentConfig) -> Self {
        InstanceSettings {
            start_timeout: Duration::from_secs(c.start_timeout_s),
            idle_timeout: (c.idle_timeout_s > 0).then(|| Duration::from_secs(c.idle_timeout_s)),
        }
    }
}

/// `GET /__api__/execenv/v1/instances`: this gateway's instances and totals.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InstancesView {
    /// `content.idle_timeout_s` (0: never stopped).
    pub idle_timeout_s: u64,
    /// Every instance, by content guid.
    pub instances: Vec<InstanceView>,
    /// Since this gateway started.
    pub totals: Totals,
}

/// A ready instance a request may be sent to, held by the request's lease.
pub struct Ready {
    /// Counts the request in flight until dropped.
    pub lease: Lease,
    /// The instance's launch.
    pub launch_id: String,
    /// Where it answers (`host:port`).
    pub address: String,
}

/// What the launcher says of an instance that did not take a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recheck {
    /// Still READY (at this address, perhaps a new one).
    Ready(String),
    /// Running but not answering (restarting): a request may wait for it again.
    Starting,
    /// Its launch has ended (cancelled elsewhere, failed): the instance is forgotten.
    Gone(String),
    /// The launcher could not tell.
    Unknown(String),
}

/// The instances of this gateway; cheap to clone.
#[derive(Clone)]
pub struct Instances {
    inner: Arc<Inner>,
}

struct Inner {
    launcher: Upstream,
    registry: Registry,
    bundles: BundleStore,
    records: ContentRecords,
    settings: InstanceSettings,
    table: InstanceTable,
    // False while the launches of an earlier gateway are being adopted.
    adopted: watch::Sender<bool>,
}

impl Instances {
    /// Instances started with `launcher` as the owners `registry` knows, of bundles in `bundles`
    /// owned as `records` say; counted in `metrics`. No task runs until [`Instances::spawn`].
    pub fn new(
        (launcher, registry): (Upstream, Registry),
        (bundles, records): (BundleStore, ContentRecords),
        settings: InstanceSettings,
        metrics: ContentMetrics,
    ) -> Self {
        let (adopted, _) = watch::channel(true);
        Instances {
            inner: Arc::new(Inner {
                launcher,
                registry,
                bundles,
                records,
                settings,
                table: InstanceTable::new(metrics),
                adopted,
            }),
        }
    }

    /// Adopts the launches an earlier gateway left running, then stops idle instances until
    /// `shutdown` (running instances are left running for the next gateway to adopt).
    pub fn spawn(&self, shutdown: &Shutdown) {
        self.inner.adopted.send_replace(false);
        let inner = self.inner.clone();
        tokio::spawn(async move { inner.adopt_running().await });
        if let Some(idle) = self.inner.settings.idle_timeout {
            let inner = self.inner.clone();
            let stopping = shutdown.clone();
            tokio::spawn(async move {
                let mut ticks = tokio::time::interval(sweep_period(idle));
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        () = stopping.wait() => return,
                        _ = ticks.tick() => inner.stop_idle(Instant::now(), idle).await,
                    }
                }
            });
        }
    }

    /// The series instances are counted in.
    pub fn metrics(&self) -> &ContentMetrics {
        self.inner.table.metrics()
    }

    /// The instance of `guid`, if this gateway holds one.
    pub fn view(&self, guid: &str) -> Option<InstanceView> {
        self.inner
            .table
            .view(guid, self.inner.settings.idle_timeout)
    }

    /// Every instance of this gateway and what it has done since it started.
    pub fn summary(&self) -> InstancesView {
        let idle = self.inner.settings.idle_timeout;
        InstancesView {
            idle_timeout_s: idle.map_or(0, |d| d.as_secs()),
            instances: self.inner.table.list(idle),
            totals: self.metrics().totals(),
        }
    }

    /// The table (tests look at activity).
    pub fn table(&self) -> &InstanceTable {
        &self.inner.table
    }

    /// A ready instance of content `guid`, starting one if there is none (or joining the start
    /// under way); waits at most `content.start_timeout_s`.
    pub async fn ready(&self, guid: &str) -> Result<Ready, ContentError> {
        let inner = &self.inner;
        let deadline = Instant::now() + inner.settings.start_timeout;
        // A request during the adoption would start a second instance of adopted content.
        let mut adopted = inner.adopted.subscribe();
        let _ = tokio::time::timeout_at(deadline, adopted.wait_for(|done| *done)).await;
        let joined = inner.table.join(guid);
        if let Some(made) = joined.made {
            let starter = inner.clone();
            let guid = guid.to_owned();
            tokio::spawn(async move { starter.start(guid, made.generation, made.stop).await });
        }
        let mut progress = joined.progress;
        let waited = tokio::time::timeout_at(
            deadline,
            progress.wait_for(|p| !matches!(p, Progress::Starting { .. })),
        )
        .await
        .map(|seen| seen.map(|p| p.clone()));
        match waited {
            Ok(Ok(p)) => match p {
                Progress::Ready { launch_id, address } => Ok(Ready {
                    lease: joined.lease,
                    launch_id,
                    address,
                }),
                Progress::Failed(failure) => Err(failure),
                Progress::Starting { .. } => unreachable!("waited until it was not starting"),
            },
            Ok(Err(_)) => Err(ContentError::unavailable(
                format!("content {guid}'s instance was stopped while it started; try again"),
                None,
            )),
            Err(_) => {
                let (launch_id, reason, message) = match progress.borrow().clone() {
                    Progress::Starting {
                        launch_id,
                        reason,
                        message,
                    } => (launch_id, reason, message),
                    _ => Default::default(),
                };
                Err(ContentError::timeout(
                    format!(
                        "content {guid} is not ready after {} s (content.start_timeout_s): {reason}: {message}; it is still starting, try again",
                        inner.settings.start_timeout.as_secs()
                    ),
                    Some(launch_id).filter(|id| !id.is_empty()),
                ))
            }
        }
    }

    /// After the instance of `guid` (launch `launch_id`, generation `generation`) refused a
    /// connection: what the launcher says of it now, the table updated to match.
    pub async fn recheck(&self, guid: &str, launch_id: &str, generation: u64) -> Recheck {
        let inner = &self.inner;
        let got = inner
            .launcher
            .launcher_for(None)
            .get(pb::GetLaunchRequest {
                id: launch_id.to_owned(),
            })
            .await;
        let launch = match got {
            Ok(l) => l.into_inner(),
            Err(status) => {
                let e = inner.launcher.failed(status).0;
                if e.kind != ErrorKind::NotFound {
                    return Recheck::Unknown(e.message);
                }
                inner.table.remove(guid, Some(generation), None);
                return Recheck::Gone(format!("the launcher no longer knows launch {launch_id}"));
            }
        };
        match launch.state() {
            pb::State::Ready if !launch.address.is_empty() => {
                let address = launch.address.clone();
                let progress = Progress::Ready {
                    launch_id: launch.id,
                    address: address.clone(),
                };
                inner.table.publish(guid, generation, progress);
                Recheck::Ready(address)
            }
            pb::State::Failed | pb::State::Cancelled | pb::State::Succeeded => {
                inner.table.remove(guid, Some(generation), None);
                tracing::info!(content = guid, launch = launch_id, state = ?launch.state(), reason = %launch.reason, "an instance's launch has ended; the next request starts another");
                Recheck::Gone(format!(
                    "launch {launch_id} has ended ({}: {})",
                    launch.reason, launch.message
                ))
            }
            _ => {
                inner.table.publish(guid, generation, starting(&launch));
                if let Some(stop) = inner.table.follow(guid, generation) {
                    let follower = inner.clone();
                    let (guid, id) = (guid.to_owned(), launch_id.to_owned());
                    tokio::spawn(
                        async move { follower.follow(guid, generation, id, stop, None).await },
                    );
                }
                Recheck::Starting
            }
        }
    }

    /// Stops the instance of `guid` if there is one (the bundle it serves was deleted: the
    /// next request starts the newest).
    pub async fn retire(&self, guid: &str, why: &str) {
        if let Some(removed) = self.inner.table.remove(guid, None, None) {
            tracing::info!(content = guid, launch = %removed.launch_id, "stopping an instance: {why}");
            self.inner.cancel(&removed.launch_id).await;
        }
    }

    /// Adds instances for `launches` (newest first, as the launcher lists them): the newest
    /// launch this gateway started of each content; the launches left over (older duplicates).
    pub fn adopt(&self, launches: Vec<pb::Launch>) -> Vec<pb::Launch> {
        self.inner.adopt(launches)
    }
}

impl Inner {
    /// Starts an instance for entry `generation` of `guid` and follows it until it is ready.
    async fn start(self: Arc<Self>, guid: String, generation: u64, stop: CancellationToken) {
        let clock = ColdStartClock::new(self.table.metrics().clone());
        let timer = clock.clone();
        let (timeout, timer_stop) = (self.settings.start_timeout, stop.clone());
        tokio::spawn(async move {
            tokio::select! {
                () = tokio::time::sleep(timeout) => { timer.record(ColdStart::Timeout); }
                () = timer_stop.cancelled() => {}
            }
        });
        let launch = match self.launch(&guid).await {
            Ok(launch) => launch,
            Err(failure) => {
                clock.record(ColdStart::Failed);
                tracing::warn!(content = %guid, error = %failure.message, "an instance could not be started");
                self.table.remove(&guid, Some(generation), Some(failure));
                return;
            }
        };
        if !self
            .table
            .launched(&guid, generation, &launch.id, &launch.bundle)
        {
            // Stopped while the launcher was asked: stop what it started.
            self.cancel(&launch.id).await;
            return;
        }
        tracing::info!(content = %guid, launch = %launch.id, bundle = %launch.bundle, "starting an instance");
        self.follow(guid, generation, launch.id, stop, Some(clock))
            .await;
    }

    /// Launches the newest bundle of `guid` as its owner.
    async fn launch(&self, guid: &str) -> Result<pb::Launch, ContentError> {
        let (bundles, records) = (self.bundles.clone(), self.records.clone());
        let key = guid.to_owned();
        let found = tokio::task::spawn_blocking(move || {
            let owner = records.owner(&key)?;
            let Some(bundle) = bundles.newest(&key)? else {
                return Ok((owner, None));
            };
            let manifest = bundles.manifest(&key, &bundle.to_string())?;
            Ok::<_, execenv_core::Error>((owner, Some((bundle, manifest))))
        })
        .await
        .map_err(|e| ContentError::unavailable(format!("a content task failed: {e}"), None))??;
        let (owner, Some((bundle, manifest))) = found else {
            return Err(ContentError::unavailable(
                format!("content {guid} has no bundle; upload one"),
                None,
            ));
        };
        let caller = match &owner {
            Some(owner) => Some(self.owner_caller(guid, owner).await?),
            // Placed in the data folder by hand: started as the gateway itself.
            None => None,
        };
        let request = launch_request(
            guid,
            bundle,
            manifest,
            chrono::Utc::now().timestamp_millis(),
        );
        let launched = retry_unsent(UNSENT_RETRY_WITHIN, || {
            let mut client = self.launcher.launcher_for(caller.as_ref());
            let request = request.clone();
            async move { client.launch(request).await }
        })
        .await;
        match launched {
            Ok(launch) => Ok(launch.into_inner()),
            Err(status) => {
                let e = self.launcher.failed(status).0;
                let message = format!(
                    "content {guid} did not start: the launcher refused it: {}",
                    e.message
                );
                // Refused for what the content asks (no environment fits it, a cap, …): the
                // content must change, not the server (409); anything else is the server's (503).
                let content_must_change = matches!(
                    e.kind,
                    ErrorKind::FailedPrecondition
                        | ErrorKind::InvalidArgument
                        | ErrorKind::PermissionDenied
                        | ErrorKind::NotFound
                        | ErrorKind::Conflict
                );
                Err(if content_must_change {
                    ContentError::did_not_start(message, None)
                } else {
                    ContentError::unavailable(message, None)
                })
            }
        }
    }

    /// The identity content `guid` runs as: its owner's, as the registry has it now.
    async fn owner_caller(&self, guid: &str, owner: &Owner) -> Result<Caller, ContentError> {
        let answer = self
            .registry
            .accounts()
            .get_user(id::GetUserRequest {
                user: owner.user_guid.clone(),
            })
            .await;
        let cannot = |why: String| {
            ContentError::unavailable(format!("content {guid} cannot start: {why}"), None)
        };
        let user = match answer {
            Ok(user) => user.into_inner(),
            Err(status) => {
                let e = self.registry.failed(status).0;
                return Err(cannot(if e.kind == ErrorKind::NotFound {
                    format!(
                        "its owner, {} (user {}), no longer exists; it runs as its owner, so an administrator must delete it and it be published again",
                        owner.username, owner.user_guid
                    )
                } else {
                    format!("its owner cannot be looked up: {}", e.message)
                }));
            }
        };
        if user.disabled {
            return Err(cannot(format!(
                "its owner, {}, is locked; it runs as its owner, so an administrator must unlock them",
                user.username
            )));
        }
        let role = Role::parse(&user.role)
            .ok_or_else(|| cannot(format!("its owner has an unknown role {:?}", user.role)))?;
        Ok(Caller {
            user: Some(user.guid),
            groups: user.group_guids,
            role,
        })
    }

    /// Follows launch `launch_id` of entry `generation` until it is ready or has ended, or the
    /// entry goes; `clock` when this is a cold start whose outcome is to be recorded.
    async fn follow(
        self: Arc<Self>,
        guid: String,
        generation: u64,
        launch_id: String,
        stop: CancellationToken,
        clock: Option<ColdStartClock>,
    ) {
        let mut pause = REWATCH_FIRST;
        loop {
            let watched = self.watch_once(&guid, generation, &launch_id, clock.as_ref());
            let done = tokio::select! {
                () = stop.cancelled() => return,
                done = watched => done,
            };
            match done {
                Ok(true) => return,
                Ok(false) => {}
                Err(e) if e.kind == ErrorKind::NotFound => {
                    if let Some(clock) = &clock {
                        clock.record(ColdStart::Failed);
                    }
                    let failure = ContentError::unavailable(
                        format!(
                            "content {guid} did not start: the launcher no longer knows launch {launch_id}"
                        ),
                        Some(launch_id.clone()),
                    );
                    self.table.remove(&guid, Some(generation), Some(failure));
                    return;
                }
                Err(e) => {
                    tracing::debug!(content = %guid, launch = %launch_id, error = %e.message, "watching an instance's launch broke off; watching again");
                }
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(pause) => {}
            }
            pause = (pause * 2).min(Duration::from_secs(5));
        }
    }

    /// One Watch of the launch: true once it is ready or ended (the entry updated), false when
    /// the stream ended first.
    async fn watch_once(
        &self,
        guid: &str,
        generation: u64,
        launch_id: &str,
        clock: Option<&ColdStartClock>,
    ) -> Result<bool, execenv_core::Error> {
        let failed = |status| self.launcher.failed(status).0;
        let mut events = self
            .launcher
            .launcher_watching()
            .watch(pb::WatchLaunchesRequest {
                id: launch_id.to_owned(),
            })
            .await
            .map_err(failed)?
            .into_inner();
        while let Some(event) = events.message().await.map_err(failed)? {
            let Some(launch) = event.launch else { continue };
            match launch.state() {
                pb::State::Ready if !launch.address.is_empty() => {
                    let progress = Progress::Ready {
                        launch_id: launch.id.clone(),
                        address: launch.address.clone(),
                    };
                    if self.table.publish(guid, generation, progress)
                        && let Some(clock) = clock
                    {
                        clock.record(ColdStart::Ready);
                        tracing::info!(
                            content = guid,
                            launch = launch_id,
                            seconds = clock.seconds(),
                            "cold start: the instance is ready"
                        );
                    }
                    return Ok(true);
                }
                pb::State::Failed | pb::State::Cancelled | pb::State::Succeeded => {
                    if let Some(clock) = clock {
                        clock.record(ColdStart::Failed);
                    }
                    let failure = ContentError::did_not_start(
                        format!(
                            "content {guid} did not start: {}: {}",
                            launch.reason, launch.message
                        ),
                        Some(launch.id.clone()),
                    );
                    if self
                        .table
                        .remove(guid, Some(generation), Some(failure))
                        .is_some()
                    {
                        tracing::warn!(content = guid, launch = launch_id, reason = %launch.reason, message = %launch.message, "an instance did not start");
                    }
                    return Ok(true);
                }
                _ => {
                    if !self.table.publish(guid, generation, starting(&launch)) {
                        return Ok(true);
                    }
                }
            }
        }
        Ok(false)
    }

    /// Lists the launches this gateway started that still run and adopts them.
    async fn adopt_running(self: Arc<Self>) {
        let request = pb::ListLaunchesRequest {
            content_guid: None,
            states: vec![
                pb::State::Pending as i32,
                pb::State::Running as i32,
                pb::State::Ready as i32,
            ],
            kind: pb::Kind::Interactive as i32,
        };
        let listed = retry_unanswered(ADOPT_WITHIN, || {
            let mut client = self.launcher.launcher_for(None);
            let request = request.clone();
            async move { client.list(request).await }
        })
        .await;
        match listed {
            Ok(listed) => {
                let leftovers = self.adopt(listed.into_inner().launches);
                for launch in leftovers {
                    tracing::info!(content = %launch.content_guid, launch = %launch.id, "stopping an older instance of content that has a newer one");
                    self.cancel(&launch.id).await;
                }
            }
            Err(status) => {
                let e = self.launcher.failed(status).0;
                tracing::warn!(error = %e.message, "cannot list the interactive launches to adopt; instances an earlier gateway started are not stopped by this one");
            }
        }
        self.adopted.send_replace(true);
    }

    fn adopt(self: &Arc<Self>, launches: Vec<pb::Launch>) -> Vec<pb::Launch> {
        let mut leftovers = Vec::new();
        for launch in launches {
            if !started_here(&launch) {
                continue;
            }
            let ready = launch.state() == pb::State::Ready && !launch.address.is_empty();
            let progress = if ready {
                Progress::Ready {
                    launch_id: launch.id.clone(),
                    address: launch.address.clone(),
                }
            } else {
                starting(&launch)
            };
            let guid = launch.content_guid.clone();
            let Some(made) = self
                .table
                .adopt(&guid, &launch.id, &launch.bundle, progress)
            else {
                leftovers.push(launch);
                continue;
            };
            tracing::info!(content = %guid, launch = %launch.id, state = ?launch.state(), "adopted a running instance");
            if !ready {
                let follower = self.clone();
                tokio::spawn(async move {
                    follower
                        .follow(guid, made.generation, launch.id, made.stop, None)
                        .await;
                });
            }
        }
        leftovers
    }

    /// Stops every instance idle for `idle` at `now`.
    async fn stop_idle(&self, now: Instant, idle: Duration) {
        for Removed {
            guid,
            launch_id,
            idle,
        } in self.table.take_idle(now, idle)
        {
            self.table.metrics().idle_stop();
            tracing::info!(content = %guid, launch = %launch_id, idle_seconds = idle.as_secs(), "stopped an idle instance");
            self.cancel(&launch_id).await;
        }
    }

    /// Cancels launch `id` as the gateway itself; a failure is logged.
    async fn cancel(&self, id: &str) {
        if id.is_empty() {
            return;
        }
        // Cancelling twice is cancelling once: a call whose connection broke is made again.
        let cancelled = retry_unanswered(UNSENT_RETRY_WITHIN, || {
            let mut client = self.launcher.launcher_for(None);
            let request = pb::CancelLaunchRequest { id: id.to_owned() };
            async move { client.cancel(request).await }
        })
        .await;
        if let Err(status) = cancelled {
            let e = self.launcher.failed(status).0;
            tracing::warn!(launch = id, error = %e.message, "cannot stop an instance's launch; cancel it with execenvctl or the console");
        }
    }
}

/// The outcome of one cold start, recorded once: ready, failed or timed out, whichever first.
#[derive(Clone)]
struct ColdStartClock {
    began: Instant,
    recorded: Arc<AtomicBool>,
    metrics: ContentMetrics,
}

impl ColdStartClock {
    fn new(metrics: ContentMetrics) -> Self {
        ColdStartClock {
            began: Instant::now(),
            recorded: Arc::default(),
            metrics,
        }
    }

    fn seconds(&self) -> f64 {
        self.began.elapsed().as_secs_f64()
    }

    fn record(&self, outcome: ColdStart) {
        if !self.recorded.swap(true, Ordering::SeqCst) {
            self.metrics.cold_start(outcome, self.seconds());
        }
    }
}

/// The progress of a launch that is not ready.
fn starting(launch: &pb::Launch) -> Progress {
    Progress::Starting {
        launch_id: launch.id.clone(),
        reason: launch.reason.clone(),
        message: launch.message.clone(),
    }
}

/// Whether this gateway (or an earlier one) started `launch` for its content.
fn started_here(launch: &pb::Launch) -> bool {
    launch.kind() == pb::Kind::Interactive
        && launch
            .id
            .strip_prefix("app-")
            .and_then(|rest| rest.strip_prefix(launch.content_guid.as_str()))
            .is_some_and(|rest| rest.starts_with('-'))
}

/// The launch of bundle `bundle` of content `guid` (with its `manifest`) at `unix_ms`.
pub fn launch_request(
    guid: &str,
    bundle: u64,
    manifest: Option<serde_json::Map<String, serde_json::Value>>,
    unix_ms: i64,
) -> pb::LaunchRequest {
    pb::LaunchRequest {
        request_id: format!("app-{guid}-{}", base36(u64::try_from(unix_ms).unwrap_or(0))),
        kind: pb::Kind::Interactive as i32,
        content: Some(pb::Content {
            guid: guid.to_owned(),
            bundle: bundle.to_string(),
            manifest_json: manifest
                .map(|m| serde_json::Value::Object(m).to_string())
                .unwrap_or_default(),
            ..pb::Content::default()
        }),
        ..pb::LaunchRequest::default()
    }
}

/// `n` in base 36, lowercase.
pub fn base36(mut n: u64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
#[path = "instances_tests.rs"]
mod tests;
