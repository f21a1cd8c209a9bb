//! What a platform engineer coming from Posit's chart needs, as the chart renders it: the data
//! and package-cache volumes (created, or existing and reused under a sub-path prefix), the
//! gateway's mount of the data volume, the gateway's Service and Ingress, the launcher's
//! ServiceAccount and Role, and a job base written for Connect.

use anyhow::{Context, Result, ensure};
use execenv_e2e::chart::{Helm, config_map_entry, documents, object, objects, scenario};
use execenv_launcher::config::KubernetesConfig;
use execenv_launcher::job_spec::{JobSettings, LaunchKind, LaunchRequest, Resources, build_job};
use execenv_launcher::limits::{GroupLimits, LimitsConfig};
use execenv_launcher::template::JobTemplate;
use serde_json::{Value, json};

use super::support::values_file;

/// The token every values file here sets, so that `helm template` is deterministic.
fn token() -> Value {
    json!({"serviceToken": {"value": "t"}})
}

/// `helm template` of `values` (with the token), as it ran: refused, with helm's message.
fn refused(values: Value) -> Result<String> {
    let mut values = values;
    values["global"]["serviceToken"] = token()["serviceToken"].clone();
    let file = values_file(&values)?;
    let run = Helm::find()?.template_run(&[file.path()])?;
    ensure!(!run.ok, "helm template accepted {values}");
    Ok(run.stderr)
}

/// The launcher's `kubernetes` settings as the chart renders them into its configuration file.
fn launcher_settings(docs: &[Value]) -> Result<Value> {
    let text = config_map_entry(docs, "execenv-launcher", "config.yaml")
        .context("no launcher configuration")?;
    Ok(documents(text)?.remove(0)["kubernetes"].clone())
}

fn pod_spec(deployment: &Value) -> &Value {
    &deployment["spec"]["template"]["spec"]
}

fn env_of<'a>(deployment: &'a Value, name: &str) -> Option<&'a Value> {
    pod_spec(deployment)["containers"][0]["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)
        .map(|e| &e["value"])
}

#[test]
fn kubernetes_chart_creates_the_volumes_in_the_content_namespace_as_asked() -> Result<()> {
    let helm = Helm::find()?;
    let docs = helm.template(&[&scenario("everything-on")])?;
    let data = object(&docs, "PersistentVolumeClaim", "execenv-data")?;
    ensure!(
        data["metadata"]["namespace"] == "content"
            && data["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
            && data["spec"]
                == json!({"accessModes": ["ReadWriteMany"], "storageClassName": "nfs-client",
                    "resources": {"requests": {"storage": "50Gi"}}}),
        "{data}"
    );
    let cache = object(&docs, "PersistentVolumeClaim", "execenv-package-cache")?;
    ensure!(
        cache["metadata"]["namespace"] == "content"
            && cache["metadata"]["annotations"]
                .get("helm.sh/resource-policy")
                .is_none()
            && cache["spec"]
                == json!({"accessModes": ["ReadWriteMany"], "storageClassName": "nfs-client",
                    "resources": {"requests": {"storage": "100Gi"}}}),
        "{cache}"
    );

    // By default the claims exist already: the chart creates only the registry's.
    let docs = helm.template(&[&scenario("default")])?;
    let claims: Vec<&Value> = objects(&docs, "PersistentVolumeClaim")
        .into_iter()
        .map(|c| &c["metadata"]["name"])
        .collect();
    ensure!(
        claims == [&json!("execenv-environment-registry-data")],
        "{claims:?}"
    );
    Ok(())
}

#[test]
fn kubernetes_chart_gives_the_launcher_the_claims_their_prefixes_and_its_role() -> Result<()> {
    let helm = Helm::find()?;
    let docs = helm.template(&[&scenario("everything-on")])?;
    let settings = launcher_settings(&docs)?;
    for (key, value) in [
        ("data_pvc", "execenv-data"),
        ("data_sub_path_prefix", "execenv"),
        ("package_cache_pvc", "execenv-package-cache"),
        ("package_cache_sub_path_prefix", "execenv/cache"),
        ("role", "execenv-launcher"),
    ] {
        ensure!(settings[key] == value, "{key}: {settings}");
    }

    // The launcher reads those settings into the Job's sub-paths.
    let config: KubernetesConfig = serde_json::from_value(settings)?;
    let launch = LaunchRequest {
        request_id: "req-1".into(),
        kind: LaunchKind::Build,
        content_guid: "0d2b5b39-7c3b-4e0e-9d0c-1f1e5d1a2b3c".into(),
        bundle_id: "17".into(),
        command: vec![],
        env: vec![],
        resources: Resources::default(),
        service_account: None,
    };
    let environment: execenv_core::Environment = serde_json::from_value(json!({
        "id": 1, "guid": "6a3c5d0e-8f1b-4c2d-9e7a-0b1c2d3e4f50", "name": "ghcr.io/acme/r:4.4",
        "cluster_name": "Kubernetes", "matching": "any", "python": [], "r": [], "quarto": [],
        "tensorflow": [], "volume_mounts": [], "environment_type": "Kubernetes", "permissions": [],
        "created_time": "2026-01-01T00:00:00Z", "updated_time": "2026-01-01T00:00:00Z", "revision": 1,
    }))?;
    let settings = JobSettings {
        config,
        base_template: None,
    };
    let job = serde_json::to_value(build_job(&launch, &environment, &[], &settings)?)?;
    let mounts = &job["spec"]["template"]["spec"]["containers"][0]["volumeMounts"];
    let sub_paths: Vec<&Value> = mounts
        .as_array()
        .context("no mounts")?
        .iter()
        .filter_map(|m| m.get("subPath"))
        .collect();
    ensure!(
        sub_paths
            == [
                "execenv/content/0d2b5b39-7c3b-4e0e-9d0c-1f1e5d1a2b3c/17",
                "execenv/cache/ghcr.io-acme-r-4.4-19a31da08e8e"
            ],
        "{mounts}"
    );

    // Existing claims named by the launcher's own values, as in earlier releases.
    let named = values_file(&json!({"global": token(), "gateway": {"enabled": false},
        "launcher": {"kubernetes": {"dataPvc": "team-data", "packageCachePvc": "team-cache"}}}))?;
    let settings = launcher_settings(&helm.template(&[named.path()])?)?;
    ensure!(
        settings["data_pvc"] == "team-data"
            && settings["package_cache_pvc"] == "team-cache"
            && settings.get("data_sub_path_prefix").is_none(),
        "{settings}"
    );
    Ok(())
}

#[test]
fn kubernetes_chart_refuses_volumes_the_gateway_and_content_would_not_share() -> Result<()> {
    let outside =
        refused(json!({"global": {}, "launcher": {"kubernetes": {"namespace": "content"}}}))?;
    ensure!(
        outside.contains(
            "Content runs in namespace content (launcher.kubernetes.namespace) and the gateway in execenv, but a \
             PersistentVolumeClaim can only be mounted in its own namespace: the gateway cannot mount the data \
             claim execenv-data to write uploaded bundles. Create a claim in namespace execenv on the same \
             storage (e.g. a second PersistentVolume on the same NFS export) and set \
             global.storage.data.gatewayClaim to its name, or run content in the release namespace."
        ),
        "{outside}"
    );
    let apart =
        refused(json!({"global": {}, "launcher": {"kubernetes": {"dataPvc": "team-data"}}}))?;
    ensure!(
        apart.contains(
            "launcher.kubernetes.dataPvc (team-data) and global.storage.data.claimName (execenv-data) name \
             different claims, but the gateway writes uploaded bundles into the second and content Jobs read \
             them from the first. Set global.storage.data.claimName: team-data and leave \
             launcher.kubernetes.dataPvc empty."
        ),
        "{apart}"
    );
    let prefix =
        refused(json!({"global": {"storage": {"packageCache": {"subPathPrefix": "../cache"}}}}))?;
    ensure!(
        prefix.contains(
            "at '/global/storage/packageCache/subPathPrefix': '../cache' does not match pattern"
        ),
        "{prefix}"
    );
    Ok(())
}

#[test]
fn kubernetes_chart_mounts_the_data_volume_into_the_gateway_for_uploaded_bundles() -> Result<()> {
    let helm = Helm::find()?;
    for (name, claim, dir) in [
        ("default", "execenv-data", "/var/lib/execenv/data"),
        // Content in another namespace: the gateway's own claim on the same storage.
        (
            "everything-on",
            "execenv-gateway-data",
            "/var/lib/execenv/data/execenv",
        ),
        // Posit Connect's shared volume, reused under a prefix.
        (
            "from-posit-connect",
            "connect-shared-storage",
            "/var/lib/execenv/data/execenv",
        ),
    ] {
        let docs = helm.template(&[&scenario(name)])?;
        let gateway = object(&docs, "Deployment", "execenv-gateway")?;
        let spec = pod_spec(gateway);
        let volume = spec["volumes"]
            .as_array()
            .and_then(|v| v.iter().find(|v| v["name"] == "data"))
            .with_context(|| format!("{name}: no data volume"))?;
        ensure!(
            volume["persistentVolumeClaim"] == json!({"claimName": claim}),
            "{name}: {volume}"
        );
        let mount = spec["containers"][0]["volumeMounts"]
            .as_array()
            .and_then(|m| m.iter().find(|m| m["name"] == "data"))
            .with_context(|| format!("{name}: no data mount"))?;
        ensure!(
            *mount == json!({"name": "data", "mountPath": "/var/lib/execenv/data"}),
            "{name}: {mount}"
        );
        ensure!(
            env_of(gateway, "EXECENV_BUNDLES__DIR") == Some(&json!(dir)),
            "{name}: {:?}",
            env_of(gateway, "EXECENV_BUNDLES__DIR")
        );
    }
    Ok(())
}

#[test]
fn kubernetes_chart_exposes_the_gateway_by_its_service_type_and_an_ingress() -> Result<()> {
    let helm = Helm::find()?;
    let service = |docs: &[Value]| -> Result<Value> {
        Ok(object(docs, "Service", "execenv-gateway")?.clone())
    };

    let docs = helm.template(&[&scenario("default")])?;
    ensure!(service(&docs)?["spec"]["type"] == "ClusterIP");
    ensure!(objects(&docs, "Ingress").is_empty());

    let docs = helm.template(&[&scenario("from-posit-connect")])?;
    let node_port = service(&docs)?;
    ensure!(
        node_port["spec"]["type"] == "NodePort"
            && node_port["spec"]["ports"]
                == json!([
                    {"name": "http", "port": 3939, "targetPort": "http", "protocol": "TCP",
                     "appProtocol": "http", "nodePort": 30939},
                    {"name": "metrics", "port": 9455, "targetPort": "metrics", "protocol": "TCP",
                     "appProtocol": "http"},
                ]),
        "{node_port}"
    );

    let docs = helm.template(&[&scenario("everything-on")])?;
    let balancer = service(&docs)?;
    ensure!(
        balancer["spec"]["type"] == "LoadBalancer"
            && balancer["metadata"]["annotations"]
                == json!({"service.beta.kubernetes.io/aws-load-balancer-scheme": "internal"}),
        "{balancer}"
    );
    let ingress = object(&docs, "Ingress", "execenv-gateway")?;
    ensure!(
        ingress["metadata"]["namespace"] == "execenv"
            && ingress["metadata"]["annotations"]
                == json!({"cert-manager.io/cluster-issuer": "letsencrypt",
                    "nginx.ingress.kubernetes.io/proxy-body-size": "1g"})
            && ingress["spec"]
                == json!({
                    "ingressClassName": "nginx",
                    "tls": [{"secretName": "connect-example-tls", "hosts": ["connect.example.com"]}],
                    "rules": [{"host": "connect.example.com", "http": {"paths": [{
                        "path": "/", "pathType": "Prefix",
                        "backend": {"service": {"name": "execenv-gateway", "port": {"name": "http"}}},
                    }]}}],
                }),
        "{ingress}"
    );
    Ok(())
}

#[test]
fn kubernetes_chart_binds_the_launchers_role_to_the_service_account_it_names() -> Result<()> {
    let helm = Helm::find()?;
    let docs = helm.template(&[&scenario("everything-on")])?;
    let account = object(&docs, "ServiceAccount", "content-launcher")?;
    ensure!(
        account["metadata"]["namespace"] == "execenv"
            && account["metadata"]["annotations"]
                == json!({"eks.amazonaws.com/role-arn": "arn:aws:iam::111122223333:role/execenv-launcher"}),
        "{account}"
    );
    let binding = object(&docs, "RoleBinding", "execenv-launcher")?;
    ensure!(
        binding["metadata"]["namespace"] == "content"
            && binding["subjects"]
                == json!([{"kind": "ServiceAccount", "name": "content-launcher", "namespace": "execenv"}])
            && binding["roleRef"]["name"] == "execenv-launcher",
        "{binding}"
    );
    let launcher = object(&docs, "Deployment", "execenv-launcher")?;
    ensure!(pod_spec(launcher)["serviceAccountName"] == "content-launcher");

    // An existing account: bound, not created.
    let docs = helm.template(&[&scenario("from-posit-connect")])?;
    ensure!(objects(&docs, "ServiceAccount").is_empty());
    let binding = object(&docs, "RoleBinding", "execenv-launcher")?;
    ensure!(binding["subjects"][0]["name"] == "connect-launcher");

    // No Role from the chart: none is named to the launcher either.
    let own = values_file(&json!({"global": token(), "launcher": {"rbac": {"create": false}}}))?;
    let docs = helm.template(&[own.path()])?;
    ensure!(objects(&docs, "Role").is_empty() && objects(&docs, "RoleBinding").is_empty());
    ensure!(launcher_settings(&docs)?.get("role").is_none());
    Ok(())
}

#[test]
fn kubernetes_chart_gives_the_launcher_its_caps_defaults_and_service_accounts() -> Result<()> {
    let helm = Helm::find()?;
    let docs = helm.template(&[&scenario("everything-on")])?;
    let text = config_map_entry(&docs, "execenv-launcher", "config.yaml")
        .context("no launcher configuration")?;
    let file = documents(text)?.remove(0);
    // Read with the launcher's own types (unknown keys refused).
    let kubernetes: KubernetesConfig = serde_json::from_value(file["kubernetes"].clone())?;
    let quantity = |q: &str| Some(q.to_owned());
    ensure!(kubernetes.gpu_resource == "amd.com/gpu");
    ensure!(kubernetes.run_as_non_root && kubernetes.read_only_root_filesystem);
    ensure!(kubernetes.service_accounts == ["content-reader"]);
    ensure!(kubernetes.service_account_label.as_deref() == Some("execenv.io/content=allowed"));
    ensure!(
        kubernetes.build_resources
            == Resources {
                cpu_request: quantity("500m"),
                memory_limit: quantity("4Gi"),
                ..Resources::default()
            },
        "{:?}",
        kubernetes.build_resources
    );
    ensure!(
        kubernetes.run_resources
            == Resources {
                cpu_request: quantity("250m"),
                memory_limit: quantity("2Gi"),
                ephemeral_storage_limit: quantity("8Gi"),
                ..Resources::default()
            }
    );
    ensure!(
        kubernetes.init_resources
            == Resources {
                memory_limit: quantity("256Mi"),
                ..Resources::default()
            }
    );
    let limits: LimitsConfig = serde_json::from_value(file["limits"].clone())?;
    let expected = LimitsConfig {
        publisher: Resources {
            cpu_limit: quantity("2"),
            memory_limit: quantity("8Gi"),
            gpu: quantity("0"),
            ..Resources::default()
        },
        administrator: Resources {
            memory_limit: quantity("64Gi"),
            ..Resources::default()
        },
        groups: vec![GroupLimits {
            group: "6f1c2d3e-4b5a-4c6d-8e7f-8a9b0c1d2e3f".to_owned(),
            caps: Resources {
                gpu: quantity("1"),
                memory_limit: quantity("32Gi"),
                ..Resources::default()
            },
        }],
    };
    ensure!(limits == expected, "{limits:?}");
    // A label allow-list: the launcher's Role may read ServiceAccounts (their labels).
    let role = object(&docs, "Role", "execenv-launcher")?;
    let reads_accounts = |role: &Value| {
        role["rules"].as_array().is_some_and(|rules| {
            rules.iter().any(|r| {
                r["resources"] == json!(["serviceaccounts"]) && r["verbs"] == json!(["get"])
            })
        })
    };
    ensure!(reads_accounts(role), "{role}");

    // By default: no caps, no accounts but the default, runAsNonRoot, and no ServiceAccount read.
    let docs = helm.template(&[&scenario("default")])?;
    let file = documents(
        config_map_entry(&docs, "execenv-launcher", "config.yaml").context("no configuration")?,
    )?
    .remove(0);
    ensure!(file.get("limits").is_none(), "{file}");
    let kubernetes: KubernetesConfig = serde_json::from_value(file["kubernetes"].clone())?;
    ensure!(
        kubernetes.run_as_non_root
            && !kubernetes.read_only_root_filesystem
            && kubernetes.service_accounts.is_empty()
            && kubernetes.service_account_label.is_none()
            && kubernetes.build_resources == Resources::default()
    );
    ensure!(!reads_accounts(object(&docs, "Role", "execenv-launcher")?));
    Ok(())
}

#[test]
fn kubernetes_chart_accepts_a_job_base_written_for_connect() -> Result<()> {
    let docs = Helm::find()?.template(&[&scenario("from-posit-connect")])?;
    let text = config_map_entry(&docs, "execenv-launcher", "job-template.yaml")
        .context("no job template")?;
    let base = JobTemplate::from_yaml("job-template.yaml", text)
        .map_err(|e| anyhow::anyhow!("{}", e.message))?;
    let ours: k8s_openapi::api::batch::v1::Job = serde_json::from_value(json!({
        "spec": {"template": {"spec": {
            "initContainers": [{"name": "execenv-runtime-init", "image": "ghcr.io/execenv/runtime-components:0.1.0"}],
            "containers": [{"name": "execenv-content", "image": "ghcr.io/acme/r:4.4"}],
        }}},
    }))?;
    let merged = serde_json::to_value(
        base.merge_under(&ours)
            .map_err(|e| anyhow::anyhow!("{}", e.message))?,
    )?;
    let pod = &merged["spec"]["template"]["spec"];
    ensure!(
        pod["containers"]
            == json!([{"name": "execenv-content", "image": "ghcr.io/acme/r:4.4",
                "env": [{"name": "HTTPS_PROXY", "value": "http://proxy.example.com:3128"}],
                "resources": {"limits": {"memory": "4Gi"}},
                "volumeMounts": [{"name": "certificates", "mountPath": "/etc/ssl/certs", "readOnly": true}]}])
            && pod["initContainers"]
                == json!([{"name": "execenv-runtime-init",
                    "image": "ghcr.io/execenv/runtime-components:0.1.0",
                    "resources": {"limits": {"memory": "256Mi"}}}]),
        "{pod}"
    );
    Ok(())
}

#[test]
fn kubernetes_chart_schema_refuses_a_job_base_container_without_an_image() -> Result<()> {
    let stderr = refused(
        json!({"global": {}, "launcher": {"kubernetes": {"jobTemplate": {"spec": {
        "template": {"spec": {
            "containers": [
                {"name": "connect-content", "resources": {"limits": {"memory": "1Gi"}}},
                {"name": "sidecar", "env": [{"name": "A", "value": "b"}]},
                {"name": "log-shipper", "image": "fluent/fluent-bit:3"},
            ],
            "initContainers": [{"name": "connect-content-init"}, {"name": "warm-up"}],
        }}}}}}}),
    )?;
    // helm lists a chart's problems in no fixed order.
    let mut problems: Vec<&str> = stderr.lines().filter(|l| l.starts_with("- at ")).collect();
    problems.sort_unstable();
    ensure!(
        problems
            == [
                "- at '/kubernetes/jobTemplate/spec/template/spec/containers/1': missing property 'image'",
                "- at '/kubernetes/jobTemplate/spec/template/spec/initContainers/1': missing property 'image'",
            ],
        "{stderr}"
    );
    Ok(())
}
