use std::time::Duration;

use chrono::Utc;
use execenv_kit::metrics::Metrics;

use super::*;
use crate::local::fixtures::plan_with_id;

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
