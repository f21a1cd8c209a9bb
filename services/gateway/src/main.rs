//! `execenv-gateway`: parses flags, loads configuration, starts the gateway.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use execenv_gateway::{Config, start};
use execenv_kit::binary;

/// The execenv gateway: a Connect-compatible REST API (`/__api__/v1/environments…`) over the
/// registry, with execenv's own routes (`/__api__/execenv/v1/select`, `explain`, `changes`,
/// `launches`), for posit-sdk, rsconnect and people with an API key (`Authorization: Key …`).
///
/// Configuration comes from defaults, then the YAML file given with --config, then EXECENV_…
/// variables: EXECENV_REGISTRY__URL (default http://127.0.0.1:50051), EXECENV_SELECTOR__URL
/// (http://127.0.0.1:50053, for select and explain), EXECENV_LAUNCHER__URL
/// (http://127.0.0.1:50054, for launches),
/// EXECENV_SERVER__HTTP_ADDR (0.0.0.0:3939), EXECENV_SERVER__ADMIN_ADDR (0.0.0.0:9455),
/// EXECENV_SERVER__HOSTNAME (the host name server_settings reports; default: this machine's),
/// EXECENV_AUTH__SERVICE_TOKEN.
#[derive(Parser, Debug)]
#[command(name = "execenv-gateway", version, after_help = execenv_kit::binary::OBSERVABILITY_HELP)]
struct Args {
    /// YAML configuration file.
    #[arg(long, env = "EXECENV_CONFIG")]
    config: Option<PathBuf>,
    /// Print the effective configuration (JSON, secrets masked) and exit.
    #[arg(long)]
    print_config: bool,
}

fn main() -> anyhow::Result<ExitCode> {
    let args = Args::parse();
    let env: HashMap<String, String> = std::env::vars().collect();
    let config: Config = match binary::load_config(args.config.as_deref(), &env) {
        Ok(config) => config,
        Err(exit) => return Ok(exit),
    };
    if args.print_config {
        binary::print_config(config, |c| &mut c.auth)?;
        return Ok(ExitCode::SUCCESS);
    }
    let telemetry = config.telemetry.clone();
    let service = async move |shutdown| start(config, shutdown).await.map(|running| running.done);
    Ok(binary::run("execenv-gateway", telemetry, &env, service)?)
}
