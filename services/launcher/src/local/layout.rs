//! The data folder of the local backend, laid out like the Kubernetes data and cache claims:
//!
//! ```text
//! DATA/content/<content guid>/<bundle>/bundle   the bundle (read)
//! DATA/content/<content guid>/<bundle>/work     the runner's work folder (the build's venv, shared by the run)
//! DATA/cache/<cache_sub_path(image)>            the package cache of an image
//! DATA/launches/<id>/launch.json                the launch record, rewritten atomically on every change
//! DATA/launches/<id>/output.log                 the process's stdout and stderr
//! DATA/launches/<id>/status.json                the runner's --status-file
//! DATA/launches/<id>/pid                        the process group while it runs
//! ```
//!
//! Folder names come from the request id, the content guid and the bundle id, which the service
//! has already checked to be safe single path segments.

use std::io::ErrorKind as IoErrorKind;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::job_spec::cache_sub_path;
use crate::launch::{Launch, State};

/// The reason of a launch found unfinished when the launcher started.
pub const LAUNCHER_RESTARTED: &str = "LauncherRestarted";
/// Its message.
pub const LAUNCHER_RESTARTED_MESSAGE: &str =
    "the launcher restarted while this launch was running; launch it again";

/// The data folder (an absolute path).
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// Creates `content/`, `cache/` and `launches/` under `root` and checks that it can be written.
    /// The error names the folder and the setting that chooses it.
    pub fn create(root: &Path) -> Result<DataDir, String> {
        let unusable = |path: &Path, e: std::io::Error| {
            format!(
                "the local data folder {} cannot be created or written ({e}); set EXECENV_LOCAL__DATA_DIR to a writable folder",
                path.display()
            )
        };
        let root = std::path::absolute(root).map_err(|e| unusable(root, e))?;
        let dir = DataDir { root };
        for sub in ["content", "cache", "launches"] {
            let path = dir.root.join(sub);
            std::fs::create_dir_all(&path).map_err(|e| unusable(&path, e))?;
        }
        let probe = dir
            .root
            .join("launches")
            .join(format!(".write-probe-{}", std::process::id()));
        std::fs::write(&probe, b"").map_err(|e| unusable(&dir.root, e))?;
        std::fs::remove_file(&probe).map_err(|e| unusable(&dir.root, e))?;
        Ok(dir)
    }

    /// The folder itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `content/<guid>/<bundle>/bundle`.
    pub fn bundle(&self, content_guid: &str, bundle: &str) -> PathBuf {
        self.content(content_guid, bundle).join("bundle")
    }

    /// `content/<guid>/<bundle>/work`.
    pub fn work(&self, content_guid: &str, bundle: &str) -> PathBuf {
        self.content(content_guid, bundle).join("work")
    }

    fn content(&self, content_guid: &str, bundle: &str) -> PathBuf {
        self.root.join("content").join(content_guid).join(bundle)
    }

    /// `cache/<cache_sub_path(image)>`: one package cache per image, as on Kubernetes.
    pub fn cache(&self, image: &str) -> PathBuf {
        self.root.join("cache").join(cache_sub_path(image))
    }

    /// `launches/`.
    pub fn launches(&self) -> PathBuf {
        self.root.join("launches")
    }

    /// The files of launch `id`.
    pub fn launch(&self, id: &str) -> LaunchFiles {
        LaunchFiles {
            dir: self.launches().join(id),
        }
    }
}

/// The folder of one launch.
#[derive(Debug, Clone)]
pub struct LaunchFiles {
    dir: PathBuf,
}

impl LaunchFiles {
    /// The folder (the runner's working directory).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `launch.json`.
    pub fn record(&self) -> PathBuf {
        self.dir.join("launch.json")
    }

    /// `output.log`.
    pub fn output(&self) -> PathBuf {
        self.dir.join("output.log")
    }

    /// `status.json`, the runner's `--status-file`.
    pub fn status(&self) -> PathBuf {
        self.dir.join("status.json")
    }

    /// `pid`: the process group of a running launch.
    pub fn pid(&self) -> PathBuf {
        self.dir.join("pid")
    }

    /// Writes `launch` to `launch.json` atomically (a temporary file, then a rename), creating
    /// the folder first.
    pub fn write_record(&self, launch: &Launch) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let mut json = serde_json::to_vec_pretty(launch).map_err(std::io::Error::other)?;
        json.push(b'\n');
        write_atomically(&self.record(), &json)
    }

    /// Records the process group of the running launch.
    pub fn write_pid(&self, pid: u32) -> std::io::Result<()> {
        write_atomically(&self.pid(), pid.to_string().as_bytes())
    }

    /// The recorded process group, if any.
    pub fn read_pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.pid())
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Forgets the process group (it has ended).
    pub fn remove_pid(&self) {
        if let Err(e) = std::fs::remove_file(self.pid())
            && e.kind() != IoErrorKind::NotFound
        {
            tracing::warn!(path = %self.pid().display(), error = %e, "cannot remove the pid file");
        }
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    std::fs::write(&temporary, bytes)?;
    std::fs::rename(&temporary, path)
}

/// A `launch.json` that could not be read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    /// The file.
    pub path: PathBuf,
    /// Why.
    pub error: String,
}

/// Every `launches/*/launch.json` in `dir`, sorted by path; a file that cannot be read or parsed
/// (or that belongs to another folder name) is reported, never fatal.
pub fn read_records(dir: &DataDir) -> Result<Vec<Result<Launch, Unreadable>>, String> {
    let launches = dir.launches();
    let entries = std::fs::read_dir(&launches)
        .map_err(|e| format!("cannot list {}: {e}", launches.display()))?;
    let mut folders: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    folders.sort();
    Ok(folders
        .into_iter()
        .filter_map(|folder| {
            let path = folder.join("launch.json");
            let unreadable = |error: String| Unreadable {
                path: path.clone(),
                error,
            };
            let text = match std::fs::read(&path) {
                Ok(text) => text,
                // A folder whose launch never got its record (the write failed): nothing to read.
                Err(e) if e.kind() == IoErrorKind::NotFound => return None,
                Err(e) => return Some(Err(unreadable(e.to_string()))),
            };
            let launch = serde_json::from_slice::<Launch>(&text)
                .map_err(|e| unreadable(e.to_string()))
                .and_then(|l| {
                    let folder_name = folder.file_name().and_then(|n| n.to_str());
                    if folder_name == Some(l.id.as_str()) {
                        Ok(l)
                    } else {
                        Err(unreadable(format!(
                            "it records launch {:?}, not the folder's",
                            l.id
                        )))
                    }
                });
            Some(launch)
        })
        .collect())
}

/// A launch read back after a restart: one that had not finished can no longer be followed (its
/// process was not ours any more), so it becomes FAILED `LauncherRestarted`. Returns the launch
/// and whether it changed (and must be written again).
pub fn after_restart(mut launch: Launch, now: DateTime<Utc>) -> (Launch, bool) {
    if launch.state.is_terminal() {
        return (launch, false);
    }
    launch.state = State::Failed;
    launch.reason = LAUNCHER_RESTARTED.to_owned();
    launch.message = LAUNCHER_RESTARTED_MESSAGE.to_owned();
    launch.finished = Some(now);
    (launch, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job_spec::LaunchKind;
    use crate::local::fixtures::plan;

    #[test]
    fn the_layout_is_the_one_of_the_kubernetes_claims() {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = DataDir::create(root.path()).expect("create");
        let at = |rest: &str| root.path().join(rest);
        assert_eq!(dir.bundle("c-1", "7"), at("content/c-1/7/bundle"));
        assert_eq!(dir.work("c-1", "7"), at("content/c-1/7/work"));
        assert_eq!(
            dir.cache("ghcr.io/acme/py:3.11"),
            at(&format!("cache/{}", cache_sub_path("ghcr.io/acme/py:3.11")))
        );
        let files = dir.launch("req-1");
        assert_eq!(files.record(), at("launches/req-1/launch.json"));
        assert_eq!(files.output(), at("launches/req-1/output.log"));
        assert_eq!(files.status(), at("launches/req-1/status.json"));
        for sub in ["content", "cache", "launches"] {
            assert!(at(sub).is_dir(), "{sub} is created");
        }
    }

    #[test]
    fn a_record_is_replaced_whole_and_read_back() {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = DataDir::create(root.path()).expect("create");
        let mut launch = plan(LaunchKind::Build, &[]).launch;
        let files = dir.launch(&launch.id);
        files.write_record(&launch).expect("write");
        launch.state = State::Running;
        files.write_record(&launch).expect("rewrite");
        let read: Vec<Launch> = read_records(&dir)
            .expect("read")
            .into_iter()
            .map(|r| r.expect("readable"))
            .collect();
        assert_eq!(read, [launch]);
        let names: Vec<_> = std::fs::read_dir(dir.launches().join("req-1"))
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["launch.json"], "no temporary file is left");
    }

    #[test]
    fn after_a_restart_only_unfinished_launches_change_and_become_launcher_restarted() {
        let now = Utc::now();
        for (kind, state) in [
            (LaunchKind::Build, State::Pending),
            (LaunchKind::Run, State::Running),
            (LaunchKind::Interactive, State::Ready),
        ] {
            let mut launch = plan(kind, &[]).launch;
            launch.state = state;
            let (after, changed) = after_restart(launch, now);
            assert!(changed);
            assert_eq!(
                (after.state, after.reason.as_str(), after.message.as_str()),
                (
                    State::Failed,
                    LAUNCHER_RESTARTED,
                    LAUNCHER_RESTARTED_MESSAGE
                )
            );
            assert_eq!(after.finished, Some(now));
        }
        for state in [State::Succeeded, State::Failed, State::Cancelled] {
            let mut launch = plan(LaunchKind::Run, &[]).launch;
            launch.state = state;
            let (after, changed) = after_restart(launch.clone(), now);
            assert!(!changed);
            assert_eq!(after, launch);
        }
    }
}
