//! One environment's check against its image, and how a check follows from the one before: the
//! state (`execenv_core::examine::state_of`), when it last changed, the tag moving to another
//! digest, and which catalogue changes call for a new check. Pure: the drift loop
//! ([`crate::drift`]) feeds it what the examiner found.

use chrono::{DateTime, Utc};
use execenv_core::examine::{self, CheckState, EXAMINED_LANGUAGES, Finding};
use execenv_core::{Environment, Permission};
use execenv_proto::convert::timestamp;
use execenv_proto::examiner::v1 as pb;
use uuid::Uuid;

use crate::examinations::Compared;
use crate::source::Unreadable;

/// The last check of one environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// The environment.
    pub guid: Uuid,
    /// Its image reference (its name) at the check.
    pub image: String,
    /// Its title.
    pub title: Option<String>,
    /// How it stands against its image.
    pub state: CheckState,
    /// The manifest digest the image resolved to (None when it could not be read).
    pub digest: Option<String>,
    /// The digest of the check before, when the tag moved since.
    pub previous_digest: Option<String>,
    /// Drift and notices.
    pub findings: Vec<Finding>,
    /// Why the image could not be read (state UNREADABLE).
    pub unreadable: Option<Unreadable>,
    /// When the image was last resolved and compared (None while pending).
    pub checked_time: Option<DateTime<Utc>>,
    /// When `state` last changed (None while pending).
    pub state_changed_time: Option<DateTime<Utc>>,
    /// The environment's revision the check compared against.
    pub revision: i64,
    /// The digest the latest check that resolved the image found, kept through checks that
    /// could not: the tag's move is noticed across an unreadable spell.
    pub last_digest: Option<String>,
    /// The environment's permission entries now: who may see this check
    /// (`Caller::may_use_under`). Not sent.
    pub permissions: Vec<Permission>,
}

/// What checking an environment found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The image was read and compared with the definition.
    Compared(Compared),
    /// The image could not be resolved or read.
    Unreadable(Unreadable),
}

impl Check {
    /// The check of an environment not checked yet.
    pub fn pending(environment: &Environment) -> Check {
        Check {
            guid: environment.guid,
            image: environment.spec.name.clone(),
            title: environment.spec.title.clone(),
            state: CheckState::Pending,
            digest: None,
            previous_digest: None,
            findings: Vec::new(),
            unreadable: None,
            checked_time: None,
            state_changed_time: None,
            revision: environment.revision,
            last_digest: None,
            permissions: environment.permissions.clone(),
        }
    }

    /// The check that follows this one when `environment` was checked at `now` with `outcome`.
    pub fn next(&self, environment: &Environment, outcome: Outcome, now: DateTime<Utc>) -> Check {
        let image = environment.spec.name.clone();
        // A digest from another reference says nothing about this tag.
        let last_digest = self.last_digest.as_deref().filter(|_| self.image == image);
        let (state, digest, previous_digest, findings, unreadable) = match outcome {
            Outcome::Compared(Compared {
                digest,
                mut findings,
            }) => {
                let moved =
                    last_digest.and_then(|previous| examine::tag_moved(&image, previous, &digest));
                let previous_digest = moved.as_ref().and(last_digest).map(str::to_owned);
                findings.extend(moved);
                let state = examine::state_of(&findings);
                (state, Some(digest), previous_digest, findings, None)
            }
            Outcome::Unreadable(why) => (CheckState::Unreadable, None, None, Vec::new(), Some(why)),
        };
        let state_changed_time = if state == self.state {
            self.state_changed_time.or(Some(now))
        } else {
            Some(now)
        };
        Check {
            guid: environment.guid,
            last_digest: digest.clone().or_else(|| last_digest.map(str::to_owned)),
            image,
            title: environment.spec.title.clone(),
            state,
            digest,
            previous_digest,
            findings,
            unreadable,
            checked_time: Some(now),
            state_changed_time,
            revision: environment.revision,
            permissions: environment.permissions.clone(),
        }
    }

    /// This check under the environment's new title and permissions (a change that needs no new
    /// check).
    pub fn retitled(&self, environment: &Environment) -> Check {
        Check {
            title: environment.spec.title.clone(),
            permissions: environment.permissions.clone(),
            ..self.clone()
        }
    }

    /// Whether `other` says something this check does not: anything but the time of checking
    /// differs.
    pub fn differs_from(&self, other: &Check) -> bool {
        let mut same_time = other.clone();
        same_time.checked_time = self.checked_time;
        *self != same_time
    }

    /// One line for logs and summaries: the drift, else why the image is unreadable, else the
    /// state.
    pub fn summary(&self) -> String {
        if let Some(why) = &self.unreadable {
            return why.message.clone();
        }
        let drift: Vec<&str> = self
            .findings
            .iter()
            .filter(|f| f.kind.is_drift())
            .map(|f| f.message.as_str())
            .collect();
        if drift.is_empty() {
            self.state.as_str().to_owned()
        } else {
            drift.join("; ")
        }
    }

    /// The check as the API sends it.
    pub fn to_wire(&self) -> pb::EnvironmentCheck {
        pb::EnvironmentCheck {
            guid: self.guid.to_string(),
            image: self.image.clone(),
            title: self.title.clone().unwrap_or_default(),
            state: pb::CheckState::from(self.state) as i32,
            digest: self.digest.clone().unwrap_or_default(),
            previous_digest: self.previous_digest.clone().unwrap_or_default(),
            findings: self.findings.iter().map(pb::Finding::from).collect(),
            unreadable_kind: self
                .unreadable
                .as_ref()
                .map_or(pb::UnreadableKind::Unspecified, |u| u.kind.into())
                as i32,
            unreadable_message: self
                .unreadable
                .as_ref()
                .map(|u| u.message.clone())
                .unwrap_or_default(),
            checked_time: self.checked_time.map(timestamp),
            state_changed_time: self.state_changed_time.map(timestamp),
            revision: self.revision,
        }
    }
}

/// Whether a catalogue change from `before` to `after` calls for a new check: another image, or
/// other installations of an examined language. A new title, description or permission does not.
pub fn needs_check(before: &Environment, after: &Environment) -> bool {
    before.spec.name != after.spec.name
        || EXAMINED_LANGUAGES
            .iter()
            .any(|l| before.spec.installations(*l) != after.spec.installations(*l))
}

#[cfg(test)]
#[path = "check_tests.rs"]
mod tests;
