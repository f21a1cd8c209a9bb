//! execenv-content-runner: `build`, `run` and `install-runtime` (see the library's docs).

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use execenv_content_runner::build::{self, BuildOptions};
use execenv_content_runner::install::{DEFAULT_DEST, install_runtime};
use execenv_content_runner::run::{self, RunOptions};
use execenv_content_runner::{Interpreters, PROGRAM};

/// Restores a content bundle's packages and runs the content with them.
#[derive(Parser)]
#[command(name = "execenv-content-runner", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Restore the bundle's packages into the work folder (skipped when already up to date).
    Build {
        #[command(flatten)]
        common: Common,
        /// The package cache folder (pip and renv caches live under it).
        #[arg(long)]
        cache: PathBuf,
    },
    /// Run the content with the restored environment; refuses when the build is missing or stale.
    Run {
        #[command(flatten)]
        common: Common,
        /// The port an interactive app listens on; the content also gets it as PORT. With it and
        /// no command, the app mode chooses the server command (docs/app-modes.md).
        #[arg(long, env = "EXECENV_CONTENT_PORT", value_parser = clap::value_parser!(u16).range(1..))]
        port: Option<u16>,
        /// The address an interactive app binds.
        #[arg(long, env = "EXECENV_CONTENT_HOST", default_value = "127.0.0.1")]
        host: String,
        /// The public path prefix the gateway strips before forwarding, e.g. /content/<guid>; no
        /// trailing slash, empty at the root.
        #[arg(long, env = "EXECENV_CONTENT_BASE_PATH", default_value = "")]
        base_path: String,
        /// The content's command; without it, the app mode's server (with --port) or the
        /// manifest's entrypoint for script app modes.
        #[arg(last = true)]
        command: Vec<OsString>,
    },
    /// Copy the runtime into DEST/bin (the init container's entrypoint).
    InstallRuntime {
        /// The mounted runtime volume; it must exist.
        #[arg(default_value = DEFAULT_DEST)]
        dest: PathBuf,
    },
}

#[derive(Args)]
struct Common {
    /// The bundle folder, with Connect's manifest.json.
    #[arg(long)]
    bundle: PathBuf,
    /// The work folder: build-record.json, python/venv, r/library.
    #[arg(long)]
    work: PathBuf,
    /// The Python interpreter.
    #[arg(long, env = "EXECENV_PYTHON")]
    python: Option<PathBuf>,
    /// The R program.
    #[arg(long = "r", env = "EXECENV_R")]
    r: Option<PathBuf>,
    /// The Quarto program.
    #[arg(long, env = "EXECENV_QUARTO")]
    quarto: Option<PathBuf>,
    /// Where to write the final status as JSON.
    #[arg(long)]
    status_file: Option<PathBuf>,
}

impl Common {
    fn interpreters(&self) -> Interpreters {
        Interpreters {
            python: self.python.clone(),
            r: self.r.clone(),
            quarto: self.quarto.clone(),
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let path_var = std::env::var_os("PATH");
    let code = match cli.command {
        Command::Build { common, cache } => {
            let options = BuildOptions {
                bundle: common.bundle.clone(),
                work: common.work.clone(),
                cache,
                interpreters: common.interpreters(),
                path_var,
            };
            build::execute(&options, common.status_file.as_deref()).await
        }
        Command::Run {
            common,
            port,
            host,
            base_path,
            command,
        } => {
            let options = RunOptions {
                bundle: common.bundle.clone(),
                work: common.work.clone(),
                interpreters: common.interpreters(),
                command,
                port,
                host,
                base_path,
                path_var,
            };
            run::execute(&options, common.status_file.as_deref()).await
        }
        Command::InstallRuntime { dest } => match install_runtime(&dest) {
            Ok(installed) => {
                eprintln!(
                    "{PROGRAM}: installed the runtime at {}",
                    installed.display()
                );
                0
            }
            Err(err) => {
                eprintln!("{PROGRAM}: install-runtime failed: {err}");
                err.exit_code()
            }
        },
    };
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
