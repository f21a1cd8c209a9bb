#![allow(clippy::unwrap_used)]

use execenv_core::{FieldViolation, ManagedBy, Matching, VolumeMount};
use uuid::Uuid;

use super::*;
use crate::testing::environment;
use crate::testing::fake_registry::wire_change;

/// The sample environment, file-managed, with two Pythons, a supervisor, a mount and a
/// permission entry.
fn sample() -> Environment {
    let mut e = environment();
    e.id = 7;
    e.revision = 3;
    e.managed_by = Some(ManagedBy::ConfigFile);
    e.permissions = vec![Permission {
        guid: Uuid::nil(),
        environment_guid: e.guid,
        principal: Principal::Group("data-team".into()),
    }];
    let s = &mut e.spec;
    s.title = Some("Café Python".into());
    s.matching = Matching::Exact;
    s.supervisor = Some("/opt/sup.sh".into());
    s.python = vec![
        Installation {
            version: "3.11.9".into(),
            path: "/opt/py311/bin/python3".into(),
        },
        Installation {
            version: "3.12.10".into(),
            path: "/opt/py312/bin/python3".into(),
        },
    ];
    s.volume_mounts = vec![VolumeMount {
        source: VolumeSource::Nfs {
            host: "nfs.local".into(),
            export_path: "/exports/data".into(),
        },
        target_path: "/data".into(),
        read_only: true,
    }];
    e
}

/// Char offsets at which each cell of `row` starts in `line`, checking the cells are there.
fn cell_offsets(line: &str, cells: &[String]) -> Vec<usize> {
    let chars: Vec<char> = line.chars().collect();
    let mut offsets = Vec::new();
    let mut at = 0;
    for cell in cells {
        while chars.get(at) == Some(&' ') {
            at += 1;
        }
        let n = cell.chars().count();
        let found: String = chars[at..(at + n).min(chars.len())].iter().collect();
        assert_eq!(&found, cell, "line {line:?}");
        offsets.push(at);
        at += n;
    }
    offsets
}

#[test]
fn table_columns_start_at_the_same_offsets_in_every_row() {
    let headers = ["GUID", "TITLE", "IMAGE"];
    let rows = vec![
        vec!["a".to_owned(), "Café Python".to_owned(), "img:1".to_owned()],
        vec![
            "long-guid-value".to_owned(),
            "-".to_owned(),
            "registry.example.com/x:2".to_owned(),
        ],
        vec!["b".to_owned(), "R".to_owned(), "r".to_owned()],
    ];
    let text = table(&headers, &rows);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4);
    let header_cells: Vec<String> = headers.iter().map(|h| (*h).to_owned()).collect();
    let expected = cell_offsets(lines[0], &header_cells);
    assert_eq!(
        expected,
        [
            0,
            "long-guid-value".len() + 2,
            "long-guid-value".len() + 2 + "Café Python".chars().count() + 2
        ]
    );
    for (line, row) in lines[1..].iter().zip(&rows) {
        assert_eq!(cell_offsets(line, row), expected, "{text}");
    }
    assert!(
        text.lines().all(|l| !l.ends_with(' ')),
        "trailing blanks in {text:?}"
    );
}

#[test]
fn table_with_no_rows_prints_the_header() {
    assert_eq!(table(&["A", "BB"], &[]), "A  BB\n");
}

#[test]
fn environments_table_shows_versions_comma_joined_and_dashes_for_empty() {
    let text = environments_table(&[sample()]);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("GUID"));
    assert!(lines[0].ends_with("MANAGED"));
    assert!(lines[1].contains("3.11.9,3.12.10"), "{text}");
    assert!(lines[1].contains("config-file"), "{text}");
    assert!(lines[1].contains("exact"), "{text}");
    assert!(lines[1].contains("  -  "), "{text}");
}

#[test]
fn environment_block_shows_every_field_aligned() {
    let text = environment_block(&sample());
    for key in [
        "guid:",
        "id:",
        "name:",
        "title:",
        "description:",
        "cluster_name:",
        "environment_type:",
        "matching:",
        "supervisor:",
        "python:",
        "r:",
        "quarto:",
        "tensorflow:",
        "volume_mounts:",
        "permissions:",
        "managed_by:",
        "revision:",
        "created_time:",
        "updated_time:",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(key)),
            "{key} missing in\n{text}"
        );
    }
    let value_column = "environment_type:".len() + 2;
    for line in text.lines() {
        assert_eq!(line.chars().nth(value_column - 1), Some(' '), "{line:?}");
        assert_ne!(line.chars().nth(value_column), Some(' '), "{line:?}");
    }
    assert!(text.contains("3.11.9   /opt/py311/bin/python3"), "{text}");
    assert!(
        text.contains("nfs nfs.local:/exports/data -> /data (read-only)"),
        "{text}"
    );
    assert!(text.contains("group data-team"), "{text}");
    assert!(text.contains("2026-01-31T12:00:00Z"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("description:") && l.ends_with(" -")),
        "{text}"
    );
}

#[test]
fn environment_documents_are_the_serde_form() {
    let e = sample();
    let json: serde_json::Value =
        serde_json::from_str(&document(&e, OutputFormat::Json).unwrap()).unwrap();
    assert_eq!(json, serde_json::to_value(&e).unwrap());
    let yaml = document(&e, OutputFormat::Yaml).unwrap();
    assert!(yaml.contains("name: ghcr.io/acme/py:3.11"), "{yaml}");
    assert!(yaml.contains("managed_by: config-file"), "{yaml}");
}

#[test]
fn list_document_has_environments_total_and_token() {
    let list = EnvironmentList {
        environments: vec![sample()],
        total_count: 12,
        next_page_token: "t2".into(),
    };
    let json: serde_json::Value =
        serde_json::from_str(&document(&list, OutputFormat::Json).unwrap()).unwrap();
    assert_eq!(json["total_count"], 12);
    assert_eq!(json["next_page_token"], "t2");
    assert_eq!(
        json["environments"][0]["guid"],
        "0b6f0c8e-5d0c-4d8b-9d2a-7c1f3e2a9b10"
    );
}

#[test]
fn footer_counts_and_points_at_the_next_page() {
    assert_eq!(
        list_footer(3, Some(12), "environments", "abc"),
        "3 of 12 environments; next page: --page-token abc (or --all)"
    );
    assert_eq!(
        list_footer(12, Some(12), "environments", ""),
        "12 of 12 environments"
    );
    assert_eq!(list_footer(2, None, "changes", ""), "2 changes");
}

#[test]
fn change_view_parses_before_and_after_json() {
    let c = reg::Change {
        environment_guid: "g".into(),
        before_json: r#"{"title": "old"}"#.into(),
        after_json: String::new(),
        ..wire_change()
    };
    let v = ChangeView::from(c);
    assert_eq!(v.before, Some(serde_json::json!({"title": "old"})));
    assert_eq!(v.after, None);
    let text = changes_table(&[v]);
    assert!(text.starts_with("REVISION  TIME"), "{text}");
    assert!(
        text.contains("2026-01-31T12:00:00Z  alice  api     update  g"),
        "{text}"
    );
}

#[test]
fn invalid_input_error_lists_each_violation_on_its_own_line() {
    let e = Error::invalid(vec![
        FieldViolation::new("name", "is required"),
        FieldViolation::new(
            "python.installations[0].version",
            "\"3.11\" is not a semantic version",
        ),
    ]);
    assert_eq!(
        error_text(&e),
        "error: invalid input (2 problems):\n  - name: is required\n  - python.installations[0].version: \"3.11\" is not a semantic version"
    );
    assert_eq!(exit_code(&e), 2);
}

#[test]
fn error_with_own_message_keeps_it_above_the_violations() {
    let mut e = Error::new(ErrorKind::InvalidArgument, "environment spec rejected");
    e.violations
        .push(FieldViolation::new("matching", "use any, exact or none"));
    assert_eq!(
        error_text(&e),
        "error: environment spec rejected\n  - matching: use any, exact or none"
    );
}

#[test]
fn other_errors_print_the_message_and_exit_1() {
    let e = Error::environment_not_found("abc");
    assert_eq!(error_text(&e), format!("error: {}", e.message));
    assert_eq!(exit_code(&e), 1);
}
