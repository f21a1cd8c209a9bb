//! The Helm chart installed for real on the testbed's node: `helm install` of charts/execenv into
//! a fresh namespace with the images `e2e/infra/images` loaded into the node, hostPath
//! PersistentVolumes waiting for the chart's claims, the gateway reached from this machine through
//! its NodePort (the way a user outside the cluster reaches it), and `kubectl exec` into a pod.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::Client;
use kube::api::{Api, ListParams};
use serde_json::{Value, json};

use crate::chart::{CHART, Helm, repo, testbed_bin};
use crate::testbed::{
    HostFolder, WAIT, delete_volumes, fresh_namespace, host_volume, images, testbed_kubeconfig,
    testbed_with_node,
};

/// The release name every test installs under.
pub const RELEASE: &str = "execenv";

/// The claims the chart's defaults use, each given a hostPath volume before the install: the
/// registry's SQLite claim, the data claim (bundles, work folders) and the package cache.
pub const CLAIMS: [&str; 3] = [
    "execenv-environment-registry-data",
    "execenv-data",
    "execenv-package-cache",
];

/// The chart's HA profile.
pub const HA_VALUES: &str = "charts/execenv/values-ha.yaml";

/// The Secret holding the PostgreSQL URL of a release installed with [`NodeRelease::install_ha`].
pub const DATABASE_SECRET: &str = "execenv-database";

/// What an install adds to the chart and the test's values.
#[derive(Default)]
struct Extras {
    /// TLS and mutual TLS, with `tls-secrets`.
    tls: bool,
    /// Values files before the test's values.
    files: Vec<PathBuf>,
    /// Secrets (name, data) created in the namespace before the install.
    secrets: Vec<(String, BTreeMap<String, String>)>,
}

/// How long the chart's Deployments may take to become Available.
pub const READY_WITHIN: Duration = Duration::from_secs(180);

/// The values that make the chart run on the testbed: the images the node holds (never pulled),
/// the data and package-cache claims created by the chart (each bound to the hostPath volume
/// [`NodeRelease::install`] made for it), content run as the services' own user (it writes work
/// folders next to the bundles the gateway wrote), the gateway on a NodePort.
pub fn testbed_values() -> Value {
    json!({
        "global": {
            "image": {"registry": "execenv.test", "tag": "dev", "pullPolicy": "Never"},
            "storage": {"data": {"create": true}, "packageCache": {"create": true}},
        },
        "gateway": {"service": {"type": "NodePort"}},
        "launcher": {"kubernetes": {
            "runtimeImage": {"repository": "runtime"},
            "runAsUser": 65532, "runAsGroup": 65532,
        }},
    })
}

/// An environment of the testbed's Python image with its supervisor, to declare in
/// `executionEnvironments`.
pub fn python_environment() -> Value {
    json!({
        "name": images::PYTHON_IMAGE,
        "title": "Python 3.11 (testbed)",
        "supervisor": images::SUPERVISOR,
        "python": {"installations": [{"version": images::PYTHON_VERSION, "path": images::PYTHON}]},
    })
}

/// `base` with `over` merged in: objects key by key, anything else replaced.
pub fn merged(mut base: Value, over: &Value) -> Value {
    merge_into(&mut base, over);
    base
}

fn merge_into(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                merge_into(b.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (b, o) => *b = o.clone(),
    }
}

/// A release of the chart running on the node; uninstalled (and its namespace and volumes
/// deleted) by [`NodeRelease::uninstall`], or on drop when a test failed.
pub struct NodeRelease {
    /// A client of the testbed.
    pub client: Client,
    /// The release's namespace, which is also the content namespace.
    pub namespace: String,
    /// The testbed's kubeconfig.
    pub kubeconfig: PathBuf,
    /// The gateway's `host:port` from this machine: the node's address and the NodePort.
    pub gateway: String,
    /// The host folders behind [`CLAIMS`], in that order.
    pub folders: Vec<HostFolder>,
    /// How long `helm install` took until every Deployment was Available.
    pub install_to_ready: Duration,
    /// Under `global.tls` ([`NodeRelease::install_tls`]): the folder `tls-secrets` wrote (the
    /// CA, and a client certificate of it).
    tls: Option<tempfile::TempDir>,
    /// Values files given to `helm` before the test's own values (the HA profile).
    files: Vec<PathBuf>,
    helm: Helm,
    cleaned: bool,
    // Set once `helm uninstall` has run.
    released: std::cell::Cell<bool>,
}

impl NodeRelease {
    /// Creates a namespace `PREFIX-…`, a hostPath volume for each of [`CLAIMS`], installs the
    /// chart with [`testbed_values`] and `values` merged over them, and waits until every
    /// Deployment is Available; fails with the pods' states when one is not.
    pub async fn install(prefix: &str, values: &Value) -> Result<NodeRelease> {
        Self::install_with(prefix, values, Extras::default()).await
    }

    /// The same with TLS and mutual TLS on (`global.tls`), as the README's Security section does
    /// it: before the install, `examples/kubernetes/tls-secrets` makes a CA and every service's
    /// Secret, its gateway certificate valid for the node's address; the gateway is then called
    /// over HTTPS, verified against that CA ([`NodeRelease::tls_file`]).
    pub async fn install_tls(prefix: &str, values: &Value) -> Result<NodeRelease> {
        let tls = json!({"global": {"tls": {"enabled": true, "mutual": true}}});
        let extras = Extras {
            tls: true,
            ..Extras::default()
        };
        Self::install_with(prefix, &merged(values.clone(), &tls), extras).await
    }

    /// The chart's HA profile as its documentation installs it, `helm install -f
    /// charts/execenv/values-ha.yaml` with `values` over it, on the PostgreSQL database
    /// `database_url` (reachable from pods), given to the chart as the Secret [`DATABASE_SECRET`].
    pub async fn install_ha(
        prefix: &str,
        values: &Value,
        database_url: &str,
    ) -> Result<NodeRelease> {
        let database = json!({"global": {"database": {
            "type": "postgres",
            "postgres": {"existingSecret": DATABASE_SECRET, "key": "url"},
        }}});
        let extras = Extras {
            files: vec![repo().join(HA_VALUES)],
            secrets: vec![(
                DATABASE_SECRET.to_owned(),
                BTreeMap::from([("url".to_owned(), database_url.to_owned())]),
            )],
            ..Extras::default()
        };
        Self::install_with(prefix, &merged(values.clone(), &database), extras).await
    }

    async fn install_with(prefix: &str, values: &Value, extras: Extras) -> Result<NodeRelease> {
        let client = testbed_with_node().await?;
        let namespace = fresh_namespace(&client, prefix).await?;
        let mut folders = Vec::new();
        for claim in CLAIMS {
            let folder = HostFolder::new()?;
            host_volume(&client, &namespace, claim, folder.path()).await?;
            folders.push(folder);
        }
        let mut release = NodeRelease {
            client,
            namespace,
            kubeconfig: testbed_kubeconfig()?,
            gateway: String::new(),
            folders,
            install_to_ready: Duration::ZERO,
            tls: None,
            files: extras.files,
            helm: Helm::find()?,
            cleaned: false,
            released: std::cell::Cell::new(false),
        };
        if extras.tls {
            release.tls = Some(release.tls_secrets().await?);
        }
        for (name, data) in &extras.secrets {
            release.secret(name, data).await?;
        }
        let started = Instant::now();
        release.helm_release("install", values)?;
        release.wait_available().await?;
        release.install_to_ready = started.elapsed();
        release.gateway = release.node_port("execenv-gateway").await?;
        // kube-proxy programs the NodePort on its own schedule: wait until the gateway answers.
        let gateway = release.gateway_with("");
        crate::eventually(
            Duration::from_secs(30),
            "the gateway answering through its NodePort",
            || {
                gateway
                    .call("GET", "/__api__/server_settings", None)
                    .is_ok_and(|(s, _)| s == 200)
            },
        )?;
        Ok(release)
    }

    /// Runs `examples/kubernetes/tls-secrets` for the namespace, with the node's address among
    /// the gateway's names; the folder it wrote.
    async fn tls_secrets(&self) -> Result<tempfile::TempDir> {
        let dir = tempfile::tempdir()?;
        let node = crate::testbed::node_address(&self.client).await?;
        let out = Command::new(repo().join("examples/kubernetes/tls-secrets"))
            .args([RELEASE, &self.namespace])
            .arg(dir.path())
            .env("KUBECTL", testbed_bin()?.join("kubectl"))
            .env("KUBECONFIG", &self.kubeconfig)
            .env("GATEWAY_IPS", node)
            .output()
            .context("cannot run examples/kubernetes/tls-secrets")?;
        ensure!(
            out.status.success(),
            "tls-secrets: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(dir)
    }

    /// Creates the Secret `name` holding `data` in the namespace.
    async fn secret(&self, name: &str, data: &BTreeMap<String, String>) -> Result<()> {
        use k8s_openapi::api::core::v1::Secret;
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), &self.namespace);
        let secret: Secret = serde_json::from_value(json!({
            "metadata": {"name": name},
            "stringData": data,
        }))?;
        secrets
            .create(&Default::default(), &secret)
            .await
            .with_context(|| format!("cannot create the Secret {name}"))?;
        Ok(())
    }

    /// `NAME` in the folder `tls-secrets` wrote (`ca.crt`, `client.crt`, `client.key`, …);
    /// none without TLS.
    pub fn tls_file(&self, name: &str) -> Option<PathBuf> {
        self.tls.as_ref().map(|dir| dir.path().join(name))
    }

    /// The data folder (the host folder behind the claim `execenv-data`).
    pub fn data_folder(&self) -> &Path {
        self.folders[1].path()
    }

    /// Creates `relative` (and its parents) in the data folder, writable by any user (content
    /// runs as the services' user), and returns its path.
    pub fn data_subfolder(&self, relative: &str) -> Result<PathBuf> {
        self.folders[1].folder(relative)
    }

    /// Creates the user `username` with `role` inside the registry's pod (`kubectl exec …
    /// execenvctl`, as the first administrator is made) and returns a new API key of theirs.
    pub fn user_key(&self, username: &str, role: &str) -> Result<String> {
        const REGISTRY: &str = "execenv-environment-registry";
        self.exec(
            REGISTRY,
            &["execenvctl", "users", "create", username, "--role", role],
        )?;
        let created: Value = serde_json::from_str(&self.exec(
            REGISTRY,
            &[
                "execenvctl",
                "keys",
                "create",
                username,
                "--name",
                "e2e",
                "-o",
                "json",
            ],
        )?)?;
        Ok(created["key"].as_str().context("no key")?.to_owned())
    }

    /// The release's gateway called with `key`.
    pub fn gateway_with(&self, key: &str) -> Gateway {
        Gateway {
            address: self.gateway.clone(),
            key: key.to_owned(),
            ca: self.tls_file("ca.crt"),
        }
    }

    /// `helm upgrade` with [`testbed_values`] and `values` merged over them (`--reuse-values`
    /// is not used: what is not given goes back to the chart's defaults, as with `-f`).
    pub fn upgrade(&self, values: &Value) -> Result<()> {
        self.helm_release("upgrade", values)
    }

    fn helm_release(&self, verb: &str, values: &Value) -> Result<()> {
        let file = tempfile::Builder::new().suffix(".yaml").tempfile()?;
        std::fs::write(
            file.path(),
            serde_json::to_vec_pretty(&merged(testbed_values(), values))?,
        )?;
        let chart = repo().join(CHART).display().to_string();
        let kubeconfig = self.kubeconfig.display().to_string();
        let mut args = vec![
            verb.to_owned(),
            RELEASE.to_owned(),
            chart,
            "-n".to_owned(),
            self.namespace.clone(),
            "--kubeconfig".to_owned(),
            kubeconfig,
        ];
        for values in self.files.iter().map(|f| f.as_path()).chain([file.path()]) {
            args.extend(["-f".to_owned(), values.display().to_string()]);
        }
        let run = self
            .helm
            .run(&args.iter().map(String::as_str).collect::<Vec<_>>())?;
        ensure!(run.ok, "helm {verb}: {}\n{}", run.stderr, run.stdout);
        Ok(())
    }

    /// Waits until every Deployment is rolled out (see [`Rollout::wait_available`]).
    pub async fn wait_available(&self) -> Result<()> {
        self.waiter().wait_available().await
    }

    /// One line per pod of the namespace (see [`Rollout::pod_states`]).
    pub async fn pod_states(&self) -> Result<String> {
        self.waiter().pod_states().await
    }

    /// A handle that waits for the namespace's Deployments, to move into a task.
    pub fn waiter(&self) -> Rollout {
        Rollout {
            client: self.client.clone(),
            namespace: self.namespace.clone(),
        }
    }

    /// Every object left in the namespace, as `Kind/name`, sorted, leaving out what the cluster
    /// itself keeps in every namespace (the default ServiceAccount, the root CA ConfigMap) and
    /// events. Objects the garbage collector is removing (being deleted, or owned by another
    /// object) are first awaited with a watch until they are gone, within [`WAIT`]; an object
    /// nothing owns stays and is listed.
    pub async fn leftovers(&self) -> Result<Vec<String>> {
        use kube::runtime::wait::{await_condition, conditions};
        let discovery = kube::discovery::Discovery::new(self.client.clone())
            .run()
            .await?;
        let mut left = Vec::new();
        for group in discovery.groups() {
            for (resource, capabilities) in group.recommended_resources() {
                if capabilities.scope != kube::discovery::Scope::Namespaced
                    || !capabilities.supports_operation(kube::discovery::verbs::LIST)
                    || resource.kind == "Event"
                {
                    continue;
                }
                let api: Api<kube::api::DynamicObject> =
                    Api::namespaced_with(self.client.clone(), &self.namespace, &resource);
                for object in api.list(&ListParams::default()).await? {
                    let meta = object.metadata;
                    let name = meta.name.unwrap_or_default();
                    let cluster_own = (resource.kind == "ServiceAccount" && name == "default")
                        || (resource.kind == "ConfigMap" && name == "kube-root-ca.crt");
                    if cluster_own {
                        continue;
                    }
                    let collected = meta.deletion_timestamp.is_some()
                        || meta.owner_references.is_some_and(|o| !o.is_empty());
                    if collected {
                        let uid = meta.uid.unwrap_or_default();
                        let gone = tokio::time::timeout(
                            WAIT,
                            await_condition(api.clone(), &name, conditions::is_deleted(&uid)),
                        )
                        .await;
                        if matches!(gone, Ok(Ok(_))) {
                            continue;
                        }
                    }
                    left.push(format!("{}/{name}", resource.kind));
                }
            }
        }
        left.sort();
        Ok(left)
    }

    /// The names and uids of the release's service pods (not content pods), sorted.
    pub async fn pods(&self) -> Result<Vec<(String, String)>> {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), &self.namespace);
        let mut all: Vec<(String, String)> = pods
            .list(&ListParams::default().labels(&format!("app.kubernetes.io/instance={RELEASE}")))
            .await?
            .into_iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .map(|p| {
                (
                    p.metadata.name.unwrap_or_default(),
                    p.metadata.uid.unwrap_or_default(),
                )
            })
            .collect();
        all.sort();
        Ok(all)
    }

    /// `NODE-ADDRESS:NODE-PORT` of the Service `name`'s first port.
    pub async fn node_port(&self, name: &str) -> Result<String> {
        let services: Api<Service> = Api::namespaced(self.client.clone(), &self.namespace);
        let service = services.get(name).await?;
        let port = service
            .spec
            .and_then(|s| s.ports)
            .and_then(|p| p.into_iter().find_map(|p| p.node_port))
            .with_context(|| format!("the Service {name} has no NodePort"))?;
        let address = crate::testbed::node_address(&self.client).await?;
        Ok(format!("{address}:{port}"))
    }

    /// `kubectl exec deploy/DEPLOYMENT -- ARGS…` in the namespace: its standard output; fails with
    /// its standard error.
    pub fn exec(&self, deployment: &str, args: &[&str]) -> Result<String> {
        let out = Command::new(testbed_bin()?.join("kubectl"))
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args([
                "-n",
                &self.namespace,
                "exec",
                &format!("deploy/{deployment}"),
                "--",
            ])
            .args(args)
            .output()
            .context("cannot run kubectl")?;
        ensure!(
            out.status.success(),
            "kubectl exec deploy/{deployment} -- {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8(out.stdout)?)
    }

    /// `helm uninstall`, then deletes the namespace and the volumes (on drop, when this fails).
    pub async fn uninstall(mut self) -> Result<()> {
        self.helm_uninstall()?;
        self.delete_namespace().await?;
        self.cleaned = true;
        Ok(())
    }

    /// `helm uninstall` alone (the namespace and the claims stay); nothing when it has run.
    pub fn helm_uninstall(&self) -> Result<()> {
        if self.released.get() {
            return Ok(());
        }
        let kubeconfig = self.kubeconfig.display().to_string();
        let run = self.helm.run(&[
            "uninstall",
            RELEASE,
            "-n",
            &self.namespace,
            "--kubeconfig",
            &kubeconfig,
            "--wait",
        ])?;
        ensure!(run.ok, "helm uninstall: {}", run.stderr);
        self.released.set(true);
        Ok(())
    }

    async fn delete_namespace(&self) -> Result<()> {
        use k8s_openapi::api::core::v1::Namespace;
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        let uid = namespaces.get(&self.namespace).await?.metadata.uid;
        namespaces
            .delete(&self.namespace, &Default::default())
            .await?;
        kube::runtime::wait::await_condition(
            namespaces,
            &self.namespace,
            kube::runtime::wait::conditions::is_deleted(&uid.unwrap_or_default()),
        )
        .await?;
        delete_volumes(&self.client, &self.namespace).await
    }
}

/// A release's gateway, called from this machine with an API key.
pub struct Gateway {
    /// Its `host:port`.
    pub address: String,
    /// The key sent as `Authorization: Key …`; none when empty.
    pub key: String,
    /// Under TLS, the CA its certificate is verified against (HTTPS); plain HTTP when none.
    pub ca: Option<PathBuf>,
}

impl Gateway {
    /// The same gateway called with `key` instead (none when empty).
    pub fn with_key(&self, key: &str) -> Gateway {
        Gateway {
            address: self.address.clone(),
            key: key.to_owned(),
            ca: self.ca.clone(),
        }
    }

    /// The URL of `path` (`https://…` under TLS).
    pub fn url(&self, path: &str) -> String {
        let scheme = if self.ca.is_some() { "https" } else { "http" };
        format!("{scheme}://{}{path}", self.address)
    }

    /// `METHOD PATH` with `body`: the status and the JSON answered (null when empty).
    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<(u16, Value)> {
        self.call_with(method, path, &[], body)
    }

    /// The same with more `headers`.
    pub fn call_with(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<(u16, Value)> {
        if let Some(ca) = &self.ca {
            ensure!(
                headers.is_empty(),
                "headers over HTTPS are not supported here"
            );
            return crate::https_request(ca, &self.key, method, &self.url(path), body);
        }
        let auth = format!("Key {}", self.key);
        let mut all = headers.to_vec();
        if !self.key.is_empty() {
            all.push(("Authorization", &auth));
        }
        let answer = crate::http_request(&self.address, method, path, &all, body)?;
        Ok((answer.status, answer.json_or_null()?))
    }

    /// The names (images) of the environments `GET /__api__/v1/environments` lists.
    pub fn environment_names(&self) -> Result<Vec<String>> {
        let listed = self.ok("GET", "/__api__/v1/environments", None)?;
        Ok(listed
            .as_array()
            .with_context(|| format!("not a list: {listed}"))?
            .iter()
            .filter_map(|e| e["name"].as_str().map(str::to_owned))
            .collect())
    }

    /// Waits, within `within`, until launch `id` has ended (succeeded, failed or cancelled); the
    /// launch then. Fails with the last state seen.
    pub fn launch_outcome(&self, id: &str, within: Duration) -> Result<Value> {
        let mut state = Value::Null;
        crate::eventually(within, "the launch's outcome", || {
            match self.ok("GET", &format!("/__api__/execenv/v1/launches/{id}"), None) {
                Ok(now) => {
                    state = now;
                    ["succeeded", "failed", "cancelled"]
                        .contains(&state["state"].as_str().unwrap_or_default())
                }
                Err(_) => false,
            }
        })
        .with_context(|| format!("launch {id}: {state}"))?;
        Ok(state)
    }

    /// The JSON of a call that must succeed (2xx); fails with the status and answer otherwise.
    pub fn ok(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value> {
        let (status, json) = self.call(method, path, body)?;
        ensure!(
            (200..300).contains(&status),
            "{method} {path}: {status} {json}"
        );
        Ok(json)
    }

    /// The JSON of a call that must answer `status`.
    pub fn expect(
        &self,
        status: u16,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value> {
        let (answered, json) = self.call(method, path, body)?;
        ensure!(
            answered == status,
            "{method} {path} answered {answered} instead of {status}: {json}"
        );
        Ok(json)
    }
}

/// The Deployments of a namespace, waited for.
pub struct Rollout {
    client: Client,
    namespace: String,
}

impl Rollout {
    /// Waits until every Deployment of the namespace has all its replicas updated and Available
    /// (a rolling restart included); fails with the pods' states after [`READY_WITHIN`].
    pub async fn wait_available(&self) -> Result<()> {
        let deployments: Api<Deployment> = Api::namespaced(self.client.clone(), &self.namespace);
        let deadline = Instant::now() + READY_WITHIN;
        let mut params = ListParams::default();
        loop {
            let list = deployments.list(&params).await?;
            let waiting: Vec<String> = list
                .items
                .iter()
                .filter(|d| !rolled_out(d))
                .filter_map(|d| d.metadata.name.clone())
                .collect();
            if !list.items.is_empty() && waiting.is_empty() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "not Available within {READY_WITHIN:?}: {waiting:?}; pods:\n{}",
                    self.pod_states().await?
                );
            }
            // Wait for the next change of any Deployment rather than poll.
            let version = list.metadata.resource_version.clone().unwrap_or_default();
            params = ListParams::default();
            let watch = kube::api::WatchParams::default().timeout(10);
            use futures::StreamExt;
            let mut events = deployments.watch(&watch, &version).await?.boxed();
            let _ = tokio::time::timeout(Duration::from_secs(10), events.next()).await;
        }
    }

    /// One line per pod of the namespace: its phase and each container's state.
    pub async fn pod_states(&self) -> Result<String> {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), &self.namespace);
        let mut lines = Vec::new();
        for pod in pods.list(&ListParams::default()).await? {
            let status = pod.status.unwrap_or_default();
            let containers: Vec<String> = status
                .container_statuses
                .unwrap_or_default()
                .iter()
                .map(|c| format!("{} ready={} {:?}", c.name, c.ready, c.state))
                .collect();
            let unmet: Vec<String> = status
                .conditions
                .unwrap_or_default()
                .iter()
                .filter(|c| c.status != "True")
                .map(|c| format!("{}: {:?} {:?}", c.type_, c.reason, c.message))
                .collect();
            lines.push(format!(
                "{} {:?} {containers:?} {unmet:?}",
                pod.metadata.name.unwrap_or_default(),
                status.phase
            ));
        }
        Ok(lines.join("\n"))
    }
}

fn rolled_out(d: &Deployment) -> bool {
    let (Some(spec), Some(status)) = (&d.spec, &d.status) else {
        return false;
    };
    let wanted = spec.replicas.unwrap_or(1);
    d.metadata.generation == status.observed_generation
        && status.updated_replicas.unwrap_or(0) == wanted
        && status.available_replicas.unwrap_or(0) == wanted
        && status.replicas.unwrap_or(0) == wanted
}

impl Drop for NodeRelease {
    fn drop(&mut self) {
        if self.cleaned {
            return;
        }
        let _ = self.helm_uninstall();
        let namespace = self.namespace.clone();
        // A runtime of its own: the test's runtime may be unwinding.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let client = crate::testbed::testbed_client().await?;
                use k8s_openapi::api::core::v1::Namespace;
                let namespaces: Api<Namespace> = Api::all(client.clone());
                let _ = namespaces.delete(&namespace, &Default::default()).await;
                delete_volumes(&client, &namespace).await
            })
        })
        .join();
    }
}
