//! What a launch's Job and pods say about it: pure functions, no I/O.
//!
//! [`observe`] turns the latest Job and pods of one launch into an [`Observation`]; [`recover`]
//! rebuilds a whole [`Launch`] from them after a launcher restart (or when a repeated Launch meets
//! the Job it made before). The rules, first match wins:
//!
//! | what the cluster shows | state | reason |
//! |---|---|---|
//! | Job condition `Complete` (or `SuccessCriteriaMet`) True | SUCCEEDED, exit 0 | `Completed` |
//! | Job condition `Failed` (or `FailureTarget`) True | FAILED, the content container's exit code | `OOMKilled` when the content container was killed for memory, else the condition's (`BackoffLimitExceeded`, `DeadlineExceeded`) |
//! | Job deleted, or being deleted, by our Cancel | CANCELLED | `Cancelled` |
//! | Job deleted, or being deleted, by anyone else | FAILED | `JobDeleted` |
//! | no pod yet | PENDING | `JobCreated` |
//! | pod Pending | PENDING | the waiting reason of the init or content container (`ImagePullBackOff`, `PodInitializing`, …), else the `PodScheduled` condition's (`Unschedulable`), else `Scheduled` / `Created` |
//! | pod Running | RUNNING | `Running` |
//! | pod Succeeded or Failed, Job not yet finished | RUNNING, with the exit code | `ContainerExited` |
//!
//! `FailureTarget` and `SuccessCriteriaMet` are the Job controller's early verdicts: it adds them
//! first and the final `Failed` / `Complete` once every pod has stopped.
//!
//! Every observation also carries the [`Milestones`] seen: the Job's `creationTimestamp`, what the
//! newest pod shows ([`pod_milestones`]), and — when the content started but its container's end
//! was not seen — the time of the Job's final condition as its end.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use execenv_core::{Error, Language};
use k8s_openapi::api::batch::v1::{Job, JobCondition};
use k8s_openapi::api::core::v1::{ContainerStatus, Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::phases::{chrono_time, content_status, pod_milestones};
use crate::job_spec::{
    ANNOTATION_BUNDLE_ID, ANNOTATION_IMAGE, ANNOTATION_VERSION_PREFIX, CONTENT_CONTAINER_NAME,
    JobSettings, LABEL_COMPONENT, LABEL_CONTENT_GUID, LABEL_ENVIRONMENT_GUID, LABEL_LAUNCH_ID,
    LaunchKind, build_job,
};
use crate::launch::{BackendKind, Installation, Launch, Milestones, Observation, Plan, State};

/// Annotation: the environment's title, to answer with after a restart.
pub const ANNOTATION_ENVIRONMENT_TITLE: &str = "execenv.io/environment-title";
/// Annotation: how the selector chose the environment.
pub const ANNOTATION_SELECTED_BY: &str = "execenv.io/selected-by";
/// Annotation suffix of each installation's path: `execenv.io/python-path`, … (the version is in
/// `execenv.io/python-version`, set by the Job builder).
pub const ANNOTATION_PATH_SUFFIX: &str = "-path";

/// Annotation: the user guid of who asked for the launch (absent when a service asked), so that
/// ownership survives a launcher restart.
pub const ANNOTATION_OWNER: &str = "execenv.io/owner";

/// The message of a launch we cancelled.
pub const CANCELLED_MESSAGE: &str = "cancelled on request; the Job and its pod are deleted";

/// Everything known about one launch in the cluster.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// The latest version of the Job (for a deleted Job: the last one seen).
    pub job: &'a Job,
    /// Whether the Job is gone from the API server.
    pub deleted: bool,
    /// Its pods (any order).
    pub pods: &'a [&'a Pod],
    /// Whether the launcher deleted it on a Cancel call.
    pub cancelled_by_us: bool,
}

/// The launch's state as the Job and its pods show it, with the milestones they show.
pub fn observe(facts: &Facts<'_>) -> Observation {
    let pod = newest(facts.pods);
    verdict(facts, pod).with_milestones(milestones(facts.job, pod))
}

/// The milestones of the Job and of its newest pod.
fn milestones(job: &Job, pod: Option<&Pod>) -> Milestones {
    let mut seen = pod.map(pod_milestones).unwrap_or_default();
    seen.job_created = job.metadata.creation_timestamp.as_ref().map(chrono_time);
    if seen.content_started.is_some() && seen.content_finished.is_none() {
        // The Job finished before the watch brought the pod's last status.
        seen.content_finished = job_ended(job);
    }
    seen
}

fn verdict(facts: &Facts<'_>, pod: Option<&Pod>) -> Observation {
    let job = facts.job;
    let exit = pod.and_then(content_exit);
    if condition(job, &["Complete", "SuccessCriteriaMet"]).is_some() {
        return Observation::new(
            State::Succeeded,
            "Completed",
            "the content container exited 0",
        )
        .with_exit_code(Some(0));
    }
    if let Some(failed) = condition(job, &["Failed", "FailureTarget"]) {
        // A content container killed for memory says more than the Job's backoff limit.
        let reason = match &exit {
            Some(ContentExit {
                reason: Some(why), ..
            }) if why == OOM_KILLED => OOM_KILLED.to_owned(),
            _ => failed.reason.clone().unwrap_or_else(|| "Failed".to_owned()),
        };
        let mut parts: Vec<String> = failed.message.iter().cloned().collect();
        if let Some(exit) = &exit {
            parts.push(exit.describe());
        }
        return Observation::new(State::Failed, reason, parts.join("; "))
            .with_exit_code(exit.map(|e| e.code));
    }
    if facts.deleted || job.metadata.deletion_timestamp.is_some() {
        return deleted(
            "Job",
            &job.metadata,
            facts.cancelled_by_us,
            (CANCELLED_MESSAGE, " before it finished"),
        )
        .with_exit_code(exit.map(|e| e.code));
    }
    let Some(pod) = pod else {
        return Observation::new(
            State::Pending,
            "JobCreated",
            format!(
                "the Job {} exists; waiting for the Job controller to create its pod",
                qualified_name(job)
            ),
        );
    };
    let status = pod.status.as_ref();
    match status.and_then(|s| s.phase.as_deref()) {
        Some("Running") => Observation::new(
            State::Running,
            "Running",
            format!(
                "pod {} runs on node {}",
                name_of(pod),
                node_of(pod).unwrap_or("(unknown)")
            ),
        )
        .with_exit_code(exit.map(|e| e.code)),
        Some("Succeeded" | "Failed") => Observation::new(
            State::Running,
            "ContainerExited",
            format!(
                "{}; waiting for the Job controller to finish the Job",
                exit.as_ref().map_or_else(
                    || format!("pod {} has stopped", name_of(pod)),
                    ContentExit::describe
                )
            ),
        )
        .with_exit_code(exit.map(|e| e.code)),
        _ => {
            let (reason, message) = pending_reason(pod);
            Observation::new(State::Pending, reason, message)
        }
    }
}

/// A launch whose `kind` (Job or Deployment, `meta`) is deleted or being deleted: CANCELLED with
/// `cancelled` when our Cancel did it, else FAILED `<kind>Deleted` (it was deleted `when` …).
pub(super) fn deleted(
    kind: &str,
    meta: &ObjectMeta,
    cancelled_by_us: bool,
    (cancelled, when): (&str, &str),
) -> Observation {
    if cancelled_by_us {
        return Observation::new(State::Cancelled, "Cancelled", cancelled);
    }
    Observation::new(
        State::Failed,
        format!("{kind}Deleted"),
        format!(
            "the {kind} {} was deleted outside the launcher{when}; Cancel the launch instead of deleting its {kind}",
            qualified(meta)
        ),
    )
}

/// The whole launch, rebuilt from its Job (labels, annotations, creation time) and pods. None
/// when the Job carries no launch id (it was not made by the launcher). A Job already being
/// deleted counts as cancelled by us: the launcher stopped before it saw its own Cancel through.
pub fn recover(job: &Job, pods: &[&Pod]) -> Option<Launch> {
    let seen = observe(&Facts {
        job,
        deleted: false,
        pods,
        cancelled_by_us: job.metadata.deletion_timestamp.is_some(),
    });
    let started = match seen.state {
        State::Pending => None,
        _ => newest(pods).and_then(started_at),
    };
    let finished = seen.state.is_terminal().then(|| finished_at(job)).flatten();
    let template = job.spec.as_ref().map(|s| &s.template);
    recorded(&job.metadata, template, seen, started, finished)
}

/// A launch as the labels and annotations of its Job or Deployment (`meta`, with the pod
/// `template`) record it, in the state `seen`.
pub(super) fn recorded(
    meta: &ObjectMeta,
    template: Option<&PodTemplateSpec>,
    seen: Observation,
    started: Option<DateTime<Utc>>,
    finished: Option<DateTime<Utc>>,
) -> Option<Launch> {
    let labels = meta.labels.as_ref();
    let label = |key: &str| labels.and_then(|l| l.get(key)).cloned();
    let id = label(LABEL_LAUNCH_ID).filter(|id| !id.is_empty())?;
    let annotations = meta.annotations.clone().unwrap_or_default();
    let annotation = |key: &str| annotations.get(key).cloned();
    let image = annotation(ANNOTATION_IMAGE)
        .or_else(|| template.and_then(content_image))
        .unwrap_or_default();
    let created = meta
        .creation_timestamp
        .as_ref()
        .map_or_else(Utc::now, chrono_time);
    Some(Launch {
        id,
        kind: match label(LABEL_COMPONENT).as_deref() {
            Some("run") => LaunchKind::Run,
            Some("interactive") => LaunchKind::Interactive,
            _ => LaunchKind::Build,
        },
        content_guid: label(LABEL_CONTENT_GUID).unwrap_or_default(),
        bundle: annotation(ANNOTATION_BUNDLE_ID).unwrap_or_default(),
        state: seen.state,
        reason: seen.reason,
        message: seen.message,
        exit_code: seen.exit_code,
        environment_guid: label(LABEL_ENVIRONMENT_GUID).unwrap_or_default(),
        environment_title: annotation(ANNOTATION_ENVIRONMENT_TITLE)
            .unwrap_or_else(|| image.clone()),
        image,
        installations: installations(&annotations),
        selected_by: annotation(ANNOTATION_SELECTED_BY).unwrap_or_default(),
        backend: BackendKind::Kubernetes,
        job_name: meta.name.clone().unwrap_or_default(),
        namespace: meta.namespace.clone().unwrap_or_default(),
        created,
        submitted: Some(created),
        started,
        finished,
        milestones: seen.milestones,
        address: seen.address.unwrap_or_default(),
        restarts: seen.restarts.unwrap_or_default(),
        ready: None,
        owner_guid: annotation(ANNOTATION_OWNER).unwrap_or_default(),
    })
}

/// The Job of a launch: [`build_job`]'s, plus the annotations that let [`recover`] answer like the
/// original launch (the environment's title, how it was selected, each installation's path).
pub fn job_for(plan: &Plan, settings: &JobSettings) -> Result<Job, Error> {
    let mut job = build_job(
        &plan.request,
        &plan.environment,
        &plan.installations,
        settings,
    )?;
    job.metadata
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .extend(recovery_annotations(&plan.launch));
    Ok(job)
}

fn recovery_annotations(launch: &Launch) -> BTreeMap<String, String> {
    let mut out = BTreeMap::from([
        (
            ANNOTATION_ENVIRONMENT_TITLE.to_owned(),
            launch.environment_title.clone(),
        ),
        (
            ANNOTATION_SELECTED_BY.to_owned(),
            launch.selected_by.clone(),
        ),
    ]);
    if !launch.owner_guid.is_empty() {
        out.insert(ANNOTATION_OWNER.to_owned(), launch.owner_guid.clone());
    }
    for i in &launch.installations {
        out.insert(
            format!(
                "{ANNOTATION_VERSION_PREFIX}{}{ANNOTATION_PATH_SUFFIX}",
                i.language
            ),
            i.path.clone(),
        );
    }
    out
}

/// The launch id a Job or pod carries, if any.
pub fn launch_id(labels: Option<&BTreeMap<String, String>>) -> Option<&str> {
    labels
        .and_then(|l| l.get(LABEL_LAUNCH_ID))
        .map(String::as_str)
        .filter(|id| !id.is_empty())
}

fn installations(annotations: &BTreeMap<String, String>) -> Vec<Installation> {
    Language::ALL
        .into_iter()
        .filter_map(|language| {
            let key =
                |suffix: &str| format!("{ANNOTATION_VERSION_PREFIX}{}{suffix}", language.as_str());
            let version = annotations.get(&key("-version"))?;
            Some(Installation {
                language: language.as_str().to_owned(),
                version: version.clone(),
                path: annotations
                    .get(&key(ANNOTATION_PATH_SUFFIX))
                    .cloned()
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// The content container's end: its exit code and the kubelet's reason.
/// The kubelet's reason for a container the kernel killed at its memory limit.
const OOM_KILLED: &str = "OOMKilled";

#[derive(Debug, Clone, PartialEq, Eq)]
struct ContentExit {
    code: i32,
    reason: Option<String>,
}

impl ContentExit {
    fn describe(&self) -> String {
        match &self.reason {
            Some(reason) => format!("the content container exited {} ({reason})", self.code),
            None => format!("the content container exited {}", self.code),
        }
    }
}

fn condition<'a>(job: &'a Job, types: &[&str]) -> Option<&'a JobCondition> {
    let conditions = job.status.as_ref()?.conditions.as_ref()?;
    types.iter().find_map(|t| {
        conditions
            .iter()
            .find(|c| c.type_ == *t && c.status == "True")
    })
}

/// The pod created last (by creation time, then name): the one a retry would have made.
pub(super) fn newest<'a>(pods: &[&'a Pod]) -> Option<&'a Pod> {
    pods.iter().copied().max_by(|a, b| {
        let key = |p: &'a Pod| {
            (
                p.metadata.creation_timestamp.clone(),
                p.metadata.name.clone(),
            )
        };
        key(a).cmp(&key(b))
    })
}

fn content_exit(pod: &Pod) -> Option<ContentExit> {
    let terminated = content_status(pod)?.state.as_ref()?.terminated.as_ref()?;
    Some(ContentExit {
        code: terminated.exit_code,
        reason: terminated.reason.clone().filter(|r| !r.is_empty()),
    })
}

/// Why a Pending pod waits, and the detail.
pub(super) fn pending_reason(pod: &Pod) -> (String, String) {
    let status = pod.status.as_ref();
    let waiting = |statuses: Option<&Vec<ContainerStatus>>, what: &str| {
        statuses.into_iter().flatten().find_map(|c| {
            let w = c.state.as_ref()?.waiting.as_ref()?;
            let reason = w.reason.clone().filter(|r| !r.is_empty())?;
            let message = match w.message.as_deref().filter(|m| !m.is_empty()) {
                Some(m) => format!("{what} {}: {m}", c.name),
                None => format!("{what} {} is waiting", c.name),
            };
            Some((reason, message))
        })
    };
    if let Some(found) = waiting(
        status.and_then(|s| s.init_container_statuses.as_ref()),
        "init container",
    )
    .or_else(|| {
        waiting(
            status.and_then(|s| s.container_statuses.as_ref()),
            "container",
        )
    }) {
        return found;
    }
    let scheduled = status
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "PodScheduled"));
    if let Some(c) = scheduled.filter(|c| c.status == "False") {
        return (
            c.reason
                .clone()
                .unwrap_or_else(|| "Unschedulable".to_owned()),
            c.message.clone().unwrap_or_default(),
        );
    }
    match node_of(pod) {
        Some(node) => (
            "Scheduled".to_owned(),
            format!("pod {} is assigned to node {node}", name_of(pod)),
        ),
        None => (
            "Created".to_owned(),
            format!("pod {} waits for a node", name_of(pod)),
        ),
    }
}

pub(super) fn started_at(pod: &Pod) -> Option<DateTime<Utc>> {
    pod_milestones(pod)
        .content_started
        .or_else(|| pod.status.as_ref()?.start_time.as_ref().map(chrono_time))
}

/// When the Job finished: its final condition's time, else its completion time.
fn job_ended(job: &Job) -> Option<DateTime<Utc>> {
    condition(
        job,
        &["Complete", "Failed", "SuccessCriteriaMet", "FailureTarget"],
    )
    .and_then(|c| c.last_transition_time.as_ref())
    .or_else(|| job.status.as_ref()?.completion_time.as_ref())
    .map(chrono_time)
}

fn finished_at(job: &Job) -> Option<DateTime<Utc>> {
    job_ended(job).or_else(|| job.metadata.deletion_timestamp.as_ref().map(chrono_time))
}

fn content_image(template: &PodTemplateSpec) -> Option<String> {
    template
        .spec
        .as_ref()?
        .containers
        .iter()
        .find(|c| c.name == CONTENT_CONTAINER_NAME)?
        .image
        .clone()
}

fn qualified_name(job: &Job) -> String {
    qualified(&job.metadata)
}

/// `namespace/name` of an object.
pub(super) fn qualified(meta: &ObjectMeta) -> String {
    format!(
        "{}/{}",
        meta.namespace.as_deref().unwrap_or_default(),
        meta.name.as_deref().unwrap_or_default()
    )
}

pub(super) fn name_of(pod: &Pod) -> &str {
    pod.metadata.name.as_deref().unwrap_or_default()
}

pub(super) fn node_of(pod: &Pod) -> Option<&str> {
    pod.spec.as_ref()?.node_name.as_deref()
}

#[cfg(test)]
#[path = "recover_tests.rs"]
mod recover_tests;
#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
