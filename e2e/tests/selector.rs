//! Environment selection (matching modes, version rules, permissions, explain) through the real
//! binaries: the registry on SQLite,
//! the selector watching it, and gRPC clients of both.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use anyhow::{Result, ensure};
use execenv_client::IdentityInterceptor;
use execenv_e2e::{RegistryProcess, ServiceProcess, eventually};
use execenv_proto::environments::v1 as pb;
use execenv_proto::identity::v1 as id;
use execenv_proto::identity::v1::identity_client::IdentityClient;
use execenv_proto::registry::v1 as reg;
use execenv_proto::registry::v1::registry_client::RegistryClient;
use execenv_proto::selector::v1 as sel;
use execenv_proto::selector::v1::selector_client::SelectorClient;
use tonic::Code;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

type Selector = SelectorClient<InterceptedService<Channel, IdentityInterceptor>>;

struct Bed {
    dir: tempfile::TempDir,
    registry: RegistryProcess,
    selector: ServiceProcess,
    admin: RegistryClient<Channel>,
}

impl Bed {
    async fn new() -> Result<Bed> {
        let dir = tempfile::tempdir()?;
        let registry = RegistryProcess::on_sqlite(dir.path())?;
        let selector = ServiceProcess::selector(&registry, dir.path(), &[])?;
        let admin = RegistryClient::connect(registry.url.clone()).await?;
        Ok(Bed {
            dir,
            registry,
            selector,
            admin,
        })
    }

    async fn create(
        &mut self,
        image: &str,
        title: &str,
        matching: &str,
        installs: &[(&str, &str)],
    ) -> Result<pb::Environment> {
        let list = |lang: &str| {
            let installations: Vec<_> = installs
                .iter()
                .filter(|(l, _)| *l == lang)
                .map(|(_, v)| pb::Installation {
                    version: (*v).to_owned(),
                    path: format!("/opt/{lang}/{v}/bin/{lang}"),
                })
                .collect();
            Some(pb::Installations { installations })
        };
        let spec = pb::EnvironmentSpec {
            name: image.into(),
            title: Some(title.into()),
            matching: Some(matching.into()),
            python: list("python"),
            r: list("r"),
            quarto: list("quarto"),
            ..Default::default()
        };
        Ok(self
            .admin
            .create_environment(reg::CreateEnvironmentRequest {
                environment: Some(spec),
            })
            .await?
            .into_inner())
    }

    async fn client(&self, identity: IdentityInterceptor) -> Result<Selector> {
        let channel = Channel::from_shared(self.selector.url.clone())?
            .connect()
            .await?;
        Ok(SelectorClient::with_interceptor(channel, identity))
    }

    /// Waits until the selector answers from the registry's current revision.
    async fn caught_up(&mut self) -> Result<i64> {
        let latest = self
            .admin
            .list_changes(reg::ListChangesRequest {
                page_size: 1000,
                ..Default::default()
            })
            .await?
            .into_inner();
        let revision = latest.changes.last().map_or(0, |c| c.revision);
        let mut client = self.client(IdentityInterceptor::default()).await?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let r = client
                .explain(sel::SelectRequest::default())
                .await?
                .into_inner();
            if r.revision >= revision {
                return Ok(r.revision);
            }
            ensure!(
                tokio::time::Instant::now() < deadline,
                "the selector did not reach revision {revision}"
            );
            let mut tick = tokio::time::interval(Duration::from_millis(20));
            tick.tick().await;
            tick.tick().await;
        }
    }
}

fn needs(python: Option<&str>, r: Option<&str>) -> sel::Requirements {
    sel::Requirements {
        python_version: python.map(Into::into),
        r_version: r.map(Into::into),
        ..Default::default()
    }
}

fn select(requirements: sel::Requirements, content: sel::ContentSettings) -> sel::SelectRequest {
    sel::SelectRequest {
        requirements: Some(requirements),
        manifest_json: String::new(),
        content: Some(content),
        min_revision: 0,
    }
}

/// What the selector answers a selection for `requirements` that it must refuse.
async fn refused(s: &mut Selector, requirements: sel::Requirements) -> tonic::Status {
    s.select(select(requirements, Default::default()))
        .await
        .expect_err("the selection is refused")
}

fn publisher(user: &str, groups: &[&str]) -> IdentityInterceptor {
    IdentityInterceptor {
        user: Some(user.into()),
        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        role: Some(execenv_core::Role::Publisher),
        token: None,
    }
}

// Multi-threaded: the harness blocks while it waits for processes, and the clients' connection
// tasks must keep running meanwhile (a frozen client never acknowledges a server's shutdown).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_05_a_target_wins_and_a_bad_target_never_falls_back() -> Result<()> {
    let mut bed = Bed::new().await?;
    let a = bed
        .create("ghcr.io/acme/a:1", "A", "any", &[("python", "3.11.9")])
        .await?;
    let b = bed
        .create("ghcr.io/acme/b:1", "B", "exact", &[("python", "3.11.9")])
        .await?;
    let c = bed
        .create("ghcr.io/acme/c:1", "C", "any", &[("python", "3.12.1")])
        .await?;
    bed.caught_up().await?;
    let mut s = bed.client(IdentityInterceptor::default()).await?;
    let pick = |r: sel::SelectResponse| {
        (
            r.environment.map(|e| e.guid).unwrap_or_default(),
            r.selected_by,
        )
    };

    let auto = s
        .select(select(needs(Some("3.11.4"), None), Default::default()))
        .await?
        .into_inner();
    ensure!(pick(auto) == (a.guid.clone(), "automatic".into()));
    let manifest = format!(
        r#"{{"environment": {{"identifier": "{}"}}, "python": {{"version": "3.11.4"}}}}"#,
        b.guid
    );
    let by_id = s
        .select(sel::SelectRequest {
            manifest_json: manifest,
            ..Default::default()
        })
        .await?
        .into_inner();
    ensure!(pick(by_id) == (b.guid.clone(), "manifest-identifier".into()));
    let req = sel::Requirements {
        target_image: Some("ghcr.io/acme/c:1".into()),
        ..needs(Some("3.12.0"), None)
    };
    let content = sel::ContentSettings {
        default_environment_guid: Some(b.guid.clone()),
        default_image_name: None,
    };
    let by_image = s.select(select(req, content.clone())).await?.into_inner();
    ensure!(
        pick(by_image) == (c.guid.clone(), "manifest-image".into()),
        "the manifest beats the content default"
    );
    let by_default = s
        .select(select(needs(Some("3.11.4"), None), content))
        .await?
        .into_inner();
    ensure!(pick(by_default) == (b.guid.clone(), "content-default-environment".into()));
    let by_default_image = s
        .select(select(
            needs(None, None),
            sel::ContentSettings {
                default_environment_guid: None,
                default_image_name: Some("ghcr.io/acme/b:1".into()),
            },
        ))
        .await?
        .into_inner();
    ensure!(pick(by_default_image) == (b.guid.clone(), "content-default-image".into()));

    // A missing or incompatible target is an error, not a fall back to A.
    let missing = sel::Requirements {
        target_environment_guid: Some(uuid::Uuid::new_v4().to_string()),
        ..needs(Some("3.11.4"), None)
    };
    let err = refused(&mut s, missing).await;
    ensure!(
        matches!(err.code(), Code::FailedPrecondition | Code::NotFound),
        "{err:?}"
    );
    let incompatible = sel::Requirements {
        target_environment_guid: Some(c.guid.clone()),
        ..needs(Some("3.11.4"), None)
    };
    let err = refused(&mut s, incompatible).await;
    ensure!(
        err.code() == Code::FailedPrecondition
            && err.message().contains("Cannot find compatible environment"),
        "{err:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_06_none_is_never_chosen_and_exact_only_when_targeted() -> Result<()> {
    let mut bed = Bed::new().await?;
    let off = bed
        .create("ghcr.io/acme/off:1", "Off", "none", &[("python", "3.11.9")])
        .await?;
    let exact = bed
        .create(
            "ghcr.io/acme/exact:1",
            "Exact",
            "exact",
            &[("python", "3.11.9")],
        )
        .await?;
    bed.caught_up().await?;
    let mut s = bed.client(IdentityInterceptor::default()).await?;
    let err = refused(&mut s, needs(Some("3.11.9"), None)).await;
    ensure!(
        err.code() == Code::FailedPrecondition,
        "neither is chosen automatically: {err:?}"
    );
    let targeted = sel::Requirements {
        target_environment_guid: Some(off.guid.clone()),
        ..needs(Some("3.11.9"), None)
    };
    let err = refused(&mut s, targeted).await;
    ensure!(
        err.code() == Code::FailedPrecondition,
        "a disabled target is an error: {err:?}"
    );
    let explain = s
        .explain(select(needs(Some("3.11.9"), None), Default::default()))
        .await?
        .into_inner();
    let reasons = |guid: &str| {
        explain
            .verdicts
            .iter()
            .find(|v| v.environment_guid == guid)
            .map(|v| v.reasons.join("; "))
            .unwrap_or_default()
    };
    ensure!(
        reasons(&off.guid).contains("disabled") || reasons(&off.guid).contains("none"),
        "{}",
        reasons(&off.guid)
    );
    ensure!(
        reasons(&exact.guid).contains("exact"),
        "{}",
        reasons(&exact.guid)
    );
    let targeted = sel::Requirements {
        target_environment_guid: Some(exact.guid.clone()),
        ..needs(Some("3.11.9"), None)
    };
    let chosen = s
        .select(select(targeted, Default::default()))
        .await?
        .into_inner();
    ensure!(chosen.environment.map(|e| e.guid) == Some(exact.guid));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_07_permissions_restrict_publishers_and_viewers_are_denied() -> Result<()> {
    let mut bed = Bed::new().await?;
    let open = bed
        .create(
            "ghcr.io/acme/open:1",
            "Open",
            "any",
            &[("python", "3.11.2")],
        )
        .await?;
    let team = bed
        .create(
            "ghcr.io/acme/team:1",
            "Team",
            "any",
            &[("python", "3.11.9")],
        )
        .await?;
    // A permission names an existing group, by guid.
    let ds = IdentityClient::connect(bed.registry.url.clone())
        .await?
        .create_group(id::CreateGroupRequest { name: "ds".into() })
        .await?
        .into_inner()
        .guid;
    bed.admin
        .add_permission(reg::AddPermissionRequest {
            environment_guid: team.guid.clone(),
            user_guid: None,
            group_guid: Some(ds.clone()),
        })
        .await?;
    bed.caught_up().await?;
    let request = || select(needs(Some("3.11.9"), None), Default::default());
    let mut member = bed.client(publisher("alice", &[&ds])).await?;
    ensure!(
        member
            .select(request())
            .await?
            .into_inner()
            .environment
            .map(|e| e.guid)
            == Some(team.guid.clone())
    );
    let mut outsider = bed.client(publisher("bob", &[])).await?;
    ensure!(
        outsider
            .select(request())
            .await?
            .into_inner()
            .environment
            .map(|e| e.guid)
            == Some(open.guid.clone())
    );
    let targeted = sel::Requirements {
        target_environment_guid: Some(team.guid.clone()),
        ..needs(Some("3.11.9"), None)
    };
    let err = refused(&mut outsider, targeted).await;
    ensure!(
        matches!(
            err.code(),
            Code::FailedPrecondition | Code::PermissionDenied | Code::NotFound
        ),
        "{err:?}"
    );
    let mut viewer = bed
        .client(IdentityInterceptor {
            user: Some("vic".into()),
            groups: vec![],
            role: Some(execenv_core::Role::Viewer),
            token: None,
        })
        .await?;
    ensure!(viewer.select(request()).await.unwrap_err().code() == Code::PermissionDenied);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_08_ranking_compares_r_first_then_prefers_fewer_unneeded_installations() -> Result<()>
{
    let mut bed = Bed::new().await?;
    let r_exact = bed
        .create(
            "ghcr.io/acme/x:1",
            "R exact",
            "any",
            &[("r", "4.3.2"), ("python", "3.11.9")],
        )
        .await?;
    let _py_exact = bed
        .create(
            "ghcr.io/acme/y:1",
            "Python exact",
            "any",
            &[("r", "4.3.1"), ("python", "3.11.4")],
        )
        .await?;
    bed.caught_up().await?;
    let mut s = bed.client(IdentityInterceptor::default()).await?;
    let chosen = s
        .select(select(
            needs(Some("3.11.4"), Some("4.3.2")),
            Default::default(),
        ))
        .await?
        .into_inner();
    ensure!(
        chosen.environment.map(|e| e.guid) == Some(r_exact.guid.clone()),
        "R is compared first"
    );
    let explain = s
        .explain(select(
            needs(Some("3.11.4"), Some("4.3.2")),
            Default::default(),
        ))
        .await?
        .into_inner();
    let lost = explain
        .verdicts
        .iter()
        .find(|v| v.outcome == sel::verdict::Outcome::Compatible as i32)
        .expect("a runner-up");
    ensure!(
        lost.reasons.iter().any(|r| r.contains(&r_exact.guid)),
        "says what it lost to: {:?}",
        lost.reasons
    );

    let lean = bed
        .create(
            "ghcr.io/acme/lean:1",
            "Lean",
            "any",
            &[("python", "3.12.4")],
        )
        .await?;
    let _fat = bed
        .create(
            "ghcr.io/acme/fat:1",
            "Fat",
            "any",
            &[("python", "3.12.4"), ("quarto", "1.5.57")],
        )
        .await?;
    bed.caught_up().await?;
    let chosen = s
        .select(select(needs(Some("3.12.4"), None), Default::default()))
        .await?
        .into_inner();
    ensure!(
        chosen.environment.map(|e| e.guid) == Some(lean.guid),
        "fewer unneeded installations wins the tie"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_09_failure_says_what_was_asked_and_why_each_environment_does_not_fit() -> Result<()> {
    let mut bed = Bed::new().await?;
    let a = bed
        .create("ghcr.io/acme/a:1", "A", "any", &[("python", "3.11.9")])
        .await?;
    bed.caught_up().await?;
    let mut s = bed.client(IdentityInterceptor::default()).await?;
    let err = refused(&mut s, needs(Some("3.10.0"), None)).await;
    ensure!(err.code() == Code::FailedPrecondition);
    ensure!(
        err.message().contains("Cannot find compatible environment")
            && err.message().contains("3.10.0"),
        "{}",
        err.message()
    );
    let detail = execenv_client::from_status(&err);
    ensure!(
        detail
            .violations
            .iter()
            .any(|v| v.field.contains(&a.guid) && v.description.contains("3.11.9")),
        "{:?}",
        detail.violations
    );
    // A malformed constraint is INVALID_ARGUMENT naming it.
    let bad = sel::Requirements {
        python_requires: Some(">=3.8,,<".into()),
        ..Default::default()
    };
    let err = s.select(select(bad, Default::default())).await.unwrap_err();
    ensure!(
        err.code() == Code::InvalidArgument && err.message().contains(">=3.8,,<"),
        "{err:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_10_answers_carry_the_revision_and_survive_a_registry_outage() -> Result<()> {
    let mut bed = Bed::new().await?;
    bed.create("ghcr.io/acme/a:1", "A", "any", &[("python", "3.11.9")])
        .await?;
    let revision = bed.caught_up().await?;
    let mut s = bed.client(IdentityInterceptor::default()).await?;
    let r = s
        .select(select(needs(Some("3.11.4"), None), Default::default()))
        .await?
        .into_inner();
    ensure!(r.revision == revision && r.catalogue_age_seconds == 0.0);
    // The registry goes away: the selector keeps answering from its catalogue and says how old it is.
    bed.registry.process.terminate()?;
    let mut ok = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while tokio::time::Instant::now() < deadline {
        let r = s
            .select(select(needs(Some("3.11.4"), None), Default::default()))
            .await?
            .into_inner();
        if r.catalogue_age_seconds > 0.0 && r.revision == revision {
            ok = true;
            break;
        }
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        tick.tick().await;
        tick.tick().await;
    }
    ensure!(ok, "answers during the outage carry a catalogue age > 0");
    // It comes back: the selector resumes and sees changes made after the outage.
    bed.registry.restart()?;
    bed.admin = RegistryClient::connect(bed.registry.url.clone()).await?;
    let b = bed
        .create("ghcr.io/acme/b:1", "B", "any", &[("python", "3.12.1")])
        .await?;
    bed.caught_up().await?;
    let r = s
        .select(select(needs(Some("3.12.0"), None), Default::default()))
        .await?
        .into_inner();
    ensure!(
        r.environment.map(|e| e.guid) == Some(b.guid)
            && r.revision > revision
            && r.catalogue_age_seconds == 0.0
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_10_the_selector_is_not_ready_until_it_holds_the_catalogue() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut registry = RegistryProcess::on_sqlite(dir.path())?;
    registry.process.terminate()?;
    // The registry is down: the selector starts but is not ready and cannot answer.
    let selector = ServiceProcess::spawn_selector(&registry, dir.path(), &[])?;
    eventually(Duration::from_secs(10), "the selector's admin port", || {
        execenv_e2e::http_get(&selector.admin, "/readyz").is_ok()
    })?;
    let (status, body) = execenv_e2e::http_get(&selector.admin, "/readyz")?;
    ensure!(
        status == 503 && body.contains("not ready"),
        "{status} {body}"
    );
    let channel = Channel::from_shared(selector.url.clone())?
        .connect()
        .await?;
    let err = SelectorClient::new(channel)
        .select(sel::SelectRequest::default())
        .await
        .unwrap_err();
    ensure!(err.code() == Code::Unavailable, "{err:?}");
    // Once the registry is back, the selector lists the catalogue and becomes ready.
    registry.restart()?;
    eventually(
        Duration::from_secs(20),
        "the selector to become ready",
        || execenv_e2e::http_get(&selector.admin, "/readyz").is_ok_and(|(s, _)| s == 200),
    )?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifest_and_cli_explain_through_execenvctl() -> Result<()> {
    let mut bed = Bed::new().await?;
    bed.create("ghcr.io/acme/a:1", "A", "any", &[("python", "3.11.9")])
        .await?;
    bed.create("ghcr.io/acme/b:1", "B", "any", &[("python", "3.10.4")])
        .await?;
    bed.caught_up().await?;
    let manifest = bed.dir.path().join("manifest.json");
    std::fs::write(
        &manifest,
        r#"{"version": 1, "metadata": {"appmode": "python-api"}, "python": {"version": "3.11.4"}}"#,
    )?;
    let m = manifest.display().to_string();
    let out = execenv_e2e::ctl(
        &["--selector", &bed.selector.url],
        &["select", "--manifest", &m, "-o", "json"],
    )?
    .ok()?;
    ensure!(out.stdout.contains("ghcr.io/acme/a:1"), "{}", out.stdout);
    let table = execenv_e2e::ctl(
        &["--selector", &bed.selector.url],
        &["explain", "--manifest", &m],
    )?
    .ok()?;
    ensure!(
        table.stdout.contains("chosen") && table.stdout.contains("rejected"),
        "{}",
        table.stdout
    );
    eventually(Duration::from_secs(5), "metrics", || {
        execenv_e2e::http_get(&bed.selector.admin, "/metrics")
            .is_ok_and(|(_, m)| m.contains("execenv_selector_selections_total"))
    })?;
    Ok(())
}
