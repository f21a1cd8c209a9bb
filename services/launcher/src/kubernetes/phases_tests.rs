//! The milestones of pods as a v1.36 kubelet reports them: each fixture is a whole pod as
//! `kubectl get pod -o json` shows it (conditions, init and content container statuses), at one
//! point of a launch's life.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::*;
use crate::launch::Phase;

/// The pod of fixture `name` (in `fixtures/`).
pub(super) fn fixture(name: &str) -> Pod {
    let text = match name {
        "unschedulable" => include_str!("fixtures/pod-unschedulable.json"),
        "init-running" => include_str!("fixtures/pod-init-running.json"),
        "init-failed" => include_str!("fixtures/pod-init-failed.json"),
        "running" => include_str!("fixtures/pod-running.json"),
        "succeeded" => include_str!("fixtures/pod-succeeded.json"),
        other => panic!("no fixture {other}"),
    };
    serde_json::from_str(text).expect("a pod")
}

fn at(s: &str) -> Option<DateTime<Utc>> {
    Some(s.parse().expect("time"))
}

fn secs(n: u64) -> Option<Duration> {
    Some(Duration::from_secs(n))
}

#[test]
fn an_unscheduled_pod_shows_no_milestone() {
    assert_eq!(
        pod_milestones(&fixture("unschedulable")),
        Milestones::default()
    );
}

#[test]
fn a_pod_whose_init_container_runs_shows_its_scheduling_and_the_init_start() {
    let m = pod_milestones(&fixture("init-running"));
    assert_eq!(
        m,
        Milestones {
            scheduled: at("2026-11-28T10:00:01Z"),
            init_started: at("2026-11-28T10:00:04Z"),
            ..Milestones::default()
        }
    );
    assert_eq!(m.duration(Phase::Sandbox), secs(3));
    assert_eq!(
        m.duration(Phase::Init),
        None,
        "the init container still runs"
    );
}

#[test]
fn a_running_pod_shows_every_milestone_up_to_the_content_start() {
    let m = pod_milestones(&fixture("running"));
    assert_eq!(
        m,
        Milestones {
            job_created: None,
            scheduled: at("2026-11-28T10:00:01Z"),
            init_started: at("2026-11-28T10:00:04Z"),
            init_finished: at("2026-11-28T10:00:06Z"),
            content_started: at("2026-11-28T10:00:09Z"),
            content_finished: None,
        }
    );
    assert_eq!(m.duration(Phase::RunnerStart), secs(3));
    assert_eq!(m.duration(Phase::Run), None);
}

#[test]
fn a_succeeded_pod_gives_every_phase_but_scheduling_its_duration() {
    let m = pod_milestones(&fixture("succeeded"));
    assert_eq!(m.content_finished, at("2026-11-28T10:00:39Z"));
    let took: Vec<_> = Phase::ALL.iter().map(|p| m.duration(*p)).collect();
    // Scheduling starts with the Job's creation, which the pod does not show.
    assert_eq!(took, [None, secs(3), secs(2), secs(3), secs(30)]);
}

#[test]
fn a_failed_init_container_ends_the_init_phase_and_nothing_starts_after_it() {
    let m = pod_milestones(&fixture("init-failed"));
    assert_eq!(m.init_finished, at("2026-11-28T10:00:05Z"));
    assert_eq!(m.duration(Phase::Init), secs(1));
    assert_eq!(
        (m.content_started, m.content_finished),
        (None, None),
        "the content container only waits (PodInitializing)"
    );
}
