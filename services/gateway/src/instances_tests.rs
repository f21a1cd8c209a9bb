#![allow(clippy::unwrap_used)]

use super::*;
use crate::config::BundlesConfig;

const GUID: &str = "0e4f3c2a-8b1d-4e6f-9a7c-5d3b2e1f0a9c";

/// Instances whose launcher and registry are never reached (nothing listens on port 1), over
/// the data folder `dir`.
fn instances(dir: &std::path::Path, start_timeout: Duration) -> Instances {
    let launcher = Upstream::new(
        execenv_client::Service::Launcher,
        "http://127.0.0.1:1",
        None,
    )
    .unwrap();
    let registry = Registry::new("http://127.0.0.1:1", None).unwrap();
    let bundles = BundleStore::new(&BundlesConfig {
        dir: dir.to_path_buf(),
        ..BundlesConfig::default()
    });
    Instances::new(
        (launcher, registry),
        (bundles, ContentRecords::new(dir)),
        InstanceSettings {
            start_timeout,
            idle_timeout: Some(Duration::from_secs(300)),
        },
        ContentMetrics::unregistered(),
    )
}

fn launch(id: &str, guid: &str, state: pb::State, address: &str) -> pb::Launch {
    let mut launch = pb::Launch {
        id: id.to_owned(),
        content_guid: guid.to_owned(),
        bundle: "1".to_owned(),
        address: address.to_owned(),
        reason: "Starting".to_owned(),
        ..pb::Launch::default()
    };
    launch.set_kind(pb::Kind::Interactive);
    launch.set_state(state);
    launch
}

#[test]
fn numbers_in_base_36() {
    assert_eq!(base36(0), "0");
    assert_eq!(base36(35), "z");
    assert_eq!(base36(36), "10");
    assert_eq!(base36(1_767_225_600_000), "mjuohs00");
}

#[test]
fn an_instance_is_an_interactive_launch_of_the_newest_bundle_named_after_the_content() {
    let manifest: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(r#"{"metadata": {"appmode": "python-shiny"}}"#).unwrap();
    let request = launch_request(GUID, 3, Some(manifest), 1_767_225_600_000);
    assert_eq!(
        request.request_id,
        "app-0e4f3c2a-8b1d-4e6f-9a7c-5d3b2e1f0a9c-mjuohs00"
    );
    assert!(request.request_id.len() <= 63);
    assert_eq!(request.kind(), pb::Kind::Interactive);
    let content = request.content.unwrap();
    assert_eq!(
        (
            content.guid.as_str(),
            content.bundle.as_str(),
            content.manifest_json.as_str()
        ),
        (GUID, "3", r#"{"metadata":{"appmode":"python-shiny"}}"#)
    );
    assert!(request.command.is_empty());
}

#[test]
fn only_the_gateways_own_interactive_launches_are_adopted() {
    let own = launch(
        &format!("app-{GUID}-mjuohs00"),
        GUID,
        pb::State::Ready,
        "a:1",
    );
    assert!(started_here(&own));
    let by_hand = launch("my-app", GUID, pb::State::Ready, "a:1");
    assert!(!started_here(&by_hand));
    let other_content = launch("app-x-1", GUID, pb::State::Ready, "a:1");
    assert!(!started_here(&other_content));
    let mut a_run = own.clone();
    a_run.set_kind(pb::Kind::Run);
    assert!(!started_here(&a_run));
}

#[test]
fn an_idle_timeout_of_0_never_stops_an_instance() {
    let never = InstanceSettings::from(&ContentConfig {
        start_timeout_s: 120,
        idle_timeout_s: 0,
    });
    assert_eq!(never.idle_timeout, None);
    let default = InstanceSettings::from(&ContentConfig::default());
    assert_eq!(
        default,
        InstanceSettings {
            start_timeout: Duration::from_secs(120),
            idle_timeout: Some(Duration::from_secs(300)),
        }
    );
}

#[tokio::test]
async fn requests_for_content_without_a_bundle_share_one_failed_start() {
    let dir = tempfile::tempdir().unwrap();
    let instances = instances(dir.path(), Duration::from_secs(120));
    let waiting: Vec<_> = (0..5)
        .map(|_| {
            let instances = instances.clone();
            tokio::spawn(async move { instances.ready(GUID).await.map(|r| r.address) })
        })
        .collect();
    for w in waiting {
        let e = w.await.unwrap().unwrap_err();
        assert_eq!(e.status, axum::http::StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            e.message,
            format!("content {GUID} has no bundle; upload one")
        );
    }
    assert!(
        instances.table().is_empty(),
        "the failed instance is forgotten"
    );
}

#[tokio::test(start_paused = true)]
async fn a_request_waits_the_start_timeout_and_the_instance_keeps_starting() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join(format!("content/{GUID}/1/bundle"))).unwrap();
    std::fs::write(
        dir.path()
            .join(format!("content/{GUID}/1/bundle/manifest.json")),
        r#"{"metadata": {"appmode": "python-shiny"}}"#,
    )
    .unwrap();
    let instances = instances(dir.path(), Duration::from_secs(2));
    let started = Instant::now();
    let e = instances.ready(GUID).await.err().unwrap();
    assert_eq!(started.elapsed(), Duration::from_secs(2));
    assert_eq!(e.status, axum::http::StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(
        e.message,
        format!(
            "content {GUID} is not ready after 2 s (content.start_timeout_s): Starting: the gateway is starting an instance of the content's newest bundle; it is still starting, try again"
        )
    );
}

#[tokio::test]
async fn adoption_keeps_the_newest_launch_of_each_content_and_hands_back_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let instances = instances(dir.path(), Duration::from_secs(120));
    let other = "7f9a1b2c-3d4e-4f50-8a6b-7c8d9e0f1a2b";
    let leftovers = instances.adopt(vec![
        launch(
            &format!("app-{GUID}-b"),
            GUID,
            pb::State::Ready,
            "127.0.0.1:9001",
        ),
        launch(&format!("app-{GUID}-a"), GUID, pb::State::Running, ""),
        launch(&format!("app-{other}-a"), other, pb::State::Pending, ""),
        launch("by-hand", GUID, pb::State::Ready, "127.0.0.1:9002"),
    ]);
    let ids: Vec<&str> = leftovers.iter().map(|l| l.id.as_str()).collect();
    assert_eq!(ids, vec![format!("app-{GUID}-a")]);
    let ready = instances.view(GUID).unwrap();
    assert_eq!(
        (
            ready.state,
            ready.launch_id.as_str(),
            ready.address.as_str()
        ),
        ("ready", format!("app-{GUID}-b").as_str(), "127.0.0.1:9001")
    );
    assert_eq!(instances.view(other).unwrap().state, "starting");
    assert_eq!(instances.table().len(), 2);
}

#[tokio::test]
async fn an_instance_the_launcher_cannot_be_asked_about_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let instances = instances(dir.path(), Duration::from_secs(120));
    instances.adopt(vec![launch(
        &format!("app-{GUID}-b"),
        GUID,
        pb::State::Ready,
        "127.0.0.1:9001",
    )]);
    let recheck = instances.recheck(GUID, &format!("app-{GUID}-b"), 1).await;
    let Recheck::Unknown(why) = recheck else {
        panic!("{recheck:?}")
    };
    assert!(why.contains("cannot reach the launcher"), "{why}");
    assert_eq!(instances.view(GUID).unwrap().state, "ready");
}
