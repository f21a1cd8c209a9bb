//! Layers streamed through the bounded channel and the decompressors, as `read_tree` streams a
//! registry's blobs: plain, gzip and zstd, corrupt data, stream failures, and 200 MB.

use std::io::{self, Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use execenv_core::examine::{Content, ImageFiles};
use futures::Stream;

use super::*;
use crate::tree::tests::{GeneratedLayer, Layer};

const PATCHLEVEL: &str = "/opt/python/3.11.2/include/python3.11/patchlevel.h";

fn python_layer() -> Vec<u8> {
    Layer::new()
        .exe("opt/python/3.11.2/bin/python3")
        .file(
            "opt/python/3.11.2/include/python3.11/patchlevel.h",
            "#define PY_VERSION \"3.11.2\"\n",
        )
        .file("opt/python/3.11.2/lib/big.py", &"x = 1\n".repeat(50_000))
        .tar()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).expect("gzip");
    encoder.finish().expect("gzip")
}

fn zstd(bytes: &[u8]) -> Vec<u8> {
    zstd::stream::encode_all(bytes, 3).expect("zstd")
}

/// `bytes` as a registry's stream: chunks of 1000 bytes.
fn chunked(bytes: Vec<u8>) -> impl Stream<Item = io::Result<Bytes>> + Unpin {
    let chunks: Vec<io::Result<Bytes>> = bytes
        .chunks(1000)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    futures::stream::iter(chunks)
}

fn layer_error(result: Result<ImageTree, LayerFailure>) -> String {
    match result {
        Err(LayerFailure::Layer(message)) => message,
        Err(LayerFailure::Stream(e)) => panic!("a stream failure: {e}"),
        Ok(_) => panic!("applied"),
    }
}

#[test]
fn media_types_say_the_compression() {
    let cases = [
        (
            "application/vnd.oci.image.layer.v1.tar",
            Some(Compression::None),
        ),
        (
            "application/vnd.oci.image.layer.v1.tar+gzip",
            Some(Compression::Gzip),
        ),
        (
            "application/vnd.oci.image.layer.v1.tar+zstd",
            Some(Compression::Zstd),
        ),
        (
            "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
            Some(Compression::Gzip),
        ),
        (
            "application/vnd.docker.image.rootfs.diff.tar",
            Some(Compression::None),
        ),
        (
            "application/vnd.docker.image.rootfs.diff.tar.gzip",
            Some(Compression::Gzip),
        ),
        (
            "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
            Some(Compression::Gzip),
        ),
        ("application/vnd.oci.image.config.v1+json", None),
        ("application/vnd.wasm.content.layer.v1+wasm", None),
    ];
    for (media_type, expected) in cases {
        assert_eq!(Compression::of(media_type), expected, "{media_type}");
    }
}

#[tokio::test]
async fn plain_gzip_and_zstd_layers_are_decoded_into_the_tree() {
    let tar = python_layer();
    for (compression, bytes) in [
        (Compression::None, tar.clone()),
        (Compression::Gzip, gzip(&tar)),
        (Compression::Zstd, zstd(&tar)),
    ] {
        let tree = apply_stream(ImageTree::new(), compression, chunked(bytes))
            .await
            .unwrap_or_else(|_| panic!("{compression:?} applies"));
        assert_eq!(
            tree.content(PATCHLEVEL),
            Content::Bytes(b"#define PY_VERSION \"3.11.2\"\n"),
            "{compression:?}"
        );
        assert_eq!(tree.entries(), 10, "{compression:?}");
    }
}

#[tokio::test]
async fn layers_apply_over_the_tree_they_are_given() {
    let lower = gzip(&python_layer());
    let upper = zstd(&Layer::new().whiteout("opt/python/3.11.2/lib").tar());
    let tree = apply_stream(ImageTree::new(), Compression::Gzip, chunked(lower))
        .await
        .unwrap_or_else(|_| panic!("the lower layer applies"));
    let tree = apply_stream(tree, Compression::Zstd, chunked(upper))
        .await
        .unwrap_or_else(|_| panic!("the upper layer applies"));
    assert_eq!(
        tree.list("/opt/python/3.11.2"),
        Some(vec!["bin".to_string(), "include".to_string()])
    );
}

#[tokio::test]
async fn corrupt_compressed_data_is_blamed_on_its_compression() {
    let mut bad_gzip = gzip(&python_layer());
    let middle = bad_gzip.len() / 2;
    bad_gzip[middle..middle + 64].fill(0xff);
    let message =
        layer_error(apply_stream(ImageTree::new(), Compression::Gzip, chunked(bad_gzip)).await);
    assert!(
        message.starts_with("the layer's gzip data is corrupt: "),
        "{message}"
    );

    let message = layer_error(
        apply_stream(
            ImageTree::new(),
            Compression::Zstd,
            chunked(b"this is not zstd at all".to_vec()),
        )
        .await,
    );
    assert!(
        message.starts_with("the layer's zstd data is corrupt: "),
        "{message}"
    );

    // Valid gzip around something that is not a tar: the tar is to blame.
    let mut not_tar = vec![0x41u8; 2048];
    not_tar[700] = 0;
    let message = layer_error(
        apply_stream(ImageTree::new(), Compression::Gzip, chunked(gzip(&not_tar))).await,
    );
    assert!(
        message.starts_with("the layer is not a valid tar archive: "),
        "{message}"
    );
}

#[tokio::test]
async fn a_failure_at_the_end_of_the_stream_is_seen_after_a_complete_tar() {
    // As oci-client reports a digest mismatch: an error item after the last chunk.
    let tar = python_layer();
    let mut items: Vec<io::Result<Bytes>> = vec![Ok(Bytes::from(tar))];
    items.push(Err(io::Error::other(
        oci_client::errors::DigestError::VerificationError {
            expected: "sha256:aa".to_string(),
            actual: "sha256:bb".to_string(),
        },
    )));
    match apply_stream(
        ImageTree::new(),
        Compression::None,
        futures::stream::iter(items),
    )
    .await
    {
        Err(LayerFailure::Stream(e)) => {
            let inner = e.get_ref().expect("the original error");
            assert_eq!(
                inner.to_string(),
                "Invalid digest. Expected sha256:aa, got sha256:bb"
            );
            assert!(inner.is::<oci_client::errors::DigestError>());
        }
        Err(LayerFailure::Layer(message)) => panic!("a layer failure: {message}"),
        Ok(_) => panic!("the failure was missed"),
    }
}

#[tokio::test]
async fn a_connection_lost_in_the_middle_is_a_stream_failure() {
    let tar = gzip(&python_layer());
    let items: Vec<io::Result<Bytes>> = vec![
        Ok(Bytes::copy_from_slice(&tar[..tar.len() / 2])),
        Err(io::Error::new(
            io::ErrorKind::ConnectionReset,
            "connection reset",
        )),
    ];
    match apply_stream(
        ImageTree::new(),
        Compression::Gzip,
        futures::stream::iter(items),
    )
    .await
    {
        Err(LayerFailure::Stream(e)) => {
            assert_eq!(e.kind(), io::ErrorKind::ConnectionReset);
            assert_eq!(e.to_string(), "connection reset");
        }
        Err(LayerFailure::Layer(message)) => panic!("a layer failure: {message}"),
        Ok(_) => panic!("the failure was missed"),
    }
}

#[tokio::test]
async fn a_200_mb_layer_streams_through_the_channel_with_a_small_tree() {
    const CHUNK: usize = 64 * 1024;
    let produced = Arc::new(AtomicU64::new(0));
    let counter = produced.clone();
    let mut generated = GeneratedLayer::new(200, 1024 * 1024);
    let chunks = std::iter::from_fn(move || {
        let mut buf = vec![0u8; CHUNK];
        let n = generated.read(&mut buf).ok()?;
        counter.store(generated.produced, Ordering::SeqCst);
        (n > 0).then(|| {
            buf.truncate(n);
            Ok(Bytes::from(buf))
        })
    });
    let tree = apply_stream(
        ImageTree::new(),
        Compression::None,
        futures::stream::iter(chunks),
    )
    .await
    .unwrap_or_else(|_| panic!("the layer applies"));
    // Every byte, the second end block included: the stream is read to its end.
    assert_eq!(produced.load(Ordering::SeqCst), 209_819_648);
    assert_eq!(tree.entries(), 207);
    assert!(
        tree.approximate_bytes() < 64 * 1024,
        "the tree takes {} bytes",
        tree.approximate_bytes()
    );
    assert_eq!(
        tree.content(PATCHLEVEL),
        Content::Bytes(b"#define PY_VERSION \"3.11.2\"\n")
    );
}
