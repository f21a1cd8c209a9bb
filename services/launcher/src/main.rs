//! `execenv-launcher`: parses flags, loads configuration, starts the launcher.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use execenv_kit::binary;
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
#[command(name = "execenv-launcher", version, verbatim_doc_comment, after_help = execenv_kit::binary::OBSERVABILITY_HELP)]
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
    if let Err(e) = read_unsectioned(&mut config, &env) {
        // The message and its causes on one line.
        return Ok(binary::invalid_configuration(format_args!("{e:#}")));
    }
    if args.print_config {
        binary::print_config(config, |c| &mut c.auth)?;
        return Ok(ExitCode::SUCCESS);
    }
    let telemetry = config.telemetry.clone();
    let service = async move |shutdown| start(config, shutdown).await.map(|running| running.done);
    Ok(binary::run("execenv-launcher", telemetry, &env, service)?)
}

/// Applies the two settings without a section (`EXECENV_BACKEND`, `EXECENV_SUPERVISOR`), which the
/// kit's loader does not read, over the loaded configuration.
fn read_unsectioned(config: &mut Config, env: &HashMap<String, String>) -> anyhow::Result<()> {
    if let Some(backend) = env.get("EXECENV_BACKEND") {
        config.backend = serde_json::from_value(serde_json::Value::String(backend.clone()))
            .with_context(|| {
                format!("EXECENV_BACKEND={backend:?} is not a backend; use local or kubernetes")
            })?;
    }
    if let Some(supervisor) = env.get("EXECENV_SUPERVISOR") {
        config.supervisor = Some(supervisor.clone()).filter(|s| !s.is_empty());
    }
    Ok(())
}
