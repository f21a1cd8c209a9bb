//! `execenv-launcher`: configuration → service → serve, through the kit's bootstrap.

use std::process::ExitCode;

use clap::Parser;
use execenv_kit::bootstrap::{self, ServiceArgs};
use execenv_launcher::{Config, start};

/// The execenv launcher: builds and runs content in the execution environment the selector
/// chooses, as Kubernetes Jobs (launcher.backend = kubernetes) or as local processes (local, the
/// default).
#[derive(Parser, Debug)]
#[command(name = "execenv-launcher", version)]
struct Args {
    #[command(flatten)]
    service: ServiceArgs,
}

fn main() -> anyhow::Result<ExitCode> {
    let args: Args = bootstrap::parse_args::<Args, Config>();
    Ok(bootstrap::main(&args.service, &[], start)?)
}
