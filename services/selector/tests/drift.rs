//! The selector in-process on port 0 following an image examiner's `WatchChecks`: `Explain`
//! says which environments are in drift or unreadable, `selection.skip_drift` leaves the ones in
//! drift out (and counts them), losing the examiner never stops selection, and the follower
//! reconnects and catches up. The catalogue comes from `execenv_client::testing::FakeRegistry`.
//!
//! The examiner here is a test double ([`ExaminerDouble`]), served over gRPC in-process: the
//! examiner binary (`execenv-image-examiner`) lands in the same change.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use execenv_client::testing::FakeRegistry;
use execenv_proto::examiner::v1 as ex;
use execenv_proto::examiner::v1::check_event::Event;
use execenv_proto::examiner::v1::image_examiner_server::{ImageExaminer, ImageExaminerServer};
use execenv_proto::selector::v1 as sel;
use execenv_selector::Config;
use support::*;
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::{Request, Response, Status};

const MISMATCH: &str =
    "Python at /opt/python/3.12.4/bin/python3 is declared as 3.12.4 but the image has 3.11.9";
const NOT_FOUND: &str = "ghcr.io/a/py310:1 was not found in ghcr.io: no such repository or tag";

type Events = mpsc::UnboundedSender<Result<ex::CheckEvent, Status>>;

/// Test double of the image examiner (the examiner binary lands in the same change): every
/// `WatchChecks` gets the current checks, then `snapshot_complete`, then each check the test
/// sets. It requires the service token, and the test can end the open watches and refuse new
/// ones.
#[derive(Clone, Default)]
struct ExaminerDouble {
    state: Arc<Mutex<DoubleState>>,
    /// WatchChecks calls so far, refused ones included.
    calls: Arc<tokio::sync::watch::Sender<u32>>,
}

#[derive(Default)]
struct DoubleState {
    checks: BTreeMap<String, ex::EnvironmentCheck>,
    watchers: Vec<Events>,
    refuse: bool,
}

impl ExaminerDouble {
    /// Sets the check of one environment and sends it to the open watches.
    fn set(&self, check: ex::EnvironmentCheck) {
        let mut s = self.state.lock().unwrap();
        s.watchers.retain(|w| {
            w.send(Ok(ex::CheckEvent {
                event: Some(Event::Check(check.clone())),
            }))
            .is_ok()
        });
        s.checks.insert(check.guid.clone(), check);
    }

    /// Ends every open watch (the selector sees the stream end).
    fn end_watches(&self) {
        self.state.lock().unwrap().watchers.clear();
    }

    /// Refuses new watches with UNAVAILABLE while `on`.
    fn refuse(&self, on: bool) {
        self.state.lock().unwrap().refuse = on;
    }

    fn calls(&self) -> u32 {
        *self.calls.borrow()
    }

    async fn wait_for_calls(&self, n: u32) {
        let mut rx = self.calls.subscribe();
        tokio::time::timeout(DEADLINE, rx.wait_for(|c| *c >= n))
            .await
            .unwrap_or_else(|_| panic!("{n} WatchChecks calls not within {DEADLINE:?}"))
            .unwrap();
    }

    /// Serves on a free loopback port until the returned sender is dropped or fired.
    async fn serve(&self) -> (String, tokio::sync::oneshot::Sender<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(ImageExaminerServer::new(self.clone()))
                .serve_with_incoming_shutdown(
                    tonic::transport::server::TcpIncoming::from(listener),
                    async {
                        let _ = stopped.await;
                    },
                ),
        );
        (url, stop)
    }
}

fn not_here<T>() -> Result<Response<T>, Status> {
    Err(Status::unimplemented(
        "the test double serves WatchChecks only",
    ))
}

#[tonic::async_trait]
impl ImageExaminer for ExaminerDouble {
    type WatchChecksStream = UnboundedReceiverStream<Result<ex::CheckEvent, Status>>;

    async fn examine(
        &self,
        _: Request<ex::ExamineRequest>,
    ) -> Result<Response<ex::ExamineResponse>, Status> {
        not_here()
    }

    async fn list_checks(
        &self,
        _: Request<ex::ListChecksRequest>,
    ) -> Result<Response<ex::ListChecksResponse>, Status> {
        not_here()
    }

    async fn get_check(
        &self,
        _: Request<ex::GetCheckRequest>,
    ) -> Result<Response<ex::EnvironmentCheck>, Status> {
        not_here()
    }

    async fn check_now(
        &self,
        _: Request<ex::CheckNowRequest>,
    ) -> Result<Response<ex::CheckNowResponse>, Status> {
        not_here()
    }

    async fn watch_checks(
        &self,
        request: Request<ex::WatchChecksRequest>,
    ) -> Result<Response<Self::WatchChecksStream>, Status> {
        self.calls.send_modify(|c| *c += 1);
        execenv_client::caller_from_metadata(request.metadata(), Some(TOKEN))
            .map_err(|e| execenv_client::to_status(&e))?;
        let mut s = self.state.lock().unwrap();
        if s.refuse {
            return Err(Status::unavailable("the test refuses watches for now"));
        }
        let (tx, rx) = mpsc::unbounded_channel();
        for check in s.checks.values() {
            let _ = tx.send(Ok(ex::CheckEvent {
                event: Some(Event::Check(check.clone())),
            }));
        }
        let _ = tx.send(Ok(ex::CheckEvent {
            event: Some(Event::SnapshotComplete(true)),
        }));
        s.watchers.push(tx);
        Ok(Response::new(UnboundedReceiverStream::new(rx)))
    }
}

fn check(guid: &str, state: ex::CheckState) -> ex::EnvironmentCheck {
    let mut c = ex::EnvironmentCheck {
        guid: guid.to_owned(),
        state: state as i32,
        ..Default::default()
    };
    match state {
        ex::CheckState::Drift => c.findings.push(ex::Finding {
            kind: ex::FindingKind::VersionMismatch as i32,
            language: "python".into(),
            path: "/opt/python/3.12.4/bin/python3".into(),
            declared_version: "3.12.4".into(),
            found_version: "3.11.9".into(),
            message: MISMATCH.into(),
            drift: true,
        }),
        ex::CheckState::Unreadable => {
            c.unreadable_kind = ex::UnreadableKind::NotFound as i32;
            c.unreadable_message = NOT_FOUND.into();
        }
        _ => {}
    }
    c
}

fn with_examiner(registry: String, examiner: String, skip_drift: bool) -> Config {
    let mut c = config(registry);
    c.examiner.url = examiner;
    c.selection.skip_drift = skip_drift;
    c
}

async fn explain(c: &mut Client, request: sel::SelectRequest) -> sel::ExplainResponse {
    c.explain(support::request(request, None))
        .await
        .unwrap()
        .into_inner()
}

fn verdict<'a>(x: &'a sel::ExplainResponse, guid: &str) -> &'a sel::Verdict {
    x.verdicts
        .iter()
        .find(|v| v.environment_guid == guid)
        .unwrap()
}

async fn skipped_total(running: &execenv_selector::Running) -> f64 {
    let (_, text) = get(running, "/metrics").await;
    metric(&text, "execenv_selector_skipped_drift_total")
}

#[tokio::test]
async fn explain_says_which_environments_are_in_drift_or_unreadable() {
    let fake = FakeRegistry::new(Some(TOKEN));
    let py312 = environment("ghcr.io/a/py312:1", "3.12.4");
    let py311 = environment("ghcr.io/a/py311:1", "3.11.9");
    let py310 = environment("ghcr.io/a/py310:1", "3.10.14");
    for e in [&py312, &py311, &py310] {
        fake.upsert(e.clone());
    }
    let served = fake.serve().await;
    let examiner = ExaminerDouble::default();
    examiner.set(check(&py312.guid, ex::CheckState::Drift));
    examiner.set(check(&py311.guid, ex::CheckState::Ok));
    examiner.set(check(&py310.guid, ex::CheckState::Unreadable));
    let (examiner_url, stop_examiner) = examiner.serve().await;
    let (running, c) = start_ready_with(with_examiner(served.url(), examiner_url, false)).await;

    eventually("Explain knows both images", || {
        let mut c = c.clone();
        let (a, b) = (py312.guid.clone(), py310.guid.clone());
        async move {
            let x = explain(&mut c, python("3.12.4")).await;
            !verdict(&x, &a).drift.is_empty() && !verdict(&x, &b).drift.is_empty()
        }
    })
    .await;
    let x = explain(&mut c.clone(), python("3.12.4")).await;
    let drifted = verdict(&x, &py312.guid);
    assert_eq!(drifted.drift, format!("in drift: {MISMATCH}"));
    assert_eq!(
        drifted.outcome,
        sel::verdict::Outcome::Chosen as i32,
        "without skip_drift an environment in drift is chosen as before"
    );
    assert_eq!(
        verdict(&x, &py310.guid).drift,
        format!("image unreadable: {NOT_FOUND}")
    );
    assert_eq!(verdict(&x, &py311.guid).drift, "");
    let chosen = select(&mut c.clone(), "3.12.4").await.unwrap();
    assert_eq!(chosen.environment.unwrap().guid, py312.guid);
    assert_eq!(skipped_total(&running).await, 0.0);
    stop(running).await;
    let _ = stop_examiner.send(());
    served.stop().await;
}

#[tokio::test]
async fn with_skip_drift_an_environment_in_drift_is_not_chosen_and_its_verdict_says_why() {
    let fake = FakeRegistry::new(Some(TOKEN));
    let drifting = environment("ghcr.io/a/py3124:1", "3.12.4");
    let other = environment("ghcr.io/a/py3121:1", "3.12.1");
    fake.upsert(drifting.clone());
    fake.upsert(other.clone());
    let served = fake.serve().await;
    let examiner = ExaminerDouble::default();
    examiner.set(check(&drifting.guid, ex::CheckState::Drift));
    examiner.set(check(&other.guid, ex::CheckState::Ok));
    let (examiner_url, stop_examiner) = examiner.serve().await;
    let (running, c) = start_ready_with(with_examiner(served.url(), examiner_url, true)).await;

    let reason = format!("in drift and selection.skip_drift is on: {MISMATCH}");
    eventually("the environment in drift is skipped", || {
        let mut c = c.clone();
        let other = other.guid.clone();
        async move {
            select(&mut c, "3.12.4")
                .await
                .is_ok_and(|a| a.environment.unwrap().guid == other)
        }
    })
    .await;
    let before = skipped_total(&running).await;
    assert!(before >= 1.0, "{before}");
    select(&mut c.clone(), "3.12.4").await.unwrap();
    assert_eq!(skipped_total(&running).await, before + 1.0);

    let x = explain(&mut c.clone(), python("3.12.4")).await;
    let v = verdict(&x, &drifting.guid);
    assert_eq!(v.outcome, sel::verdict::Outcome::Rejected as i32);
    assert_eq!(v.reasons, vec![reason.clone()]);
    assert_eq!(v.drift, format!("in drift: {MISMATCH}"));
    assert_eq!(
        verdict(&x, &other.guid).outcome,
        sel::verdict::Outcome::Chosen as i32
    );

    // Targeting the environment in drift fails with the reason instead of falling back.
    let targeted = sel::SelectRequest {
        requirements: Some(sel::Requirements {
            python_version: Some("3.12.4".into()),
            target_image: Some("ghcr.io/a/py3124:1".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let err = c
        .clone()
        .select(support::request(targeted, None))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::FailedPrecondition);
    assert!(err.message().contains(&reason), "{}", err.message());

    // The image is fixed: the examiner's next check puts it back in the running.
    examiner.set(check(&drifting.guid, ex::CheckState::Ok));
    eventually("the environment is chosen again", || {
        let mut c = c.clone();
        let drifting = drifting.guid.clone();
        async move {
            select(&mut c, "3.12.4")
                .await
                .is_ok_and(|a| a.environment.unwrap().guid == drifting)
        }
    })
    .await;
    stop(running).await;
    let _ = stop_examiner.send(());
    served.stop().await;
}

#[tokio::test]
async fn losing_the_examiner_keeps_its_last_checks_and_the_selector_reconnects() {
    let fake = FakeRegistry::new(Some(TOKEN));
    let drifting = environment("ghcr.io/a/py3124:1", "3.12.4");
    let other = environment("ghcr.io/a/py3121:1", "3.12.1");
    fake.upsert(drifting.clone());
    fake.upsert(other.clone());
    let served = fake.serve().await;
    let examiner = ExaminerDouble::default();
    examiner.set(check(&drifting.guid, ex::CheckState::Drift));
    let (examiner_url, stop_examiner) = examiner.serve().await;
    let (running, c) = start_ready_with(with_examiner(served.url(), examiner_url, true)).await;
    let chooses = |guid: String| {
        let c = c.clone();
        move || {
            let mut c = c.clone();
            let guid = guid.clone();
            async move {
                select(&mut c, "3.12.4")
                    .await
                    .is_ok_and(|a| a.environment.unwrap().guid == guid)
            }
        }
    };
    eventually(
        "the environment in drift is skipped",
        chooses(other.guid.clone()),
    )
    .await;

    // The examiner goes away; the image is fixed meanwhile.
    examiner.refuse(true);
    examiner.end_watches();
    let calls = examiner.calls();
    examiner.wait_for_calls(calls + 2).await;
    let answer = select(&mut c.clone(), "3.12.4").await.unwrap();
    assert_eq!(
        answer.environment.unwrap().guid,
        other.guid,
        "the last checks stay in force while the examiner is away"
    );
    examiner.set(check(&drifting.guid, ex::CheckState::Ok));
    examiner.refuse(false);
    eventually(
        "the check made while away is seen after reconnecting",
        chooses(drifting.guid.clone()),
    )
    .await;
    stop(running).await;
    let _ = stop_examiner.send(());
    served.stop().await;
}

#[tokio::test]
async fn an_examiner_that_cannot_be_reached_leaves_selection_without_drift_information() {
    let fake = FakeRegistry::new(Some(TOKEN));
    let py312 = environment("ghcr.io/a/py312:1", "3.12.4");
    fake.upsert(py312.clone());
    let served = fake.serve().await;
    // A port that was free a moment ago: nothing answers there.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let (running, mut c) = start_ready_with(with_examiner(served.url(), closed, true)).await;
    let answer = select(&mut c, "3.12.4").await.unwrap();
    assert_eq!(answer.environment.unwrap().guid, py312.guid);
    let x = explain(&mut c, python("3.12.4")).await;
    assert_eq!(verdict(&x, &py312.guid).drift, "");
    assert_eq!(running.state.checks.published(), 0);
    stop(running).await;
    served.stop().await;
}
