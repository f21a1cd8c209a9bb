#![allow(clippy::unwrap_used)]

use execenv_core::validate::VolumeMountDraft;
use execenv_core::{Installation, VolumeSource};

use super::*;
use execenv_core::sync::definitions_digest;
use execenv_proto::apply::ApplyRequest;

const YAML: &str = r#"
# Managed by Helm: executionEnvironments
- name: ghcr.io/rstudio/content-base:r4.4.1-py3.11.9-jammy
  title: R 4.4 / Python 3.11
  description: The standard image
  matching: any
  python:
    installations:
      - version: 3.11.9
        path: /opt/python/3.11.9/bin/python3
      - version: 3.10
        path: /opt/python/3.10/bin/python3
  r:
    installations:
      - {version: 4.4.1, path: /opt/R/4.4.1/bin/R}
  quarto:
    installations: []
  tensorflow: null
  volume_mounts:
    - source: {volume_type: nfs, nfs_host: nfs.example.com, nfs_export_path: /exports/data}
      target: {path: /mnt/data, read_only: true}
    - source: {volume_type: pvc, pvc_name: shared-cache}
      target: {path: /mnt/cache, read_only: null}
- guid: 0d7ac3a4-58c5-4d1e-9a4e-2f1f6d2b8c11
  name: ghcr.io/example/gpu:1
  supervisor: /usr/local/bin/supervisor.sh
  cluster_name: Kubernetes
  matching: exact
"#;

fn expected() -> Vec<EnvironmentDraft> {
    let inst = |v: &str, p: &str| Installation {
        version: v.to_owned(),
        path: p.to_owned(),
    };
    vec![
        EnvironmentDraft {
            name: Some("ghcr.io/rstudio/content-base:r4.4.1-py3.11.9-jammy".to_owned()),
            title: Some("R 4.4 / Python 3.11".to_owned()),
            description: Some("The standard image".to_owned()),
            matching: Some("any".to_owned()),
            python: vec![
                inst("3.11.9", "/opt/python/3.11.9/bin/python3"),
                inst("3.10", "/opt/python/3.10/bin/python3"),
            ],
            r: vec![inst("4.4.1", "/opt/R/4.4.1/bin/R")],
            volume_mounts: vec![
                VolumeMountDraft {
                    source: Some(VolumeSource::Nfs {
                        host: "nfs.example.com".to_owned(),
                        export_path: "/exports/data".to_owned(),
                    }),
                    target_path: "/mnt/data".to_owned(),
                    read_only: true,
                },
                VolumeMountDraft {
                    source: Some(VolumeSource::Pvc {
                        claim_name: "shared-cache".to_owned(),
                    }),
                    target_path: "/mnt/cache".to_owned(),
                    read_only: false,
                },
            ],
            ..Default::default()
        },
        EnvironmentDraft {
            guid: Some("0d7ac3a4-58c5-4d1e-9a4e-2f1f6d2b8c11".to_owned()),
            name: Some("ghcr.io/example/gpu:1".to_owned()),
            supervisor: Some("/usr/local/bin/supervisor.sh".to_owned()),
            cluster_name: Some("Kubernetes".to_owned()),
            matching: Some("exact".to_owned()),
            ..Default::default()
        },
    ]
}

#[test]
fn yaml_file_parses_into_drafts_with_versions_kept_as_written() {
    assert_eq!(parse(YAML, "environments.yaml").unwrap(), expected());
}

#[test]
fn json_file_parses_into_the_same_drafts() {
    let json = r#"[
      {"name": "ghcr.io/rstudio/content-base:r4.4.1-py3.11.9-jammy",
       "title": "R 4.4 / Python 3.11", "description": "The standard image", "matching": "any",
       "python": {"installations": [
          {"version": "3.11.9", "path": "/opt/python/3.11.9/bin/python3"},
          {"version": "3.10", "path": "/opt/python/3.10/bin/python3"}]},
       "r": {"installations": [{"version": "4.4.1", "path": "/opt/R/4.4.1/bin/R"}]},
       "quarto": {"installations": []}, "tensorflow": null,
       "volume_mounts": [
          {"source": {"volume_type": "nfs", "nfs_host": "nfs.example.com", "nfs_export_path": "/exports/data"},
           "target": {"path": "/mnt/data", "read_only": true}},
          {"source": {"volume_type": "pvc", "pvc_name": "shared-cache"},
           "target": {"path": "/mnt/cache", "read_only": null}}]},
      {"guid": "0d7ac3a4-58c5-4d1e-9a4e-2f1f6d2b8c11", "name": "ghcr.io/example/gpu:1",
       "supervisor": "/usr/local/bin/supervisor.sh", "cluster_name": "Kubernetes", "matching": "exact"}
    ]"#;
    // Chosen by the leading bracket, whatever the file is called.
    assert_eq!(parse(json, "environments.yaml").unwrap(), expected());
    assert_eq!(parse(json, "environments.json").unwrap(), expected());
}

#[test]
fn saved_list_response_is_accepted_with_read_only_fields_ignored() {
    let saved = r#"[{
      "id": "42", "guid": "0d7ac3a4-58c5-4d1e-9a4e-2f1f6d2b8c11",
      "created_time": "2024-01-15T10:00:00Z", "updated_time": "2024-01-15T10:00:00Z",
      "title": "Standard", "description": null, "cluster_name": "Kubernetes",
      "name": "ghcr.io/rstudio/content-base:r4.4.1-py3.11.9-jammy",
      "environment_type": "Kubernetes", "matching": "any", "supervisor": null, "managed_by": null,
      "python": {"installations": [{"version": "3.11.9", "path": "/opt/python/3.11.9/bin/python3"}]},
      "quarto": {"installations": [{"version": "1.4.557", "path": "/opt/quarto/1.4.557/bin/quarto"}]},
      "r": {"installations": [{"version": "4.4.1", "path": "/opt/R/4.4.1/bin/R"}]},
      "tensorflow": {"installations": []}, "nodejs": null, "volume_mounts": []
    }]"#;
    let loaded = load(saved, "saved.json").unwrap();
    assert_eq!(loaded.len(), 1);
    let sent = ApplyRequest::new(loaded.definitions, false, FIELD_PREFIX, None)
        .decoded()
        .unwrap()
        .definitions;
    assert_eq!(sent[0].title.as_deref(), Some("Standard"));
    assert_eq!(sent[0].quarto.as_ref().unwrap().installations.len(), 1);
    assert_eq!(sent[0].guid, "0d7ac3a4-58c5-4d1e-9a4e-2f1f6d2b8c11");
}

#[test]
fn permissions_in_a_definition_are_rejected_with_where_to_manage_access() {
    let text =
        "- name: ghcr.io/a/b:1\n  permissions: [{principal_type: user, principal_guid: x}]\n";
    let err = parse(text, "environments.yaml").unwrap_err();
    assert_eq!(err.violations.len(), 1);
    let v = &err.violations[0];
    assert_eq!(v.field, "executionEnvironments[0].permissions");
    assert!(v.description.contains("not managed by the file"));
    assert!(v.description.contains("execenvctl env permissions"));
}

#[test]
fn unknown_keys_are_errors_naming_the_key_and_the_entry_all_reported_together() {
    let text = "\
- name: ghcr.io/a/b:1
- name: ghcr.io/a/c:1
- name: ghcr.io/a/d:1
  pyhton: {installations: []}
- name: ghcr.io/a/e:1
  images: []
";
    let err = parse(text, "environments.yaml").unwrap_err();
    let lines: Vec<String> = err.violations.iter().map(ToString::to_string).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].starts_with("executionEnvironments[2]: unknown key \"pyhton\""),
        "{lines:?}"
    );
    assert!(lines[1].starts_with("executionEnvironments[3]: unknown key \"images\""));
}

#[test]
fn unknown_keys_and_invalid_values_of_every_entry_are_reported_together_in_entry_order() {
    let text = "\
- name: ghcr.io/a/b:1
  python: {installations: [{version: three, path: /opt/python/bin/python3}]}
- title: no image
  colour: blue
";
    let err = load(text, "environments.yaml").unwrap_err();
    let fields: Vec<&str> = err.violations.iter().map(|v| v.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "executionEnvironments[0].python.installations[0].version",
            "executionEnvironments[1]",
            "executionEnvironments[1].name",
        ]
    );
}

#[test]
fn empty_comment_only_and_empty_list_files_hold_no_definitions() {
    for text in [
        "",
        "   \n\n",
        "# nothing yet\n  # still nothing\n",
        "[]",
        "[]\n",
        " [ ] ",
    ] {
        assert_eq!(
            parse(text, "environments.yaml").unwrap(),
            vec![],
            "{text:?}"
        );
        let loaded = load(text, "environments.yaml").unwrap();
        assert!(loaded.is_empty(), "{text:?}");
    }
    assert_eq!(parse("[]", "environments.json").unwrap(), vec![]);
}

#[test]
fn null_installations_mean_none() {
    let text = "- name: ghcr.io/a/b:1\n  python: null\n  r: {installations: null}\n  quarto: {}\n";
    let drafts = parse(text, "environments.yaml").unwrap();
    assert!(drafts[0].python.is_empty());
    assert!(drafts[0].r.is_empty());
    assert!(drafts[0].quarto.is_empty());
}

#[test]
fn yaml_syntax_error_names_the_file_and_the_line() {
    let text = "- name: ghcr.io/a/b:1\n  title: [unclosed\n- name: x\n";
    let err = parse(text, "/etc/execenv/environments.yaml").unwrap_err();
    let line = err.violations[0].to_string();
    assert!(
        line.starts_with("/etc/execenv/environments.yaml: "),
        "{line}"
    );
    assert!(line.contains("line "), "{line}");
    assert!(!line.contains('\n'), "{line}");
}

#[test]
fn json_syntax_error_names_the_file_and_the_line() {
    let err = parse("[{\"name\": \"a\",}]", "environments.json").unwrap_err();
    let line = err.violations[0].to_string();
    assert!(line.starts_with("environments.json: "), "{line}");
    assert!(line.contains("line 1"), "{line}");
}

#[test]
fn a_mapping_at_the_top_level_points_at_the_legacy_setting() {
    let err = parse("name: Kubernetes\nimages: []\n", "environments.yaml").unwrap_err();
    assert!(err.message.contains("sync.legacy_file"), "{}", err.message);
}

#[test]
fn an_unknown_volume_type_is_reported_with_its_path() {
    let text = "- name: ghcr.io/a/b:1\n  volume_mounts:\n    - source: {volume_type: smb}\n      target: {path: /mnt/x}\n";
    let err = parse(text, "environments.yaml").unwrap_err();
    assert_eq!(
        err.violations[0].field,
        "executionEnvironments[0].volume_mounts[0].source.volume_type"
    );
}

#[test]
fn unknown_keys_inside_installations_are_errors() {
    let text = "- name: ghcr.io/a/b:1\n  python: {installations: [], versions: []}\n";
    let err = parse(text, "environments.yaml").unwrap_err();
    assert!(err.message.contains("versions"), "{}", err.message);
}

#[test]
fn digest_depends_on_the_definitions_not_on_formatting() {
    let a = load("- name: ghcr.io/a/b:1\n  title: T\n", "e.yaml").unwrap();
    let b = load("# a comment\n- {title: T, name: ghcr.io/a/b:1}\n", "e.yaml").unwrap();
    let c = load("- name: ghcr.io/a/b:1\n  title: U\n", "e.yaml").unwrap();
    assert_eq!(a.digest(), b.digest());
    assert_ne!(a.digest(), c.digest());
}

#[test]
fn load_sends_the_definitions_as_written_with_the_digest_of_the_validated_ones() {
    let text = "- name: ghcr.io/a/b:1\n  title: T\n  python: {installations: [{version: 3.11.4, path: /opt/python/bin/python3}]}\n- {name: ghcr.io/a/c:1, guid: 0d7ac3a4-58c5-4d1e-9a4e-2f1f6d2b8c11}\n";
    let loaded = load(text, "environments.yaml").unwrap();
    let sent = ApplyRequest::new(loaded.definitions.clone(), false, FIELD_PREFIX, None)
        .decoded()
        .unwrap()
        .definitions;
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1].guid, "0d7ac3a4-58c5-4d1e-9a4e-2f1f6d2b8c11");
    let drafts = parse(text, "environments.yaml").unwrap();
    let as_written: Vec<pb::EnvironmentSpec> =
        drafts.iter().map(pb::EnvironmentSpec::from).collect();
    assert_eq!(sent, as_written);
    let definitions = validate_definitions(&drafts, FIELD_PREFIX).unwrap();
    assert_eq!(loaded.digest(), definitions_digest(&definitions));
}

#[test]
fn problems_of_the_set_come_after_those_of_each_entry_in_entry_order() {
    let text = "- name: ghcr.io/a/b:1\n  pyhton: {}\n- name: ghcr.io/a/b:1\n  matching: sometimes\n- name: ''\n";
    let err = load(text, "environments.yaml").unwrap_err();
    let fields: Vec<&str> = err.violations.iter().map(|v| v.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "executionEnvironments[0]",
            "executionEnvironments[1].matching",
            "executionEnvironments[1].name",
            "executionEnvironments[2].name",
        ]
    );
}

#[test]
fn a_file_of_ten_thousand_definitions_parses_within_the_yaml_budget() {
    let text: String = (0..10_000)
        .map(|i| {
            format!(
                "- name: ghcr.io/acme/m-{i}:1\n  title: m {i}\n  python: {{installations: [{{version: 3.11.{i}, path: /opt/py/bin/python3}}]}}\n  r: {{installations: [{{version: 4.4.1, path: /opt/R/bin/R}}]}}\n  quarto: {{installations: [{{version: 1.5.57, path: /opt/q/bin/quarto}}]}}\n"
            )
        })
        .collect();
    let drafts = parse(&text, "big.yaml").expect("10,000 definitions parse");
    assert_eq!(drafts.len(), 10_000);
}

/// An environment exactly as `GET /__api__/v1/environments` answers it: the same bytes
/// `execenvctl env create --file` is tested with.
const ANSWERED: &str =
    include_str!("../../../libs/proto/src/convert/testdata/connect_environment.json");

#[test]
fn an_environment_copied_from_an_answer_is_an_entry_as_it_is() {
    let file = format!("[{ANSWERED}]");
    let drafts = parse(&file, "environments.json").unwrap();
    let inst = |v: &str, p: &str| Installation {
        version: v.to_owned(),
        path: p.to_owned(),
    };
    assert_eq!(
        drafts,
        [EnvironmentDraft {
            guid: Some("4f6c1c1e-0d3a-4c9e-9a57-0f6f3c2b9e11".to_owned()),
            name: Some("ghcr.io/rstudio/content-base:r4.4.1-py3.12.4-ubuntu2204".to_owned()),
            title: Some("R 4.4 / Python 3.12".to_owned()),
            description: Some("The standard image".to_owned()),
            cluster_name: Some("Kubernetes".to_owned()),
            matching: Some("exact".to_owned()),
            supervisor: Some("/opt/supervisor/run.sh".to_owned()),
            python: vec![inst("3.12.4", "/opt/python/3.12.4/bin/python3")],
            r: vec![inst("4.4.1", "/opt/R/4.4.1/bin/R")],
            quarto: vec![],
            tensorflow: vec![],
            volume_mounts: vec![
                VolumeMountDraft {
                    source: Some(VolumeSource::Nfs {
                        host: "nfs.example.com".to_owned(),
                        export_path: "/exports/data".to_owned(),
                    }),
                    target_path: "/mnt/data".to_owned(),
                    read_only: true,
                },
                VolumeMountDraft {
                    source: Some(VolumeSource::Pvc {
                        claim_name: "shared-cache".to_owned(),
                    }),
                    target_path: "/mnt/cache".to_owned(),
                    read_only: false,
                },
            ],
        }]
    );
    assert!(load(&file, "environments.json").is_ok());
}

#[test]
fn invalid_mounts_are_reported_with_the_names_the_file_uses() {
    let text = "\
- name: ghcr.io/a/b:1
  volume_mounts:
    - source: {volume_type: pvc, pvc_name: Bad_Claim}
      target: {path: relative}
";
    let err = load(text, "environments.yaml").unwrap_err();
    let fields: Vec<&str> = err.violations.iter().map(|v| v.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "executionEnvironments[0].volume_mounts[0].source.pvc_name",
            "executionEnvironments[0].volume_mounts[0].target.path",
        ]
    );
}

#[test]
fn a_mount_in_the_former_cli_shape_is_refused_naming_connects_fields() {
    let text = "\
- name: ghcr.io/a/b:1
  volume_mounts:
    - {source: {type: pvc, claim_name: c}, target_path: /m}
";
    let err = parse(text, "environments.yaml").unwrap_err();
    let lines: Vec<String> = err.violations.iter().map(ToString::to_string).collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(
        lines[0].starts_with(
            "executionEnvironments[0].volume_mounts[0].target_path: is now target.path,"
        ),
        "{lines:?}"
    );
    assert!(
        lines[2].starts_with(
            "executionEnvironments[0].volume_mounts[0].source.claim_name: is now source.pvc_name,"
        ),
        "{lines:?}"
    );
}

/// `n` entries of 8 lines each (entry `i` starts on line `8 i + 1`), named `ghcr.io/acme/h-{i}:1`.
fn large(n: usize) -> String {
    entries(0..n)
}

/// The entries of [`large`] numbered `range`.
fn entries(range: std::ops::Range<usize>) -> String {
    range
        .map(|i| {
            format!(
                "- name: ghcr.io/acme/h-{i}:1\n  title: Team {i}\n  python:\n    installations:\n      - {{version: 3.11.{i}, path: /opt/python/bin/python3}}\n  r:\n    installations:\n      - {{version: 4.4.1, path: /opt/R/bin/R}}\n"
            )
        })
        .collect()
}

/// Enough entries of [`large`] to be loaded in pieces (about 200 bytes each: 4.4 MB, 4 pieces).
const PIECED: usize = 22_000;

/// The names of the definitions `loaded` sends, in order.
fn sent_names(loaded: Loaded) -> Vec<String> {
    ApplyRequest::new(loaded.definitions, false, FIELD_PREFIX, None)
        .decoded()
        .unwrap()
        .definitions
        .into_iter()
        .map(|d| d.name)
        .collect()
}

#[test]
fn a_large_list_is_cut_into_pieces_at_the_start_of_entries() {
    let text = large(PIECED);
    let cut = pieces(&text).expect("cut");
    assert_eq!(cut.concat(), text);
    assert_eq!(cut.len(), text.len() / (1 << 20));
    for piece in &cut {
        assert!(
            piece.starts_with("- name: ghcr.io/acme/h-"),
            "{:?}",
            &piece[..40]
        );
        assert!(piece.len() >= 1 << 20, "{}", piece.len());
    }
    assert_eq!(pieces(&large(10)), None);
    let document = format!("---\n{text}");
    assert_eq!(pieces(&document), None);
    let mapping = format!("images:\n{text}");
    assert_eq!(pieces(&mapping), None);
}

#[test]
fn a_large_file_loads_in_pieces_in_file_order_with_the_digest_of_the_whole() {
    let text = large(PIECED);
    let loaded = load(&text, "environments.yaml").unwrap();
    assert_eq!(loaded.len(), PIECED);
    let drafts = parse(&text, "environments.yaml").unwrap();
    let definitions = validate_definitions(&drafts, FIELD_PREFIX).unwrap();
    assert_eq!(loaded.digest(), definitions_digest(&definitions));
    let expected: Vec<String> = (0..PIECED)
        .map(|i| format!("ghcr.io/acme/h-{i}:1"))
        .collect();
    assert_eq!(sent_names(loaded), expected);
}

#[test]
fn a_problem_in_the_last_piece_of_a_large_file_names_its_entry() {
    let last = PIECED - 1;
    let text = format!("{}  colour: blue\n", large(PIECED));
    let err = load(&text, "environments.yaml").unwrap_err();
    assert_eq!(err.violations.len(), 1, "{err:?}");
    assert_eq!(
        err.violations[0].field,
        format!("executionEnvironments[{last}]")
    );
    assert!(err.violations[0].description.contains("colour"), "{err:?}");
}

#[test]
fn a_syntax_error_in_a_later_piece_of_a_large_file_names_its_line_in_the_file() {
    // Line 8 × 11,000 + 1 starts entry 11,000; its title, on the next line, is left open.
    let mut text = large(11_000);
    text.push_str("- name: ghcr.io/acme/broken:1\n  title: [unclosed\n");
    text.push_str(&entries(11_001..PIECED));
    let err = load(&text, "/etc/execenv/environments.yaml").unwrap_err();
    let line = err.violations[0].to_string();
    assert!(
        line.starts_with("/etc/execenv/environments.yaml: "),
        "{line}"
    );
    let expected = format!("line {}", 8 * 11_000 + 2);
    assert!(line.contains(&expected), "{line} (expected {expected})");
}

#[test]
fn an_alias_in_a_later_piece_of_an_anchor_in_the_first_is_resolved() {
    let mut text = String::from(
        "- name: ghcr.io/acme/anchor:1\n  python: &py {installations: [{version: 3.12.1, path: /opt/py/bin/python3}]}\n",
    );
    text.push_str(&large(PIECED));
    text.push_str("- name: ghcr.io/acme/alias:1\n  python: *py\n");
    let loaded = load(&text, "environments.yaml").unwrap();
    let sent = ApplyRequest::new(loaded.definitions, false, FIELD_PREFIX, None)
        .decoded()
        .unwrap()
        .definitions;
    assert_eq!(sent.len(), PIECED + 2);
    let alias = &sent[PIECED + 1];
    assert_eq!(alias.name, "ghcr.io/acme/alias:1");
    let python = alias.python.as_ref().expect("the anchored installations");
    assert_eq!(python.installations[0].version, "3.12.1");
}

#[test]
fn a_quoted_title_whose_next_line_starts_with_a_dash_stays_one_entry() {
    // The first piece would end 1 MiB in, which falls inside the open quote; `- continued"` is
    // part of the title, not an entry.
    let (mut before, after) = (entries(0..5_000), entries(5_000..12_000));
    // A comment that makes the quoted entry start 40 bytes before 1 MiB.
    let filler = (1 << 20) - 40 - before.len() - 2;
    before.push_str(&format!("#{}\n", "x".repeat(filler)));
    let padding = "x".repeat(40);
    let text = format!(
        "{before}- name: ghcr.io/acme/quoted:1\n  title: \"start {padding}\n- continued\"\n{after}"
    );
    let cut = pieces(&text).expect("cut");
    assert!(
        cut.iter().any(|piece| piece.starts_with("- continued")),
        "a cut falls inside the quote"
    );
    let whole = parse(&text, "environments.yaml");
    let loaded = load(&text, "environments.yaml");
    match (whole, loaded) {
        (Ok(drafts), Ok(loaded)) => {
            assert_eq!(drafts.len(), 12_001);
            assert_eq!(
                drafts[5_000].title.as_deref(),
                Some(format!("start {padding} - continued").as_str())
            );
            let names = sent_names(loaded);
            assert_eq!(names.len(), 12_001);
            assert_eq!(names[5_000], "ghcr.io/acme/quoted:1");
        }
        (Err(whole), Err(loaded)) => assert_eq!(whole.violations, loaded.violations),
        (whole, loaded) => panic!("parsed whole: {whole:?}; loaded: {loaded:?}"),
    }
}
