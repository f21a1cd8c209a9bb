//! Launch ownership through the real binaries (the `make run` set, the launcher on local
//! processes): two publishers and an administrator, over the gateway's REST routes and over the
//! launcher's gRPC API. A publisher sees, follows, reads the logs of and cancels only their own
//! launches — another's is 404 / NOT_FOUND, like an id that does not exist; an administrator and
//! a service calling as itself see them all.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use execenv_client::IdentityInterceptor;
use execenv_core::{Caller, Role};
use execenv_e2e::gateway::user_key;
use execenv_e2e::launcher::{python_manifest, watch_until};
use execenv_e2e::stack::{BUNDLE, CONTENT, LocalStack};
use execenv_e2e::{call_with_key, eventually, request_with_key};
use execenv_proto::launcher::v1 as pb;
use execenv_proto::launcher::v1::launcher_client::LauncherClient;
use serde_json::json;
use tonic::Code;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// Long enough for the content to start on a busy machine.
const START: Duration = Duration::from_secs(120);
const LAUNCHES: &str = "/__api__/execenv/v1/launches";

type Launcher = LauncherClient<InterceptedService<Channel, IdentityInterceptor>>;

/// The ids of the launches `key` lists, sorted.
fn listed(api: &str, key: &str) -> Result<Vec<String>> {
    let (status, body) = call_with_key(api, key, "GET", LAUNCHES, None)?;
    ensure!(status == 200, "GET {LAUNCHES}: {status} {body}");
    let mut ids: Vec<String> = body
        .as_array()
        .context("a list")?
        .iter()
        .filter_map(|l| l["id"].as_str().map(str::to_owned))
        .collect();
    ids.sort();
    Ok(ids)
}

async fn launcher(url: &str, caller: Option<&Caller>) -> Result<Launcher> {
    let identity = match caller {
        Some(c) => IdentityInterceptor::for_caller(c, None),
        None => IdentityInterceptor::service(None),
    };
    let channel = Channel::from_shared(url.to_owned())?.connect().await?;
    Ok(LauncherClient::with_interceptor(channel, identity))
}

fn publisher(guid: &str) -> Caller {
    Caller {
        user: Some(guid.to_owned()),
        groups: vec![],
        role: Role::Publisher,
    }
}

#[test]
fn publishers_see_follow_read_and_cancel_only_their_own_launches() -> Result<()> {
    let stack = LocalStack::start()?;
    let api = stack.gateway.address();
    let alice = user_key(&stack.registry, "alice", "publisher")?;
    let bob = user_key(&stack.registry, "bob", "publisher")?;
    let ada = user_key(&stack.registry, "ada", "administrator")?;
    let guid_of = |key: &str| -> Result<String> {
        let (_, user) = call_with_key(api, key, "GET", "/__api__/v1/user", None)?;
        Ok(user["guid"].as_str().context("a user guid")?.to_owned())
    };
    let (alice_guid, bob_guid, ada_guid) = (guid_of(&alice)?, guid_of(&bob)?, guid_of(&ada)?);
    let manifest = python_manifest(stack.python_version());

    // Alice builds, then runs something that lasts.
    let built = stack.launch_to_end(&alice, "build", &json!([]))?;
    ensure!(built["owner_guid"] == alice_guid.as_str(), "{built}");
    let built_id = built["id"].as_str().context("an id")?.to_owned();
    let run = json!({"request_id": "alice-run", "kind": "run",
        "content": {"guid": CONTENT, "bundle": BUNDLE, "manifest": manifest},
        "command": ["python", "-c", "import time; print('alice was here', flush=True); time.sleep(600)"]});
    let (status, started) = call_with_key(api, &alice, "POST", LAUNCHES, Some(&run))?;
    ensure!(
        status == 200 && started["owner_guid"] == alice_guid.as_str(),
        "{status} {started}"
    );
    let mine = format!("{LAUNCHES}/alice-run");
    eventually(START, "alice's run running", || {
        call_with_key(api, &alice, "GET", &mine, None).is_ok_and(|(_, l)| l["state"] == "running")
    })?;

    // Bob cannot see, read the logs of or cancel it: 404, as for an id that does not exist.
    for (method, path) in [
        ("GET", mine.clone()),
        ("GET", format!("{mine}/logs")),
        ("POST", format!("{mine}/cancel")),
        ("GET", format!("{LAUNCHES}/{built_id}")),
        ("GET", format!("{LAUNCHES}/no-such-launch")),
    ] {
        let (status, body) = call_with_key(api, &bob, method, &path, None)?;
        ensure!(status == 404, "bob {method} {path}: {status} {body}");
        ensure!(!body.to_string().contains("alice was here"), "{body}");
    }
    ensure!(
        listed(api, &bob)?.is_empty(),
        "bob lists nothing of alice's"
    );
    // Nor take over its request id.
    let (status, body) = call_with_key(api, &bob, "POST", LAUNCHES, Some(&run))?;
    ensure!(
        status == 409,
        "bob reusing alice's request id: {status} {body}"
    );

    // Alice sees both of hers; the administrator sees them too.
    let mut alices = vec!["alice-run".to_owned(), built_id.clone()];
    alices.sort();
    ensure!(listed(api, &alice)? == alices);
    ensure!(listed(api, &ada)? == alices);
    let (status, seen) = call_with_key(api, &ada, "GET", &mine, None)?;
    ensure!(
        status == 200 && seen["owner_guid"] == alice_guid.as_str(),
        "{status} {seen}"
    );
    // The run prints its line once started; the administrator reads it in alice's logs.
    eventually(
        START,
        "alice's line in her logs, read by the administrator",
        || {
            request_with_key(api, &ada, "GET", &format!("{mine}/logs"), None)
                .is_ok_and(|r| r.status == 200 && r.body.contains("alice was here"))
        },
    )?;

    let url = stack.launcher.url.clone();
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let mut as_bob = launcher(&url, Some(&publisher(&bob_guid))).await?;
        let mut as_alice = launcher(&url, Some(&publisher(&alice_guid))).await?;
        let id = || "alice-run".to_owned();

        // Over gRPC, the same: NOT_FOUND for every call naming alice's launch.
        let codes = [
            as_bob
                .get(pb::GetLaunchRequest { id: id() })
                .await
                .map(|_| ()),
            as_bob
                .watch(pb::WatchLaunchesRequest { id: id() })
                .await
                .map(|_| ()),
            as_bob
                .logs(pb::LogsRequest {
                    id: id(),
                    follow: false,
                })
                .await
                .map(|_| ()),
            as_bob
                .cancel(pb::CancelLaunchRequest { id: id() })
                .await
                .map(|_| ()),
        ]
        .map(|r| r.err().map(|s| s.code()));
        ensure!(codes == [Some(Code::NotFound); 4], "{codes:?}");
        let got = as_alice
            .get(pb::GetLaunchRequest { id: id() })
            .await?
            .into_inner();
        ensure!(got.owner_guid == alice_guid, "{got:?}");

        // Bob's watch of every launch passes over alice's cancel and shows his own launch.
        let events = as_bob
            .watch(pb::WatchLaunchesRequest { id: String::new() })
            .await?
            .into_inner();
        let cancelled = as_alice
            .cancel(pb::CancelLaunchRequest { id: id() })
            .await?
            .into_inner();
        ensure!(cancelled.state() == pb::State::Cancelled, "{cancelled:?}");
        let request = pb::LaunchRequest {
            request_id: "bob-run".into(),
            kind: pb::Kind::Run as i32,
            content: Some(pb::Content {
                guid: CONTENT.into(),
                bundle: BUNDLE.into(),
                manifest_json: manifest.to_string(),
                ..pb::Content::default()
            }),
            command: vec!["python".into(), "-c".into(), "print('bob')".into()],
            ..pb::LaunchRequest::default()
        };
        let launched = as_bob.launch(request).await?.into_inner();
        ensure!(launched.owner_guid == bob_guid, "{launched:?}");
        let first = watch_until(events, START, "any event", |_| true).await?;
        ensure!(
            (first.id.as_str(), first.owner_guid.as_str()) == ("bob-run", bob_guid.as_str()),
            "bob's first event: {first:?}"
        );

        // The administrator and the service itself list all three.
        let mut all = vec![
            "alice-run".to_owned(),
            "bob-run".to_owned(),
            built_id.clone(),
        ];
        all.sort();
        let admin = Caller {
            user: Some(ada_guid.clone()),
            groups: vec![],
            role: Role::Administrator,
        };
        for caller in [Some(&admin), None] {
            let mut client = launcher(&url, caller).await?;
            let mut ids: Vec<String> = client
                .list(pb::ListLaunchesRequest::default())
                .await?
                .into_inner()
                .launches
                .into_iter()
                .map(|l| l.id)
                .collect();
            ids.sort();
            ensure!(ids == all, "{caller:?}: {ids:?}");
        }
        let mine: Vec<String> = as_bob
            .list(pb::ListLaunchesRequest::default())
            .await?
            .into_inner()
            .launches
            .into_iter()
            .map(|l| l.id)
            .collect();
        ensure!(mine == ["bob-run"], "{mine:?}");
        anyhow::Ok(())
    })?;

    ensure!(listed(api, &bob)? == ["bob-run"]);
    Ok(())
}
