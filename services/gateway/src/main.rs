//! `execenv-gateway`: configuration → service → serve, through the kit's bootstrap.

use std::process::ExitCode;

use clap::Parser;
use execenv_gateway::{Config, start};
use execenv_kit::bootstrap::{self, ServiceArgs};

/// The execenv gateway: a Connect-compatible REST API (`/__api__/v1/environments…`) over the
/// registry, with execenv's own routes (`/__api__/execenv/v1/select`, `explain`, `changes`,
/// `launches`), for posit-sdk, rsconnect and people with an API key (`Authorization: Key …`).
#[derive(Parser, Debug)]
#[command(name = "execenv-gateway", version)]
struct Args {
    #[command(flatten)]
    service: ServiceArgs,
}

fn main() -> anyhow::Result<ExitCode> {
    let args: Args = bootstrap::parse_args::<Args, Config>();
    Ok(bootstrap::main(&args.service, &[], start)?)
}
