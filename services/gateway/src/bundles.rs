//! Bundles in the data folder, where the launcher reads them:
//!
//! ```text
//! DIR/content/<guid>/<id>/bundle        the bundle's files (the launcher's --bundle)
//! DIR/content/<guid>/<id>/bundle.json   what the gateway recorded: size, files, time, manifest
//! DIR/content/<guid>/<id>/work          made by the content runner (builds, venvs), not by us
//! DIR/content/<guid>/.upload-<uuid>/    an upload being unpacked (staging, same file system)
//! DIR/content/<guid>/.deleting-<uuid>/  a bundle being deleted
//! ```
//!
//! An upload is unpacked into its staging folder; only once the archive and its manifest passed
//! every check is an id claimed — `mkdir <id>`, which is atomic, so concurrent uploads (from
//! several gateway replicas on a shared volume, too) each get their own — and the bundle renamed
//! into place. Any failure removes the staging folder; what a crash leaves behind is swept at
//! start ([`BundleStore::sweep`]). Ids are 1, 2, … per content and never given twice: a deleted
//! bundle's `<id>` folder stays, empty, as the marker of a used id (and so that a content process
//! still running with it keeps its mount point on Kubernetes).
//!
//! Modes, whatever the umask: `<id>` is 02775 (group-writable, set-group-id), so content
//! processes of another user that share the gateway's group (the pod's `fsGroup`, or
//! `runAsGroup`) can make `<id>/work`, which inherits the group; `content/<guid>`, `bundle` and
//! its folders are 0755, files 0644 (0755 when executable in the archive), `bundle.json` 0644,
//! staging folders 0700. Everything here does blocking I/O: callers run it off the async runtime.

use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use execenv_core::bundle::{Bundle, MANIFEST, ManifestSummary, bundle_number, summarize_manifest};
use execenv_core::{Error, ErrorKind};

use crate::bundle_archive::{self, Limits, Unpacked, invalid};
use crate::config::BundlesConfig;

/// Largest manifest.json read.
pub const MAX_MANIFEST_BYTES: u64 = 16 * 1024 * 1024;

/// Staging and deletion folders older than this are left over from a crash.
pub const STALE_AFTER: Duration = Duration::from_secs(3600);

const STAGING_PREFIX: &str = ".upload-";
const DELETING_PREFIX: &str = ".deleting-";
const RECORD: &str = "bundle.json";
/// Ids tried past the highest one seen before giving up (other uploads claiming them meanwhile).
const CLAIM_ATTEMPTS: u64 = 1000;

/// The bundles of every content under one data folder.
#[derive(Debug, Clone)]
pub struct BundleStore {
    dir: PathBuf,
    limits: Limits,
    max_upload_bytes: u64,
}

impl BundleStore {
    /// The store of `config.dir` with its limits; touches nothing yet.
    pub fn new(config: &BundlesConfig) -> Self {
        BundleStore {
            dir: config.dir.clone(),
            limits: Limits {
                max_unpacked_bytes: config.max_unpacked_bytes,
                max_files: config.max_files,
            },
            max_upload_bytes: config.max_upload_bytes,
        }
    }

    /// The data folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The largest request body an upload may have.
    pub fn max_upload_bytes(&self) -> u64 {
        self.max_upload_bytes
    }

    fn content(&self, guid: &str) -> PathBuf {
        self.dir.join("content").join(guid)
    }

    /// Unpacks the `.tar.gz` read from `body` as the next bundle of content `guid` (a checked
    /// guid). Nothing is left behind when it fails.
    pub fn create(&self, guid: &str, body: impl Read) -> Result<Bundle, Error> {
        let content = self.content(guid);
        fs::create_dir_all(self.dir.join("content"))
            .and_then(|()| make_folder(&content, 0o755))
            .map_err(|e| self.io_failed(&content, &e))?;
        let staging = Staging::new(&content).map_err(|e| self.io_failed(&content, &e))?;
        let unpacked = bundle_archive::unpack(body, &staging.bundle(), &self.limits)?;
        let manifest = check_manifest(&staging.bundle())?;
        let mut bundle = Bundle {
            bundle_id: String::new(),
            content_guid: guid.to_owned(),
            created_time: Utc::now(),
            size: unpacked.size,
            files: unpacked.files,
            manifest,
        };
        let (id, folder) = claim(&content).map_err(|e| self.io_failed(&content, &e))?;
        bundle.bundle_id = id.to_string();
        let placed = staging.place(&bundle, &folder);
        if let Err(e) = placed {
            let _ = fs::remove_dir_all(&folder);
            return Err(self.io_failed(&folder, &e));
        }
        tracing::info!(
            content = guid,
            bundle = id,
            size = bundle.size,
            files = bundle.files,
            "bundle stored"
        );
        Ok(bundle)
    }

    /// The manifest.json of bundle `id` of content `guid`, when that bundle was uploaded here
    /// (None for another guid or id shape, or a bundle this store does not hold).
    pub fn manifest(
        &self,
        guid: &str,
        id: &str,
    ) -> Result<Option<serde_json::Map<String, serde_json::Value>>, Error> {
        let (Ok(guid), Some(id)) = (execenv_core::bundle::content_guid(guid), bundle_number(id))
        else {
            return Ok(None);
        };
        let path = self
            .content(guid)
            .join(id.to_string())
            .join("bundle")
            .join("manifest.json");
        let Some(text) = read_if_there(&path)? else {
            return Ok(None);
        };
        match serde_json::from_slice(&text) {
            Ok(serde_json::Value::Object(manifest)) => Ok(Some(manifest)),
            _ => Err(Error::internal(format!(
                "{} is not a JSON object (it was checked on upload)",
                path.display()
            ))),
        }
    }

    /// The bundles of content `guid`, by id; none when it has none.
    pub fn list(&self, guid: &str) -> Result<Vec<Bundle>, Error> {
        let content = self.content(guid);
        let mut bundles = Vec::new();
        for id in self.ids(&content)? {
            let folder = content.join(id.to_string());
            if !is_folder(&folder.join("bundle")) {
                continue; // being placed, or deleted
            }
            bundles.push(self.describe(guid, id, &folder)?);
        }
        Ok(bundles)
    }

    /// The id of the newest bundle of content `guid` (the highest one in place); None when it
    /// has none.
    pub fn newest(&self, guid: &str) -> Result<Option<u64>, Error> {
        let content = self.content(guid);
        Ok(self
            .ids(&content)?
            .into_iter()
            .rev()
            .find(|id| is_folder(&content.join(id.to_string()).join("bundle"))))
    }

    /// The ids claimed under `content`, ascending (placed, being placed or deleted).
    fn ids(&self, content: &Path) -> Result<Vec<u64>, Error> {
        let entries = match fs::read_dir(content) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.io_failed(content, &e)),
        };
        let mut ids: Vec<u64> = entries
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().to_str().and_then(bundle_number))
            .collect();
        ids.sort_unstable();
        Ok(ids)
    }

    /// Deletes bundle `id` of content `guid` (its files and its work folder); NotFound when it
    /// has no such bundle.
    pub fn delete(&self, guid: &str, id: &str) -> Result<(), Error> {
        let not_found = || {
            Error::new(
                ErrorKind::NotFound,
                format!("content {guid} has no bundle {id:?}; list its bundles to find their ids"),
            )
        };
        let number = bundle_number(id).ok_or_else(not_found)?;
        let content = self.content(guid);
        let folder = content.join(number.to_string());
        if !is_folder(&folder.join("bundle")) {
            return Err(not_found());
        }
        // Renamed first, so it is gone for every reader at once and a second delete finds nothing.
        let doomed = content.join(format!("{DELETING_PREFIX}{}", uuid::Uuid::new_v4()));
        match fs::rename(folder.join("bundle"), &doomed) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(not_found()),
            Err(e) => return Err(self.io_failed(&folder, &e)),
        }
        fs::remove_dir_all(&doomed).map_err(|e| self.io_failed(&doomed, &e))?;
        remove_if_there(&folder.join(RECORD), |p| fs::remove_file(p));
        remove_if_there(&folder.join("work"), |p| fs::remove_dir_all(p));
        tracing::info!(content = guid, bundle = number, "bundle deleted");
        Ok(())
    }

    /// Removes staging and deletion folders older than `older_than` (left by a gateway that
    /// stopped mid-way); how many. Logs each.
    pub fn sweep(&self, older_than: Duration) -> usize {
        let Ok(contents) = fs::read_dir(self.dir.join("content")) else {
            return 0;
        };
        let now = SystemTime::now();
        let mut swept = 0;
        for content in contents.filter_map(Result::ok) {
            let Ok(entries) = fs::read_dir(content.path()) else {
                continue;
            };
            for entry in entries.filter_map(Result::ok) {
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if !(name.starts_with(STAGING_PREFIX) || name.starts_with(DELETING_PREFIX)) {
                    continue;
                }
                let age = entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| now.duration_since(t).ok());
                if age.is_none_or(|age| age < older_than) {
                    continue;
                }
                let path = entry.path();
                match fs::remove_dir_all(&path) {
                    Ok(()) => {
                        swept += 1;
                        tracing::info!(path = %path.display(), age_seconds = age.map_or(0, |a| a.as_secs()), "removed a stale bundle upload or deletion");
                    }
                    Err(e) => {
                        tracing::warn!(path = %path.display(), error = %e, "cannot remove a stale bundle upload or deletion");
                    }
                }
            }
        }
        swept
    }

    /// A stored bundle: its record, or for one placed by hand (`make run` copies one), what its
    /// files say.
    fn describe(&self, guid: &str, id: u64, folder: &Path) -> Result<Bundle, Error> {
        if let Ok(text) = fs::read(folder.join(RECORD))
            && let Ok(bundle) = serde_json::from_slice::<Bundle>(&text)
        {
            return Ok(bundle);
        }
        let files = folder.join("bundle");
        let Unpacked { size, files: count } =
            measure(&files).map_err(|e| self.io_failed(&files, &e))?;
        let created = fs::metadata(&files)
            .and_then(|m| m.modified())
            .map(DateTime::<Utc>::from)
            .unwrap_or_else(|_| Utc::now());
        let manifest = check_manifest(&files).unwrap_or_else(|e| {
            tracing::warn!(content = guid, bundle = id, error = %e, "a bundle placed by hand has no valid manifest");
            Default::default()
        });
        Ok(Bundle {
            bundle_id: id.to_string(),
            content_guid: guid.to_owned(),
            created_time: created,
            size,
            files: count,
            manifest,
        })
    }

    fn io_failed(&self, path: &Path, e: &io::Error) -> Error {
        Error::internal(format!(
            "cannot write bundles under {}: {e}; the gateway needs write access to its data folder \
             (EXECENV_BUNDLES__DIR={})",
            path.display(),
            self.dir.display()
        ))
    }
}

/// The summary of the unpacked bundle's manifest.json; InvalidArgument when it is missing, not a
/// regular file, too large or invalid.
pub fn check_manifest(bundle: &Path) -> Result<ManifestSummary, Error> {
    let path = bundle.join(MANIFEST);
    let missing = || {
        invalid(format!(
            "the bundle has no {MANIFEST} at its root; a Connect bundle is a .tar.gz with {MANIFEST} \
             at its root (write one with `rsconnect write-manifest`, pack the folder's content, not the folder)"
        ))
    };
    let meta = match fs::symlink_metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(missing()),
        Err(e) => {
            return Err(Error::internal(format!(
                "cannot read {}: {e}",
                path.display()
            )));
        }
    };
    if !meta.is_file() {
        return Err(invalid(format!(
            "the bundle's {MANIFEST} is not a regular file"
        )));
    }
    if meta.len() > MAX_MANIFEST_BYTES {
        return Err(invalid(format!(
            "the bundle's {MANIFEST} is {} bytes; at most {MAX_MANIFEST_BYTES} are accepted",
            meta.len()
        )));
    }
    let text = fs::read(&path)
        .map_err(|e| Error::internal(format!("cannot read {}: {e}", path.display())))?;
    let text = String::from_utf8(text)
        .map_err(|_| invalid(format!("the bundle's {MANIFEST} is not UTF-8 text")))?;
    summarize_manifest(&text)
}

/// One upload's staging folder, removed when dropped.
struct Staging {
    path: PathBuf,
}

impl Staging {
    /// Makes `content/.upload-<uuid>/bundle` (0700).
    fn new(content: &Path) -> io::Result<Staging> {
        let path = content.join(format!("{STAGING_PREFIX}{}", uuid::Uuid::new_v4()));
        fs::DirBuilder::new().mode(0o700).create(&path)?;
        let staging = Staging { path };
        fs::DirBuilder::new().mode(0o700).create(staging.bundle())?;
        Ok(staging)
    }

    fn bundle(&self) -> PathBuf {
        self.path.join("bundle")
    }

    /// Writes the record and moves record and files into the claimed `folder`.
    fn place(&self, bundle: &Bundle, folder: &Path) -> io::Result<()> {
        let record = self.path.join(RECORD);
        let mut json = serde_json::to_vec_pretty(bundle).map_err(io::Error::other)?;
        json.push(b'\n');
        fs::write(&record, json)?;
        fs::set_permissions(&record, fs::Permissions::from_mode(0o644))?;
        fs::set_permissions(self.bundle(), fs::Permissions::from_mode(0o755))?;
        fs::rename(&record, folder.join(RECORD))?;
        fs::rename(self.bundle(), folder.join("bundle"))
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if let Err(e) = fs::remove_dir_all(&self.path)
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot remove an upload's staging folder; it is swept at the next start");
        }
    }
}

/// Claims the next free id of `content` by making its folder (02775); the id and the folder.
fn claim(content: &Path) -> io::Result<(u64, PathBuf)> {
    let highest = fs::read_dir(content)?
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str().and_then(bundle_number))
        .max()
        .unwrap_or(0);
    for id in highest + 1..=highest + CLAIM_ATTEMPTS {
        let folder = content.join(id.to_string());
        match fs::DirBuilder::new().mode(0o700).create(&folder) {
            Ok(()) => {
                fs::set_permissions(&folder, fs::Permissions::from_mode(0o2775))?;
                return Ok((id, folder));
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other(format!(
        "no free bundle id after {CLAIM_ATTEMPTS} attempts past {highest}"
    )))
}

/// The bytes of the file at `path`, or None when there is none.
pub(crate) fn read_if_there(path: &Path) -> Result<Option<Vec<u8>>, Error> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::internal(format!(
            "cannot read {}: {e}",
            path.display()
        ))),
    }
}

/// Makes the folder `path` with `mode` unless it exists.
fn make_folder(path: &Path, mode: u32) -> io::Result<()> {
    match fs::DirBuilder::new().mode(0o700).create(path) {
        Ok(()) => fs::set_permissions(path, fs::Permissions::from_mode(mode)),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

fn is_folder(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.is_dir())
}

/// Removes `path` with `remove`, logging a failure other than its absence (the work folder may
/// hold files of another user).
fn remove_if_there(path: &Path, remove: fn(&Path) -> io::Result<()>) {
    if let Err(e) = remove(path)
        && e.kind() != io::ErrorKind::NotFound
    {
        tracing::warn!(path = %path.display(), error = %e, "cannot remove what a deleted bundle left");
    }
}

/// Bytes and number of the regular files under `dir` (links not followed).
fn measure(dir: &Path) -> io::Result<Unpacked> {
    let mut total = Unpacked::default();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in fs::read_dir(&folder)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                folders.push(entry.path());
            } else if kind.is_file() {
                total.size += entry.metadata()?.len();
                total.files += 1;
            }
        }
    }
    Ok(total)
}

#[cfg(test)]
#[path = "bundles_tests.rs"]
mod tests;
