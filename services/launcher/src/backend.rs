//! The two backends behind one interface. A backend starts the workload of a launch that is
//! already in the [`Launches`](crate::table::Launches) table as PENDING, and from then on reports
//! every change of it into the table; it also cancels and serves logs.

use execenv_core::Error;

use crate::job_spec::job_name;
use crate::kubernetes::KubernetesBackend;
use crate::launch::{BackendKind, Launch, LogStream, Observation, Plan};
use crate::local::LocalBackend;

/// The configured backend.
// One per process, behind an Arc: the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
pub enum Backend {
    /// Host processes.
    Local(LocalBackend),
    /// Kubernetes Jobs.
    Kubernetes(KubernetesBackend),
}

impl Backend {
    /// Which one it is.
    pub fn kind(&self) -> BackendKind {
        match self {
            Backend::Local(_) => BackendKind::Local,
            Backend::Kubernetes(_) => BackendKind::Kubernetes,
        }
    }

    /// Where a launch of `request_id` will run, known before it starts: the Job's name and
    /// namespace (empty for local launches). Set when the launch is accepted, so a concurrent
    /// repeat of the request already sees them.
    pub fn placement(&self, request_id: &str) -> (String, String) {
        match self {
            Backend::Local(_) => (String::new(), String::new()),
            Backend::Kubernetes(b) => (job_name(request_id), b.namespace().to_owned()),
        }
    }

    /// Resolves once the backend has read back what it already runs (the Jobs in the namespace, or
    /// the launches in the data folder).
    pub async fn synced(&self) {
        match self {
            Backend::Local(_) => {}
            Backend::Kubernetes(b) => b.synced().await,
        }
    }

    /// Starts the workload of `plan.launch`. On error nothing was started and the caller removes
    /// the record from the table. Returns the launch as now held (for Kubernetes, an existing Job
    /// of the same request id is adopted and returned).
    pub async fn start(&self, plan: Plan) -> Result<Launch, Error> {
        match self {
            Backend::Local(b) => b.start(plan).await,
            Backend::Kubernetes(b) => b.start(plan).await,
        }
    }

    /// Stops an unfinished launch; returns it as now held (CANCELLED, or already finished).
    pub async fn cancel(&self, launch: &Launch) -> Result<Launch, Error> {
        match self {
            Backend::Local(b) => b.cancel(launch).await,
            Backend::Kubernetes(b) => b.cancel(launch).await,
        }
    }

    /// What a Cancel of `launch` makes of it (CANCELLED, and why): what it writes to the history
    /// before it stops anything, and what the table then holds.
    pub fn cancel_observation(&self, launch: &Launch) -> Observation {
        match self {
            Backend::Local(_) => crate::local::cancelled(),
            Backend::Kubernetes(b) => b.cancel_observation(launch),
        }
    }

    /// Whether the launch's workload is still there to stop (a Job or Deployment the watch
    /// sees); local processes are stopped by their one Cancel.
    pub fn has_workload(&self, launch: &Launch) -> bool {
        match self {
            Backend::Local(_) => false,
            Backend::Kubernetes(b) => b.has_workload(&launch.id),
        }
    }

    /// The labels of service account `name` (None: there is no such account); the local backend
    /// has no accounts.
    pub async fn service_account_labels(
        &self,
        name: &str,
    ) -> Result<Option<std::collections::BTreeMap<String, String>>, Error> {
        match self {
            Backend::Local(_) => Ok(None),
            Backend::Kubernetes(b) => b.service_account_labels(name).await,
        }
    }

    /// The launch's output; with `follow`, the stream lasts until the launch has finished.
    pub async fn logs(&self, launch: &Launch, follow: bool) -> Result<LogStream, Error> {
        match self {
            Backend::Local(b) => b.logs(launch, follow).await,
            Backend::Kubernetes(b) => b.logs(launch, follow).await,
        }
    }
}
