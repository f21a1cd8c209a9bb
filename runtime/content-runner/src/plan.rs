//! What a bundle needs built, with which interpreters, and the digest that identifies that build.
//!
//! `build` and `run` compute the plan the same way, so `run` can tell whether the recorded build
//! still matches the bundle and the interpreters it would run with now.

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::manifest::Manifest;
use crate::{Error, Interpreters};

/// The renv lockfile that makes `build` restore an R library.
pub const RENV_LOCK: &str = "renv.lock";

/// The builds a bundle needs and their inputs.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// A virtual environment, when the content uses Python.
    pub python: Option<PythonPlan>,
    /// An R library, when the bundle has `renv.lock`.
    pub r: Option<RPlan>,
}

/// The Python part of a plan.
#[derive(Debug, Clone, PartialEq)]
pub struct PythonPlan {
    /// The interpreter the virtual environment is created with.
    pub interpreter: PathBuf,
    /// Its version, `major.minor.patch`.
    pub version: String,
    /// The package file, inside the bundle.
    pub package_file: PathBuf,
    /// Its bytes, or `None` when the bundle has no package file (nothing to install).
    pub packages: Option<Vec<u8>>,
}

/// The R part of a plan.
#[derive(Debug, Clone, PartialEq)]
pub struct RPlan {
    /// The R program.
    pub interpreter: PathBuf,
    /// Its version.
    pub version: String,
    /// Whether that R has the renv package.
    pub has_renv: bool,
    /// The bytes of `renv.lock`.
    pub lockfile: Vec<u8>,
}

impl Plan {
    /// Works out the plan for `bundle`: reads the package files and asks each interpreter its version.
    pub fn probe(
        manifest: &Manifest,
        bundle: &Path,
        interpreters: &Interpreters,
        path_var: Option<&OsStr>,
    ) -> Result<Plan, Error> {
        let package_file = bundle.join(manifest.package_file()?);
        let python = if manifest.python.is_some() || package_file.is_file() {
            let interpreter = resolve_program(interpreters.python.as_deref(), &["python3", "python"], path_var)
                .map_err(|why| Error::Invalid(format!("the Python interpreter {why} (--python or EXECENV_PYTHON)")))?
                .ok_or_else(|| {
                    Error::Invalid(
                        "the bundle uses Python but no interpreter was given and none is on PATH; pass --python PATH or set EXECENV_PYTHON to the environment's Python installation".into(),
                    )
                })?;
            let version = python_version(&interpreter)?;
            let packages = read_if_present(&package_file)?;
            Some(PythonPlan {
                interpreter,
                version,
                package_file,
                packages,
            })
        } else {
            None
        };
        let lock_path = bundle.join(RENV_LOCK);
        let r = match read_if_present(&lock_path)? {
            None => None,
            Some(lockfile) => {
                let interpreter = resolve_program(interpreters.r.as_deref(), &["R"], path_var)
                    .map_err(|why| Error::Invalid(format!("R {why} (--r or EXECENV_R)")))?
                    .ok_or_else(|| {
                        Error::Invalid(
                            "the bundle has renv.lock but R was not found: no --r was given, EXECENV_R is unset and no R is on PATH; pass --r PATH (the environment's R installation, e.g. /opt/R/4.4.1/bin/R)".into(),
                        )
                    })?;
                let (version, has_renv) = r_version(&interpreter)?;
                Some(RPlan {
                    interpreter,
                    version,
                    has_renv,
                    lockfile,
                })
            }
        };
        Ok(Plan { python, r })
    }

    /// The digest of the build: sha256 over each interpreter's path and version and the bytes of
    /// its package file. Each field is length-prefixed so no two plans share a digest by accident.
    pub fn digest(&self) -> String {
        let mut hash = Sha256::new();
        let mut field = |bytes: &[u8]| {
            hash.update((bytes.len() as u64).to_le_bytes());
            hash.update(bytes);
        };
        field(b"execenv-content-runner build v1");
        if let Some(python) = &self.python {
            field(b"python");
            field(python.interpreter.as_os_str().as_encoded_bytes());
            field(python.version.as_bytes());
            field(python.packages.as_deref().unwrap_or_default());
        }
        if let Some(r) = &self.r {
            field(b"r");
            field(r.interpreter.as_os_str().as_encoded_bytes());
            field(r.version.as_bytes());
            field(&r.lockfile);
        }
        let digest = hash.finalize();
        let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
        format!("sha256:{hex}")
    }
}

/// Finds a program: `given` as a path (made absolute) or a name on `PATH`; with nothing given, the
/// first of `defaults` on `PATH`, or `None`. The error completes "the X interpreter …".
pub fn resolve_program(
    given: Option<&Path>,
    defaults: &[&str],
    path_var: Option<&OsStr>,
) -> Result<Option<PathBuf>, String> {
    match given.filter(|given| !given.as_os_str().is_empty()) {
        Some(given) if given.components().count() > 1 || given.is_absolute() => {
            let path =
                std::path::absolute(given).map_err(|err| format!("{}: {err}", given.display()))?;
            if is_executable(&path) {
                Ok(Some(path))
            } else {
                Err(format!("{} is not an executable file", path.display()))
            }
        }
        Some(name) => search_path(name.as_os_str(), path_var)
            .map(Some)
            .ok_or_else(|| format!("{} was not found on PATH", name.display())),
        None => Ok(defaults
            .iter()
            .find_map(|name| search_path(OsStr::new(name), path_var))),
    }
}

fn search_path(name: &OsStr, path_var: Option<&OsStr>) -> Option<PathBuf> {
    std::env::split_paths(path_var?)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path)
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

fn read_if_present(path: &Path) -> Result<Option<Vec<u8>>, Error> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(Error::io(format!("{}: cannot read", path.display()), err)),
    }
}

/// Asks a Python interpreter for its `major.minor.patch` version.
pub fn python_version(interpreter: &Path) -> Result<String, Error> {
    let output = Command::new(interpreter)
        .args(["-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"])
        .output()
        .map_err(|err| {
            Error::io(
                format!(
                    "the Python interpreter {} could not be started",
                    interpreter.display()
                ),
                err,
            )
        })?;
    let version = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    if !output.status.success() || version.is_empty() {
        return Err(Error::Failed(format!(
            "the Python interpreter {} did not report its version ({}): {}",
            interpreter.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(version)
}

/// The exit status of the R probe when R runs but has no renv package.
const NO_RENV: i32 = 42;

/// Asks R for its version and whether it has the renv package.
pub fn r_version(interpreter: &Path) -> Result<(String, bool), Error> {
    let probe = format!(
        "cat(as.character(getRversion())); if (!requireNamespace('renv', quietly = TRUE)) quit(save = 'no', status = {NO_RENV})"
    );
    let output = Command::new(interpreter)
        .args(["-s", "--no-init-file", "-e", &probe])
        .output()
        .map_err(|err| {
            Error::io(
                format!("R at {} could not be started", interpreter.display()),
                err,
            )
        })?;
    let version = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let has_renv = match output.status.code() {
        Some(0) => true,
        Some(NO_RENV) => false,
        _ => {
            return Err(Error::Failed(format!(
                "R at {} did not report its version ({}): {}",
                interpreter.display(),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
    };
    Ok((version, has_renv))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn python_plan(version: &str, packages: Option<&[u8]>) -> Plan {
        Plan {
            python: Some(PythonPlan {
                interpreter: PathBuf::from("/opt/python/3.11.7/bin/python3"),
                version: version.into(),
                package_file: PathBuf::from("/bundle/requirements.txt"),
                packages: packages.map(<[u8]>::to_vec),
            }),
            r: None,
        }
    }

    #[test]
    fn digest_is_stable_and_changes_with_each_input() {
        let base = python_plan("3.11.7", Some(b"numpy==2.0\n"));
        assert_eq!(
            base.digest(),
            python_plan("3.11.7", Some(b"numpy==2.0\n")).digest()
        );
        assert!(base.digest().starts_with("sha256:"));
        assert_eq!(base.digest().len(), "sha256:".len() + 64);
        assert_ne!(
            base.digest(),
            python_plan("3.11.8", Some(b"numpy==2.0\n")).digest()
        );
        assert_ne!(
            base.digest(),
            python_plan("3.11.7", Some(b"numpy==2.1\n")).digest()
        );
        let mut moved = base.clone();
        if let Some(python) = moved.python.as_mut() {
            python.interpreter = PathBuf::from("/usr/bin/python3");
        }
        assert_ne!(base.digest(), moved.digest());
        let mut with_r = base.clone();
        with_r.r = Some(RPlan {
            interpreter: PathBuf::from("/opt/R/4.4.1/bin/R"),
            version: "4.4.1".into(),
            has_renv: true,
            lockfile: b"{}".to_vec(),
        });
        assert_ne!(base.digest(), with_r.digest());
    }

    #[test]
    fn digest_fields_cannot_run_into_each_other() {
        // "3.11.7" + "1x" and "3.11.71" + "x" would collide without length prefixes.
        assert_ne!(
            python_plan("3.11.7", Some(b"1x")).digest(),
            python_plan("3.11.71", Some(b"x")).digest()
        );
    }

    #[test]
    fn programs_resolve_from_a_path_or_on_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let program = dir.path().join("python3");
        std::fs::write(&program, "#!/bin/sh\n").expect("write");
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let path_var = std::env::join_paths([Path::new("/nonexistent"), dir.path()]).expect("join");
        let path_var = Some(path_var.as_os_str());

        assert_eq!(
            resolve_program(Some(&program), &[], None),
            Ok(Some(program.clone()))
        );
        assert_eq!(
            resolve_program(None, &["python3"], path_var),
            Ok(Some(program.clone()))
        );
        assert_eq!(
            resolve_program(Some(Path::new("python3")), &[], path_var),
            Ok(Some(program.clone()))
        );
        assert_eq!(resolve_program(None, &["R"], path_var), Ok(None));
        assert_eq!(
            resolve_program(Some(Path::new("")), &["R"], path_var),
            Ok(None)
        );
        let missing =
            resolve_program(Some(&dir.path().join("nope")), &[], path_var).expect_err("missing");
        assert!(
            missing.ends_with("nope is not an executable file"),
            "{missing}"
        );
        assert!(resolve_program(Some(Path::new("R")), &[], path_var).is_err());
    }
}
