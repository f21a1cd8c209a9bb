//! The services and the cluster one Kubernetes launcher test uses: the registry on SQLite with
//! the testbed's Python image as an environment (made by `execenvctl env create`), the selector,
//! the launcher on a fresh namespace of the testbed, whose claims `execenv-data`,
//! `execenv-package-cache` and `refdata` are folders of this machine, and the real node.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use execenv_e2e::launcher::{python_manifest, watch_until};
use execenv_e2e::testbed::{
    self, HostFolder, fresh_namespace, host_claim, images, testbed_kubeconfig, testbed_with_node,
};
use execenv_e2e::{CtlOutput, RegistryProcess, ServiceProcess, ctl, eventually, field, http_get};
use execenv_proto::launcher::v1 as pb;
use execenv_proto::launcher::v1::launcher_client::LauncherClient;
use execenv_proto::selector::v1 as sel;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::Client;
use kube::api::{Api, ListParams};
use tonic::transport::Channel;

/// How long a step of a launch may take on the node.
pub const WAIT: Duration = Duration::from_secs(120);
pub const TITLE: &str = "Python 3.11 on the testbed's node";
/// Where the init container puts the content runner in the content container.
pub const RUNNER: &str = "/opt/execenv/runtime/bin/execenv-content-runner";
/// The package-cache folder of [`images::PYTHON_IMAGE`]: its name made safe and the first 12 hex
/// digits of its SHA-256 (`printf %s execenv.test/python:3.11 | sha256sum`).
pub const PYTHON_CACHE: &str = "execenv.test-python-3.11-efd2dd0629ed";
/// The same for [`images::R_IMAGE`] (`printf %s execenv.test/r:4.2 | sha256sum`).
pub const R_CACHE: &str = "execenv.test-r-4.2-fbf874a1eae8";
/// The file the environment's read-only claim `refdata` holds, at `/mnt/ref`.
pub const REFERENCE: (&str, &str) = ("hello.txt", "reference data\n");

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
    pub registry: RegistryProcess,
    pub selector: ServiceProcess,
    pub launcher: ServiceProcess,
    pub kube: Client,
    pub ns: String,
    pub environment_guid: String,
    /// The claim `execenv-data`: bundles and work folders.
    pub data: HostFolder,
    /// The claim `execenv-package-cache`.
    pub cache: HostFolder,
    /// The claim `refdata`, mounted read-only at `/mnt/ref` by the environment.
    pub refdata: HostFolder,
    launcher_env: Vec<(&'static str, String)>,
}

impl Bed {
    /// Everything up; the namespace is named `PREFIX-<8 hex digits>`.
    pub async fn new(prefix: &str) -> Result<Bed> {
        Bed::with(prefix, &[]).await
    }

    /// The same, with more launcher settings.
    pub async fn with(prefix: &str, settings: &[(&'static str, String)]) -> Result<Bed> {
        let kube = testbed_with_node().await?;
        let ns = fresh_namespace(&kube, prefix).await?;
        let (data, cache, refdata) = (HostFolder::new()?, HostFolder::new()?, HostFolder::new()?);
        std::fs::write(refdata.path().join(REFERENCE.0), REFERENCE.1)?;
        // The image's cache folder exists, writable by the content's user (a claim's folders
        // belong to whoever made them; the kubelet would make it root's).
        cache.folder(PYTHON_CACHE)?;
        cache.folder(R_CACHE)?;
        for (claim, folder) in [
            ("execenv-data", &data),
            ("execenv-package-cache", &cache),
            ("refdata", &refdata),
        ] {
            host_claim(&kube, &ns, claim, folder.path()).await?;
        }
        let dir = tempfile::tempdir()?;
        let registry = RegistryProcess::on_sqlite(dir.path())?;
        let created = registry.create_environment(
            images::PYTHON_IMAGE,
            &[
                "--title",
                TITLE,
                "--python",
                &format!("{}={}", images::PYTHON_VERSION, images::PYTHON),
                "--supervisor",
                images::SUPERVISOR,
                "--mount",
                "type=pvc,pvc_name=refdata,target=/mnt/ref,readonly",
            ],
        )?;
        let environment_guid = field(&created, "guid")?;
        let selector = ServiceProcess::selector(&registry, dir.path(), &[])?;
        let mut launcher_env = launcher_env(&ns, &testbed_kubeconfig()?);
        launcher_env.extend(settings.iter().cloned());
        Ok(Bed {
            launcher: ServiceProcess::launcher(&selector, dir.path(), &launcher_env)?,
            launcher_env,
            dir,
            registry,
            selector,
            kube,
            ns,
            environment_guid,
            data,
            cache,
            refdata,
        })
    }

    /// Adds the environment "Nowhere", the only one with Python 3.12.1, whose image is not on
    /// the node: a launch selecting it stays PENDING on the image.
    pub fn add_missing_environment(&self) -> Result<()> {
        self.registry.create_environment(
            images::MISSING,
            &[
                "--title",
                "Nowhere",
                "--python",
                "3.12.1=/opt/python/3.12.1/bin/python3",
            ],
        )?;
        Ok(())
    }

    pub async fn client(&self) -> Result<Launcher> {
        Ok(LauncherClient::connect(self.launcher.url.clone()).await?)
    }

    /// Kills the launcher and starts a new one on the namespace with `settings` over its own.
    pub fn restart_launcher_with(&mut self, settings: &[(&'static str, String)]) -> Result<()> {
        self.launcher_env.extend(settings.iter().cloned());
        self.restart_launcher()
    }

    /// Starts another launcher on the namespace with this one's settings and waits until it is
    /// ready.
    pub fn start_launcher(&self) -> Result<ServiceProcess> {
        ServiceProcess::launcher(&self.selector, self.dir.path(), &self.launcher_env)
    }

    /// Starts another launcher on the namespace with this one's settings, without waiting for it
    /// to be ready.
    pub fn spawn_launcher(&self) -> Result<ServiceProcess> {
        ServiceProcess::spawn_launcher(&self.selector, self.dir.path(), &self.launcher_env)
    }

    /// Deletes the namespace and the volumes of its claims.
    pub async fn delete(&self) -> Result<()> {
        use k8s_openapi::api::core::v1::Namespace;
        Api::<Namespace>::all(self.kube.clone())
            .delete(&self.ns, &Default::default())
            .await
            .with_context(|| format!("cannot delete the namespace {}", self.ns))?;
        testbed::delete_volumes(&self.kube, &self.ns).await
    }

    /// Kills the launcher (SIGKILL: nothing is cleaned up) and starts a new one on the namespace.
    pub fn restart_launcher(&mut self) -> Result<()> {
        self.launcher.process.kill();
        self.launcher = self.start_launcher()?;
        Ok(())
    }

    pub fn jobs(&self) -> Api<Job> {
        Api::namespaced(self.kube.clone(), &self.ns)
    }

    pub fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.kube.clone(), &self.ns)
    }

    pub fn deployments(&self) -> Api<Deployment> {
        Api::namespaced(self.kube.clone(), &self.ns)
    }

    pub fn services(&self) -> Api<Service> {
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

    /// The pods carrying launch id `id`.
    pub async fn pods_of(&self, id: &str) -> Result<Vec<Pod>> {
        Ok(self
            .pods()
            .list(&ListParams::default().labels(&format!("execenv.io/launch-id={id}")))
            .await?
            .items)
    }

    /// Writes a Python script bundle (`app.py`, `requirements.txt`) for content `content`'s
    /// bundle `42` on the data claim, where the launcher's Jobs find it; returns the bundle's
    /// work folder on this machine.
    pub fn place_bundle(&self, content: &str, requirements: &str, app: &str) -> Result<PathBuf> {
        let top = self.data.folder(&format!("content/{content}/42"))?;
        let bundle = self.data.folder(&format!("content/{content}/42/bundle"))?;
        std::fs::write(
            bundle.join("manifest.json"),
            python_manifest(images::PYTHON_VERSION).to_string(),
        )?;
        std::fs::write(bundle.join("requirements.txt"), requirements)?;
        std::fs::write(bundle.join("app.py"), app)?;
        Ok(top.join("work"))
    }

    /// `execenvctl --launcher URL ARGS…`.
    pub fn ctl(&self, args: &[&str]) -> Result<CtlOutput> {
        ctl(&["--launcher", &self.launcher.url], args)
    }

    /// What `execenvctl launches logs ID` prints.
    pub fn logs(&self, id: &str) -> Result<String> {
        Ok(self.ctl(&["launches", "logs", id])?.ok()?.stdout)
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

    /// Waits until launch `id`'s Job or Deployment, Service and pods are gone from the cluster.
    pub async fn gone(&self, id: &str) -> Result<()> {
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        let launch = ListParams::default().labels(&format!("execenv.io/launch-id={id}"));
        loop {
            tick.tick().await;
            let left = [
                ("Job", self.jobs().list(&launch).await?.items.len()),
                (
                    "Deployment",
                    self.deployments().list(&launch).await?.items.len(),
                ),
                ("Service", self.services().list(&launch).await?.items.len()),
                ("pod", self.pods().list(&launch).await?.items.len()),
            ];
            if left.iter().all(|(_, n)| *n == 0) {
                return Ok(());
            }
            ensure!(
                tokio::time::Instant::now() < deadline,
                "after {WAIT:?}, of launch {id} are left: {left:?}"
            );
        }
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

/// The launcher's settings for namespace `ns` of the cluster in `kubeconfig`, with its debug log.
pub fn launcher_env(ns: &str, kubeconfig: &Path) -> Vec<(&'static str, String)> {
    let mut env = testbed::launcher_env(ns, kubeconfig);
    env.push(("RUST_LOG", "info,execenv_launcher=debug".into()));
    env
}

/// A launch request of `kind` for content `content`'s bundle `42`, needing the Python of the
/// testbed's image, with the variables `env`.
pub fn request(
    id: &str,
    kind: pb::Kind,
    content: &str,
    env: BTreeMap<String, String>,
) -> pb::LaunchRequest {
    pb::LaunchRequest {
        request_id: id.to_owned(),
        kind: kind as i32,
        content: Some(pb::Content {
            guid: content.to_owned(),
            bundle: "42".to_owned(),
            requirements: Some(sel::Requirements {
                python_version: Some(images::PYTHON_VERSION.to_owned()),
                ..Default::default()
            }),
            ..Default::default()
        }),
        env: env.into_iter().collect(),
        ..Default::default()
    }
}

/// A BUILD of `content` with no extra variables.
pub fn build_request(id: &str, content: &str) -> pb::LaunchRequest {
    request(id, pb::Kind::Build, content, BTreeMap::new())
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

/// Follows launch `id` until it has finished, whatever the outcome.
pub async fn finished(client: &mut Launcher, id: &str) -> Result<pb::Launch> {
    follow(client, id, "the end", |l| {
        matches!(
            state(l),
            pb::State::Succeeded | pb::State::Failed | pb::State::Cancelled
        )
    })
    .await
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
