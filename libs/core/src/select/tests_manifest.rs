#![allow(clippy::unwrap_used)]
//! `parse_manifest` on the shapes Connect's publishers write.

use super::*;
use crate::error::ErrorKind;

fn need(version: Option<&str>, constraint: Option<&str>) -> LanguageNeed {
    LanguageNeed {
        version: version.map(str::to_owned),
        constraint: constraint.map(str::to_owned),
    }
}

#[test]
fn manifest_from_rsconnect_python_with_an_environment_section() {
    let json = r#"{
      "version": 1,
      "locale": "en_US.UTF-8",
      "metadata": {"appmode": "python-fastapi", "entrypoint": "app:app"},
      "python": {
        "version": "3.11.9",
        "package_manager": {"name": "pip", "version": "24.0", "package_file": "requirements.txt"}
      },
      "environment": {
        "image": "ghcr.io/rstudio/content-base:r4.4.1-py3.11.9-jammy",
        "environment_management": {"python": false},
        "python": {"requires": ">=3.8,<4.0"}
      },
      "files": {"app.py": {"checksum": "0cc175b9c0f1b6a831c399e269772661"}}
    }"#;
    assert_eq!(
        parse_manifest(json).unwrap(),
        Requirements {
            python: need(Some("3.11.9"), Some(">=3.8,<4.0")),
            target_image: Some("ghcr.io/rstudio/content-base:r4.4.1-py3.11.9-jammy".to_owned()),
            ..Requirements::default()
        }
    );
}

#[test]
fn manifest_from_rsconnect_r_with_quarto_and_an_identifier() {
    let json = r#"{
      "version": 1,
      "platform": "4.4.2",
      "metadata": {"appmode": "quarto-static", "primary_rmd": "report.qmd"},
      "quarto": {"version": "1.4.557", "engines": ["knitr"]},
      "packages": {"rmarkdown": {"Source": "CRAN", "Repository": "https://cloud.r-project.org"}},
      "environment": {
        "identifier": "8f0c1e2a-4b5c-4d6e-8f70-123456789abc",
        "r": {"requires": ">= 4.0.0", "package_repository_resolution": "strict"},
        "quarto": {"requires": "~=1.4.0"}
      },
      "files": {}
    }"#;
    assert_eq!(
        parse_manifest(json).unwrap(),
        Requirements {
            r: need(Some("4.4.2"), Some(">= 4.0.0")),
            quarto: need(Some("1.4.557"), Some("~=1.4.0")),
            target_environment_guid: Some("8f0c1e2a-4b5c-4d6e-8f70-123456789abc".to_owned()),
            ..Requirements::default()
        }
    );
}

#[test]
fn manifest_without_an_environment_section_or_languages() {
    let json = r#"{"version": 1, "metadata": {"appmode": "static"}, "files": {"index.html": {}}}"#;
    assert_eq!(parse_manifest(json).unwrap(), Requirements::default());
}

#[test]
fn manifest_nulls_and_blank_strings_count_as_absent() {
    let json = r#"{"platform": null, "python": {"version": ""}, "environment": {"image": null, "r": null}}"#;
    assert_eq!(parse_manifest(json).unwrap(), Requirements::default());
}

#[test]
fn manifest_that_is_not_json_names_the_position() {
    let e =
        parse_manifest("{\n  \"version\": 1,\n  \"python\": {\"version\": \"3.11\"\n").unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidArgument);
    assert_eq!(e.violations[0].field, "manifest");
    assert!(e.message.contains("line 4"), "{e}");
    let e = parse_manifest("[1, 2]").unwrap_err();
    assert!(e.message.contains("must be a JSON object"), "{e}");
}

#[test]
fn manifest_fields_of_the_wrong_type_are_all_reported() {
    let json = r#"{"platform": 4.4, "python": "3.11", "quarto": true, "environment": {"image": ["a"], "r": {"requires": 4}}}"#;
    let e = parse_manifest(json).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidArgument);
    let fields: Vec<(&str, &str)> = e
        .violations
        .iter()
        .map(|v| (v.field.as_str(), v.description.as_str()))
        .collect();
    assert_eq!(
        fields,
        [
            ("python", "must be an object, not a string"),
            ("platform", "must be a string, not a number"),
            ("environment.r.requires", "must be a string, not a number"),
            ("quarto", "must be an object, not a boolean"),
            ("environment.image", "must be a string, not an array"),
        ]
    );
}

#[test]
fn manifest_with_an_environment_of_the_wrong_type_is_reported_once() {
    let e = parse_manifest(r#"{"environment": "ghcr.io/x"}"#).unwrap_err();
    assert_eq!(e.violations.len(), 1);
    assert_eq!(e.violations[0].field, "environment");
}

#[test]
fn a_parsed_manifest_drives_selection() {
    use crate::identity::{Caller, Role};
    let json = r#"{"platform": "4.2.2", "environment": {"image": "bogus"}}"#;
    let req = parse_manifest(json).unwrap();
    let catalogue = Catalogue::new(1, Vec::<crate::model::Environment>::new());
    let caller = Caller {
        user: Some("alice".to_owned()),
        groups: Vec::new(),
        role: Role::Publisher,
    };
    let e = select(
        &catalogue,
        &req,
        &ContentSettings::default(),
        &caller,
        &MatchingSettings::default(),
        &Exclusions::default(),
    )
    .selection
    .unwrap_err();
    assert!(
        e.message.starts_with(
            "Cannot find compatible environment: no compatible Kubernetes environment with image named bogus and R version 4.2.2: no environment uses image bogus"
        ),
        "{e}"
    );
}
