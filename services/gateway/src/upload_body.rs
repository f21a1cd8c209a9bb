//! A request body read by blocking code (the unpacker runs on a blocking thread): a pump task
//! reads the body and hands its pieces through a small channel to a [`BodyReader`]. The pump
//! counts the bytes (TooLarge past the limit), gives up on a client that sends nothing for
//! [`IDLE_TIMEOUT`], and stops as soon as the reader is gone — so a refused upload is not read
//! to its end, and at most [`IN_FLIGHT`] pieces are held at once.

use std::io::{self, Read};
use std::time::Duration;

use axum::body::{Body, Bytes};
use execenv_core::{Error, ErrorKind};
use futures::StreamExt;
use tokio::sync::mpsc;

use crate::bundle_archive::carry;

/// Longest wait for the next piece of an upload.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Pieces of the body in the channel at most.
const IN_FLIGHT: usize = 4;

/// The body as a blocking reader, and the pump that feeds it (to be polled until the reader is
/// done with it).
pub fn reader(body: Body, max_bytes: u64) -> (BodyReader, impl Future<Output = ()> + Send) {
    let (tx, rx) = mpsc::channel(IN_FLIGHT);
    (
        BodyReader {
            rx,
            piece: Bytes::new(),
        },
        pump(body, tx, max_bytes),
    )
}

/// Runs the blocking `work` on a body reader while `pump` feeds it; `work`'s answer. The pump
/// is dropped (and the body with it) as soon as `work` returns.
pub async fn drive<T: Send + 'static>(
    pump: impl Future<Output = ()>,
    work: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    let work = tokio::task::spawn_blocking(work);
    tokio::pin!(work);
    tokio::pin!(pump);
    let mut pumping = true;
    loop {
        tokio::select! {
            done = &mut work => {
                return done.map_err(|e| Error::internal(format!("the upload's worker failed: {e}")))?;
            }
            () = &mut pump, if pumping => pumping = false,
        }
    }
}

async fn pump(body: Body, tx: mpsc::Sender<Result<Bytes, Error>>, max_bytes: u64) {
    let mut stream = body.into_data_stream();
    let mut total: u64 = 0;
    loop {
        let next = tokio::select! {
            next = tokio::time::timeout(IDLE_TIMEOUT, stream.next()) => next,
            () = tx.closed() => return,
        };
        let piece = match next {
            Ok(Some(Ok(piece))) => piece,
            Ok(None) => return,
            Ok(Some(Err(e))) => {
                let _ = tx.send(Err(broke_off(&e.to_string()))).await;
                return;
            }
            Err(_) => {
                let why = format!("no data came for {} s", IDLE_TIMEOUT.as_secs());
                let _ = tx.send(Err(broke_off(&why))).await;
                return;
            }
        };
        total += piece.len() as u64;
        if total > max_bytes {
            let _ = tx.send(Err(too_large(max_bytes))).await;
            return;
        }
        if tx.send(Ok(piece)).await.is_err() {
            return;
        }
    }
}

/// The answer to an upload whose body is over `max_bytes`.
pub fn too_large(max_bytes: u64) -> Error {
    Error::new(
        ErrorKind::TooLarge,
        format!(
            "the upload is larger than {max_bytes} bytes, the most this gateway accepts \
             (EXECENV_BUNDLES__MAX_UPLOAD_BYTES)"
        ),
    )
}

fn broke_off(why: &str) -> Error {
    Error::new(
        ErrorKind::InvalidArgument,
        format!("the upload broke off before its end: {why}"),
    )
}

/// The body's bytes, read on a blocking thread; a failure of the body is an io::Error carrying
/// its [`Error`].
pub struct BodyReader {
    rx: mpsc::Receiver<Result<Bytes, Error>>,
    piece: Bytes,
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.piece.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(piece)) => self.piece = piece,
                Some(Err(e)) => return Err(carry(e)),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.piece.len());
        buf[..n].copy_from_slice(&self.piece.split_to(n));
        Ok(n)
    }
}
