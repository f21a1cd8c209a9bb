#![allow(clippy::unwrap_used)]

use chrono::TimeZone;
use clap::Parser;

use super::*;
use crate::cli::{Cli, Command};
use crate::launch_args::{KindArg, LaunchCommand, StateArg};
use execenv_proto::views::LaunchInstallation;

fn launch_args(args: &[&str]) -> LaunchArgs {
    let all = "execenvctl launch build --content c --bundle 1".split(' ');
    let cli = Cli::try_parse_from(all.chain(args.iter().copied())).unwrap();
    match cli.command {
        Command::Launch(launch) => match *launch {
            LaunchCommand::Build(a) => a,
            other => panic!("not launch build: {other:?}"),
        },
        other => panic!("not launch: {other:?}"),
    }
}

fn view() -> LaunchView {
    let at = |minute| {
        Some(
            chrono::Utc
                .with_ymd_and_hms(2026, 1, 31, 12, minute, 0)
                .unwrap(),
        )
    };
    LaunchView {
        id: "r-1".into(),
        kind: "build".into(),
        content_guid: "c".into(),
        bundle: "1".into(),
        state: "failed".into(),
        reason: "Error".into(),
        message: "exited with 2".into(),
        exit_code: Some(2),
        environment_guid: String::new(),
        environment_title: String::new(),
        image: "img:1".into(),
        installations: vec![
            LaunchInstallation {
                language: "python".into(),
                version: "3.11.9".into(),
                path: "/py".into(),
            },
            LaunchInstallation {
                language: "r".into(),
                version: "4.4.10".into(),
                path: "/R".into(),
            },
        ],
        selected_by: "manifest-image".into(),
        backend: "local".into(),
        job_name: String::new(),
        namespace: String::new(),
        created_time: at(0),
        started_time: at(1),
        finished_time: None,
        address: String::new(),
        restarts: 0,
        ready_time: None,
        owner_guid: "u-1".into(),
    }
}

#[test]
fn given_request_id_is_kept_and_a_missing_one_is_a_fresh_uuid_v4() {
    assert_eq!(request_id(Some("mine")), "mine");
    let (a, b) = (request_id(None), request_id(None));
    assert_ne!(a, b);
    assert_eq!(Uuid::parse_str(&a).unwrap().get_version_num(), 4);
}

#[test]
fn launch_request_sends_no_requirements_or_resources_when_none_are_given() {
    let r = launch_request(pb::Kind::Build, &launch_args(&[]), &[], "id".into()).unwrap();
    let content = r.content.unwrap();
    assert_eq!(content.requirements, None);
    assert_eq!(content.default_image_name, None);
    assert_eq!(r.resources, None);
    assert!(r.env.is_empty());
}

#[test]
fn launch_request_rejects_a_variable_given_twice() {
    let args = launch_args(&["--env", "A=1", "--env", "B=2", "--env", "A=3"]);
    let e = launch_request(pb::Kind::Build, &args, &[], "id".into()).unwrap_err();
    assert_eq!(e.violations[0].field, "--env");
    assert_eq!(
        e.violations[0].description,
        "A is given twice; give each variable once"
    );
}

#[test]
fn list_request_sends_states_and_kind_as_their_wire_values() {
    let r = list_request(&LaunchListArgs {
        content: None,
        state: vec![StateArg::Pending, StateArg::Cancelled],
        kind: Some(KindArg::Run),
    });
    assert_eq!(
        r.states,
        [pb::State::Pending as i32, pb::State::Cancelled as i32]
    );
    assert_eq!(r.kind(), pb::Kind::Run);
}

#[test]
fn view_names_the_enums_and_converts_the_times() {
    let l = pb::Launch {
        kind: pb::Kind::Run as i32,
        state: pb::State::Succeeded as i32,
        backend: pb::Backend::Local as i32,
        created_time: Some(prost_types::Timestamp {
            seconds: 1_769_860_800,
            nanos: 0,
        }),
        ..pb::Launch::default()
    };
    let v = LaunchView::from(l);
    assert_eq!((v.kind.as_str(), v.state.as_str()), ("run", "succeeded"));
    assert_eq!(v.backend, "local");
    assert_eq!(
        v.created_time.map(|t| time(&t)).unwrap(),
        "2026-01-31T12:00:00Z"
    );
    assert_eq!(v.started_time, None);
}

#[test]
fn block_shows_the_message_aligned_installations_and_no_job_when_local() {
    assert_eq!(
        launch_block(&view()),
        "id:           r-1\n\
         kind:         build\n\
         state:        failed\n\
         reason:       Error\n\
         message:      exited with 2\n\
         exit code:    2\n\
         content:      c\n\
         bundle:       1\n\
         environment:  -\n\
         image:        img:1\n\
         selected by:  manifest-image\n\
         owner:        u-1\n\
         python:       3.11.9  /py\n\
         r:            4.4.10  /R\n\
         backend:      local\n\
         created:      2026-01-31T12:00:00Z\n\
         started:      2026-01-31T12:01:00Z\n\
         finished:     -\n"
    );
}

#[test]
fn table_shows_the_image_when_the_environment_has_no_title() {
    let table = launches_table(&[view()]);
    let row = table.lines().nth(1).unwrap();
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[4..6], ["2", "img:1"], "{table}");
}

#[test]
fn event_line_carries_the_latest_time_state_reason_message_and_exit_code() {
    assert_eq!(
        event_line(&view()),
        "2026-01-31T12:01:00Z  r-1  failed  Error  exited with 2  exit 2"
    );
}

#[test]
fn yaml_events_are_separate_documents() {
    let text = event_text(&view(), OutputFormat::Yaml).unwrap();
    assert!(text.starts_with("---\nid: r-1\n"), "{text}");
    let json = event_text(&view(), OutputFormat::Json).unwrap();
    assert_eq!(json.lines().count(), 1);
}

#[test]
fn outcome_note_names_the_state_reason_message_and_exit_code() {
    assert_eq!(
        outcome_note(&view()),
        "launch r-1 failed: Error: exited with 2 (exit code 2)"
    );
    let cancelled = LaunchView {
        state: "cancelled".into(),
        reason: String::new(),
        message: String::new(),
        exit_code: None,
        ..view()
    };
    assert_eq!(outcome_note(&cancelled), "launch r-1 cancelled");
}

#[test]
fn an_interactive_launch_shows_its_address_restarts_and_ready_time() {
    let mut v = view();
    v.kind = "interactive".into();
    v.state = "ready".into();
    v.address = "127.0.0.1:4242".into();
    v.restarts = 2;
    v.ready_time = Some(chrono::Utc.with_ymd_and_hms(2026, 1, 31, 12, 3, 0).unwrap());
    let block = launch_block(&v);
    let line = |key: &str| {
        block
            .lines()
            .find(|l| l.starts_with(&format!("{key}:")))
            .map(|l| l.split_once(':').unwrap().1.trim().to_owned())
    };
    assert_eq!(line("address").as_deref(), Some("127.0.0.1:4242"));
    assert_eq!(line("restarts").as_deref(), Some("2"));
    assert_eq!(line("ready").as_deref(), Some("2026-01-31T12:03:00Z"));
    // A build shows none of them.
    let build = launch_block(&view());
    assert!(
        !build.contains("address:") && !build.contains("ready:"),
        "{build}"
    );
}
