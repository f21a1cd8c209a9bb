//! The high-availability profile `values-ha.yaml` (the ci scenario `ha` renders it) and what the
//! chart gives every service with more than one replica: a PodDisruptionBudget, rolling updates
//! that never drop below the replicas, pods spread over nodes, the launcher's shared history in
//! PostgreSQL, and no second registry or launcher pod on SQLite.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result, ensure};
use execenv_e2e::chart::{Helm, documents, object, objects, scenario, scenario_values};
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::Api;
use serde_json::{Value, json};

use super::support::{Installed, values_file};

/// The Deployments of the six services, as the HA profile names them.
const SERVICES: [&str; 6] = [
    "execenv-config-sync",
    "execenv-environment-registry",
    "execenv-gateway",
    "execenv-image-examiner",
    "execenv-launcher",
    "execenv-selector",
];

/// `helm template` of the ha scenario (values-ha.yaml, then ci/ha-values.yaml), then `extra`.
fn render_ha(helm: &Helm, extra: &Value) -> Result<Vec<Value>> {
    let extra = values_file(extra)?;
    let mut files = scenario_values("ha");
    ensure!(
        files.len() == 2,
        "the ha scenario is not rendered on values-ha.yaml: {files:?}"
    );
    files.push(extra.path().to_path_buf());
    helm.template(&files.iter().map(PathBuf::as_path).collect::<Vec<_>>())
}

/// Each PodDisruptionBudget's name and spec without its selector, checking that the selector is
/// its service's pods.
fn budgets(docs: &[Value]) -> Result<BTreeMap<String, Value>> {
    let mut found = BTreeMap::new();
    for pdb in objects(docs, "PodDisruptionBudget") {
        let name = pdb["metadata"]["name"].as_str().context("a name")?;
        let service = name.strip_prefix("execenv-").context("a release prefix")?;
        let mut spec = pdb["spec"].clone();
        let selector = spec
            .as_object_mut()
            .and_then(|s| s.remove("selector"))
            .context("no selector")?;
        ensure!(
            selector
                == json!({"matchLabels": {"app.kubernetes.io/name": service,
                    "app.kubernetes.io/instance": "execenv"}}),
            "{name}: {selector}"
        );
        found.insert(name.to_owned(), spec);
    }
    Ok(found)
}

fn env<'a>(deployment: &'a Value, name: &str) -> Option<&'a Value> {
    deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)
}

#[test]
fn kubernetes_chart_gives_a_disruption_budget_to_each_service_with_several_replicas_only()
-> Result<()> {
    let helm = Helm::find()?;
    let one_at_a_time = json!({"maxUnavailable": 1});

    // The HA profile: two pods of every service, a budget for each.
    let docs = render_ha(&helm, &json!({}))?;
    let expected: BTreeMap<String, Value> = SERVICES
        .iter()
        .map(|s| (s.to_string(), one_at_a_time.clone()))
        .collect();
    ensure!(budgets(&docs)? == expected, "{:?}", budgets(&docs)?);

    // One launcher pod: no budget for it. The gateway's turned off, the selector's tuned.
    let tuned = json!({
        "launcher": {"replicas": 1},
        "gateway": {"podDisruptionBudget": {"enabled": false}},
        "selector": {"podDisruptionBudget": {"minAvailable": 1}},
        "imageExaminer": {"podDisruptionBudget": {"maxUnavailable": "50%"}},
    });
    let docs = render_ha(&helm, &tuned)?;
    let expected: BTreeMap<String, Value> = [
        ("execenv-config-sync", one_at_a_time.clone()),
        ("execenv-environment-registry", one_at_a_time.clone()),
        ("execenv-image-examiner", json!({"maxUnavailable": "50%"})),
        ("execenv-selector", json!({"minAvailable": 1})),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    ensure!(budgets(&docs)? == expected, "{:?}", budgets(&docs)?);

    // The defaults, one pod each: none.
    let docs = helm.template(&[&scenario("default")])?;
    ensure!(budgets(&docs)?.is_empty(), "{:?}", budgets(&docs)?);
    Ok(())
}

#[test]
fn kubernetes_chart_ha_profile_updates_with_a_surge_and_spreads_pods_over_nodes() -> Result<()> {
    let helm = Helm::find()?;
    let docs = render_ha(&helm, &json!({}))?;
    let deployments = objects(&docs, "Deployment");
    ensure!(deployments.len() == 6, "{} Deployments", deployments.len());
    for deployment in deployments {
        let name = deployment["metadata"]["name"].as_str().context("a name")?;
        let service = name.strip_prefix("execenv-").context("a release prefix")?;
        let pod = &deployment["spec"]["template"]["spec"];
        ensure!(deployment["spec"]["replicas"] == 2, "{name}");
        ensure!(
            deployment["spec"]["strategy"]
                == json!({"type": "RollingUpdate",
                    "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}),
            "{name}: {}",
            deployment["spec"]["strategy"]
        );
        ensure!(
            pod["topologySpreadConstraints"]
                == json!([{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                    "whenUnsatisfiable": "ScheduleAnyway",
                    "labelSelector": {"matchLabels": {"app.kubernetes.io/name": service,
                        "app.kubernetes.io/instance": "execenv"}},
                    "matchLabelKeys": ["pod-template-hash"]}]),
            "{name}: {}",
            pod["topologySpreadConstraints"]
        );
        // The kubelet's own sleep (no binary needed in the image), inside the grace period.
        let container = &pod["containers"][0];
        ensure!(
            pod["terminationGracePeriodSeconds"] == 30
                && container["lifecycle"] == json!({"preStop": {"sleep": {"seconds": 5}}}),
            "{name}: {pod}"
        );
        ensure!(
            container["readinessProbe"].is_object(),
            "{name}: no readiness probe"
        );
    }

    // Spread over zones, as a rule; the selector with constraints of its own; the gateway
    // with its own grace period.
    let zones = json!({
        "global": {"topologySpread": {"topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": "DoNotSchedule"}},
        "selector": {"topologySpreadConstraints": [{"maxSkew": 2,
            "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {"team": "a"}}}]},
        "gateway": {"terminationGracePeriodSeconds": 60},
    });
    let docs = render_ha(&helm, &zones)?;
    let registry = object(&docs, "Deployment", "execenv-environment-registry")?;
    let spread = &registry["spec"]["template"]["spec"]["topologySpreadConstraints"][0];
    ensure!(
        spread["topologyKey"] == "topology.kubernetes.io/zone"
            && spread["whenUnsatisfiable"] == "DoNotSchedule",
        "{spread}"
    );
    let selector = object(&docs, "Deployment", "execenv-selector")?;
    ensure!(
        selector["spec"]["template"]["spec"]["topologySpreadConstraints"]
            == json!([{"maxSkew": 2, "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "DoNotSchedule",
                "labelSelector": {"matchLabels": {"team": "a"}}}]),
        "{selector}"
    );
    let gateway = object(&docs, "Deployment", "execenv-gateway")?;
    ensure!(gateway["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 60);

    // No spread at all when turned off.
    let off = json!({"global": {"topologySpread": {"enabled": false}}});
    let docs = render_ha(&helm, &off)?;
    for deployment in objects(&docs, "Deployment") {
        ensure!(
            deployment["spec"]["template"]["spec"]
                .get("topologySpreadConstraints")
                .is_none(),
            "{deployment}"
        );
    }

    // One pod each: Kubernetes' default strategy (the registry on SQLite: Recreate), no spread.
    let docs = helm.template(&[&scenario("default")])?;
    for deployment in objects(&docs, "Deployment") {
        let name = deployment["metadata"]["name"].as_str().context("a name")?;
        let strategy = deployment["spec"].get("strategy");
        if name == "execenv-environment-registry" {
            ensure!(strategy == Some(&json!({"type": "Recreate"})), "{name}");
        } else {
            ensure!(strategy.is_none(), "{name}: {strategy:?}");
        }
        ensure!(
            deployment["spec"]["template"]["spec"]
                .get("topologySpreadConstraints")
                .is_none(),
            "{name}"
        );
    }
    Ok(())
}

#[test]
fn kubernetes_chart_gives_the_launcher_the_registrys_postgres_secret_for_its_history() -> Result<()>
{
    let helm = Helm::find()?;
    let docs = render_ha(&helm, &json!({}))?;
    let launcher = object(&docs, "Deployment", "execenv-launcher")?;
    let history = env(launcher, "EXECENV_HISTORY__DATABASE_URL").context("no history URL")?;
    ensure!(
        *history
            == json!({"name": "EXECENV_HISTORY__DATABASE_URL",
                "valueFrom": {"secretKeyRef": {"name": "execenv-database", "key": "url"}}}),
        "{history}"
    );
    let registry = object(&docs, "Deployment", "execenv-environment-registry")?;
    let database = env(registry, "EXECENV_DATABASE__URL").context("no database URL")?;
    ensure!(database["valueFrom"] == history["valueFrom"], "{database}");

    // Another Secret and key: both follow.
    let other =
        json!({"global": {"database": {"postgres": {"existingSecret": "pg", "key": "dsn"}}}});
    let docs = render_ha(&helm, &other)?;
    let launcher = object(&docs, "Deployment", "execenv-launcher")?;
    ensure!(
        env(launcher, "EXECENV_HISTORY__DATABASE_URL").map(|e| &e["valueFrom"])
            == Some(&json!({"secretKeyRef": {"name": "pg", "key": "dsn"}}))
    );

    // SQLite: the launcher keeps its history to itself.
    let docs = helm.template(&[&scenario("default")])?;
    let launcher = object(&docs, "Deployment", "execenv-launcher")?;
    ensure!(env(launcher, "EXECENV_HISTORY__DATABASE_URL").is_none());
    Ok(())
}

#[test]
fn kubernetes_chart_refuses_several_registry_or_launcher_pods_on_sqlite() -> Result<()> {
    let helm = Helm::find()?;
    let token = json!({"serviceToken": {"value": "t"}});
    for (values, expected) in [
        (
            json!({"global": token, "environment-registry": {"replicas": 2}}),
            "environment-registry.replicas is 2, but global.database.type is sqlite: a SQLite \
             database is one file that only one pod may open. Set global.database.type=postgres \
             and global.database.postgres.existingSecret (values-ha.yaml does), or \
             environment-registry.replicas=1.",
        ),
        (
            json!({"global": token, "launcher": {"replicas": 3}}),
            "launcher.replicas is 3, but global.database.type is sqlite: several launchers share \
             their launch history (history.database_url) only in PostgreSQL. Set \
             global.database.type=postgres and global.database.postgres.existingSecret \
             (values-ha.yaml does), or launcher.replicas=1.",
        ),
    ] {
        let file = values_file(&values)?;
        let run = helm.template_run(&[file.path()])?;
        ensure!(!run.ok, "{values} was accepted");
        ensure!(run.stderr.contains(expected), "{values}:\n{}", run.stderr);
    }

    // PostgreSQL allows several; the postgres scenario asks for three registry pods.
    let docs = helm.template(&[&scenario("postgres")])?;
    let registry = object(&docs, "Deployment", "execenv-environment-registry")?;
    ensure!(registry["spec"]["replicas"] == 3, "{registry}");
    ensure!(
        objects(&docs, "PersistentVolumeClaim").is_empty(),
        "no claim with PostgreSQL"
    );
    Ok(())
}

#[test]
fn kubernetes_chart_ha_profile_gives_config_sync_its_lease_role() -> Result<()> {
    let docs = render_ha(&Helm::find()?, &json!({}))?;
    let deployment = object(&docs, "Deployment", "execenv-config-sync")?;
    ensure!(deployment["spec"]["template"]["spec"]["serviceAccountName"] == "execenv-config-sync");
    ensure!(
        env(deployment, "EXECENV_ELECTION__LEASE").map(|e| &e["value"])
            == Some(&json!("execenv-config-sync"))
    );
    object(&docs, "ServiceAccount", "execenv-config-sync")?;
    let role = object(&docs, "Role", "execenv-config-sync")?;
    ensure!(
        role["rules"][1]["resourceNames"] == json!(["execenv-config-sync"]),
        "{role}"
    );
    let binding = object(&docs, "RoleBinding", "execenv-config-sync")?;
    ensure!(
        binding["roleRef"]["name"] == "execenv-config-sync",
        "{binding}"
    );
    Ok(())
}

/// The HA profile's objects are accepted by the testbed's API server as the chart renders them:
/// nothing it does not know is dropped (the kubelet's `sleep` action, `matchLabelKeys`).
#[tokio::test]
async fn kubernetes_chart_ha_profile_installs_into_the_testbed_with_every_object_kept() -> Result<()>
{
    let helm = Helm::find()?;
    let storage = values_file(
        &json!({"global": {"storage": {"data": {"create": true}, "packageCache": {"create": true}}}}),
    )?;
    let mut files = scenario_values("ha");
    files.push(storage.path().to_path_buf());
    let files: Vec<_> = files.iter().map(PathBuf::as_path).collect();
    let release = Installed::install(&helm, "chart-ha", &files).await?;
    let manifest = helm
        .run(&[
            "get",
            "manifest",
            "execenv",
            "-n",
            &release.namespace,
            "--kubeconfig",
            &release.kubeconfig,
        ])?
        .ok("helm get manifest")?;
    let docs = documents(&manifest.stdout)?;
    for doc in &docs {
        release.assert_exists(doc).await?;
    }
    ensure!(budgets(&docs)?.len() == 6, "{:?}", budgets(&docs)?);
    let deployments: Api<Deployment> = Api::namespaced(release.client.clone(), &release.namespace);
    for name in SERVICES {
        let stored = serde_json::to_value(deployments.get(name).await?)?;
        let rendered = object(&docs, "Deployment", name)?;
        let (stored_pod, rendered_pod) = (
            &stored["spec"]["template"]["spec"],
            &rendered["spec"]["template"]["spec"],
        );
        ensure!(
            stored_pod["topologySpreadConstraints"] == rendered_pod["topologySpreadConstraints"],
            "{name}: stored {}",
            stored_pod["topologySpreadConstraints"]
        );
        ensure!(
            stored_pod["containers"][0]["lifecycle"]
                == json!({"preStop": {"sleep": {"seconds": 5}}}),
            "{name}: stored {}",
            stored_pod["containers"][0]["lifecycle"]
        );
        ensure!(
            stored["spec"]["strategy"] == rendered["spec"]["strategy"],
            "{name}: stored {}",
            stored["spec"]["strategy"]
        );
    }
    release.uninstall().await
}
