//! `execenv-selector`: configuration → service → serve, through the kit's bootstrap.

use std::process::ExitCode;

use clap::Parser;
use execenv_kit::bootstrap::{self, ServiceArgs};
use execenv_selector::{Config, start};

/// The execenv selector: chooses the execution environment a piece of content builds and runs in,
/// from an in-memory catalogue kept current by a watch on the registry. It is ready (/readyz 200,
/// gRPC health SERVING) once it holds the whole catalogue.
#[derive(Parser, Debug)]
#[command(name = "execenv-selector", version)]
struct Args {
    #[command(flatten)]
    service: ServiceArgs,
}

fn main() -> anyhow::Result<ExitCode> {
    let args: Args = bootstrap::parse_args::<Args, Config>();
    Ok(bootstrap::main(&args.service, &[], start)?)
}
