//! `execenv-config-sync`: parses flags, loads configuration, and runs the service, validates a
//! file, or plans a sync.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use execenv_client::{ClientTls, Service, Target};
use execenv_config_sync::report::{render_plan, render_problems};
use execenv_config_sync::sync::problems;
use execenv_config_sync::{Config, GrpcRegistry, file, legacy, start, sync};
use execenv_kit::allocator;
use execenv_kit::bootstrap::{self, ServiceArgs};

/// The execenv config-sync service: keeps the registry's file-managed execution environments
/// equal to a declarative YAML or JSON file (the Helm value `executionEnvironments`).
///
/// The file is a list of environment definitions with the API's field names (`name` = the image,
/// `guid` optional, `title`, `description`, `matching`, `supervisor`, `python|r|quarto|tensorflow:
/// {installations: [{version, path}]}`, `volume_mounts`, `cluster_name`). Environments in the file
/// are created, adopted (an existing one of the same guid or image name) or updated; environments
/// removed from the file are deleted; environments the file never managed are left alone.
#[derive(Parser, Debug)]
#[command(name = "execenv-config-sync", version)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the service: sync the file at startup (exit non-zero on any problem), then watch it and
    /// sync every change. `execenv-config-sync run --help` lists every setting.
    Run {
        #[command(flatten)]
        service: ServiceArgs,
        /// The declarative file (sets sync.file, over the file and the variables).
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
    },
    /// Check a file locally, without the registry (for CI pipelines): exit 0 printing
    /// "N definitions valid", or exit 1 printing every problem, one per line.
    ///
    /// Checks the syntax, unknown keys, every field of every definition, and the rules over the
    /// set (guids are version-4 UUIDs and unique; an image name appears more than once only when
    /// every entry with it has its own guid). Rules that need the catalogue (e.g. an ambiguous name)
    /// are checked by `plan`.
    Validate {
        /// The declarative file (YAML, or JSON when it ends in .json or starts with [ or {).
        file: PathBuf,
        /// The file is a legacy runtime.yaml (`name: Kubernetes`, `images: […]`).
        #[arg(long)]
        legacy: bool,
    },
    /// Show what a sync of FILE would do against the live registry, like `terraform plan`: the
    /// environments to create (+), adopt or update (~, with the changed fields) and delete (-),
    /// and how many are unchanged. Changes nothing. Exit 1 with every problem when the file is
    /// invalid or the registry refuses it.
    Plan {
        /// The declarative file.
        file: PathBuf,
        /// The registry's gRPC URL.
        #[arg(
            long,
            env = "EXECENV_REGISTRY__URL",
            default_value = "http://127.0.0.1:50051"
        )]
        registry: String,
        /// The service token, when the registry requires one.
        #[arg(long, env = "EXECENV_AUTH__SERVICE_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// PEM CA the registry is verified against (its URL is then `https://…`).
        #[arg(long, env = "EXECENV_TLS__CA_FILE", value_name = "FILE")]
        ca_file: Option<PathBuf>,
        /// PEM certificate presented under mutual TLS (it is then the service identity, no
        /// --token needed). Needs --client-key and --ca-file.
        #[arg(
            long,
            env = "EXECENV_TLS__CLIENT_CERT_FILE",
            value_name = "FILE",
            requires = "client_key"
        )]
        client_cert: Option<PathBuf>,
        /// PEM private key of --client-cert.
        #[arg(
            long,
            env = "EXECENV_TLS__CLIENT_KEY_FILE",
            value_name = "FILE",
            requires = "client_cert"
        )]
        client_key: Option<PathBuf>,
    },
}

/// jemalloc, giving freed memory back to the system at once (see [`allocator`]): a sync of a
/// large file allocates for a moment what glibc's malloc would keep resident until the next.
#[global_allocator]
static ALLOCATOR: allocator::Jemalloc = allocator::Jemalloc;

fn main() -> anyhow::Result<ExitCode> {
    allocator::release_freed_memory("execenv-config-sync");
    let args: Args = bootstrap::parse_args::<Args, Config>(Some("run"));
    match args.command {
        Command::Run { service, file } => {
            let overrides: Vec<(&str, String)> = file
                .map(|f| ("sync.file", f.display().to_string()))
                .into_iter()
                .collect();
            // A failed first sync is printed with every problem on its own line.
            Ok(bootstrap::main(&service, &overrides, start)?)
        }
        Command::Validate { file, legacy } => Ok(validate(&file, legacy)),
        Command::Plan {
            file,
            registry,
            token,
            ca_file,
            client_cert,
            client_key,
        } => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let tls = ClientTls::from_flags(
                ca_file.as_deref(),
                client_cert.as_deref(),
                client_key.as_deref(),
            );
            Ok(runtime.block_on(plan(&file, &registry, token, tls)))
        }
    }
}

fn validate(path: &Path, is_legacy: bool) -> ExitCode {
    let origin = path.display().to_string();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("cannot read {origin}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let loaded = if is_legacy {
        legacy::load(&text, &origin).map(|drafts| drafts.len())
    } else {
        file::load(&text, &origin).map(|loaded| loaded.len())
    };
    match loaded {
        Ok(n) => {
            println!("{n} definition{} valid", if n == 1 { "" } else { "s" });
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprint!("{}", render_problems(&origin, &problems(&e)));
            ExitCode::FAILURE
        }
    }
}

async fn plan(
    path: &Path,
    registry_url: &str,
    token: Option<String>,
    tls: Result<Option<ClientTls>, execenv_core::Error>,
) -> ExitCode {
    let origin = path.display().to_string();
    if !path.exists() {
        eprintln!("{origin} does not exist");
        return ExitCode::FAILURE;
    }
    let target = Target::new(Service::Registry, registry_url)
        .set_with("--registry (or EXECENV_REGISTRY__URL)");
    let result = match tls.and_then(|tls| GrpcRegistry::new(target, token, tls)) {
        Ok(registry) => sync::plan(path, &registry).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(report) => {
            print!("{}", render_plan(&report, &origin, registry_url));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprint!("{}", render_problems(&origin, &problems(&e)));
            ExitCode::FAILURE
        }
    }
}
