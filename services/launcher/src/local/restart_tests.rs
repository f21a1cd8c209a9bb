use super::*;

fn status(outcome: &str, reason: &str) -> RunnerStatus {
    RunnerStatus {
        outcome: outcome.into(),
        reason: reason.into(),
    }
}

#[test]
fn the_waits_double_from_one_second_up_to_the_most_and_start_again_after_a_reset() {
    let mut backoff = Backoff::new(Duration::from_secs(5));
    let waits: Vec<u64> = (0..5).map(|_| backoff.next_wait().as_secs()).collect();
    assert_eq!(waits, [1, 2, 4, 5, 5]);
    backoff.reset();
    assert_eq!(backoff.next_wait(), Duration::from_secs(1));
}

#[test]
fn a_most_below_one_second_is_every_wait() {
    let mut backoff = Backoff::new(Duration::from_millis(50));
    assert_eq!(backoff.next_wait(), Duration::from_millis(50));
    assert_eq!(backoff.next_wait(), Duration::from_millis(50));
}

#[test]
fn an_app_is_ready_at_its_first_answer_and_not_answering_after_three_missed_probes() {
    let t0 = Instant::now();
    let mut r = Readiness::default();
    assert_eq!(r.next_probe_in(), Duration::from_millis(100));
    assert_eq!(r.probed(false, t0), None);
    assert_eq!(r.probed(true, t0), Some(Change::Ready));
    assert_eq!(r.next_probe_in(), Duration::from_secs(2));
    assert_eq!(r.probed(true, t0), None);
    assert_eq!(r.probed(false, t0), None);
    assert_eq!(
        r.next_probe_in(),
        Duration::from_millis(100),
        "a miss is checked again soon"
    );
    assert_eq!(r.probed(true, t0), None, "one miss is forgiven");
    assert_eq!(r.probed(false, t0), None);
    assert_eq!(r.probed(false, t0), None);
    assert_eq!(r.probed(false, t0), Some(Change::NotAnswering));
    assert_eq!(r.next_probe_in(), Duration::from_millis(100));
    assert_eq!(r.probed(true, t0), Some(Change::Ready));
}

#[test]
fn an_app_is_stable_once_ready_for_a_minute_in_one_stretch() {
    let t0 = Instant::now();
    let mut r = Readiness::default();
    r.probed(true, t0);
    assert!(!r.was_stable(t0 + Duration::from_secs(59)));
    assert!(r.was_stable(t0 + Duration::from_secs(60)));

    let mut r = Readiness::default();
    r.probed(true, t0);
    r.probed(true, t0 + Duration::from_secs(61));
    for _ in 0..3 {
        r.probed(false, t0 + Duration::from_secs(62));
    }
    assert!(
        r.was_stable(t0 + Duration::from_secs(63)),
        "a stable stretch counts after it ended"
    );

    let mut r = Readiness::default();
    r.probed(true, t0);
    for _ in 0..3 {
        r.probed(false, t0 + Duration::from_secs(30));
    }
    r.probed(true, t0 + Duration::from_secs(31));
    assert!(
        !r.was_stable(t0 + Duration::from_secs(70)),
        "two stretches of 30 s and 39 s are not one of 60 s"
    );
}

#[test]
fn a_refusal_is_the_runners_refused_outcome_or_its_own_exit_code_with_its_own_reason() {
    let missing = "the build for this bundle is missing or out of date (no build record at /w/build-record.json); run `execenv-content-runner build` first";
    assert_eq!(
        refusal(Exit::Code(3), Some(&status("refused", missing))),
        Some(missing.to_owned())
    );
    assert_eq!(
        refusal(
            Exit::Code(2),
            Some(&status(
                "failed",
                "--port: not a port number: x\nsee --help"
            ))
        ),
        Some("--port: not a port number: x".to_owned())
    );
    assert_eq!(
        refusal(
            Exit::Code(127),
            Some(&status("failed", "cannot start uvicorn: not found"))
        ),
        Some("cannot start uvicorn: not found".to_owned())
    );
    assert_eq!(
        refusal(Exit::Code(3), Some(&status("refused", ""))),
        Some(
            "the content runner refused to run the app (exit code 3); its output is in the launch's logs"
                .to_owned()
        )
    );
}

#[test]
fn an_app_that_exits_with_any_code_or_signal_is_a_crash() {
    for (exit, written) in [
        (
            Exit::Code(2),
            Some(status("failed", "the content exited with code 2")),
        ),
        (
            Exit::Code(1),
            Some(status("failed", "the content exited with code 1")),
        ),
        (Exit::Code(0), Some(status("succeeded", ""))),
        (Exit::Code(3), None),
        (Exit::Signal(9), Some(status("refused", "whatever"))),
    ] {
        assert_eq!(
            refusal(exit, written.as_ref()),
            None,
            "{exit:?} {written:?}"
        );
    }
}

#[test]
fn the_messages_say_how_the_app_ended_and_when_it_restarts() {
    assert_eq!(
        restarting(Exit::Code(1), 2, Duration::from_secs(2)).message,
        "the app exited with code 1; restart 2 in 2 s"
    );
    assert_eq!(
        restarting(Exit::Signal(9), 1, Duration::from_millis(50)).message,
        "the app was killed by signal 9 (SIGKILL); restart 1 in 0.05 s"
    );
    assert_eq!(
        marker(2, Exit::Code(0)),
        "[execenv-launcher] restart 2 after the app exited with code 0\n"
    );
    let seen = starting("127.0.0.1:41000", 3);
    assert_eq!(
        (
            seen.state,
            seen.reason.as_str(),
            seen.message.as_str(),
            seen.address.as_deref(),
            seen.restarts
        ),
        (
            State::Running,
            "Starting",
            "waiting for the app to answer on 127.0.0.1:41000",
            Some("127.0.0.1:41000"),
            Some(3)
        )
    );
    let seen = refused("no build".into(), Exit::Code(3));
    assert_eq!(
        (seen.state, seen.reason.as_str(), seen.exit_code),
        (State::Failed, "RunnerRefused", Some(3))
    );
}
