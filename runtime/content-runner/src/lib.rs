//! execenv-content-runner: the runtime component that performs the two jobs of content execution
//! inside the content's container (or on the host, for the local backend):
//!
//! - `build` restores the bundle's packages with the chosen installations (a Python virtual
//!   environment installed with pip, an R library restored with renv) and writes a build record;
//! - `run` starts the content in that environment, forwarding SIGTERM/SIGINT and propagating the
//!   exit code, and refuses when the build is missing or out of date; given a port, it starts an
//!   interactive app mode's server from the bundle's own packages (`serve`).
//!
//! Layout of the work folder:
//!
//! ```text
//! WORK/build-record.json   what the last successful build produced (digest, interpreters, packages)
//! WORK/python/venv         the virtual environment
//! WORK/r/library           the R library renv restores into
//! CACHE/pip/<X.Y.Z>        pip's cache, per Python version
//! CACHE/renv               renv's package cache
//! ```

pub mod build;
pub mod bundle;
pub mod error;
pub mod install;
pub mod manifest;
pub mod plan;
pub mod process;
pub mod record;
pub mod run;
pub mod serve;
pub mod status;

pub use error::Error;

/// The program's name, used as the prefix of its own messages.
pub const PROGRAM: &str = "execenv-content-runner";

/// The installations the caller chose (`--python`, `--r`, `--quarto` or `EXECENV_*`), each either
/// a path or a program name to look up on `PATH`.
#[derive(Debug, Clone, Default)]
pub struct Interpreters {
    /// The Python interpreter.
    pub python: Option<std::path::PathBuf>,
    /// The R program.
    pub r: Option<std::path::PathBuf>,
    /// The Quarto program.
    pub quarto: Option<std::path::PathBuf>,
}
