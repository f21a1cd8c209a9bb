//! `execenvctl`: the admin command line of execenv. Parses the flags, runs the command against the
//! registry (or config-sync, the selector, the launcher, the image examiner; the gateway for
//! `bundle`) and prints the result; failures print `error: …` and exit with 2 for invalid input,
//! 1 otherwise (as does `launch --wait` when the launch did not succeed); `env drift` exits 3 when
//! an environment is in drift or its image unreadable.

mod accounts;
mod accounts_args;
mod args;
mod audit;
mod bundle_args;
mod bundles;
mod cli;
mod commands;
mod connection;
mod env_args;
mod environments;
mod gateway;
mod image_args;
mod images;
mod launch;
mod launch_args;
mod launcher;
mod pack;
mod principals;
mod render;
mod report;
mod select_args;
mod selection;
mod session;
mod spec;
mod sync;
#[cfg(test)]
mod testing;
mod values;

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let runtime = match runtime() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(report) => {
            write_ignoring_closed_pipe(&mut std::io::stdout(), &report.stdout);
            if let Some(note) = report.note {
                write_ignoring_closed_pipe(&mut std::io::stderr(), &format!("{note}\n"));
            }
            ExitCode::from(report.exit_code)
        }
        Err(e) => {
            write_ignoring_closed_pipe(
                &mut std::io::stderr(),
                &format!("{}\n", render::error_text(&e)),
            );
            ExitCode::from(render::exit_code(&e))
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Writes `text`; a reader that went away (`execenvctl env list | head`) is not an error.
fn write_ignoring_closed_pipe(out: &mut impl Write, text: &str) {
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}
