//! A stand-in for the kubelet (TEST DOUBLE — the one part of Kubernetes that cannot run here):
//! it registers a Node, binds pending pods to it through the Binding subresource and moves each
//! pod through Running to Succeeded or Failed as the test scripts it. Everything else (the API
//! server, admission, the Job controller, the garbage collector) is the real thing.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod, ServiceAccount};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::wait::await_condition;
use kube::{Client, Config};
use serde_json::json;

/// The kubeconfig of the running testbed (`make test` starts it and sets the variable).
pub fn testbed_kubeconfig() -> Result<std::path::PathBuf> {
    let path = std::env::var_os("EXECENV_TEST_KUBECONFIG").context(
        "EXECENV_TEST_KUBECONFIG is not set: run `make test` (it starts the Kubernetes testbed), or \
         `e2e/infra/testbed up` and export the path it prints; `make test` skips these tests only \
         when EXECENV_SKIP_KUBERNETES=1 is set",
    )?;
    Ok(path.into())
}

/// A client for the testbed.
pub async fn testbed_client() -> Result<Client> {
    let path = testbed_kubeconfig()?;
    let kubeconfig = kube::config::Kubeconfig::read_from(&path)
        .with_context(|| format!("cannot read the kubeconfig {}", path.display()))?;
    let config = Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await?;
    Ok(Client::try_from(config)?)
}

/// A fresh namespace `PREFIX-<8 hex digits>` whose default ServiceAccount exists (so pods are
/// admitted at once).
pub async fn fresh_namespace(client: &Client, prefix: &str) -> Result<String> {
    let name = format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": name}}))?,
        )
        .await
        .with_context(|| format!("cannot create the namespace {name}"))?;
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), &name);
    tokio::time::timeout(
        Duration::from_secs(60),
        await_condition(accounts, "default", |sa: Option<&ServiceAccount>| {
            sa.is_some()
        }),
    )
    .await
    .context("the service-account controller did not create the default ServiceAccount")??;
    Ok(name)
}

/// How a scripted pod ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Phase Succeeded, every container terminated with exit code 0.
    Succeeded,
    /// Phase Failed, every container terminated with this exit code and reason.
    Failed {
        /// Container exit code.
        exit_code: i32,
        /// Container termination reason (e.g. `Error`, `OOMKilled`).
        reason: String,
    },
}

/// A fake node registered with the real API server.
pub struct FakeNode {
    client: Client,
    /// The Node's name.
    pub name: String,
}

impl FakeNode {
    /// Registers a Ready node named `name` (idempotent).
    pub async fn register(client: Client, name: &str) -> Result<FakeNode> {
        let nodes: Api<Node> = Api::all(client.clone());
        let node: Node = serde_json::from_value(json!({
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "execenv.io/fake-node": "true"}},
        }))?;
        match nodes.create(&PostParams::default(), &node).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 409 => {}
            Err(e) => return Err(e).context("cannot register the fake node"),
        }
        let status = json!({"status": {
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                            "message": "execenv test node", "lastHeartbeatTime": now(), "lastTransitionTime": now()}],
            "capacity": {"cpu": "64", "memory": "256Gi", "pods": "1000"},
            "allocatable": {"cpu": "64", "memory": "256Gi", "pods": "1000"},
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
        }});
        nodes
            .patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
            .await
            .context("cannot mark the fake node Ready")?;
        Ok(FakeNode {
            client,
            name: name.to_owned(),
        })
    }

    /// Waits (bounded) until a pod matching `selector` exists in `namespace`, binds every unbound
    /// one to this node, and returns the names of the matching pods.
    pub async fn bind_pods(
        &self,
        namespace: &str,
        selector: &str,
        timeout: Duration,
    ) -> Result<Vec<String>> {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let deadline = tokio::time::Instant::now() + timeout;
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        let found = loop {
            tick.tick().await;
            let list = pods.list(&ListParams::default().labels(selector)).await?;
            if !list.items.is_empty() {
                break list.items;
            }
            if tokio::time::Instant::now() >= deadline {
                bail!(
                    "no pod matching {selector:?} appeared in namespace {namespace} within {timeout:?}"
                );
            }
        };
        let mut names = Vec::new();
        for pod in found {
            let name = pod.metadata.name.clone().context("pod without a name")?;
            let bound = pod
                .spec
                .as_ref()
                .and_then(|s| s.node_name.as_ref())
                .is_some();
            if !bound {
                let binding = json!({
                    "apiVersion": "v1",
                    "kind": "Binding",
                    "metadata": {"name": name, "namespace": namespace},
                    "target": {"apiVersion": "v1", "kind": "Node", "name": self.name},
                });
                let _: serde_json::Value = pods
                    .create_subresource("binding", &name, &PostParams::default(), &binding)
                    .await
                    .with_context(|| format!("cannot bind pod {namespace}/{name}"))?;
            }
            names.push(name);
        }
        Ok(names)
    }

    /// Moves a bound pod to Running: every container started.
    pub async fn run(&self, namespace: &str, pod: &str) -> Result<()> {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let p = pods.get(pod).await?;
        let statuses: Vec<_> = container_names(&p)
            .into_iter()
            .map(|c| json!({"name": c, "ready": true, "started": true, "restartCount": 0, "image": image_of(&p, &c),
                            "imageID": "", "state": {"running": {"startedAt": now()}}}))
            .collect();
        let status = json!({"status": {
            "phase": "Running", "hostIP": "127.0.0.1", "podIP": "10.244.0.10", "startTime": now(),
            "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": now()}],
            "containerStatuses": statuses,
        }});
        pods.patch_status(pod, &PatchParams::default(), &Patch::Merge(&status))
            .await
            .with_context(|| format!("cannot mark pod {namespace}/{pod} Running"))?;
        Ok(())
    }

    /// Ends a running pod with `outcome`.
    pub async fn finish(&self, namespace: &str, pod: &str, outcome: &Outcome) -> Result<()> {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let p = pods.get(pod).await?;
        let (phase, exit_code, reason) = match outcome {
            Outcome::Succeeded => ("Succeeded", 0, "Completed".to_owned()),
            Outcome::Failed { exit_code, reason } => ("Failed", *exit_code, reason.clone()),
        };
        let statuses: Vec<_> = container_names(&p)
            .into_iter()
            .map(|c| json!({"name": c, "ready": false, "started": false, "restartCount": 0, "image": image_of(&p, &c),
                            "imageID": "", "state": {"terminated": {"exitCode": exit_code, "reason": reason,
                            "startedAt": now(), "finishedAt": now()}}}))
            .collect();
        let status = json!({"status": {
            "phase": phase,
            "conditions": [{"type": "Ready", "status": "False", "reason": "PodCompleted", "lastTransitionTime": now()}],
            "containerStatuses": statuses,
        }});
        pods.patch_status(pod, &PatchParams::default(), &Patch::Merge(&status))
            .await
            .with_context(|| format!("cannot mark pod {namespace}/{pod} {phase}"))?;
        Ok(())
    }
}

impl FakeNode {
    /// Keeps a bound pod Pending the way the kubelet reports it while it prepares the content
    /// container: the init container has finished and the content container waits with `reason`
    /// (`ContainerCreating`, `ImagePullBackOff`, …) and `message`.
    pub async fn waiting(
        &self,
        namespace: &str,
        pod: &str,
        reason: &str,
        message: &str,
    ) -> Result<()> {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let p = pods.get(pod).await?;
        let init: Vec<_> = p
            .spec
            .as_ref()
            .and_then(|s| s.init_containers.as_ref())
            .into_iter()
            .flatten()
            .map(|c| json!({"name": c.name, "ready": true, "restartCount": 0, "image": c.image, "imageID": "",
                            "state": {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": now(), "finishedAt": now()}}}))
            .collect();
        let statuses: Vec<_> = container_names(&p)
            .into_iter()
            .map(|c| json!({"name": c, "ready": false, "started": false, "restartCount": 0, "image": image_of(&p, &c),
                            "imageID": "", "state": {"waiting": {"reason": reason, "message": message}}}))
            .collect();
        let status = json!({"status": {
            "phase": "Pending", "hostIP": "127.0.0.1",
            "conditions": [{"type": "PodScheduled", "status": "True", "lastTransitionTime": now()}],
            "initContainerStatuses": init,
            "containerStatuses": statuses,
        }});
        pods.patch_status(pod, &PatchParams::default(), &Patch::Merge(&status))
            .await
            .with_context(|| format!("cannot mark pod {namespace}/{pod} waiting ({reason})"))?;
        Ok(())
    }

    /// Confirms deletions (as [`FakeNode::confirm_deletions`]) until no pod matches `selector` in
    /// `namespace` and the Job `job` is gone too — the end of a foreground delete.
    pub async fn confirm_until_gone(
        &self,
        namespace: &str,
        selector: &str,
        job: &str,
        timeout: Duration,
    ) -> Result<()> {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let jobs: Api<Job> = Api::namespaced(self.client.clone(), namespace);
        let deadline = tokio::time::Instant::now() + timeout;
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            tick.tick().await;
            self.confirm_deletions(namespace).await?;
            let pods_left = pods
                .list(&ListParams::default().labels(selector))
                .await?
                .items
                .len();
            let job_left = jobs.get_opt(job).await?.is_some();
            if pods_left == 0 && !job_left {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                bail!(
                    "after {timeout:?}: {pods_left} pod(s) matching {selector:?} left in {namespace}, Job {job} present: {job_left}"
                );
            }
        }
    }

    /// Does what the kubelet does for pods being deleted on this node: confirms the deletion
    /// (grace period 0) so the API server removes them. Returns how many it confirmed.
    pub async fn confirm_deletions(&self, namespace: &str) -> Result<usize> {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let mut confirmed = 0;
        for p in pods.list(&ListParams::default()).await?.items {
            let on_this_node =
                p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(self.name.as_str());
            if on_this_node && p.metadata.deletion_timestamp.is_some() {
                let name = p.metadata.name.clone().unwrap_or_default();
                match pods
                    .delete(&name, &kube::api::DeleteParams::default().grace_period(0))
                    .await
                {
                    Ok(_) => confirmed += 1,
                    Err(kube::Error::Api(e)) if e.code == 404 => {}
                    Err(e) => {
                        return Err(e).with_context(|| {
                            format!("cannot confirm the deletion of {namespace}/{name}")
                        });
                    }
                }
            }
        }
        Ok(confirmed)
    }
}

fn container_names(p: &Pod) -> Vec<String> {
    p.spec
        .as_ref()
        .map(|s| s.containers.iter().map(|c| c.name.clone()).collect())
        .unwrap_or_default()
}

fn image_of(p: &Pod, container: &str) -> String {
    p.spec
        .as_ref()
        .and_then(|s| s.containers.iter().find(|c| c.name == container))
        .and_then(|c| c.image.clone())
        .unwrap_or_default()
}

fn now() -> String {
    k8s_openapi::jiff::Timestamp::now().to_string()
}
