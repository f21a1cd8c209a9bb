//! Interactive launches of the local backend, in-process, with the runner's test double serving a
//! tiny Python app on the port it is given — or crashing, or refusing, as the request says (see
//! `STUB_RUNNER` in tests.rs). States are awaited through the table's broadcast.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::broadcast;

use super::fixtures::CONTENT;
use super::tests::{Bed, WAIT, bed_with, group_alive};
use super::*;

const READY: &str = "execenv_launcher_interactive_ready{backend=\"local\"}";
const RESTARTS: &str = "execenv_launcher_interactive_restarts_total{backend=\"local\"}";

/// A backend whose restart waits are at most 50 ms.
async fn interactive_bed() -> Bed {
    bed_with(1, |_| {}).await
}

/// What the app on `address` says to `words`.
async fn ask(address: &str, words: &str) -> std::io::Result<String> {
    let mut stream = tokio::net::TcpStream::connect(address).await?;
    stream.write_all(words.as_bytes()).await?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await?;
    Ok(answer)
}

/// The changes of launch `id` published from `events` until one satisfies `what`, each as (state,
/// reason, restarts, message), a change repeated only in fields not shown here counted once.
async fn changes_until(
    events: &mut broadcast::Receiver<Launch>,
    id: &str,
    what: impl Fn(&Launch) -> bool,
) -> Vec<(State, String, u32, String)> {
    let mut seen: Vec<(State, String, u32, String)> = Vec::new();
    tokio::time::timeout(WAIT, async {
        loop {
            let l = events.recv().await.expect("a change");
            if l.id != id {
                continue;
            }
            let change = (l.state, l.reason.clone(), l.restarts, l.message.clone());
            if seen.last() != Some(&change) {
                seen.push(change);
            }
            if what(&l) {
                return;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("launch {id} went through {seen:?}"));
    seen
}

/// `execenv_launcher_interactive_restarts_total` and `…_ready` of the local backend.
fn restarts_and_ready(bed: &Bed) -> (String, String) {
    (bed.sample(RESTARTS), bed.sample(READY))
}

/// How many times the runner ran for launch `id`, as its test double counted.
fn runs(bed: &Bed, id: &str) -> String {
    std::fs::read_to_string(bed.data(&format!("launches/{id}/runs"))).expect("the runs file")
}

fn pid_of(bed: &Bed, id: &str) -> i32 {
    std::fs::read_to_string(bed.data(&format!("launches/{id}/pid")))
        .expect("the pid file")
        .trim()
        .parse()
        .expect("a pid")
}

#[tokio::test]
async fn an_interactive_launch_is_ready_where_its_app_answers_and_cancel_stops_the_app() {
    let bed = interactive_bed().await;
    bed.serve("app", "serve").await.expect("started");
    let ready = bed.until("app", |l| l.state == State::Ready).await;
    let port: u16 = ready
        .address
        .strip_prefix("127.0.0.1:")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("a loopback address: {:?}", ready.address));
    assert_eq!(
        (ready.reason.as_str(), ready.restarts),
        ("Ready", 0),
        "{ready:?}"
    );
    assert!(ready.started.is_some() && ready.ready.is_some());
    assert_eq!(
        ask(&ready.address, "hi").await.expect("the app answers"),
        "hello\n"
    );
    assert_eq!(
        bed.record("app").address,
        ready.address,
        "launch.json says it"
    );
    let output = bed.logs("app", false).await;
    for line in [
        format!("EXECENV_CONTENT_PORT={port}\n"),
        "EXECENV_CONTENT_HOST=127.0.0.1\n".to_owned(),
        format!("EXECENV_CONTENT_BASE_PATH=/content/{CONTENT}\n"),
        "STUB_APP=serve\n".to_owned(),
        format!("serving on 127.0.0.1:{port}\n"),
    ] {
        assert!(output.contains(&line), "{line:?} missing from\n{output}");
    }
    assert!(
        output.starts_with(&format!(
            "stub run --bundle {} --work {} --status-file {}",
            bed.data(&format!("content/{CONTENT}/7/bundle")).display(),
            bed.data(&format!("content/{CONTENT}/7/work")).display(),
            bed.data("launches/app/status.json").display()
        )),
        "{output}"
    );
    assert_eq!(bed.sample(READY), "1");

    let pid = pid_of(&bed, "app");
    let cancelled = bed.backend.cancel(&ready).await.expect("cancel");
    assert_eq!(
        (cancelled.state, cancelled.reason.as_str()),
        (State::Cancelled, "Cancelled")
    );
    assert!(
        tokio::net::TcpStream::connect(&ready.address)
            .await
            .is_err(),
        "nothing answers on {} any more",
        ready.address
    );
    assert!(!group_alive(pid), "no process of the launch is left");
    assert_eq!(bed.record("app").state, State::Cancelled);
    assert_eq!(bed.sample(READY), "0");
    assert_eq!(
        bed.sample(
            "execenv_launcher_launches_total{kind=\"interactive\",backend=\"local\",outcome=\"cancelled\"}"
        ),
        "1"
    );
    bed.finish().await;
}

#[tokio::test]
async fn a_crashing_app_is_restarted_after_a_wait_on_the_same_port_and_each_restart_is_logged() {
    let bed = interactive_bed().await;
    let mut events = bed.launches.subscribe();
    bed.serve("flaky", "crash-twice").await.expect("started");
    let changes = changes_until(&mut events, "flaky", |l| l.state == State::Ready).await;
    let address = bed.launches.get("flaky").expect("known").address;
    let starting = format!("waiting for the app to answer on {address}");
    let expected: Vec<(State, String, u32, String)> = [
        (State::Pending, "Accepted", 0, String::new()),
        (State::Running, "Starting", 0, starting.clone()),
        (
            State::Running,
            "Restarting",
            0,
            "the app exited with code 1; restart 1 in 0.05 s".to_owned(),
        ),
        (State::Running, "Starting", 1, starting.clone()),
        (
            State::Running,
            "Restarting",
            1,
            "the app exited with code 1; restart 2 in 0.05 s".to_owned(),
        ),
        (State::Running, "Starting", 2, starting),
        (
            State::Ready,
            "Ready",
            2,
            format!("the app answers on {address}"),
        ),
    ]
    .into_iter()
    .map(|(state, reason, restarts, message)| (state, reason.to_owned(), restarts, message))
    .collect();
    assert_eq!(changes, expected);

    let output = bed.logs("flaky", false).await;
    let launcher_lines: Vec<&str> = output
        .lines()
        .filter(|l| l.starts_with("[execenv-launcher]"))
        .collect();
    assert_eq!(
        launcher_lines,
        [
            "[execenv-launcher] restart 1 after the app exited with code 1",
            "[execenv-launcher] restart 2 after the app exited with code 1",
        ]
    );
    let port = address.trim_start_matches("127.0.0.1:");
    assert_eq!(
        output
            .matches(&format!("EXECENV_CONTENT_PORT={port}\n"))
            .count(),
        3,
        "every run is given the same port:\n{output}"
    );
    assert_eq!(restarts_and_ready(&bed), ("2".into(), "1".into()));
    bed.finish().await;
}

#[tokio::test]
async fn a_refusing_runner_fails_the_launch_with_its_reason_and_is_not_restarted() {
    let bed = interactive_bed().await;
    bed.serve("refused", "refuse").await.expect("started");
    let done = bed.until("refused", |l| l.state.is_terminal()).await;
    assert_eq!(
        (
            done.state,
            done.reason.as_str(),
            done.message.as_str(),
            done.exit_code,
            done.restarts
        ),
        (
            State::Failed,
            "RunnerRefused",
            "the build for this bundle is missing or out of date (no build record); run `execenv-content-runner build` first",
            Some(3),
            0
        )
    );
    assert_eq!(runs(&bed, "refused"), "1\n", "the runner ran once");
    assert!(
        !bed.logs("refused", false)
            .await
            .contains("[execenv-launcher]")
    );
    assert_eq!(bed.record("refused"), done);
    assert_eq!(restarts_and_ready(&bed), ("0".into(), "0".into()));
    bed.finish().await;
}

#[tokio::test]
async fn cancel_during_the_wait_before_a_restart_cancels_the_launch_without_restarting() {
    // The first wait is 1 s: long enough to cancel in.
    let bed = bed_with(1, |c| c.restart_backoff_max_ms = 60_000).await;
    bed.serve("crashing", "crash").await.expect("started");
    let waiting = bed.until("crashing", |l| l.reason == "Restarting").await;
    assert_eq!(
        waiting.message,
        "the app exited with code 1; restart 1 in 1 s"
    );
    let cancelled = bed.backend.cancel(&waiting).await.expect("cancel");
    assert_eq!(
        (
            cancelled.state,
            cancelled.reason.as_str(),
            cancelled.restarts
        ),
        (State::Cancelled, "Cancelled", 0)
    );
    assert_eq!(runs(&bed, "crashing"), "1\n", "no restart");
    bed.finish().await;
}

#[tokio::test]
async fn interactive_launches_take_no_slot_and_one_beyond_max_interactive_is_refused_recording_nothing()
 {
    let bed = bed_with(1, |c| c.max_interactive = 1).await;
    bed.serve("one", "serve").await.expect("started");
    bed.until("one", |l| l.state == State::Ready).await;
    let (job, _) = bed.occupy("job").await;
    assert_eq!(job.reason, "Started", "the only slot was free");

    let err = bed.serve("two", "serve").await.expect_err("over the limit");
    assert_eq!(
        (err.kind, err.message.as_str()),
        (
            ErrorKind::Unavailable,
            "this launcher runs as many interactive launches as local.max_interactive (EXECENV_LOCAL__MAX_INTERACTIVE) allows, 1; cancel one or raise the setting"
        )
    );
    assert_eq!(err.kind.grpc_code(), 14, "UNAVAILABLE");
    assert!(!bed.data("launches/two").exists(), "nothing was written");

    let one = bed.launches.get("one").expect("known");
    bed.backend.cancel(&one).await.expect("cancel");
    bed.serve("three", "serve")
        .await
        .expect("the cancelled launch's place is free");
    bed.finish().await;
}

#[tokio::test]
async fn an_app_that_stops_answering_is_running_until_it_answers_again_and_shutdown_fails_it() {
    let bed = interactive_bed().await;
    bed.serve("blink", "serve").await.expect("started");
    let ready = bed.until("blink", |l| l.state == State::Ready).await;
    ask(&ready.address, "close").await.expect("told to close");
    let silent = bed.until("blink", |l| l.reason == "NotAnswering").await;
    assert_eq!(
        (silent.state, silent.message),
        (
            State::Running,
            format!(
                "the app stopped answering on {} (3 probes missed); its process still runs",
                ready.address
            )
        )
    );
    assert_eq!(bed.sample(READY), "0");
    std::fs::write(bed.data("launches/blink/reopen"), "").expect("reopen");
    let again = bed.until("blink", |l| l.state == State::Ready).await;
    assert_eq!(
        (again.address, again.restarts, again.ready),
        (ready.address.clone(), 0, ready.ready),
        "the same process, first ready earlier"
    );
    assert_eq!(bed.sample(READY), "1");

    let pid = pid_of(&bed, "blink");
    let launches = bed.launches.clone();
    let metrics = bed.metrics.clone();
    let _dir = bed.finish().await;
    let stopped = launches.get("blink").expect("known");
    assert_eq!(
        (stopped.state, stopped.reason.as_str()),
        (State::Failed, "LauncherStopped")
    );
    assert!(!group_alive(pid));
    assert_eq!(crate::metrics::sample(&metrics, READY), "0");
}
