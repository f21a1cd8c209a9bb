//! The watch task: the launcher's Jobs and pods in its namespace (label
//! `app.kubernetes.io/managed-by=execenv-launcher`), kept as the latest version per launch id, and
//! every change turned into an observation (known launches) or a recovered launch (unknown ones,
//! after a restart) in the [`Launches`] table.
//!
//! Nothing is reported until both the Jobs and the pods have been listed once, so a launcher that
//! restarts reads back each launch whole; only then does [`Cluster`] count as synced. A failed
//! watch is retried with kube's default backoff (0.8 s doubling to 30 s) and logged; a re-list
//! after a long outage replaces what was known, and a Job missing from it counts as deleted. A
//! watch the API server refuses (403) is retried too, so that fixing the Role heals the launcher
//! without a restart, but meanwhile [`Cluster::denied`] says why and Launch refuses with it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use execenv_kit::shutdown::Shutdown;
use futures::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event, watcher};
use kube::{Api, Client, ResourceExt};

use super::forbidden;
use super::state::{self, Facts, launch_id};
use crate::job_spec::{LABEL_MANAGED_BY, MANAGED_BY};
use crate::table::Launches;

/// The launcher's Jobs and pods as last seen, by launch id, shared by the watch task and the
/// backend's calls.
#[derive(Debug, Default)]
pub struct Cluster {
    jobs: HashMap<String, Job>,
    pods: HashMap<String, BTreeMap<String, Pod>>,
    cancelled: HashSet<String>,
    /// The watches (`Jobs`, `pods`) the API server refuses, with the explanation.
    denied: BTreeMap<&'static str, String>,
}

/// The cluster view behind a lock (never held across an await).
pub type Shared = Arc<Mutex<Cluster>>;

/// Locks the view; a panic elsewhere while holding it leaves plain data, still usable.
pub fn lock(shared: &Shared) -> MutexGuard<'_, Cluster> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Cluster {
    /// The pods of a launch.
    pub fn pods_of(&self, id: &str) -> Vec<Pod> {
        self.pods
            .get(id)
            .map(|p| p.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Whether the launch's Job is known (listed or watched, and not deleted).
    pub fn has_job(&self, id: &str) -> bool {
        self.jobs.contains_key(id)
    }

    /// Remembers that the launcher deletes this launch's Job on a Cancel call.
    pub fn mark_cancelled(&mut self, id: &str) {
        self.cancelled.insert(id.to_owned());
    }

    /// Forgets a Cancel whose delete failed.
    pub fn unmark_cancelled(&mut self, id: &str) {
        self.cancelled.remove(id);
    }

    /// Whether a Cancel call deleted (or is deleting) this launch's Job.
    pub fn is_cancelled(&self, id: &str) -> bool {
        self.cancelled.contains(id)
    }

    /// Why the API server refuses the launcher's watch, while it does.
    pub fn denied(&self) -> Option<String> {
        (!self.denied.is_empty())
            .then(|| self.denied.values().cloned().collect::<Vec<_>>().join("; "))
    }
}

/// One item of either watch (boxed: a Job or a pod is a few kilobytes).
enum Change {
    Job(Box<watcher::Result<Event<Job>>>),
    Pod(Box<watcher::Result<Event<Pod>>>),
}

/// Watches until `shutdown`; sends `true` on `synced` once the first lists are in the table.
pub async fn run(
    client: Client,
    namespace: String,
    role: Option<String>,
    cluster: Shared,
    launches: Launches,
    synced: tokio::sync::watch::Sender<bool>,
    shutdown: Shutdown,
) {
    let config = watcher::Config::default().labels(&format!("{LABEL_MANAGED_BY}={MANAGED_BY}"));
    let jobs = watcher(
        Api::<Job>::namespaced(client.clone(), &namespace),
        config.clone(),
    )
    .default_backoff()
    .map(|e| Change::Job(Box::new(e)));
    let pods = watcher(Api::<Pod>::namespaced(client, &namespace), config)
        .default_backoff()
        .map(|e| Change::Pod(Box::new(e)));
    let mut changes = std::pin::pin!(futures::stream::select(jobs, pods));
    let mut reconciler = Reconciler {
        namespace,
        role,
        cluster,
        launches,
        synced,
        job_list: None,
        pod_list: None,
        jobs_listed: false,
        pods_listed: false,
        ready: false,
        failing: HashSet::new(),
    };
    tracing::info!(namespace = %reconciler.namespace, "watching the launcher's Jobs and pods");
    loop {
        tokio::select! {
            () = shutdown.wait() => break,
            next = changes.next() => match next {
                Some(change) => reconciler.apply(change),
                None => break,
            },
        }
    }
    tracing::info!(namespace = %reconciler.namespace, "stopped watching Jobs and pods");
}

struct Reconciler {
    namespace: String,
    /// The Role to name when the API server refuses a watch.
    role: Option<String>,
    cluster: Shared,
    launches: Launches,
    synced: tokio::sync::watch::Sender<bool>,
    /// A list in progress (between `Init` and `InitDone`).
    job_list: Option<HashMap<String, Job>>,
    pod_list: Option<HashMap<String, BTreeMap<String, Pod>>>,
    jobs_listed: bool,
    pods_listed: bool,
    /// Both listed once: changes are reported from now on.
    ready: bool,
    /// The watches (`Jobs`, `pods`) whose last attempt failed.
    failing: HashSet<&'static str>,
}

impl Reconciler {
    fn apply(&mut self, change: Change) {
        match change {
            Change::Job(change) => {
                if let Some(event) = self.healthy(*change, "Jobs") {
                    self.job_event(event);
                }
            }
            Change::Pod(change) => {
                if let Some(event) = self.healthy(*change, "pods") {
                    self.pod_event(event);
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
        match change {
            Ok(event) => {
                if self.failing.remove(what) {
                    lock(&self.cluster).denied.remove(what);
                    tracing::info!(namespace = %self.namespace, "the watch of {what} works again");
                }
                Some(event)
            }
            Err(e) => {
                self.failing.insert(what);
                let denied = refused(&e)
                    .and_then(|m| forbidden::explain(m, &self.namespace, self.role.as_deref()));
                match denied {
                    Some(why) => {
                        tracing::error!(namespace = %self.namespace,
                            "the watch of {what} is refused; launches are refused until it works (retrying with backoff): {why}");
                        lock(&self.cluster).denied.insert(what, why);
                    }
                    None => tracing::warn!(namespace = %self.namespace, error = %e,
                        "the watch of {what} failed; retrying with backoff (is the Kubernetes API server reachable, and may the launcher list and watch {}?)",
                        what.to_lowercase()),
                }
                None
            }
        }
    }

    fn job_event(&mut self, event: Event<Job>) {
        match event {
            Event::Init => self.job_list = Some(HashMap::new()),
            Event::InitApply(job) => {
                if let Some(id) = launch_id(job.metadata.labels.as_ref()).map(str::to_owned) {
                    self.job_list.get_or_insert_default().insert(id, job);
                }
            }
            Event::InitDone => {
                let listed = self.job_list.take().unwrap_or_default();
                let count = listed.len();
                let before = std::mem::replace(&mut lock(&self.cluster).jobs, listed);
                tracing::info!(namespace = %self.namespace, jobs = count, "listed the launcher's Jobs");
                self.jobs_listed = true;
                if self.ready {
                    for (id, job) in before {
                        if !lock(&self.cluster).jobs.contains_key(&id) {
                            self.job_gone(&id, &job);
                        }
                    }
                    self.reconcile_all();
                }
                self.check_ready();
            }
            Event::Apply(job) => {
                let Some(id) = launch_id(job.metadata.labels.as_ref()).map(str::to_owned) else {
                    return;
                };
                lock(&self.cluster).jobs.insert(id.clone(), job);
                if self.ready {
                    self.reconcile(&id);
                }
            }
            Event::Delete(job) => {
                let Some(id) = launch_id(job.metadata.labels.as_ref()).map(str::to_owned) else {
                    return;
                };
                lock(&self.cluster).jobs.remove(&id);
                if self.ready {
                    self.job_gone(&id, &job);
                }
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
        if self.ready || !self.jobs_listed || !self.pods_listed {
            return;
        }
        self.ready = true;
        self.reconcile_all();
        let _ = self.synced.send(true);
        tracing::info!(namespace = %self.namespace,
            launches = lock(&self.cluster).jobs.len(), "read back the launches of the Jobs in the namespace");
    }

    fn reconcile_all(&self) {
        let ids: Vec<String> = lock(&self.cluster).jobs.keys().cloned().collect();
        for id in ids {
            self.reconcile(&id);
        }
    }

    /// Reports the launch whose Job or pods changed.
    fn reconcile(&self, id: &str) {
        let (job, pods, cancelled) = {
            let cluster = lock(&self.cluster);
            let Some(job) = cluster.jobs.get(id) else {
                return;
            };
            (job.clone(), cluster.pods_of(id), cluster.is_cancelled(id))
        };
        self.report(id, &job, false, &pods, cancelled);
    }

    /// Reports a launch whose Job is gone (`job` as last seen).
    fn job_gone(&self, id: &str, job: &Job) {
        let (pods, cancelled) = {
            let mut cluster = lock(&self.cluster);
            let cancelled = cluster.cancelled.remove(id);
            (cluster.pods_of(id), cancelled)
        };
        self.report(id, job, true, &pods, cancelled);
    }

    fn report(&self, id: &str, job: &Job, deleted: bool, pods: &[Pod], cancelled: bool) {
        let pods: Vec<&Pod> = pods.iter().collect();
        let job_name = job.name_any();
        match self.launches.get(id) {
            Some(known) if known.state.is_terminal() => {}
            Some(known) => {
                let seen = state::observe(&Facts {
                    job,
                    deleted,
                    pods: &pods,
                    cancelled_by_us: cancelled,
                });
                let Some(now) = self.launches.observe(id, seen) else {
                    return;
                };
                if now.state.is_terminal() {
                    tracing::info!(launch = %id, job = %job_name, state = now.state.as_str(),
                        reason = %now.reason, exit_code = ?now.exit_code, message = %now.message, "launch finished");
                } else if now.state != known.state || now.reason != known.reason {
                    tracing::debug!(launch = %id, job = %job_name, state = now.state.as_str(),
                        reason = %now.reason, "launch changed");
                }
            }
            None if deleted => {}
            None => {
                if let Some(launch) = state::recover(job, &pods) {
                    let held = self.launches.recover(launch);
                    tracing::info!(launch = %id, job = %job_name, state = held.state.as_str(),
                        reason = %held.reason, "launch recovered from its Job");
                }
            }
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
