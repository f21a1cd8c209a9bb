//! What a selection answers: the chosen environment and installations and what decided them, or
//! every environment's verdict, and the violations of a selection that failed.

use uuid::Uuid;

use crate::error::{Error, FieldViolation};
use crate::model::{Environment, Language};

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

/// What [`select`](super::select()) answers: the selection (or why there is none), and the
/// environments its [`Exclusions`](super::Exclusions) left out although they fit the request.
#[derive(Debug, Clone)]
pub struct Choice<'a> {
    /// The selection, or the error saying why there is none.
    pub selection: Result<Selection<'a>, Error>,
    /// Excluded environments that would otherwise have been candidates: targeted (or chosen
    /// among all), eligible by their matching, compatible and permitted. Ascending.
    pub skipped: Vec<Uuid>,
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
    /// The same result [`select`](super::select()) gives.
    pub selection: Result<Selection<'a>, Error>,
}

/// The field of an environment's violation: `environments[<guid>]`.
fn environment_field(guid: Uuid) -> String {
    format!("environments[{guid}]")
}

/// One violation per environment that could not be chosen.
pub(crate) fn environment_violation(guid: Uuid, reasons: &[String]) -> FieldViolation {
    FieldViolation::new(environment_field(guid), reasons.join("; "))
}
