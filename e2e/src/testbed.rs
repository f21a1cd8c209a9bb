//! The Kubernetes testbed (`e2e/infra/testbed`): a real control plane and one real node — a
//! kubelet with containerd and runc, kube-proxy and CoreDNS — whose containerd holds the images
//! `e2e/infra/images` builds. Tests get its kubeconfig and a client, fresh namespaces, claims on
//! folders of this machine, and a package index served from a pod behind a Service.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use k8s_openapi::api::core::v1::{
    Namespace, Node, PersistentVolume, PersistentVolumeClaim, Pod, Service, ServiceAccount,
};
use kube::api::{Api, PostParams};
use kube::runtime::wait::await_condition;
use kube::{Client, Config};
use serde_json::json;

/// The node's name.
pub const NODE: &str = "execenv-node-0";

/// How long a test waits for the cluster to do one thing (schedule, start, finish a pod…).
pub const WAIT: Duration = Duration::from_secs(90);

/// The images `e2e/infra/images` builds and `e2e/infra/testbed up` loads into the node, and what
/// is inside them.
pub mod images {
    /// The runtime-components image (runtime/Dockerfile): the init container copies the content
    /// runner from it.
    pub const RUNTIME: &str = "execenv.test/runtime:dev";
    /// A content image laid out like Posit's: Debian 12's Python at [`PYTHON`], a supervisor.
    pub const PYTHON_IMAGE: &str = "execenv.test/python:3.11";
    /// Its Python installation.
    pub const PYTHON: &str = "/opt/python/3.11.2/bin/python3";
    /// Its Python's version.
    pub const PYTHON_VERSION: &str = "3.11.2";
    /// Its supervisor: prints [`SUPERVISOR_MARKER`] and the command, exports
    /// `EXECENV_TEST_SUPERVISED=yes`, then runs the command.
    pub const SUPERVISOR: &str = "/opt/execenv-test/supervisor.sh";
    /// The start of the supervisor's line.
    pub const SUPERVISOR_MARKER: &str = "execenv-test-supervisor: wrapping";
    /// A content image with Debian 12's R at [`R`].
    pub const R_IMAGE: &str = "execenv.test/r:4.2";
    /// Its R installation.
    pub const R: &str = "/opt/R/4.2.2/bin/R";
    /// Its R's version.
    pub const R_VERSION: &str = "4.2.2";
    /// An image no one built: a pod naming it cannot start.
    pub const MISSING: &str = "execenv.test/not-on-the-node:1";
}

/// The kubeconfig of the running testbed (`make test` starts it and sets the variable).
pub fn testbed_kubeconfig() -> Result<PathBuf> {
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

/// The node's network namespace (`ip netns` name), where its processes and pods live and from
/// where pod addresses are reachable: `EXECENV_TESTBED_NODE_NETNS`, which `e2e/infra/testbed env`
/// prints and `make test` sets.
pub fn node_network_namespace() -> Result<String> {
    std::env::var("EXECENV_TESTBED_NODE_NETNS").context(
        "EXECENV_TESTBED_NODE_NETNS is not set: `export $(e2e/infra/testbed env)` (it names the \
         node's network namespace), or use `make test`",
    )
}

/// This machine's address as pods see it: the host end of the node's veth pair, where the API
/// server listens (the host part of the kubeconfig's server URL). The node SNATs pod traffic to
/// it, so a server listening there is reachable from every pod.
pub async fn host_address() -> Result<String> {
    let path = testbed_kubeconfig()?;
    let kubeconfig = kube::config::Kubeconfig::read_from(&path)
        .with_context(|| format!("cannot read the kubeconfig {}", path.display()))?;
    let config = Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await?;
    config
        .cluster_url
        .host()
        .map(str::to_owned)
        .with_context(|| format!("the kubeconfig's server {} has no host", config.cluster_url))
}

/// The node's InternalIP: where this machine reaches the node (its NodePorts, and servers
/// listening in its network namespace).
pub async fn node_address(client: &Client) -> Result<String> {
    let nodes: Api<Node> = Api::all(client.clone());
    Ok(nodes
        .get(NODE)
        .await?
        .status
        .and_then(|s| s.addresses)
        .and_then(|a| a.into_iter().find(|a| a.type_ == "InternalIP"))
        .context("the node has no InternalIP")?
        .address)
}

/// A client for the testbed, after checking that its node is Ready: a testbed without a working
/// node fails here, loudly, rather than in a timeout later.
pub async fn testbed_with_node() -> Result<Client> {
    let client = testbed_client().await?;
    let nodes: Api<Node> = Api::all(client.clone());
    let node = nodes.get_opt(NODE).await?.with_context(|| {
        format!(
            "the testbed has no node {NODE}: its kubelet did not register (see the kubelet and \
             containerd logs in the testbed's state folder, `e2e/infra/testbed status`)"
        )
    })?;
    let ready = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"));
    ensure!(
        ready.is_some_and(|c| c.status == "True"),
        "the testbed's node {NODE} is not Ready: {:?}",
        ready.map(|c| (&c.reason, &c.message))
    );
    Ok(client)
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
        WAIT,
        await_condition(accounts, "default", |sa: Option<&ServiceAccount>| {
            sa.is_some()
        }),
    )
    .await
    .context("the service-account controller did not create the default ServiceAccount")??;
    Ok(name)
}

/// A folder of this machine that pods may use as a volume: any user may write in it (content
/// runs as a non-root user), and it is removed when dropped.
pub struct HostFolder {
    dir: tempfile::TempDir,
}

impl HostFolder {
    /// A new, empty one.
    pub fn new() -> Result<HostFolder> {
        let dir = tempfile::Builder::new()
            .prefix("execenv-node-volume.")
            .tempdir()?;
        open_to_all(dir.path())?;
        Ok(HostFolder { dir })
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Creates `relative` (and its parents), writable by anyone, and returns its path.
    pub fn folder(&self, relative: &str) -> Result<PathBuf> {
        let mut path = self.dir.path().to_path_buf();
        for part in relative.split('/').filter(|p| !p.is_empty()) {
            path.push(part);
            if !path.is_dir() {
                std::fs::create_dir(&path)?;
                open_to_all(&path)?;
            }
        }
        Ok(path)
    }
}

fn open_to_all(path: &Path) -> Result<()> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o777))
        .with_context(|| format!("cannot open {} to every user", path.display()))
}

/// Creates a hostPath PersistentVolume on the folder `path` of this machine, reserved for the
/// claim `claim` of `ns` (its `claimRef`), which someone else creates — `helm install`, say; the
/// PV binder binds them when it appears. Its capacity (100Gi, a label: a hostPath volume has no
/// size) fits any claim the chart makes. Returns the volume's name; [`delete_volumes`] removes it.
pub async fn host_volume(client: &Client, ns: &str, claim: &str, path: &Path) -> Result<String> {
    let volume = format!("{ns}-{claim}");
    let volumes: Api<PersistentVolume> = Api::all(client.clone());
    volumes
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "metadata": {"name": volume, "labels": {"execenv.test/namespace": ns}},
                "spec": {
                    "capacity": {"storage": "100Gi"},
                    "accessModes": ["ReadWriteOnce", "ReadWriteMany"],
                    "persistentVolumeReclaimPolicy": "Retain",
                    "storageClassName": "",
                    "hostPath": {"path": path.display().to_string(), "type": "Directory"},
                    "claimRef": {"namespace": ns, "name": claim},
                },
            }))?,
        )
        .await
        .with_context(|| format!("cannot create the volume {volume}"))?;
    Ok(volume)
}

/// Creates the claim `claim` in `ns` on the folder `path` of this machine (a hostPath
/// PersistentVolume bound to that claim alone) and waits until it is Bound.
pub async fn host_claim(client: &Client, ns: &str, claim: &str, path: &Path) -> Result<()> {
    let volume = host_volume(client, ns, claim, path).await?;
    claim_volume(client, ns, claim, &volume).await
}

/// Creates the claim `claim` in `ns` on the volume `volume` (made by [`host_volume`]) and waits
/// until it is Bound.
pub async fn claim_volume(client: &Client, ns: &str, claim: &str, volume: &str) -> Result<()> {
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), ns);
    claims
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "metadata": {"name": claim},
                "spec": {
                    "accessModes": ["ReadWriteMany"],
                    "storageClassName": "",
                    "volumeName": volume,
                    "resources": {"requests": {"storage": "1Gi"}},
                },
            }))?,
        )
        .await
        .with_context(|| format!("cannot create the claim {claim}"))?;
    tokio::time::timeout(
        WAIT,
        await_condition(claims, claim, |c: Option<&PersistentVolumeClaim>| {
            c.and_then(|c| c.status.as_ref())
                .and_then(|s| s.phase.as_deref())
                == Some("Bound")
        }),
    )
    .await
    .with_context(|| {
        format!(
            "the claim {claim} was not Bound to {volume} (is the PV binder controller running?)"
        )
    })??;
    Ok(())
}

/// A package index served from a pod of the namespace, behind the Service `wheels`, reached by
/// its cluster DNS name.
pub struct WheelIndex {
    /// The index's URL for `PIP_INDEX_URL`.
    pub url: String,
    /// Its host, for `PIP_TRUSTED_HOST`.
    pub host: String,
    /// A URL under the index that never answers.
    pub slow_url: String,
    /// The folder it serves: `simple/<project>/<file>`.
    pub folder: HostFolder,
}

impl WheelIndex {
    /// Starts it in `ns`, serving the wheels [`write_wheels`] puts in its folder, and waits until
    /// the Service has a ready endpoint.
    pub async fn start(client: &Client, ns: &str) -> Result<WheelIndex> {
        let folder = HostFolder::new()?;
        let script = folder.folder("bin")?.join("wheel-index.py");
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/wheel-index.py"),
            &script,
        )?;
        folder.folder("simple")?;
        let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
        pods.create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "metadata": {"name": "wheels", "labels": {"app": "wheels"}},
                "spec": {
                    "automountServiceAccountToken": false,
                    "containers": [{
                        "name": "index",
                        "image": images::PYTHON_IMAGE,
                        "imagePullPolicy": "Never",
                        "command": [images::PYTHON, "/srv/bin/wheel-index.py", "/srv", "8000"],
                        "ports": [{"containerPort": 8000}],
                        "readinessProbe": {"tcpSocket": {"port": 8000}, "periodSeconds": 1},
                        "volumeMounts": [{"name": "index", "mountPath": "/srv", "readOnly": true}],
                    }],
                    "volumes": [{"name": "index", "hostPath": {"path": folder.path().display().to_string(), "type": "Directory"}}],
                },
            }))?,
        )
        .await
        .context("cannot create the package index's pod")?;
        let services: Api<Service> = Api::namespaced(client.clone(), ns);
        services
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({
                    "metadata": {"name": "wheels"},
                    "spec": {"selector": {"app": "wheels"}, "ports": [{"port": 8000, "targetPort": 8000}]},
                }))?,
            )
            .await
            .context("cannot create the package index's Service")?;
        wait_ready(client, ns, "wheels").await?;
        let host = format!("wheels.{ns}.svc.cluster.local");
        Ok(WheelIndex {
            url: format!("http://{host}:8000/simple/"),
            slow_url: format!("http://{host}:8000/slow/"),
            host,
            folder,
        })
    }

    /// The variables that point pip at this index (and let it cache what it downloads).
    pub fn pip_env(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("PIP_INDEX_URL".to_owned(), self.url.clone()),
            ("PIP_TRUSTED_HOST".to_owned(), self.host.clone()),
        ])
    }

    /// Adds every wheel of the wheelhouse `folder` (see `e2e/infra/wheelhouse`) to the index,
    /// each under its project's normalised name (PEP 503), hard-linked when the file systems
    /// allow and copied otherwise.
    pub fn add_wheelhouse(&self, folder: &Path) -> Result<usize> {
        let simple = self.folder.folder("simple")?;
        let mut added = 0;
        for entry in std::fs::read_dir(folder)? {
            let path = entry?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let Some(project) = name.strip_suffix(".whl").and_then(|n| n.split('-').next()) else {
                continue;
            };
            let project = project.to_lowercase().replace(['_', '.'], "-");
            let dir = simple.join(&project);
            std::fs::create_dir_all(&dir)?;
            let target = dir.join(name);
            if std::fs::hard_link(&path, &target).is_err() {
                std::fs::copy(&path, &target)
                    .with_context(|| format!("copying {} into the index", path.display()))?;
            }
            added += 1;
        }
        Ok(added)
    }

    /// Adds pure-Python wheels `name==version` to the index (a version ending in `:sdist` makes
    /// a source distribution pip builds); each has a module of the name (dashes as underscores)
    /// whose `VALUE` is `"<name> <version>"`.
    pub fn write_wheels(&self, packages: &[(&str, &str)]) -> Result<()> {
        let simple = self.folder.folder("simple")?;
        let mut args = vec![simple.display().to_string()];
        args.extend(packages.iter().map(|(n, v)| format!("{n}=={v}")));
        let out = std::process::Command::new(crate::python::host_python()?)
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/make-wheels.py"))
            .args(&args)
            .output()?;
        ensure!(
            out.status.success(),
            "make-wheels.py failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    }
}

/// Waits until pod `name` of `ns` is Ready; fails with its status when it cannot start.
pub async fn wait_ready(client: &Client, ns: &str, name: &str) -> Result<()> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let ready = tokio::time::timeout(
        WAIT,
        await_condition(pods.clone(), name, |p: Option<&Pod>| {
            p.and_then(|p| p.status.as_ref())
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        }),
    )
    .await;
    match ready {
        Ok(found) => {
            found?;
            Ok(())
        }
        Err(_) => {
            let status = pods.get_opt(name).await?.and_then(|p| p.status);
            bail!("pod {ns}/{name} not Ready within {WAIT:?}: {status:?}")
        }
    }
}

/// Deletes the volumes [`host_claim`] made for namespace `ns` (a namespace's deletion leaves
/// cluster-wide PersistentVolumes behind).
pub async fn delete_volumes(client: &Client, ns: &str) -> Result<()> {
    let volumes: Api<PersistentVolume> = Api::all(client.clone());
    volumes
        .delete_collection(
            &Default::default(),
            &kube::api::ListParams::default().labels(&format!("execenv.test/namespace={ns}")),
        )
        .await
        .with_context(|| format!("cannot delete the volumes of namespace {ns}"))?;
    Ok(())
}

/// Watches the pods of `ns` matching the label selector `labels` until one satisfies `want`
/// (within [`WAIT`]); returns it. `what` names the wait in the error.
pub async fn watch_for_pod(
    client: &Client,
    ns: &str,
    labels: &str,
    what: &str,
    want: impl Fn(&Pod) -> bool,
) -> Result<Pod> {
    use futures::StreamExt;
    use kube::runtime::watcher;
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let config = watcher::Config::default().labels(labels);
    let mut events = watcher::watcher(pods, config).boxed();
    let found = tokio::time::timeout(WAIT, async {
        while let Some(event) = events.next().await {
            if let watcher::Event::Apply(pod) | watcher::Event::InitApply(pod) = event?
                && want(&pod)
            {
                return Ok(pod);
            }
        }
        bail!("the watch of pods {labels} in {ns} ended")
    })
    .await;
    match found {
        Ok(pod) => pod,
        Err(_) => bail!("{what}: no pod {labels} in {ns} within {WAIT:?}"),
    }
}

/// The uid content runs as in the testbed's pods (the images' root is refused by the restricted
/// security context the launcher sets).
pub const CONTENT_UID: &str = "1000";

/// The launcher's settings for Jobs in namespace `ns` of the cluster in `kubeconfig`, run on the
/// node with the testbed's runtime image as [`CONTENT_UID`].
pub fn launcher_env(ns: &str, kubeconfig: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("EXECENV_LAUNCHER__BACKEND", "kubernetes".into()),
        (
            "EXECENV_KUBERNETES__KUBECONFIG",
            kubeconfig.display().to_string(),
        ),
        ("EXECENV_KUBERNETES__NAMESPACE", ns.to_owned()),
        ("EXECENV_KUBERNETES__RUNTIME_IMAGE", images::RUNTIME.into()),
        ("EXECENV_KUBERNETES__RUN_AS_USER", CONTENT_UID.into()),
    ]
}
