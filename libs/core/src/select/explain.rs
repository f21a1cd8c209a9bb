//! The slow, wordy side of selection: the chosen installations, every environment's verdict, and
//! the failure that says what was asked and why nothing fits.

use super::catalogue::{Catalogue, Entry, installation_count};
use super::outcome::{
    ChosenInstallation, Closeness, Explanation, SelectedBy, Selection, Verdict, VerdictOutcome,
    environment_violation,
};
use super::query::{INCOMPATIBLE, Need, Query, Target, closeness_of, distance_of};
use super::request::VersionMatching;
use super::version::parse_installed;
use crate::error::{Error, ErrorKind, FieldViolation};
use crate::identity::Caller;
use crate::model::{DEFAULT_CLUSTER_NAME, Language, Matching};

/// The selection of the entry at `position`.
pub(crate) fn selection<'a>(
    catalogue: &'a Catalogue,
    query: &Query<'_>,
    position: u32,
) -> Selection<'a> {
    let entry = &catalogue.entries[position as usize];
    Selection {
        environment: catalogue.env(entry),
        installations: installations(catalogue, query, entry),
        selected_by: query.selected_by,
    }
}

/// The installation the entry would use for each needed language it has a compatible one for.
fn installations(
    catalogue: &Catalogue,
    query: &Query<'_>,
    entry: &Entry,
) -> Vec<ChosenInstallation> {
    let env = catalogue.env(entry);
    query
        .needs
        .iter()
        .filter_map(|need| {
            let (i, key) = need.chosen(catalogue, entry)?;
            let installation = &env.spec.installations(need.language)[i];
            Some(ChosenInstallation {
                language: need.language,
                version: installation.version.clone(),
                path: installation.path.clone(),
                closeness: closeness_of(key),
            })
        })
        .collect()
}

/// Every environment's verdict, and the selection.
pub(crate) fn explain<'a>(
    catalogue: &'a Catalogue,
    query: &Query<'_>,
    caller: &Caller,
) -> Explanation<'a> {
    let winner = query
        .winner(catalogue, caller)
        .map(|(position, _)| position);
    // An environment the caller may not use is not theirs to see (the registry hides it): no
    // verdict names it. Administrators may use every one, so they see every verdict.
    let verdicts = (0..catalogue.len())
        .map(|index| catalogue.position_of_env(index))
        .filter(|&position| catalogue.permits(caller, &catalogue.entries[position as usize]))
        .map(|position| {
            let entry = &catalogue.entries[position as usize];
            let reasons = reasons(catalogue, query, position);
            let outcome = match winner {
                _ if !reasons.is_empty() => VerdictOutcome::Rejected { reasons },
                Some(w) if w == position => VerdictOutcome::Chosen,
                Some(w) => VerdictOutcome::Compatible {
                    lost_to: catalogue.env(&catalogue.entries[w as usize]).guid,
                    comparison: comparison(catalogue, query, w, position),
                },
                // Cannot happen: a fitting candidate always yields a winner.
                None => VerdictOutcome::Rejected {
                    reasons: vec!["no environment was chosen".to_owned()],
                },
            };
            Verdict {
                environment: catalogue.env(entry),
                outcome,
                installations: installations(catalogue, query, entry),
            }
        })
        .collect();
    let selection = match winner {
        Some(position) => Ok(selection(catalogue, query, position)),
        None => Err(failure(catalogue, query, caller)),
    };
    Explanation {
        verdicts,
        selection,
    }
}

/// Every reason the entry at `position` cannot be chosen for this request (empty when it can).
/// Only for entries the caller may use: the others are not named at all.
pub(crate) fn reasons(catalogue: &Catalogue, query: &Query<'_>, position: u32) -> Vec<String> {
    let entry = &catalogue.entries[position as usize];
    let env = catalogue.env(entry);
    let mut reasons = Vec::new();
    match query.target {
        Target::Guid(g) if env.guid != g => {
            reasons.push(format!("not the targeted environment {g}"));
        }
        Target::Image(image) if env.spec.name != image => reasons.push(format!(
            "different image: uses {}, the content targets image {image}",
            env.spec.name
        )),
        _ => {}
    }
    match entry.matching {
        Matching::None => {
            reasons.push("disabled: its matching is none, so it is never selected".to_owned());
        }
        Matching::Exact if !query.is_targeted() => reasons.push(
            "exact-only: its matching is exact and the content does not target it by guid or image"
                .to_owned(),
        ),
        _ => {}
    }
    for need in &query.needs {
        if need.best_key(catalogue, entry) == INCOMPATIBLE {
            reasons.push(shortfall(need, env.spec.installations(need.language)));
        }
    }
    if let Some(reason) = query.exclusion(position) {
        reasons.push(reason.to_owned());
    }
    reasons
}

/// Why none of `installations` fits `need`: "no Python satisfying >=3.12: has 3.10.4, 3.11.2".
fn shortfall(need: &Need<'_>, installations: &[crate::model::Installation]) -> String {
    let name = display_name(need.language);
    let has = if installations.is_empty() {
        "has none".to_owned()
    } else {
        let listed: Vec<String> = installations
            .iter()
            .map(|i| match parse_installed(&i.version) {
                Some(_) => i.version.clone(),
                None => format!("\"{}\" (not a version)", i.version),
            })
            .collect();
        format!("has {}", listed.join(", "))
    };
    match (&need.constraint, need.version) {
        (Some((_, text)), _) => format!("no {name} satisfying {text}: {has}"),
        (None, Some((v, text))) => match need.mode {
            VersionMatching::Exact => format!("no {name} {text} (exact version matching): {has}"),
            VersionMatching::MajorMinor => {
                format!("no {name} {}.{}.x: {has}", v.major(), v.minor())
            }
            VersionMatching::Nearest => format!("no {name} {}.x: {has}", v.major()),
        },
        (None, None) => format!("no {name}: {has}"),
    }
}

/// Why the winner at `w` ranks above the compatible entry at `p`: the first difference.
fn comparison(catalogue: &Catalogue, query: &Query<'_>, w: u32, p: u32) -> String {
    let (winner, other) = (
        &catalogue.entries[w as usize],
        &catalogue.entries[p as usize],
    );
    let (winner_env, other_env) = (catalogue.env(winner), catalogue.env(other));
    for need in &query.needs {
        let (Some((wi, wk)), Some((oi, ok))) = (
            need.chosen(catalogue, winner),
            need.chosen(catalogue, other),
        ) else {
            continue;
        };
        if wk == ok {
            continue;
        }
        let name = display_name(need.language);
        let wv = &winner_env.spec.installations(need.language)[wi].version;
        let ov = &other_env.spec.installations(need.language)[oi].version;
        let (wc, oc) = (closeness_of(wk), closeness_of(ok));
        return if wc != oc {
            format!(
                "{name}: {wv} ({}) beats {ov} ({})",
                describe_closeness(wc, need),
                describe_closeness(oc, need)
            )
        } else if distance_of(wk) != distance_of(ok) {
            let asked = need.version.map_or("", |(_, text)| text);
            format!("{name}: {wv} is nearer to {asked} than {ov}")
        } else {
            format!("{name}: {wv} is newer than {ov}")
        };
    }
    let needed = query.needs.len();
    let (wn, on) = (
        installation_count(winner_env) - needed,
        installation_count(other_env) - needed,
    );
    if wn != on {
        format!(
            "same versions; the chosen environment has {wn} installation(s) the content does not need, this one {on}"
        )
    } else if winner_env.created_time != other_env.created_time {
        format!(
            "same versions and as many unneeded installations; the chosen environment is older (created {}, this one {})",
            winner_env.created_time.to_rfc3339(),
            other_env.created_time.to_rfc3339()
        )
    } else {
        "same versions, unneeded installations and creation time; the chosen environment's guid sorts first"
            .to_owned()
    }
}

fn describe_closeness(closeness: Closeness, need: &Need<'_>) -> &'static str {
    match (closeness, need.version.is_some()) {
        (Closeness::Exact, _) => "exact",
        (Closeness::MajorMinor, _) => "same major.minor",
        (Closeness::Major, _) => "same major",
        (Closeness::Constraint, true) => "another major, within the constraint",
        (Closeness::Constraint, false) => "within the constraint",
    }
}

/// The FailedPrecondition for a request that nothing fits.
pub(crate) fn failure(catalogue: &Catalogue, query: &Query<'_>, caller: &Caller) -> Error {
    let mut violations = Vec::new();
    // As the registry hides them, the environments the caller may not use are not named: a
    // target they may not use is answered as one that does not exist.
    let mut positions: Vec<u32> = query
        .candidates(catalogue)
        .filter(|&p| catalogue.permits(caller, &catalogue.entries[p as usize]))
        .collect();
    positions.sort_by_key(|&p| catalogue.entries[p as usize].env);
    for &p in &positions {
        let entry = &catalogue.entries[p as usize];
        let reasons = reasons(catalogue, query, p);
        violations.push(environment_violation(catalogue.env(entry).guid, &reasons));
    }
    let target_field = match query.selected_by {
        SelectedBy::ManifestIdentifier => "environment.identifier",
        SelectedBy::ManifestImage => "environment.image",
        SelectedBy::ContentDefaultEnvironment => "default_environment_guid",
        SelectedBy::ContentDefaultImage => "default_image_name",
        SelectedBy::Automatic => "",
    };
    let summary = match (query.target, violations.as_slice()) {
        (Target::Guid(g), []) => {
            let problem = format!("environment {g} does not exist");
            violations.push(FieldViolation::new(target_field, problem.clone()));
            problem
        }
        (Target::Image(image), []) => {
            let problem = format!("no environment uses image {image}");
            violations.push(FieldViolation::new(target_field, problem.clone()));
            problem
        }
        (Target::Automatic, []) => "the catalogue has no environments".to_owned(),
        (_, [one]) => one.description.clone(),
        (_, many) => format!(
            "none of the {} environments fits (see each environment's reasons)",
            many.len()
        ),
    };
    let message = format!(
        "Cannot find compatible environment: no compatible {DEFAULT_CLUSTER_NAME} environment{}: {summary}; \
         add or change an environment that provides it, or change what the content asks for",
        asked(query)
    );
    Error {
        kind: ErrorKind::FailedPrecondition,
        message,
        violations,
    }
}

/// What the request asked for: " with image named X (the content's default image) and Python
/// version 3.10.0".
fn asked(query: &Query<'_>) -> String {
    let mut parts = Vec::new();
    match (query.target, query.selected_by) {
        (Target::Guid(g), SelectedBy::ContentDefaultEnvironment) => {
            parts.push(format!(
                "identifier {g} (the content's default environment)"
            ));
        }
        (Target::Guid(g), _) => parts.push(format!("identifier {g}")),
        (Target::Image(image), SelectedBy::ContentDefaultImage) => {
            parts.push(format!("image named {image} (the content's default image)"));
        }
        (Target::Image(image), _) => parts.push(format!("image named {image}")),
        (Target::Automatic, _) => {}
    }
    for need in &query.needs {
        let name = display_name(need.language);
        parts.push(match (need.version, &need.constraint) {
            (Some((_, v)), Some((_, c))) => format!("{name} version {v} satisfying {c}"),
            (Some((_, v)), None) => format!("{name} version {v}"),
            (None, Some((_, c))) => format!("{name} satisfying {c}"),
            (None, None) => name.to_owned(),
        });
    }
    match parts.split_last() {
        None => String::new(),
        Some((last, [])) => format!(" with {last}"),
        Some((last, rest)) => format!(" with {} and {last}", rest.join(", ")),
    }
}

/// The language's name in messages.
fn display_name(language: Language) -> &'static str {
    match language {
        Language::Python => "Python",
        Language::R => "R",
        Language::Quarto => "Quarto",
        Language::Tensorflow => "TensorFlow",
    }
}
