//! What the gateway records about a content beside its bundles, in the data folder:
//!
//! ```text
//! DIR/content/<guid>/owner.json         who uploaded its first bundle (never changed after)
//! DIR/content/<guid>/permissions.json   the users and groups who may view it
//! ```
//!
//! Both are written whole and atomically: a temporary file in the same folder, then a rename
//! (the owner with a hard link instead, which fails when one is recorded already, so the first
//! of two concurrent first uploads wins). Changes to the permission list made through one
//! gateway are serialised (read, change, write under one lock). Everything here does blocking
//! I/O: callers run it off the async runtime.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use execenv_core::{Error, ErrorKind};
use serde::{Deserialize, Serialize};

use crate::bundles::{BundleStore, read_if_there};

const OWNER: &str = "owner.json";
const PERMISSIONS: &str = "permissions.json";

/// Who owns a content: the user who uploaded its first bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    /// The user's guid.
    pub user_guid: String,
    /// Their username when the bundle was uploaded (for logs; the guid is what counts).
    pub username: String,
    /// When it was recorded.
    pub recorded_time: DateTime<Utc>,
}

pub use execenv_core::content_access::ContentPermission;
pub use execenv_core::model::Principal;

/// The records of every content under one data folder.
#[derive(Debug, Clone)]
pub struct ContentRecords {
    dir: PathBuf,
    // Serialises read-change-write of permission lists in this gateway.
    writing: Arc<Mutex<()>>,
}

impl ContentRecords {
    /// The records under data folder `dir`; touches nothing yet.
    pub fn new(dir: &Path) -> Self {
        ContentRecords {
            dir: dir.to_path_buf(),
            writing: Arc::default(),
        }
    }

    fn content(&self, guid: &str) -> PathBuf {
        self.dir.join("content").join(guid)
    }

    /// The owner of content `guid`, if one is recorded (content whose bundles were placed in
    /// the data folder by hand has none).
    pub fn owner(&self, guid: &str) -> Result<Option<Owner>, Error> {
        read_json(&self.content(guid).join(OWNER))
    }

    /// Records `owner` as the owner of content `guid` unless it has one; whether it was
    /// recorded. The content's folder must exist (its first bundle was just placed).
    pub fn record_owner(&self, guid: &str, owner: &Owner) -> Result<bool, Error> {
        let path = self.content(guid).join(OWNER);
        let temporary = temporary_beside(&path);
        let linked = write_file(&temporary, &json_bytes(owner)?)
            .and_then(|()| fs::hard_link(&temporary, &path));
        let _ = fs::remove_file(&temporary);
        match linked {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(self.io_failed(&path, &e)),
        }
    }

    /// The permission list of content `guid` (empty when it has none).
    pub fn permissions(&self, guid: &str) -> Result<Vec<ContentPermission>, Error> {
        Ok(read_json(&self.content(guid).join(PERMISSIONS))?.unwrap_or_default())
    }

    /// Adds `principal` to the permission list of content `guid`; the entry, or the one that
    /// already names it.
    pub fn add_permission(
        &self,
        guid: &str,
        principal: &Principal,
    ) -> Result<ContentPermission, Error> {
        let _writing = self.lock()?;
        let mut list = self.permissions(guid)?;
        if let Some(existing) = list.iter().find(|p| p.names(principal)) {
            return Ok(existing.clone());
        }
        let (user_guid, group_guid) = match principal {
            Principal::User(g) => (Some(g.clone()), None),
            Principal::Group(g) => (None, Some(g.clone())),
        };
        let entry = ContentPermission {
            guid: uuid::Uuid::new_v4().to_string(),
            content_guid: guid.to_owned(),
            user_guid,
            group_guid,
        };
        list.push(entry.clone());
        self.write_permissions(guid, &list)?;
        Ok(entry)
    }

    /// Removes entry `permission_guid` from the permission list of content `guid`; NotFound
    /// when the list has no such entry.
    pub fn remove_permission(&self, guid: &str, permission_guid: &str) -> Result<(), Error> {
        let _writing = self.lock()?;
        let mut list = self.permissions(guid)?;
        let before = list.len();
        list.retain(|p| p.guid != permission_guid);
        if list.len() == before {
            return Err(Error::new(
                ErrorKind::NotFound,
                format!(
                    "content {guid} has no permission {permission_guid}; list its permissions to find the guid"
                ),
            ));
        }
        self.write_permissions(guid, &list)
    }

    fn write_permissions(&self, guid: &str, list: &[ContentPermission]) -> Result<(), Error> {
        let path = self.content(guid).join(PERMISSIONS);
        let temporary = temporary_beside(&path);
        let written =
            write_file(&temporary, &json_bytes(list)?).and_then(|()| fs::rename(&temporary, &path));
        if let Err(e) = written {
            let _ = fs::remove_file(&temporary);
            return Err(self.io_failed(&path, &e));
        }
        Ok(())
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, ()>, Error> {
        self.writing
            .lock()
            .map_err(|_| Error::internal("the content records' lock was poisoned by a panic"))
    }

    fn io_failed(&self, path: &Path, e: &io::Error) -> Error {
        Error::internal(format!(
            "cannot write {}: {e}; the gateway needs write access to its data folder \
             (EXECENV_BUNDLES__DIR={})",
            path.display(),
            self.dir.display()
        ))
    }
}

/// What the access rule and the content routes read of a content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentFacts {
    /// Its owner, if recorded.
    pub owner: Option<Owner>,
    /// Its permission list.
    pub permissions: Vec<ContentPermission>,
    /// Its newest bundle's id; None when it has no bundle.
    pub newest_bundle: Option<u64>,
}

/// The facts of content `guid` (a checked guid), read off the async runtime.
pub async fn facts(
    records: &ContentRecords,
    bundles: &BundleStore,
    guid: &str,
) -> Result<ContentFacts, Error> {
    let (records, bundles, guid) = (records.clone(), bundles.clone(), guid.to_owned());
    tokio::task::spawn_blocking(move || {
        Ok(ContentFacts {
            owner: records.owner(&guid)?,
            permissions: records.permissions(&guid)?,
            newest_bundle: bundles.newest(&guid)?,
        })
    })
    .await
    .map_err(|e| Error::internal(format!("a content task failed: {e}")))?
}

/// A fresh name beside `path` for writing it before it is moved into place.
fn temporary_beside(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(|| "record".into(), |n| n.to_string_lossy().into_owned());
    path.with_file_name(format!(".{name}.{}", uuid::Uuid::new_v4()))
}

fn json_bytes<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, Error> {
    let mut bytes = serde_json::to_vec_pretty(value)
        .map_err(|e| Error::internal(format!("cannot write a content record as JSON: {e}")))?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// Writes `bytes` to the new file `path` (0644), flushed to disk.
fn write_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = fs::File::create_new(path)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o644))
}

/// The JSON file at `path`, or None when there is none.
fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>, Error> {
    let Some(text) = read_if_there(path)? else {
        return Ok(None);
    };
    serde_json::from_slice(&text).map(Some).map_err(|e| {
        Error::internal(format!(
            "{} is not what the gateway wrote ({e}); restore it or remove it",
            path.display()
        ))
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const GUID: &str = "0e4f3c2a-8b1d-4e6f-9a7c-5d3b2e1f0a9c";

    fn records() -> (tempfile::TempDir, ContentRecords) {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("content").join(GUID)).unwrap();
        let records = ContentRecords::new(dir.path());
        (dir, records)
    }

    fn owner(guid: &str, name: &str) -> Owner {
        Owner {
            user_guid: guid.to_owned(),
            username: name.to_owned(),
            recorded_time: DateTime::parse_from_rfc3339("2026-03-02T10:15:00Z")
                .unwrap()
                .with_timezone(&Utc),
        }
    }

    #[test]
    fn the_first_owner_recorded_stays() {
        let (dir, records) = records();
        assert_eq!(records.owner(GUID).unwrap(), None);
        assert!(records.record_owner(GUID, &owner("u1", "pat")).unwrap());
        assert!(!records.record_owner(GUID, &owner("u2", "sam")).unwrap());
        assert_eq!(records.owner(GUID).unwrap(), Some(owner("u1", "pat")));
        // Nothing but the record is left beside it.
        let mut names: Vec<String> = fs::read_dir(dir.path().join("content").join(GUID))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, vec!["owner.json".to_owned()]);
    }

    #[test]
    fn a_principal_is_listed_once_and_removed_by_its_entry() {
        let (_dir, records) = records();
        assert_eq!(records.permissions(GUID).unwrap(), vec![]);
        let alice = records
            .add_permission(GUID, &Principal::User("u-alice".to_owned()))
            .unwrap();
        let team = records
            .add_permission(GUID, &Principal::Group("g-team".to_owned()))
            .unwrap();
        let again = records
            .add_permission(GUID, &Principal::User("u-alice".to_owned()))
            .unwrap();
        assert_eq!(again, alice);
        assert_eq!(alice.content_guid, GUID);
        assert_eq!(
            (alice.user_guid.as_deref(), alice.group_guid.as_deref()),
            (Some("u-alice"), None)
        );
        assert_eq!(
            (team.user_guid.as_deref(), team.group_guid.as_deref()),
            (None, Some("g-team"))
        );
        assert_eq!(
            records.permissions(GUID).unwrap(),
            vec![alice.clone(), team.clone()]
        );
        records.remove_permission(GUID, &alice.guid).unwrap();
        assert_eq!(records.permissions(GUID).unwrap(), vec![team]);
        let gone = records.remove_permission(GUID, &alice.guid).unwrap_err();
        assert_eq!(gone.kind, ErrorKind::NotFound);
    }

    #[test]
    fn concurrent_additions_are_all_kept() {
        let (_dir, records) = records();
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let records = records.clone();
                std::thread::spawn(move || {
                    records
                        .add_permission(GUID, &Principal::User(format!("u{i}")))
                        .unwrap()
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let mut users: Vec<String> = records
            .permissions(GUID)
            .unwrap()
            .into_iter()
            .filter_map(|p| p.user_guid)
            .collect();
        users.sort();
        assert_eq!(users, vec!["u0", "u1", "u2", "u3", "u4", "u5", "u6", "u7"]);
    }

    #[test]
    fn a_damaged_record_is_an_error_naming_the_file() {
        let (dir, records) = records();
        fs::write(dir.path().join("content").join(GUID).join(PERMISSIONS), "{").unwrap();
        let e = records.permissions(GUID).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Internal);
        assert!(e.message.contains("permissions.json"), "{e}");
    }
}
