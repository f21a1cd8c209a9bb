//! The build record `WORK/build-record.json`: what the last successful build produced, and the
//! check `run` makes against it.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::Error;

/// The record's file name inside the work folder.
pub const RECORD_FILE: &str = "build-record.json";

/// What a successful build produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuildRecord {
    /// The plan's digest (interpreters and package files).
    pub digest: String,
    /// The Python interpreter the virtual environment was made with.
    pub python: Option<Installation>,
    /// The R installation that restored the library.
    pub r: Option<Installation>,
    /// The Python packages in the virtual environment (`pip list`).
    pub packages: Vec<Package>,
    /// How long the build took.
    pub duration_ms: u64,
    /// When it finished, RFC 3339 in UTC.
    pub built_at: String,
}

/// An interpreter used by a build.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Installation {
    /// Its absolute path.
    pub path: String,
    /// Its version.
    pub version: String,
}

/// An installed package.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Package {
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: String,
}

/// The work folder's layout.
#[derive(Debug, Clone)]
pub struct WorkDir {
    root: PathBuf,
}

impl WorkDir {
    /// The layout under `root`.
    pub fn new(root: PathBuf) -> WorkDir {
        WorkDir { root }
    }
    /// `WORK/build-record.json`.
    pub fn record(&self) -> PathBuf {
        self.root.join(RECORD_FILE)
    }
    /// `WORK/python/venv`.
    pub fn venv(&self) -> PathBuf {
        self.root.join("python").join("venv")
    }
    /// `WORK/python/venv/bin/python`.
    pub fn venv_python(&self) -> PathBuf {
        self.venv().join("bin").join("python")
    }
    /// `WORK/r/library`.
    pub fn r_library(&self) -> PathBuf {
        self.root.join("r").join("library")
    }
    /// The work folder itself.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

impl BuildRecord {
    /// Reads the record; `Ok(None)` when there is none.
    pub fn read(path: &Path) -> Result<Option<BuildRecord>, String> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(format!("{} cannot be read: {err}", path.display())),
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|err| format!("{} is not a valid build record: {err}", path.display()))
    }

    /// Writes the record atomically (a temporary file renamed over the old one).
    pub fn write(&self, path: &Path) -> Result<(), Error> {
        let json = serde_json::to_vec_pretty(self)
            .map_err(|err| Error::Failed(format!("cannot encode the build record: {err}")))?;
        write_atomically(path, &json)
            .map_err(|err| Error::io(format!("{}: cannot write", path.display()), err))
    }
}

/// Whether `record` is a build of the current plan, whose environment still exists; the error is
/// the reason `run` refuses.
pub fn check_build(
    record: Option<&BuildRecord>,
    digest: &str,
    work: &WorkDir,
) -> Result<(), String> {
    let Some(record) = record else {
        return Err(format!("no build record at {}", work.record().display()));
    };
    if record.digest != digest {
        return Err(format!(
            "the package files or interpreters changed since the last build: built {}, now {digest}",
            record.digest
        ));
    }
    if record.python.is_some() && !work.venv_python().exists() {
        return Err(format!(
            "the virtual environment {} is missing",
            work.venv().display()
        ));
    }
    if record.r.is_some() && !work.r_library().is_dir() {
        return Err(format!(
            "the R library {} is missing",
            work.r_library().display()
        ));
    }
    Ok(())
}

/// Writes `bytes` to `path` through a temporary file in the same folder, so readers never see a
/// half-written file.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".tmp-{}", std::process::id()));
    let temporary = PathBuf::from(temporary);
    std::fs::write(&temporary, bytes)?;
    std::fs::rename(&temporary, path)
}

/// `time` as RFC 3339 in UTC with millisecond precision, e.g. `2026-05-01T12:34:56.789Z`.
pub fn rfc3339_utc(time: SystemTime) -> String {
    let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since_epoch.as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3_600,
        rest % 3_600 / 60,
        rest % 60,
        since_epoch.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn record(digest: &str) -> BuildRecord {
        BuildRecord {
            digest: digest.into(),
            python: Some(Installation {
                path: "/usr/bin/python3".into(),
                version: "3.11.7".into(),
            }),
            r: None,
            packages: vec![Package {
                name: "pip".into(),
                version: "23.2.1".into(),
            }],
            duration_ms: 1234,
            built_at: "2026-05-01T12:00:00.000Z".into(),
        }
    }

    #[test]
    fn record_round_trips_through_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(RECORD_FILE);
        assert_eq!(BuildRecord::read(&path), Ok(None));
        record("sha256:a").write(&path).expect("write");
        assert_eq!(BuildRecord::read(&path), Ok(Some(record("sha256:a"))));
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json");
        assert_eq!(json["python"]["version"], "3.11.7");
        assert_eq!(json["r"], serde_json::Value::Null);
        assert_eq!(json["packages"][0]["name"], "pip");
        std::fs::write(&path, "{").expect("write");
        assert!(
            BuildRecord::read(&path)
                .expect_err("invalid")
                .contains("is not a valid build record")
        );
    }

    #[test]
    fn run_refuses_without_a_record_or_with_another_digest() {
        let dir = tempfile::tempdir().expect("tempdir");
        let work = WorkDir::new(dir.path().to_path_buf());
        let missing = check_build(None, "sha256:a", &work).expect_err("no record");
        assert!(missing.starts_with("no build record at "), "{missing}");
        let changed =
            check_build(Some(&record("sha256:a")), "sha256:b", &work).expect_err("changed");
        assert!(
            changed.contains("changed since the last build: built sha256:a, now sha256:b"),
            "{changed}"
        );
    }

    #[test]
    fn run_refuses_when_the_environment_was_removed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let work = WorkDir::new(dir.path().to_path_buf());
        let gone = check_build(Some(&record("sha256:a")), "sha256:a", &work).expect_err("no venv");
        assert!(
            gone.contains("the virtual environment") && gone.ends_with("is missing"),
            "{gone}"
        );
        std::fs::create_dir_all(work.venv().join("bin")).expect("mkdir");
        std::fs::write(work.venv_python(), "").expect("write");
        assert_eq!(
            check_build(Some(&record("sha256:a")), "sha256:a", &work),
            Ok(())
        );
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339_utc(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let leap_day = UNIX_EPOCH + Duration::from_millis(1_709_210_096_789);
        assert_eq!(rfc3339_utc(leap_day), "2024-02-29T12:34:56.789Z");
        assert_eq!(
            rfc3339_utc(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00.000Z"
        );
    }
}
