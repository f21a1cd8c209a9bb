//! The image examiner's wire types (`execenv.examiner.v1`) and the examination model of
//! `execenv_core::examine`: states, kinds, findings and installations, both ways.

use execenv_core::Language;
use execenv_core::examine::{CheckState, Finding, FindingKind, FoundInstallation, UnreadableKind};

use crate::examiner::v1 as pb;

impl From<CheckState> for pb::CheckState {
    fn from(s: CheckState) -> Self {
        match s {
            CheckState::Pending => pb::CheckState::Pending,
            CheckState::Ok => pb::CheckState::Ok,
            CheckState::Drift => pb::CheckState::Drift,
            CheckState::Unreadable => pb::CheckState::Unreadable,
        }
    }
}

/// The state a wire value names; None for UNSPECIFIED or a value this build does not know.
pub fn check_state(wire: i32) -> Option<CheckState> {
    match pb::CheckState::try_from(wire).ok()? {
        pb::CheckState::Unspecified => None,
        pb::CheckState::Pending => Some(CheckState::Pending),
        pb::CheckState::Ok => Some(CheckState::Ok),
        pb::CheckState::Drift => Some(CheckState::Drift),
        pb::CheckState::Unreadable => Some(CheckState::Unreadable),
    }
}

impl From<UnreadableKind> for pb::UnreadableKind {
    fn from(k: UnreadableKind) -> Self {
        match k {
            UnreadableKind::NotFound => pb::UnreadableKind::NotFound,
            UnreadableKind::Unauthorized => pb::UnreadableKind::Unauthorized,
            UnreadableKind::Unreachable => pb::UnreadableKind::Unreachable,
            UnreadableKind::Invalid => pb::UnreadableKind::Invalid,
        }
    }
}

/// The kind a wire value names; None for UNSPECIFIED or a value this build does not know.
pub fn unreadable_kind(wire: i32) -> Option<UnreadableKind> {
    match pb::UnreadableKind::try_from(wire).ok()? {
        pb::UnreadableKind::Unspecified => None,
        pb::UnreadableKind::NotFound => Some(UnreadableKind::NotFound),
        pb::UnreadableKind::Unauthorized => Some(UnreadableKind::Unauthorized),
        pb::UnreadableKind::Unreachable => Some(UnreadableKind::Unreachable),
        pb::UnreadableKind::Invalid => Some(UnreadableKind::Invalid),
    }
}

impl From<FindingKind> for pb::FindingKind {
    fn from(k: FindingKind) -> Self {
        match k {
            FindingKind::Missing => pb::FindingKind::Missing,
            FindingKind::VersionMismatch => pb::FindingKind::VersionMismatch,
            FindingKind::VersionUnknown => pb::FindingKind::VersionUnknown,
            FindingKind::TagMoved => pb::FindingKind::TagMoved,
            FindingKind::Undeclared => pb::FindingKind::Undeclared,
        }
    }
}

/// The kind a wire value names; None for UNSPECIFIED or a value this build does not know.
pub fn finding_kind(wire: i32) -> Option<FindingKind> {
    match pb::FindingKind::try_from(wire).ok()? {
        pb::FindingKind::Unspecified => None,
        pb::FindingKind::Missing => Some(FindingKind::Missing),
        pb::FindingKind::VersionMismatch => Some(FindingKind::VersionMismatch),
        pb::FindingKind::VersionUnknown => Some(FindingKind::VersionUnknown),
        pb::FindingKind::TagMoved => Some(FindingKind::TagMoved),
        pb::FindingKind::Undeclared => Some(FindingKind::Undeclared),
    }
}

impl From<&Finding> for pb::Finding {
    fn from(f: &Finding) -> Self {
        pb::Finding {
            kind: pb::FindingKind::from(f.kind) as i32,
            language: f
                .language
                .map(|l| l.as_str().to_owned())
                .unwrap_or_default(),
            path: f.path.clone(),
            declared_version: f.declared_version.clone().unwrap_or_default(),
            found_version: f.found_version.clone().unwrap_or_default(),
            message: f.message.clone(),
            drift: f.kind.is_drift(),
        }
    }
}

/// A wire finding as the core's; None when its kind is not one this build knows.
pub fn finding(f: &pb::Finding) -> Option<Finding> {
    Some(Finding {
        kind: finding_kind(f.kind)?,
        language: Language::parse(&f.language),
        path: f.path.clone(),
        declared_version: given(&f.declared_version),
        found_version: given(&f.found_version),
        message: f.message.clone(),
    })
}

impl From<&FoundInstallation> for pb::FoundInstallation {
    fn from(i: &FoundInstallation) -> Self {
        pb::FoundInstallation {
            language: i.language.as_str().to_owned(),
            path: i.path.clone(),
            version: i.version.clone().unwrap_or_default(),
            version_file: i.version_file.clone().unwrap_or_default(),
            problem: i.problem.clone().unwrap_or_default(),
        }
    }
}

/// A wire installation as the core's; None when its language is not one this build knows. The
/// wire does not carry `alias_of` (aliases are left out of what the examiner sends).
pub fn found_installation(i: &pb::FoundInstallation) -> Option<FoundInstallation> {
    Some(FoundInstallation {
        language: Language::parse(&i.language)?,
        path: i.path.clone(),
        version: given(&i.version),
        version_file: given(&i.version_file),
        problem: given(&i.problem),
        alias_of: None,
    })
}

fn given(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn states_and_kinds_survive_the_wire() {
        for s in CheckState::ALL {
            assert_eq!(check_state(pb::CheckState::from(s) as i32), Some(s));
        }
        for k in UnreadableKind::ALL {
            assert_eq!(unreadable_kind(pb::UnreadableKind::from(k) as i32), Some(k));
        }
        for k in FindingKind::ALL {
            assert_eq!(finding_kind(pb::FindingKind::from(k) as i32), Some(k));
        }
        assert_eq!(check_state(0), None);
        assert_eq!(finding_kind(99), None);
    }

    #[test]
    fn a_finding_says_whether_it_is_drift_and_survives_the_wire() {
        let f = Finding {
            kind: FindingKind::VersionMismatch,
            language: Some(Language::Python),
            path: "/opt/python/3.12.4/bin/python3".into(),
            declared_version: Some("3.12.4".into()),
            found_version: Some("3.11.9".into()),
            message: "Python at /opt/python/3.12.4/bin/python3 is declared as 3.12.4 but the image has 3.11.9".into(),
        };
        let wire = pb::Finding::from(&f);
        assert!(wire.drift);
        assert_eq!(wire.language, "python");
        assert_eq!(finding(&wire).unwrap(), f);
        let moved = Finding {
            kind: FindingKind::TagMoved,
            language: None,
            path: String::new(),
            declared_version: None,
            found_version: None,
            message: "moved".into(),
        };
        let wire = pb::Finding::from(&moved);
        assert!(!wire.drift);
        assert_eq!(wire.language, "");
        assert_eq!(finding(&wire).unwrap(), moved);
    }

    #[test]
    fn an_installation_without_a_version_carries_its_problem() {
        let i = FoundInstallation {
            language: Language::R,
            path: "/opt/R/4.2.2/bin/R".into(),
            version: None,
            version_file: None,
            problem: Some("no lib/R/include/Rversion.h".into()),
            alias_of: None,
        };
        let wire = pb::FoundInstallation::from(&i);
        assert_eq!(
            (wire.version.as_str(), wire.problem.as_str()),
            ("", "no lib/R/include/Rversion.h")
        );
        assert_eq!(found_installation(&wire).unwrap(), i);
    }
}
