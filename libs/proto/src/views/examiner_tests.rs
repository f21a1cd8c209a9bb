#![allow(clippy::unwrap_used)]

use serde_json::json;

use super::*;

fn found(language: &str, path: &str, version: &str) -> pb::FoundInstallation {
    pb::FoundInstallation {
        language: language.into(),
        path: path.into(),
        version: version.into(),
        version_file: if version.is_empty() {
            String::new()
        } else {
            format!("{}/include/x.h", path.trim_end_matches("/bin/python3"))
        },
        problem: if version.is_empty() {
            "no version file".into()
        } else {
            String::new()
        },
    }
}

fn examination() -> pb::Examination {
    pb::Examination {
        image: "127.0.0.1:5000/python:3.11".into(),
        digest: "sha256:aaaa".into(),
        platform: "linux/amd64".into(),
        installations: vec![
            found("python", "/opt/python/3.11.9/bin/python3", "3.11.9"),
            found("python", "/opt/python/3.8/bin/python3", ""),
            found("r", "/opt/R/4.2.2/bin/R", "4.2.2"),
        ],
        notes: vec!["Python /opt/python/3.8/bin/python3: no version file".into()],
        examined_time: Some(prost_types::Timestamp {
            seconds: 1_769_860_800,
            nanos: 0,
        }),
        cached: true,
        layers: 3,
        layer_bytes: 12_345,
    }
}

#[test]
fn an_examination_answers_the_examination_and_the_definition_the_core_suggests() {
    let view = ExamineView::from_wire(examination()).unwrap();
    let json = serde_json::to_value(&view).unwrap();
    assert_eq!(
        json["definition"],
        json!({
            "name": "127.0.0.1:5000/python:3.11",
            "title": "python:3.11 (Python 3.11.9, R 4.2.2)",
            "python": {"installations": [{"version": "3.11.9", "path": "/opt/python/3.11.9/bin/python3"}]},
            "r": {"installations": [{"version": "4.2.2", "path": "/opt/R/4.2.2/bin/R"}]},
            "quarto": {"installations": []},
        }),
        "installations of unknown version are left out"
    );
    let examination = &json["examination"];
    assert_eq!(examination["examined_time"], "2026-01-31T12:00:00Z");
    assert_eq!(examination["cached"], true);
    assert_eq!(examination["layers"], 3);
    assert_eq!(examination["layer_bytes"], 12_345);
    assert_eq!(
        examination["installations"][1],
        json!({
            "language": "python",
            "path": "/opt/python/3.8/bin/python3",
            "version": null,
            "version_file": null,
            "problem": "no version file",
        })
    );
    assert_eq!(
        examination["installations"].as_array().unwrap().len(),
        3,
        "the examination lists every installation found"
    );
}

#[test]
fn an_installation_of_an_unknown_language_is_refused_naming_it() {
    let mut e = examination();
    e.installations[0].language = "julia".into();
    let err = ExamineView::from_wire(e).unwrap_err();
    assert!(err.message.contains("\"julia\""), "{}", err.message);
}

fn drifted() -> pb::EnvironmentCheck {
    pb::EnvironmentCheck {
        guid: "0b6f0c8e-5d0c-4d8b-9d2a-7c1f3e2a9b10".into(),
        image: "127.0.0.1:5000/python:3.11".into(),
        title: "Python".into(),
        state: pb::CheckState::Drift as i32,
        digest: "sha256:bbbb".into(),
        previous_digest: "sha256:aaaa".into(),
        findings: vec![
            pb::Finding {
                kind: pb::FindingKind::VersionMismatch as i32,
                language: "python".into(),
                path: "/opt/python/3.12.4/bin/python3".into(),
                declared_version: "3.12.4".into(),
                found_version: "3.11.9".into(),
                message: "Python at /opt/python/3.12.4/bin/python3 is declared as 3.12.4 but the image has 3.11.9".into(),
                drift: true,
            },
            pb::Finding {
                kind: pb::FindingKind::TagMoved as i32,
                message: "moved".into(),
                ..pb::Finding::default()
            },
        ],
        unreadable_kind: 0,
        unreadable_message: String::new(),
        checked_time: Some(prost_types::Timestamp {
            seconds: 1_769_860_800,
            nanos: 0,
        }),
        state_changed_time: None,
        revision: 7,
    }
}

#[test]
fn a_check_in_drift_has_its_findings_in_words_and_no_unreadable() {
    let view = CheckView::try_from(drifted()).unwrap();
    assert!(view.needs_attention());
    assert_eq!(view.drift_count(), 1);
    let json = serde_json::to_value(&view).unwrap();
    assert_eq!(json["state"], "drift");
    assert_eq!(json["unreadable"], serde_json::Value::Null);
    assert_eq!(json["checked_time"], "2026-01-31T12:00:00Z");
    assert_eq!(json["state_changed_time"], serde_json::Value::Null);
    assert_eq!(json["findings"][0]["kind"], "version_mismatch");
    assert_eq!(json["findings"][0]["drift"], true);
    assert_eq!(
        json["findings"][1],
        json!({
            "kind": "tag_moved", "drift": false, "language": null, "path": null,
            "declared_version": null, "found_version": null, "message": "moved",
        })
    );
}

#[test]
fn an_unreadable_check_says_why_and_a_pending_one_has_no_digest() {
    let unreadable = pb::EnvironmentCheck {
        state: pb::CheckState::Unreadable as i32,
        unreadable_kind: pb::UnreadableKind::Unauthorized as i32,
        unreadable_message: "the registry refused".into(),
        findings: vec![],
        digest: String::new(),
        previous_digest: String::new(),
        ..drifted()
    };
    let json = serde_json::to_value(CheckView::try_from(unreadable).unwrap()).unwrap();
    assert_eq!(json["state"], "unreadable");
    assert_eq!(
        json["unreadable"],
        json!({"kind": "unauthorized", "message": "the registry refused"})
    );
    assert_eq!(json["digest"], serde_json::Value::Null);

    let pending = CheckView::try_from(pb::EnvironmentCheck {
        guid: "g".into(),
        ..pb::EnvironmentCheck::default()
    })
    .unwrap();
    assert_eq!(pending.state, CheckState::Pending);
    assert!(!pending.needs_attention());
}

#[test]
fn a_finding_without_a_kind_is_refused() {
    let mut check = drifted();
    check.findings[0].kind = 0;
    assert!(CheckView::try_from(check).is_err());
}
