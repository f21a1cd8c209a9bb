//! The image examiner binary between a real OCI registry (Debian's docker-registry, started per
//! test by `execenv_e2e::oci_registry`, images made in Rust and pushed with skopeo) and the real
//! environment registry on SQLite:
//!
//! - `Examine` over gRPC: what an image holds, at the digest skopeo pushed, then from the cache;
//!   the status of an image that cannot be read; an administrator's call only;
//! - credentials: a Docker config and the CA of a registry that requires both, given as settings;
//!   a Docker config that does not exist stops the start with a message naming it;
//! - drift end to end: an environment declaring Python 3.12.4 on an image with 3.11.9 is DRIFT;
//!   the tag moved to an image with 3.12.4 makes it OK with a TAG_MOVED notice at the next
//!   scheduled check (`check_interval_s` 2); the drift gauge follows, 1 then 0. Every wait follows
//!   `WatchChecks`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use execenv_client::IdentityInterceptor;
use execenv_core::{Caller, Role};
use execenv_e2e::oci_images::{Compression, Image, Layer, Layout, push, write_layout};
use execenv_e2e::oci_registry::OciRegistry;
use execenv_e2e::{RegistryProcess, ServiceProcess, http_get};
use execenv_proto::environments::v1 as pb;
use execenv_proto::examiner::v1 as ex;
use execenv_proto::examiner::v1::image_examiner_client::ImageExaminerClient;
use execenv_proto::registry::v1 as reg;
use execenv_proto::registry::v1::registry_client::RegistryClient;
use tonic::Code;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

type Examiner = ImageExaminerClient<InterceptedService<Channel, IdentityInterceptor>>;

/// How long one wait on the examiner may take: several check intervals, and reads.
const DEADLINE: Duration = Duration::from_secs(30);

/// A layout in `dir`/`name` of one linux/amd64 image holding Python `version` Posit's way.
fn python_image(dir: &Path, name: &str, version: &str) -> Result<Layout> {
    write_layout(
        &dir.join(name),
        "3",
        &[Image::new("linux/amd64").layer(
            Layer::new(Compression::GZIP).python(&format!("/opt/python/{version}"), version),
        )],
    )
}

/// An examiner client acting as `role` (None: as the calling service itself).
async fn examiner(service: &ServiceProcess, role: Option<Role>) -> Result<Examiner> {
    let identity = match role {
        None => IdentityInterceptor::service(None),
        Some(role) => IdentityInterceptor::for_caller(
            &Caller {
                user: Some("alice".into()),
                groups: vec![],
                role,
            },
            None,
        ),
    };
    let channel = Channel::from_shared(service.url.clone())?.connect().await?;
    Ok(ImageExaminerClient::with_interceptor(channel, identity))
}

fn examine_request(image: &str) -> ex::ExamineRequest {
    ex::ExamineRequest {
        image: image.to_owned(),
        ..Default::default()
    }
}

/// The value of the sample `name` on the examiner's /metrics.
fn metric(service: &ServiceProcess, name: &str) -> Result<String> {
    let (status, body) = http_get(&service.admin, "/metrics")?;
    ensure!(status == 200, "/metrics answered {status}");
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .map(str::to_owned)
        .with_context(|| format!("{name} is not on /metrics:\n{body}"))
}

/// The next check of `guid` the watch carries that satisfies `wanted`, skipping the others.
async fn next_check(
    watch: &mut tonic::Streaming<ex::CheckEvent>,
    guid: &str,
    what: &str,
    wanted: impl Fn(&ex::EnvironmentCheck) -> bool,
) -> Result<ex::EnvironmentCheck> {
    let mut seen = Vec::new();
    let found = tokio::time::timeout(DEADLINE, async {
        while let Some(event) = watch.message().await? {
            if let Some(ex::check_event::Event::Check(c)) = event.event
                && c.guid == guid
            {
                if wanted(&c) {
                    return Ok(Some(c));
                }
                seen.push(c);
            }
        }
        Ok::<_, tonic::Status>(None)
    })
    .await;
    match found {
        Ok(Ok(Some(check))) => Ok(check),
        Ok(Ok(None)) => bail!("the watch ended before {what}; checks seen: {seen:#?}"),
        Ok(Err(status)) => bail!("the watch failed before {what}: {status}"),
        Err(_) => bail!("not {what} within {DEADLINE:?}; checks seen: {seen:#?}"),
    }
}

#[tokio::test]
async fn examine_reads_an_image_from_its_registry_then_answers_from_the_cache() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let oci = OciRegistry::start()?;
    let layout = python_image(dir.path(), "py311", "3.11.9")?;
    let image = push(&layout, &oci, "python:3")?;
    let registry = RegistryProcess::on_sqlite(dir.path())?;
    let service = ServiceProcess::image_examiner(
        &registry,
        dir.path(),
        &[(
            "EXECENV_EXAMINER__INSECURE_REGISTRIES",
            oci.host().to_owned(),
        )],
    )?;
    let mut admin = examiner(&service, Some(Role::Administrator)).await?;

    let first = admin
        .examine(examine_request(&image))
        .await?
        .into_inner()
        .examination
        .context("no examination")?;
    ensure!(first.digest == layout.digest, "{first:#?}");
    ensure!(
        (first.platform.as_str(), first.layers, first.cached) == ("linux/amd64", 1, false),
        "{first:#?}"
    );
    let found: Vec<(&str, &str, &str, &str)> = first
        .installations
        .iter()
        .map(|i| {
            (
                i.language.as_str(),
                i.path.as_str(),
                i.version.as_str(),
                i.version_file.as_str(),
            )
        })
        .collect();
    ensure!(
        found
            == [(
                "python",
                "/opt/python/3.11.9/bin/python3",
                "3.11.9",
                "/opt/python/3.11.9/include/python3.11/patchlevel.h"
            )],
        "{found:?}"
    );
    let blob_reads = |from: usize| -> Vec<String> {
        oci.requests()[from..]
            .iter()
            .filter(|r| r.method == "GET" && r.path.contains("/blobs/"))
            .map(ToString::to_string)
            .collect()
    };
    // The image's config (its platform) and its one layer.
    ensure!(blob_reads(0).len() == 2, "{:?}", blob_reads(0));
    let before = oci.requests().len();
    let again = admin
        .examine(examine_request(&image))
        .await?
        .into_inner()
        .examination
        .context("no examination")?;
    ensure!(again.cached && again.digest == layout.digest, "{again:#?}");
    // Resolving again reads the config, never the layer.
    let blobs = blob_reads(before);
    ensure!(blobs.len() == 1, "the cached answer read {blobs:?}");
    ensure!(
        metric(
            &service,
            "execenv_examiner_examinations_total{result=\"read\"}"
        )? == "1"
    );
    ensure!(
        metric(
            &service,
            "execenv_examiner_examinations_total{result=\"cached\"}"
        )? == "1"
    );

    let missing = admin
        .examine(examine_request(&oci.reference("python:9")))
        .await
        .unwrap_err();
    ensure!(missing.code() == Code::NotFound, "{missing:?}");
    ensure!(
        missing.message().contains("python:9") && missing.message().contains("not found"),
        "{}",
        missing.message()
    );
    // An index: the platform asked for, else the examiner's (linux/amd64).
    let index = write_layout(
        &dir.path().join("multi"),
        "multi",
        &[
            Image::new("linux/amd64")
                .layer(Layer::new(Compression::GZIP).python("/opt/python/3.11.9", "3.11.9")),
            Image::new("linux/arm64/v8")
                .layer(Layer::new(Compression::Zstd).python("/opt/python/3.12.4", "3.12.4")),
        ],
    )?;
    let multi = push(&index, &oci, "python:multi")?;
    for (platform, digest, version) in [
        ("", &index.manifests[0], "3.11.9"),
        ("linux/arm64", &index.manifests[1], "3.12.4"),
    ] {
        let e = admin
            .examine(ex::ExamineRequest {
                image: multi.clone(),
                platform: platform.into(),
                refresh: false,
            })
            .await?
            .into_inner()
            .examination
            .context("no examination")?;
        ensure!(
            &e.digest == digest && e.installations[0].version == version,
            "{platform:?}: {e:#?}"
        );
    }
    let bad = admin
        .examine(ex::ExamineRequest {
            image: multi.clone(),
            platform: "linux".into(),
            refresh: false,
        })
        .await
        .unwrap_err();
    ensure!(bad.code() == Code::InvalidArgument, "{bad:?}");
    ensure!(
        bad.message().contains("not os/architecture[/variant]"),
        "{}",
        bad.message()
    );

    let mut publisher = examiner(&service, Some(Role::Publisher)).await?;
    let denied = publisher
        .examine(examine_request(&image))
        .await
        .unwrap_err();
    ensure!(denied.code() == Code::PermissionDenied, "{denied:?}");
    Ok(())
}

#[tokio::test]
async fn credentials_and_a_ca_come_from_the_settings() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let oci = OciRegistry::start_with_auth("alice", "s3cret")?;
    let layout = python_image(dir.path(), "py311", "3.11.9")?;
    let image = push(&layout, &oci, "python:3")?;
    let ca = oci.ca_file().context("the registry serves no TLS")?;
    let right = dir.path().join("right.json");
    std::fs::write(&right, oci.docker_config("alice", "s3cret"))?;
    let wrong = dir.path().join("wrong.json");
    std::fs::write(&wrong, oci.docker_config("alice", "wrong"))?;
    let registry = RegistryProcess::on_sqlite(dir.path())?;
    let settings = |config: &Path| {
        [
            (
                "EXECENV_EXAMINER__DOCKER_CONFIG",
                config.display().to_string(),
            ),
            ("EXECENV_EXAMINER__CA_FILES", ca.display().to_string()),
        ]
    };

    let allowed = ServiceProcess::image_examiner(&registry, dir.path(), &settings(&right))?;
    let examined = examiner(&allowed, None)
        .await?
        .examine(examine_request(&image))
        .await?
        .into_inner()
        .examination
        .context("no examination")?;
    ensure!(examined.digest == layout.digest, "{examined:#?}");

    let refused = ServiceProcess::image_examiner(&registry, dir.path(), &settings(&wrong))?;
    let status = examiner(&refused, None)
        .await?
        .examine(examine_request(&image))
        .await
        .unwrap_err();
    ensure!(status.code() == Code::FailedPrecondition, "{status:?}");
    ensure!(
        status
            .message()
            .contains("refused the credentials for user alice"),
        "{}",
        status.message()
    );

    let absent = dir.path().join("absent.json");
    let mut stopped =
        ServiceProcess::spawn_image_examiner(&registry, dir.path(), &settings(&absent))?;
    let code = stopped.wait_exit(DEADLINE)?;
    ensure!(code == Some(1), "exit code {code:?}");
    let output = stopped.process.output();
    ensure!(
        output.contains("examiner.docker_config") && output.contains(&absent.display().to_string()),
        "{output}"
    );
    Ok(())
}

#[tokio::test]
async fn drift_is_found_then_cleared_when_the_tag_moves_to_an_image_that_fits() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let oci = OciRegistry::start()?;
    let old = python_image(dir.path(), "py311", "3.11.9")?;
    let new = python_image(dir.path(), "py312", "3.12.4")?;
    let image = push(&old, &oci, "python:3")?;
    let registry = RegistryProcess::on_sqlite(dir.path())?;
    let service = ServiceProcess::image_examiner(
        &registry,
        dir.path(),
        &[
            (
                "EXECENV_EXAMINER__INSECURE_REGISTRIES",
                oci.host().to_owned(),
            ),
            ("EXECENV_EXAMINER__CHECK_INTERVAL_S", "2".to_owned()),
        ],
    )?;
    let mut publisher = examiner(&service, Some(Role::Publisher)).await?;
    let mut watch = publisher
        .watch_checks(ex::WatchChecksRequest {})
        .await?
        .into_inner();

    let created = RegistryClient::connect(registry.url.clone())
        .await?
        .create_environment(reg::CreateEnvironmentRequest {
            environment: Some(pb::EnvironmentSpec {
                name: image.clone(),
                title: Some("Python 3.12".into()),
                python: Some(pb::Installations {
                    installations: vec![pb::Installation {
                        version: "3.12.4".into(),
                        path: "/opt/python/3.12.4/bin/python3".into(),
                    }],
                }),
                ..Default::default()
            }),
        })
        .await?
        .into_inner();
    let guid = created.guid.as_str();

    let drift = next_check(&mut watch, guid, "in drift", |c| {
        c.state == ex::CheckState::Drift as i32
    })
    .await?;
    ensure!(drift.digest == old.digest, "{drift:#?}");
    let drifts: Vec<&str> = drift
        .findings
        .iter()
        .filter(|f| f.drift)
        .map(|f| f.message.as_str())
        .collect();
    ensure!(
        drifts
            == [
                "Python 3.12.4 is declared at /opt/python/3.12.4/bin/python3, which is not in the image"
            ],
        "{drift:#?}"
    );
    ensure!(metric(&service, "execenv_examiner_environments{state=\"drift\"}")? == "1");

    // The tag moves; no catalogue change: the scheduled check finds it.
    push(&new, &oci, "python:3")?;
    let ok = next_check(&mut watch, guid, "OK after the tag moved", |c| {
        c.state == ex::CheckState::Ok as i32
    })
    .await?;
    ensure!(
        (ok.digest.as_str(), ok.previous_digest.as_str())
            == (new.digest.as_str(), old.digest.as_str()),
        "{ok:#?}"
    );
    let kinds: Vec<i32> = ok.findings.iter().map(|f| f.kind).collect();
    ensure!(kinds == [ex::FindingKind::TagMoved as i32], "{ok:#?}");
    ensure!(
        ok.findings[0].message
            == format!(
                "{image} now points at {}; at the previous check it was {}",
                new.digest, old.digest
            ),
        "{ok:#?}"
    );
    ensure!(metric(&service, "execenv_examiner_environments{state=\"drift\"}")? == "0");
    ensure!(metric(&service, "execenv_examiner_environments{state=\"ok\"}")? == "1");

    let listed = publisher
        .list_checks(ex::ListChecksRequest {})
        .await?
        .into_inner();
    ensure!(listed.interval_seconds == 2, "{listed:#?}");
    ensure!(
        listed
            .checks
            .iter()
            .map(|c| c.guid.as_str())
            .collect::<Vec<_>>()
            == [guid],
        "{listed:#?}"
    );
    Ok(())
}
