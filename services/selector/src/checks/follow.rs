//! The follower that keeps [`SharedChecks`] current from the image examiner's `WatchChecks`
//! stream: every environment's check, then each change, `snapshot_complete` after the first full
//! round. It applies checks as they come (publishing once per burst, like the catalogue's
//! follower) and, at `snapshot_complete`, forgets the environments this session did not mention.
//! When the stream breaks it reconnects with the client crate's [`Backoff`]; meanwhile the last
//! checks stay in force. It logs once when it connects and once when it loses the examiner (or
//! cannot reach it), never per attempt.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use execenv_client::Backoff;
use execenv_core::examine::CheckState;
use execenv_kit::shutdown::Shutdown;
use execenv_proto::convert::examine::check_state;
use execenv_proto::examiner::v1 as ex;
use execenv_proto::examiner::v1::check_event::Event;
use futures::FutureExt;
use futures::stream::{BoxStream, StreamExt};
use uuid::Uuid;

use super::{DriftBook, SharedChecks, Standing};
use crate::select::{Exclusions, ImageCheck};

/// How long a steady flow of checks may postpone publishing them.
pub const MAX_BATCH: Duration = Duration::from_millis(50);

/// A stream of the examiner's check events.
pub type CheckStream = BoxStream<'static, Result<ex::CheckEvent, tonic::Status>>;

/// Where check events come from: the image examiner over gRPC, or a test's source.
pub trait CheckSource: Send + Sync + 'static {
    /// Starts `WatchChecks`.
    fn watch(&self) -> impl Future<Output = Result<CheckStream, tonic::Status>> + Send;

    /// Names the source in logs (the examiner's URL).
    fn describe(&self) -> &str;
}

/// Tuning of the follower.
#[derive(Debug, Clone)]
pub struct FollowOptions {
    /// How long a steady flow of checks may postpone publishing them.
    pub max_batch: Duration,
    /// Delays between attempts after a failure.
    pub backoff: Backoff,
}

impl Default for FollowOptions {
    fn default() -> Self {
        FollowOptions {
            max_batch: MAX_BATCH,
            backoff: Backoff::default(),
        }
    }
}

/// Keeps `shared` current from `source` until `shutdown`.
pub async fn run<S: CheckSource>(
    source: S,
    shared: SharedChecks,
    options: FollowOptions,
    shutdown: Shutdown,
) {
    let mut noted = Noted::default();
    let mut backoff = options.backoff.clone();
    // Whether the current absence of the examiner was logged already.
    let mut absence_logged = false;
    loop {
        let session = async {
            match source.watch().await {
                Ok(stream) => {
                    tracing::info!(
                        examiner = source.describe(),
                        "following the image examiner's checks of the environments"
                    );
                    follow(stream, &mut noted, &shared, options.max_batch).await
                }
                Err(status) => Session {
                    connected: false,
                    end: ended_by(&status),
                },
            }
        };
        let session = tokio::select! {
            () = shutdown.wait() => return,
            s = session => s,
        };
        if session.connected {
            backoff.reset();
        }
        let delay = backoff.next_delay();
        if session.connected {
            tracing::warn!(examiner = source.describe(), reason = %session.end,
                in_drift = noted.drifted(), unreadable = noted.unreadable(),
                "lost the image examiner; selecting with its last checks until it is back");
            absence_logged = true;
        } else if !absence_logged {
            tracing::warn!(examiner = source.describe(), reason = %session.end,
                in_drift = noted.drifted(), unreadable = noted.unreadable(),
                "cannot follow the image examiner's checks; selecting with what it said last (nothing, before it answered) until it answers");
            absence_logged = true;
        } else {
            tracing::debug!(examiner = source.describe(), reason = %session.end, retry_in = ?delay,
                "the image examiner is still away");
        }
        tokio::select! {
            () = shutdown.wait() => return,
            () = tokio::time::sleep(delay) => {}
        }
    }
}

/// How one session ended.
struct Session {
    /// Whether the examiner answered the call (the stream was open).
    connected: bool,
    end: String,
}

fn ended_by(status: &tonic::Status) -> String {
    format!("{:?}: {}", status.code(), status.message())
}

/// The environments with something to say (in drift or unreadable), between publications.
#[derive(Default)]
struct Noted {
    by_guid: HashMap<Uuid, Entry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    standing: Standing,
    /// Why `selection.skip_drift` leaves it out (in drift only).
    skip_reason: Option<String>,
}

impl Noted {
    /// Records the check of `guid`; whether that changed what is published.
    fn record(&mut self, guid: Uuid, check: &ImageCheck) -> bool {
        let entry = check.note().map(|note| Entry {
            standing: Standing {
                state: check.state,
                note,
            },
            skip_reason: check.skip_reason(),
        });
        match entry {
            Some(e) => self.by_guid.insert(guid, e.clone()).as_ref() != Some(&e),
            None => self.by_guid.remove(&guid).is_some(),
        }
    }

    /// Forgets `guid`; whether it was noted.
    fn forget(&mut self, guid: &Uuid) -> bool {
        self.by_guid.remove(guid).is_some()
    }

    /// Forgets every environment not in `seen`; whether any was noted.
    fn keep_only(&mut self, seen: &HashSet<Uuid>) -> bool {
        let before = self.by_guid.len();
        self.by_guid.retain(|guid, _| seen.contains(guid));
        self.by_guid.len() != before
    }

    fn count(&self, state: CheckState) -> usize {
        self.by_guid
            .values()
            .filter(|e| e.standing.state == state)
            .count()
    }

    fn drifted(&self) -> usize {
        self.count(CheckState::Drift)
    }

    fn unreadable(&self) -> usize {
        self.count(CheckState::Unreadable)
    }

    fn book(&self) -> DriftBook {
        DriftBook {
            standings: self
                .by_guid
                .iter()
                .map(|(guid, e)| (*guid, e.standing.clone()))
                .collect(),
            drifted: self
                .by_guid
                .iter()
                .filter_map(|(guid, e)| e.skip_reason.clone().map(|r| (*guid, r)))
                .collect::<Exclusions>(),
        }
    }
}

/// Follows one stream until it ends.
async fn follow(
    mut stream: CheckStream,
    noted: &mut Noted,
    shared: &SharedChecks,
    max_batch: Duration,
) -> Session {
    // The environments this session mentioned before `snapshot_complete`; None after it.
    let mut seen: Option<HashSet<Uuid>> = Some(HashSet::new());
    let mut dirty_since: Option<Instant> = None;
    let end = loop {
        let next = if dirty_since.is_some() {
            match stream.next().now_or_never() {
                Some(next) => next,
                // The burst is over.
                None => {
                    shared.publish(noted.book());
                    dirty_since = None;
                    continue;
                }
            }
        } else {
            stream.next().await
        };
        let event = match next {
            None => break "the image examiner ended the stream".to_owned(),
            Some(Err(status)) => break ended_by(&status),
            Some(Ok(ex::CheckEvent { event: Some(event) })) => event,
            Some(Ok(ex::CheckEvent { event: None })) => continue,
        };
        let changed = match event {
            Event::Check(check) => match Uuid::parse_str(&check.guid) {
                Ok(guid) => {
                    if let Some(seen) = seen.as_mut() {
                        seen.insert(guid);
                    }
                    noted.record(guid, &image_check(&check))
                }
                Err(_) => {
                    tracing::warn!(
                        guid = check.guid,
                        "the image examiner sent a check with an invalid guid; ignored"
                    );
                    false
                }
            },
            Event::RemovedGuid(guid) => match Uuid::parse_str(&guid) {
                Ok(guid) => noted.forget(&guid),
                Err(_) => false,
            },
            Event::SnapshotComplete(_) => {
                let forgot = seen.take().is_some_and(|seen| noted.keep_only(&seen));
                tracing::info!(
                    in_drift = noted.drifted(),
                    unreadable = noted.unreadable(),
                    "in sync with the image examiner's checks"
                );
                forgot
            }
        };
        if changed {
            let since = *dirty_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= max_batch {
                shared.publish(noted.book());
                dirty_since = None;
            }
        }
    };
    if dirty_since.is_some() {
        shared.publish(noted.book());
    }
    Session {
        connected: true,
        end,
    }
}

/// A check as selection uses it: its state, the sentences of its drift findings, why the image
/// could not be read. A state this build does not know counts as not checked yet.
fn image_check(c: &ex::EnvironmentCheck) -> ImageCheck {
    ImageCheck {
        state: check_state(c.state).unwrap_or(CheckState::Pending),
        drift: c
            .findings
            .iter()
            .filter(|f| f.drift)
            .map(|f| f.message.clone())
            .collect(),
        unreadable: c.unreadable_message.clone(),
    }
}

#[cfg(test)]
#[path = "follow_tests.rs"]
mod tests;
