//! The services and the cluster one Kubernetes launcher test uses: the registry on SQLite with
//! one environment made by `execenvctl env create`, the selector, the launcher on a fresh
//! namespace of the testbed, and the fake node that plays the kubelet.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use execenv_e2e::kube_node::{FakeNode, fresh_namespace, testbed_client, testbed_kubeconfig};
use execenv_e2e::launcher::{python_build_request, watch_until};
use execenv_e2e::{RegistryProcess, ServiceProcess, eventually, field, http_get};
use execenv_proto::launcher::v1 as pb;
use execenv_proto::launcher::v1::launcher_client::LauncherClient;
use k8s_openapi::api::batch::v1::Job;
use kube::Client;
use kube::api::{Api, ListParams};
use tonic::transport::Channel;

pub const WAIT: Duration = Duration::from_secs(60);
pub const IMAGE: &str = "ghcr.io/acme/content-py:3.11";
pub const TITLE: &str = "Python 3.11 on the testbed";
pub const PYTHON: &str = "/opt/python/3.11.9/bin/python3";
pub const SUPERVISOR: &str = "/opt/supervisor/run.sh";
/// Where the init container puts the content runner in the content container.
pub const RUNNER: &str = "/opt/execenv/runtime/bin/execenv-content-runner";

/// A request id and the name of its Job: `execenv-` and the first 16 hex digits of the SHA-256
/// of the id (`printf %s req-launch | sha256sum`).
pub struct Request {
    pub id: &'static str,
    pub job: &'static str,
}

/// The request id the tests launch with.
pub const LAUNCH: Request = Request {
    id: "req-launch",
    job: "execenv-fdf6df995731b37f",
};

/// A second request id, for a Job that is not [`LAUNCH`]'s.
pub const OTHER: Request = Request {
    id: "req-foreign",
    job: "execenv-75150bdc1d9ff5c9",
};

pub type Launcher = LauncherClient<Channel>;

pub struct Bed {
    pub dir: tempfile::TempDir,
    // Kept running for the selector; dropped (killed) after it.
    _registry: RegistryProcess,
    pub selector: ServiceProcess,
    pub launcher: ServiceProcess,
    pub kube: Client,
    pub node: FakeNode,
    pub ns: String,
    pub environment_guid: String,
}

/// A BUILD launch whose pod runs on the fake node.
pub struct RunningLaunch {
    pub id: String,
    /// The Launch call's answer.
    pub answer: pb::Launch,
    /// The pod's name.
    pub pod: String,
}

impl Bed {
    /// Everything up; the namespace is named `PREFIX-<8 hex digits>`.
    pub async fn new(prefix: &str) -> Result<Bed> {
        let kube = testbed_client().await?;
        let node = FakeNode::register(kube.clone(), "execenv-node-0").await?;
        let ns = fresh_namespace(&kube, prefix).await?;
        let dir = tempfile::tempdir()?;
        let registry = RegistryProcess::on_sqlite(dir.path())?;
        let created = registry.create_environment(
            IMAGE,
            &[
                "--title",
                TITLE,
                "--python",
                &format!("3.11.9={PYTHON}"),
                "--supervisor",
                SUPERVISOR,
                "--mount",
                "type=pvc,pvc_name=refdata,target=/mnt/ref,readonly",
            ],
        )?;
        let environment_guid = field(&created, "guid")?;
        let selector = ServiceProcess::selector(&registry, dir.path(), &[])?;
        Ok(Bed {
            launcher: start_launcher(&selector, dir.path(), &ns)?,
            dir,
            _registry: registry,
            selector,
            kube,
            node,
            ns,
            environment_guid,
        })
    }

    pub async fn client(&self) -> Result<Launcher> {
        Ok(LauncherClient::connect(self.launcher.url.clone()).await?)
    }

    /// Kills the launcher (SIGKILL: nothing is cleaned up) and starts a new one on the namespace.
    pub fn restart_launcher(&mut self) -> Result<()> {
        self.launcher.process.kill();
        self.launcher = start_launcher(&self.selector, self.dir.path(), &self.ns)?;
        Ok(())
    }

    pub fn jobs(&self) -> Api<Job> {
        Api::namespaced(self.kube.clone(), &self.ns)
    }

    /// The Jobs carrying launch id `id`.
    pub async fn jobs_of(&self, id: &str) -> Result<Vec<Job>> {
        Ok(self
            .jobs()
            .list(&ListParams::default().labels(&format!("execenv.io/launch-id={id}")))
            .await?
            .items)
    }

    /// Binds the launch's pod to the fake node; returns its name.
    pub async fn bind(&self, id: &str) -> Result<String> {
        let pods = self
            .node
            .bind_pods(&self.ns, &format!("execenv.io/launch-id={id}"), WAIT)
            .await?;
        ensure!(pods.len() == 1, "one pod for backoffLimit 0, got {pods:?}");
        Ok(pods[0].clone())
    }

    /// Launches a BUILD of [`LAUNCH`], binds and starts its pod, and waits until the launcher
    /// reports RUNNING.
    pub async fn running(&self, client: &mut Launcher) -> Result<RunningLaunch> {
        let id = LAUNCH.id.to_owned();
        let answer = client
            .launch(build_request(&id, &uuid::Uuid::new_v4().to_string()))
            .await?
            .into_inner();
        let pod = self.bind(&id).await?;
        self.node.run(&self.ns, &pod).await?;
        follow(client, &id, "RUNNING", |l| state(l) == pb::State::Running).await?;
        Ok(RunningLaunch { id, answer, pod })
    }

    /// The launcher's /metrics.
    pub fn metrics(&self) -> Result<String> {
        let (status, body) = http_get(&self.launcher.admin, "/metrics")?;
        ensure!(status == 200, "/metrics answered {status}");
        Ok(body)
    }

    /// Waits until /metrics shows `line`.
    pub fn metric(&self, line: &str) -> Result<()> {
        eventually(WAIT, line, || {
            self.metrics().is_ok_and(|m| m.lines().any(|l| l == line))
        })
        .with_context(|| format!("/metrics:\n{}", self.metrics().unwrap_or_default()))
    }

    /// What went wrong, with the launcher's log.
    pub fn explain(&self, e: anyhow::Error) -> anyhow::Error {
        e.context(format!(
            "namespace {}; the launcher's log:\n{}",
            self.ns,
            self.launcher.process.output()
        ))
    }
}

fn start_launcher(selector: &ServiceProcess, dir: &Path, ns: &str) -> Result<ServiceProcess> {
    ServiceProcess::launcher(selector, dir, &launcher_env(ns, &testbed_kubeconfig()?))
}

/// The launcher's settings for namespace `ns` of the cluster in `kubeconfig`.
pub fn launcher_env(ns: &str, kubeconfig: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("EXECENV_LAUNCHER__BACKEND", "kubernetes".into()),
        (
            "EXECENV_KUBERNETES__KUBECONFIG",
            kubeconfig.display().to_string(),
        ),
        ("EXECENV_KUBERNETES__NAMESPACE", ns.to_owned()),
        (
            "EXECENV_KUBERNETES__RUNTIME_IMAGE",
            "ghcr.io/execenv/runtime:test".into(),
        ),
        ("RUST_LOG", "info,execenv_launcher=debug".into()),
    ]
}

/// A BUILD of `content` needing Python 3.11.9.
pub fn build_request(id: &str, content: &str) -> pb::LaunchRequest {
    python_build_request(id, content, "42", "3.11.9")
}

/// Follows launch `id` on the launcher's Watch stream until `want` holds (within [`WAIT`]).
pub async fn follow(
    client: &mut Launcher,
    id: &str,
    what: &str,
    want: impl Fn(&pb::Launch) -> bool,
) -> Result<pb::Launch> {
    let events = client
        .watch(pb::WatchLaunchesRequest { id: id.to_owned() })
        .await?
        .into_inner();
    watch_until(events, WAIT, &format!("{what} of launch {id}"), want).await
}

pub fn state(l: &pb::Launch) -> pb::State {
    pb::State::try_from(l.state).unwrap_or(pb::State::Unspecified)
}

/// Fails unless `got` is in state `want` with reason `reason`.
pub fn expect_state(got: &pb::Launch, want: pb::State, reason: &str) -> Result<()> {
    ensure!(
        state(got) == want && got.reason == reason,
        "expected {want:?} ({reason}), got {got:?}"
    );
    Ok(())
}
