//! A launch's `output.log` as a stream of chunks. Following, the reader wakes up on every change of
//! the launch in the table and at a short pace, and ends once the launch is final and the file is
//! drained (the state is read before the last drain, so nothing written before the end is lost).

use std::io::ErrorKind as IoErrorKind;
use std::path::PathBuf;
use std::time::Duration;

use execenv_core::Error;
use futures::StreamExt;
use tokio::fs::File;
use tokio::io::AsyncReadExt;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::mpsc;

use crate::launch::{Launch, LogStream};
use crate::table::Launches;

/// The largest chunk sent at once.
const CHUNK: usize = 64 * 1024;
/// How often a follower looks for new output when nothing else wakes it.
const PACE: Duration = Duration::from_millis(200);

type Sender = mpsc::Sender<Result<Vec<u8>, Error>>;

/// The output of launch `id` in `path`; with `follow`, until the launch is final. A file that does
/// not exist (the launch never started) is an empty stream.
pub fn stream(path: PathBuf, id: String, launches: Launches, follow: bool) -> LogStream {
    let (tx, rx) = mpsc::channel(8);
    tokio::spawn(async move {
        // Subscribed before the first read, so no change falls in between.
        let events = launches.subscribe();
        let reader = Reader {
            path,
            id,
            launches,
            follow,
            tx: tx.clone(),
        };
        if let Err(e) = reader.pump(events).await {
            let _ = tx.send(Err(e)).await;
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx).boxed()
}

struct Reader {
    path: PathBuf,
    id: String,
    launches: Launches,
    follow: bool,
    tx: Sender,
}

impl Reader {
    async fn pump(&self, mut events: broadcast::Receiver<Launch>) -> Result<(), Error> {
        let mut file: Option<File> = None;
        let mut buffer = vec![0; CHUNK];
        let mut pace = tokio::time::interval(PACE);
        loop {
            let finished = !self.follow
                || self
                    .launches
                    .get(&self.id)
                    .is_none_or(|l| l.state.is_terminal());
            if file.is_none() {
                file = self.open().await?;
            }
            if let Some(file) = file.as_mut() {
                loop {
                    let n = file.read(&mut buffer).await.map_err(|e| self.failed(e))?;
                    if n == 0 {
                        break;
                    }
                    if self.tx.send(Ok(buffer[..n].to_vec())).await.is_err() {
                        return Ok(());
                    }
                }
            }
            if finished {
                return Ok(());
            }
            tokio::select! {
                () = self.changed(&mut events) => {}
                _ = pace.tick() => {}
                () = self.tx.closed() => return Ok(()),
            }
        }
    }

    async fn open(&self) -> Result<Option<File>, Error> {
        match File::open(&self.path).await {
            Ok(file) => Ok(Some(file)),
            Err(e) if e.kind() == IoErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.failed(e)),
        }
    }

    /// Resolves on the next change of this launch (or when changes may have been missed).
    async fn changed(&self, events: &mut broadcast::Receiver<Launch>) {
        loop {
            match events.recv().await {
                Ok(l) if l.id != self.id => {}
                Ok(_) | Err(RecvError::Lagged(_)) => return,
                // The table is gone: only the pace wakes the reader from now on.
                Err(RecvError::Closed) => std::future::pending::<()>().await,
            }
        }
    }

    fn failed(&self, e: std::io::Error) -> Error {
        Error::internal(format!(
            "cannot read the launch's log {}: {e}",
            self.path.display()
        ))
    }
}
