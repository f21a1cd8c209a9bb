//! One layer from the registry's byte stream into the tree, in bounded memory.
//!
//! The download is async and the decoders and the tar reader are synchronous `Read`ers, so the
//! two meet at a bounded channel: the async side forwards each chunk as it arrives and waits
//! when [`CHUNKS_IN_FLIGHT`] are queued; a blocking task reads the chunks through the
//! decompressor into [`ImageTree::apply_layer`]. At no point is a layer held whole.

use std::io::{self, Read};

use bytes::{Buf, Bytes};
use futures::{Stream, StreamExt};
use tokio::sync::mpsc;

use crate::tree::ImageTree;

/// Chunks queued between the download and the tar reader (each at most what one socket read
/// gave, tens of KiB).
const CHUNKS_IN_FLIGHT: usize = 16;

/// How a layer's tar is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    /// The compression a layer media type says: OCI's (distributable or not) and Docker's.
    /// None for media types that are not tar layers.
    pub(crate) fn of(media_type: &str) -> Option<Compression> {
        match media_type {
            "application/vnd.oci.image.layer.v1.tar"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar"
            | "application/vnd.docker.image.rootfs.diff.tar" => Some(Compression::None),
            "application/vnd.oci.image.layer.v1.tar+gzip"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
            | "application/vnd.docker.image.rootfs.diff.tar.gzip"
            | "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => {
                Some(Compression::Gzip)
            }
            "application/vnd.oci.image.layer.v1.tar+zstd"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
            | "application/vnd.docker.image.rootfs.diff.tar.zstd" => Some(Compression::Zstd),
            _ => None,
        }
    }
}

/// Why a layer could not be applied.
#[derive(Debug)]
pub(crate) enum LayerFailure {
    /// The byte stream failed: the connection, or the digest check at its end.
    Stream(io::Error),
    /// The bytes are not a valid compressed tar (the message says which part).
    Layer(String),
}

/// Streams `stream` (one layer's bytes, as the registry serves them) through the decompressor
/// for `compression` into `tree`, and reads it to its end so that a digest check at the end of
/// the stream is seen. The tree is moved to a blocking task and back.
pub(crate) async fn apply_stream<S>(
    tree: ImageTree,
    compression: Compression,
    mut stream: S,
) -> Result<ImageTree, LayerFailure>
where
    S: Stream<Item = io::Result<Bytes>> + Unpin,
{
    let (tx, rx) = mpsc::channel(CHUNKS_IN_FLIGHT);
    let worker = tokio::task::spawn_blocking(move || {
        let mut tree = tree;
        let mut raw = ChannelReader {
            rx,
            chunk: Bytes::new(),
            failure: None,
        };
        let applied = apply_decoded(&mut tree, compression, &mut raw);
        (tree, applied, raw.failure)
    });
    while let Some(item) = stream.next().await {
        let failed = item.is_err();
        // A closed channel: the reader stopped on an error it reports below.
        if tx.send(item).await.is_err() || failed {
            break;
        }
    }
    drop(tx);
    let (tree, applied, failure) = worker
        .await
        .map_err(|e| LayerFailure::Layer(format!("the layer reader stopped: {e}")))?;
    if let Some(e) = failure {
        return Err(LayerFailure::Stream(e));
    }
    applied.map_err(LayerFailure::Layer)?;
    Ok(tree)
}

/// Decompresses `raw` into `tree`, then reads what is left of both to their ends.
fn apply_decoded(
    tree: &mut ImageTree,
    compression: Compression,
    raw: &mut ChannelReader,
) -> Result<(), String> {
    match compression {
        Compression::None => {
            tree.apply_layer(&mut *raw)?;
        }
        Compression::Gzip => {
            let mut decoded = Watched::new(flate2::read::MultiGzDecoder::new(&mut *raw));
            apply_watched(tree, &mut decoded, "gzip")?;
        }
        Compression::Zstd => {
            let decoder = zstd::stream::read::Decoder::new(&mut *raw)
                .map_err(|e| format!("the layer's zstd decoder cannot start: {e}"))?;
            let mut decoded = Watched::new(decoder);
            apply_watched(tree, &mut decoded, "zstd")?;
        }
    }
    io::copy(raw, &mut io::sink()).map_err(|e| format!("the layer cannot be read: {e}"))?;
    Ok(())
}

/// Applies a decompressed layer, blaming the decompressor when it is what failed.
fn apply_watched<R: Read>(
    tree: &mut ImageTree,
    decoded: &mut Watched<R>,
    format: &str,
) -> Result<(), String> {
    let applied = tree.apply_layer(&mut *decoded).and_then(|()| {
        io::copy(decoded, &mut io::sink())
            .map(drop)
            .map_err(|e| e.to_string())
    });
    match (applied, &decoded.failure) {
        (_, Some(cause)) => Err(format!("the layer's {format} data is corrupt: {cause}")),
        (Err(e), None) => Err(e),
        (Ok(()), None) => Ok(()),
    }
}

/// The synchronous end of the channel: a `Read` over the chunks the download forwards.
struct ChannelReader {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    chunk: Bytes,
    /// The stream's own error, kept whole for classification (readers above only see a copy).
    failure: Option<io::Error>,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.chunk.is_empty() {
            if let Some(e) = &self.failure {
                return Err(io::Error::new(e.kind(), e.to_string()));
            }
            match self.rx.blocking_recv() {
                Some(Ok(bytes)) => self.chunk = bytes,
                Some(Err(e)) => self.failure = Some(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk[..n]);
        self.chunk.advance(n);
        Ok(n)
    }
}

/// A decompressor whose first error is remembered, to tell corrupt compressed data from a
/// corrupt tar inside valid compressed data.
struct Watched<R> {
    inner: R,
    failure: Option<String>,
}

impl<R> Watched<R> {
    fn new(inner: R) -> Self {
        Watched {
            inner,
            failure: None,
        }
    }
}

impl<R: Read> Read for Watched<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).inspect_err(|e| {
            if self.failure.is_none() {
                self.failure = Some(e.to_string());
            }
        })
    }
}

#[cfg(test)]
mod tests;
