#![allow(clippy::unwrap_used)]
//! `image examine` and `env drift` against the examiner's test double (`testing::fake_examiner`),
//! and their rendering.

use chrono::Duration;
use tonic::Status;

use super::*;
use crate::commands::run;
use crate::testing::fake_examiner::{DRIFTING_IMAGE, FakeExaminer, OK_IMAGE, checks};
use crate::testing::{GUID, OTHER, against, assert_unreachable, cli, closed_address, noon};

const DIGEST: &str = "sha256:4f2a9c0e11d8b7a6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2";

async fn with_examiner(fake: FakeExaminer, args: &[&str]) -> Result<Report, Error> {
    let addr = fake.serve().await;
    run(against(&[("--examiner", addr)], args)).await
}

#[tokio::test]
async fn examine_as_yaml_prints_one_entry_of_the_file_after_the_digest_and_the_notes() {
    let fake = FakeExaminer::default();
    let report = with_examiner(
        fake.clone(),
        &[
            "-o",
            "yaml",
            "image",
            "examine",
            "127.0.0.1:5000/python:3.11",
            "--platform",
            "linux/arm64",
            "--refresh",
        ],
    )
    .await
    .unwrap();
    assert_eq!(
        report.stdout,
        format!(
            "# examined {DIGEST} (linux/amd64)\n\
             # note: R /opt/R/4.2.2/bin/R: /opt/R/4.2.2/lib/R/include/Rversion.h is not in the image\n\
             - name: 127.0.0.1:5000/python:3.11\n\
             \x20 title: python:3.11 (Python 3.11.2)\n\
             \x20 python:\n\
             \x20   installations:\n\
             \x20   - version: \"3.11.2\"\n\
             \x20     path: /opt/python/3.11.2/bin/python3\n\
             \x20 r:\n\
             \x20   installations: []\n\
             \x20 quarto:\n\
             \x20   installations: []\n"
        )
    );
    assert_eq!(report.exit_code, 0);
    let sent = fake.examined.lock().unwrap()[0].clone();
    assert_eq!(
        sent,
        pb::ExamineRequest {
            image: "127.0.0.1:5000/python:3.11".into(),
            platform: "linux/arm64".into(),
            refresh: true,
        }
    );
    assert_eq!(
        fake.calls.header(0, "authorization").as_deref(),
        Some("Bearer tok")
    );
}

#[tokio::test]
async fn the_yaml_entry_is_read_back_by_the_declarative_files_parser() {
    let report = with_examiner(
        FakeExaminer::default(),
        &[
            "-o",
            "yaml",
            "image",
            "examine",
            "127.0.0.1:5000/python:3.11",
        ],
    )
    .await
    .unwrap();
    let entries: Vec<execenv_proto::convert::connect::EnvironmentEntry> =
        serde_saphyr::from_str(&report.stdout).unwrap();
    assert_eq!(entries.len(), 1);
    let draft = &entries[0].draft;
    assert!(entries[0].problems.is_empty(), "{:?}", entries[0].problems);
    assert_eq!(draft.name.as_deref(), Some("127.0.0.1:5000/python:3.11"));
    assert_eq!(draft.python.len(), 1);
    assert_eq!(draft.python[0].version, "3.11.2");
}

#[tokio::test]
async fn examine_as_json_prints_the_examination_and_the_definition_as_the_gateway_does() {
    let report = with_examiner(
        FakeExaminer::default(),
        &[
            "-o",
            "json",
            "image",
            "examine",
            "127.0.0.1:5000/python:3.11",
        ],
    )
    .await
    .unwrap();
    let json: serde_json::Value = serde_json::from_str(&report.stdout).unwrap();
    assert_eq!(json["examination"]["digest"], DIGEST);
    assert_eq!(
        json["examination"]["installations"][2]["version"],
        serde_json::Value::Null
    );
    assert_eq!(json["examination"]["examined_time"], "2026-01-31T12:00:00Z");
    assert_eq!(
        json["definition"]["python"]["installations"],
        serde_json::json!([{"version": "3.11.2", "path": "/opt/python/3.11.2/bin/python3"}])
    );
}

#[test]
fn examine_as_a_table_shows_each_installation_and_note() {
    let view = ExamineView::from_wire(crate::testing::fake_examiner::examination(
        "127.0.0.1:5000/python:3.11",
    ))
    .unwrap();
    assert_eq!(
        examination_block(&view, noon() + Duration::minutes(5)),
        format!(
            "image:            127.0.0.1:5000/python:3.11\n\
             digest:           {DIGEST}\n\
             platform:         linux/amd64\n\
             examined:         2026-01-31T12:00:00Z (5m ago)\n\
             layers:           3 (52.4 MB)\n\
             installations:    LANGUAGE  VERSION  PATH                            VERSION FILE\n\
             \x20                 python    3.11.2   /opt/python/3.11.2/bin/python3  /usr/include/python3.11/patchlevel.h\n\
             \x20                 r         -        /opt/R/4.2.2/bin/R              /opt/R/4.2.2/lib/R/include/Rversion.h is not in the image\n\
             notes:            R /opt/R/4.2.2/bin/R: /opt/R/4.2.2/lib/R/include/Rversion.h is not in the image\n\
             suggested title:  python:3.11 (Python 3.11.2)\n"
        )
    );
}

#[tokio::test]
async fn drift_lists_every_environment_and_exits_3_when_one_drifted() {
    let report = with_examiner(FakeExaminer::default(), &["env", "drift"])
        .await
        .unwrap();
    assert_eq!(report.exit_code, 3);
    let lines: Vec<&str> = report.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", report.stdout);
    assert!(
        lines[0]
            == "TITLE        IMAGE                       STATE  DIGEST        FINDINGS     CHECKED",
        "{}",
        report.stdout
    );
    assert!(
        lines[1].starts_with(&format!(
            "Python 3.12  {DRIFTING_IMAGE}  drift  4f2a9c0e11d8  1 (1 drift)  "
        )),
        "{}",
        report.stdout
    );
    assert!(
        lines[2].starts_with(&format!(
            "R 4.2        {OK_IMAGE}        ok     0a1b2c3d4e5f  0  "
        )),
        "{}",
        report.stdout
    );
    assert_eq!(
        report.note.as_deref(),
        Some(
            "2 environments: 1 ok, 1 drift; checked every 300 s\n\
             an environment is in drift or its image unreadable (exit code 3); \
             `execenvctl env drift GUID` shows why"
        )
    );
}

#[test]
fn the_drift_table_says_when_each_was_checked_relative_to_now() {
    let view = ChecksView::try_from(pb::ListChecksResponse {
        checks: checks(),
        interval_seconds: 300,
    })
    .unwrap();
    assert_eq!(
        checks_table(&view.checks, noon() + Duration::seconds(42)),
        format!(
            "TITLE        IMAGE                       STATE  DIGEST        FINDINGS     CHECKED\n\
             Python 3.12  {DRIFTING_IMAGE}  drift  4f2a9c0e11d8  1 (1 drift)  42s ago\n\
             R 4.2        {OK_IMAGE}        ok     0a1b2c3d4e5f  0            42s ago\n"
        )
    );
}

#[tokio::test]
async fn drift_of_one_environment_by_guid_shows_its_findings_and_exits_3() {
    let fake = FakeExaminer::default();
    let report = with_examiner(fake.clone(), &["env", "drift", GUID])
        .await
        .unwrap();
    assert_eq!(report.exit_code, 3);
    assert_eq!(fake.got.lock().unwrap().as_slice(), [GUID.to_owned()]);
    assert!(
        report.stdout.contains(
            "findings:         drift   Python at /opt/python/3.12.4/bin/python3 is declared as 3.12.4 but the image has 3.11.2\n"
        ),
        "{}",
        report.stdout
    );
    assert!(
        report.stdout.contains("state:            drift\n"),
        "{}",
        report.stdout
    );
}

#[tokio::test]
async fn drift_of_one_environment_by_image_name_exits_0_when_it_is_ok() {
    let report = with_examiner(
        FakeExaminer::default(),
        &["-o", "json", "env", "drift", OK_IMAGE],
    )
    .await
    .unwrap();
    assert_eq!(report.exit_code, 0);
    let json: serde_json::Value = serde_json::from_str(&report.stdout).unwrap();
    assert_eq!(json["guid"], OTHER);
    assert_eq!(json["state"], "ok");
    assert_eq!(json["findings"], serde_json::json!([]));
}

#[tokio::test]
async fn drift_as_json_lists_the_checks_and_still_exits_3() {
    let report = with_examiner(FakeExaminer::default(), &["-o", "json", "env", "drift"])
        .await
        .unwrap();
    assert_eq!(report.exit_code, 3);
    let json: serde_json::Value = serde_json::from_str(&report.stdout).unwrap();
    assert_eq!(json["interval_seconds"], 300);
    assert_eq!(json["checks"][0]["state"], "drift");
}

#[tokio::test]
async fn an_image_no_environment_has_or_several_have_is_said_with_what_to_do() {
    let e = with_examiner(FakeExaminer::default(), &["env", "drift", "ghcr.io/x/y:1"])
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound);
    assert!(
        e.message.contains("`execenvctl env drift` lists"),
        "{}",
        e.message
    );

    let mut twice = checks();
    twice[1].image = DRIFTING_IMAGE.into();
    let e = with_examiner(
        FakeExaminer::with_checks(twice),
        &["env", "drift", DRIFTING_IMAGE],
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidArgument);
    assert_eq!(
        e.message,
        format!(
            "2 environments have the image {DRIFTING_IMAGE} ({GUID}, {OTHER}); give the guid of one"
        )
    );
}

#[tokio::test]
async fn every_environment_ok_or_pending_exits_0() {
    let mut all = checks();
    all[0].state = pb::CheckState::Pending as i32;
    all[0].findings.clear();
    all[0].checked_time = None;
    let report = with_examiner(FakeExaminer::with_checks(all), &["env", "drift"])
        .await
        .unwrap();
    assert_eq!(report.exit_code, 0);
    assert_eq!(
        report.note.as_deref(),
        Some("2 environments: 1 pending, 1 ok; checked every 300 s")
    );
    assert_eq!(
        report.stdout.lines().nth(1).unwrap(),
        format!("Python 3.12  {DRIFTING_IMAGE}  pending  4f2a9c0e11d8  0         -")
    );
}

#[tokio::test]
async fn the_examiners_refusal_is_its_own_message() {
    let e = with_examiner(
        FakeExaminer::failing(Status::failed_precondition(
            "the registry 127.0.0.1:5000 requires credentials and none are configured for 127.0.0.1:5000; add them to the Docker config (examiner.docker_config)",
        )),
        &["image", "examine", "127.0.0.1:5000/private:1"],
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::FailedPrecondition);
    assert!(
        e.message.contains("examiner.docker_config"),
        "{}",
        e.message
    );
    assert_eq!(render::exit_code(&e), 1);
}

#[tokio::test]
async fn an_unreachable_examiner_is_reported_with_its_flag() {
    let addr = closed_address().await;
    let e = run(cli(&["--examiner", &addr.to_string(), "env", "drift"]))
        .await
        .unwrap_err();
    assert_unreachable(
        &e,
        "the image examiner",
        addr,
        "is execenv-image-examiner running? set --examiner (or EXECENV_EXAMINER)",
    );
}

#[test]
fn times_sizes_and_digests_read_as_people_compare_them() {
    let now = noon();
    assert_eq!(ago(now, now), "just now");
    assert_eq!(ago(now - Duration::seconds(59), now), "59s ago");
    assert_eq!(ago(now - Duration::minutes(61), now), "1h ago");
    assert_eq!(ago(now - Duration::days(3), now), "3d ago");
    assert_eq!(size(999), "999 B");
    assert_eq!(size(1_500), "1.5 kB");
    assert_eq!(size(2_300_000_000), "2.3 GB");
    assert_eq!(short(DIGEST), "4f2a9c0e11d8");
    assert_eq!(short("abc"), "abc");
}

#[tokio::test]
async fn drift_now_asks_the_examiner_to_check_before_listing() {
    let listed = FakeExaminer::default();
    let calls = listed.calls.clone();
    with_examiner(listed, &["env", "drift"]).await.unwrap();
    assert_eq!(calls.count(), 1, "ListChecks alone");

    let checked = FakeExaminer::default();
    let calls = checked.calls.clone();
    let report = with_examiner(checked, &["env", "drift", "--now"])
        .await
        .unwrap();
    assert_eq!(calls.count(), 2, "CheckNow, then ListChecks");
    assert_eq!(report.exit_code, 3);
}
