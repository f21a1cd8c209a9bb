//! The Helm chart charts/execenv, checked with the real `helm` and the real binaries, and
//! installed into the Kubernetes testbed's real API server. A test target of its own, built with
//! the `kubernetes` feature: helm comes from the testbed's build, and the install tests need the
//! testbed itself.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "kubernetes_chart/availability.rs"]
mod availability;
#[path = "kubernetes_chart/platform.rs"]
mod platform;
#[path = "kubernetes_chart/support.rs"]
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use anyhow::{Context, Result, ensure};
use execenv_e2e::chart::{
    CHART, Helm, config_map_entry, documents, mounted_file, object, objects, repo, scenario,
    scenario_values, scenarios,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, ListParams};
use serde_json::{Value, json};
use support::{GATEWAY_CLAIM, Installed, entry_indices, values_file};

/// A definition every registry accepts, to sit beside the bad ones.
fn good_environment() -> Value {
    json!({
        "name": "ghcr.io/acme/python:3.12",
        "python": {"installations": [{"version": "3.12.4", "path": "/opt/python/3.12.4/bin/python3"}]}
    })
}

#[test]
fn kubernetes_chart_lints_clean_with_subcharts_and_every_ci_scenario() -> Result<()> {
    let run = Helm::find()?.script("e2e/infra/chart", &["lint"])?;
    let output = format!("{}{}", run.stdout, run.stderr);
    ensure!(run.ok, "helm lint --strict is not clean:\n{output}");
    // The umbrella chart and its seven charts on their own, then once per ci scenario.
    ensure!(
        output.contains("8 chart(s) linted, 0 chart(s) failed"),
        "{output}"
    );
    let scenario_lints = output
        .matches("1 chart(s) linted, 0 chart(s) failed")
        .count();
    ensure!(
        scenario_lints == scenarios()?.len(),
        "{scenario_lints} scenario lints for {} scenarios:\n{output}",
        scenarios()?.len()
    );
    ensure!(
        !output.contains("[WARNING]") && !output.contains("[ERROR]"),
        "{output}"
    );
    Ok(())
}

#[test]
fn kubernetes_chart_renders_as_the_committed_snapshots() -> Result<()> {
    let run = Helm::find()?.script("e2e/infra/chart", &["check"])?;
    ensure!(
        run.ok,
        "the rendered manifests differ from charts/execenv/snapshots — run make chart-snapshots \
         if the change is intended, and commit the snapshots:\n{}{}",
        run.stdout,
        run.stderr
    );
    Ok(())
}

#[test]
fn kubernetes_chart_schema_rejects_bad_environments_naming_the_entry() -> Result<()> {
    let helm = Helm::find()?;
    let python = |version: &str, path: &str| {
        let mut env = good_environment();
        env["name"] = json!("ghcr.io/acme/bad:1");
        env["python"]["installations"][0] = json!({"version": version, "path": path});
        env
    };
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "missing name",
            json!({"title": "no image"}),
            "at '/executionEnvironments/1': missing property 'name'",
        ),
        (
            "bad guid",
            json!({"name": "ghcr.io/acme/bad:1", "guid": "not-a-uuid"}),
            "at '/executionEnvironments/1/guid'",
        ),
        (
            "version-1 guid",
            json!({"name": "ghcr.io/acme/bad:1", "guid": "0b6f0c8e-5d0c-1d8b-9d2a-7c1f3e2a9b10"}),
            "at '/executionEnvironments/1/guid'",
        ),
        (
            "bad matching",
            json!({"name": "ghcr.io/acme/bad:1", "matching": "sometimes"}),
            "at '/executionEnvironments/1/matching': value must be one of 'any', 'exact', 'none'",
        ),
        (
            "relative path",
            python("3.12.4", "bin/python3"),
            "at '/executionEnvironments/1/python/installations/0/path': 'bin/python3' does not match pattern '^/'",
        ),
        (
            "path with ..",
            python("3.12.4", "/opt/../bin/python3"),
            "at '/executionEnvironments/1/python/installations/0/path'",
        ),
        (
            "bad version",
            python("3.12", "/opt/python/bin/python3"),
            "at '/executionEnvironments/1/python/installations/0/version': '3.12' does not match pattern",
        ),
    ];
    for (what, bad, expected) in cases {
        let values = values_file(&json!({
            "global": {"serviceToken": {"value": "t"}},
            "executionEnvironments": [good_environment(), bad],
        }))?;
        let run = helm.template_run(&[values.path()])?;
        ensure!(!run.ok, "{what}: helm template accepted it");
        ensure!(
            run.stderr
                .contains("values don't meet the specifications of the schema")
                && run.stderr.contains(expected),
            "{what}: expected {expected:?} in:\n{}",
            run.stderr
        );
        ensure!(
            !run.stderr.contains("/executionEnvironments/0"),
            "{what}: the good entry was blamed too:\n{}",
            run.stderr
        );
    }
    Ok(())
}

/// The chart's schema and config-sync's own validation (the registry's rules, libs/core) accept
/// and refuse the same definitions.
#[test]
fn kubernetes_chart_schema_agrees_with_config_sync_validate() -> Result<()> {
    let cases = support::definition_cases();
    let image = |i: usize| format!("ghcr.io/acme/case-{i}:1");
    let definitions: Vec<Value> = cases
        .iter()
        .enumerate()
        .map(|(i, (_, case))| {
            let mut definition = json!({"name": image(i)});
            for (k, v) in case.as_object().unwrap() {
                definition[k] = v.clone();
            }
            definition
        })
        .collect();
    let expected: BTreeSet<usize> = (0..cases.len()).filter(|&i| !cases[i].0).collect();

    let values = values_file(&json!({
        "global": {"serviceToken": {"value": "t"}},
        "executionEnvironments": definitions,
    }))?;
    let helm = Helm::find()?.template_run(&[values.path()])?;
    let by_schema = entry_indices(&helm.stderr, "'/executionEnvironments/", "/'");

    // config-sync checks each definition on its own: some problems (an unknown key in an
    // installation) stop it reading the file at all, without naming the entry.
    let mut by_config_sync = BTreeSet::new();
    let mut reports = String::new();
    for (i, definition) in definitions.iter().enumerate() {
        let (valid, report) =
            support::config_sync_validate(&json!([definition]).to_string(), false)?;
        if !valid {
            by_config_sync.insert(i);
        }
        reports.push_str(&format!("{i}: {report}"));
    }

    ensure!(
        by_schema == expected,
        "the schema refused {by_schema:?}, expected {expected:?}:\n{}",
        helm.stderr
    );
    ensure!(
        by_config_sync == expected,
        "config-sync refused {by_config_sync:?}, expected {expected:?}:\n{reports}"
    );

    // The deprecated launcher.customRuntimeYaml: the schema refuses what config-sync would refuse
    // at run time, Posit's shorthands base and pro with the reason.
    let helm = Helm::find()?;
    for (valid, legacy) in support::legacy_cases() {
        let values = values_file(&json!({
            "global": {"serviceToken": {"value": "t"}},
            "launcher": {"customRuntimeYaml": legacy},
        }))?;
        let run = helm.template_run(&[values.path()])?;
        let text = match &legacy {
            Value::String(text) => text.clone(),
            map => map.to_string(),
        };
        let (by_config_sync, report) = support::config_sync_validate(&text, true)?;
        ensure!(
            run.ok == valid && by_config_sync == valid,
            "{legacy}: the schema says {}, config-sync {by_config_sync}, expected {valid}:\n{}{report}",
            run.ok,
            run.stderr
        );
        if !valid {
            ensure!(
                run.stderr.contains("at '/customRuntimeYaml': value must be 'list the images instead: Posit\\'s shorthand base or pro"),
                "{}",
                run.stderr
            );
        }
    }
    Ok(())
}

/// Every variable a Deployment sets is one its binary reads: started with the rendered
/// environment (Secrets and ConfigMaps resolved as the kubelet would) and `--print-config`, each
/// binary shows every `EXECENV_<SECTION>__<KEY>` value at `section.key`.
#[test]
fn kubernetes_chart_sets_only_settings_the_binaries_read() -> Result<()> {
    let helm = Helm::find()?;
    let mut checked = 0;
    let mut expected = 0;
    for name in scenarios()? {
        let files = scenario_values(&name);
        let docs = helm.template(&files.iter().map(PathBuf::as_path).collect::<Vec<_>>())?;
        // Six services; the postgres scenario turns the image examiner off.
        expected += if name == "postgres" { 5 } else { 6 };
        for deployment in objects(&docs, "Deployment") {
            support::check_settings(&docs, deployment)
                .with_context(|| format!("scenario {name}"))?;
            checked += 1;
        }
        // The launcher accepts the job base template it is pointed at.
        if let Some(text) = config_map_entry(&docs, "execenv-launcher", "job-template.yaml") {
            execenv_launcher::template::JobTemplate::from_yaml("job-template.yaml", text)
                .map_err(|e| anyhow::anyhow!("scenario {name}: {e}"))?;
        }
    }
    ensure!(
        checked == expected,
        "{checked} Deployments checked, {expected} expected"
    );
    Ok(())
}

/// The value of `name` among a container's `env` entries, or its `secretKeyRef`.
fn env_value<'a>(container: &'a Value, name: &str) -> Option<&'a Value> {
    container["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)
        .map(|e| e.get("value").unwrap_or(&e["valueFrom"]))
}

#[test]
fn kubernetes_chart_tls_values_mount_the_secrets_and_set_the_settings() -> Result<()> {
    let helm = Helm::find()?;
    let tls = values_file(&json!({"global": {"tls": {"enabled": true, "mutual": true}}}))?;
    let docs = helm.template(&[&scenario("default"), tls.path()])?;
    let deployments = objects(&docs, "Deployment");
    ensure!(deployments.len() == 6, "{} Deployments", deployments.len());
    for deployment in deployments {
        let name = deployment["metadata"]["name"].as_str().context("a name")?;
        let pod = &deployment["spec"]["template"]["spec"];
        let container = &pod["containers"][0];
        // The Secret <release>-<service>-tls, mounted whole (renewals reach the files).
        let volume = pod["volumes"]
            .as_array()
            .and_then(|v| v.iter().find(|v| v["name"] == "tls"))
            .with_context(|| format!("{name}: no tls volume"))?;
        ensure!(
            volume["secret"]["secretName"] == format!("{name}-tls").as_str(),
            "{name}: {volume}"
        );
        let mount = container["volumeMounts"]
            .as_array()
            .and_then(|m| m.iter().find(|m| m["name"] == "tls"))
            .with_context(|| format!("{name}: no tls mount"))?;
        ensure!(
            mount["mountPath"] == "/etc/execenv/tls"
                && mount["readOnly"] == true
                && mount.get("subPath").is_none(),
            "{name}: {mount}"
        );
        // The last three are for the image's execenvctl (kubectl exec … execenvctl users
        // create): the registry over TLS, presenting the pod's certificate.
        for (variable, file) in [
            ("EXECENV_TLS__CERT_FILE", "/etc/execenv/tls/tls.crt"),
            ("EXECENV_TLS__KEY_FILE", "/etc/execenv/tls/tls.key"),
            ("EXECENV_TLS__CA_FILE", "/etc/execenv/tls/ca.crt"),
            (
                "EXECENV_REGISTRY",
                "https://execenv-environment-registry:50051",
            ),
            ("EXECENV_TLS__CLIENT_CERT_FILE", "/etc/execenv/tls/tls.crt"),
            ("EXECENV_TLS__CLIENT_KEY_FILE", "/etc/execenv/tls/tls.key"),
        ] {
            ensure!(
                env_value(container, variable) == Some(&json!(file)),
                "{name}: {variable}"
            );
        }
        // Mutual TLS on the gRPC services; the gateway asks API clients for no certificate.
        let client_ca = env_value(container, "EXECENV_TLS__CLIENT_CA_FILE");
        if name == "execenv-gateway" {
            ensure!(client_ca.is_none(), "{name}: {client_ca:?}");
        } else {
            ensure!(
                client_ca == Some(&json!("/etc/execenv/tls/ca.crt")),
                "{name}: {client_ca:?}"
            );
        }
        // Every service URL is https://, and the probes are HTTP on the admin port.
        for entry in container["env"].as_array().context("env")? {
            let variable = entry["name"].as_str().unwrap_or_default();
            if variable.ends_with("__URL")
                && variable != "EXECENV_DATABASE__URL"
                && entry["value"].as_str().is_some_and(|v| !v.is_empty())
            {
                ensure!(
                    entry["value"]
                        .as_str()
                        .is_some_and(|v| v.starts_with("https://")),
                    "{name}: {entry}"
                );
            }
        }
        ensure!(
            container["readinessProbe"]["httpGet"]["path"] == "/readyz"
                && container["livenessProbe"]["httpGet"]["path"] == "/healthz",
            "{name}: {container}"
        );
        // The previous service token, for a rotation, from the same Secret and optional.
        let previous = env_value(container, "EXECENV_AUTH__PREVIOUS_SERVICE_TOKEN")
            .with_context(|| format!("{name}: no previous token"))?;
        ensure!(
            previous["secretKeyRef"]["key"] == "previous"
                && previous["secretKeyRef"]["optional"] == true,
            "{name}: {previous}"
        );
        support::check_settings(&docs, deployment)?;
    }
    Ok(())
}

#[test]
fn kubernetes_chart_config_sync_replicas_elect_a_leader_with_a_lease_of_their_own() -> Result<()> {
    let helm = Helm::find()?;
    // One replica: no election, no API access.
    let docs = helm.template(&[&scenario("default")])?;
    let single = object(&docs, "Deployment", "execenv-config-sync")?;
    let container = &single["spec"]["template"]["spec"]["containers"][0];
    ensure!(env_value(container, "EXECENV_ELECTION__LEASE").is_none());
    ensure!(single["spec"]["template"]["spec"]["automountServiceAccountToken"] == false);
    ensure!(object(&docs, "Role", "execenv-config-sync").is_err());

    let three = values_file(&json!({"config-sync": {"replicas": 3}}))?;
    let docs = helm.template(&[&scenario("default"), three.path()])?;
    let deployment = object(&docs, "Deployment", "execenv-config-sync")?;
    let pod = &deployment["spec"]["template"]["spec"];
    ensure!(deployment["spec"]["replicas"] == 3, "{deployment}");
    ensure!(
        pod["serviceAccountName"] == "execenv-config-sync"
            && pod["automountServiceAccountToken"] == true,
        "{pod}"
    );
    let container = &pod["containers"][0];
    ensure!(env_value(container, "EXECENV_ELECTION__LEASE") == Some(&json!("execenv-config-sync")));
    ensure!(env_value(container, "EXECENV_ELECTION__NAMESPACE") == Some(&json!("execenv")));
    // The Role: create a Lease, and read and renew only this one.
    let role = object(&docs, "Role", "execenv-config-sync")?;
    ensure!(
        role["rules"]
            == json!([
                {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
                {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
                 "resourceNames": ["execenv-config-sync"], "verbs": ["get", "patch", "update"]},
            ]),
        "{role}"
    );
    let binding = object(&docs, "RoleBinding", "execenv-config-sync")?;
    ensure!(
        binding["subjects"]
            == json!([{"kind": "ServiceAccount", "name": "execenv-config-sync", "namespace": "execenv"}])
            && binding["roleRef"]["name"] == "execenv-config-sync",
        "{binding}"
    );
    object(&docs, "ServiceAccount", "execenv-config-sync")?;
    support::check_settings(&docs, deployment)?;
    Ok(())
}

#[test]
fn kubernetes_chart_mounts_the_environments_into_config_sync_without_a_checksum() -> Result<()> {
    let docs = Helm::find()?.template(&[&scenario("default")])?;
    let listed = config_map_entry(&docs, "execenv-execution-environments", "environments.yaml")
        .context("no environments.yaml")?;
    let values: Value = documents(&std::fs::read_to_string(scenario("default"))?)?.remove(0);
    ensure!(
        documents(listed)?[0] == values["executionEnvironments"],
        "environments.yaml is not the executionEnvironments list:\n{listed}"
    );

    // config-sync reads the mounted file, and its own validation accepts it.
    let sync = object(&docs, "Deployment", "execenv-config-sync")?;
    let path = config_map_entry(&docs, "execenv-config-sync-sources", "file")
        .context("config-sync is not told to read the declarative file")?;
    ensure!(
        mounted_file(&docs, sync, path) == Some(listed),
        "{path} is not the environments file in config-sync's pod"
    );
    let mount = sync["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "execution-environments")
        .context("no execution-environments mount")?;
    ensure!(
        mount["readOnly"] == true && mount.get("subPath").is_none(),
        "{mount}"
    );
    let (valid, report) = support::config_sync_validate(listed, false)?;
    ensure!(valid && report.contains("2 definitions valid"), "{report}");

    // No Deployment carries a checksum of the environments: only the launcher's own configuration.
    for deployment in objects(&docs, "Deployment") {
        let annotations = &deployment["spec"]["template"]["metadata"]["annotations"];
        let keys: Vec<&String> = annotations
            .as_object()
            .map(|a| a.keys().collect())
            .unwrap_or_default();
        let expected: Vec<&str> = if deployment["metadata"]["name"] == "execenv-launcher" {
            vec!["checksum/config"]
        } else {
            vec![]
        };
        ensure!(
            keys == expected,
            "{}: pod annotations {keys:?}",
            deployment["metadata"]["name"]
        );
    }
    Ok(())
}

#[test]
fn kubernetes_chart_renders_the_legacy_runtime_yaml_only_without_environments() -> Result<()> {
    let helm = Helm::find()?;
    // Only the legacy value (a map): the runtime.yaml is rendered and config-sync points at it.
    let docs = helm.template(&[&scenario("legacy-runtime-yaml")])?;
    let runtime = config_map_entry(&docs, "execenv-legacy-runtime", "runtime.yaml")
        .context("no runtime.yaml")?;
    let sync = object(&docs, "Deployment", "execenv-config-sync")?;
    let path = config_map_entry(&docs, "execenv-config-sync-sources", "legacy_file")
        .context("config-sync is not told to read the legacy file")?;
    ensure!(mounted_file(&docs, sync, path) == Some(runtime));
    ensure!(config_map_entry(&docs, "execenv-config-sync-sources", "file").is_none());
    ensure!(
        objects(&docs, "ConfigMap")
            .iter()
            .all(|c| c["metadata"]["name"] != "execenv-execution-environments")
    );
    let (valid, report) = support::config_sync_validate(runtime, true)?;
    ensure!(valid && report.contains("1 definition valid"), "{report}");

    // The legacy value as a string is rendered verbatim.
    let text = "name: Kubernetes\nimages:\n  - name: ghcr.io/acme/r:4.4\n    r:\n      installations:\n        - path: /opt/R/4.4.1/bin/R\n          version: 4.4.1\n";
    let string = values_file(
        &json!({"global": {"serviceToken": {"value": "t"}}, "launcher": {"customRuntimeYaml": text}}),
    )?;
    let docs = helm.template(&[string.path()])?;
    let runtime = config_map_entry(&docs, "execenv-legacy-runtime", "runtime.yaml");
    ensure!(runtime.map(str::trim) == Some(text.trim()), "{runtime:?}");

    // Both set: only the declarative list is used.
    let docs = helm.template(&[&scenario("legacy-and-declarative")])?;
    ensure!(config_map_entry(&docs, "execenv-legacy-runtime", "runtime.yaml").is_none());
    ensure!(config_map_entry(&docs, "execenv-config-sync-sources", "legacy_file").is_none());
    ensure!(config_map_entry(&docs, "execenv-config-sync-sources", "file").is_some());
    ensure!(
        config_map_entry(&docs, "execenv-execution-environments", "environments.yaml").is_some()
    );
    Ok(())
}

#[tokio::test]
async fn kubernetes_chart_notes_say_which_environments_file_is_used() -> Result<()> {
    let helm = Helm::find()?;
    let kubeconfig = execenv_e2e::testbed::testbed_kubeconfig()?;
    let notes_with = |name: &str, more: &[&str]| -> Result<String> {
        let values = scenario(name);
        let mut args = vec![
            "install",
            "execenv",
            CHART,
            "-n",
            "execenv",
            "--dry-run=client",
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "-f",
            values.to_str().unwrap(),
        ];
        args.extend(more);
        let run = helm.run(&args)?.ok("helm install --dry-run")?;
        Ok(run
            .stdout
            .split_once("NOTES:")
            .context("no NOTES")?
            .1
            .to_owned())
    };
    let notes = |name: &str| notes_with(name, &[]);
    let both = notes("legacy-and-declarative")?;
    ensure!(both.contains("Only the\ndeclarative executionEnvironments list is used; launcher.customRuntimeYaml is ignored"), "{both}");
    let legacy = notes("legacy-runtime-yaml")?;
    ensure!(
        legacy.contains("the DEPRECATED launcher.customRuntimeYaml")
            && !legacy.contains("is ignored"),
        "{legacy}"
    );
    let declarative = notes("default")?;
    ensure!(
        declarative
            .contains("Execution environments: 2 in the ConfigMap execenv-execution-environments"),
        "{declarative}"
    );
    // The gateway's address says https:// when it serves TLS.
    ensure!(
        declarative.contains(" http://127.0.0.1:3939/__api__") && !declarative.contains("https://"),
        "{declarative}"
    );
    let tls = notes_with("default", &["--set", "global.tls.enabled=true"])?;
    ensure!(
        tls.contains("--cacert <ca.crt> -H \"Authorization: Key <key>\" https://127.0.0.1:3939/")
            && tls.contains("The gateway serves HTTPS only (global.tls)"),
        "{tls}"
    );
    Ok(())
}

#[tokio::test]
async fn kubernetes_chart_installs_into_the_testbed_with_every_object_accepted() -> Result<()> {
    let helm = Helm::find()?;
    execenv_e2e::servicemonitor::ensure_crd().await?;
    let options = values_file(&json!({
        "global": {"podDisruptionBudget": {"enabled": true}, "networkPolicy": {"enabled": true},
            "serviceMonitor": {"enabled": true},
            "storage": {"data": {"create": true}, "packageCache": {"create": true}}},
        "dashboards": {"enabled": true},
    }))?;
    let release = Installed::install(
        &helm,
        "chart-install",
        &[&scenario("default"), options.path()],
    )
    .await?;
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
    let mut kinds = BTreeMap::new();
    for doc in &docs {
        release.assert_exists(doc).await?;
        *kinds
            .entry(doc["kind"].as_str().unwrap_or_default().to_owned())
            .or_insert(0) += 1;
    }
    let dashboards = std::fs::read_dir(repo().join(CHART).join("dashboards"))?
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "json"))
        })
        .count();
    for (kind, count) in [
        ("Deployment", 6),
        ("Service", 6),
        ("PodDisruptionBudget", 6),
        ("NetworkPolicy", 6),
        ("ServiceMonitor", 6),
        ("ConfigMap", 4 + dashboards),
        ("Secret", 1),
        // The registry's, and the data and package-cache claims in the content namespace.
        ("PersistentVolumeClaim", 3),
        ("ServiceAccount", 1),
        ("Role", 1),
        ("RoleBinding", 1),
    ] {
        ensure!(
            kinds.get(kind) == Some(&count),
            "{kind}: {:?} of {kinds:?}",
            kinds.get(kind)
        );
    }
    // The launcher's Role is in the content namespace, bound to its ServiceAccount.
    let role = object(&docs, "Role", "execenv-launcher")?;
    ensure!(
        role["metadata"]["namespace"] == release.content_namespace.as_str(),
        "{role}"
    );
    for claim in ["execenv-data", "execenv-package-cache"] {
        let pvc = object(&docs, "PersistentVolumeClaim", claim)?;
        ensure!(
            pvc["metadata"]["namespace"] == release.content_namespace.as_str(),
            "{pvc}"
        );
    }
    release.uninstall().await
}

#[tokio::test]
async fn kubernetes_chart_install_stops_naming_a_claim_that_does_not_exist_and_its_namespace()
-> Result<()> {
    let helm = Helm::find()?;
    let release = Installed::prepare(&helm, "chart-missing").await?;
    let content = release.content_namespace.clone();
    // Neither volume is created, and the content namespace holds no claim.
    let none = release.helm_release(&helm, "install", &[&scenario("default")])?;
    // The data claim is created; the package cache's is still missing.
    let data = values_file(&json!({"global": {"storage": {"data": {"create": true}}}}))?;
    let no_cache = release.helm_release(&helm, "install", &[&scenario("default"), data.path()])?;
    release.delete().await?;

    ensure!(!none.ok, "helm install accepted a missing data claim");
    let expected = format!(
        "The PersistentVolumeClaim execenv-data (global.storage.data.claimName, for bundles and work \
         folders) does not exist in namespace {content}. Create it there, or set \
         global.storage.data.create=true to let the chart create it."
    );
    ensure!(none.stderr.contains(&expected), "{}", none.stderr);
    ensure!(
        !no_cache.ok,
        "helm install accepted a missing package-cache claim"
    );
    let expected = format!(
        "The PersistentVolumeClaim execenv-package-cache (global.storage.packageCache.claimName, for \
         package caches) does not exist in namespace {content}. Create it there, or set \
         global.storage.packageCache.create=true to let the chart create it."
    );
    ensure!(no_cache.stderr.contains(&expected), "{}", no_cache.stderr);
    // The gateway's own claim, in the release namespace, was looked up and found.
    ensure!(
        !no_cache.stderr.contains(GATEWAY_CLAIM),
        "{}",
        no_cache.stderr
    );
    Ok(())
}

#[tokio::test]
async fn kubernetes_chart_upgrade_adding_an_environment_changes_the_configmap_not_the_pods()
-> Result<()> {
    let helm = Helm::find()?;
    // The default scenario without its fixed token: the chart generates one on install.
    let mut values = documents(&std::fs::read_to_string(scenario("default"))?)?.remove(0);
    values["global"]["serviceToken"]
        .as_object_mut()
        .context("no global.serviceToken")?
        .remove("value");
    values["global"]["storage"] =
        json!({"data": {"create": true}, "packageCache": {"create": true}});
    let installed = values_file(&values)?;
    let release = Installed::install(&helm, "chart-upgrade", &[installed.path()]).await?;
    let secrets: Api<Secret> = Api::namespaced(release.client.clone(), &release.namespace);
    let token = || async {
        let secret = secrets.get("execenv-service-token").await?;
        anyhow::Ok(
            secret
                .data
                .unwrap_or_default()
                .remove("token")
                .context("no token")?
                .0,
        )
    };
    let token_before = token().await?;
    ensure!(
        token_before.len() == 48,
        "a {}-byte token",
        token_before.len()
    );
    let deployments: Api<Deployment> = Api::namespaced(release.client.clone(), &release.namespace);
    let snapshot = || async {
        let mut pods = BTreeMap::new();
        for d in deployments.list(&ListParams::default()).await? {
            let name = d.metadata.name.clone().unwrap_or_default();
            let template = serde_json::to_value(&d.spec.as_ref().context("no spec")?.template)?;
            pods.insert(name, (d.metadata.generation, template));
        }
        anyhow::Ok(pods)
    };
    let before = snapshot().await?;
    ensure!(before.len() == 6, "{:?}", before.keys());

    let mut environments = values["executionEnvironments"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    environments.push(json!({"name": "ghcr.io/acme/added:1.0", "title": "Added by the upgrade",
        "quarto": {"installations": [{"version": "1.6.40", "path": "/opt/quarto/1.6.40/bin/quarto"}]}}));
    values["executionEnvironments"] = Value::Array(environments.clone());
    let upgraded = values_file(&values)?;
    release.upgrade(&helm, &[upgraded.path()])?;

    let config_maps: Api<ConfigMap> = Api::namespaced(release.client.clone(), &release.namespace);
    let listed = config_maps.get("execenv-execution-environments").await?;
    let text = listed
        .data
        .as_ref()
        .and_then(|d| d.get("environments.yaml"))
        .context("no environments.yaml")?;
    ensure!(
        documents(text)?[0] == Value::Array(environments),
        "environments.yaml after the upgrade:\n{text}"
    );
    let after = snapshot().await?;
    for (name, (generation, template)) in &before {
        let (g, t) = after.get(name).with_context(|| format!("{name} is gone"))?;
        ensure!(
            g == generation,
            "{name}: generation {generation:?} became {g:?}"
        );
        ensure!(
            t == template,
            "{name}: the pod template changed:\nbefore {template}\nafter {t}"
        );
    }
    ensure!(
        token().await? == token_before,
        "the upgrade changed the generated service token"
    );
    release.uninstall().await
}
