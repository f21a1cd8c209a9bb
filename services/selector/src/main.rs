//! `execenv-selector`: parses flags, loads configuration, starts the selector.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
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
#[command(name = "execenv-selector", version)]
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
    let config: Config =
        execenv_kit::config::load(&Config::default(), args.config.as_deref(), &env)
            .context("invalid configuration")?;
    if args.print_config {
        let mut shown = config.clone();
        if shown.auth.service_token.is_some() {
            shown.auth.service_token = Some("***".to_owned());
        }
        println!("{}", serde_json::to_string_pretty(&shown)?);
        return Ok(ExitCode::SUCCESS);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let _telemetry = execenv_kit::telemetry::init("execenv-selector", &config.telemetry, &env)
            .context("cannot start telemetry")?;
        let shutdown = execenv_kit::shutdown::Shutdown::on_signal();
        let running = match start(config, shutdown).await {
            Ok(running) => running,
            Err(e) => {
                // The user's to fix: the message, without a backtrace.
                eprintln!("error: {e}");
                return Ok(ExitCode::FAILURE);
            }
        };
        running.done.await.context("selector task failed")?;
        anyhow::Ok(ExitCode::SUCCESS)
    })
}
