//! The selector in-process on port 0 with an image examiner that cannot be reached: it is
//! ready and selects as without one, and `Explain` says nothing of drift. The examiner's checks
//! reaching selection are exercised with the real binaries in e2e/tests/selector_drift.rs; the
//! follower's handling of the stream by `checks::follow`'s unit tests.
#![allow(clippy::unwrap_used)]

mod support;

use execenv_client::testing::FakeRegistry;
use execenv_proto::selector::v1 as sel;
use support::*;

#[tokio::test]
async fn an_examiner_that_cannot_be_reached_leaves_selection_without_drift_information() {
    let fake = FakeRegistry::new(Some(TOKEN));
    let py312 = environment("ghcr.io/a/py312:1", "3.12.4");
    fake.upsert(py312.clone());
    let served = fake.serve().await;
    // A port that was free a moment ago: nothing answers there.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let mut config = config(served.url());
    config.examiner.url = closed;
    config.selection.skip_drift = true;
    let (running, mut c) = start_ready_with(config).await;
    let answer = select(&mut c, "3.12.4").await.unwrap();
    assert_eq!(answer.environment.unwrap().guid, py312.guid);
    let x = c
        .explain(request(python("3.12.4"), None))
        .await
        .unwrap()
        .into_inner();
    let verdicts: Vec<(&str, &str, i32)> = x
        .verdicts
        .iter()
        .map(|v| (v.environment_guid.as_str(), v.drift.as_str(), v.outcome))
        .collect();
    assert_eq!(
        verdicts,
        vec![(
            py312.guid.as_str(),
            "",
            sel::verdict::Outcome::Chosen as i32
        )]
    );
    assert_eq!(running.state.checks.published(), 0);
    stop(running).await;
    served.stop().await;
}
