#![allow(clippy::unwrap_used)]

use execenv_core::examine::{FindingKind, UnreadableKind};

use super::*;
use crate::testing::{at, environment, guid};

const IMAGE: &str = "127.0.0.1:5000/python:3";

fn compared(digest: &str, findings: Vec<Finding>) -> Outcome {
    Outcome::Compared(Compared {
        digest: digest.to_owned(),
        findings,
    })
}

fn mismatch() -> Finding {
    Finding {
        kind: FindingKind::VersionMismatch,
        language: Some(execenv_core::Language::Python),
        path: "/opt/python/3.12.4/bin/python3".into(),
        declared_version: Some("3.12.4".into()),
        found_version: Some("3.11.9".into()),
        message: "Python at /opt/python/3.12.4/bin/python3 is declared as 3.12.4 but the image has 3.11.9".into(),
    }
}

fn unreachable() -> Outcome {
    Outcome::Unreadable(Unreadable::new(
        UnreadableKind::Unreachable,
        "cannot reach the registry 127.0.0.1:5000: connection refused",
    ))
}

#[test]
fn a_new_environment_is_pending_until_checked() {
    let env = environment(1, IMAGE, "3.12.4", 7);
    let c = Check::pending(&env);
    assert_eq!(c.state, CheckState::Pending);
    assert_eq!((c.checked_time, c.state_changed_time), (None, None));
    assert_eq!((c.guid, c.revision), (guid(1), 7));
    assert_eq!(c.image, IMAGE);
    assert_eq!(c.title.as_deref(), Some("Environment 1"));
}

#[test]
fn drift_findings_put_the_environment_in_drift_and_the_state_change_is_dated() {
    let env = environment(1, IMAGE, "3.12.4", 7);
    let first = Check::pending(&env).next(&env, compared("sha256:a", vec![mismatch()]), at(10));
    assert_eq!(first.state, CheckState::Drift);
    assert_eq!(first.digest.as_deref(), Some("sha256:a"));
    assert_eq!(first.previous_digest, None);
    assert_eq!(
        (first.checked_time, first.state_changed_time),
        (Some(at(10)), Some(at(10)))
    );
    assert_eq!(first.summary(), mismatch().message);

    let again = first.next(&env, compared("sha256:a", vec![mismatch()]), at(20));
    assert_eq!(again.checked_time, Some(at(20)));
    assert_eq!(
        again.state_changed_time,
        Some(at(10)),
        "the state did not change"
    );
    assert!(
        !again.differs_from(&first),
        "only the time of checking differs"
    );
}

#[test]
fn a_moved_tag_is_a_notice_with_the_digest_before_for_one_check() {
    let env = environment(1, IMAGE, "3.12.4", 7);
    let drift = Check::pending(&env).next(&env, compared("sha256:a", vec![mismatch()]), at(10));
    let moved = drift.next(&env, compared("sha256:b", vec![]), at(20));
    assert_eq!(moved.state, CheckState::Ok);
    assert_eq!(moved.state_changed_time, Some(at(20)));
    assert_eq!(moved.previous_digest.as_deref(), Some("sha256:a"));
    assert_eq!(moved.findings.len(), 1);
    assert_eq!(moved.findings[0].kind, FindingKind::TagMoved);
    assert_eq!(
        moved.findings[0].message,
        "127.0.0.1:5000/python:3 now points at sha256:b; at the previous check it was sha256:a"
    );
    assert!(moved.differs_from(&drift));

    let settled = moved.next(&env, compared("sha256:b", vec![]), at(30));
    assert_eq!(settled.previous_digest, None);
    assert_eq!(settled.findings, vec![]);
    assert_eq!(settled.state_changed_time, Some(at(20)));
}

#[test]
fn a_tag_that_moved_while_the_image_was_unreadable_is_still_noticed() {
    let env = environment(1, IMAGE, "3.12.4", 7);
    let ok = Check::pending(&env).next(&env, compared("sha256:a", vec![]), at(10));
    let down = ok.next(&env, unreachable(), at(20));
    assert_eq!(down.state, CheckState::Unreadable);
    assert_eq!((down.digest.as_deref(), down.findings.len()), (None, 0));
    assert_eq!(
        down.summary(),
        "cannot reach the registry 127.0.0.1:5000: connection refused"
    );
    let back = down.next(&env, compared("sha256:b", vec![]), at(30));
    assert_eq!(back.state, CheckState::Ok);
    assert_eq!(back.previous_digest.as_deref(), Some("sha256:a"));
    assert_eq!(back.findings[0].kind, FindingKind::TagMoved);
}

#[test]
fn another_image_reference_is_not_a_moved_tag() {
    let env = environment(1, IMAGE, "3.12.4", 7);
    let ok = Check::pending(&env).next(&env, compared("sha256:a", vec![]), at(10));
    let renamed = environment(1, "127.0.0.1:5000/python:4", "3.12.4", 8);
    let next = ok.next(&renamed, compared("sha256:b", vec![]), at(20));
    assert_eq!(next.previous_digest, None);
    assert_eq!(next.findings, vec![]);
    assert_eq!(
        (next.image.as_str(), next.revision),
        ("127.0.0.1:5000/python:4", 8)
    );
}

#[test]
fn only_another_image_or_other_installations_need_a_new_check() {
    let before = environment(1, IMAGE, "3.12.4", 7);
    let mut retitled = before.clone();
    retitled.spec.title = Some("Python 3.12".into());
    retitled.spec.description = Some("new words".into());
    assert!(!needs_check(&before, &retitled));
    assert_eq!(
        Check::pending(&before).retitled(&retitled).title.as_deref(),
        Some("Python 3.12")
    );
    assert!(needs_check(&before, &environment(1, IMAGE, "3.11.9", 8)));
    assert!(needs_check(
        &before,
        &environment(1, "ghcr.io/a/b:1", "3.12.4", 8)
    ));
}

#[test]
fn the_wire_check_carries_every_field() {
    let env = environment(1, IMAGE, "3.12.4", 7);
    let down = Check::pending(&env).next(&env, unreachable(), at(10));
    let wire = down.to_wire();
    assert_eq!(wire.guid, guid(1).to_string());
    assert_eq!(wire.state, pb::CheckState::Unreadable as i32);
    assert_eq!(wire.unreadable_kind, pb::UnreadableKind::Unreachable as i32);
    assert_eq!(
        wire.unreadable_message,
        "cannot reach the registry 127.0.0.1:5000: connection refused"
    );
    assert_eq!(wire.checked_time.unwrap().seconds, 1_700_000_010);
    assert_eq!((wire.digest.as_str(), wire.revision), ("", 7));

    let drift = Check::pending(&env).next(&env, compared("sha256:a", vec![mismatch()]), at(10));
    let wire = drift.to_wire();
    assert_eq!(wire.state, pb::CheckState::Drift as i32);
    assert_eq!(wire.unreadable_kind, pb::UnreadableKind::Unspecified as i32);
    assert_eq!(wire.findings.len(), 1);
    assert!(wire.findings[0].drift);
    assert_eq!(wire.digest, "sha256:a");
}
