#![allow(clippy::unwrap_used)]

use execenv_proto::sync::v1 as sync_pb;
use execenv_proto::views::SyncOutcome;

use super::*;
use crate::args::OutputFormat;
use crate::render::document;
use crate::testing::wire_noon;

const DIGEST: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn change(guid: &str, name: &str, fields: &[&str]) -> PlannedChange {
    PlannedChange {
        guid: guid.into(),
        name: name.into(),
        changed_fields: fields.iter().map(|f| (*f).to_owned()).collect(),
    }
}

fn plan() -> SyncPlan {
    SyncPlan {
        created: vec![change("g-new", "img:new", &[])],
        adopted: vec![change("g-adopt", "img:adopt", &["title", "python"])],
        updated: vec![change("g-upd", "img:upd", &["matching"])],
        deleted: vec![change("g-del", "img:old", &[])],
        unchanged: vec!["g-same-1".into(), "g-same-2".into()],
        revision: 41,
    }
}

fn failed_status() -> SyncStatus {
    SyncStatus {
        file: "/etc/execenv/environments.yaml".into(),
        outcome: SyncOutcome::Failed,
        last_sync_time: DateTime::from_timestamp(1_769_860_800, 0),
        last_success_time: None,
        digest: DIGEST.into(),
        managed_count: 3,
        error: "the file has 2 problems".into(),
        problems: vec![
            "images[0].name: is required".into(),
            "images[1].guid: duplicate".into(),
        ],
    }
}

#[test]
fn plan_summary_prints_one_line_per_change_then_the_counts() {
    assert_eq!(
        plan_summary(&plan()),
        "\
+ create  img:new (g-new)
~ adopt   img:adopt (g-adopt): title, python
~ update  img:upd (g-upd): matching
- delete  img:old (g-del)

1 to create, 1 to adopt, 1 to update, 1 to delete, 2 unchanged
"
    );
}

#[test]
fn plan_summary_leaves_out_a_guid_the_file_does_not_give() {
    let p = SyncPlan {
        created: vec![change("", "img:new", &[])],
        adopted: vec![],
        updated: vec![],
        deleted: vec![],
        unchanged: vec![],
        revision: 0,
    };
    assert!(
        plan_summary(&p).starts_with("+ create  img:new\n"),
        "{}",
        plan_summary(&p)
    );
}

#[test]
fn plan_without_changes_says_the_registry_matches_the_file() {
    let mut p = plan();
    p.created.clear();
    p.adopted.clear();
    p.updated.clear();
    p.deleted.clear();
    assert_eq!(
        plan_summary(&p),
        "no changes: the registry matches the file (2 environments)\n"
    );
    p.unchanged.truncate(1);
    assert_eq!(
        plan_summary(&p),
        "no changes: the registry matches the file (1 environment)\n"
    );
}

#[test]
fn plan_document_has_every_list_and_the_revision() {
    let json: serde_json::Value =
        serde_json::from_str(&document(&plan(), OutputFormat::Json).unwrap()).unwrap();
    assert_eq!(
        json["adopted"][0],
        serde_json::json!({"guid": "g-adopt", "name": "img:adopt", "changed_fields": ["title", "python"]})
    );
    assert_eq!(json["created"][0]["name"], "img:new");
    assert_eq!(json["updated"][0]["changed_fields"][0], "matching");
    assert_eq!(json["deleted"][0]["guid"], "g-del");
    assert_eq!(
        json["unchanged"],
        serde_json::json!(["g-same-1", "g-same-2"])
    );
    assert_eq!(json["revision"], 41);
    let yaml = document(&plan(), OutputFormat::Yaml).unwrap();
    assert!(yaml.contains("revision: 41"), "{yaml}");
}

#[test]
fn plan_from_the_wire_keeps_every_list_in_order() {
    let wire = reg::ApplyManagedSetResponse {
        created: vec![],
        adopted: vec![],
        updated: vec![
            reg::PlannedChange {
                guid: "a".into(),
                name: "img:a".into(),
                changed_fields: vec!["title".into()],
            },
            reg::PlannedChange {
                guid: "b".into(),
                name: "img:b".into(),
                changed_fields: vec![],
            },
        ],
        deleted: vec![],
        unchanged: vec!["c".into()],
        revision: 9,
        dry_run: true,
    };
    let p = SyncPlan::from(wire);
    assert_eq!(
        p.updated,
        [change("a", "img:a", &["title"]), change("b", "img:b", &[])]
    );
    assert_eq!(p.unchanged, ["c"]);
    assert_eq!(p.revision, 9);
}

#[test]
fn status_block_shows_every_field_and_each_problem_on_its_own_line() {
    let text = status_block(&failed_status());
    let lines: Vec<&str> = text.lines().collect();
    let pad = |key: &str| format!("{key:<21}  ");
    assert_eq!(
        lines,
        [
            format!("{}/etc/execenv/environments.yaml", pad("file:")),
            format!("{}failed", pad("outcome:")),
            format!("{}2026-01-31T12:00:00Z", pad("last sync:")),
            format!("{}-", pad("last success:")),
            format!("{}0123456789ab", pad("digest:")),
            format!("{}3", pad("managed environments:")),
            format!("{}the file has 2 problems", pad("error:")),
            format!("{}images[0].name: is required", pad("problems:")),
            format!("{}images[1].guid: duplicate", pad("")),
        ]
    );
}

#[test]
fn status_block_of_a_success_shows_dashes_for_no_error_and_no_problems() {
    let s = SyncStatus {
        outcome: SyncOutcome::Ok,
        error: String::new(),
        problems: vec![],
        ..failed_status()
    };
    let text = status_block(&s);
    for key in ["error:", "problems:"] {
        assert!(
            text.lines()
                .any(|l| l.starts_with(key) && l.ends_with(" -")),
            "{key} in\n{text}"
        );
    }
}

#[test]
fn status_document_has_the_full_digest_and_rfc3339_times() {
    let json: serde_json::Value =
        serde_json::from_str(&document(&failed_status(), OutputFormat::Json).unwrap()).unwrap();
    assert_eq!(json["digest"], DIGEST);
    assert_eq!(json["last_sync_time"], "2026-01-31T12:00:00Z");
    assert_eq!(json["last_success_time"], serde_json::Value::Null);
    assert_eq!(json["managed_count"], 3);
    assert_eq!(json["problems"][1], "images[1].guid: duplicate");
}

#[test]
fn status_from_the_wire_converts_the_times() {
    let wire = sync_pb::StatusResponse {
        file: "f".into(),
        outcome: "never".into(),
        last_sync_time: Some(wire_noon()),
        last_success_time: None,
        digest: String::new(),
        error: String::new(),
        problems: vec![],
        managed_count: 0,
    };
    let s = SyncStatus::try_from(wire).unwrap();
    assert_eq!(s.last_sync_time, DateTime::from_timestamp(1_769_860_800, 0));
    assert_eq!(s.last_success_time, None);
    let text = status_block(&s);
    assert!(text.contains(&format!("{:<21}  -\n", "digest:")), "{text}");
}
