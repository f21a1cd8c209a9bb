#![allow(clippy::unwrap_used)]

use execenv_core::{Environment, Installation};

use super::*;
use crate::cli::Command;
use crate::render::error_text;
use crate::testing::{GUID, OTHER, parse};

fn select_args(args: &[&str]) -> SelectArgs {
    match parse(args).unwrap().command {
        Command::Select(a) | Command::Explain(a) => a,
        other => panic!("not select/explain: {other:?}"),
    }
}

/// The sample environment with an R installation too, titled `title`.
fn environment(title: Option<&str>) -> Environment {
    let mut e = crate::testing::environment();
    e.spec.title = title.map(Into::into);
    e.spec.r = vec![Installation {
        version: "4.4.1".into(),
        path: "/opt/R/4.4.1/bin/R".into(),
    }];
    e
}

fn installation(language: &str, version: &str, path: &str, closeness: &str) -> InstallationView {
    InstallationView {
        language: language.into(),
        version: version.into(),
        path: path.into(),
        closeness: closeness.into(),
    }
}

fn selection(title: Option<&str>, age: f64) -> SelectionView {
    SelectionView {
        environment: environment(title),
        installations: vec![
            installation(
                "python",
                "3.11.9",
                "/opt/python/3.11.9/bin/python3",
                "exact",
            ),
            installation("r", "4.4.1", "/opt/R/4.4.1/bin/R", "major"),
        ],
        selected_by: "automatic".into(),
        revision: 12,
        catalogue_age_seconds: age,
    }
}

fn verdict(outcome: &str, guid: &str, title: Option<&str>, reasons: &[&str]) -> VerdictView {
    VerdictView {
        environment_guid: guid.into(),
        name: format!("img:{outcome}"),
        title: title.map(Into::into),
        outcome: outcome.into(),
        reasons: reasons.iter().map(|r| (*r).to_owned()).collect(),
        installations: if outcome == "rejected" {
            vec![]
        } else {
            vec![
                installation("python", "3.11.9", "/py", "exact"),
                installation("r", "4.4.1", "/R", "major"),
            ]
        },
        drift: None,
    }
}

#[test]
fn request_from_flags_sends_each_requirement_and_the_content_settings() {
    let a = select_args(&[
        "select",
        "--python",
        "3.11.4",
        "--python-requires",
        ">=3.8,<4.0",
        "--r",
        "4.4.1",
        "--r-requires",
        ">= 4.1, < 5",
        "--quarto",
        "1.5.57",
        "--quarto-requires",
        ">=1.4",
        "--environment",
        GUID,
        "--image",
        "img:1",
        "--default-environment",
        OTHER,
        "--default-image",
        "img:default",
    ]);
    let r = select_request(&a).unwrap();
    assert_eq!(
        r.requirements,
        Some(sel::Requirements {
            python_version: Some("3.11.4".into()),
            python_requires: Some(">=3.8,<4.0".into()),
            r_version: Some("4.4.1".into()),
            r_requires: Some(">= 4.1, < 5".into()),
            quarto_version: Some("1.5.57".into()),
            quarto_requires: Some(">=1.4".into()),
            target_environment_guid: Some(GUID.into()),
            target_image: Some("img:1".into()),
        })
    );
    assert_eq!(r.manifest_json, "");
    assert_eq!(
        r.content,
        Some(sel::ContentSettings {
            default_environment_guid: Some(OTHER.into()),
            default_image_name: Some("img:default".into()),
        })
    );
}

#[test]
fn request_without_flags_asks_for_automatic_selection() {
    let r = select_request(&select_args(&["explain"])).unwrap();
    assert_eq!(r.requirements, None);
    assert_eq!(r.manifest_json, "");
    assert_eq!(r.content, Some(sel::ContentSettings::default()));
}

#[test]
fn request_from_a_manifest_sends_the_file_text_and_no_requirement_fields() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("manifest.json");
    let text = r#"{"python": {"version": "3.11.4"}, "environment": {"image": "img:1"}}"#;
    std::fs::write(&path, text).unwrap();
    let a = select_args(&[
        "select",
        "--manifest",
        path.to_str().unwrap(),
        "--default-image",
        "img:default",
    ]);
    let r = select_request(&a).unwrap();
    assert_eq!(r.manifest_json, text);
    assert_eq!(r.requirements, None);
    assert_eq!(
        r.content.unwrap().default_image_name.as_deref(),
        Some("img:default")
    );
}

#[test]
fn manifest_conflicts_with_every_requirement_flag() {
    for flag in [
        "--python",
        "--python-requires",
        "--r",
        "--r-requires",
        "--quarto",
        "--quarto-requires",
        "--environment",
        "--image",
    ] {
        for command in ["select", "explain"] {
            let e = parse(&[command, "--manifest", "m.json", flag, "x"]).unwrap_err();
            assert_eq!(
                e.kind(),
                clap::error::ErrorKind::ArgumentConflict,
                "{command} {flag}"
            );
            assert_eq!(e.exit_code(), 2);
            // Only the flag given is named, not every requirement flag.
            let first = e.to_string().lines().next().unwrap().to_owned();
            assert!(
                first.contains(&format!("cannot be used with '{flag} <")),
                "{first}"
            );
        }
    }
    // Content settings are not requirements: allowed with a manifest.
    assert!(
        parse(&[
            "select",
            "--manifest",
            "m.json",
            "--default-environment",
            GUID,
            "--default-image",
            "img"
        ])
        .is_ok()
    );
}

#[test]
fn request_for_a_missing_manifest_names_the_flag_and_the_file() {
    let a = select_args(&["select", "--manifest", "/nonexistent/manifest.json"]);
    let e = select_request(&a).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidArgument);
    assert_eq!(e.violations[0].field, "--manifest");
    assert!(
        e.violations[0]
            .description
            .starts_with("cannot read /nonexistent/manifest.json: "),
        "{e:?}"
    );
}

#[test]
fn selection_block_lists_the_environment_each_installation_and_the_revision() {
    let text = selection_block(&selection(Some("Python 3.11"), 0.0));
    assert_eq!(
        text,
        format!(
            "environment:    {GUID}\n\
             title:          Python 3.11\n\
             image:          ghcr.io/acme/py:3.11\n\
             selected by:    automatic\n\
             python:         3.11.9  /opt/python/3.11.9/bin/python3  (exact)\n\
             r:              4.4.1   /opt/R/4.4.1/bin/R              (major)\n\
             revision:       12\n\
             catalogue age:  0 s\n"
        )
    );
}

#[test]
fn selection_block_says_when_the_catalogue_is_stale() {
    let text = selection_block(&selection(None, 12.4));
    assert!(text.contains("title:          -\n"), "{text}");
    assert!(
        text.ends_with("catalogue age:  12 s (registry unreachable)\n"),
        "{text}"
    );
}

/// Char offset at which `cell` starts in `line`.
fn offset(line: &str, cell: &str) -> usize {
    let byte = line
        .find(cell)
        .unwrap_or_else(|| panic!("{cell:?} not in {line:?}"));
    line[..byte].chars().count()
}

#[test]
fn explanation_table_orders_chosen_compatible_rejected_with_aligned_columns() {
    let x = ExplanationView {
        verdicts: vec![
            verdict(
                "rejected",
                "g-rejected",
                Some("Ancient"),
                &["no Python satisfying >=3.12: has 3.10.4", "disabled"],
            ),
            verdict(
                "compatible",
                "g-second",
                None,
                &["lost on python: 3.11.2 vs 3.11.9"],
            ),
            verdict("chosen", GUID, Some("Café Python"), &[]),
            verdict("compatible", "g-third", Some("T"), &["lost on r"]),
        ],
        selection: Some(selection(Some("Café Python"), 0.0)),
        error: String::new(),
        revision: 12,
        catalogue_age_seconds: 0.0,
    };
    let text = explanation_table(&x);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 8, "{text}");
    assert!(lines[0].starts_with("VERDICT     GUID"), "{text}");
    let order: Vec<&str> = lines[1..5]
        .iter()
        .map(|l| l.split_whitespace().nth(1).unwrap())
        .collect();
    assert_eq!(order, [GUID, "g-second", "g-third", "g-rejected"]);
    assert!(
        lines[1].contains("python 3.11.9 (exact), r 4.4.1 (major)"),
        "{text}"
    );
    assert!(
        lines[4].contains("  -  "),
        "rejected has no installations: {text}"
    );
    assert!(
        lines[4].ends_with("no Python satisfying >=3.12: has 3.10.4; disabled"),
        "{text}"
    );
    assert!(lines[2].contains("  -  "), "no title: {text}");
    // Every column starts at the same char offset in every row (the title has a multi-byte é).
    let columns = [
        ("GUID", [GUID, "g-second", "g-third", "g-rejected"]),
        (
            "IMAGE",
            [
                "img:chosen",
                "img:compatible",
                "img:compatible",
                "img:rejected",
            ],
        ),
        ("WHY", ["-", "lost on python", "lost on r", "no Python"]),
    ];
    for (header, cells) in columns {
        let at = offset(lines[0], header);
        for (line, cell) in lines[1..5].iter().zip(cells) {
            let line: String = line.chars().skip(at).collect();
            assert!(line.starts_with(cell), "{header}: {line:?}");
        }
    }
    assert_eq!(lines[5], "");
    assert_eq!(
        lines[6],
        format!("chosen: Café Python ({GUID}) by automatic")
    );
    assert_eq!(lines[7], "revision 12, catalogue age 0 s");
}

#[test]
fn explanation_table_says_why_nothing_was_chosen() {
    let x = ExplanationView {
        verdicts: vec![verdict("rejected", OTHER, None, &["different image"])],
        selection: None,
        error: "Cannot find compatible environment: no compatible Kubernetes environment with image named X".into(),
        revision: 3,
        catalogue_age_seconds: 40.0,
    };
    let text = explanation_table(&x);
    assert!(
        text.ends_with(
            "\nnothing chosen: Cannot find compatible environment: no compatible Kubernetes environment with image named X\n\
             revision 3, catalogue age 40 s (registry unreachable)\n"
        ),
        "{text}"
    );
}

#[test]
fn explanation_table_has_a_drift_column_when_an_image_is_in_drift() {
    let mut drifted = verdict(
        "rejected",
        OTHER,
        None,
        &[
            "in drift and selection.skip_drift is on: Python at /py is declared as 3.12.4 but the image has 3.11.9",
        ],
    );
    drifted.drift =
        Some("in drift: Python at /py is declared as 3.12.4 but the image has 3.11.9".into());
    let x = ExplanationView {
        verdicts: vec![drifted, verdict("chosen", GUID, Some("T"), &[])],
        selection: Some(selection(Some("T"), 0.0)),
        error: String::new(),
        revision: 12,
        catalogue_age_seconds: 0.0,
    };
    let text = explanation_table(&x);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        offset(lines[0], "INSTALLATIONS") < offset(lines[0], "DRIFT")
            && offset(lines[0], "DRIFT") < offset(lines[0], "WHY"),
        "{text}"
    );
    let at = offset(lines[0], "DRIFT");
    let cell = |line: &str| line.chars().skip(at).collect::<String>();
    assert!(cell(lines[1]).starts_with("-  "), "{text}");
    assert_eq!(
        cell(lines[2]),
        "in drift: Python at /py is declared as 3.12.4 but the image has 3.11.9  in drift and selection.skip_drift is on: Python at /py is declared as 3.12.4 but the image has 3.11.9"
    );
}

#[test]
fn explanation_table_has_no_drift_column_when_no_image_is_in_drift() {
    let x = ExplanationView {
        verdicts: vec![verdict("chosen", GUID, Some("T"), &[])],
        selection: Some(selection(Some("T"), 0.0)),
        error: String::new(),
        revision: 12,
        catalogue_age_seconds: 0.0,
    };
    assert!(!explanation_table(&x).contains("DRIFT"));
}

#[test]
fn failure_lists_each_environment_by_guid() {
    let e = Error {
        kind: ErrorKind::FailedPrecondition,
        message: "Cannot find compatible environment: no compatible Kubernetes environment with Python version 3.10.0".into(),
        violations: vec![
            FieldViolation::new(
                format!("environments[{GUID}]"),
                "no Python 3.10: has 3.11.9",
            ),
            FieldViolation::new(format!("environments[{OTHER}]"), "matching is none"),
        ],
    };
    let e = selection_failure(e);
    assert_eq!(
        error_text(&e),
        format!(
            "error: Cannot find compatible environment: no compatible Kubernetes environment with Python version 3.10.0\n  \
             - {GUID}: no Python 3.10: has 3.11.9\n  - {OTHER}: matching is none"
        )
    );
    assert_eq!(crate::render::exit_code(&e), 1);
}

#[test]
fn invalid_argument_violations_keep_their_fields() {
    let e = Error::invalid(vec![FieldViolation::new(
        "environments[x]",
        "stays as it is",
    )]);
    assert_eq!(selection_failure(e.clone()), e);
    assert_eq!(crate::render::exit_code(&e), 2);
}

#[test]
fn verdicts_and_responses_convert_from_the_wire() {
    let wire = sel::ExplainResponse {
        verdicts: vec![sel::Verdict {
            environment_guid: GUID.into(),
            name: "img".into(),
            title: Some(String::new()),
            outcome: sel::verdict::Outcome::Compatible as i32,
            reasons: vec!["lost".into()],
            installations: vec![],
            drift: String::new(),
        }],
        selection: None,
        error: "none fits".into(),
        revision: 4,
        catalogue_age_seconds: 0.0,
    };
    let x = ExplanationView::try_from(wire).unwrap();
    assert_eq!(x.verdicts[0].outcome, "compatible");
    assert_eq!(x.verdicts[0].title, None);
    let e = SelectionView::try_from(sel::SelectResponse::default()).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Internal);
}
