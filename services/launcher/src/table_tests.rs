use std::time::Duration;

use chrono::Utc;
use execenv_kit::metrics::Metrics;

use super::*;
use crate::launch::Milestones;
use crate::local::fixtures::plan_with_id;
use crate::metrics::sample;

/// A new PENDING local launch `id` of `kind` for content `content`.
fn launch(id: &str, content: &str, kind: LaunchKind) -> Launch {
    let mut launch = plan_with_id(id, kind, &[]).launch;
    launch.content_guid = content.to_owned();
    launch
}

fn table() -> (Launches, Metrics) {
    let metrics = Metrics::new();
    (Launches::new(LauncherMetrics::register(&metrics)), metrics)
}

#[test]
fn insert_new_refuses_a_taken_id_and_returns_the_launch_already_held() {
    let (t, _) = table();
    let first = t
        .insert_new(launch("a", "c", LaunchKind::Build))
        .expect("new");
    let mut again = launch("a", "other", LaunchKind::Run);
    again.reason = "Second".into();
    let existing = t.insert_new(again).expect_err("the id is taken");
    assert_eq!(*existing, first);
    assert_eq!(t.get("a"), Some(first));
}

#[test]
fn observe_records_running_and_finished_times_exit_code_and_publishes_each_change() {
    let (t, _) = table();
    t.insert_new(launch("a", "c", LaunchKind::Run))
        .expect("new");
    let mut events = t.subscribe();
    let running = t
        .observe("a", Observation::new(State::Running, "Started", ""))
        .expect("known");
    assert!(running.started.is_some() && running.finished.is_none());
    let done = t
        .observe(
            "a",
            Observation::new(State::Failed, "Error", "exit 3").with_exit_code(Some(3)),
        )
        .expect("known");
    assert_eq!(done.exit_code, Some(3));
    assert_eq!(done.started, running.started, "started is kept");
    assert!(done.finished.is_some());
    assert_eq!(
        events.try_recv().expect("running event").state,
        State::Running
    );
    assert_eq!(
        events.try_recv().expect("failed event").state,
        State::Failed
    );
}

#[test]
fn a_final_state_is_never_changed_by_a_later_observation() {
    let (t, _) = table();
    t.insert_new(launch("a", "c", LaunchKind::Run))
        .expect("new");
    t.observe("a", Observation::new(State::Cancelled, "Cancelled", ""));
    let mut events = t.subscribe();
    let after = t
        .observe(
            "a",
            Observation::new(State::Failed, "BackoffLimitExceeded", "").with_exit_code(Some(143)),
        )
        .expect("known");
    assert_eq!(after.state, State::Cancelled);
    assert_eq!(after.exit_code, None);
    assert!(events.try_recv().is_err(), "nothing is published");
    let recovered = t.recover(launch("a", "c", LaunchKind::Run));
    assert_eq!(
        recovered.state,
        State::Cancelled,
        "recovery keeps a final state too"
    );
}

#[test]
fn an_observation_that_changes_nothing_publishes_nothing() {
    let (t, _) = table();
    t.insert_new(launch("a", "c", LaunchKind::Run))
        .expect("new");
    t.observe("a", Observation::new(State::Running, "Started", ""));
    let mut events = t.subscribe();
    t.observe("a", Observation::new(State::Running, "Started", ""));
    assert!(events.try_recv().is_err());
}

#[test]
fn observe_and_submitted_of_an_unknown_launch_return_none() {
    let (t, _) = table();
    assert!(
        t.observe("x", Observation::new(State::Running, "", ""))
            .is_none()
    );
    assert!(t.submitted("x", "job", "ns").is_none());
}

#[test]
fn list_filters_by_content_state_and_kind_newest_first() {
    let (t, _) = table();
    let mut old = launch("old", "c1", LaunchKind::Build);
    old.created = Utc::now() - chrono::Duration::seconds(60);
    t.insert_new(old).expect("new");
    t.insert_new(launch("new", "c1", LaunchKind::Run))
        .expect("new");
    t.insert_new(launch("other", "c2", LaunchKind::Build))
        .expect("new");
    t.observe("other", Observation::new(State::Succeeded, "Completed", ""));

    let ids = |f: &Filter| t.list(f).into_iter().map(|l| l.id).collect::<Vec<_>>();
    assert_eq!(
        ids(&Filter {
            content_guid: Some("c1".into()),
            ..Filter::default()
        }),
        ["new", "old"]
    );
    assert_eq!(
        ids(&Filter {
            states: vec![State::Succeeded],
            ..Filter::default()
        }),
        ["other"]
    );
    assert_eq!(
        ids(&Filter {
            kind: Some(LaunchKind::Build),
            content_guid: Some("c1".into()),
            ..Filter::default()
        }),
        ["old"]
    );
}

#[test]
fn recover_replaces_an_unfinished_launch_and_adds_an_unknown_one() {
    let (t, _) = table();
    t.insert_new(launch("a", "c", LaunchKind::Build))
        .expect("new");
    let mut seen = launch("a", "c", LaunchKind::Build);
    seen.state = State::Running;
    seen.job_name = "execenv-abc".into();
    assert_eq!(t.recover(seen.clone()), seen);
    let fresh = launch("b", "c", LaunchKind::Run);
    assert_eq!(t.recover(fresh.clone()), fresh);
    assert_eq!(t.active(BackendKind::Local).len(), 2);
}

#[test]
fn metrics_count_outcomes_times_and_active_launches_at_the_transitions() {
    let (t, metrics) = table();
    t.insert_new(launch("a", "c", LaunchKind::Build))
        .expect("new");
    t.insert_new(launch("b", "c", LaunchKind::Run))
        .expect("new");
    t.insert_new(launch("gone", "c", LaunchKind::Run))
        .expect("new");
    t.remove("gone");
    t.submitted("a", "", "");
    t.observe("a", Observation::new(State::Running, "Started", ""));
    t.observe("a", Observation::new(State::Succeeded, "Completed", ""));
    let text = metrics.encode();
    for line in [
        "execenv_launcher_launches_total{kind=\"build\",backend=\"local\",outcome=\"succeeded\"} 1",
        "execenv_launcher_job_created_seconds_count{kind=\"build\",backend=\"local\"} 1",
        "execenv_launcher_running_seconds_count{kind=\"build\",backend=\"local\"} 1",
        "execenv_launcher_finished_seconds_count{kind=\"build\",backend=\"local\"} 1",
        "execenv_launcher_active_launches{backend=\"local\"} 1",
    ] {
        assert!(text.contains(line), "{line} missing from\n{text}");
    }
}

#[test]
fn the_ready_gauge_follows_interactive_launches_in_and_out_of_ready_and_restarts_count_by_their_growth()
 {
    let (t, metrics) = table();
    let ready = "execenv_launcher_interactive_ready{backend=\"kubernetes\"}";
    let restarts = "execenv_launcher_interactive_restarts_total{backend=\"kubernetes\"}";
    let interactive = |id: &str| {
        let mut l = launch(id, "c", LaunchKind::Interactive);
        l.backend = BackendKind::Kubernetes;
        l
    };
    t.insert_new(interactive("a")).expect("new");
    t.observe("a", Observation::new(State::Running, "Starting", ""));
    t.observe(
        "a",
        Observation::new(State::Ready, "Ready", "").with_address("10.0.0.7:8080"),
    );
    assert_eq!(sample(&metrics, ready), "1");
    t.observe(
        "a",
        Observation::new(State::Running, "CrashLoopBackOff", "").with_restarts(1),
    );
    assert_eq!(
        (sample(&metrics, ready), sample(&metrics, restarts)),
        ("0".into(), "1".into())
    );
    t.observe(
        "a",
        Observation::new(State::Ready, "Ready", "").with_restarts(1),
    );
    let mut relisted = t.get("a").expect("known");
    relisted.restarts = 3;
    t.recover(relisted);
    assert_eq!(
        (sample(&metrics, ready), sample(&metrics, restarts)),
        ("1".into(), "3".into()),
        "a re-list counts the restarts it shows more"
    );

    // Read back after a launcher restart: ready now, its earlier restarts counted before.
    let mut found = interactive("b");
    found.state = State::Ready;
    found.restarts = 5;
    t.recover(found);
    assert_eq!(
        (sample(&metrics, ready), sample(&metrics, restarts)),
        ("2".into(), "3".into())
    );
    t.observe("b", Observation::new(State::Cancelled, "Cancelled", ""));
    t.insert_new(interactive("gone")).expect("new");
    t.observe("gone", Observation::new(State::Ready, "Ready", ""));
    t.remove("gone");
    assert_eq!(
        sample(&metrics, ready),
        "1",
        "a final or forgotten launch is not ready"
    );
    assert_eq!(
        sample(
            &metrics,
            "execenv_launcher_launches_total{kind=\"interactive\",backend=\"kubernetes\",outcome=\"cancelled\"}"
        ),
        "1"
    );
}

/// A PENDING Kubernetes launch `id`.
fn kubernetes_launch(id: &str) -> Launch {
    let mut launch = launch(id, "c", LaunchKind::Build);
    launch.backend = BackendKind::Kubernetes;
    launch
}

/// The first `known` milestones of a launch (0: none … 6: all), a few seconds apart.
fn milestones_up_to(known: usize) -> Milestones {
    let t0 = chrono::DateTime::parse_from_rfc3339("2026-11-28T10:00:00Z")
        .expect("time")
        .with_timezone(&Utc);
    let t = |i: usize, secs: i64| (i < known).then(|| t0 + chrono::Duration::seconds(secs));
    Milestones {
        job_created: t(0, 0),
        scheduled: t(1, 1),
        init_started: t(2, 4),
        init_finished: t(3, 6),
        content_started: t(4, 9),
        content_finished: t(5, 39),
    }
}

fn phase_counts(metrics: &Metrics) -> Vec<(String, u64)> {
    let text = metrics.encode();
    Phase::ALL
        .iter()
        .map(|p| {
            let prefix = format!(
                "execenv_launcher_phase_seconds_count{{kind=\"build\",backend=\"kubernetes\",phase=\"{}\"}} ",
                p.as_str()
            );
            let count = text
                .lines()
                .find_map(|l| l.strip_prefix(&prefix))
                .map_or(0, |n| n.parse().expect("a count"));
            (p.as_str().to_owned(), count)
        })
        .collect()
}

fn counts(each: [u64; 5]) -> Vec<(String, u64)> {
    Phase::ALL
        .iter()
        .zip(each)
        .map(|(p, n)| (p.as_str().to_owned(), n))
        .collect()
}

fn seen_with(state: State, milestones: Milestones) -> Observation {
    Observation::new(state, "Seen", "").with_milestones(milestones)
}

#[test]
fn each_phase_is_recorded_once_when_both_its_milestones_are_first_known() {
    let (t, metrics) = table();
    t.insert_new(kubernetes_launch("k")).expect("new");
    t.observe("k", seen_with(State::Pending, milestones_up_to(3)));
    assert_eq!(phase_counts(&metrics), counts([1, 1, 0, 0, 0]));
    // The same pod seen again, and again with more of its life.
    t.observe("k", seen_with(State::Pending, milestones_up_to(3)));
    t.observe("k", seen_with(State::Running, milestones_up_to(5)));
    t.observe("k", seen_with(State::Running, milestones_up_to(5)));
    assert_eq!(phase_counts(&metrics), counts([1, 1, 1, 1, 0]));
    // A later pod (other times) changes nothing already known.
    let mut later = milestones_up_to(6);
    later.scheduled = later.content_started;
    let done = t
        .observe("k", seen_with(State::Succeeded, later))
        .expect("known");
    assert_eq!(phase_counts(&metrics), counts([1, 1, 1, 1, 1]));
    assert_eq!(done.milestones, milestones_up_to(6), "first seen is kept");
    let text = metrics.encode();
    let sum = "execenv_launcher_phase_seconds_sum{kind=\"build\",backend=\"kubernetes\",phase=\"run\"} 30.0";
    assert!(text.contains(sum), "{sum} missing from\n{text}");
}

#[test]
fn a_launch_read_back_after_a_restart_records_only_the_phases_ending_afterwards() {
    let (t, metrics) = table();
    let mut recovered = kubernetes_launch("k");
    recovered.state = State::Running;
    recovered.milestones = milestones_up_to(5);
    t.recover(recovered.clone());
    assert_eq!(
        phase_counts(&metrics),
        counts([0; 5]),
        "the launcher before the restart may have recorded them"
    );
    // The watch's re-list brings the same launch whole again, now finished.
    let mut again = recovered.clone();
    again.milestones = milestones_up_to(6);
    t.recover(again.clone());
    t.recover(again);
    assert_eq!(phase_counts(&metrics), counts([0, 0, 0, 0, 1]));
}

#[test]
fn recover_keeps_the_milestones_already_known() {
    let (t, _) = table();
    t.insert_new(kubernetes_launch("k")).expect("new");
    t.observe("k", seen_with(State::Running, milestones_up_to(5)));
    let mut without_pod = kubernetes_launch("k");
    without_pod.milestones = milestones_up_to(1);
    assert_eq!(t.recover(without_pod).milestones, milestones_up_to(5));
}

#[tokio::test]
async fn wait_finished_returns_the_launch_once_it_is_final() {
    let (t, _) = table();
    t.insert_new(launch("a", "c", LaunchKind::Run))
        .expect("new");
    let waiter = {
        let t = t.clone();
        tokio::spawn(async move { t.wait_finished("a").await })
    };
    t.observe("a", Observation::new(State::Running, "Started", ""));
    t.observe("a", Observation::new(State::Succeeded, "Completed", ""));
    let done = tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .expect("in time")
        .expect("task")
        .expect("known");
    assert_eq!(done.state, State::Succeeded);
    assert!(t.wait_finished("unknown").await.is_none());
}
