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
//! - blank strings count as not given; installed versions that do not parse never fit.

use crate::error::Error;
use crate::identity::Caller;

mod catalogue;
mod explain;
mod manifest;
mod outcome;
mod query;
mod request;
mod version;

pub use catalogue::Catalogue;
pub use manifest::parse_manifest;
pub use outcome::{
    ChosenInstallation, Closeness, Explanation, SelectedBy, Selection, Verdict, VerdictOutcome,
};
pub use request::{ContentSettings, LanguageNeed, MatchingSettings, Requirements, VersionMatching};

use query::Query;

/// What selection does for callers that is not theirs to do.
const ACTION: &str = "selecting an execution environment";

/// Chooses the environment. Errors: InvalidArgument (malformed constraint/version/guid, naming it),
/// PermissionDenied (viewer), FailedPrecondition "Cannot find compatible environment: …" with one
/// FieldViolation per environment (field = `environments[<guid>]`, description = the reason(s)).
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

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_manifest;
#[cfg(test)]
mod tests_property;
#[cfg(test)]
mod tests_version;
