//! Interactive launches in the cluster: starting one (its Deployment, then its Service), adopting
//! one that already exists for the request id, deleting both on Cancel; and the two writes the
//! watch makes for them — a runner's refusal recorded on the Deployment, and a finished
//! Deployment deleted once its time to live has passed.

use std::time::Instant;

use execenv_core::Error;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::PostParams;

use super::KubernetesBackend;
use super::cluster::lock;
use super::serving;
use super::state::launch_id;
use crate::job_spec::{job_name, service_for};
use crate::launch::{Launch, Plan};

impl KubernetesBackend {
    /// Creates the launch's Deployment and its Service; a Deployment of the same request id that
    /// already exists is adopted.
    pub(super) async fn start_interactive(&self, plan: Plan) -> Result<Launch, Error> {
        let mut deployment = serving::deployment_for(&plan, &self.settings)?;
        if let Some(owner) = &self.settings.config.owner_config_map {
            deployment.metadata.owner_references = Some(vec![self.owner(owner).await?]);
        }
        let id = plan.launch.id.clone();
        let name = job_name(&id);
        let namespace = &self.settings.config.namespace;
        let started = Instant::now();
        let created = self
            .deployments
            .create(&PostParams::default(), &deployment)
            .await;
        self.launches.metrics().kubernetes_create(started.elapsed());
        let created = match created {
            Ok(created) => created,
            Err(kube::Error::Api(status)) if status.code == 409 => {
                return self.adopt_interactive(&id, &name).await;
            }
            Err(e) => return Err(self.api_error(e, &format!("create the Deployment {name}"))),
        };
        if let Err(e) = self.service_of(&created).await {
            // Unreachable without its Service: take the Deployment back, the launch fails whole.
            if let Err(undo) = self.delete(&self.deployments, &id, &name).await {
                tracing::warn!(launch = %id, error = %undo.message,
                    "the Deployment {name} stays without its Service");
            }
            return Err(e);
        }
        tracing::info!(launch = %id, deployment = %name, namespace = %namespace,
            took_ms = started.elapsed().as_millis(), "deployment and service created");
        if lock(&self.cluster).is_cancelled(&id) {
            // A Cancel arrived while they were being created and found nothing to delete.
            self.delete_serving(&id, &name).await?;
        }
        Ok(self
            .launches
            .submitted(&id, &name, namespace)
            .unwrap_or(plan.launch))
    }

    /// The Deployment `name` exists: if it is this launch's, take it over (making its Service if
    /// it has none yet) as the launch.
    async fn adopt_interactive(&self, id: &str, name: &str) -> Result<Launch, Error> {
        let namespace = &self.settings.config.namespace;
        let deployment = self.existing(&self.deployments, id, name).await?;
        let service = self.service_of(&deployment).await?;
        let pods = lock(&self.cluster).pods_made_by(id, true);
        let pods: Vec<&Pod> = pods.iter().collect();
        let launch = serving::recover(&deployment, &pods, Some(&service))
            .ok_or_else(|| Error::internal(format!("the Deployment {name} has no launch id")))?;
        let held = self.launches.recover(launch);
        tracing::info!(launch = %id, deployment = %name, namespace = %namespace, state = held.state.as_str(),
            "deployment adopted: it already existed for this request id");
        Ok(held)
    }

    /// The Service of `deployment`: created, or the one already there when it is this launch's.
    async fn service_of(&self, deployment: &Deployment) -> Result<Service, Error> {
        let service = service_for(deployment)?;
        let name = service.metadata.name.clone().unwrap_or_default();
        match self.services.create(&PostParams::default(), &service).await {
            Ok(created) => Ok(created),
            Err(kube::Error::Api(status)) if status.code == 409 => {
                let id = launch_id(deployment.metadata.labels.as_ref()).unwrap_or_default();
                self.existing(&self.services, id, &name).await
            }
            Err(e) => Err(self.api_error(e, &format!("create the Service {name}"))),
        }
    }

    /// Deletes the launch's Deployment (foreground: its pod first) and its Service.
    pub(super) async fn delete_serving(&self, id: &str, name: &str) -> Result<(), Error> {
        self.delete(&self.deployments, id, name).await?;
        self.delete(&self.services, id, name).await
    }
}
