//! `execenv-launcher`: parses flags, loads configuration, starts the launcher.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use execenv_launcher::{Config, start};

/// The execenv launcher: builds and runs content in the execution environment the selector
/// chooses, as Kubernetes Jobs or as local processes.
///
/// Configuration comes from defaults, then the YAML file given with --config, then EXECENV_…
/// variables. The most used:
///   EXECENV_BACKEND                      local (default) or kubernetes
///   EXECENV_SELECTOR__URL                the selector (default http://127.0.0.1:50053)
///   EXECENV_LOCAL__DATA_DIR              local: bundles in content/<guid>/<bundle>/bundle, work
///                                        folders, caches, launches/<id>/ (default ./execenv-data)
///   EXECENV_LOCAL__MAX_CONCURRENT        local: launches running at once (default 2)
///   EXECENV_LOCAL__CANCEL_GRACE_MS       local: SIGTERM → SIGKILL delay on cancel (default 10000)
///   EXECENV_SUPERVISOR                   local: a program every launch runs under
///   EXECENV_KUBERNETES__NAMESPACE        kubernetes: where Jobs are created (default "default")
///   EXECENV_KUBERNETES__KUBECONFIG       kubernetes: a kubeconfig (default KUBECONFIG or in-cluster)
///   EXECENV_KUBERNETES__RUNTIME_IMAGE    kubernetes: the runtime-components image
///   EXECENV_KUBERNETES__JOB_TEMPLATE     kubernetes: a job base (YAML Job) merged under every Job
///   EXECENV_SERVER__GRPC_ADDR (0.0.0.0:50054), EXECENV_SERVER__ADMIN_ADDR (0.0.0.0:9454),
///   EXECENV_AUTH__SERVICE_TOKEN.
/// --print-config shows every setting with its effective value.
#[derive(Parser, Debug)]
#[command(name = "execenv-launcher", version, verbatim_doc_comment)]
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
    let config = match configuration(&args, &env) {
        Ok(config) => config,
        Err(e) => {
            // The user's to fix: the message and its causes, without a backtrace.
            eprintln!("error: {e:#}");
            return Ok(ExitCode::from(2));
        }
    };
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
        let _telemetry = execenv_kit::telemetry::init("execenv-launcher", &config.telemetry, &env)
            .context("cannot start telemetry")?;
        let shutdown = execenv_kit::shutdown::Shutdown::on_signal();
        let running = match start(config, shutdown).await {
            Ok(running) => running,
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(ExitCode::FAILURE);
            }
        };
        running.done.await.context("launcher task failed")?;
        anyhow::Ok(ExitCode::SUCCESS)
    })
}

/// The effective configuration: defaults, file, `EXECENV_<SECTION>__<KEY>` variables, then the two
/// settings without a section (`EXECENV_BACKEND`, `EXECENV_SUPERVISOR`), which the kit's loader
/// does not read.
fn configuration(args: &Args, env: &HashMap<String, String>) -> anyhow::Result<Config> {
    let mut config: Config =
        execenv_kit::config::load(&Config::default(), args.config.as_deref(), env)
            .context("invalid configuration")?;
    if let Some(backend) = env.get("EXECENV_BACKEND") {
        config.backend = serde_json::from_value(serde_json::Value::String(backend.clone()))
            .with_context(|| {
                format!("EXECENV_BACKEND={backend:?} is not a backend; use local or kubernetes")
            })?;
    }
    if let Some(supervisor) = env.get("EXECENV_SUPERVISOR") {
        config.supervisor = Some(supervisor.clone()).filter(|s| !s.is_empty());
    }
    Ok(config)
}
