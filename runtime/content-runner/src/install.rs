//! `install-runtime`: the init container's entrypoint. It copies the runtime (this one binary)
//! into the shared volume the content container mounts, without needing a shell in the image.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::{Error, PROGRAM};

/// Where the init container mounts the shared runtime volume.
pub const DEFAULT_DEST: &str = "/mnt/execenv-runtime";

/// Copies the running binary to `DEST/bin/execenv-content-runner`; returns that path.
pub fn install_runtime(dest: &Path) -> Result<PathBuf, Error> {
    let source = std::env::current_exe()
        .map_err(|err| Error::io("cannot locate the running binary", err))?;
    install_binary(&source, dest)
}

/// Copies `source` to `DEST/bin/execenv-content-runner` (mode 0755), through a temporary file so
/// the content never sees a half-copied runner. `DEST` must exist: it is the mounted volume, and
/// creating it would hide a missing mount.
pub fn install_binary(source: &Path, dest: &Path) -> Result<PathBuf, Error> {
    if !dest.is_dir() {
        return Err(Error::Failed(format!(
            "{}: no such folder; mount the shared runtime volume there (the init container's emptyDir) or pass the folder to install into",
            dest.display()
        )));
    }
    let bin = dest.join("bin");
    std::fs::create_dir_all(&bin)
        .map_err(|err| Error::io(format!("{}: cannot create", bin.display()), err))?;
    let target = bin.join(PROGRAM);
    let temporary = bin.join(format!(".{PROGRAM}.tmp-{}", std::process::id()));
    let copy = || -> std::io::Result<()> {
        std::fs::copy(source, &temporary)?;
        std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(0o755))?;
        std::fs::rename(&temporary, &target)
    };
    copy().map_err(|err| {
        let _ = std::fs::remove_file(&temporary);
        Error::io(
            format!("cannot copy {} to {}", source.display(), target.display()),
            err,
        )
    })?;
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_the_binary_into_dest_bin_as_an_executable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let source = dir.path().join("runner");
        std::fs::write(&source, b"\x7fELF runner").expect("write");
        let dest = dir.path().join("mnt");
        std::fs::create_dir(&dest).expect("mkdir");
        let installed = install_binary(&source, &dest).expect("install");
        assert_eq!(installed, dest.join("bin").join(PROGRAM));
        assert_eq!(std::fs::read(&installed).expect("read"), b"\x7fELF runner");
        let mode = std::fs::metadata(&installed)
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
        // Installing again replaces the copy and leaves no temporary file behind.
        install_binary(&source, &dest).expect("again");
        assert_eq!(std::fs::read_dir(dest.join("bin")).expect("ls").count(), 1);
    }

    #[test]
    fn a_missing_destination_is_an_error_not_created() {
        let dir = tempfile::tempdir().expect("tempdir");
        let dest = dir.path().join("absent");
        let err = install_binary(&dir.path().join("runner"), &dest).expect_err("absent");
        assert_eq!(err.exit_code(), 1);
        assert!(
            err.to_string()
                .contains("absent: no such folder; mount the shared runtime volume"),
            "{err}"
        );
        assert!(!dest.exists());
    }
}
