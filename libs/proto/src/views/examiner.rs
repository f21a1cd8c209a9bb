//! The image examiner's answers in words, as the gateway answers them (JSON) and execenvctl
//! prints them: an examination with the definition suggested from it ([`ExamineView`]), and each
//! environment's check against its image ([`CheckView`], [`ChecksView`]). Enums become the core's
//! lowercase words, times RFC 3339; an empty string of the wire is `null`.
//!
//! The suggested definition is the core's [`suggest_spec`] over the examination, in the keys of
//! the declarative file and of Connect's environment JSON (`name`, `title`, `python`, `r`,
//! `quarto`, each `{"installations": [{version, path}]}`), so it can be pasted into either.

use chrono::{DateTime, Utc};
use execenv_core::examine::{CheckState, FindingKind, Findings, UnreadableKind, suggest_spec};
use execenv_core::{EnvironmentSpec, Error, Installation};
use serde::Serialize;

use crate::convert::connect::{ConnectInstallation, ConnectInstallations};
use crate::convert::examine::{check_state, finding_kind, found_installation, unreadable_kind};
use crate::convert::from_timestamp;
use crate::examiner::v1 as pb;

/// What `Examine` answers, with the definition suggested from it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExamineView {
    /// What the image holds.
    pub examination: ExaminationView,
    /// A definition for the declarative file (or the create dialog) from it.
    pub definition: DefinitionView,
}

/// What one image holds, read from its files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExaminationView {
    /// The reference as asked for.
    pub image: String,
    /// The manifest digest examined (for the platform, not the index).
    pub digest: String,
    /// The manifest's platform (`linux/amd64`).
    pub platform: String,
    /// Every installation found.
    pub installations: Vec<FoundInstallationView>,
    /// Sentences about what was not found or could not be read.
    pub notes: Vec<String>,
    /// When the image was read.
    pub examined_time: Option<DateTime<Utc>>,
    /// Answered from the examiner's cache of examinations.
    pub cached: bool,
    /// How many layers the image has.
    pub layers: u32,
    /// The layers' sizes in the registry (compressed), summed.
    pub layer_bytes: u64,
}

/// One installation found in an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FoundInstallationView {
    /// python | r | quarto.
    pub language: String,
    /// The executable's path as a definition writes it.
    pub path: String,
    /// The version its version file says; null when it could not be read.
    pub version: Option<String>,
    /// The version file read, symlinks resolved.
    pub version_file: Option<String>,
    /// Why there is no version.
    pub problem: Option<String>,
}

/// A definition in the declarative file's keys: what an examination suggests.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DefinitionView {
    /// The image reference.
    pub name: String,
    /// A title naming what the image holds.
    pub title: Option<String>,
    /// Python installations.
    pub python: ConnectInstallations,
    /// R installations.
    pub r: ConnectInstallations,
    /// Quarto installations.
    pub quarto: ConnectInstallations,
}

/// One environment's last check against its image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckView {
    /// The environment's guid.
    pub guid: String,
    /// Its image reference.
    pub image: String,
    /// Its title.
    pub title: Option<String>,
    /// pending | ok | drift | unreadable.
    pub state: CheckState,
    /// The manifest digest the reference resolved to; null before the image was read.
    pub digest: Option<String>,
    /// The digest at the check before, when the tag moved since.
    pub previous_digest: Option<String>,
    /// What the check found: drift first as the examiner orders them, then notices.
    pub findings: Vec<FindingView>,
    /// Why the image could not be read (state unreadable); null otherwise.
    pub unreadable: Option<UnreadableView>,
    /// When the image was last resolved and compared; null while pending.
    pub checked_time: Option<DateTime<Utc>>,
    /// When the state last changed.
    pub state_changed_time: Option<DateTime<Utc>>,
    /// The environment's catalogue revision the check compared against.
    pub revision: i64,
}

/// One finding of a check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FindingView {
    /// missing | version_mismatch | version_unknown | tag_moved | undeclared.
    pub kind: FindingKind,
    /// Whether it puts the environment in drift (the others are notices).
    pub drift: bool,
    /// python | r | quarto; null for tag_moved.
    pub language: Option<String>,
    /// The installation's executable; null for tag_moved.
    pub path: Option<String>,
    /// The version the definition declares.
    pub declared_version: Option<String>,
    /// The version the image's files say.
    pub found_version: Option<String>,
    /// The finding as one sentence.
    pub message: String,
}

/// Why an image could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnreadableView {
    /// not_found | unauthorized | unreachable | invalid.
    pub kind: UnreadableKind,
    /// What happened and what to do, as one sentence.
    pub message: String,
}

/// Every environment's check, and how often they are made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChecksView {
    /// One check per environment of the catalogue.
    pub checks: Vec<CheckView>,
    /// Seconds between scheduled checks.
    pub interval_seconds: u32,
}

impl ExamineView {
    /// The examination of `Examine`'s answer and the definition the core suggests from it.
    pub fn from_wire(examination: pb::Examination) -> Result<ExamineView, Error> {
        let findings = findings(&examination)?;
        let definition = DefinitionView::from(&suggest_spec(&examination.image, &findings));
        Ok(ExamineView {
            examination: ExaminationView::from(examination),
            definition,
        })
    }
}

impl TryFrom<pb::ExamineResponse> for ExamineView {
    type Error = Error;

    fn try_from(r: pb::ExamineResponse) -> Result<Self, Error> {
        let examination = r
            .examination
            .ok_or_else(|| Error::internal("the image examiner answered without an examination"))?;
        ExamineView::from_wire(examination)
    }
}

impl From<pb::Examination> for ExaminationView {
    fn from(e: pb::Examination) -> Self {
        ExaminationView {
            examined_time: e.examined_time.as_ref().and_then(from_timestamp),
            installations: e
                .installations
                .into_iter()
                .map(|i| FoundInstallationView {
                    language: i.language,
                    path: i.path,
                    version: non_empty(i.version),
                    version_file: non_empty(i.version_file),
                    problem: non_empty(i.problem),
                })
                .collect(),
            image: e.image,
            digest: e.digest,
            platform: e.platform,
            notes: e.notes,
            cached: e.cached,
            layers: e.layers,
            layer_bytes: e.layer_bytes,
        }
    }
}

/// The core's findings from an examination on the wire (what [`suggest_spec`] reads).
pub fn findings(e: &pb::Examination) -> Result<Findings, Error> {
    let installations = e
        .installations
        .iter()
        .map(|i| {
            found_installation(i).ok_or_else(|| {
                Error::internal(format!(
                    "the image examiner sent an installation of language {:?}; upgrade it to this release",
                    i.language
                ))
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(Findings {
        installations,
        notes: e.notes.clone(),
    })
}

impl From<&EnvironmentSpec> for DefinitionView {
    fn from(spec: &EnvironmentSpec) -> Self {
        let list = |l: &[Installation]| ConnectInstallations {
            installations: l
                .iter()
                .map(|i| ConnectInstallation {
                    version: i.version.clone(),
                    path: i.path.clone(),
                })
                .collect(),
        };
        DefinitionView {
            name: spec.name.clone(),
            title: spec.title.clone(),
            python: list(&spec.python),
            r: list(&spec.r),
            quarto: list(&spec.quarto),
        }
    }
}

impl TryFrom<pb::EnvironmentCheck> for CheckView {
    type Error = Error;

    fn try_from(c: pb::EnvironmentCheck) -> Result<Self, Error> {
        // A state the wire leaves unset is not checked yet.
        let state = check_state(c.state).unwrap_or(CheckState::Pending);
        // An image unreadable for a reason this build does not know is an unusable answer.
        let unreadable = (state == CheckState::Unreadable).then(|| UnreadableView {
            kind: unreadable_kind(c.unreadable_kind).unwrap_or(UnreadableKind::Invalid),
            message: c.unreadable_message.clone(),
        });
        Ok(CheckView {
            state,
            unreadable,
            checked_time: c.checked_time.as_ref().and_then(from_timestamp),
            state_changed_time: c.state_changed_time.as_ref().and_then(from_timestamp),
            findings: c
                .findings
                .into_iter()
                .map(FindingView::try_from)
                .collect::<Result<_, _>>()?,
            guid: c.guid,
            image: c.image,
            title: non_empty(c.title),
            digest: non_empty(c.digest),
            previous_digest: non_empty(c.previous_digest),
            revision: c.revision,
        })
    }
}

impl TryFrom<pb::Finding> for FindingView {
    type Error = Error;

    fn try_from(f: pb::Finding) -> Result<Self, Error> {
        let kind = finding_kind(f.kind).ok_or_else(|| {
            Error::internal(
                "the image examiner sent a finding of a kind this release does not know; upgrade execenv",
            )
        })?;
        Ok(FindingView {
            kind,
            drift: kind.is_drift(),
            language: non_empty(f.language),
            path: non_empty(f.path),
            declared_version: non_empty(f.declared_version),
            found_version: non_empty(f.found_version),
            message: f.message,
        })
    }
}

impl TryFrom<pb::ListChecksResponse> for ChecksView {
    type Error = Error;

    fn try_from(r: pb::ListChecksResponse) -> Result<Self, Error> {
        Ok(ChecksView {
            checks: r
                .checks
                .into_iter()
                .map(CheckView::try_from)
                .collect::<Result<_, _>>()?,
            interval_seconds: r.interval_seconds,
        })
    }
}

impl CheckView {
    /// Whether the environment needs someone's attention: in drift, or its image unreadable.
    pub fn needs_attention(&self) -> bool {
        matches!(self.state, CheckState::Drift | CheckState::Unreadable)
    }

    /// How many of its findings are drift.
    pub fn drift_count(&self) -> usize {
        self.findings.iter().filter(|f| f.drift).count()
    }
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

#[cfg(test)]
#[path = "examiner_tests.rs"]
mod tests;
