//! `execenv-environment-registry`: parses flags, loads configuration, starts the registry.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use execenv_environment_registry::{Config, start};

/// The execenv environment registry: the catalogue of execution environments over gRPC.
///
/// Configuration comes from defaults, then the YAML file given with --config, then EXECENV_…
/// variables (e.g. EXECENV_DATABASE__URL=postgres://execenv@db:5432/execenv,
/// EXECENV_SERVER__GRPC_ADDR=0.0.0.0:50051, EXECENV_AUTH__SERVICE_TOKEN=…).
/// The default database is an embedded SQLite file, execenv-registry.db, in the working folder.
#[derive(Parser, Debug)]
#[command(name = "execenv-environment-registry", version)]
struct Args {
    /// YAML configuration file.
    #[arg(long, env = "EXECENV_CONFIG")]
    config: Option<PathBuf>,
    /// Print the effective configuration (JSON, secrets masked) and exit.
    #[arg(long)]
    print_config: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let env: HashMap<String, String> = std::env::vars().collect();
    let config: Config =
        execenv_kit::config::load(&Config::default(), args.config.as_deref(), &env)
            .context("invalid configuration")?;
    if args.print_config {
        // Secrets stay secret: the token and the database password are masked.
        let mut shown = config.clone();
        shown.database.url = execenv_environment_registry::redact_url(&shown.database.url);
        if shown.auth.service_token.is_some() {
            shown.auth.service_token = Some("***".to_owned());
        }
        println!("{}", serde_json::to_string_pretty(&shown)?);
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let _telemetry =
            execenv_kit::telemetry::init("execenv-environment-registry", &config.telemetry, &env)
                .context("cannot start telemetry")?;
        let shutdown = execenv_kit::shutdown::Shutdown::on_signal();
        let running = start(config, shutdown).await?;
        running.done.await.context("registry task failed")??;
        anyhow::Ok(())
    })
}
