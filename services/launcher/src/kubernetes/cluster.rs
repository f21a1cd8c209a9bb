//! The launcher's view of its namespace: its Jobs, Deployments, Services and pods as last seen, by
//! launch id, shared by the watch task (which writes it) and the backend's calls (which read it).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Pod, Service};

use crate::job_spec::LABEL_COMPONENT;

/// The launcher's objects as last seen, by launch id.
#[derive(Debug, Default)]
pub struct Cluster {
    pub(super) jobs: HashMap<String, Job>,
    pub(super) deployments: HashMap<String, Deployment>,
    pub(super) services: HashMap<String, Service>,
    pub(super) pods: HashMap<String, BTreeMap<String, Pod>>,
    pub(super) cancelled: HashSet<String>,
    /// Interactive launches whose final state is being written to their Deployment.
    pub(super) finalizing: HashSet<String>,
    /// The watches (`Jobs`, `Deployments`, `Services`, `pods`) the API server refuses, with the
    /// explanation.
    pub(super) denied: BTreeMap<&'static str, String>,
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

    /// The pods of a launch made by its Deployment (`interactive`) or by its Job (any other
    /// component), so that a Job and a Deployment of one request id never mix.
    pub fn pods_made_by(&self, id: &str, interactive: bool) -> Vec<Pod> {
        self.pods
            .get(id)
            .into_iter()
            .flat_map(|p| p.values())
            .filter(|p| {
                let component = p
                    .metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(LABEL_COMPONENT));
                (component.map(String::as_str) == Some("interactive")) == interactive
            })
            .cloned()
            .collect()
    }

    /// Whether the launch's Job or Deployment is known (listed or watched, and not deleted).
    pub fn has_workload(&self, id: &str) -> bool {
        self.jobs.contains_key(id) || self.deployments.contains_key(id)
    }

    /// The launch's Service, as last seen.
    pub fn service(&self, id: &str) -> Option<&Service> {
        self.services.get(id)
    }

    /// Remembers that the launcher deletes this launch's Job or Deployment on a Cancel call.
    pub fn mark_cancelled(&mut self, id: &str) {
        self.cancelled.insert(id.to_owned());
    }

    /// Forgets a Cancel whose delete failed.
    pub fn unmark_cancelled(&mut self, id: &str) {
        self.cancelled.remove(id);
    }

    /// Whether a Cancel call deleted (or is deleting) this launch's Job or Deployment.
    pub fn is_cancelled(&self, id: &str) -> bool {
        self.cancelled.contains(id)
    }

    /// Why the API server refuses the launcher's watch, while it does.
    pub fn denied(&self) -> Option<String> {
        (!self.denied.is_empty())
            .then(|| self.denied.values().cloned().collect::<Vec<_>>().join("; "))
    }
}
