#![allow(clippy::unwrap_used)]
//! The rules of bundles on the names and manifests that publishers and attackers send.

use super::*;

#[test]
fn entry_names_drop_dot_prefixes_and_empty_parts() {
    assert_eq!(entry_names("manifest.json").unwrap(), vec!["manifest.json"]);
    assert_eq!(
        entry_names("./manifest.json").unwrap(),
        vec!["manifest.json"]
    );
    assert_eq!(
        entry_names("./app//lib/./x.py").unwrap(),
        vec!["app", "lib", "x.py"]
    );
    assert_eq!(entry_names("app/").unwrap(), vec!["app"]);
    assert!(entry_names("./").unwrap().is_empty());
    assert!(entry_names(".").unwrap().is_empty());
}

#[test]
fn entry_names_refuse_escapes_and_impossible_names() {
    let why = |name: &str| entry_names(name).unwrap_err();
    assert!(why("../x").contains("`..`"), "{}", why("../x"));
    assert!(why("a/../../x").contains("`..`"));
    assert!(why("a/..").contains("`..`"));
    assert!(why("/tmp/x").contains("absolute path"));
    assert!(why("").contains("no name"));
    assert!(why("a\0b").contains("NUL"));
    assert!(why(&"a".repeat(256)).contains("at most 255"));
    assert!(why(&"a/".repeat(2100)).contains("at most 4096"));
}

#[test]
fn links_inside_the_bundle_are_accepted() {
    assert!(check_link_target(&["current"], "releases/2").is_ok());
    assert!(check_link_target(&["a", "b", "link"], "../../c").is_ok());
    assert!(check_link_target(&["a", "link"], "./../b/./c").is_ok());
    assert!(check_link_target(&["self"], ".").is_ok());
}

#[test]
fn links_leaving_the_bundle_are_refused() {
    let why = |link: &[&str], target: &str| check_link_target(link, target).unwrap_err();
    assert_eq!(
        why(&["passwd"], "/etc/passwd"),
        "it is a symbolic link to \"/etc/passwd\", outside the bundle folder"
    );
    assert_eq!(
        why(&["up"], "../x"),
        "it is a symbolic link to \"../x\", outside the bundle folder"
    );
    assert!(why(&["a", "b", "l"], "../../../x").contains("outside the bundle folder"));
    assert!(why(&["l"], "").contains("empty target"));
}

#[test]
fn links_with_dot_dot_after_a_name_are_refused_even_when_they_look_inside() {
    // `s/../x` is inside only if `s` is a real folder; if `s` is itself a link to `.`, it leaves.
    let why = check_link_target(&["l"], "s/../x").unwrap_err();
    assert!(why.contains("`..` after a name"), "{why}");
}

#[test]
fn content_guids_are_canonical_uuids() {
    let guid = "6f1c2a9e-3b7d-4c51-9a0e-2d8f4b6c1e70";
    assert_eq!(content_guid(guid).unwrap(), guid);
    for bad in [
        "6F1C2A9E-3B7D-4C51-9A0E-2D8F4B6C1E70",
        "6f1c2a9e3b7d4c519a0e2d8f4b6c1e70",
        "../../etc",
        "x",
    ] {
        let e = content_guid(bad).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidArgument, "{bad}");
        assert_eq!(e.violations[0].field, "guid");
        assert_eq!(e.connect_status(), (400, 3));
    }
}

#[test]
fn bundle_numbers_are_positive_decimals_without_leading_zeros() {
    assert_eq!(bundle_number("1"), Some(1));
    assert_eq!(bundle_number("42"), Some(42));
    for bad in ["0", "01", "-1", "+1", "1.0", "x", "", ".."] {
        assert_eq!(bundle_number(bad), None, "{bad}");
    }
}

#[test]
fn a_manifest_from_rsconnect_is_summarized() {
    let json = r#"{
      "version": 1,
      "metadata": {"appmode": "python-fastapi", "entrypoint": "app:app"},
      "python": {"version": "3.11.9", "package_manager": {"name": "pip", "package_file": "requirements.txt"}},
      "files": {"app.py": {"checksum": "x"}}
    }"#;
    assert_eq!(
        summarize_manifest(json).unwrap(),
        ManifestSummary {
            appmode: "python-fastapi".to_owned(),
            entrypoint: Some("app:app".to_owned()),
            python: Some("3.11.9".to_owned()),
            r: None,
            quarto: None,
        }
    );
}

#[test]
fn an_r_and_quarto_manifest_gives_both_versions() {
    let json = r#"{"platform": "4.4.2", "metadata": {"appmode": "quarto-static"},
                   "quarto": {"version": "1.4.557"}}"#;
    let summary = summarize_manifest(json).unwrap();
    assert_eq!(summary.r.as_deref(), Some("4.4.2"));
    assert_eq!(summary.quarto.as_deref(), Some("1.4.557"));
    assert_eq!(summary.entrypoint, None);
}

#[test]
fn a_manifest_that_is_not_json_names_the_file_and_the_position() {
    let e = summarize_manifest("{\"metadata\": ").unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidArgument);
    assert_eq!(
        e.message,
        "the bundle's manifest.json is not valid JSON: EOF while parsing a value at line 1 \
         column 13; write it with `rsconnect write-manifest`"
    );
    assert!(e.violations.is_empty());
}

#[test]
fn a_manifest_without_appmode_or_with_wrong_types_is_refused() {
    let e = summarize_manifest(r#"{"metadata": {"entrypoint": "app.py"}}"#).unwrap_err();
    assert!(e.message.contains("no metadata.appmode"), "{e}");
    let e = summarize_manifest(r#"{"metadata": {"appmode": 3}}"#).unwrap_err();
    assert!(
        e.message.contains("metadata.appmode must be a string"),
        "{e}"
    );
    let e = summarize_manifest(r#"{"metadata": {"appmode": "x"}, "python": {"version": 3.11}}"#)
        .unwrap_err();
    assert!(e.message.contains("python.version must be a string"), "{e}");
    let e = summarize_manifest("[]").unwrap_err();
    assert!(e.message.contains("is not a JSON object"), "{e}");
}

#[test]
fn a_bundle_serializes_with_rfc3339_times() {
    let bundle = Bundle {
        bundle_id: "1".to_owned(),
        content_guid: "6f1c2a9e-3b7d-4c51-9a0e-2d8f4b6c1e70".to_owned(),
        created_time: "2026-01-31T12:00:00Z".parse().unwrap(),
        size: 10,
        files: 2,
        manifest: ManifestSummary {
            appmode: "python-script".to_owned(),
            ..ManifestSummary::default()
        },
    };
    let json = serde_json::to_value(&bundle).unwrap();
    assert_eq!(json["created_time"], "2026-01-31T12:00:00Z");
    assert_eq!(json["manifest"]["python"], serde_json::Value::Null);
    let back: Bundle = serde_json::from_value(json).unwrap();
    assert_eq!(back, bundle);
}
