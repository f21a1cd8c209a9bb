#![allow(clippy::unwrap_used)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use futures::stream;
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;

use super::*;

const DEADLINE: Duration = Duration::from_secs(10);
const MISMATCH: &str =
    "Python at /opt/python/3.12.4/bin/python3 is declared as 3.12.4 but the image has 3.11.9";
const NOT_FOUND: &str =
    "127.0.0.1:5000/python:gone was not found in 127.0.0.1:5000: no such repository or tag";

type Item = Result<ex::CheckEvent, tonic::Status>;

fn guid(n: u32) -> Uuid {
    Uuid::from_u128(0x4000_0000_0000_4000_8000_0000_0000_0000 | u128::from(n))
}

fn check(n: u32, state: ex::CheckState) -> ex::EnvironmentCheck {
    let drift = state == ex::CheckState::Drift;
    ex::EnvironmentCheck {
        guid: guid(n).to_string(),
        image: format!("127.0.0.1:5000/python:{n}"),
        state: state as i32,
        findings: if drift {
            vec![
                ex::Finding {
                    kind: ex::FindingKind::VersionMismatch as i32,
                    language: "python".into(),
                    message: MISMATCH.into(),
                    drift: true,
                    ..Default::default()
                },
                ex::Finding {
                    kind: ex::FindingKind::TagMoved as i32,
                    message: "a notice, not drift".into(),
                    drift: false,
                    ..Default::default()
                },
            ]
        } else {
            Vec::new()
        },
        unreadable_kind: if state == ex::CheckState::Unreadable {
            ex::UnreadableKind::NotFound as i32
        } else {
            0
        },
        unreadable_message: if state == ex::CheckState::Unreadable {
            NOT_FOUND.into()
        } else {
            String::new()
        },
        ..Default::default()
    }
}

fn event(n: u32, state: ex::CheckState) -> Item {
    Ok(ex::CheckEvent {
        event: Some(Event::Check(check(n, state))),
    })
}

fn removed(n: u32) -> Item {
    Ok(ex::CheckEvent {
        event: Some(Event::RemovedGuid(guid(n).to_string())),
    })
}

fn complete() -> Item {
    Ok(ex::CheckEvent {
        event: Some(Event::SnapshotComplete(true)),
    })
}

/// Environment 1 in drift, 2 unreadable, 3 ok, 4 pending; then `snapshot_complete`.
fn snapshot() -> Vec<Item> {
    vec![
        event(1, ex::CheckState::Drift),
        event(2, ex::CheckState::Unreadable),
        event(3, ex::CheckState::Ok),
        event(4, ex::CheckState::Pending),
        complete(),
    ]
}

async fn follow_items(items: Vec<Item>, noted: &mut Noted, shared: &SharedChecks) -> Session {
    follow(stream::iter(items).boxed(), noted, shared, MAX_BATCH).await
}

fn standings(shared: &SharedChecks) -> Vec<(Uuid, CheckState, String)> {
    let book = shared.current();
    let mut s: Vec<_> = book
        .standings
        .iter()
        .map(|(g, s)| (*g, s.state, s.note.clone()))
        .collect();
    s.sort();
    s
}

fn drifted(shared: &SharedChecks) -> Vec<(Uuid, String)> {
    let book = shared.current();
    book.drifted
        .guids()
        .map(|g| (*g, book.drifted.reason(g).unwrap().to_owned()))
        .collect()
}

async fn published_reach(shared: &SharedChecks, n: u64) {
    tokio::time::timeout(DEADLINE, shared.wait_for_published(n))
        .await
        .unwrap_or_else(|_| panic!("{n} publications not within {DEADLINE:?}"));
}

#[tokio::test]
async fn checks_in_drift_or_unreadable_are_noted_and_only_drift_is_excluded() {
    let shared = SharedChecks::new();
    let mut noted = Noted::default();
    let session = follow_items(snapshot(), &mut noted, &shared).await;
    assert!(session.connected);
    assert_eq!(session.end, "the image examiner ended the stream");
    assert_eq!(shared.published(), 1, "one burst, one publication");
    assert_eq!(
        standings(&shared),
        vec![
            (guid(1), CheckState::Drift, format!("in drift: {MISMATCH}")),
            (
                guid(2),
                CheckState::Unreadable,
                format!("image unreadable: {NOT_FOUND}")
            ),
        ]
    );
    assert_eq!(
        drifted(&shared),
        vec![(
            guid(1),
            format!("in drift and selection.skip_drift is on: {MISMATCH}")
        )]
    );
    assert_eq!(shared.current().note(&guid(3)), None);
}

#[tokio::test]
async fn a_check_back_to_ok_and_a_removed_environment_are_forgotten() {
    let shared = SharedChecks::new();
    let mut noted = Noted::default();
    let mut items = snapshot();
    items.push(event(1, ex::CheckState::Ok));
    items.push(removed(2));
    follow_items(items, &mut noted, &shared).await;
    assert_eq!(standings(&shared), vec![]);
    assert_eq!(drifted(&shared), vec![]);
}

#[tokio::test]
async fn checks_that_change_nothing_publish_nothing() {
    let shared = SharedChecks::new();
    let mut noted = Noted::default();
    let items = vec![
        event(3, ex::CheckState::Ok),
        event(4, ex::CheckState::Pending),
        complete(),
    ];
    follow_items(items, &mut noted, &shared).await;
    assert_eq!(shared.published(), 0);
}

#[tokio::test]
async fn a_new_session_forgets_at_snapshot_complete_what_it_did_not_mention() {
    let shared = SharedChecks::new();
    let mut noted = Noted::default();
    follow_items(snapshot(), &mut noted, &shared).await;
    // The examiner came back; environment 2 is no longer in its catalogue, 1 still drifts.
    let cut_short = vec![
        event(1, ex::CheckState::Drift),
        Err(tonic::Status::unavailable("connection reset")),
    ];
    let session = follow_items(cut_short, &mut noted, &shared).await;
    assert_eq!(session.end, "Unavailable: connection reset");
    assert_eq!(
        standings(&shared).len(),
        2,
        "a session cut short before snapshot_complete forgets nothing"
    );
    let again = vec![event(1, ex::CheckState::Drift), complete()];
    follow_items(again, &mut noted, &shared).await;
    assert_eq!(
        standings(&shared),
        vec![(guid(1), CheckState::Drift, format!("in drift: {MISMATCH}"))]
    );
}

#[tokio::test]
async fn checks_arriving_apart_are_published_per_burst() {
    let (tx, rx) = mpsc::unbounded_channel::<Item>();
    let shared = SharedChecks::new();
    let task = {
        let shared = shared.clone();
        tokio::spawn(async move {
            let mut noted = Noted::default();
            follow(
                UnboundedReceiverStream::new(rx).boxed(),
                &mut noted,
                &shared,
                Duration::from_secs(3600),
            )
            .await
        })
    };
    for item in snapshot() {
        tx.send(item).unwrap();
    }
    published_reach(&shared, 1).await;
    tx.send(event(5, ex::CheckState::Drift)).unwrap();
    tx.send(event(6, ex::CheckState::Drift)).unwrap();
    published_reach(&shared, 2).await;
    assert_eq!(drifted(&shared).len(), 3);
    drop(tx);
    task.await.unwrap();
    assert_eq!(shared.published(), 2);
}

#[test]
fn an_unknown_state_counts_as_not_checked_yet() {
    let mut c = check(1, ex::CheckState::Drift);
    c.state = 42;
    let ic = image_check(&c);
    assert_eq!(ic.state, CheckState::Pending);
    assert_eq!(ic.note(), None);
    assert_eq!(
        image_check(&check(1, ex::CheckState::Drift)).drift,
        vec![MISMATCH.to_owned()],
        "notices are not drift"
    );
}

/// Test double of the examiner's `WatchChecks`: each session plays the next script and ends,
/// except the last, which stays open; counts the sessions.
struct ScriptedSource {
    scripts: Mutex<VecDeque<Result<Vec<Item>, tonic::Status>>>,
    sessions: Arc<Mutex<u32>>,
}

impl CheckSource for ScriptedSource {
    async fn watch(&self) -> Result<CheckStream, tonic::Status> {
        *self.sessions.lock().unwrap() += 1;
        let (next, last) = {
            let mut scripts = self.scripts.lock().unwrap();
            (scripts.pop_front(), scripts.is_empty())
        };
        match next {
            Some(Ok(items)) if last => Ok(stream::iter(items).chain(stream::pending()).boxed()),
            Some(Ok(items)) => Ok(stream::iter(items).boxed()),
            Some(Err(status)) => Err(status),
            None => Ok(stream::pending().boxed()),
        }
    }

    fn describe(&self) -> &str {
        "scripted"
    }
}

#[tokio::test]
async fn the_follower_reconnects_and_keeps_the_last_checks_while_the_examiner_is_away() {
    let sessions = Arc::new(Mutex::new(0));
    let source = ScriptedSource {
        scripts: Mutex::new(VecDeque::from([
            Ok(snapshot()),
            Err(tonic::Status::unavailable("examiner restarting")),
            Err(tonic::Status::unavailable("examiner restarting")),
            Ok(vec![
                event(1, ex::CheckState::Drift),
                event(2, ex::CheckState::Ok),
                complete(),
            ]),
        ])),
        sessions: sessions.clone(),
    };
    let shared = SharedChecks::new();
    let shutdown = Shutdown::new();
    let options = FollowOptions {
        max_batch: MAX_BATCH,
        backoff: Backoff::new(Duration::from_millis(1), Duration::from_millis(1)),
    };
    let task = tokio::spawn(run(source, shared.clone(), options, shutdown.clone()));
    published_reach(&shared, 1).await;
    assert_eq!(standings(&shared).len(), 2);
    // The fourth session: 1 still drifts, 2 is ok now.
    published_reach(&shared, 2).await;
    assert_eq!(
        standings(&shared),
        vec![(guid(1), CheckState::Drift, format!("in drift: {MISMATCH}"))]
    );
    assert_eq!(*sessions.lock().unwrap(), 4);
    shutdown.trigger();
    task.await.unwrap();
    assert_eq!(
        shared.published(),
        2,
        "the sessions that failed in between published nothing: the last checks stayed"
    );
}
