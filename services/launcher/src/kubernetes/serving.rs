//! What an interactive launch's Deployment, pods and Service say about it: pure functions, no I/O.
//!
//! [`observe`] turns the latest Deployment, pods and Service of one launch into an
//! [`Observation`]; [`recover`] rebuilds the whole [`Launch`] after a launcher restart. The pod
//! looked at is the one that serves or is about to: a Ready pod that is not being deleted, else
//! the newest one not being deleted, else the newest. The rules, first match wins:
//!
//! | what the cluster shows | state | reason |
//! |---|---|---|
//! | the Deployment's annotation `execenv.io/final-state` (written when the runner refused) | that state, with the recorded exit code | `execenv.io/final-reason` (`RunnerRefused`) |
//! | Deployment deleted, or being deleted, by our Cancel | CANCELLED | `Cancelled` |
//! | Deployment deleted, or being deleted, by anyone else | FAILED | `DeploymentDeleted` |
//! | no pod yet | PENDING | `DeploymentCreated` |
//! | the content container's last end is the runner's refusal ([`refusal`]) | FAILED, its exit code | `RunnerRefused` |
//! | pod Ready, and the Service has a cluster IP | READY, `address` = `<cluster IP>:<port>` | `Ready` |
//! | pod being deleted, or ended (evicted) | RUNNING | `Restarting` |
//! | content container waiting after an exit | RUNNING | the kubelet's (`CrashLoopBackOff`), else `Restarting` |
//! | content container ended, or running again after an exit but not ready | RUNNING | `Restarting` |
//! | content container running, not ready (or Ready before its Service is seen) | RUNNING | `Starting` |
//! | pod Pending | PENDING | as for a Job's pod (`ImagePullBackOff`, `Unschedulable`, …) |
//!
//! A launch that has run before and whose new pod is not running yet (the Deployment replaces a
//! lost pod) is RUNNING `Restarting` instead of PENDING ([`once_started`]).
//!
//! Every observation with a content container status carries its `restartCount` as the launch's
//! restarts. A crash's message is built from the container's last termination: the exit code, the
//! kubelet's reason and the last lines of its output (the container's termination message falls
//! back to its log, `FallbackToLogsOnError`).
//!
//! An interactive launch never finishes by itself: it ends on Cancel, when its Deployment is
//! deleted, or when the runner refuses to start it. The launcher then records the refusal on the
//! Deployment ([`final_patch`]: the annotations above, and zero replicas so that nothing restarts
//! a refused runner), so a restarted launcher reads the same verdict back.

use chrono::{DateTime, Utc};
use execenv_core::Error;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ContainerStateTerminated, Pod, PodCondition, Service};
use serde_json::{Value, json};

use super::phases::{chrono_time, content_status, pod_milestones};
use super::state::{
    deleted, job_for, name_of, newest, node_of, pending_reason, qualified, recorded, started_at,
};
use crate::job_spec::{JobSettings, deployment_of};
use crate::launch::{Launch, Observation, Plan, State};

/// Annotation: the final state of an interactive launch that ended by itself (`failed`).
pub const ANNOTATION_FINAL_STATE: &str = "execenv.io/final-state";
/// Annotation: its reason.
pub const ANNOTATION_FINAL_REASON: &str = "execenv.io/final-reason";
/// Annotation: its message.
pub const ANNOTATION_FINAL_MESSAGE: &str = "execenv.io/final-message";
/// Annotation: its exit code.
pub const ANNOTATION_FINAL_EXIT_CODE: &str = "execenv.io/final-exit-code";
/// Annotation: when it ended (RFC 3339); finished Deployments are deleted
/// `kubernetes.ttl_seconds_after_finished` later.
pub const ANNOTATION_FINISHED_TIME: &str = "execenv.io/finished-time";

/// The message of an interactive launch we cancelled.
pub const CANCELLED_MESSAGE: &str =
    "cancelled on request; the Deployment, its pod and its Service are deleted";

/// The reason of a launch whose runner refused to start the content.
pub const RUNNER_REFUSED: &str = "RunnerRefused";

/// The exit codes of the runner's own refusals: invalid input, no matching build, a command that
/// could not start.
const REFUSAL_EXIT_CODES: [i32; 3] = [2, 3, 127];
/// How the runner starts the one line it prints about how its step ended.
const RUNNER_LINE: &str = "execenv-content-runner: ";
/// How the runner describes the content's own end (`the content exited with code 2`): an exit of
/// the app, not a refusal, whatever the code.
const CONTENT_ENDS: [&str; 3] = [
    "the content exited",
    "the content was ended",
    "the content ended",
];
/// How many of the last lines of a crashed app's output its message quotes.
const QUOTED_LINES: usize = 5;

/// Everything known about one interactive launch in the cluster.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// The latest version of the Deployment (for a deleted one: the last seen).
    pub deployment: &'a Deployment,
    /// Whether the Deployment is gone from the API server.
    pub deleted: bool,
    /// Its pods (any order).
    pub pods: &'a [&'a Pod],
    /// Its Service, once seen.
    pub service: Option<&'a Service>,
    /// Whether the launcher deleted it on a Cancel call.
    pub cancelled_by_us: bool,
}

/// The Deployment of an interactive launch: the RUN Job [`job_for`] would make, as a Deployment
/// serving on `kubernetes.interactive_port`.
pub fn deployment_for(plan: &Plan, settings: &JobSettings) -> Result<Deployment, Error> {
    let job = job_for(plan, settings)?;
    Ok(deployment_of(
        job,
        &plan.request,
        settings.config.interactive_port,
    ))
}

/// The launch's state as its Deployment, pods and Service show it.
pub fn observe(facts: &Facts<'_>) -> Observation {
    let pod = serving_pod(facts.pods);
    let mut seen = verdict(facts, pod);
    let mut milestones = pod.map(pod_milestones).unwrap_or_default();
    milestones.job_created = facts
        .deployment
        .metadata
        .creation_timestamp
        .as_ref()
        .map(chrono_time);
    // A crash is not the end of an app that is restarted: its end is the launch's end.
    milestones.content_finished = None;
    seen.milestones = milestones;
    seen
}

/// The whole launch, rebuilt from its Deployment, pods and Service. None when the Deployment
/// carries no launch id. A Deployment already being deleted counts as cancelled by us.
pub fn recover(
    deployment: &Deployment,
    pods: &[&Pod],
    service: Option<&Service>,
) -> Option<Launch> {
    let seen = observe(&Facts {
        deployment,
        deleted: false,
        pods,
        service,
        cancelled_by_us: deployment.metadata.deletion_timestamp.is_some(),
    });
    let pod = serving_pod(pods);
    let started = match seen.state {
        State::Pending => None,
        _ => pod.and_then(started_at),
    };
    let finished = seen
        .state
        .is_terminal()
        .then(|| finished_at(deployment))
        .flatten();
    let ready = match seen.state {
        State::Ready => pod.and_then(ready_since),
        _ => None,
    };
    let template = deployment.spec.as_ref().map(|s| &s.template);
    let mut launch = recorded(&deployment.metadata, template, seen, started, finished)?;
    launch.ready = ready;
    Some(launch)
}

/// `seen` for a launch that has run before: a pod that is not running yet is the Deployment
/// replacing a lost one, so the launch is RUNNING (`Restarting`) rather than PENDING again.
pub fn once_started(seen: Observation) -> Observation {
    if seen.state != State::Pending {
        return seen;
    }
    let message = format!(
        "the Deployment replaces the app's pod; the new one waits: {} ({})",
        seen.reason, seen.message
    );
    Observation {
        state: State::Running,
        reason: "Restarting".to_owned(),
        message,
        ..seen
    }
}

/// The runner's own line when the content container of `pod` last ended as a refusal of the
/// runner: exit code 2, 3 or 127, and the last summary of its step (`execenv-content-runner: run
/// refused: …` or `… run failed in 0.1 s (exit code 2): …`) says it refused or failed for a reason
/// of its own (not `the content exited with code N`, which is the app's end). None while the
/// container runs.
pub fn refusal(pod: &Pod) -> Option<(i32, String)> {
    let status = content_status(pod)?;
    let state = status.state.as_ref();
    if state.is_some_and(|s| s.running.is_some()) {
        return None;
    }
    let ended = state
        .and_then(|s| s.terminated.as_ref())
        .or_else(|| status.last_state.as_ref()?.terminated.as_ref())?;
    if !REFUSAL_EXIT_CODES.contains(&ended.exit_code) {
        return None;
    }
    // The step's summary (`run refused: …`, `run failed in 0.1 s (exit code 2): …`); other lines
    // of the runner's may follow it (`cannot write the status file …`).
    let (line, outcome) = ended
        .message
        .as_deref()?
        .lines()
        .map(str::trim)
        .filter_map(|l| {
            let (_step, outcome) = l.strip_prefix(RUNNER_LINE)?.split_once(' ')?;
            Some((l, outcome))
        })
        .rfind(|(_, outcome)| {
            outcome.starts_with("refused: ") || outcome.starts_with("failed in ")
        })?;
    let refused = outcome.starts_with("refused: ")
        || outcome
            .split_once("): ")
            .is_some_and(|(_, why)| !CONTENT_ENDS.iter().any(|c| why.starts_with(c)));
    refused.then(|| (ended.exit_code, line.to_owned()))
}

/// The merge patch that records `seen` (a final state) on the Deployment at `now` and scales it
/// to zero.
pub fn final_patch(seen: &Observation, now: DateTime<Utc>) -> Value {
    json!({
        "metadata": {"annotations": {
            ANNOTATION_FINAL_STATE: seen.state.as_str(),
            ANNOTATION_FINAL_REASON: seen.reason,
            ANNOTATION_FINAL_MESSAGE: seen.message,
            ANNOTATION_FINAL_EXIT_CODE: seen.exit_code.map(|c| c.to_string()),
            ANNOTATION_FINISHED_TIME: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }},
        "spec": {"replicas": 0},
    })
}

/// Whether the Deployment already records a final state.
pub fn is_final(deployment: &Deployment) -> bool {
    annotation(deployment, ANNOTATION_FINAL_STATE).is_some()
}

/// When a finished Deployment may be deleted: its finish time plus `ttl` seconds. None while it
/// is not finished, or without a TTL.
pub fn expires(deployment: &Deployment, ttl: Option<i32>) -> Option<DateTime<Utc>> {
    let finished = annotation(deployment, ANNOTATION_FINISHED_TIME)?;
    let finished: DateTime<Utc> = finished.parse().ok()?;
    Some(finished + chrono::Duration::seconds(i64::from(ttl?)))
}

fn verdict(facts: &Facts<'_>, pod: Option<&Pod>) -> Observation {
    let deployment = facts.deployment;
    if let Some(recorded) = recorded_end(deployment) {
        return recorded;
    }
    if facts.deleted || deployment.metadata.deletion_timestamp.is_some() {
        return deleted(
            "Deployment",
            &deployment.metadata,
            facts.cancelled_by_us,
            (CANCELLED_MESSAGE, ""),
        );
    }
    let Some(pod) = pod else {
        return Observation::new(
            State::Pending,
            "DeploymentCreated",
            format!(
                "the Deployment {} exists; waiting for its pod",
                qualified(&deployment.metadata)
            ),
        );
    };
    if let Some((code, line)) = refusal(pod) {
        return Observation::new(State::Failed, RUNNER_REFUSED, line).with_exit_code(Some(code));
    }
    let status = content_status(pod);
    let restarts = status.map(|s| u32::try_from(s.restart_count).unwrap_or_default());
    let with_restarts = |o: Observation| match restarts {
        Some(r) => o.with_restarts(r),
        None => o,
    };
    with_restarts(pod_verdict(pod, facts.service))
}

/// What the serving pod shows, once there is one and the runner has not refused.
fn pod_verdict(pod: &Pod, service: Option<&Service>) -> Observation {
    let name = name_of(pod);
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    if pod.metadata.deletion_timestamp.is_some() || matches!(phase, Some("Succeeded" | "Failed")) {
        return Observation::new(
            State::Running,
            "Restarting",
            format!("pod {name} has stopped; the Deployment starts another"),
        );
    }
    let status = content_status(pod);
    let state = status.and_then(|s| s.state.as_ref());
    let last_end = status
        .and_then(|s| s.last_state.as_ref())
        .and_then(|s| s.terminated.as_ref());
    let address = service.and_then(address);
    if is_ready(pod) {
        if let Some(address) = address {
            return Observation::new(
                State::Ready,
                "Ready",
                format!("pod {name} answers on {address}"),
            )
            .with_address(address);
        }
        return Observation::new(
            State::Running,
            "Starting",
            format!("pod {name} is ready; waiting for its Service"),
        );
    }
    if let Some(waiting) = state.and_then(|s| s.waiting.as_ref())
        && let Some(ended) = last_end
    {
        let reason = waiting
            .reason
            .clone()
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| "Restarting".to_owned());
        return crashed(reason, ended);
    }
    if let Some(ended) = state.and_then(|s| s.terminated.as_ref()) {
        return crashed("Restarting".to_owned(), ended);
    }
    if state.is_some_and(|s| s.running.is_some()) {
        if let Some(ended) = last_end {
            return crashed("Restarting".to_owned(), ended);
        }
        return Observation::new(
            State::Running,
            "Starting",
            format!(
                "pod {name} runs on node {}; waiting for the app to answer on its port",
                node_of(pod).unwrap_or("(unknown)")
            ),
        );
    }
    let (reason, message) = pending_reason(pod);
    Observation::new(State::Pending, reason, message)
}

/// RUNNING with `reason`, saying how the app last ended and what it printed last.
fn crashed(reason: String, ended: &ContainerStateTerminated) -> Observation {
    let mut message = format!("the app exited with code {}", ended.exit_code);
    if let Some(why) = ended.reason.as_deref().filter(|r| !r.is_empty()) {
        message.push_str(&format!(" ({why})"));
    }
    let output: Vec<&str> = ended
        .message
        .as_deref()
        .unwrap_or_default()
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty())
        .collect();
    if !output.is_empty() {
        let last = &output[output.len().saturating_sub(QUOTED_LINES)..];
        message.push_str(&format!("; its last output: {}", last.join(" | ")));
    }
    Observation::new(State::Running, reason, message).with_exit_code(Some(ended.exit_code))
}

/// The final state the Deployment records, if any.
fn recorded_end(deployment: &Deployment) -> Option<Observation> {
    let state = match annotation(deployment, ANNOTATION_FINAL_STATE)? {
        "cancelled" => State::Cancelled,
        _ => State::Failed,
    };
    let reason = annotation(deployment, ANNOTATION_FINAL_REASON).unwrap_or("Failed");
    let message = annotation(deployment, ANNOTATION_FINAL_MESSAGE).unwrap_or_default();
    let code = annotation(deployment, ANNOTATION_FINAL_EXIT_CODE).and_then(|c| c.parse().ok());
    Some(Observation::new(state, reason, message).with_exit_code(code))
}

fn annotation<'a>(deployment: &'a Deployment, key: &str) -> Option<&'a str> {
    deployment
        .metadata
        .annotations
        .as_ref()?
        .get(key)
        .map(String::as_str)
}

/// The pod that serves or is about to: Ready and not being deleted, else the newest not being
/// deleted, else the newest.
fn serving_pod<'a>(pods: &[&'a Pod]) -> Option<&'a Pod> {
    let live: Vec<&Pod> = pods
        .iter()
        .copied()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect();
    let ready: Vec<&Pod> = live.iter().copied().filter(|p| is_ready(p)).collect();
    newest(&ready)
        .or_else(|| newest(&live))
        .or_else(|| newest(pods))
}

/// Whether the pod's `Ready` condition is True.
fn is_ready(pod: &Pod) -> bool {
    ready_condition(pod).is_some_and(|c| c.status == "True")
}

/// Since when the pod is Ready.
fn ready_since(pod: &Pod) -> Option<DateTime<Utc>> {
    ready_condition(pod)
        .filter(|c| c.status == "True")?
        .last_transition_time
        .as_ref()
        .map(chrono_time)
}

fn ready_condition(pod: &Pod) -> Option<&PodCondition> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")
}

/// `<cluster IP>:<port>` of the Service, once it has a cluster IP.
fn address(service: &Service) -> Option<String> {
    let spec = service.spec.as_ref()?;
    let ip = spec
        .cluster_ip
        .as_deref()
        .filter(|ip| !ip.is_empty() && *ip != "None")?;
    let port = spec.ports.as_ref()?.first()?.port;
    Some(format!("{ip}:{port}"))
}

/// When the launch ended: the recorded finish time, else the Deployment's deletion.
fn finished_at(deployment: &Deployment) -> Option<DateTime<Utc>> {
    annotation(deployment, ANNOTATION_FINISHED_TIME)
        .and_then(|t| t.parse().ok())
        .or_else(|| {
            deployment
                .metadata
                .deletion_timestamp
                .as_ref()
                .map(chrono_time)
        })
}

#[cfg(test)]
#[path = "serving_tests.rs"]
mod tests;
