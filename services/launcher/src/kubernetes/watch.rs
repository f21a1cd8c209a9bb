//! The watch task: the launcher's Jobs, Deployments, Services and pods in its namespace (label
//! `app.kubernetes.io/managed-by=execenv-launcher`), kept in the [`Cluster`] view as the latest
//! version per launch id, and every change turned into an observation (known launches) or a
//! recovered launch (unknown ones, after a restart) in the [`Launches`] table.
//!
//! Nothing is reported until all four have been listed once, so a launcher that restarts reads
//! back each launch whole; only then does the view count as synced. A failed watch is retried
//! with kube's default backoff (0.8 s doubling to 30 s) and logged; a re-list after a long outage
//! replaces what was known, and a Job or Deployment missing from it counts as deleted. A watch
//! the API server refuses (403) is retried too, so that fixing the Role heals the launcher without
//! a restart, but meanwhile [`Cluster::denied`] says why and Launch refuses with it.
//!
//! With a launch history, a Job or Deployment that vanishes (or is being deleted) without this
//! launcher's Cancel is first looked up there (module `settle`): another replica's Cancel wrote
//! CANCELLED before deleting it, and that end is taken; with no final record anywhere, it is
//! FAILED `JobDeleted` as without a history. Once synced, an unfinished launch read from the
//! history whose Job or Deployment is not in the namespace (it ended and was removed while no
//! launcher watched) is settled the same way.
//!
//! Interactive launches have two duties here besides reporting (module `interactive`): a
//! runner's refusal is written onto the Deployment (annotations and zero replicas), and a
//! Deployment so finished is deleted `kubernetes.ttl_seconds_after_finished` later, as the Job
//! controller deletes finished Jobs.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use execenv_kit::shutdown::Shutdown;
use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event, watcher};
use kube::{Api, Client, Resource, ResourceExt};

use super::cluster::{Cluster, Shared, lock};
use super::state::{self, Facts, launch_id};
use super::{forbidden, serving, settle, upkeep};
use crate::job_spec::{LABEL_MANAGED_BY, LaunchKind, MANAGED_BY};
use crate::launch::{BackendKind, State};
use crate::table::Launches;

/// How often finished interactive Deployments past their TTL are looked for.
const CLEAN_UP_EVERY: Duration = Duration::from_secs(60);

/// What the watch task is given.
pub struct Watched {
    /// The namespace watched.
    pub namespace: String,
    /// The Role to name when the API server refuses a watch.
    pub role: Option<String>,
    /// How long a finished interactive Deployment is kept (`kubernetes.ttl_seconds_after_finished`).
    pub ttl_seconds_after_finished: Option<i32>,
}

/// One item of any of the watches (boxed: an object is a few kilobytes).
enum Change {
    Job(Box<watcher::Result<Event<Job>>>),
    Deployment(Box<watcher::Result<Event<Deployment>>>),
    Service(Box<watcher::Result<Event<Service>>>),
    Pod(Box<watcher::Result<Event<Pod>>>),
}

/// Watches until `shutdown`; sends `true` on `synced` once the first lists are in the table.
pub async fn run(
    client: Client,
    watched: Watched,
    cluster: Shared,
    launches: Launches,
    synced: tokio::sync::watch::Sender<bool>,
    shutdown: Shutdown,
) {
    let namespace = watched.namespace.clone();
    let config = watcher::Config::default().labels(&format!("{LABEL_MANAGED_BY}={MANAGED_BY}"));
    let jobs = watcher(Api::namespaced(client.clone(), &namespace), config.clone())
        .default_backoff()
        .map(|e| Change::Job(Box::new(e)));
    let deployments = watcher(Api::namespaced(client.clone(), &namespace), config.clone())
        .default_backoff()
        .map(|e| Change::Deployment(Box::new(e)));
    let services = watcher(Api::namespaced(client.clone(), &namespace), config.clone())
        .default_backoff()
        .map(|e| Change::Service(Box::new(e)));
    let pods = watcher(Api::namespaced(client.clone(), &namespace), config)
        .default_backoff()
        .map(|e| Change::Pod(Box::new(e)));
    let mut changes = std::pin::pin!(futures::stream::select_all([
        jobs.boxed(),
        deployments.boxed(),
        services.boxed(),
        pods.boxed(),
    ]));
    let mut reconciler = Reconciler {
        deployments: Api::namespaced(client, &namespace),
        watched,
        cluster,
        launches,
        synced,
        jobs: Listing::default(),
        deployment_list: Listing::default(),
        services: Listing::default(),
        pod_list: None,
        pods_listed: false,
        ready: false,
        failing: HashSet::new(),
    };
    let mut clean_up = tokio::time::interval(CLEAN_UP_EVERY);
    tracing::info!(namespace = %namespace, "watching the launcher's Jobs, Deployments, Services and pods");
    loop {
        tokio::select! {
            () = shutdown.wait() => break,
            _ = clean_up.tick() => reconciler.clean_up(),
            next = changes.next() => match next {
                Some(change) => reconciler.apply(change),
                None => break,
            },
        }
    }
    tracing::info!(namespace = %namespace, "stopped watching Jobs, Deployments, Services and pods");
}

/// The first list of one kind: what it has brought so far, and whether it is done.
struct Listing<K> {
    pending: Option<HashMap<String, K>>,
    listed: bool,
}

impl<K> Default for Listing<K> {
    fn default() -> Self {
        Listing {
            pending: None,
            listed: false,
        }
    }
}

/// What an event of a kind with one object per launch changed.
enum Seen<K> {
    Nothing,
    /// A (re-)list is complete; what was known before it and is not in it.
    Listed(Vec<(String, K)>),
    Applied(String),
    Deleted(String, Box<K>),
}

/// Applies `event` to the view's map of its kind (`map`), through `listing`.
fn keyed<K: Resource>(
    cluster: &Shared,
    listing: &mut Listing<K>,
    map: fn(&mut Cluster) -> &mut HashMap<String, K>,
    event: Event<K>,
) -> Seen<K> {
    let id_of = |o: &K| launch_id(o.meta().labels.as_ref()).map(str::to_owned);
    match event {
        Event::Init => {
            listing.pending = Some(HashMap::new());
            Seen::Nothing
        }
        Event::InitApply(o) => {
            if let Some(id) = id_of(&o) {
                listing.pending.get_or_insert_default().insert(id, o);
            }
            Seen::Nothing
        }
        Event::InitDone => {
            let listed = listing.pending.take().unwrap_or_default();
            listing.listed = true;
            let mut cluster = lock(cluster);
            let known = map(&mut cluster);
            let before = std::mem::replace(known, listed);
            let gone = before
                .into_iter()
                .filter(|(id, _)| !known.contains_key(id))
                .collect();
            Seen::Listed(gone)
        }
        Event::Apply(o) => match id_of(&o) {
            Some(id) => {
                map(&mut lock(cluster)).insert(id.clone(), o);
                Seen::Applied(id)
            }
            None => Seen::Nothing,
        },
        Event::Delete(o) => match id_of(&o) {
            Some(id) => {
                map(&mut lock(cluster)).remove(&id);
                Seen::Deleted(id, Box::new(o))
            }
            None => Seen::Nothing,
        },
    }
}

struct Reconciler {
    watched: Watched,
    deployments: Api<Deployment>,
    cluster: Shared,
    launches: Launches,
    synced: tokio::sync::watch::Sender<bool>,
    jobs: Listing<Job>,
    deployment_list: Listing<Deployment>,
    services: Listing<Service>,
    /// A list of pods in progress (between `Init` and `InitDone`).
    pod_list: Option<HashMap<String, BTreeMap<String, Pod>>>,
    pods_listed: bool,
    /// All listed once: changes are reported from now on.
    ready: bool,
    /// The watches whose last attempt failed.
    failing: HashSet<&'static str>,
}

impl Reconciler {
    fn apply(&mut self, change: Change) {
        match change {
            Change::Job(change) => {
                if let Some(event) = self.healthy(*change, "Jobs") {
                    let seen = keyed(&self.cluster, &mut self.jobs, |c| &mut c.jobs, event);
                    self.after(seen, Some(Self::job_gone));
                }
            }
            Change::Deployment(change) => {
                if let Some(event) = self.healthy(*change, "Deployments") {
                    let seen = keyed(
                        &self.cluster,
                        &mut self.deployment_list,
                        |c| &mut c.deployments,
                        event,
                    );
                    self.after(seen, Some(Self::deployment_gone));
                }
            }
            Change::Service(change) => {
                if let Some(event) = self.healthy(*change, "Services") {
                    let seen = keyed(
                        &self.cluster,
                        &mut self.services,
                        |c| &mut c.services,
                        event,
                    );
                    self.after(seen, None);
                }
            }
            Change::Pod(change) => {
                if let Some(event) = self.healthy(*change, "pods") {
                    self.pod_event(event);
                }
            }
        }
    }

    /// Reports what an event changed; `gone` reports a launch whose Job or Deployment went away
    /// (none: the object only adds to its launch, which is reconciled again).
    fn after<K>(&mut self, seen: Seen<K>, gone: Option<fn(&Self, &str, &K)>) {
        match seen {
            Seen::Nothing => {}
            Seen::Listed(before) => {
                if self.ready {
                    if let Some(gone) = gone {
                        for (id, object) in before {
                            gone(self, &id, &object);
                        }
                    }
                    self.reconcile_all();
                }
                self.check_ready();
            }
            Seen::Applied(id) => {
                if self.ready {
                    self.reconcile(&id);
                }
            }
            Seen::Deleted(id, object) => {
                if self.ready {
                    match gone {
                        Some(gone) => gone(self, &id, &object),
                        None => self.reconcile(&id),
                    }
                }
            }
        }
    }

    /// The event of a watch of `what`, logging when it fails (kube retries it with backoff) and
    /// when it works again.
    fn healthy<K>(
        &mut self,
        change: watcher::Result<Event<K>>,
        what: &'static str,
    ) -> Option<Event<K>> {
        let namespace = &self.watched.namespace;
        match change {
            Ok(event) => {
                if self.failing.remove(what) {
                    lock(&self.cluster).denied.remove(what);
                    tracing::info!(namespace = %namespace, "the watch of {what} works again");
                }
                Some(event)
            }
            Err(e) => {
                self.failing.insert(what);
                let denied = refused(&e)
                    .and_then(|m| forbidden::explain(m, namespace, self.watched.role.as_deref()));
                match denied {
                    Some(why) => {
                        tracing::error!(namespace = %namespace,
                            "the watch of {what} is refused; launches are refused until it works (retrying with backoff): {why}");
                        lock(&self.cluster).denied.insert(what, why);
                    }
                    None => tracing::warn!(namespace = %namespace, error = %e,
                        "the watch of {what} failed; retrying with backoff (is the Kubernetes API server reachable, and may the launcher list and watch {}?)",
                        what.to_lowercase()),
                }
                None
            }
        }
    }

    fn pod_event(&mut self, event: Event<Pod>) {
        match event {
            Event::Init => self.pod_list = Some(HashMap::new()),
            Event::InitApply(pod) => {
                if let Some(id) = launch_id(pod.metadata.labels.as_ref()).map(str::to_owned) {
                    self.pod_list
                        .get_or_insert_default()
                        .entry(id)
                        .or_default()
                        .insert(pod.name_any(), pod);
                }
            }
            Event::InitDone => {
                let listed = self.pod_list.take().unwrap_or_default();
                lock(&self.cluster).pods = listed;
                self.pods_listed = true;
                if self.ready {
                    self.reconcile_all();
                }
                self.check_ready();
            }
            Event::Apply(pod) | Event::Delete(pod)
                if launch_id(pod.metadata.labels.as_ref()).is_none() => {}
            Event::Apply(pod) => {
                let id = launch_id(pod.metadata.labels.as_ref())
                    .unwrap_or_default()
                    .to_owned();
                lock(&self.cluster)
                    .pods
                    .entry(id.clone())
                    .or_default()
                    .insert(pod.name_any(), pod);
                if self.ready {
                    self.reconcile(&id);
                }
            }
            Event::Delete(pod) => {
                let id = launch_id(pod.metadata.labels.as_ref())
                    .unwrap_or_default()
                    .to_owned();
                {
                    let mut cluster = lock(&self.cluster);
                    if let Some(pods) = cluster.pods.get_mut(&id) {
                        pods.remove(&pod.name_any());
                        if pods.is_empty() {
                            cluster.pods.remove(&id);
                        }
                    }
                }
                if self.ready {
                    self.reconcile(&id);
                }
            }
        }
    }

    fn check_ready(&mut self) {
        let listed = self.jobs.listed
            && self.deployment_list.listed
            && self.services.listed
            && self.pods_listed;
        if self.ready || !listed {
            return;
        }
        self.ready = true;
        self.reconcile_all();
        self.settle_vanished();
        let _ = self.synced.send(true);
        let (jobs, deployments) = {
            let cluster = lock(&self.cluster);
            (cluster.jobs.len(), cluster.deployments.len())
        };
        tracing::info!(namespace = %self.watched.namespace, jobs, deployments,
            "read back the launches of the Jobs and Deployments in the namespace");
    }

    fn reconcile_all(&self) {
        let ids: HashSet<String> = {
            let cluster = lock(&self.cluster);
            cluster
                .jobs
                .keys()
                .chain(cluster.deployments.keys())
                .cloned()
                .collect()
        };
        for id in ids {
            self.reconcile(&id);
        }
    }

    /// Reports the launch whose Job, Deployment, Service or pods changed.
    fn reconcile(&self, id: &str) {
        let (job, deployment, cancelled) = {
            let cluster = lock(&self.cluster);
            (
                cluster.jobs.get(id).cloned(),
                cluster.deployments.get(id).cloned(),
                cluster.is_cancelled(id),
            )
        };
        if let Some(job) = job {
            self.report_job(id, &job, false, cancelled);
        }
        if let Some(deployment) = deployment {
            self.report_serving(id, &deployment, false, cancelled);
        }
    }

    /// Reports a launch whose Job is gone (`job` as last seen).
    fn job_gone(&self, id: &str, job: &Job) {
        let cancelled = lock(&self.cluster).cancelled.remove(id);
        self.report_job(id, job, true, cancelled);
    }

    /// Reports a launch whose Deployment is gone (`deployment` as last seen).
    fn deployment_gone(&self, id: &str, deployment: &Deployment) {
        let cancelled = {
            let mut cluster = lock(&self.cluster);
            cluster.finalizing.remove(id);
            cluster.cancelled.remove(id)
        };
        self.report_serving(id, deployment, true, cancelled);
    }

    fn report_job(&self, id: &str, job: &Job, deleted: bool, cancelled: bool) {
        let pods = lock(&self.cluster).pods_made_by(id, false);
        let pods: Vec<&Pod> = pods.iter().collect();
        let name = job.name_any();
        match self.launches.get(id) {
            Some(known) if known.state.is_terminal() || known.kind == LaunchKind::Interactive => {}
            Some(_) => {
                let seen = state::observe(&Facts {
                    job,
                    deleted,
                    pods: &pods,
                    cancelled_by_us: cancelled,
                });
                self.observed(id, &name, seen);
            }
            None if deleted => {}
            None => {
                if let Some(launch) = state::recover(job, &pods) {
                    let held = self.launches.recover(launch);
                    tracing::info!(launch = %id, job = %name, state = held.state.as_str(),
                        reason = %held.reason, "launch recovered from its Job");
                }
            }
        }
    }

    fn report_serving(&self, id: &str, deployment: &Deployment, deleted: bool, cancelled: bool) {
        let (pods, service) = {
            let cluster = lock(&self.cluster);
            (cluster.pods_made_by(id, true), cluster.service(id).cloned())
        };
        let pods: Vec<&Pod> = pods.iter().collect();
        let name = deployment.name_any();
        match self.launches.get(id) {
            Some(known) if known.state.is_terminal() || known.kind != LaunchKind::Interactive => {}
            Some(known) => {
                let seen = serving::observe(&serving::Facts {
                    deployment,
                    deleted,
                    pods: &pods,
                    service: service.as_ref(),
                    cancelled_by_us: cancelled,
                });
                let seen = match known.started {
                    Some(_) => serving::once_started(seen),
                    None => seen,
                };
                self.observed(id, &name, seen);
            }
            None if deleted => {}
            None => {
                if let Some(launch) = serving::recover(deployment, &pods, service.as_ref()) {
                    let held = self.launches.recover(launch);
                    tracing::info!(launch = %id, deployment = %name, state = held.state.as_str(),
                        reason = %held.reason, "launch recovered from its Deployment");
                }
            }
        }
        if !deleted {
            self.finalize_refusal(id, deployment);
        }
    }

    /// Settles the unfinished launches read from the history whose Job or Deployment is not
    /// in the namespace: recorded final meanwhile by another replica, or FAILED as deleted.
    fn settle_vanished(&self) {
        if self.launches.history().is_none() {
            return;
        }
        let now = chrono::Utc::now();
        let vanished: Vec<_> = self
            .launches
            .active(BackendKind::Kubernetes)
            .into_iter()
            .filter(|l| !lock(&self.cluster).has_workload(&l.id))
            .filter(|l| settle::may_have_vanished(l, now))
            .collect();
        for launch in vanished {
            let seen = settle::vanished(&launch, &self.watched.namespace);
            tokio::spawn(settle::deleted(self.launches.clone(), launch.id, seen));
        }
    }

    /// Applies an observation of a known launch and logs what changed.
    fn observed(&self, id: &str, object: &str, seen: crate::launch::Observation) {
        if self.launches.history().is_some() && settle::deleted_outside(&seen) {
            // Another replica's Cancel may have done it: its history says.
            tokio::spawn(settle::deleted(self.launches.clone(), id.to_owned(), seen));
            return;
        }
        let before = self.launches.get(id);
        let Some(now) = self.launches.observe(id, seen) else {
            return;
        };
        if now.state.is_terminal() {
            tracing::info!(launch = %id, object = %object, state = now.state.as_str(),
                reason = %now.reason, exit_code = ?now.exit_code, message = %now.message, "launch finished");
        } else if before.is_none_or(|b| b.state != now.state || b.reason != now.reason) {
            tracing::debug!(launch = %id, object = %object, state = now.state.as_str(),
                reason = %now.reason, restarts = now.restarts, "launch changed");
        }
    }

    /// Writes a runner's refusal onto the launch's Deployment (once), so that it stops and a
    /// restarted launcher reads the same verdict.
    fn finalize_refusal(&self, id: &str, deployment: &Deployment) {
        let Some(launch) = self.launches.get(id) else {
            return;
        };
        if launch.state != State::Failed
            || launch.reason != serving::RUNNER_REFUSED
            || serving::is_final(deployment)
            || !lock(&self.cluster).finalizing.insert(id.to_owned())
        {
            return;
        }
        tokio::spawn(upkeep::finalize(
            self.deployments.clone(),
            self.cluster.clone(),
            launch,
        ));
    }

    /// Deletes the finished interactive Deployments whose time to live has passed.
    fn clean_up(&self) {
        let now = chrono::Utc::now();
        let expired: Vec<String> = lock(&self.cluster)
            .deployments
            .values()
            .filter(|d| d.metadata.deletion_timestamp.is_none())
            .filter(|d| {
                serving::expires(d, self.watched.ttl_seconds_after_finished)
                    .is_some_and(|at| at <= now)
            })
            .map(ResourceExt::name_any)
            .collect();
        for name in expired {
            tokio::spawn(upkeep::delete_expired(self.deployments.clone(), name));
        }
    }
}

/// The API server's message when it answered a watch or list with 403.
fn refused(e: &watcher::Error) -> Option<&str> {
    let status = match e {
        watcher::Error::InitialListFailed(kube::Error::Api(s))
        | watcher::Error::WatchStartFailed(kube::Error::Api(s))
        | watcher::Error::WatchFailed(kube::Error::Api(s))
        | watcher::Error::WatchError(s) => s,
        _ => return None,
    };
    (status.code == 403).then_some(status.message.as_str())
}
