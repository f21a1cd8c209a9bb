//! Whether the bundle's restored packages hold what a mode's server command runs: asked of the
//! build's own Python (`importlib.util.find_spec`) or R (`system.file`), before anything starts.

use std::path::Path;

use tokio::process::Command;

use super::mode::AppMode;
use crate::Error;
use crate::process::describe;
use crate::record::WorkDir;

/// Prints, one a line, the modules named in its arguments that the interpreter cannot import.
const PYTHON_PROBE: &str = "import importlib.util, sys\n\
    for name in sys.argv[1:]:\n    \
    if importlib.util.find_spec(name) is None: print(name)";

/// Prints, one a line, the packages named after `--args` that R cannot find.
const R_PROBE: &str = r"for (name in commandArgs(trailingOnly = TRUE)) if (!nzchar(system.file(package = name))) cat(name, '\n', sep = '')";

/// Checks that the build's virtual environment has `package`, the Python package `mode`'s server
/// runs; returns whether it also has uvicorn. `package_file` is the bundle's requirements file.
pub async fn check_python_server(
    mode: AppMode,
    package: &str,
    work: &WorkDir,
    package_file: &Path,
) -> Result<bool, Error> {
    let python = work.venv_python();
    let output = Command::new(&python)
        .args(["-c", PYTHON_PROBE, package, "uvicorn"])
        .output()
        .await
        .map_err(|err| {
            Error::io(
                format!("cannot start {} to look for {package}", python.display()),
                err,
            )
        })?;
    let missing = probe_answer(&output, "the virtual environment's Python")?;
    if missing.iter().any(|name| name == package) {
        return Err(missing_python_package(
            mode,
            package,
            package_file,
            &work.venv(),
        ));
    }
    Ok(!missing.iter().any(|name| name == "uvicorn"))
}

/// Checks that R at `r` finds `package`, the R package `mode`'s server runs, in `library` (the
/// build's R library, when the bundle has renv.lock) or its own libraries.
pub async fn check_r_server(
    mode: AppMode,
    package: &str,
    r: &Path,
    library: Option<&Path>,
) -> Result<(), Error> {
    let mut command = Command::new(r);
    command.args(["-s", "--no-init-file", "-e", R_PROBE, "--args", package]);
    if let Some(library) = library {
        command.env("R_LIBS_USER", library);
    }
    let output = command.output().await.map_err(|err| {
        Error::io(
            format!("cannot start R at {} to look for {package}", r.display()),
            err,
        )
    })?;
    let missing = probe_answer(&output, &format!("R at {}", r.display()))?;
    if missing.iter().any(|name| name == package) {
        return Err(missing_r_package(mode, package, r, library));
    }
    Ok(())
}

/// The names a probe printed, or why it failed.
fn probe_answer(output: &std::process::Output, who: &str) -> Result<Vec<String>, Error> {
    if !output.status.success() {
        return Err(Error::Failed(format!(
            "{who} could not tell which packages it has ({}): {}",
            describe(output.status),
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| line.trim().to_owned())
        .filter(|line| !line.is_empty())
        .collect())
}

/// The refusal when the virtual environment lacks the mode's server package.
pub fn missing_python_package(
    mode: AppMode,
    package: &str,
    package_file: &Path,
    venv: &Path,
) -> Error {
    Error::Invalid(format!(
        "app mode {} needs the Python package {package} in the bundle's requirements ({}); it is not installed in the build's virtual environment at {}",
        mode.name(),
        package_file.display(),
        venv.display()
    ))
}

/// The refusal when R lacks the mode's server package.
pub fn missing_r_package(mode: AppMode, package: &str, r: &Path, library: Option<&Path>) -> Error {
    let mode = mode.name();
    Error::Invalid(match library {
        Some(library) => format!(
            "app mode {mode} needs the R package {package} in the bundle's renv.lock; it is not installed in the build's R library at {} (record it with renv::snapshot() and publish again)",
            library.display()
        ),
        None => format!(
            "app mode {mode} needs the R package {package}; R at {} does not have it and the bundle has no renv.lock to restore it from (record it with renv::snapshot() and publish again)",
            r.display()
        ),
    })
}
