//! The job base template: a Job-shaped YAML file, like Connect's `DefaultResourceJobBase`, that
//! supplies what the launcher does not decide (nodeSelector, tolerations, affinity, extra labels
//! and annotations, extra env, volumes and mounts, sidecars, …).
//!
//! Merge order — the launcher's Job is laid OVER the template, field by field:
//!
//! 1. **Objects** (metadata, spec, pod spec, labels, annotations, nodeSelector, securityContext, …)
//!    are merged key by key, recursively.
//! 2. **Scalars**: ours win wherever we set one; the template's value stays where we set none
//!    (e.g. `serviceAccountName` when neither the request nor the settings name one).
//! 3. **Lists** are appended: our entries first, then the template's. An entry of the template
//!    that has the same key as one of ours is merged into ours (ours win) instead of being
//!    repeated — the key is `mountPath` for volume mounts and `name` for everything else that has
//!    one (containers, init containers, volumes, env, imagePullSecrets). So a template container
//!    named `execenv-content` adds its env, mounts and resources to the content container, and a
//!    template env variable with one of our names is overridden by ours. Entries without a key
//!    (tolerations) are appended unless equal to one of ours.
//! 4. **Argument lists** (`command`, `args`) are never merged: ours replace the template's.
//!
//! A template written for Posit Connect names its containers as Connect's job templates do:
//! `connect-content` (the content container) and `connect-content-init` (the runtime init
//! container). They are read as execenv's [`CONTENT_CONTAINER_NAME`] and [`INIT_CONTAINER_NAME`],
//! so their resources, env and volume mounts merge into ours (and their `image`, `command` and
//! `args` lose to ours).
//!
//! The template's `status` is dropped. A template is checked when loaded: it must be a
//! `batch/v1` `Job`; no container in it may mount a path the launcher reserves; a container
//! other than ours must have an `image` (it would be a second container of every pod, which the
//! API server refuses without one); and each of ours may appear once, under either name.

use std::path::Path;

use execenv_core::{Error, FieldViolation};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Container;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::job_spec::{CONTENT_CONTAINER_NAME, INIT_CONTAINER_NAME, RESERVED_PATHS, reserved_path};

/// Connect's name of the content container in its job templates.
pub const CONNECT_CONTENT_CONTAINER: &str = "connect-content";
/// Connect's name of the runtime init container in its job templates.
pub const CONNECT_INIT_CONTAINER: &str = "connect-content-init";

/// A validated job base template, ready to be merged under every Job.
#[derive(Debug, Clone, PartialEq)]
pub struct JobTemplate {
    /// The template as JSON (normalised through the typed Job, without `status`).
    base: Value,
}

/// The two fields every Kubernetes object must declare.
#[derive(Deserialize)]
struct TypeMeta {
    #[serde(rename = "apiVersion")]
    api_version: Option<String>,
    kind: Option<String>,
}

impl JobTemplate {
    /// Parses and checks a template written in YAML (or JSON); `source` names it in errors.
    pub fn from_yaml(source: &str, text: &str) -> Result<JobTemplate, Error> {
        let invalid = |why: String| {
            Error::invalid_field(
                source,
                format!("{why}; the job base template must be a batch/v1 Job in YAML"),
            )
        };
        let meta: TypeMeta = serde_saphyr::from_str(text).map_err(|e| invalid(e.to_string()))?;
        if meta.api_version.as_deref() != Some("batch/v1") || meta.kind.as_deref() != Some("Job") {
            return Err(invalid(format!(
                "apiVersion is {:?} and kind is {:?}, not \"batch/v1\" and \"Job\"",
                meta.api_version.unwrap_or_default(),
                meta.kind.unwrap_or_default()
            )));
        }
        let job: Job = serde_saphyr::from_str(text).map_err(|e| invalid(e.to_string()))?;
        JobTemplate::from_job(source, job)
    }

    /// Reads and checks the template file at `path`, named by the `kubernetes.job_template` setting.
    pub fn read(path: &Path) -> Result<JobTemplate, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::invalid_field(
                "kubernetes.job_template",
                format!("cannot read the job template {}: {e}", path.display()),
            )
        })?;
        JobTemplate::from_yaml(&path.display().to_string(), &text)
    }

    /// Checks a template given as a typed Job; `source` names it in errors.
    pub fn from_job(source: &str, mut job: Job) -> Result<JobTemplate, Error> {
        job.status = None;
        let mut violations = Vec::new();
        if let Some(pod) = job.spec.as_mut().and_then(|s| s.template.spec.as_mut()) {
            let inits = pod.init_containers.iter_mut().flatten();
            violations.extend(adopt(
                source,
                "initContainers",
                inits,
                INIT_CONTAINER_NAME,
                CONNECT_INIT_CONTAINER,
            ));
            let containers = pod.containers.iter_mut();
            violations.extend(adopt(
                source,
                "containers",
                containers,
                CONTENT_CONTAINER_NAME,
                CONNECT_CONTENT_CONTAINER,
            ));
        }
        let pod = job.spec.as_ref().and_then(|s| s.template.spec.as_ref());
        if let Some(pod) = pod {
            let containers = pod
                .init_containers
                .iter()
                .flatten()
                .map(|c| ("initContainers", c))
                .chain(pod.containers.iter().map(|c| ("containers", c)));
            for (list, c) in containers {
                for m in c.volume_mounts.iter().flatten() {
                    if let Some(reserved) = reserved_path(&m.mount_path) {
                        violations.push(FieldViolation::new(
                            format!("{source}: spec.template.spec.{list}[{}].volumeMounts", c.name),
                            format!(
                                "volume {} is mounted at {:?}, inside {reserved}, which the launcher reserves \
                                 (reserved: {}); mount it elsewhere",
                                m.name,
                                m.mount_path,
                                RESERVED_PATHS.join(", ")
                            ),
                        ));
                    }
                }
            }
        }
        if !violations.is_empty() {
            return Err(Error::invalid(violations));
        }
        let base = serde_json::to_value(&job).map_err(|e| {
            Error::internal(format!(
                "job base template {source} does not serialise: {e}"
            ))
        })?;
        Ok(JobTemplate { base })
    }

    /// Lays `ours` over the template by the rules in the module documentation.
    pub fn merge_under(&self, ours: &Job) -> Result<Job, Error> {
        let ours = serde_json::to_value(ours)
            .map_err(|e| Error::internal(format!("the launch's Job does not serialise: {e}")))?;
        let merged = merge(self.base.clone(), ours, None);
        serde_json::from_value(merged).map_err(|e| {
            Error::internal(format!(
                "the Job merged with the job base template is not a Job ({e}); check the template's field types"
            ))
        })
    }
}

/// Renames Connect's `connect` container of one list to execenv's `ours`, and finds the list's
/// problems: our container twice (under either name), or another container without an image.
fn adopt<'a>(
    source: &str,
    list: &str,
    containers: impl Iterator<Item = &'a mut Container>,
    ours: &str,
    connect: &str,
) -> Vec<FieldViolation> {
    let mut violations = Vec::new();
    let mut seen = 0;
    for c in containers {
        if c.name == connect {
            c.name = ours.to_owned();
        }
        if c.name == ours {
            seen += 1;
            if seen == 2 {
                violations.push(FieldViolation::new(
                    format!("{source}: spec.template.spec.{list}"),
                    format!(
                        "the launcher's container is given twice ({ours} and {connect} are the same container); keep one"
                    ),
                ));
            }
        } else if c.image.as_deref().is_none_or(str::is_empty) {
            violations.push(FieldViolation::new(
                format!("{source}: spec.template.spec.{list}[{}]", c.name),
                format!(
                    "container {} has no image, and every pod would get it as a container of its own; give it an \
                     image, or name it {ours} (or Connect's {connect}) to add its settings to the launcher's",
                    c.name
                ),
            ));
        }
    }
    violations
}

/// `ours` laid over `base`; `field` is the key under which both sit (it decides how lists merge).
fn merge(base: Value, ours: Value, field: Option<&str>) -> Value {
    match (base, ours) {
        (base, Value::Null) => base,
        (Value::Object(base), Value::Object(ours)) => Value::Object(merge_objects(base, ours)),
        (Value::Array(base), Value::Array(ours)) if !matches!(field, Some("command" | "args")) => {
            Value::Array(merge_lists(base, ours, field == Some("volumeMounts")))
        }
        (_, ours) => ours,
    }
}

fn merge_objects(mut base: Map<String, Value>, ours: Map<String, Value>) -> Map<String, Value> {
    for (key, value) in ours {
        let merged = match base.remove(&key) {
            Some(b) => merge(b, value, Some(&key)),
            None => value,
        };
        base.insert(key, merged);
    }
    base
}

/// Our entries (each merged with the template's entry of the same key), then the template's
/// remaining entries.
fn merge_lists(base: Vec<Value>, ours: Vec<Value>, by_mount_path: bool) -> Vec<Value> {
    let key_of = |v: &Value| -> Option<String> {
        let key = if by_mount_path { "mountPath" } else { "name" };
        v.get(key).and_then(Value::as_str).map(str::to_string)
    };
    let mut base: Vec<Option<Value>> = base.into_iter().map(Some).collect();
    let mut out = Vec::with_capacity(base.len() + ours.len());
    for entry in ours {
        let twin = key_of(&entry).and_then(|k| {
            base.iter_mut()
                .find(|b| b.as_ref().and_then(key_of).as_deref() == Some(k.as_str()))
                .and_then(Option::take)
        });
        out.push(match twin {
            Some(b) => merge(b, entry, None),
            None => entry,
        });
    }
    for entry in base.into_iter().flatten() {
        if !out.contains(&entry) {
            out.push(entry);
        }
    }
    out
}

#[cfg(test)]
#[path = "template_tests.rs"]
mod tests;
