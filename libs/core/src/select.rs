//! Choosing the execution environment a piece of content builds and runs in.
//!
//! The content asks for Python, R and Quarto versions or constraints, may target an environment
//! (by guid or image), and the server says how strictly versions match. [`select`] answers from a
//! [`Catalogue`] indexed once per catalogue change; [`explain`] gives every environment's verdict.
//! The ranking ("pairwise comparison") is ours; Connect does not publish it. Choices made where
//! Connect's documented behaviour leaves room:
//! - within the same major.minor the highest patch is preferred (in an environment and across
//!   environments); across minors the nearest, newer first; across majors (only reachable through
//!   a constraint) the nearest major, newer first;
//! - "installations the content does not need" counts every installation (TensorFlow included)
//!   except the one chosen per needed language;
//! - a target that does not exist, is not permitted or does not fit is FailedPrecondition, like
//!   "nothing fits"; its violations cover the targeted environments only (automatic selection:
//!   every environment), plus one for the target field when nothing has that guid or image;
//! - blank strings count as not given; installed versions that do not parse never fit;
//! - [`Exclusions`] (the selector's `selection.skip_drift`, see [`drift`]) leave environments out
//!   like any other reason, also when the content targets them: a target that is excluded fails
//!   with the exclusion's reason.

use crate::identity::Caller;

mod catalogue;
pub mod drift;
mod exclusions;
mod explain;
mod manifest;
mod outcome;
mod query;
mod request;
mod version;

pub use catalogue::Catalogue;
pub use drift::{ImageCheck, drift_exclusions};
pub use exclusions::Exclusions;
pub use manifest::parse_manifest;
pub use outcome::{
    Choice, ChosenInstallation, Closeness, Explanation, SelectedBy, Selection, Verdict,
    VerdictOutcome,
};
pub use request::{ContentSettings, LanguageNeed, MatchingSettings, Requirements, VersionMatching};

use query::Query;

/// What selection does for callers that is not theirs to do.
const ACTION: &str = "selecting an execution environment";

/// Chooses the environment, never one of `excluded`. Errors: InvalidArgument (malformed
/// constraint/version/guid, naming it), PermissionDenied (viewer), FailedPrecondition "Cannot find
/// compatible environment: …" with one FieldViolation per environment (field =
/// `environments[<guid>]`, description = the reason(s)). A target that does not exist, is not
/// permitted, is excluded or does not fit is such an error too: there is never a silent fall back
/// to automatic selection. [`Choice::skipped`] names the excluded environments that fit.
pub fn select<'a>(
    catalogue: &'a Catalogue,
    requirements: &Requirements,
    content: &ContentSettings,
    caller: &Caller,
    settings: &MatchingSettings,
    excluded: &Exclusions,
) -> Choice<'a> {
    let query = match caller
        .require_publisher(ACTION)
        .and_then(|()| Query::prepare(catalogue, requirements, content, settings, excluded))
    {
        Ok(query) => query,
        Err(e) => {
            return Choice {
                selection: Err(e),
                skipped: Vec::new(),
            };
        }
    };
    let selection = match query.winner(catalogue, caller) {
        Some((position, _)) => Ok(explain::selection(catalogue, &query, position)),
        None => Err(explain::failure(catalogue, &query, caller)),
    };
    Choice {
        selection,
        skipped: query.skipped(catalogue, caller),
    }
}

/// Every environment with its verdict (catalogue order), and the same selection `select` makes;
/// an environment of `excluded` is rejected with its exclusion's reason among its reasons.
pub fn explain<'a>(
    catalogue: &'a Catalogue,
    requirements: &Requirements,
    content: &ContentSettings,
    caller: &Caller,
    settings: &MatchingSettings,
    excluded: &Exclusions,
) -> Explanation<'a> {
    let query = caller
        .require_publisher(ACTION)
        .and_then(|()| Query::prepare(catalogue, requirements, content, settings, excluded));
    match query {
        Ok(query) => explain::explain(catalogue, &query, caller),
        Err(e) => Explanation {
            verdicts: Vec::new(),
            selection: Err(e),
        },
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_drift;
#[cfg(test)]
mod tests_manifest;
#[cfg(test)]
mod tests_property;
#[cfg(test)]
mod tests_version;
