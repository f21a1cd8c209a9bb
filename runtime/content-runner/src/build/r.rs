//! The R build: `renv::restore()` of the bundle's `renv.lock` into `WORK/r/library`, with renv's
//! package cache under the cache folder.

use std::path::Path;

use tokio::process::Command;

use crate::Error;
use crate::plan::{RENV_LOCK, RPlan};
use crate::process::{Signals, run_to_success};
use crate::record::WorkDir;

/// The R expression that restores the lockfile into the library named by `R_LIBS_USER`.
/// `--no-init-file` keeps the bundle's own `.Rprofile` (often renv's autoloader) out of the way.
pub const RESTORE: &str =
    "renv::restore(lockfile = 'renv.lock', library = Sys.getenv('R_LIBS_USER'), prompt = FALSE)";

/// Restores `renv.lock` into a fresh `WORK/r/library`.
pub async fn restore(
    plan: &RPlan,
    bundle: &Path,
    work: &WorkDir,
    cache: &Path,
    signals: &mut Signals,
) -> Result<(), Error> {
    if !plan.has_renv {
        return Err(Error::Failed(format!(
            "the bundle has {RENV_LOCK} but R at {} has no renv package; install renv into that R installation (R -e 'install.packages(\"renv\")') or choose an environment whose R has it",
            plan.interpreter.display()
        )));
    }
    let library = work.r_library();
    if library.exists() {
        std::fs::remove_dir_all(&library).map_err(|err| {
            Error::io(
                format!("{}: cannot remove the old R library", library.display()),
                err,
            )
        })?;
    }
    let renv_cache = cache.join("renv");
    for dir in [&library, &renv_cache] {
        std::fs::create_dir_all(dir)
            .map_err(|err| Error::io(format!("{}: cannot create", dir.display()), err))?;
    }
    let mut command = Command::new(&plan.interpreter);
    command
        .args(["-s", "--no-init-file", "-e", RESTORE])
        .current_dir(bundle)
        .env("RENV_PATHS_CACHE", &renv_cache)
        .env("R_LIBS_USER", &library);
    run_to_success(
        &mut command,
        "renv",
        signals,
        &format!("cannot start R at {}", plan.interpreter.display()),
        &format!("renv::restore() of {RENV_LOCK} failed"),
    )
    .await
}
