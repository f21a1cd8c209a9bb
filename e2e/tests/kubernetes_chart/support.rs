//! What the chart tests share: values files, error parsing, the check that a Deployment sets only
//! what its binary reads, and a release installed into a fresh namespace of the testbed.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail, ensure};
use execenv_e2e::binary;
use execenv_e2e::chart::{CHART, Helm, Run, config_map_entry, documents, mounted_file};
use execenv_e2e::testbed::{fresh_namespace, testbed_client, testbed_kubeconfig};
use k8s_openapi::api::core::v1::{Namespace, PersistentVolumeClaim};
use kube::Client;
use kube::api::{Api, DeleteParams, DynamicObject, GroupVersionKind, PostParams};
use kube::discovery::{Scope, pinned_kind};
use serde_json::{Value, json};

/// A PostgreSQL URL without a password, so that `--print-config` shows it unmasked.
const DATABASE_URL: &str = "postgres://execenv@db.example.com:5432/execenv";
/// The value a Secret's key resolves to for the settings check.
const SECRET: &str = "chart-test-secret";

/// A values (or definitions) file holding `value` as JSON, which helm and config-sync read as YAML.
pub fn values_file(value: &Value) -> Result<tempfile::NamedTempFile> {
    let file = tempfile::Builder::new().suffix(".yaml").tempfile()?;
    std::fs::write(file.path(), serde_json::to_vec_pretty(value)?)?;
    Ok(file)
}

/// The entry numbers `text` names as `<prefix><number>` followed by one of `ends`, e.g.
/// `executionEnvironments[3]` (prefix `executionEnvironments[`, ends `]`).
pub fn entry_indices(text: &str, prefix: &str, ends: &str) -> BTreeSet<usize> {
    text.match_indices(prefix)
        .filter_map(|(at, _)| {
            let rest = &text[at + prefix.len()..];
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            let after = rest[digits.len()..].chars().next()?;
            if digits.is_empty() || !ends.contains(after) {
                return None;
            }
            digits.parse().ok()
        })
        .collect()
}

/// Definitions for the schema-versus-config-sync test: (valid, the definition's fields; the
/// test gives each a unique image name unless the case sets `name` itself).
pub fn definition_cases() -> Vec<(bool, Value)> {
    let install =
        |version: &str, path: &str| json!({"installations": [{"version": version, "path": path}]});
    let nfs = |host: Value, export: Value, target: &str| {
        json!([{"source": {"volume_type": "nfs", "nfs_host": host, "nfs_export_path": export},
                "target": {"path": target, "read_only": true}}])
    };
    vec![
        (true, json!({})),
        (
            true,
            json!({"guid": "0b6f0c8e-5d0c-4d8b-9d2a-7c1f3e2a9b10", "title": "All fields",
            "description": "d", "cluster_name": "Kubernetes", "matching": "none",
            "supervisor": "/opt/supervisor/run.sh", "python": install("3.12.4", "/opt/python/3.12.4/bin/python3"),
            "r": install("4.4.1", "/opt/R/4.4.1/bin/R"), "quarto": install("1.5.57", "/opt/quarto/bin/quarto"),
            "tensorflow": install("2.16.1", "/usr/bin/tensorflow_model_server"),
            "volume_mounts": [{"source": {"volume_type": "PVC", "pvc_name": "shared.data-1"},
                               "target": {"path": "/mnt/shared"}}]}),
        ),
        (
            true,
            json!({"name": "localhost:5000/acme/py@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}),
        ),
        (
            true,
            json!({"name": "registry.example.com:5000/team/r-base:4.4_1-jammy"}),
        ),
        (true, json!({"name": "ubuntu"})),
        // Posit's example writes `supervisor: ""`: no supervisor, for both.
        (true, json!({"supervisor": ""})),
        (true, json!({"supervisor": null})),
        (
            true,
            json!({"python": install("3.13.0-rc.1+build.5", "/opt/./python/..x/bin/python3")}),
        ),
        (
            true,
            json!({"id": "42", "created_time": "2026-01-01T00:00:00Z", "managed_by": "config-file"}),
        ),
        (
            true,
            json!({"volume_mounts": nfs(json!("nfs.example.com"), json!("/exports/data"), "/mnt/data")}),
        ),
        (false, json!({"name": ""})),
        (false, json!({"name": "Bad/Image"})),
        (false, json!({"name": "a_b.c/image"})),
        (false, json!({"name": "acme/py:.hidden"})),
        (false, json!({"guid": "not-a-uuid"})),
        (
            false,
            json!({"guid": "0b6f0c8e-5d0c-1d8b-9d2a-7c1f3e2a9b10"}),
        ),
        (false, json!({"matching": "sometimes"})),
        (
            false,
            json!({"python": install("3.12", "/opt/python/bin/python3")}),
        ),
        (
            false,
            json!({"python": install("v3.12.4", "/opt/python/bin/python3")}),
        ),
        (
            false,
            json!({"python": install("03.12.4", "/opt/python/bin/python3")}),
        ),
        (false, json!({"r": install("4.4.1", "opt/R/bin/R")})),
        (false, json!({"r": install("4.4.1", "/opt/R/../bin/R")})),
        (false, json!({"r": install("4.4.1", "/opt/R/\tbin/R")})),
        (false, json!({"supervisor": "supervise.sh"})),
        (false, json!({"title": "t".repeat(257)})),
        (false, json!({"cluster_name": "  "})),
        (
            false,
            json!({"volume_mounts": nfs(json!("nfs.example.com"), Value::Null, "/mnt/data")}),
        ),
        (
            false,
            json!({"volume_mounts": nfs(json!("nfs host"), json!("/exports/data"), "/mnt/data")}),
        ),
        (
            false,
            json!({"volume_mounts": nfs(json!("nfs.example.com"), json!("/exports/data"), "mnt/data")}),
        ),
        (
            false,
            json!({"volume_mounts": [{"source": {"volume_type": "pvc", "pvc_name": "Bad_Claim"}, "target": {"path": "/mnt/x"}}]}),
        ),
        (
            false,
            json!({"volume_mounts": [{"source": {"volume_type": "smb"}, "target": {"path": "/mnt/x"}}]}),
        ),
        (
            false,
            json!({"permissions": [{"principal_type": "user", "principal_guid": "x"}]}),
        ),
        (false, json!({"image": "ghcr.io/acme/py:3"})),
        (
            false,
            json!({"python": {"installations": [{"version": "3.12.4", "path": "/p", "arch": "x86_64"}]}}),
        ),
    ]
}

/// Values of the deprecated `launcher.customRuntimeYaml` for the schema-versus-config-sync test:
/// (valid, the value). Posit's shorthands for its chart's bundled runtime files name no images.
pub fn legacy_cases() -> Vec<(bool, Value)> {
    let images = "name: Kubernetes\nimages:\n  - name: ghcr.io/acme/r:4.4\n    r:\n      installations:\n        - path: /opt/R/4.4.1/bin/R\n          version: 4.4.1\n";
    vec![
        (true, json!(images)),
        (
            true,
            json!({"name": "Kubernetes", "images": [{"name": "ghcr.io/acme/py:3.12", "supervisor": "",
                "python": {"installations": [{"path": "/opt/python/3.12.4/bin/python3", "version": "3.12.4"}]}}]}),
        ),
        (false, json!("base")),
        (false, json!("pro")),
    ]
}

/// Starts the Deployment's binary with the environment the kubelet would give its container
/// (Secrets resolved to placeholders, ConfigMap keys and mounted files from the rendered
/// ConfigMaps) and `--print-config`, and checks that every variable shows in the printed
/// configuration: `EXECENV_<SECTION>__<KEY>` at `section.key`, `EXECENV_CONFIG`'s file as a part
/// of it. OTEL_EXPORTER_OTLP_ENDPOINT is read by the kit's
/// telemetry at start and is not part of the printed configuration.
pub fn check_settings(docs: &[Value], deployment: &Value) -> Result<()> {
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    let name = container["name"]
        .as_str()
        .context("a container without a name")?;
    let dir = tempfile::tempdir()?;
    let mut env: Vec<(String, String)> = Vec::new();
    let mut config_file = None;
    for var in container["env"].as_array().into_iter().flatten() {
        let key = var["name"]
            .as_str()
            .context("an env entry without a name")?;
        let value = if let Some(v) = var["value"].as_str() {
            v.to_owned()
        } else if var["valueFrom"]["secretKeyRef"].is_object() {
            if is_database_url(key) {
                DATABASE_URL
            } else {
                SECRET
            }
            .to_owned()
        } else if let Some(r) = var["valueFrom"]["configMapKeyRef"].as_object() {
            let (map, entry) = (
                r["name"].as_str().unwrap_or_default(),
                r["key"].as_str().unwrap_or_default(),
            );
            match config_map_entry(docs, map, entry) {
                Some(v) => v.to_owned(),
                None if r.get("optional") == Some(&Value::Bool(true)) => continue,
                None => {
                    bail!("{name}: {key} refers to {map}/{entry}, which the chart does not render")
                }
            }
        } else {
            bail!("{name}: {key} has neither a value nor a Secret or ConfigMap reference");
        };
        if key == "EXECENV_CONFIG" {
            let text = mounted_file(docs, deployment, &value).with_context(|| {
                format!("{name}: EXECENV_CONFIG={value} is not a mounted ConfigMap file")
            })?;
            let copy = dir.path().join("config.yaml");
            std::fs::write(&copy, text)?;
            config_file = Some(documents(text)?.remove(0));
            env.push((key.to_owned(), copy.to_string_lossy().into_owned()));
        } else {
            env.push((key.to_owned(), value));
        }
    }
    let mut args: Vec<&str> = container["args"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    args.push("--print-config");
    let out = Command::new(binary(&format!("execenv-{name}"))?)
        .args(&args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()?;
    ensure!(
        out.status.success(),
        "{name} refuses the chart's settings: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: Value = serde_json::from_slice(&out.stdout)?;
    for (key, value) in &env {
        match key.as_str() {
            "EXECENV_CONFIG" => {
                let file = config_file.as_ref().context("no configuration file")?;
                ensure!(
                    contains(&printed, file),
                    "{name} does not show its configuration file {file} in {printed}"
                );
            }
            k if k == execenv_kit::telemetry::OTLP_ENDPOINT_VARIABLE => {}
            // Read by the image's execenvctl (`kubectl exec … execenvctl`), not the service:
            // the registry's URL, which must be this release's registry over TLS.
            "EXECENV_REGISTRY" => {
                ensure!(
                    value == "https://execenv-environment-registry:50051",
                    "{name}: EXECENV_REGISTRY={value}, not the release's registry over TLS"
                );
            }
            _ => {
                let (section, field) = key
                    .strip_prefix("EXECENV_")
                    .and_then(|rest| rest.split_once("__"))
                    .with_context(|| format!("{name} sets {key}, which no execenv binary reads"))?;
                let shown = &printed[section.to_lowercase()][field.to_lowercase()];
                let same = match shown {
                    Value::String(s) => {
                        // Secrets print masked: the token whole, a database URL's password.
                        s == value
                            || (s == "***"
                                && (key == "EXECENV_AUTH__SERVICE_TOKEN"
                                    || key == "EXECENV_AUTH__PREVIOUS_SERVICE_TOKEN"))
                            || (is_database_url(key) && (s == "***" || s.contains(":***@")))
                    }
                    Value::Number(n) => n.to_string() == *value,
                    // A list setting is given as its items separated by commas.
                    Value::Array(items) => {
                        let items: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
                        items.len() == value.split(',').count() && items.join(",") == *value
                    }
                    _ => false,
                };
                ensure!(
                    same,
                    "{name} sets {key}={value:?}, but its configuration shows {shown} at {}.{}: it does not read it",
                    section.to_lowercase(),
                    field.to_lowercase()
                );
            }
        }
    }
    Ok(())
}

/// Whether `key` holds a PostgreSQL URL: given a URL without a password, shown with its password
/// masked.
fn is_database_url(key: &str) -> bool {
    key == "EXECENV_DATABASE__URL" || key == "EXECENV_HISTORY__DATABASE_URL"
}

/// Whether `whole` holds every key and value of `part` (objects recursively, lists element by
/// element, anything else equal).
fn contains(whole: &Value, part: &Value) -> bool {
    match part {
        Value::Object(fields) => fields.iter().all(|(k, v)| contains(&whole[k], v)),
        // A list of objects shows every field of each, the unset ones as null.
        Value::Array(items) => whole.as_array().is_some_and(|shown| {
            shown.len() == items.len() && shown.iter().zip(items).all(|(w, p)| contains(w, p))
        }),
        other => whole == other,
    }
}

/// Runs `execenv-config-sync validate [--legacy]` on `text`: whether it passed, and its report.
pub fn config_sync_validate(text: &str, legacy: bool) -> Result<(bool, String)> {
    let file = tempfile::NamedTempFile::new()?;
    std::fs::write(file.path(), text)?;
    let mut args = vec!["validate"];
    if legacy {
        args.push("--legacy");
    }
    args.push(file.path().to_str().context("temp path")?);
    let out = Command::new(binary("execenv-config-sync")?)
        .args(&args)
        .output()?;
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok((out.status.success(), report))
}

/// The claim of the release namespace the gateway mounts (`global.storage.data.gatewayClaim`):
/// content runs in another namespace, where the data claim is.
pub const GATEWAY_CLAIM: &str = "execenv-gateway-data";

/// The chart installed as release `execenv` into a fresh namespace of the testbed, with the
/// launcher's content namespace another fresh one, and in the release namespace the claim
/// [`GATEWAY_CLAIM`] (made by the test, unbound: nothing waits for the pods). Uninstalled, and
/// both namespaces deleted, by [`Installed::uninstall`] (or, when a test fails first, on drop).
pub struct Installed {
    /// A client of the testbed.
    pub client: Client,
    /// The release's namespace.
    pub namespace: String,
    /// The namespace content Jobs would run in (the launcher's Role is there).
    pub content_namespace: String,
    /// The testbed's kubeconfig.
    pub kubeconfig: String,
    helm: std::path::PathBuf,
    cleaned: bool,
}

impl Installed {
    /// `helm install execenv charts/execenv` with `values`, without --wait (the
    /// chart's images are not on the testbed's node, so its pods never become ready).
    pub async fn install(helm: &Helm, prefix: &str, values: &[&Path]) -> Result<Installed> {
        let release = Installed::prepare(helm, prefix).await?;
        release
            .helm_release(helm, "install", values)?
            .ok("helm install")?;
        Ok(release)
    }

    /// The namespaces and the gateway's claim, with nothing installed yet.
    pub async fn prepare(helm: &Helm, prefix: &str) -> Result<Installed> {
        let client = testbed_client().await?;
        let namespace = fresh_namespace(&client, prefix).await?;
        let content_namespace = fresh_namespace(&client, &format!("{prefix}-content")).await?;
        let release = Installed {
            client,
            namespace,
            content_namespace,
            kubeconfig: testbed_kubeconfig()?.to_string_lossy().into_owned(),
            helm: helm.path(),
            cleaned: false,
        };
        let claims: Api<PersistentVolumeClaim> =
            Api::namespaced(release.client.clone(), &release.namespace);
        claims
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({
                    "metadata": {"name": GATEWAY_CLAIM},
                    "spec": {"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": "1Gi"}}},
                }))?,
            )
            .await?;
        Ok(release)
    }

    /// `helm upgrade` of the release with `values`.
    pub fn upgrade(&self, helm: &Helm, values: &[&Path]) -> Result<()> {
        self.helm_release(helm, "upgrade", values)?
            .ok("helm upgrade")?;
        Ok(())
    }

    /// `helm VERB execenv charts/execenv` (install or upgrade) into the namespaces, as it ran.
    pub fn helm_release(&self, helm: &Helm, verb: &str, values: &[&Path]) -> Result<Run> {
        let content = format!(
            "launcher.kubernetes.namespace={},global.storage.data.gatewayClaim={GATEWAY_CLAIM}",
            self.content_namespace
        );
        let mut args = vec![
            verb,
            "execenv",
            CHART,
            "-n",
            &self.namespace,
            "--kubeconfig",
            &self.kubeconfig,
            "--set",
            &content,
        ];
        for v in values {
            args.extend(["-f", v.to_str().context("a values path is not UTF-8")?]);
        }
        helm.run(&args)
    }

    /// Reads the object a manifest document describes back from the API server.
    pub async fn assert_exists(&self, doc: &Value) -> Result<()> {
        let (api_version, kind) = (
            doc["apiVersion"].as_str().unwrap_or_default(),
            doc["kind"].as_str().unwrap_or_default(),
        );
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let (resource, capabilities) =
            pinned_kind(&self.client, &GroupVersionKind::gvk(group, version, kind)).await?;
        let name = doc["metadata"]["name"]
            .as_str()
            .context("an object without a name")?;
        let api: Api<DynamicObject> = match capabilities.scope {
            Scope::Namespaced => {
                let namespace = doc["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or(&self.namespace);
                Api::namespaced_with(self.client.clone(), namespace, &resource)
            }
            Scope::Cluster => Api::all_with(self.client.clone(), &resource),
        };
        let stored = api
            .get(name)
            .await
            .with_context(|| format!("{kind} {name} is not in the API server"))?;
        ensure!(stored.metadata.uid.is_some(), "{kind} {name} has no uid");
        Ok(())
    }

    /// `helm uninstall`, then deletes both namespaces.
    pub async fn uninstall(mut self) -> Result<()> {
        self.cleaned = true;
        self.helm_uninstall()?;
        delete_namespaces(&self.client, &[&self.namespace, &self.content_namespace]).await
    }

    /// Deletes both namespaces, when nothing was installed.
    pub async fn delete(mut self) -> Result<()> {
        self.cleaned = true;
        delete_namespaces(&self.client, &[&self.namespace, &self.content_namespace]).await
    }

    fn helm_uninstall(&self) -> Result<()> {
        let out = Command::new(&self.helm)
            .args([
                "uninstall",
                "execenv",
                "-n",
                &self.namespace,
                "--kubeconfig",
                &self.kubeconfig,
            ])
            .output()?;
        ensure!(
            out.status.success(),
            "helm uninstall: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        if self.cleaned {
            return;
        }
        let _ = self.helm_uninstall();
        // A client of its own on a runtime of its own: the test's runtime may be unwinding.
        let namespaces = [self.namespace.clone(), self.content_namespace.clone()];
        let _ = std::thread::spawn(move || -> Result<()> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let client = testbed_client().await?;
                delete_namespaces(&client, &[&namespaces[0], &namespaces[1]]).await
            })
        })
        .join();
    }
}

async fn delete_namespaces(client: &Client, names: &[&str]) -> Result<()> {
    let api: Api<Namespace> = Api::all(client.clone());
    for name in names {
        api.delete(name, &DeleteParams::default())
            .await
            .with_context(|| format!("cannot delete the namespace {name}"))?;
    }
    Ok(())
}
