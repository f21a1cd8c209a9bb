//! Change detection for the declarative file: "maybe changed" ticks from a notify watch of the
//! file's folder (debounced) and from polling every `poll_interval`, which is the source of truth.
//!
//! The folder is watched, not the file, because the file is often replaced rather than edited: by
//! an editor's rename, or by the kubelet swapping the `..data` symlink of a ConfigMap mount. Polling
//! catches whatever the watch misses (network file systems, a folder that was recreated). A tick
//! says only that the file may have changed; the sync loop reads it and compares digests.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use execenv_kit::shutdown::Shutdown;
use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};

/// Why a tick was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tick {
    /// Something happened in the file's folder.
    Event,
    /// The poll interval elapsed.
    Poll,
}

/// How the file is watched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchOptions {
    /// Poll the file this often, whatever the watch reports.
    pub poll_interval: Duration,
    /// After a folder event, wait this long for the burst of events of one update to end.
    pub debounce: Duration,
    /// Use the operating system's notifications; off, only polling detects changes.
    pub notify: bool,
}

/// The ticks of one watched file; dropping it stops the watch.
pub struct FileWatch {
    ticks: mpsc::Receiver<Tick>,
    // Kept alive: dropping the watcher ends the notifications.
    _watcher: Option<RecommendedWatcher>,
}

impl FileWatch {
    /// The next tick; `None` once shut down.
    pub async fn next(&mut self) -> Option<Tick> {
        self.ticks.recv().await
    }
}

/// Starts watching `file` until `shutdown`. A folder that cannot be watched is logged and left
/// to polling; watching never fails.
pub fn watch(file: &Path, options: WatchOptions, shutdown: Shutdown) -> FileWatch {
    // Capacity 1: a pending tick already says "look again", so further ones are dropped.
    let (tick_tx, tick_rx) = mpsc::channel(1);
    let (event_tx, event_rx) = mpsc::channel(1);
    let watcher = if options.notify {
        watch_folder(file, event_tx)
    } else {
        None
    };
    tokio::spawn(run(options, event_rx, tick_tx, shutdown));
    FileWatch {
        ticks: tick_rx,
        _watcher: watcher,
    }
}

/// The folder holding `file` (`.` for a bare file name).
fn folder_of(file: &Path) -> PathBuf {
    match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    }
}

fn watch_folder(file: &Path, events: mpsc::Sender<()>) -> Option<RecommendedWatcher> {
    let folder = folder_of(file);
    let name = file.file_name().map(OsStr::to_owned).unwrap_or_default();
    let handler = move |result: notify::Result<notify::Event>| match result {
        Ok(event) if is_change(&event.kind) && concerns(&name, &event.paths) => {
            // Full means an event is already pending; that one covers this.
            let _ = events.try_send(());
        }
        Ok(_) => {}
        Err(e) => tracing::debug!(error = %e, "file watch error; polling continues"),
    };
    let watcher = notify::recommended_watcher(handler).and_then(|mut w| {
        w.watch(&folder, RecursiveMode::NonRecursive)?;
        Ok(w)
    });
    match watcher {
        Ok(w) => {
            tracing::debug!(folder = %folder.display(), "watching the folder of the declarative file");
            Some(w)
        }
        Err(e) => {
            tracing::warn!(folder = %folder.display(), error = %e,
                "cannot watch the folder of the declarative file; changes are seen by polling only");
            None
        }
    }
}

/// Whether a folder event may mean new content. Reads (including our own) are not changes;
/// closing a file opened for writing is.
fn is_change(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

/// Whether an event on `paths` may concern the file named `name`: one of them is the file, or a
/// name of the kubelet's (`..data`, `..2026_…`) whose swap replaces a ConfigMap's files; an
/// event naming no path (the watch lost track) may concern anything. Other files of the folder
/// (a database beside the file, an editor's swap file) do not make the file read again: it
/// may be large, and a database writes often.
fn concerns(name: &OsStr, paths: &[PathBuf]) -> bool {
    paths.is_empty()
        || paths.iter().any(|path| {
            path.file_name()
                .is_some_and(|n| n == name || n.as_encoded_bytes().starts_with(b".."))
        })
}

async fn run(
    options: WatchOptions,
    mut events: mpsc::Receiver<()>,
    ticks: mpsc::Sender<Tick>,
    shutdown: Shutdown,
) {
    let mut poll = tokio::time::interval_at(
        Instant::now() + options.poll_interval,
        options.poll_interval,
    );
    poll.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut events_open = true;
    loop {
        let tick = tokio::select! {
            () = shutdown.wait() => return,
            _ = poll.tick() => Tick::Poll,
            event = events.recv(), if events_open => {
                if event.is_none() {
                    events_open = false;
                    continue;
                }
                // One update is a burst of events (write, rename, symlink swap): tick once, at
                // the end of the debounce window, and absorb the burst.
                let end = Instant::now() + options.debounce;
                loop {
                    tokio::select! {
                        () = shutdown.wait() => return,
                        () = tokio::time::sleep_until(end) => break,
                        more = events.recv() => if more.is_none() { events_open = false; break },
                    }
                }
                Tick::Event
            }
        };
        match ticks.try_send(tick) {
            Ok(()) | Err(mpsc::error::TrySendError::Full(_)) => {}
            Err(mpsc::error::TrySendError::Closed(_)) => return,
        }
    }
}

#[cfg(test)]
#[path = "watch_tests.rs"]
mod tests;
