//! Packing a folder into a Connect bundle the way rsconnect does: a `.tar.gz` with
//! `manifest.json` first, then every other file in a fixed order (names sorted at each level),
//! with fixed times, owners and modes (0644, 0755 for folders and executables), so the same
//! folder always packs to the same bytes. Symbolic links are stored as links (the gateway refuses
//! those pointing outside the bundle). What a deployment does not need is left out, as rsconnect
//! and rsconnect (R) leave it out:
//!
//! - at any depth: the folders `.git`, `.svn`, `__pycache__`, `.ipynb_checkpoints`,
//!   `.Rproj.user`, any Python virtual environment (a folder holding `pyvenv.cfg`), and `*.pyc`;
//! - at the top: the folders `.venv`, `venv`, `env`, `.env`, `packrat`, `renv/library`,
//!   `rsconnect` and `rsconnect-python` (deployment records).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use execenv_core::bundle::MANIFEST;
use execenv_core::{Error, ErrorKind};
use flate2::Compression;
use flate2::write::GzEncoder;
use tar::{Builder, HeaderMode};

/// Folders left out wherever they are.
const SKIP_ANYWHERE: [&str; 5] = [
    ".git",
    ".svn",
    "__pycache__",
    ".ipynb_checkpoints",
    ".Rproj.user",
];

/// Folders left out at the top of the bundle.
const SKIP_AT_TOP: [&str; 8] = [
    ".venv",
    "venv",
    "env",
    ".env",
    "packrat",
    "renv/library",
    "rsconnect",
    "rsconnect-python",
];

/// What was packed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Packed {
    /// Files and links.
    pub files: u64,
}

/// Packs the folder `dir` (which must hold a manifest.json) as a `.tar.gz` into `out`.
pub fn pack(dir: &Path, out: impl Write) -> Result<Packed, Error> {
    let manifest = dir.join(MANIFEST);
    if !fs::symlink_metadata(&manifest).is_ok_and(|m| m.is_file()) {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!(
                "{} has no {MANIFEST}; a bundle's folder needs one (write it with `rsconnect \
                 write-manifest`, or see examples/bundles/hello-python)",
                dir.display()
            ),
        ));
    }
    let mut builder = Builder::new(GzEncoder::new(out, Compression::default()));
    builder.mode(HeaderMode::Deterministic);
    builder.follow_symlinks(false);
    let failed = |path: &Path, e: std::io::Error| {
        Error::internal(format!("cannot pack {}: {e}", path.display()))
    };
    builder
        .append_path_with_name(&manifest, MANIFEST)
        .map_err(|e| failed(&manifest, e))?;
    let mut packed = Packed { files: 1 };
    // Folders still to walk, as (path on disk, name in the bundle); the stack is filled in
    // reverse so that names come out sorted, depth first.
    let mut folders: Vec<(PathBuf, PathBuf)> = vec![(dir.to_path_buf(), PathBuf::new())];
    while let Some((folder, name)) = folders.pop() {
        let mut entries: Vec<(String, PathBuf)> = fs::read_dir(&folder)
            .map_err(|e| failed(&folder, e))?
            .filter_map(Result::ok)
            .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
            .collect();
        entries.sort();
        let mut below = Vec::new();
        for (file_name, path) in entries {
            let inside = name.join(&file_name);
            let Ok(meta) = fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.is_dir() {
                if skipped_folder(&inside, &path) {
                    continue;
                }
                builder
                    .append_dir(&inside, &path)
                    .map_err(|e| failed(&path, e))?;
                below.push((path, inside));
            } else if meta.is_file() || meta.file_type().is_symlink() {
                if inside == Path::new(MANIFEST) || file_name.ends_with(".pyc") {
                    continue;
                }
                builder
                    .append_path_with_name(&path, &inside)
                    .map_err(|e| failed(&path, e))?;
                packed.files += 1;
            }
            // Sockets, FIFOs and devices have no place in a bundle: left out.
        }
        folders.extend(below.into_iter().rev());
    }
    builder
        .into_inner()
        .and_then(|gz| gz.finish())
        .and_then(|mut out| out.flush())
        .map_err(|e| failed(dir, e))?;
    Ok(packed)
}

/// Whether the folder `inside` (its name in the bundle) at `path` is left out.
fn skipped_folder(inside: &Path, path: &Path) -> bool {
    let leaf = inside
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    SKIP_ANYWHERE.contains(&leaf.as_ref())
        || SKIP_AT_TOP.iter().any(|top| inside == Path::new(top))
        || path.join("pyvenv.cfg").is_file()
}

#[cfg(test)]
#[path = "pack_tests.rs"]
mod tests;
