//! The objects of an interactive launch: an `apps/v1` Deployment that keeps one pod of the content
//! serving, and a ClusterIP Service in front of it. Pure functions, no I/O.
//!
//! The Deployment is the RUN Job's twin: it is made from the Job [`super::build_job`] builds for
//! the launch (base template included), so its name, labels, annotations and pod are the Job's —
//! runtime init container, supervisor, volumes, resources, service account, security — except:
//!
//! - `restartPolicy: Always` (the kubelet restarts a crashed app, the Deployment replaces a lost
//!   pod), one replica, strategy `Recreate` (never two instances at once), and no pod deadline;
//! - the content container listens on the port `kubernetes.interactive_port` (named `http`), is
//!   ready once that port accepts connections (`tcpSocket`, every second), and keeps the last lines
//!   of its log as its termination message when it fails (`FallbackToLogsOnError`), which is how
//!   the launcher reads a crash's cause and a runner's refusal;
//! - it gets [`super::content_variables`]: `EXECENV_CONTENT_PORT`, `EXECENV_CONTENT_HOST=0.0.0.0`
//!   and `EXECENV_CONTENT_BASE_PATH=/content/<content guid>`.
//!
//! The Service has the Deployment's name and labels, selects the launch's pod by its launch id
//! (and component), maps the same port, and is owned by the Deployment, so deleting the Deployment
//! removes it.

use std::collections::BTreeMap;

use execenv_core::Error;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EnvVar, Probe, Service, ServicePort, ServiceSpec, TCPSocketAction,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::runner::content_variables;
use super::{
    CONTENT_CONTAINER_NAME, LABEL_COMPONENT, LABEL_LAUNCH_ID, LABEL_MANAGED_BY, LaunchRequest,
    MANAGED_BY,
};

/// The name of the content container's port (and of the Service's).
pub const HTTP_PORT_NAME: &str = "http";
/// The address interactive content binds in its pod: every interface, so the Service reaches it.
pub const POD_HOST: &str = "0.0.0.0";

/// The Deployment of interactive launch `launch`, made from its Job `job` (as
/// [`super::build_job`] built it, with any annotations added since), serving on `port`.
pub fn deployment_of(job: Job, launch: &LaunchRequest, port: u16) -> Deployment {
    let id = launch.request_id.as_str();
    let mut template = job.spec.map(|s| s.template).unwrap_or_default();
    if let Some(pod) = template.spec.as_mut() {
        pod.restart_policy = Some("Always".into());
        // A Deployment's pods may not have a deadline (a base template could give one).
        pod.active_deadline_seconds = None;
        if let Some(content) = pod
            .containers
            .iter_mut()
            .find(|c| c.name == CONTENT_CONTAINER_NAME)
        {
            serve(content, &launch.content_guid, port);
        }
    }
    Deployment {
        metadata: job.metadata,
        spec: Some(DeploymentSpec {
            replicas: Some(1),
            selector: LabelSelector {
                match_labels: Some(pod_selector(id)),
                match_expressions: None,
            },
            strategy: Some(DeploymentStrategy {
                type_: Some("Recreate".into()),
                rolling_update: None,
            }),
            template,
            ..DeploymentSpec::default()
        }),
        status: None,
    }
}

/// The Service in front of `deployment` (as the API server returned it: its uid makes the owner
/// reference): same name, namespace and labels, the content container's `http` port.
pub fn service_for(deployment: &Deployment) -> Result<Service, Error> {
    let meta = &deployment.metadata;
    let name = meta.name.clone().unwrap_or_default();
    let missing = |what: &str| {
        Error::internal(format!(
            "the Deployment {name} has no {what}; it was not made by this launcher"
        ))
    };
    let uid = meta.uid.clone().ok_or_else(|| missing("uid"))?;
    let id = meta
        .labels
        .as_ref()
        .and_then(|l| l.get(LABEL_LAUNCH_ID))
        .cloned()
        .ok_or_else(|| missing("launch id label"))?;
    let port = http_port(deployment).ok_or_else(|| missing("http port"))?;
    Ok(Service {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: meta.namespace.clone(),
            labels: meta.labels.clone(),
            owner_references: Some(vec![OwnerReference {
                api_version: "apps/v1".into(),
                kind: "Deployment".into(),
                name,
                uid,
                controller: Some(true),
                // Blocking would need the right to update the Deployment's finalizers.
                block_owner_deletion: None,
            }]),
            ..ObjectMeta::default()
        },
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".into()),
            selector: Some(pod_selector(&id)),
            ports: Some(vec![ServicePort {
                name: Some(HTTP_PORT_NAME.into()),
                port,
                target_port: Some(IntOrString::Int(port)),
                protocol: Some("TCP".into()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        status: None,
    })
}

/// The port the content container of `deployment` serves on (its port named `http`).
pub fn http_port(deployment: &Deployment) -> Option<i32> {
    deployment
        .spec
        .as_ref()?
        .template
        .spec
        .as_ref()?
        .containers
        .iter()
        .find(|c| c.name == CONTENT_CONTAINER_NAME)?
        .ports
        .iter()
        .flatten()
        .find(|p| p.name.as_deref() == Some(HTTP_PORT_NAME))
        .map(|p| p.container_port)
}

/// The labels that pick the pod of interactive launch `id`: the Deployment's selector and the
/// Service's (a Job of the same request id, were there one, is not picked).
fn pod_selector(id: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (LABEL_MANAGED_BY.to_owned(), MANAGED_BY.to_owned()),
        (LABEL_COMPONENT.to_owned(), "interactive".to_owned()),
        (LABEL_LAUNCH_ID.to_owned(), id.to_owned()),
    ])
}

/// Makes the content container serve on `port`: the port, the readiness probe, the termination
/// message, the content variables.
fn serve(content: &mut Container, content_guid: &str, listen: u16) {
    let port = i32::from(listen);
    content.ports = Some(vec![ContainerPort {
        name: Some(HTTP_PORT_NAME.into()),
        container_port: port,
        protocol: Some("TCP".into()),
        ..ContainerPort::default()
    }]);
    content.readiness_probe = Some(Probe {
        tcp_socket: Some(TCPSocketAction {
            port: IntOrString::Int(port),
            host: None,
        }),
        period_seconds: Some(1),
        failure_threshold: Some(2),
        ..Probe::default()
    });
    content.termination_message_policy = Some("FallbackToLogsOnError".into());
    let variables = content_variables(content_guid, POD_HOST, listen);
    let env = content.env.get_or_insert_with(Vec::new);
    env.retain(|e| !variables.iter().any(|(name, _)| *name == e.name));
    env.extend(variables.into_iter().map(|(name, value)| EnvVar {
        name,
        value: Some(value),
        value_from: None,
    }));
}

#[cfg(test)]
#[path = "interactive_tests.rs"]
mod tests;
