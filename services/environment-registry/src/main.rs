//! `execenv-environment-registry`: parses flags, loads configuration, starts the registry.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use execenv_environment_registry::{Config, redact_url, start};
use execenv_kit::binary;

/// The execenv environment registry: the catalogue of execution environments over gRPC.
///
/// Configuration comes from defaults, then the YAML file given with --config, then EXECENV_…
/// variables (e.g. EXECENV_DATABASE__URL=postgres://execenv@db:5432/execenv,
/// EXECENV_SERVER__GRPC_ADDR=0.0.0.0:50051, EXECENV_AUTH__SERVICE_TOKEN=…).
/// The default database is an embedded SQLite file, execenv-registry.db, in the working folder.
#[derive(Parser, Debug)]
#[command(name = "execenv-environment-registry", version, after_help = execenv_kit::binary::OBSERVABILITY_HELP)]
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
    let mut config: Config = match binary::load_config(args.config.as_deref(), &env) {
        Ok(config) => config,
        Err(exit) => return Ok(exit),
    };
    if args.print_config {
        // Secrets stay secret: the token and the database password are masked.
        config.database.url = redact_url(&config.database.url);
        binary::print_config(config, |c| &mut c.auth)?;
        return Ok(ExitCode::SUCCESS);
    }
    let telemetry = config.telemetry.clone();
    // `done` ends with the database error when the database cannot be opened.
    let service = async move |shutdown| start(config, shutdown).await.map(|running| running.done);
    Ok(binary::run(
        "execenv-environment-registry",
        telemetry,
        &env,
        service,
    )?)
}
