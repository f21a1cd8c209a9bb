//! The bundle a step works on, opened the same way by `build` and `run`: its folder (which must
//! exist) and its manifest, and from them the [`Plan`] — so `run` compares the recorded build
//! with exactly the plan `build` would make now.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use crate::manifest::Manifest;
use crate::plan::Plan;
use crate::{Error, Interpreters};

/// An opened bundle.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// The bundle folder, absolute and canonical.
    pub folder: PathBuf,
    /// Its `manifest.json`.
    pub manifest: Manifest,
}

impl Bundle {
    /// Opens the bundle at `folder` (`--bundle`): Invalid when the folder or its manifest is
    /// missing or unreadable.
    pub fn open(folder: &Path) -> Result<Bundle, Error> {
        let folder = std::fs::canonicalize(folder)
            .ok()
            .filter(|path| path.is_dir())
            .ok_or_else(|| {
                Error::Invalid(format!("--bundle {}: no such folder", folder.display()))
            })?;
        let manifest = Manifest::load(&folder)?;
        Ok(Bundle { folder, manifest })
    }

    /// What building this bundle with `interpreters` takes (see [`Plan::probe`]).
    pub fn plan(
        &self,
        interpreters: &Interpreters,
        path_var: Option<&OsStr>,
    ) -> Result<Plan, Error> {
        Plan::probe(&self.manifest, &self.folder, interpreters, path_var)
    }
}

/// `path` made absolute against the current folder (it need not exist yet).
pub fn absolute(path: &Path) -> Result<PathBuf, Error> {
    std::path::absolute(path).map_err(|err| Error::Invalid(format!("{}: {err}", path.display())))
}
