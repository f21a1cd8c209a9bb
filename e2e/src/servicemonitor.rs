//! What the Prometheus Operator does with a ServiceMonitor, done by the tests: the objects read
//! from the API server and each endpoint turned into a Prometheus scrape job that discovers
//! EndpointSlices through the API server and keeps only the endpoints of the Services the
//! monitor selects, on the port it names — the relabelling the operator (v0.90,
//! `generateServiceMonitorConfig`) writes, for the fields the chart uses. A field this
//! translation does not know is an error, never silently ignored.

use std::path::Path;

use anyhow::{Context, Result, bail};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, PostParams};
use kube::runtime::wait::{await_condition, conditions};
use serde_json::{Value, json};

use crate::testbed::testbed_client;

/// The endpoint fields translated; any other is refused.
const ENDPOINT_FIELDS: [&str; 6] = [
    "port",
    "path",
    "interval",
    "scrapeTimeout",
    "scheme",
    "honorLabels",
];
/// The spec fields translated; any other is refused.
const SPEC_FIELDS: [&str; 4] = ["selector", "namespaceSelector", "endpoints", "jobLabel"];

/// The ServiceMonitors of `namespace`, as JSON objects, sorted by name.
pub async fn list(client: &Client, namespace: &str) -> Result<Vec<Value>> {
    let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(
        "monitoring.coreos.com",
        "v1",
        "ServiceMonitor",
    ));
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &resource);
    let mut monitors = api
        .list(&ListParams::default())
        .await
        .with_context(|| format!("cannot list the ServiceMonitors of {namespace}"))?
        .items
        .into_iter()
        .map(serde_json::to_value)
        .collect::<Result<Vec<Value>, _>>()?;
    monitors.sort_by(|a, b| {
        a["metadata"]["name"]
            .as_str()
            .cmp(&b["metadata"]["name"].as_str())
    });
    Ok(monitors)
}

/// A Prometheus configuration scraping what `monitors` select, discovering through the cluster
/// of `kubeconfig`; `interval` is the global scrape and evaluation interval (an endpoint's own
/// interval wins).
pub fn prometheus_config(monitors: &[Value], kubeconfig: &Path, interval: &str) -> Result<String> {
    let mut jobs = Vec::new();
    for monitor in monitors {
        jobs.extend(scrape_jobs(monitor, kubeconfig)?);
    }
    let config = json!({
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "scrape_configs": jobs,
    });
    // JSON is YAML: the file Prometheus reads.
    Ok(serde_json::to_string_pretty(&config)?)
}

/// One scrape job per endpoint of `monitor`, as the operator names and writes them.
pub fn scrape_jobs(monitor: &Value, kubeconfig: &Path) -> Result<Vec<Value>> {
    let namespace = monitor["metadata"]["namespace"]
        .as_str()
        .context("a ServiceMonitor without a namespace")?;
    let name = monitor["metadata"]["name"]
        .as_str()
        .context("a ServiceMonitor without a name")?;
    let spec = &monitor["spec"];
    refuse_unknown(
        spec,
        &SPEC_FIELDS,
        &format!("ServiceMonitor {namespace}/{name}"),
    )?;
    let selector = &spec["selector"];
    refuse_unknown(selector, &["matchLabels"], &format!("{name}: selector"))?;
    let mut sd =
        json!({"role": "endpointslice", "kubeconfig_file": kubeconfig.display().to_string()});
    if let Some(names) = namespaces(spec, namespace)? {
        sd["namespaces"] = json!({"names": names});
    }
    let endpoints = spec["endpoints"]
        .as_array()
        .with_context(|| format!("ServiceMonitor {name} has no endpoints"))?;
    let mut jobs = Vec::new();
    for (i, endpoint) in endpoints.iter().enumerate() {
        refuse_unknown(
            endpoint,
            &ENDPOINT_FIELDS,
            &format!("{name}: endpoints[{i}]"),
        )?;
        let port = endpoint["port"]
            .as_str()
            .with_context(|| format!("{name}: endpoints[{i}] names no port"))?;
        let mut job = json!({
            "job_name": format!("serviceMonitor/{namespace}/{name}/{i}"),
            "honor_labels": endpoint["honorLabels"].as_bool().unwrap_or(false),
            "kubernetes_sd_configs": [sd],
        });
        for (field, key) in [
            ("interval", "scrape_interval"),
            ("scrapeTimeout", "scrape_timeout"),
            ("path", "metrics_path"),
            ("scheme", "scheme"),
        ] {
            if let Some(value) = endpoint[field].as_str() {
                job[key] = json!(value);
            }
        }
        job["relabel_configs"] = Value::Array(relabelling(selector, spec, port)?);
        jobs.push(job);
    }
    Ok(jobs)
}

/// The namespaces to discover in: the selector's names, none (every namespace) for `any`, else
/// the monitor's own.
fn namespaces(spec: &Value, own: &str) -> Result<Option<Vec<String>>> {
    let selector = &spec["namespaceSelector"];
    refuse_unknown(selector, &["any", "matchNames"], "namespaceSelector")?;
    if selector["any"] == true {
        return Ok(None);
    }
    match selector["matchNames"].as_array() {
        Some(names) => Ok(Some(
            names
                .iter()
                .map(|n| n.as_str().map(str::to_owned).context("a namespace name"))
                .collect::<Result<_>>()?,
        )),
        None => Ok(Some(vec![own.to_owned()])),
    }
}

/// The operator's relabelling for an endpoint on a named port with the EndpointSlice role.
fn relabelling(selector: &Value, spec: &Value, port: &str) -> Result<Vec<Value>> {
    let mut rules =
        vec![json!({"source_labels": ["job"], "target_label": "__tmp_prometheus_job_name"})];
    // Only the Services the monitor selects (the operator sorts the labels; a JSON object from
    // serde_json is sorted already). Like the operator, the value goes into the regex as it is.
    if let Some(labels) = selector["matchLabels"].as_object() {
        for (key, value) in labels {
            let value = value.as_str().context("a matchLabels value")?;
            let label = sanitize(key);
            rules.push(json!({
                "action": "keep",
                "source_labels": [format!("__meta_kubernetes_service_label_{label}"), format!("__meta_kubernetes_service_labelpresent_{label}")],
                "regex": format!("({value});true"),
            }));
        }
    }
    // Only the port the endpoint names.
    rules.push(json!({"action": "keep", "source_labels": ["__meta_kubernetes_endpointslice_port_name"], "regex": port}));
    let target = json!([
        "__meta_kubernetes_endpointslice_address_target_kind",
        "__meta_kubernetes_endpointslice_address_target_name"
    ]);
    for (kind, label) in [("Node", "node"), ("Pod", "pod")] {
        rules.push(json!({
            "source_labels": target, "separator": ";", "regex": format!("{kind};(.*)"),
            "replacement": "${1}", "target_label": label,
        }));
    }
    for (meta, label) in [
        ("namespace", "namespace"),
        ("service_name", "service"),
        ("pod_name", "pod"),
        ("pod_container_name", "container"),
    ] {
        rules.push(
            json!({"source_labels": [format!("__meta_kubernetes_{meta}")], "target_label": label}),
        );
    }
    // Pods that ended are not scraped.
    rules.push(json!({"action": "drop", "source_labels": ["__meta_kubernetes_pod_phase"], "regex": "(Failed|Succeeded)"}));
    rules.push(json!({"source_labels": ["__meta_kubernetes_service_name"], "target_label": "job", "replacement": "${1}"}));
    if let Some(label) = spec["jobLabel"].as_str() {
        rules.push(json!({
            "source_labels": [format!("__meta_kubernetes_service_label_{}", sanitize(label))],
            "target_label": "job", "regex": "(.+)", "replacement": "${1}",
        }));
    }
    rules.push(json!({"target_label": "endpoint", "replacement": port}));
    Ok(rules)
}

/// A Kubernetes label name as a Prometheus label name: every other character becomes `_`.
fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Fails naming the first field of `object` that is not in `known`.
fn refuse_unknown(object: &Value, known: &[&str], place: &str) -> Result<()> {
    if let Some(fields) = object.as_object()
        && let Some(field) = fields.keys().find(|k| !known.contains(&k.as_str()))
    {
        bail!("{place}: the field {field:?} is not translated to Prometheus (only {known:?})");
    }
    Ok(())
}

/// Creates the real ServiceMonitor CustomResourceDefinition (prometheus-operator's, fetched by
/// `e2e/infra/chart servicemonitor-crd`) unless it exists, and waits until the API server serves
/// it.
pub async fn ensure_crd() -> Result<()> {
    let client = testbed_client().await?;
    let path = crate::chart::infra_path("chart", "servicemonitor-crd")?;
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let crd: CustomResourceDefinition = serde_saphyr::from_str(&text)
        .with_context(|| format!("{} is not a CRD", path.display()))?;
    let name = crd.metadata.name.clone().context("the CRD has no name")?;
    let crds: Api<CustomResourceDefinition> = Api::all(client);
    match crds.create(&PostParams::default(), &crd).await {
        Ok(_) => {}
        // Another test created it first: the same definition.
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        Err(e) => return Err(e).with_context(|| format!("cannot create the CRD {name}")),
    }
    tokio::time::timeout(
        std::time::Duration::from_secs(30),
        await_condition(crds, &name, conditions::is_crd_established()),
    )
    .await
    .with_context(|| format!("the CRD {name} was not established within 30 s"))??;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The selector's ServiceMonitor as the chart renders it.
    fn selector_monitor() -> Value {
        json!({
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "ServiceMonitor",
            "metadata": {"name": "execenv-selector", "namespace": "obs-1",
                "labels": {"app.kubernetes.io/name": "selector"}},
            "spec": {
                "namespaceSelector": {"matchNames": ["obs-1"]},
                "selector": {"matchLabels": {
                    "app.kubernetes.io/instance": "execenv",
                    "app.kubernetes.io/name": "selector",
                }},
                "endpoints": [{"port": "metrics", "path": "/metrics", "interval": "1s", "scrapeTimeout": "1s"}],
            },
        })
    }

    #[test]
    fn a_service_monitor_becomes_the_operators_endpointslice_job() {
        let jobs = scrape_jobs(&selector_monitor(), Path::new("/k/config")).unwrap();
        let expected = json!([{
            "job_name": "serviceMonitor/obs-1/execenv-selector/0",
            "honor_labels": false,
            "kubernetes_sd_configs": [{"role": "endpointslice", "kubeconfig_file": "/k/config",
                "namespaces": {"names": ["obs-1"]}}],
            "scrape_interval": "1s",
            "scrape_timeout": "1s",
            "metrics_path": "/metrics",
            "relabel_configs": [
                {"source_labels": ["job"], "target_label": "__tmp_prometheus_job_name"},
                {"action": "keep", "source_labels": ["__meta_kubernetes_service_label_app_kubernetes_io_instance", "__meta_kubernetes_service_labelpresent_app_kubernetes_io_instance"], "regex": "(execenv);true"},
                {"action": "keep", "source_labels": ["__meta_kubernetes_service_label_app_kubernetes_io_name", "__meta_kubernetes_service_labelpresent_app_kubernetes_io_name"], "regex": "(selector);true"},
                {"action": "keep", "source_labels": ["__meta_kubernetes_endpointslice_port_name"], "regex": "metrics"},
                {"source_labels": ["__meta_kubernetes_endpointslice_address_target_kind", "__meta_kubernetes_endpointslice_address_target_name"], "separator": ";", "regex": "Node;(.*)", "replacement": "${1}", "target_label": "node"},
                {"source_labels": ["__meta_kubernetes_endpointslice_address_target_kind", "__meta_kubernetes_endpointslice_address_target_name"], "separator": ";", "regex": "Pod;(.*)", "replacement": "${1}", "target_label": "pod"},
                {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
                {"source_labels": ["__meta_kubernetes_service_name"], "target_label": "service"},
                {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
                {"source_labels": ["__meta_kubernetes_pod_container_name"], "target_label": "container"},
                {"action": "drop", "source_labels": ["__meta_kubernetes_pod_phase"], "regex": "(Failed|Succeeded)"},
                {"source_labels": ["__meta_kubernetes_service_name"], "target_label": "job", "replacement": "${1}"},
                {"target_label": "endpoint", "replacement": "metrics"},
            ],
        }]);
        assert_eq!(Value::Array(jobs), expected);
    }

    #[test]
    fn without_a_namespace_selector_the_monitors_own_namespace_is_searched() {
        let mut monitor = selector_monitor();
        monitor["spec"]
            .as_object_mut()
            .unwrap()
            .remove("namespaceSelector");
        let jobs = scrape_jobs(&monitor, Path::new("/k")).unwrap();
        assert_eq!(
            jobs[0]["kubernetes_sd_configs"][0]["namespaces"],
            json!({"names": ["obs-1"]})
        );
        monitor["spec"]["namespaceSelector"] = json!({"any": true});
        let jobs = scrape_jobs(&monitor, Path::new("/k")).unwrap();
        assert_eq!(jobs[0]["kubernetes_sd_configs"][0].get("namespaces"), None);
    }

    #[test]
    fn fields_that_are_not_translated_are_refused() {
        let mut monitor = selector_monitor();
        monitor["spec"]["endpoints"][0]["relabelings"] = json!([]);
        let err = scrape_jobs(&monitor, Path::new("/k")).unwrap_err();
        assert!(err.to_string().contains("\"relabelings\""), "{err}");
        let mut monitor = selector_monitor();
        monitor["spec"]["selector"]["matchExpressions"] = json!([]);
        assert!(scrape_jobs(&monitor, Path::new("/k")).is_err());
    }
}
