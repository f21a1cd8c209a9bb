#![allow(clippy::unwrap_used)]
//! `apply_update`: which fields an update mask takes, what can never change, and that the
//! merged environment is validated as a whole.

use super::tests::{IMAGE, draft, fields, inst, pvc};
use super::*;
use crate::error::ErrorKind;

fn current() -> EnvironmentSpec {
    EnvironmentSpec {
        name: IMAGE.to_owned(),
        title: Some("Old title".to_owned()),
        description: Some("Old description".to_owned()),
        cluster_name: "gpu".to_owned(),
        matching: Matching::Exact,
        supervisor: Some("/opt/supervisor.sh".to_owned()),
        python: vec![inst("3.11.9", "/opt/python/3.11.9/bin/python3")],
        r: vec![inst("4.4.1", "/opt/R/4.4.1/bin/R")],
        quarto: vec![inst("1.4.557", "/opt/quarto/bin/quarto")],
        tensorflow: Vec::new(),
        volume_mounts: vec![VolumeMount {
            source: VolumeSource::Pvc {
                claim_name: "data".to_owned(),
            },
            target_path: "/mnt/data".to_owned(),
            read_only: true,
        }],
    }
}

fn mask(paths: &[&str]) -> Vec<String> {
    paths.iter().map(|p| (*p).to_owned()).collect()
}

#[test]
fn update_with_empty_mask_replaces_every_updatable_field() {
    let d = EnvironmentDraft {
        title: Some("New title".to_owned()),
        python: vec![inst("3.12.4", "/opt/python/3.12.4/bin/python3")],
        ..Default::default()
    };
    let spec = apply_update(&current(), &d, &[]).expect("valid");
    assert_eq!(
        spec,
        EnvironmentSpec {
            name: IMAGE.to_owned(),
            title: Some("New title".to_owned()),
            description: None,
            cluster_name: "Kubernetes".to_owned(),
            matching: Matching::Any,
            supervisor: None,
            python: vec![inst("3.12.4", "/opt/python/3.12.4/bin/python3")],
            r: Vec::new(),
            quarto: Vec::new(),
            tensorflow: Vec::new(),
            volume_mounts: Vec::new(),
        }
    );
}

#[test]
fn update_with_title_mask_changes_only_the_title() {
    let d = EnvironmentDraft {
        title: Some("New title".to_owned()),
        description: Some("ignored".to_owned()),
        matching: Some("none".to_owned()),
        ..Default::default()
    };
    let spec = apply_update(&current(), &d, &mask(&["title"])).expect("valid");
    assert_eq!(
        spec,
        EnvironmentSpec {
            title: Some("New title".to_owned()),
            ..current()
        }
    );
}

#[test]
fn update_with_several_mask_paths_takes_each_of_them() {
    let d = EnvironmentDraft {
        matching: Some("none".to_owned()),
        volume_mounts: vec![pvc("other", "/mnt/other")],
        ..Default::default()
    };
    let spec = apply_update(&current(), &d, &mask(&["matching", "volume_mounts", "r"])).unwrap();
    assert_eq!(spec.matching, Matching::None);
    assert!(spec.r.is_empty());
    assert_eq!(spec.volume_mounts.len(), 1);
    assert_eq!(spec.volume_mounts[0].target_path, "/mnt/other");
    assert_eq!(spec.title, current().title);
    assert_eq!(spec.python, current().python);
}

#[test]
fn update_mask_naming_name_is_rejected_because_it_cannot_change() {
    let d = EnvironmentDraft {
        name: Some(IMAGE.to_owned()),
        ..Default::default()
    };
    let err = apply_update(&current(), &d, &mask(&["name"])).unwrap_err();
    assert_eq!(fields(&err.violations), ["name"]);
    assert!(
        err.violations[0]
            .description
            .contains("the image name of an environment cannot be changed")
    );
}

#[test]
fn update_draft_with_another_name_is_rejected_because_it_cannot_change() {
    let d = draft("ubuntu:24.04");
    let err = apply_update(&current(), &d, &[]).unwrap_err();
    assert_eq!(fields(&err.violations), ["name"]);
    assert!(err.violations[0].description.contains("cannot be changed"));
    assert!(err.violations[0].description.contains(IMAGE));
}

#[test]
fn update_draft_with_the_current_name_is_accepted() {
    let d = EnvironmentDraft {
        title: Some("Same image".to_owned()),
        ..draft(IMAGE)
    };
    let spec = apply_update(&current(), &d, &mask(&["title"])).expect("valid");
    assert_eq!(spec.name, IMAGE);
    assert_eq!(spec.title.as_deref(), Some("Same image"));
}

#[test]
fn unknown_update_mask_path_is_rejected_listing_the_updatable_fields() {
    let err =
        apply_update(&current(), &EnvironmentDraft::default(), &mask(&["titel"])).unwrap_err();
    assert_eq!(fields(&err.violations), ["update_mask"]);
    let d = &err.violations[0].description;
    assert!(d.contains("\"titel\" is not an updatable field"), "{d}");
    assert!(
        d.contains(
            "title, description, cluster_name, matching, supervisor, python, r, quarto, tensorflow, volume_mounts"
        ),
        "{d}"
    );
}

#[test]
fn update_producing_an_invalid_spec_is_rejected_with_its_violations() {
    let d = EnvironmentDraft {
        python: vec![inst("3.11", "/opt/python/bin/python3")],
        ..Default::default()
    };
    let err = apply_update(&current(), &d, &mask(&["python"])).unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidArgument);
    assert_eq!(fields(&err.violations), ["python.installations[0].version"]);
    assert!(err.violations[0].description.contains("3.11.0"));
}

#[test]
fn update_reports_name_and_spec_violations_together() {
    let d = EnvironmentDraft {
        python: vec![inst("3.11", "/opt/python/bin/python3")],
        ..draft("ubuntu")
    };
    let err = apply_update(&current(), &d, &mask(&["python", "bogus"])).unwrap_err();
    assert_eq!(
        fields(&err.violations),
        ["name", "update_mask", "python.installations[0].version"]
    );
}

#[test]
fn update_clears_the_supervisor_when_masked_with_none() {
    let spec = apply_update(
        &current(),
        &EnvironmentDraft::default(),
        &mask(&["supervisor"]),
    )
    .expect("valid");
    assert_eq!(spec.supervisor, None);
    assert_eq!(
        spec,
        EnvironmentSpec {
            supervisor: None,
            ..current()
        }
    );
}
