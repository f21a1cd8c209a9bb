#![allow(clippy::unwrap_used)]
//! `launches list|get|watch|cancel|logs` against an in-process launcher on port 0.

use std::io::Write;

use execenv_core::ErrorKind;
use execenv_proto::launcher::v1 as wire;
use tonic::Status;

use super::*;
use crate::render;
use crate::testing::fake_launcher::*;
use crate::testing::{assert_unreachable, cli, closed_address};

#[tokio::test]
async fn launches_list_sends_the_filters_and_prints_the_table() {
    let fake = FakeLauncher::default();
    let addr = serve_launcher(fake.clone()).await;
    let args = [
        "launches",
        "list",
        "--content",
        CONTENT,
        "--state",
        "running",
        "--state",
        "failed",
        "--kind",
        "build",
    ];
    let report = run_launcher(addr, &args).await.0.unwrap();
    let request = fake.seen.lock().unwrap().lists[0].clone();
    assert_eq!(request.content_guid.as_deref(), Some(CONTENT));
    assert_eq!(
        request.states,
        [wire::State::Running as i32, wire::State::Failed as i32]
    );
    assert_eq!(request.kind(), wire::Kind::Build);
    assert_eq!(
        report.stdout,
        format!(
            "ID       KIND  STATE    REASON   EXIT  ENVIRONMENT  CONTENT                               BUNDLE  CREATED\n\
             run-2    run   running  Started  -     Python 3.11  {CONTENT}  12      2026-01-31T12:00:00Z\n\
             build-1  run   failed   Error    3     Python 3.11  {CONTENT}  12      2026-01-31T12:00:00Z\n"
        )
    );
    assert_eq!(report.note.as_deref(), Some("2 launches"));
}

#[tokio::test]
async fn launches_list_without_filters_asks_for_every_launch() {
    let fake = FakeLauncher::default();
    let addr = serve_launcher(fake.clone()).await;
    run_launcher(addr, &["launches", "list"]).await.0.unwrap();
    assert_eq!(
        fake.seen.lock().unwrap().lists[0],
        wire::ListLaunchesRequest::default()
    );
}

#[tokio::test]
async fn launches_get_and_cancel_send_the_id_and_print_the_launch() {
    let fake = FakeLauncher::default();
    let addr = serve_launcher(fake.clone()).await;
    let got = run_launcher(addr, &["launches", "get", "r-7"])
        .await
        .0
        .unwrap();
    assert!(
        got.stdout.contains("state:        running\n"),
        "{}",
        got.stdout
    );
    let cancelled = run_launcher(addr, &["-o", "yaml", "launches", "cancel", "r-8"])
        .await
        .0
        .unwrap();
    let yaml: serde_json::Value = serde_saphyr::from_str(&cancelled.stdout).unwrap();
    assert_eq!(
        (yaml["id"].as_str(), yaml["state"].as_str()),
        (Some("r-8"), Some("cancelled"))
    );
    assert_eq!(
        fake.seen.lock().unwrap().ids,
        [("get", "r-7".to_owned()), ("cancel", "r-8".to_owned())]
    );
}

#[tokio::test]
async fn launches_watch_prints_one_line_per_event_until_the_stream_ends() {
    let fake = FakeLauncher::watching(&[
        ("a", wire::State::Pending),
        ("b", wire::State::Running),
        ("a", wire::State::Succeeded),
    ]);
    let addr = serve_launcher(fake.clone()).await;
    let (result, streamed) = run_launcher(addr, &["launches", "watch"]).await;
    assert_eq!(result.unwrap(), Report::default());
    assert_eq!(
        streamed,
        "2026-01-31T12:00:00Z  a  pending  ContainerCreating  -  -\n\
         2026-01-31T12:01:00Z  b  running  Started  -  -\n\
         2026-01-31T12:02:00Z  a  succeeded  Completed  -  exit 0\n"
    );
    assert_eq!(fake.seen.lock().unwrap().ids, [("watch", String::new())]);
}

#[tokio::test]
async fn launches_watch_json_prints_one_launch_per_line() {
    let fake = FakeLauncher::watching(&[("a", wire::State::Running), ("a", wire::State::Failed)]);
    let addr = serve_launcher(fake.clone()).await;
    let (result, streamed) = run_launcher(addr, &["-o", "json", "launches", "watch", "a"]).await;
    result.unwrap();
    let states: Vec<String> = streamed
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["state"].to_string())
        .collect();
    assert_eq!(states, ["\"running\"", "\"failed\""]);
    assert_eq!(fake.seen.lock().unwrap().ids, [("watch", "a".to_owned())]);
}

#[tokio::test]
async fn launches_logs_writes_the_bytes_as_sent_and_asks_to_follow() {
    let fake = FakeLauncher {
        chunks: vec![
            Ok(b"restoring packages\n".to_vec()),
            Ok(vec![0xff, b'x', b'\n']),
        ],
        ..FakeLauncher::default()
    };
    let addr = serve_launcher(fake.clone()).await;
    let url = format!("http://{addr}");
    let mut out = Vec::new();
    let report = run_to(
        cli(&["--launcher", &url, "launches", "logs", "r-1", "--follow"]),
        &mut out,
    )
    .await
    .unwrap();
    assert_eq!(report, Report::default());
    assert_eq!(out, b"restoring packages\n\xffx\n");
    assert_eq!(
        fake.seen.lock().unwrap().logs,
        [wire::LogsRequest {
            id: "r-1".into(),
            follow: true
        }]
    );
}

#[tokio::test]
async fn launches_logs_failing_mid_stream_is_shown_after_the_bytes_so_far() {
    let fake = FakeLauncher {
        chunks: vec![
            Ok(b"first\n".to_vec()),
            Err(Status::not_found("launch r-1 has no logs any more")),
        ],
        ..FakeLauncher::default()
    };
    let addr = serve_launcher(fake).await;
    let (result, streamed) = run_launcher(addr, &["launches", "logs", "r-1"]).await;
    let e = result.unwrap_err();
    assert_eq!(streamed, "first\n");
    assert_eq!(
        render::error_text(&e),
        "error: launch r-1 has no logs any more"
    );
    assert_eq!(render::exit_code(&e), 1);
}

#[tokio::test]
async fn launches_logs_stop_quietly_when_the_reader_has_gone() {
    struct ClosedPipe;
    impl Write for ClosedPipe {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let fake = FakeLauncher {
        chunks: vec![Ok(b"a\n".to_vec()), Err(Status::internal("not read"))],
        ..FakeLauncher::default()
    };
    let addr = serve_launcher(fake).await;
    let url = format!("http://{addr}");
    let report = run_to(
        cli(&["--launcher", &url, "launches", "logs", "r-1"]),
        &mut ClosedPipe,
    )
    .await
    .unwrap();
    assert_eq!(report, Report::default());
}

#[tokio::test]
async fn launches_get_of_an_unknown_launch_is_shown_and_exits_1() {
    let fake = FakeLauncher::failing(Status::not_found("no launch r-9"));
    let addr = serve_launcher(fake).await;
    let e = run_launcher(addr, &["launches", "get", "r-9"])
        .await
        .0
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound);
    assert_eq!(render::error_text(&e), "error: no launch r-9");
    assert_eq!(render::exit_code(&e), 1);
}

#[tokio::test]
async fn unreachable_launcher_is_reported_with_a_hint() {
    let addr = closed_address().await;
    let e = run(cli(&["--launcher", &addr.to_string(), "launches", "list"]))
        .await
        .unwrap_err();
    assert_unreachable(
        &e,
        "the launcher",
        addr,
        "is execenv-launcher running? set --launcher (or EXECENV_LAUNCHER)",
    );
}
