//! Two launchers active at once on one namespace of the testbed and one launch history (a fresh
//! database on the test PostgreSQL server, `history.database_url`): the real binaries, out of the
//! cluster, as the other Kubernetes launcher tests run them (the registry on SQLite, the selector,
//! [`bed::Bed`]'s claims and node). Jobs are deleted by the real TTL controller
//! (`kubernetes.ttl_seconds_after_finished` = 5), not by the test.
//!
//! A test target of its own, built with the `kubernetes` feature.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "kubernetes_launcher/bed.rs"]
#[allow(dead_code)]
mod bed;

use anyhow::{Context, Result, ensure};
use bed::{Bed, Launcher, WAIT, build_request, expect_state, finished, follow, state};
use execenv_e2e::database::fresh_postgres_database;
use execenv_e2e::testbed::images;
use execenv_e2e::{ServiceProcess, ctl, eventually, http_get};
use execenv_proto::launcher::v1 as pb;
use execenv_proto::launcher::v1::launcher_client::LauncherClient;
use execenv_proto::selector::v1 as sel;

/// The bundle the builds build: nothing to install, so a build takes seconds.
const APP: &str = "print('hello')\n";

#[tokio::test(flavor = "multi_thread")]
async fn kubernetes_launchers_on_one_history_answer_for_every_launch_and_count_each_once()
-> Result<()> {
    let history = fresh_postgres_database()?;
    let mut bed = Bed::with(
        "launcher-ha",
        &[
            ("EXECENV_HISTORY__DATABASE_URL", history),
            ("EXECENV_KUBERNETES__TTL_SECONDS_AFTER_FINISHED", "5".into()),
        ],
    )
    .await?;
    let mut other = bed.start_launcher()?;
    let result = two_launchers(&mut bed, &mut other).await;
    result.map_err(|e| {
        bed.explain(e).context(format!(
            "the other launcher's log:\n{}",
            other.process.output()
        ))
    })
}

async fn two_launchers(bed: &mut Bed, other: &mut ServiceProcess) -> Result<()> {
    let content = uuid::Uuid::new_v4().to_string();
    bed.place_bundle(&content, "", APP)?;
    bed.add_missing_environment()?;
    let mut a = bed.client().await?;
    let mut b = LauncherClient::connect(other.url.clone()).await?;

    // (a) The same request id to both at once: one accepted launch, one Job.
    let twice = "req-twice";
    let (mut to_a, mut to_b) = (a.clone(), b.clone());
    let (first, second) = tokio::join!(
        to_a.launch(build_request(twice, &content)),
        to_b.launch(build_request(twice, &content))
    );
    let (first, second) = (first?.into_inner(), second?.into_inner());
    ensure!(
        first.id == twice && second.id == twice && first.created_time == second.created_time,
        "one launch: {first:?} vs {second:?}"
    );
    let jobs = bed.jobs_of(twice).await?;
    ensure!(jobs.len() == 1, "exactly one Job, got {}", jobs.len());
    let requests =
        |outcome: &str| format!("execenv_launcher_launch_requests_total{{outcome=\"{outcome}\"}}");
    ensure!(
        (
            sum(bed, other, &requests("created"))?,
            sum(bed, other, &requests("existing"))?
        ) == (1, 1),
        "one launcher accepted the launch, the other answered it as existing"
    );

    // It ends before the next build of the same bundle starts (two builds of one bundle at once
    // would share its work folder).
    finished(&mut a, twice).await?;
    finished(&mut b, twice).await?;

    // (b) Started on A, followed on B: Watch, Get, Logs.
    let followed = "req-follow";
    a.launch(build_request(followed, &content)).await?;
    let done = finished(&mut b, followed).await?;
    expect_state(&done, pb::State::Succeeded, "Completed")?;
    let got = b
        .get(pb::GetLaunchRequest {
            id: followed.into(),
        })
        .await?
        .into_inner();
    expect_state(&got, pb::State::Succeeded, "Completed")?;
    let logs = ctl(&["--launcher", &other.url], &["launches", "logs", followed])?
        .ok()?
        .stdout;
    ensure!(
        logs.contains(images::SUPERVISOR_MARKER),
        "the other launcher reads the build's log:\n{logs}"
    );

    // Started on A, cancelled on B: A shows it CANCELLED (not a Job deleted behind its back).
    let cancelled = "req-cancel";
    a.launch(nowhere(cancelled, &content)).await?;
    follow(&mut b, cancelled, "PENDING on B", |l| {
        state(l) == pb::State::Pending
    })
    .await?;
    let answer = b
        .cancel(pb::CancelLaunchRequest {
            id: cancelled.into(),
        })
        .await?
        .into_inner();
    expect_state(&answer, pb::State::Cancelled, "Cancelled")?;
    let on_a = finished(&mut a, cancelled).await?;
    expect_state(&on_a, pb::State::Cancelled, "Cancelled")?;

    // (d) Over both launchers, each finished launch counted once.
    let outcome = |outcome: &str| {
        format!(
            "execenv_launcher_launches_total{{kind=\"build\",backend=\"kubernetes\",outcome=\"{outcome}\"}}"
        )
    };
    let counted = || -> Result<(u64, u64, u64, u64)> {
        Ok((
            sum(bed, other, &outcome("succeeded"))?,
            sum(bed, other, &outcome("cancelled"))?,
            sum(
                bed,
                other,
                "execenv_launcher_job_created_seconds_count{kind=\"build\",backend=\"kubernetes\"}",
            )?,
            sum(
                bed,
                other,
                "execenv_launcher_running_seconds_count{kind=\"build\",backend=\"kubernetes\"}",
            )?,
        ))
    };
    // Two builds succeeded and one launch was cancelled; three Jobs were created, two ran.
    let want = (2, 1, 3, 2);
    eventually(WAIT, "each launch counted once over both launchers", || {
        counted().is_ok_and(|c| c == want)
    })
    .with_context(|| format!("counted {:?}", counted()))?;

    // (c) The TTL removes the finished Jobs; the cancelled one's is deleted. After a restart,
    // both launchers still list all three with their final state.
    for id in [twice, followed, cancelled] {
        bed.gone(id).await?;
    }
    ensure!(counted()? == want, "still counted once: {:?}", counted());
    bed.restart_launcher()?;
    other.process.kill();
    *other = bed.start_launcher()?;
    let mut a = bed.client().await?;
    let mut b = LauncherClient::connect(other.url.clone()).await?;
    for client in [&mut a, &mut b] {
        let listed = list(client).await?;
        ensure!(
            listed
                == [
                    (cancelled.to_owned(), pb::State::Cancelled),
                    (followed.to_owned(), pb::State::Succeeded),
                    (twice.to_owned(), pb::State::Succeeded),
                ],
            "after a restart: {listed:?}"
        );
    }
    Ok(())
}

/// A BUILD that needs Python 3.12.1: only the environment whose image is not on the node has
/// it, so the launch stays PENDING until cancelled.
fn nowhere(id: &str, content: &str) -> pb::LaunchRequest {
    let mut launch = build_request(id, content);
    if let Some(content) = launch.content.as_mut() {
        content.requirements = Some(sel::Requirements {
            python_version: Some("3.12.1".into()),
            ..Default::default()
        });
    }
    launch
}

/// Every launch the launcher lists, as (id, state), by id.
async fn list(client: &mut Launcher) -> Result<Vec<(String, pb::State)>> {
    let mut found: Vec<(String, pb::State)> = client
        .list(pb::ListLaunchesRequest::default())
        .await?
        .into_inner()
        .launches
        .iter()
        .map(|l| (l.id.clone(), state(l)))
        .collect();
    found.sort();
    Ok(found)
}

/// The sum over both launchers of the value of `series` in their /metrics.
fn sum(bed: &Bed, other: &ServiceProcess, series: &str) -> Result<u64> {
    let (status, body) = http_get(&other.admin, "/metrics")?;
    ensure!(status == 200, "/metrics answered {status}");
    [bed.metrics()?, body]
        .iter()
        .map(|text| {
            let prefix = format!("{series} ");
            let value = text
                .lines()
                .find_map(|l| l.strip_prefix(&prefix))
                .with_context(|| format!("no {series} in /metrics"))?;
            Ok(value.parse::<u64>()?)
        })
        .sum()
}
