use execenv_core::ErrorKind;

use super::*;

const GUID: &str = "0b6f0c8e-5d0c-4d8b-9d2a-7c1f3e2a9b10";

fn request() -> pb::LaunchRequest {
    pb::LaunchRequest {
        request_id: "req-1".into(),
        kind: pb::Kind::Run as i32,
        content: Some(pb::Content {
            guid: GUID.into(),
            bundle: "7".into(),
            requirements: Some(sel::Requirements {
                python_version: Some("3.11.4".into()),
                ..sel::Requirements::default()
            }),
            default_image_name: Some("ghcr.io/acme/py:3.11".into()),
            ..pb::Content::default()
        }),
        command: vec!["python".into(), "app.py".into()],
        env: [
            ("B".to_owned(), "2".to_owned()),
            ("A".to_owned(), "1".to_owned()),
        ]
        .into(),
        resources: Some(pb::Resources {
            cpu_limit: Some("2".into()),
            ..pb::Resources::default()
        }),
        service_account: Some(String::new()),
        min_revision: 45,
    }
}

fn fields(e: &Error) -> Vec<&str> {
    e.violations.iter().map(|v| v.field.as_str()).collect()
}

#[test]
fn a_valid_request_becomes_the_launch_and_the_selection_request() {
    let parsed = parse_launch(&request()).expect("valid");
    let r = &parsed.request;
    assert_eq!(r.request_id, "req-1");
    assert_eq!(r.kind, LaunchKind::Run);
    assert_eq!(r.content_guid, GUID);
    assert_eq!(r.bundle_id, "7");
    assert_eq!(r.command, ["python", "app.py"]);
    assert_eq!(
        r.env,
        [
            ("A".to_owned(), "1".to_owned()),
            ("B".to_owned(), "2".to_owned())
        ],
        "sorted, so the Job is the same for the same request"
    );
    assert_eq!(r.resources.cpu_limit.as_deref(), Some("2"));
    assert_eq!(
        r.service_account, None,
        "an empty service account means the default"
    );
    let s = &parsed.select;
    assert_eq!(
        s.requirements
            .as_ref()
            .and_then(|r| r.python_version.as_deref()),
        Some("3.11.4")
    );
    assert_eq!(
        s.content
            .as_ref()
            .and_then(|c| c.default_image_name.as_deref()),
        Some("ghcr.io/acme/py:3.11")
    );
    assert_eq!(s.min_revision, 45, "read-your-writes reaches the selector");
}

#[test]
fn every_problem_of_a_request_is_reported_at_once_with_its_wire_field() {
    let mut m = request();
    m.request_id = "not a label!".into();
    m.kind = pb::Kind::Unspecified as i32;
    let content = m.content.as_mut().expect("content");
    content.guid = "nope".into();
    content.bundle = "../x".into();
    content.manifest_json = "{}".into();
    m.env
        .insert("EXECENV_PYTHON".into(), "/usr/bin/python3".into());
    m.resources = Some(pb::Resources {
        memory_limit: Some("lots".into()),
        ..pb::Resources::default()
    });
    let e = parse_launch(&m).expect_err("invalid");
    assert_eq!(e.kind, ErrorKind::InvalidArgument);
    let got = fields(&e);
    for field in [
        "kind",
        "content.guid",
        "content.manifest_json",
        "request_id",
        "content.bundle",
        "env[\"EXECENV_PYTHON\"]",
        "resources.memory_limit",
    ] {
        assert!(got.contains(&field), "{field} missing from {got:?}");
    }
}

#[test]
fn missing_ids_are_named_once_each() {
    let m = pb::LaunchRequest {
        kind: pb::Kind::Build as i32,
        ..pb::LaunchRequest::default()
    };
    let e = parse_launch(&m).expect_err("invalid");
    let got = fields(&e);
    for field in ["request_id", "content.guid", "content.bundle"] {
        assert_eq!(
            got.iter().filter(|f| **f == field).count(),
            1,
            "{field} in {got:?}"
        );
    }
}

#[test]
fn a_build_with_a_command_is_refused() {
    let mut m = request();
    m.kind = pb::Kind::Build as i32;
    let e = parse_launch(&m).expect_err("invalid");
    assert_eq!(fields(&e), ["command"]);
}

#[test]
fn states_and_kinds_map_both_ways() {
    for s in [
        State::Pending,
        State::Running,
        State::Succeeded,
        State::Failed,
        State::Cancelled,
    ] {
        assert_eq!(parse_state("s", state(s) as i32).expect("known"), s);
    }
    assert!(parse_state("states[0]", 0).is_err());
    assert_eq!(parse_kind_filter(0).expect("none"), None);
    assert_eq!(
        parse_kind_filter(kind(LaunchKind::Run) as i32).expect("run"),
        Some(LaunchKind::Run)
    );
    assert!(parse_kind_filter(9).is_err());
}
