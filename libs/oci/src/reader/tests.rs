//! What the reader decides before and without a registry: options, references, media types,
//! and registries that cannot be reached (a closed loopback port, a listener that never answers).

use std::time::Duration;

use execenv_core::examine::UnreadableKind;

use super::*;

fn reader(timeout: Duration) -> ImageReader {
    ImageReader::new(ReaderOptions {
        insecure_registries: vec!["127.0.0.1".to_string()],
        timeout,
        ..ReaderOptions::default()
    })
    .expect("a reader")
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    listener.local_addr().expect("its address").port()
}

#[test]
fn options_default_to_linux_amd64_anonymous_and_30_seconds() {
    let o = ReaderOptions::default();
    assert_eq!(o.platform, Platform::linux_amd64());
    assert!(o.credentials.hosts().is_empty());
    assert!(o.insecure_registries.is_empty());
    assert!(o.ca_files.is_empty());
    assert_eq!(o.timeout, Duration::from_secs(30));
}

#[test]
fn a_missing_or_empty_ca_file_is_invalid() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("absent.pem");
    let err = ImageReader::new(ReaderOptions {
        ca_files: vec![missing.clone()],
        ..ReaderOptions::default()
    })
    .err()
    .expect("refused");
    assert_eq!(err.kind, UnreadableKind::Invalid);
    assert!(
        err.message
            .starts_with(&format!("cannot read the CA file {}: ", missing.display())),
        "{}",
        err.message
    );
    assert!(
        err.message.ends_with("; fix examiner.ca_files"),
        "{}",
        err.message
    );

    let not_pem = dir.path().join("ca.pem");
    std::fs::write(&not_pem, b"hello").expect("write");
    let err = ImageReader::new(ReaderOptions {
        ca_files: vec![not_pem.clone()],
        ..ReaderOptions::default()
    })
    .err()
    .expect("refused");
    assert_eq!(err.kind, UnreadableKind::Invalid);
    assert_eq!(
        err.message,
        format!(
            "the CA file {} holds no PEM certificate (-----BEGIN CERTIFICATE-----); fix examiner.ca_files",
            not_pem.display()
        )
    );

    let garbage = dir.path().join("garbage.pem");
    std::fs::write(
        &garbage,
        b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
    )
    .expect("write");
    let err = ImageReader::new(ReaderOptions {
        ca_files: vec![garbage],
        ..ReaderOptions::default()
    })
    .err()
    .expect("refused");
    assert_eq!(err.kind, UnreadableKind::Invalid);
    assert!(
        err.message
            .starts_with("cannot set up the registry client: "),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn a_malformed_reference_is_invalid() {
    let err = reader(Duration::from_secs(5))
        .resolve("Not A/Reference!!", None)
        .await
        .expect_err("refused");
    assert_eq!(err.kind, UnreadableKind::Invalid);
    assert!(
        err.message
            .starts_with("\"Not A/Reference!!\" is not an image reference ("),
        "{}",
        err.message
    );
    assert!(
        err.message
            .ends_with("); write it like registry.example.com/team/python:3.11 or with @sha256:…"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn a_closed_port_is_unreachable() {
    let port = closed_port();
    let reference = format!("127.0.0.1:{port}/python:3.11");
    let r = ImageReader::new(ReaderOptions {
        insecure_registries: vec![format!("127.0.0.1:{port}")],
        ..ReaderOptions::default()
    })
    .expect("a reader");
    let err = r.resolve(&reference, None).await.expect_err("refused");
    assert_eq!(err.kind, UnreadableKind::Unreachable);
    assert_eq!(
        err.message,
        format!(
            "cannot reach the registry 127.0.0.1:{port}: Connection refused (os error 111) (reading {reference}); check that it is up and that the reference names it right (a registry that speaks plain HTTP must be listed in examiner.insecure_registries)"
        )
    );
}

#[tokio::test]
async fn a_registry_that_never_answers_is_unreachable_after_the_timeout() {
    // Connections are accepted by the kernel into the backlog; nothing ever answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let port = listener.local_addr().expect("its address").port();
    let r = ImageReader::new(ReaderOptions {
        insecure_registries: vec![format!("127.0.0.1:{port}")],
        timeout: Duration::from_millis(300),
        ..ReaderOptions::default()
    })
    .expect("a reader");
    let err = r
        .resolve(&format!("127.0.0.1:{port}/python:3.11"), None)
        .await
        .expect_err("no answer");
    assert_eq!(err.kind, UnreadableKind::Unreachable);
    assert!(
        err.message.starts_with(&format!(
            "cannot reach the registry 127.0.0.1:{port}: no answer in time ("
        )),
        "{}",
        err.message
    );
    drop(listener);
}

#[tokio::test]
async fn a_layer_of_an_unknown_media_type_is_invalid_before_anything_is_downloaded() {
    // The registry's port is closed: any request would make the error Unreachable.
    let port = closed_port();
    let resolved = Resolved {
        reference: format!("127.0.0.1:{port}/app:1"),
        digest: "sha256:00".to_string(),
        index_digest: None,
        platform: Platform::linux_amd64(),
        layers: vec![
            LayerInfo {
                digest: "sha256:11".to_string(),
                media_type: "application/vnd.oci.image.layer.v1.tar+gzip".to_string(),
                size: 10,
            },
            LayerInfo {
                digest: "sha256:22".to_string(),
                media_type: "application/vnd.wasm.content.layer.v1+wasm".to_string(),
                size: 10,
            },
        ],
    };
    let err = reader(Duration::from_secs(5))
        .read_tree(&resolved)
        .await
        .expect_err("refused");
    assert_eq!(err.kind, UnreadableKind::Invalid);
    assert_eq!(
        err.message,
        format!(
            "layer sha256:22 of 127.0.0.1:{port}/app:1 has the media type application/vnd.wasm.content.layer.v1+wasm, which is not an image layer (a tar, plain or compressed with gzip or zstd)"
        )
    );
}

#[test]
fn readers_are_shared_between_tasks_and_their_calls_can_be_spawned() {
    fn shared<T: Send + Sync + Clone>(_: &T) {}
    fn spawnable<F: std::future::Future + Send>(_: F) {}
    let r = reader(Duration::from_secs(5));
    shared(&r);
    let resolved = Resolved {
        reference: "127.0.0.1:1/app:1".to_string(),
        digest: "sha256:00".to_string(),
        index_digest: None,
        platform: Platform::linux_amd64(),
        layers: vec![],
    };
    // Built, never polled: what matters is that they compile as Send.
    spawnable(r.resolve("127.0.0.1:1/app:1", None));
    spawnable(r.read_tree(&resolved));
}
