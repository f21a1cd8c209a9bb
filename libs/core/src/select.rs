//! Choosing the execution environment a piece of content builds and runs in (issue 5).
//!
//! The content asks for Python, R and Quarto versions or constraints, may target an environment
//! (by guid or image), and the server says how strictly versions match. [`select`] answers from a
//! [`Catalogue`] indexed once per catalogue change; [`explain`] gives every environment's verdict.
//! The ranking ("pairwise comparison") is ours; Connect does not publish it. Choices made where
//! the issue leaves room:
//! - within the same major.minor the highest patch is preferred (in an environment and across
//!   environments); across minors the nearest, newer first; across majors (only reachable through
//!   a constraint) the nearest major, newer first;
//! - "installations the content does not need" counts every installation (TensorFlow included)
//!   except the one chosen per needed language;
//! - a target that does not exist, is not permitted or does not fit is FailedPrecondition, like
//!   "nothing fits"; its violations cover the targeted environments only (automatic selection:
//!   every environment), plus one for the target field when nothing has that guid or image;
//! - blank strings count as not given; installed versions that do not parse never fit.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Error, FieldViolation};
use crate::identity::Caller;
use crate::model::{Environment, Language};

mod catalogue;
mod explain;
mod manifest;
mod query;
mod version;

pub use catalogue::Catalogue;
pub use manifest::parse_manifest;

use query::Query;

/// How close an installed version must be to the one the content asks for (without a constraint).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VersionMatching {
    /// Same major.minor.patch.
    Exact,
    /// Same major.minor.
    MajorMinor,
    /// Same major, the nearest minor.
    Nearest,
}

impl VersionMatching {
    /// The setting's spelling: `exact`, `major-minor`, `nearest`.
    pub fn as_str(self) -> &'static str {
        match self {
            VersionMatching::Exact => "exact",
            VersionMatching::MajorMinor => "major-minor",
            VersionMatching::Nearest => "nearest",
        }
    }

    /// Parses the setting's spelling.
    pub fn parse(s: &str) -> Option<VersionMatching> {
        [
            VersionMatching::Exact,
            VersionMatching::MajorMinor,
            VersionMatching::Nearest,
        ]
        .into_iter()
        .find(|m| m.as_str() == s)
    }
}

/// The server's version matching per language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MatchingSettings {
    /// Python: `major-minor` (default) or `exact`.
    pub python: VersionMatching,
    /// R: `nearest` (default), `major-minor` or `exact`.
    pub r: VersionMatching,
    /// Quarto: `nearest` (default), `major-minor` or `exact`.
    pub quarto: VersionMatching,
}

impl Default for MatchingSettings {
    fn default() -> Self {
        MatchingSettings {
            python: VersionMatching::MajorMinor,
            r: VersionMatching::Nearest,
            quarto: VersionMatching::Nearest,
        }
    }
}

impl MatchingSettings {
    /// Fails with InvalidArgument for a Python matching of `nearest` (Connect has none).
    pub fn validate(&self) -> Result<(), Error> {
        if self.python == VersionMatching::Nearest {
            return Err(Error::invalid_field(
                "python.version_matching",
                "nearest is not a Python version matching; use major-minor (the default) or exact",
            ));
        }
        Ok(())
    }
}

/// What the content asks of one language. Blank strings count as not given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LanguageNeed {
    /// The version it was written with (`python.version`, `platform`, `quarto.version`).
    pub version: Option<String>,
    /// The constraint (`environment.<language>.requires`).
    pub constraint: Option<String>,
}

/// What the content asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requirements {
    /// Python.
    pub python: LanguageNeed,
    /// R.
    pub r: LanguageNeed,
    /// Quarto.
    pub quarto: LanguageNeed,
    /// The manifest's `environment.identifier`.
    pub target_environment_guid: Option<String>,
    /// The manifest's `environment.image`.
    pub target_image: Option<String>,
}

/// The content's own settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentSettings {
    /// The environment to use when the manifest targets none.
    pub default_environment_guid: Option<String>,
    /// The image to use when the manifest targets none (and no default environment is set).
    pub default_image_name: Option<String>,
}

/// What decided the choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SelectedBy {
    /// The manifest's `environment.identifier`.
    ManifestIdentifier,
    /// The manifest's `environment.image`.
    ManifestImage,
    /// The content's default environment.
    ContentDefaultEnvironment,
    /// The content's default image.
    ContentDefaultImage,
    /// Automatic selection among all environments.
    Automatic,
}

impl SelectedBy {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SelectedBy::ManifestIdentifier => "manifest-identifier",
            SelectedBy::ManifestImage => "manifest-image",
            SelectedBy::ContentDefaultEnvironment => "content-default-environment",
            SelectedBy::ContentDefaultImage => "content-default-image",
            SelectedBy::Automatic => "automatic",
        }
    }
}

/// How close a chosen installation is to what the content asked for, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Closeness {
    /// The version asked for.
    Exact,
    /// Same major.minor.
    MajorMinor,
    /// Same major.
    Major,
    /// Only a constraint was given (or the installation satisfies it across majors).
    Constraint,
}

impl Closeness {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Closeness::Exact => "exact",
            Closeness::MajorMinor => "major-minor",
            Closeness::Major => "major",
            Closeness::Constraint => "constraint",
        }
    }
}

/// The installation used for one needed language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChosenInstallation {
    /// The language.
    pub language: Language,
    /// Its version, as the environment lists it.
    pub version: String,
    /// Its path.
    pub path: String,
    /// How close it is to what was asked.
    pub closeness: Closeness,
}

/// The chosen environment and installations (in ranking order: R, Python, Quarto; needed ones only).
#[derive(Debug, Clone)]
pub struct Selection<'a> {
    /// The environment.
    pub environment: &'a Environment,
    /// One installation per needed language.
    pub installations: Vec<ChosenInstallation>,
    /// What decided it.
    pub selected_by: SelectedBy,
}

/// Why an environment was or was not chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerdictOutcome {
    /// It is the selection.
    Chosen,
    /// It fits but ranked below `lost_to`, for the reason in `comparison`.
    Compatible {
        /// The chosen environment.
        lost_to: Uuid,
        /// The first difference that decided, in words.
        comparison: String,
    },
    /// It cannot be chosen, for every one of these reasons.
    Rejected {
        /// Each reason.
        reasons: Vec<String>,
    },
}

/// One environment's verdict.
#[derive(Debug, Clone)]
pub struct Verdict<'a> {
    /// The environment.
    pub environment: &'a Environment,
    /// The verdict.
    pub outcome: VerdictOutcome,
    /// The installation it would use per needed language that it has a compatible one for.
    pub installations: Vec<ChosenInstallation>,
}

/// Every environment's verdict and the selection.
#[derive(Debug, Clone)]
pub struct Explanation<'a> {
    /// One per environment, in catalogue order (empty when the request itself fails).
    pub verdicts: Vec<Verdict<'a>>,
    /// The same result [`select`] gives.
    pub selection: Result<Selection<'a>, Error>,
}

/// What selection does for callers that is not theirs to do.
const ACTION: &str = "selecting an execution environment";

/// Chooses the environment. Errors: InvalidArgument (malformed constraint/version/guid, naming it),
/// PermissionDenied (viewer), FailedPrecondition "Cannot find compatible environment: …" with one
/// FieldViolation per environment (field = "environments[<guid>]", description = the reason(s)).
/// A target that does not exist, is not permitted or does not fit is such an error too: there is
/// never a silent fall back to automatic selection.
pub fn select<'a>(
    catalogue: &'a Catalogue,
    requirements: &Requirements,
    content: &ContentSettings,
    caller: &Caller,
    settings: &MatchingSettings,
) -> Result<Selection<'a>, Error> {
    caller.require_publisher(ACTION)?;
    let query = Query::prepare(catalogue, requirements, content, settings)?;
    match query.winner(catalogue, caller) {
        Some((position, _)) => Ok(explain::selection(catalogue, &query, position)),
        None => Err(explain::failure(catalogue, &query, caller)),
    }
}

/// Every environment with its verdict (catalogue order), and the same selection `select` makes.
pub fn explain<'a>(
    catalogue: &'a Catalogue,
    requirements: &Requirements,
    content: &ContentSettings,
    caller: &Caller,
    settings: &MatchingSettings,
) -> Explanation<'a> {
    let query = caller
        .require_publisher(ACTION)
        .and_then(|()| Query::prepare(catalogue, requirements, content, settings));
    match query {
        Ok(query) => explain::explain(catalogue, &query, caller),
        Err(e) => Explanation {
            verdicts: Vec::new(),
            selection: Err(e),
        },
    }
}

/// The field of an environment's violation: `environments[<guid>]`.
fn environment_field(guid: Uuid) -> String {
    format!("environments[{guid}]")
}

/// One violation per environment that could not be chosen.
fn environment_violation(guid: Uuid, reasons: &[String]) -> FieldViolation {
    FieldViolation::new(environment_field(guid), reasons.join("; "))
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_manifest;
#[cfg(test)]
mod tests_property;
#[cfg(test)]
mod tests_version;
