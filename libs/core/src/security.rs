//! Security audit events: who created or revoked an API key, who changed who may use an
//! environment, and which client failed to sign in again and again. The registry stores them
//! (in the same transaction as the change they record) and administrators read them; this
//! module holds their shape and the counting of failed sign-ins, which needs no I/O.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What a security event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecurityEventKind {
    /// An API key was created.
    ApiKeyCreated,
    /// An API key stopped working: disabled, deleted, or deleted with its user.
    ApiKeyRevoked,
    /// A user or group was allowed to use an environment.
    PermissionAdded,
    /// A permission entry of an environment was removed.
    PermissionRemoved,
    /// One client failed to sign in the threshold number of times within the window.
    SignInFailures,
}

impl SecurityEventKind {
    /// Every kind, in documentation order.
    pub const ALL: [SecurityEventKind; 5] = [
        SecurityEventKind::ApiKeyCreated,
        SecurityEventKind::ApiKeyRevoked,
        SecurityEventKind::PermissionAdded,
        SecurityEventKind::PermissionRemoved,
        SecurityEventKind::SignInFailures,
    ];

    /// The wire and storage spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SecurityEventKind::ApiKeyCreated => "api_key_created",
            SecurityEventKind::ApiKeyRevoked => "api_key_revoked",
            SecurityEventKind::PermissionAdded => "permission_added",
            SecurityEventKind::PermissionRemoved => "permission_removed",
            SecurityEventKind::SignInFailures => "sign_in_failures",
        }
    }

    /// Parses the wire spelling.
    pub fn parse(s: &str) -> Option<SecurityEventKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The spellings, for messages: `api_key_created, api_key_revoked, …`.
    pub fn spellings() -> String {
        Self::ALL.map(SecurityEventKind::as_str).join(", ")
    }
}

/// How an API key was revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Revocation {
    /// Disabled for good.
    Disabled,
    /// Deleted.
    Deleted,
    /// Deleted together with its user.
    UserDeleted,
}

impl Revocation {
    /// The wire and storage spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Revocation::Disabled => "disabled",
            Revocation::Deleted => "deleted",
            Revocation::UserDeleted => "user_deleted",
        }
    }

    /// Parses the wire spelling.
    pub fn parse(s: &str) -> Option<Revocation> {
        [
            Revocation::Disabled,
            Revocation::Deleted,
            Revocation::UserDeleted,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

/// What an event is about; which fields are set depends on its kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityEventSubject {
    /// The key's owner (keys), or the user a permission names.
    pub user_guid: Option<String>,
    /// The group a permission names.
    pub group_guid: Option<String>,
    /// The key (keys).
    pub api_key_id: Option<Uuid>,
    /// The key's non-secret prefix (keys).
    pub api_key_prefix: Option<String>,
    /// How the key was revoked (`api_key_revoked`).
    pub revocation: Option<Revocation>,
    /// The environment (permissions).
    pub environment_guid: Option<Uuid>,
    /// The permission entry (permissions).
    pub permission_guid: Option<Uuid>,
    /// The client's address, as the gateway saw it (`sign_in_failures`).
    pub client_address: Option<String>,
    /// How many sign-ins failed within the window (`sign_in_failures`).
    pub failures: Option<u32>,
}

/// An event to record: the store gives it its id and time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSecurityEvent {
    /// What happened.
    pub kind: SecurityEventKind,
    /// Who did it: a user guid, `service`, or empty for `sign_in_failures` (nobody known).
    pub actor: String,
    /// What it is about.
    pub subject: SecurityEventSubject,
}

/// A recorded security event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityEvent {
    /// Strictly increasing in commit order.
    pub id: i64,
    /// When it was recorded.
    pub time: DateTime<Utc>,
    /// What happened.
    pub kind: SecurityEventKind,
    /// Who did it (see [`NewSecurityEvent::actor`]).
    pub actor: String,
    /// What it is about.
    #[serde(flatten)]
    pub subject: SecurityEventSubject,
}

/// Which events a list returns, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecurityEventFilter {
    /// Only events of these kinds (all when empty).
    pub kinds: Vec<SecurityEventKind>,
    /// Only events at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only events before this time.
    pub until: Option<DateTime<Utc>>,
    /// Only events with an id greater than this.
    pub after_id: i64,
    /// Page size (1..=[`crate::query::MAX_PAGE_SIZE`]).
    pub limit: u32,
}

/// At most this many clients are followed at once; past it, the client whose last failure is
/// oldest is forgotten, so that failures from countless addresses cannot exhaust memory.
pub const MAX_FOLLOWED_CLIENTS: usize = 10_000;

/// Failed sign-ins per client, counted in memory: [`SignInFailures::failed`] says when one
/// client reaches the threshold within the window, and the count then starts again.
#[derive(Debug)]
pub struct SignInFailures {
    threshold: u32,
    window: Duration,
    clients: HashMap<String, VecDeque<Instant>>,
}

impl SignInFailures {
    /// Counts failures within `window`; `threshold` 0 counts nothing.
    pub fn new(threshold: u32, window: Duration) -> Self {
        SignInFailures {
            threshold,
            window,
            clients: HashMap::new(),
        }
    }

    /// Notes a failure of `client` at `now`; returns how many failures it had within the
    /// window when that makes the threshold (an event to record), `None` otherwise.
    pub fn failed(&mut self, client: &str, now: Instant) -> Option<u32> {
        if self.threshold == 0 {
            return None;
        }
        if !self.clients.contains_key(client) && self.clients.len() >= MAX_FOLLOWED_CLIENTS {
            self.forget_one(now);
        }
        let window = self.window;
        let times = self.clients.entry(client.to_owned()).or_default();
        while times
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= window)
        {
            times.pop_front();
        }
        times.push_back(now);
        let count = u32::try_from(times.len()).unwrap_or(u32::MAX);
        if count < self.threshold {
            return None;
        }
        self.clients.remove(client);
        Some(count)
    }

    /// How many clients are followed.
    pub fn followed(&self) -> usize {
        self.clients.len()
    }

    /// Forgets the clients whose failures all left the window, or else the one whose last
    /// failure is the oldest.
    fn forget_one(&mut self, now: Instant) {
        let window = self.window;
        self.clients.retain(|_, times| {
            times
                .back()
                .is_some_and(|t| now.saturating_duration_since(*t) < window)
        });
        if self.clients.len() < MAX_FOLLOWED_CLIENTS {
            return;
        }
        let oldest = self
            .clients
            .iter()
            .min_by_key(|(_, times)| times.back().copied())
            .map(|(client, _)| client.clone());
        if let Some(client) = oldest {
            self.clients.remove(&client);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_their_spelling() {
        for kind in SecurityEventKind::ALL {
            assert_eq!(SecurityEventKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(SecurityEventKind::parse("key_created"), None);
        assert_eq!(
            SecurityEventKind::spellings(),
            "api_key_created, api_key_revoked, permission_added, permission_removed, sign_in_failures"
        );
        for r in [
            Revocation::Disabled,
            Revocation::Deleted,
            Revocation::UserDeleted,
        ] {
            assert_eq!(Revocation::parse(r.as_str()), Some(r));
        }
    }

    #[test]
    fn the_threshold_within_the_window_makes_one_event_then_counting_restarts() {
        let start = Instant::now();
        let mut f = SignInFailures::new(3, Duration::from_secs(60));
        let at = |s: u64| start + Duration::from_secs(s);
        assert_eq!(f.failed("10.0.0.1", at(0)), None);
        assert_eq!(f.failed("10.0.0.1", at(10)), None);
        assert_eq!(f.failed("10.0.0.2", at(11)), None);
        assert_eq!(f.failed("10.0.0.1", at(20)), Some(3));
        assert_eq!(f.failed("10.0.0.1", at(21)), None);
        assert_eq!(f.failed("10.0.0.1", at(22)), None);
        assert_eq!(f.failed("10.0.0.1", at(23)), Some(3));
    }

    #[test]
    fn failures_older_than_the_window_do_not_count() {
        let start = Instant::now();
        let mut f = SignInFailures::new(2, Duration::from_secs(60));
        assert_eq!(f.failed("c", start), None);
        assert_eq!(f.failed("c", start + Duration::from_secs(60)), None);
        assert_eq!(f.failed("c", start + Duration::from_secs(119)), Some(2));
    }

    #[test]
    fn a_threshold_of_zero_counts_nothing() {
        let mut f = SignInFailures::new(0, Duration::from_secs(60));
        for _ in 0..5 {
            assert_eq!(f.failed("c", Instant::now()), None);
        }
        assert_eq!(f.followed(), 0);
    }

    #[test]
    fn the_clients_followed_are_bounded() {
        let start = Instant::now();
        let mut f = SignInFailures::new(2, Duration::from_secs(3600));
        for i in 0..MAX_FOLLOWED_CLIENTS + 5 {
            let at = start + Duration::from_millis(u64::try_from(i).unwrap_or(0));
            assert_eq!(f.failed(&format!("client-{i}"), at), None);
        }
        assert_eq!(f.followed(), MAX_FOLLOWED_CLIENTS);
        // The oldest were forgotten: a second failure of client-0 is its first again.
        assert_eq!(f.failed("client-0", start + Duration::from_secs(1)), None);
        let newest = format!("client-{}", MAX_FOLLOWED_CLIENTS + 4);
        assert_eq!(f.failed(&newest, start + Duration::from_secs(1)), Some(2));
    }
}
