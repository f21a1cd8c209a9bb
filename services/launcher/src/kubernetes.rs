//! The Kubernetes backend: a launch is a `batch/v1` Job in the configured namespace; an
//! interactive launch is an `apps/v1` Deployment and a Service there (module `interactive`).
//!
//! - **Start** creates the Job of [`state::job_for`] (the pure [`crate::job_spec::build_job`] plus
//!   the annotations that let a restarted launcher answer like before), or for an interactive
//!   launch the Deployment of [`serving::deployment_for`] (the same pod, serving on a port) and
//!   its Service. The name is a hash of the request id, so a repeated request meets its own Job or
//!   Deployment: AlreadyExists with our launch id is adopted, with any other owner it is an error.
//! - **Watch** (module `watch`, over the view of module `cluster`): the launcher's Jobs,
//!   Deployments, Services and pods, each change mapped by the pure [`state::observe`] or
//!   [`serving::observe`] into the launch table; unknown Jobs and Deployments (after a restart)
//!   are recovered whole with [`state::recover`] and [`serving::recover`]. Each observation
//!   carries the launch's milestones, read by the pure [`phases::pod_milestones`] from what the
//!   scheduler and the kubelet wrote into the pod.
//! - **Cancel** deletes the Job, or the Deployment and its Service, with foreground propagation
//!   (the pod goes first). Stopping the launcher stops nothing: Jobs run on, interactive content
//!   keeps serving, and the next launcher adopts them.
//! - **Logs** read `pods/log` of the content container of the launch's newest pod.
//!
//! The Role the launcher's service account needs in the namespace is `forbidden::NEEDED`. A
//! call the API server refuses with 403 fails at once with PERMISSION_DENIED naming the account,
//! the verb, the resource, the namespace and the Role to fix (module `forbidden`); while a watch
//! is refused, Launch refuses too instead of creating workloads it would never see run.

mod cluster;
mod forbidden;
mod interactive;
pub mod phases;
pub mod serving;
mod settle;
pub mod state;
mod upkeep;
mod watch;

use std::time::Instant;

use execenv_core::{Error, ErrorKind};
use execenv_kit::shutdown::Shutdown;
use futures::{AsyncReadExt, StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Pod, Service, ServiceAccount};
use kube::api::{Api, DeleteParams, LogParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config, Resource};

use crate::job_spec::{CONTENT_CONTAINER_NAME, JobSettings, LABEL_LAUNCH_ID, LaunchKind, job_name};
use crate::launch::{Launch, LogStream, Observation, Plan, State};
use crate::table::Launches;
use crate::template::JobTemplate;
use crate::{KubernetesConfig, StartError};
use cluster::{Shared, lock};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use state::{CANCELLED_MESSAGE, launch_id};

/// Kubernetes Jobs.
pub struct KubernetesBackend {
    jobs: Api<Job>,
    deployments: Api<Deployment>,
    services: Api<Service>,
    pods: Api<Pod>,
    config_maps: Api<ConfigMap>,
    service_accounts: Api<ServiceAccount>,
    // The owner of every Job (`kubernetes.owner_config_map`), read once.
    owner: tokio::sync::OnceCell<OwnerReference>,
    settings: JobSettings,
    launches: Launches,
    cluster: Shared,
    synced: tokio::sync::watch::Receiver<bool>,
    /// The API server's URL, for messages.
    api_server: String,
}

impl KubernetesBackend {
    /// The namespace Jobs are created in.
    pub fn namespace(&self) -> &str {
        &self.settings.config.namespace
    }

    /// Reads the settings and the kubeconfig (or the in-cluster account) and starts watching the
    /// namespace. An API server that cannot be reached yet does not fail the start: the watch
    /// retries with backoff and [`KubernetesBackend::synced`] waits for it.
    pub async fn connect(
        config: &KubernetesConfig,
        launches: Launches,
        shutdown: Shutdown,
    ) -> Result<(KubernetesBackend, tokio::task::JoinHandle<()>), StartError> {
        crate::job_spec::check_sub_path_prefixes(config)
            .map_err(|e| StartError::Config(e.message))?;
        if config.interactive_port == 0 {
            return Err(StartError::Config(
                "kubernetes.interactive_port is 0; give the port interactive content listens on \
                 in its pod (EXECENV_KUBERNETES__INTERACTIVE_PORT, default 8080)"
                    .to_owned(),
            ));
        }
        let base_template = config
            .job_template
            .as_deref()
            .map(JobTemplate::read)
            .transpose()
            .map_err(|e| StartError::Config(e.message))?;
        let settings = JobSettings {
            config: config.clone(),
            base_template,
        };
        let client_config = match &config.kubeconfig {
            Some(path) => {
                let kubeconfig = Kubeconfig::read_from(path).map_err(|e| {
                    StartError::Config(format!(
                        "cannot read the kubeconfig {} ({e}); fix the file or EXECENV_KUBERNETES__KUBECONFIG",
                        path.display()
                    ))
                })?;
                Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                    .await
                    .map_err(|e| {
                        StartError::Config(format!(
                            "the kubeconfig {} cannot be used ({e}); fix the file or EXECENV_KUBERNETES__KUBECONFIG",
                            path.display()
                        ))
                    })?
            }
            None => Config::infer().await.map_err(|e| {
                StartError::failed(format!(
                    "no Kubernetes configuration found ({e}); set EXECENV_KUBERNETES__KUBECONFIG or KUBECONFIG, \
                     or run the launcher in a pod with a service account"
                ))
            })?,
        };
        let api_server = client_config.cluster_url.to_string();
        let client = Client::try_from(client_config).map_err(|e| {
            StartError::failed(format!(
                "cannot make a client of the Kubernetes API server {api_server}: {e}"
            ))
        })?;
        let namespace = settings.config.namespace.clone();
        let cluster = Shared::default();
        let (synced_tx, synced) = tokio::sync::watch::channel(false);
        let watched = watch::Watched {
            namespace: namespace.clone(),
            role: settings.config.role.clone(),
            ttl_seconds_after_finished: settings.config.ttl_seconds_after_finished,
        };
        let task = tokio::spawn(watch::run(
            client.clone(),
            watched,
            cluster.clone(),
            launches.clone(),
            synced_tx,
            shutdown,
        ));
        tracing::info!(api_server = %api_server, namespace = %namespace, "Kubernetes backend connected");
        Ok((
            KubernetesBackend {
                jobs: Api::namespaced(client.clone(), &namespace),
                deployments: Api::namespaced(client.clone(), &namespace),
                services: Api::namespaced(client.clone(), &namespace),
                config_maps: Api::namespaced(client.clone(), &namespace),
                service_accounts: Api::namespaced(client.clone(), &namespace),
                owner: tokio::sync::OnceCell::new(),
                pods: Api::namespaced(client, &namespace),
                settings,
                launches,
                cluster,
                synced,
                api_server,
            },
            task,
        ))
    }

    /// Resolves once the Jobs and pods in the namespace have been listed and put in the table.
    pub async fn synced(&self) {
        let mut synced = self.synced.clone();
        // An error means the watch task has ended (shutdown): never synced.
        if synced.wait_for(|s| *s).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Creates the launch's Job; a Job of the same request id that already exists is adopted.
    pub async fn start(&self, plan: Plan) -> Result<Launch, Error> {
        if let Some(why) = lock(&self.cluster).denied() {
            return Err(Error::new(
                ErrorKind::PermissionDenied,
                format!(
                    "the launcher may not watch its Jobs, Deployments, Services and pods, so it would never see this launch run: {why}"
                ),
            ));
        }
        if plan.request.kind == LaunchKind::Interactive {
            return self.start_interactive(plan).await;
        }
        let mut job = state::job_for(&plan, &self.settings)?;
        if let Some(owner) = &self.settings.config.owner_config_map {
            job.metadata.owner_references = Some(vec![self.owner(owner).await?]);
        }
        let id = plan.launch.id.clone();
        let name = job_name(&id);
        let started = Instant::now();
        let created = self.jobs.create(&PostParams::default(), &job).await;
        self.launches.metrics().kubernetes_create(started.elapsed());
        match created {
            Ok(_) => {
                tracing::info!(launch = %id, job = %name, namespace = %self.settings.config.namespace,
                    took_ms = started.elapsed().as_millis(), "job created");
                if lock(&self.cluster).is_cancelled(&id) {
                    // A Cancel arrived while the Job was being created and found nothing to delete.
                    self.delete(&self.jobs, &id, &name).await?;
                }
                Ok(self
                    .launches
                    .submitted(&id, &name, &self.settings.config.namespace)
                    .unwrap_or(plan.launch))
            }
            Err(kube::Error::Api(status)) if status.code == 409 => self.adopt(&id, &name).await,
            Err(e) => Err(self.api_error(e, &format!("create the Job {name}"))),
        }
    }

    /// The owner of every Job: the ConfigMap `name`, read on the first launch and kept.
    async fn owner(&self, name: &str) -> Result<OwnerReference, Error> {
        self.owner
            .get_or_try_init(|| async {
                let namespace = &self.settings.config.namespace;
                let found = self
                    .config_maps
                    .get_opt(name)
                    .await
                    .map_err(|e| self.api_error(e, &format!("read the ConfigMap {name}")))?;
                let uid = found.and_then(|c| c.metadata.uid).ok_or_else(|| {
                    Error::new(
                        ErrorKind::FailedPrecondition,
                        format!(
                            "the ConfigMap {name} that owns content Jobs (kubernetes.owner_config_map) \
                             does not exist in namespace {namespace}; create it (the Helm chart does) \
                             or unset EXECENV_KUBERNETES__OWNER_CONFIG_MAP"
                        ),
                    )
                })?;
                Ok(job_owner(name, &uid))
            })
            .await
            .cloned()
    }

    /// The Job `name` exists: if it is this launch's, take it over as the launch.
    async fn adopt(&self, id: &str, name: &str) -> Result<Launch, Error> {
        let namespace = &self.settings.config.namespace;
        let job = self.existing(&self.jobs, id, name).await?;
        let pods = lock(&self.cluster).pods_made_by(id, false);
        let pods: Vec<&Pod> = pods.iter().collect();
        let mut launch = state::recover(&job, &pods)
            .ok_or_else(|| Error::internal(format!("the Job {name} has no launch id")))?;
        // The launch was accepted before its Job was created (by this call, or by another
        // replica, as the history says): that is its creation time, not the Job's.
        if let Some(known) = self.launches.get(id) {
            launch.created = known.created;
        }
        let held = self.launches.recover(launch);
        tracing::info!(launch = %id, job = %name, namespace = %namespace, state = held.state.as_str(),
            "job adopted: it already existed for this request id");
        Ok(held)
    }

    /// The object `name` of `api` that a create just met, when it is launch `id`'s (see
    /// [`KubernetesBackend::claim`]).
    async fn existing<K>(&self, api: &Api<K>, id: &str, name: &str) -> Result<K, Error>
    where
        K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    {
        let (kind, namespace) = (K::kind(&()), &self.settings.config.namespace);
        let found = api
            .get_opt(name)
            .await
            .map_err(|e| self.api_error(e, &format!("read the existing {kind} {name}")))?
            .ok_or_else(|| {
                Error::unavailable(format!(
                    "the {kind} {namespace}/{name} existed a moment ago and is gone now (deleted meanwhile); send the launch again"
                ))
            })?;
        self.claim(&found, id)?;
        Ok(found)
    }

    /// Fails with AlreadyExists unless the existing object `found` (a Job or a Deployment of the
    /// launch's name) belongs to launch `id`.
    fn claim<K: Resource<DynamicType = ()>>(&self, found: &K, id: &str) -> Result<(), Error> {
        let owner = launch_id(found.meta().labels.as_ref()).map(str::to_owned);
        if owner.as_deref() == Some(id) {
            return Ok(());
        }
        let (kind, name) = (K::kind(&()), found.meta().name.clone().unwrap_or_default());
        Err(Error::new(
            ErrorKind::AlreadyExists,
            format!(
                "a {kind} named {name} already exists in namespace {} and belongs to {}; \
                 delete that {kind} or send the launch with another request id",
                self.settings.config.namespace,
                owner.map_or_else(
                    || "no launch (it lacks the execenv.io/launch-id label)".to_owned(),
                    |o| format!("launch {o:?}")
                )
            ),
        ))
    }

    /// Deletes the launch's Job, or its Deployment and Service (foreground: the pod first), and
    /// reports it CANCELLED.
    pub async fn cancel(&self, launch: &Launch) -> Result<Launch, Error> {
        let name = job_name(&launch.id);
        lock(&self.cluster).mark_cancelled(&launch.id);
        let deleted = match launch.kind {
            LaunchKind::Interactive => self.delete_serving(&launch.id, &name).await,
            LaunchKind::Build | LaunchKind::Run => self.delete(&self.jobs, &launch.id, &name).await,
        };
        if let Err(e) = deleted {
            lock(&self.cluster).unmark_cancelled(&launch.id);
            return Err(e);
        }
        Ok(self
            .launches
            .observe(&launch.id, self.cancel_observation(launch))
            .unwrap_or_else(|| launch.clone()))
    }

    /// CANCELLED, with the message of what a Cancel deletes for a launch of its kind.
    pub fn cancel_observation(&self, launch: &Launch) -> Observation {
        let message = match launch.kind {
            LaunchKind::Interactive => serving::CANCELLED_MESSAGE,
            LaunchKind::Build | LaunchKind::Run => CANCELLED_MESSAGE,
        };
        Observation::new(State::Cancelled, "Cancelled", message)
    }

    /// Whether the watch sees the Job or Deployment of launch `id`.
    pub fn has_workload(&self, id: &str) -> bool {
        lock(&self.cluster).has_workload(id)
    }

    /// Deletes the object `name` of `api` (foreground: what it owns first) for launch `id`; one
    /// already gone is fine.
    async fn delete<K>(&self, api: &Api<K>, id: &str, name: &str) -> Result<(), Error>
    where
        K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    {
        let kind = K::kind(&());
        let namespace = &self.settings.config.namespace;
        match api.delete(name, &DeleteParams::foreground()).await {
            Ok(_) => {
                tracing::info!(launch = %id, namespace = %namespace,
                    "{kind} {name} deleted (foreground) to cancel the launch");
                Ok(())
            }
            Err(kube::Error::Api(status)) if status.code == 404 => {
                tracing::info!(launch = %id, namespace = %namespace,
                    "cancel: the {kind} {name} was already gone");
                Ok(())
            }
            Err(e) => Err(self.api_error(e, &format!("delete the {kind} {name}"))),
        }
    }

    /// The content container's log of the launch's newest pod, chunk by chunk. Following, it
    /// first waits until the content container has started (or the pod has ended), so that
    /// `logs --follow` right after Launch prints the content's output from its first line.
    pub async fn logs(&self, launch: &Launch, follow: bool) -> Result<LogStream, Error> {
        if follow {
            self.wait_for_content(&launch.id).await;
        }
        let pods = lock(&self.cluster).pods_of(&launch.id);
        let newest = pods.iter().max_by_key(|p| {
            (
                p.metadata.creation_timestamp.clone(),
                p.metadata.name.clone(),
            )
        });
        let Some(pod) = newest.and_then(|p| p.metadata.name.clone()) else {
            return Err(Error::new(
                ErrorKind::FailedPrecondition,
                format!(
                    "launch {:?} has no pod yet (label {LABEL_LAUNCH_ID}={} in namespace {}); try again when the launch is RUNNING",
                    launch.id, launch.id, self.settings.config.namespace
                ),
            ));
        };
        let params = LogParams {
            container: Some(CONTENT_CONTAINER_NAME.to_owned()),
            follow,
            ..LogParams::default()
        };
        let reader = self
            .pods
            .log_stream(&pod, &params)
            .await
            .map_err(|e| match e {
                // The API server's "container … is waiting to start": not yet, rather than bad input.
                kube::Error::Api(s) if s.code == 400 => Error::new(
                    ErrorKind::FailedPrecondition,
                    format!(
                        "the log of pod {}/{pod} cannot be read yet: {}; try again when the launch is RUNNING",
                        self.settings.config.namespace, s.message
                    ),
                ),
                e => self.api_error(e, &format!("read the log of pod {pod}")),
            })?;
        let what = format!(
            "reading the log of pod {}/{pod} from the Kubernetes API server {}",
            self.settings.config.namespace, self.api_server
        );
        let chunks = futures::stream::try_unfold(Box::pin(reader), |mut reader| async move {
            let mut buf = vec![0u8; 16 * 1024];
            let n = reader.read(&mut buf).await?;
            if n == 0 {
                return Ok(None);
            }
            buf.truncate(n);
            Ok(Some((buf, reader)))
        })
        .map_err(move |e: std::io::Error| Error::unavailable(format!("{what} failed: {e}")));
        Ok(chunks.boxed())
    }

    /// Waits until the newest pod of launch `id` (as the watch last saw it) has started its
    /// content container or has ended, or the launch's Job is gone (or, just after Launch, has
    /// not reached the watch within [`JOB_SEEN_WITHIN`]). Polls the watch's cache, which costs no
    /// API call; a caller that goes away drops the wait.
    async fn wait_for_content(&self, id: &str) {
        let started = Instant::now();
        let mut seen = false;
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(200));
        loop {
            tick.tick().await;
            let cluster = lock(&self.cluster);
            if cluster.has_workload(id) {
                seen = true;
            } else if seen || started.elapsed() > JOB_SEEN_WITHIN {
                return;
            }
            let pods = cluster.pods_of(id);
            let newest = pods.iter().max_by_key(|p| {
                (
                    p.metadata.creation_timestamp.clone(),
                    p.metadata.name.clone(),
                )
            });
            if newest.is_some_and(content_started_or_pod_ended) {
                return;
            }
        }
    }

    /// The labels of the ServiceAccount `name` in the namespace (None: there is none), for the
    /// allow-list by label (`kubernetes.service_account_label`; the Role needs `get` on
    /// serviceaccounts).
    pub async fn service_account_labels(
        &self,
        name: &str,
    ) -> Result<Option<std::collections::BTreeMap<String, String>>, Error> {
        let found = self
            .service_accounts
            .get_opt(name)
            .await
            .map_err(|e| self.api_error(e, &format!("read service account {name}")))?;
        Ok(found.map(|a| a.metadata.labels.unwrap_or_default()))
    }

    /// An API error as the caller should see it.
    fn api_error(&self, e: kube::Error, action: &str) -> Error {
        let namespace = &self.settings.config.namespace;
        match e {
            kube::Error::Api(s) if s.code == 400 || s.code == 422 => Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "the Kubernetes API server rejected the request to {action} in namespace {namespace}: {}",
                    s.message
                ),
            ),
            kube::Error::Api(s) if s.code == 403 => Error::new(
                ErrorKind::PermissionDenied,
                match forbidden::explain(
                    &s.message,
                    namespace,
                    self.settings.config.role.as_deref(),
                ) {
                    Some(why) => format!("cannot {action}: {why}"),
                    None => format!(
                        "the Kubernetes API server refused to {action} in namespace {namespace}: {}",
                        s.message
                    ),
                },
            ),
            kube::Error::Api(s) => Error::unavailable(format!(
                "the Kubernetes API server {} could not {action} in namespace {namespace}: {} ({} {})",
                self.api_server, s.message, s.code, s.reason
            )),
            other => Error::unavailable(format!(
                "cannot reach the Kubernetes API server {} to {action} in namespace {namespace}: {other}",
                self.api_server
            )),
        }
    }
}

/// How long `logs --follow` waits for a launch's Job to reach the watch before it reads the log
/// of whatever is there (and says there is no pod yet).
const JOB_SEEN_WITHIN: std::time::Duration = std::time::Duration::from_secs(10);

/// Whether the pod's content container has started (running or ended), or the pod itself has
/// ended: then its log can be read.
fn content_started_or_pod_ended(pod: &Pod) -> bool {
    let ended = matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    );
    let started = phases::content_status(pod)
        .and_then(|c| c.state.as_ref())
        .is_some_and(|s| s.running.is_some() || s.terminated.is_some());
    ended || started
}

/// The reference that makes the ConfigMap `name` (uid `uid`) the owner of a Job: the garbage
/// collector deletes the Job (and its pods) once the ConfigMap is gone. Not a controller, and it
/// does not block the owner's deletion.
pub fn job_owner(name: &str, uid: &str) -> OwnerReference {
    OwnerReference {
        api_version: "v1".to_owned(),
        kind: "ConfigMap".to_owned(),
        name: name.to_owned(),
        uid: uid.to_owned(),
        controller: None,
        block_owner_deletion: None,
    }
}
