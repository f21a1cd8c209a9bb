//! Image examination against a real registry: `execenv_oci::ImageReader` reads images that
//! Debian's docker-registry serves (started per test by `execenv_e2e::oci_registry`), made in
//! Rust or cached for the testbed (`execenv_e2e::oci_images`), and the core's rules
//! (`execenv_core::examine`) say what they hold.

use anyhow::{Result, anyhow};
use execenv_core::examine::{Findings, UnreadableKind, find_installations, suggest_spec};
use execenv_core::model::Installation;
use execenv_e2e::oci_images::{Compression, Image, Layer, Layout, push, push_cached, write_layout};
use execenv_e2e::oci_registry::OciRegistry;
use execenv_oci::{DockerConfig, ImageReader, Platform, ReadError, ReaderOptions, Resolved};

/// (language, path, version, version file, alias of) of each installation found.
type Found = (
    &'static str,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// A reader that speaks plain HTTP to `registry` (or trusts its CA when it serves TLS), with
/// `credentials`.
fn reader_for(registry: &OciRegistry, credentials: DockerConfig) -> Result<ImageReader> {
    let mut options = ReaderOptions {
        credentials,
        ..ReaderOptions::default()
    };
    match registry.ca_file() {
        Some(ca) => options.ca_files.push(ca.to_path_buf()),
        None => options
            .insecure_registries
            .push(registry.host().to_string()),
    }
    ImageReader::new(options).map_err(|e| anyhow!("cannot make the reader: {e}"))
}

/// Resolves `reference` for `platform` (the reader's default when None), reads its tree and
/// examines it.
async fn examine(
    reader: &ImageReader,
    reference: &str,
    platform: Option<&Platform>,
) -> Result<(Resolved, Findings)> {
    let resolved = reader
        .resolve(reference, platform)
        .await
        .map_err(|e| anyhow!("cannot resolve {reference}: {e}"))?;
    let tree = reader
        .read_tree(&resolved)
        .await
        .map_err(|e| anyhow!("cannot read {reference}: {e}"))?;
    let findings = find_installations(&tree);
    Ok((resolved, findings))
}

fn found(findings: &Findings) -> Vec<Found> {
    findings
        .installations
        .iter()
        .map(|f| {
            (
                f.language.as_str(),
                f.path.clone(),
                f.version.clone(),
                f.version_file.clone(),
                f.alias_of.clone(),
            )
        })
        .collect()
}

fn installation(language: &'static str, path: &str, version: &str, file: &str) -> Found {
    (
        language,
        path.to_string(),
        Some(version.to_string()),
        Some(file.to_string()),
        None,
    )
}

/// What a read that should fail failed with.
async fn resolve_error(reader: &ImageReader, reference: &str) -> Result<ReadError> {
    match reader.resolve(reference, None).await {
        Ok(resolved) => Err(anyhow!(
            "{reference} resolved to {resolved:?}; expected an error"
        )),
        Err(e) => Ok(e),
    }
}

/// A one-layer image with Python 3.11.9 in Posit's layout.
fn python_layout(dir: &std::path::Path) -> Result<Layout> {
    write_layout(
        dir,
        "3.11",
        &[Image::new("linux/amd64")
            .layer(Layer::new(Compression::GZIP).python("/opt/python/3.11.9", "3.11.9"))],
    )
}

#[tokio::test]
async fn the_testbeds_content_images_hold_python_3_11_2_and_r_4_2_2_at_their_layout_digests()
-> Result<()> {
    let registry = OciRegistry::start()?;
    let reader = reader_for(&registry, DockerConfig::empty())?;

    let (reference, layout) = push_cached("python", &registry)?;
    assert_eq!(reference, format!("{}/python:3.11", registry.host()));
    let (resolved, findings) = examine(&reader, &reference, None).await?;
    assert_eq!(resolved.digest, layout.digest);
    assert_eq!(resolved.index_digest, None);
    assert_eq!(resolved.platform.to_string(), "linux/amd64");
    assert_eq!(resolved.layers.len(), 1);
    assert_eq!(
        found(&findings),
        vec![installation(
            "python",
            "/opt/python/3.11.2/bin/python3",
            "3.11.2",
            "/usr/include/python3.11/patchlevel.h"
        )]
    );
    assert_eq!(findings.notes, Vec::<String>::new());

    let (reference, layout) = push_cached("r", &registry)?;
    assert_eq!(reference, format!("{}/r:4.2", registry.host()));
    let (resolved, findings) = examine(&reader, &reference, None).await?;
    assert_eq!(resolved.digest, layout.digest);
    assert_eq!(
        found(&findings),
        vec![installation(
            "r",
            "/opt/R/4.2.2/bin/R",
            "4.2.2",
            "/usr/share/R/include/Rversion.h"
        )]
    );
    assert_eq!(findings.notes, Vec::<String>::new());
    Ok(())
}

#[tokio::test]
async fn an_index_resolves_to_amd64_by_default_and_to_arm64_when_asked() -> Result<()> {
    let registry = OciRegistry::start()?;
    let dir = tempfile::tempdir()?;
    let layout = write_layout(
        dir.path(),
        "multi",
        &[
            Image::new("linux/amd64")
                .layer(Layer::new(Compression::GZIP).python("/opt/python/3.11.9", "3.11.9")),
            Image::new("linux/arm64/v8")
                .layer(Layer::new(Compression::GZIP).python("/opt/python/3.12.4", "3.12.4")),
        ],
    )?;
    let reference = push(&layout, &registry, "python:multi")?;
    let reader = reader_for(&registry, DockerConfig::empty())?;

    let (amd64, findings) = examine(&reader, &reference, None).await?;
    assert_eq!(amd64.digest, layout.manifests[0]);
    assert_eq!(amd64.index_digest.as_deref(), Some(layout.digest.as_str()));
    assert_eq!(amd64.platform.to_string(), "linux/amd64");
    assert_eq!(
        found(&findings),
        vec![installation(
            "python",
            "/opt/python/3.11.9/bin/python3",
            "3.11.9",
            "/opt/python/3.11.9/include/python3.11/patchlevel.h"
        )]
    );

    let arm64 = Platform::parse("linux/arm64").map_err(|e| anyhow!(e))?;
    let (resolved, findings) = examine(&reader, &reference, Some(&arm64)).await?;
    assert_eq!(resolved.digest, layout.manifests[1]);
    assert_eq!(
        resolved.index_digest.as_deref(),
        Some(layout.digest.as_str())
    );
    assert_eq!(resolved.platform.to_string(), "linux/arm64/v8");
    assert_eq!(
        found(&findings),
        vec![installation(
            "python",
            "/opt/python/3.12.4/bin/python3",
            "3.12.4",
            "/opt/python/3.12.4/include/python3.12/patchlevel.h"
        )]
    );
    Ok(())
}

#[tokio::test]
async fn gzip_zstd_and_plain_layers_are_all_read() -> Result<()> {
    let registry = OciRegistry::start()?;
    let dir = tempfile::tempdir()?;
    let layout = write_layout(
        dir.path(),
        "1",
        &[Image::new("linux/amd64")
            .layer(Layer::new(Compression::GZIP).r("/opt/R/4.3.1", "4.3.1"))
            .layer(Layer::new(Compression::Zstd).python("/opt/python/3.12.4", "3.12.4"))
            .layer(Layer::new(Compression::None).quarto("/opt/quarto/1.4.550", "1.4.550"))],
    )?;
    let reference = push(&layout, &registry, "mixed:1")?;
    let reader = reader_for(&registry, DockerConfig::empty())?;
    let (resolved, findings) = examine(&reader, &reference, None).await?;
    let media_types: Vec<&str> = resolved
        .layers
        .iter()
        .map(|l| l.media_type.as_str())
        .collect();
    assert_eq!(
        media_types,
        vec![
            "application/vnd.oci.image.layer.v1.tar+gzip",
            "application/vnd.oci.image.layer.v1.tar+zstd",
            "application/vnd.oci.image.layer.v1.tar",
        ]
    );
    assert_eq!(
        found(&findings),
        vec![
            installation(
                "python",
                "/opt/python/3.12.4/bin/python3",
                "3.12.4",
                "/opt/python/3.12.4/include/python3.12/patchlevel.h"
            ),
            installation(
                "r",
                "/opt/R/4.3.1/bin/R",
                "4.3.1",
                "/opt/R/4.3.1/lib/R/include/Rversion.h"
            ),
            installation(
                "quarto",
                "/opt/quarto/1.4.550/bin/quarto",
                "1.4.550",
                "/opt/quarto/1.4.550/share/version"
            ),
        ]
    );
    Ok(())
}

#[tokio::test]
async fn installations_an_upper_layer_deletes_are_not_found() -> Result<()> {
    let registry = OciRegistry::start()?;
    let dir = tempfile::tempdir()?;
    let layout = write_layout(
        dir.path(),
        "1",
        &[Image::new("linux/amd64")
            .layer(
                Layer::new(Compression::GZIP)
                    .python("/opt/python/3.11.9", "3.11.9")
                    .python("/opt/python/3.12.4", "3.12.4")
                    .r("/opt/R/4.3.1", "4.3.1"),
            )
            // A whiteout deletes one Python; an opaque /opt/R hides the lower R, keeps the new one.
            .layer(
                Layer::new(Compression::GZIP)
                    .whiteout("/opt/python/3.11.9")
                    .opaque("/opt/R")
                    .r("/opt/R/4.4.0", "4.4.0"),
            )],
    )?;
    let reference = push(&layout, &registry, "deleted:1")?;
    let reader = reader_for(&registry, DockerConfig::empty())?;
    let (_, findings) = examine(&reader, &reference, None).await?;
    assert_eq!(
        found(&findings),
        vec![
            installation(
                "python",
                "/opt/python/3.12.4/bin/python3",
                "3.12.4",
                "/opt/python/3.12.4/include/python3.12/patchlevel.h"
            ),
            installation(
                "r",
                "/opt/R/4.4.0/bin/R",
                "4.4.0",
                "/opt/R/4.4.0/lib/R/include/Rversion.h"
            ),
        ]
    );
    Ok(())
}

#[tokio::test]
async fn a_symlinked_minor_folder_is_an_alias_that_suggestions_leave_out() -> Result<()> {
    let registry = OciRegistry::start()?;
    let dir = tempfile::tempdir()?;
    let layout = write_layout(
        dir.path(),
        "3.11",
        &[Image::new("linux/amd64").layer(
            Layer::new(Compression::GZIP)
                .python("/opt/python/3.11.9", "3.11.9")
                .symlink("/opt/python/3.11", "3.11.9"),
        )],
    )?;
    let reference = push(&layout, &registry, "python:3.11")?;
    let reader = reader_for(&registry, DockerConfig::empty())?;
    let (_, findings) = examine(&reader, &reference, None).await?;
    let file = "/opt/python/3.11.9/include/python3.11/patchlevel.h";
    assert_eq!(
        found(&findings),
        vec![
            (
                "python",
                "/opt/python/3.11/bin/python3".to_string(),
                Some("3.11.9".to_string()),
                Some(file.to_string()),
                Some("/opt/python/3.11.9/bin/python3".to_string()),
            ),
            installation("python", "/opt/python/3.11.9/bin/python3", "3.11.9", file),
        ]
    );
    let spec = suggest_spec(&reference, &findings);
    assert_eq!(
        spec.python,
        vec![Installation {
            version: "3.11.9".to_string(),
            path: "/opt/python/3.11.9/bin/python3".to_string(),
        }]
    );
    assert_eq!(spec.title.as_deref(), Some("python:3.11 (Python 3.11.9)"));
    Ok(())
}

#[tokio::test]
async fn an_image_without_installations_says_where_it_looked() -> Result<()> {
    let registry = OciRegistry::start()?;
    let dir = tempfile::tempdir()?;
    let layout = write_layout(
        dir.path(),
        "1",
        &[Image::new("linux/amd64").layer(
            Layer::new(Compression::GZIP)
                .file("/etc/os-release", "ID=test\n")
                .dir("/opt/python/3.11.9/include"),
        )],
    )?;
    let reference = push(&layout, &registry, "empty:1")?;
    let reader = reader_for(&registry, DockerConfig::empty())?;
    let (_, findings) = examine(&reader, &reference, None).await?;
    assert_eq!(found(&findings), Vec::<Found>::new());
    assert_eq!(
        findings.notes,
        vec![
            "no Python, R or Quarto installation in the image: looked for bin/python3 (or bin/python), bin/R and bin/quarto in /opt/python, /opt/local/python, /opt/R, /opt/local/R, /opt/quarto, /opt/local/quarto and in each folder directly under them"
        ]
    );
    Ok(())
}

#[tokio::test]
async fn htpasswd_credentials_from_the_docker_config_read_the_image_over_tls() -> Result<()> {
    let registry = OciRegistry::start_with_auth("alice", "s3cret")?;
    let dir = tempfile::tempdir()?;
    let reference = push(&python_layout(dir.path())?, &registry, "python:3.11")?;
    let config = DockerConfig::parse(registry.docker_config("alice", "s3cret").as_bytes())
        .map_err(|e| anyhow!(e))?;
    let reader = reader_for(&registry, config)?;
    let (_, findings) = examine(&reader, &reference, None).await?;
    assert_eq!(
        found(&findings),
        vec![installation(
            "python",
            "/opt/python/3.11.9/bin/python3",
            "3.11.9",
            "/opt/python/3.11.9/include/python3.11/patchlevel.h"
        )]
    );
    Ok(())
}

#[tokio::test]
async fn a_wrong_password_is_unauthorized_after_at_most_two_requests() -> Result<()> {
    let registry = OciRegistry::start_with_auth("alice", "s3cret")?;
    let dir = tempfile::tempdir()?;
    let reference = push(&python_layout(dir.path())?, &registry, "python:3.11")?;
    let config = DockerConfig::parse(registry.docker_config("alice", "wrong").as_bytes())
        .map_err(|e| anyhow!(e))?;
    let reader = reader_for(&registry, config)?;
    let before = registry.requests().len();
    let error = resolve_error(&reader, &reference).await?;
    assert_eq!(error.kind, UnreadableKind::Unauthorized);
    let host = registry.host();
    assert_eq!(
        error.message,
        format!(
            "cannot read {host}/python:3.11: the registry {host} refused the credentials for user alice from the Docker config; correct them in the Docker config (examiner.docker_config)"
        )
    );
    let requests = registry.requests();
    let these = &requests[before..];
    let listed: Vec<String> = these.iter().map(ToString::to_string).collect();
    execenv_e2e::log_line!("a wrong password: the registry logged {listed:?}");
    assert!(
        (1..=2).contains(&these.len()) && these.iter().all(|r| r.status == 401),
        "the reader should give up after the registry refused the credentials, without retrying; it sent: {listed:#?}"
    );
    Ok(())
}

#[tokio::test]
async fn no_credentials_for_a_registry_that_requires_them_is_unauthorized() -> Result<()> {
    let registry = OciRegistry::start_with_auth("alice", "s3cret")?;
    let dir = tempfile::tempdir()?;
    let reference = push(&python_layout(dir.path())?, &registry, "python:3.11")?;
    let reader = reader_for(&registry, DockerConfig::empty())?;
    let error = resolve_error(&reader, &reference).await?;
    assert_eq!(error.kind, UnreadableKind::Unauthorized);
    let host = registry.host();
    assert_eq!(
        error.message,
        format!(
            "cannot read {host}/python:3.11: the registry {host} requires credentials and none are configured for {host}; add them to the Docker config (examiner.docker_config)"
        )
    );
    Ok(())
}

#[tokio::test]
async fn a_missing_tag_is_not_found() -> Result<()> {
    let registry = OciRegistry::start()?;
    let dir = tempfile::tempdir()?;
    push(&python_layout(dir.path())?, &registry, "python:3.11")?;
    let reader = reader_for(&registry, DockerConfig::empty())?;
    let host = registry.host();
    for missing in ["python:3.99", "nothing-here:1"] {
        let reference = format!("{host}/{missing}");
        let error = resolve_error(&reader, &reference).await?;
        assert_eq!(error.kind, UnreadableKind::NotFound, "{error}");
        assert_eq!(
            error.message,
            format!("{reference} was not found in {host}: no such repository or tag")
        );
    }
    Ok(())
}

#[tokio::test]
async fn a_closed_port_is_unreachable() -> Result<()> {
    // A port that was free a moment ago: nothing listens there.
    let host = format!("127.0.0.1:{}", execenv_e2e::free_port()?);
    let reader = ImageReader::new(ReaderOptions {
        insecure_registries: vec![host.clone()],
        ..ReaderOptions::default()
    })
    .map_err(|e| anyhow!("{e}"))?;
    let reference = format!("{host}/python:3.11");
    let error = resolve_error(&reader, &reference).await?;
    assert_eq!(error.kind, UnreadableKind::Unreachable, "{error}");
    let prefix = format!("cannot reach the registry {host}: ");
    assert!(
        error.message.starts_with(&prefix) && error.message.contains("Connection refused"),
        "{}",
        error.message
    );
    assert!(
        error.message.contains(&format!("(reading {reference})")),
        "{}",
        error.message
    );
    Ok(())
}
