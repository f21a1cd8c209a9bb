//! `execenv-selector`: parses flags, loads configuration, starts the selector.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use execenv_kit::binary;
use execenv_selector::{Config, start};

/// The execenv selector: chooses the execution environment a piece of content builds and runs in,
/// from an in-memory catalogue kept current by a watch on the registry.
///
/// Configuration comes from defaults, then the YAML file given with --config, then EXECENV_…
/// variables: EXECENV_REGISTRY__URL (default http://127.0.0.1:50051),
/// EXECENV_SELECTION__PYTHON_VERSION_MATCHING (major-minor | exact; default major-minor),
/// EXECENV_SELECTION__R_VERSION_MATCHING and EXECENV_SELECTION__QUARTO_VERSION_MATCHING
/// (nearest | major-minor | exact; default nearest), EXECENV_SERVER__GRPC_ADDR (0.0.0.0:50053),
/// EXECENV_SERVER__ADMIN_ADDR (0.0.0.0:9453), EXECENV_AUTH__SERVICE_TOKEN.
/// The selector is ready (/readyz 200, gRPC health SERVING) once it holds the whole catalogue.
#[derive(Parser, Debug)]
#[command(name = "execenv-selector", version, after_help = execenv_kit::binary::OBSERVABILITY_HELP)]
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
    Ok(binary::run("execenv-selector", telemetry, &env, service)?)
}
