#![allow(clippy::unwrap_used)]
//! Exclusions (the selector's `selection.skip_drift`) and the lines `Explain` gives for the image
//! examiner's checks.

use uuid::Uuid;

use super::tests::{env, g};
use super::*;
use crate::error::{Error, ErrorKind};
use crate::examine::CheckState;
use crate::identity::Role;

const IMAGE: &str = "ghcr.io/acme/python:3.11";
const MISMATCH: &str =
    "Python at /opt/python/3.11.9/bin/python is declared as 3.11.9 but the image has 3.11.2";
const MISSING: &str = "R 4.4.1 is declared at /opt/R/4.4.1/bin/R, which is not in the image";

fn publisher() -> Caller {
    Caller {
        user: Some("alice".to_owned()),
        groups: Vec::new(),
        role: Role::Publisher,
    }
}

fn python(v: &str) -> Requirements {
    Requirements {
        python: LanguageNeed {
            version: Some(v.to_owned()),
            constraint: None,
        },
        ..Requirements::default()
    }
}

fn drift(messages: &[&str]) -> ImageCheck {
    ImageCheck {
        state: CheckState::Drift,
        drift: messages.iter().map(|m| (*m).to_owned()).collect(),
        unreadable: String::new(),
    }
}

fn unreadable(message: &str) -> ImageCheck {
    ImageCheck {
        state: CheckState::Unreadable,
        drift: Vec::new(),
        unreadable: message.to_owned(),
    }
}

/// Environment 1 has Python 3.11.9 (the best fit for 3.11.9), environment 2 Python 3.11.2.
fn two() -> Catalogue {
    Catalogue::new(
        3,
        vec![
            env(1, IMAGE, &["3.11.9"], &[], &[]),
            env(2, "ghcr.io/acme/python:3.11.2", &["3.11.2"], &[], &[]),
        ],
    )
}

/// Environment 1 in drift, as `selection.skip_drift` excludes it.
fn first_in_drift() -> Exclusions {
    drift_exclusions([(g(1), &drift(&[MISMATCH]))])
}

/// The guid chosen (or the error) and the environments skipped.
fn choose(
    c: &Catalogue,
    req: &Requirements,
    content: &ContentSettings,
    excluded: &Exclusions,
) -> (Result<Uuid, Error>, Vec<Uuid>) {
    let choice = select(
        c,
        req,
        content,
        &publisher(),
        &MatchingSettings::default(),
        excluded,
    );
    (choice.selection.map(|s| s.environment.guid), choice.skipped)
}

fn verdicts(c: &Catalogue, req: &Requirements, excluded: &Exclusions) -> Vec<VerdictOutcome> {
    explain(
        c,
        req,
        &ContentSettings::default(),
        &publisher(),
        &MatchingSettings::default(),
        excluded,
    )
    .verdicts
    .into_iter()
    .map(|v| v.outcome)
    .collect()
}

const SKIP_REASON: &str = "in drift and selection.skip_drift is on: Python at /opt/python/3.11.9/bin/python is declared as 3.11.9 but the image has 3.11.2";

#[test]
fn without_exclusions_the_best_fit_is_chosen() {
    let (chosen, skipped) = choose(
        &two(),
        &python("3.11.9"),
        &ContentSettings::default(),
        &Exclusions::default(),
    );
    assert_eq!(chosen.unwrap(), g(1));
    assert_eq!(skipped, Vec::<Uuid>::new());
}

#[test]
fn an_excluded_environment_is_not_chosen_and_the_next_fit_is() {
    let (chosen, skipped) = choose(
        &two(),
        &python("3.11.9"),
        &ContentSettings::default(),
        &first_in_drift(),
    );
    assert_eq!(chosen.unwrap(), g(2));
    assert_eq!(skipped, vec![g(1)]);
}

#[test]
fn explain_rejects_an_excluded_environment_with_its_reason() {
    assert_eq!(
        verdicts(&two(), &python("3.11.9"), &first_in_drift()),
        vec![
            VerdictOutcome::Rejected {
                reasons: vec![SKIP_REASON.to_owned()],
            },
            VerdictOutcome::Chosen,
        ]
    );
}

#[test]
fn an_excluded_environment_that_does_not_fit_lists_both_reasons_and_is_not_skipped() {
    let c = two();
    let (chosen, skipped) = choose(
        &c,
        &python("3.12.4"),
        &ContentSettings::default(),
        &first_in_drift(),
    );
    assert_eq!(chosen.unwrap_err().kind, ErrorKind::FailedPrecondition);
    assert_eq!(skipped, Vec::<Uuid>::new(), "it would not have fit anyway");
    assert_eq!(
        verdicts(&c, &python("3.12.4"), &first_in_drift())[0],
        VerdictOutcome::Rejected {
            reasons: vec![
                "no Python 3.12.x: has 3.11.9".to_owned(),
                SKIP_REASON.to_owned()
            ],
        }
    );
}

#[test]
fn when_only_excluded_environments_fit_the_failure_says_why() {
    let c = Catalogue::new(3, vec![env(1, IMAGE, &["3.11.9"], &[], &[])]);
    let (chosen, skipped) = choose(
        &c,
        &python("3.11.9"),
        &ContentSettings::default(),
        &first_in_drift(),
    );
    let e = chosen.unwrap_err();
    assert_eq!(e.kind, ErrorKind::FailedPrecondition);
    assert_eq!(
        e.message,
        format!(
            "Cannot find compatible environment: no compatible Kubernetes environment with Python version 3.11.9: {SKIP_REASON}; add or change an environment that provides it, or change what the content asks for"
        )
    );
    assert_eq!(e.violations.len(), 1);
    assert_eq!(e.violations[0].field, format!("environments[{}]", g(1)));
    assert_eq!(e.violations[0].description, SKIP_REASON);
    assert_eq!(skipped, vec![g(1)]);
}

#[test]
fn a_targeted_environment_that_is_excluded_fails_instead_of_falling_back() {
    let content = ContentSettings {
        default_image_name: Some(IMAGE.to_owned()),
        ..ContentSettings::default()
    };
    let (chosen, skipped) = choose(&two(), &python("3.11.2"), &content, &first_in_drift());
    let e = chosen.unwrap_err();
    assert_eq!(e.kind, ErrorKind::FailedPrecondition);
    assert_eq!(e.violations[0].description, SKIP_REASON);
    assert_eq!(skipped, vec![g(1)]);
    // Not targeted, environment 2 is not a candidate: skipping 1 is all that happened.
}

#[test]
fn an_excluded_environment_outside_the_target_is_not_skipped() {
    let content = ContentSettings {
        default_image_name: Some("ghcr.io/acme/python:3.11.2".to_owned()),
        ..ContentSettings::default()
    };
    let (chosen, skipped) = choose(&two(), &python("3.11.2"), &content, &first_in_drift());
    assert_eq!(chosen.unwrap(), g(2));
    assert_eq!(skipped, Vec::<Uuid>::new());
}

#[test]
fn with_no_language_asked_the_first_environment_that_is_not_excluded_is_chosen() {
    let (chosen, skipped) = choose(
        &two(),
        &Requirements::default(),
        &ContentSettings::default(),
        &first_in_drift(),
    );
    assert_eq!(chosen.unwrap(), g(2));
    assert_eq!(skipped, vec![g(1)]);
}

#[test]
fn exclusions_naming_no_environment_of_the_catalogue_are_ignored() {
    let excluded = drift_exclusions([(g(99), &drift(&[MISMATCH]))]);
    assert_eq!(excluded.len(), 1);
    let (chosen, skipped) = choose(
        &two(),
        &python("3.11.9"),
        &ContentSettings::default(),
        &excluded,
    );
    assert_eq!(chosen.unwrap(), g(1));
    assert_eq!(skipped, Vec::<Uuid>::new());
}

#[test]
fn the_note_of_a_check_in_drift_lists_every_drift_finding() {
    assert_eq!(
        drift(&[MISMATCH]).note().unwrap(),
        "in drift: Python at /opt/python/3.11.9/bin/python is declared as 3.11.9 but the image has 3.11.2"
    );
    assert_eq!(
        drift(&[MISMATCH, MISSING]).note().unwrap(),
        "in drift: Python at /opt/python/3.11.9/bin/python is declared as 3.11.9 but the image has 3.11.2; R 4.4.1 is declared at /opt/R/4.4.1/bin/R, which is not in the image"
    );
    assert_eq!(
        drift(&[]).note().unwrap(),
        "in drift: the image examiner found that the image does not match the definition"
    );
}

#[test]
fn the_note_of_an_unreadable_image_gives_the_examiners_reason() {
    assert_eq!(
        unreadable("ghcr.io/acme/python:3.11 was not found in ghcr.io: no such repository or tag")
            .note()
            .unwrap(),
        "image unreadable: ghcr.io/acme/python:3.11 was not found in ghcr.io: no such repository or tag"
    );
    assert_eq!(
        unreadable("").note().unwrap(),
        "image unreadable: the image examiner could not read the image"
    );
}

#[test]
fn checks_that_are_ok_or_pending_have_no_note_and_no_skip_reason() {
    for state in [CheckState::Ok, CheckState::Pending] {
        let check = ImageCheck {
            state,
            drift: Vec::new(),
            unreadable: String::new(),
        };
        assert_eq!(check.note(), None);
        assert_eq!(check.skip_reason(), None);
    }
}

#[test]
fn only_drift_excludes_an_unreadable_image_does_not() {
    let (in_drift, not_read, fine) = (
        drift(&[MISSING]),
        unreadable("cannot reach the registry ghcr.io: connection refused"),
        ImageCheck {
            state: CheckState::Ok,
            drift: Vec::new(),
            unreadable: String::new(),
        },
    );
    let excluded = drift_exclusions([(g(1), &in_drift), (g(2), &not_read), (g(3), &fine)]);
    assert_eq!(excluded.guids().copied().collect::<Vec<_>>(), vec![g(1)]);
    assert_eq!(
        excluded.reason(&g(1)),
        Some(
            "in drift and selection.skip_drift is on: R 4.4.1 is declared at /opt/R/4.4.1/bin/R, which is not in the image"
        )
    );
    assert_eq!(excluded.reason(&g(2)), None);
}
