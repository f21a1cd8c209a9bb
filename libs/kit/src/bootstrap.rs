//! The one way a service binary starts (linkerd2-proxy's `main` is the model: configuration →
//! build → serve → drain). A service's `main` is
//!
//! ```text
//! fn main() -> anyhow::Result<ExitCode> {
//!     Ok(bootstrap::serve(start)?)
//! }
//! ```
//!
//! and this module does the rest: the shared flags ([`ServiceArgs`]: `--config`,
//! `--print-config`, `--print-settings`), `--help` listing every setting, loading the configuration
//! (defaults → file → variables → flags; variables of an earlier release still read with a
//! one-line warning), printing it with secrets masked, and running the service — runtime,
//! telemetry, signals — until it has stopped. A configuration the user has to fix is one line on
//! stderr and exit 2; a service that cannot start or fails is one line and exit 1.

use std::collections::HashMap;
use std::fmt::Display;
use std::path::PathBuf;
use std::process::ExitCode;

use tokio::task::{JoinError, JoinHandle};

use crate::config::{self, TelemetryConfig, variable_for_key};
use crate::settings::{self, ServiceConfig};
use crate::shutdown::Shutdown;
use crate::telemetry::{self, TelemetryError};

/// The `--help` epilogue every service binary shows: logs, traces and metrics.
pub const OBSERVABILITY_HELP: &str = "Logs go to stderr: EXECENV_TELEMETRY__LOG_LEVEL (an env-filter \
directive; default info; RUST_LOG overrides it) and EXECENV_TELEMETRY__LOG_FORMAT (text | json; \
default text). Traces: set OTEL_EXPORTER_OTLP_ENDPOINT (e.g. http://otel-collector:4317) to export \
spans over OTLP/gRPC; OTEL_SERVICE_NAME renames the service in them (default: the binary's name); \
W3C trace context in incoming requests continues the caller's trace. Metrics (Prometheus), \
/healthz and /readyz are served on the admin address.";

/// The exit code of a configuration the user has to fix.
pub const EXIT_INVALID_CONFIGURATION: u8 = 2;

/// The flags every service binary has (flatten them into its own `Args`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServiceArgs {
    /// YAML configuration file (its keys are listed below; variables override it).
    #[arg(long, env = "EXECENV_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print the effective configuration (JSON, secrets masked) and exit.
    #[arg(long)]
    pub print_config: bool,
    /// Print the reference table of every setting (Markdown, as in docs/configuration.md) and exit.
    #[arg(long)]
    pub print_settings: bool,
}

/// Parses the command line into `A` (a binary with flags or subcommands of its own), whose
/// `--help` — of `subcommand`, the one that runs the service, when given — ends with every
/// setting of `C` (variable, default, meaning) and where logs, traces and metrics go.
pub fn parse_args<A: clap::Parser, C: ServiceConfig>(subcommand: Option<&str>) -> A {
    let help = format!("{}\n{OBSERVABILITY_HELP}", settings::help::<C>());
    let command = match subcommand {
        None => A::command().after_long_help(help),
        Some(name) => A::command().mut_subcommand(name, |c| c.after_long_help(help)),
    };
    let matches = command.get_matches();
    A::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

/// The `main` of a service whose only flags are the shared ones: parses them (`--help` shows
/// [`ServiceConfig::ABOUT`] and every setting), then [`main`]. `start` builds and serves it.
pub fn serve<C, Start, Starting, E, S>(start: Start) -> Result<ExitCode, RunError>
where
    C: ServiceConfig,
    Start: FnOnce(C, Shutdown) -> Starting,
    Starting: Future<Output = Result<S, E>>,
    E: Display,
    S: Started,
{
    use clap::{Args, FromArgMatches};
    // The shared flags first: their own doc comment would otherwise become the `about`.
    let command = ServiceArgs::augment_args(clap::Command::new(C::BINARY))
        .version(env!("CARGO_PKG_VERSION"))
        .about(C::ABOUT)
        .after_help("--help also lists every setting: its variable, default and meaning.")
        .after_long_help(format!("{}\n{OBSERVABILITY_HELP}", settings::help::<C>()));
    let args = ServiceArgs::from_arg_matches(&command.get_matches()).unwrap_or_else(|e| e.exit());
    main(&args, &[], start)
}

/// Loads `C` — defaults, the file of `--config`, the `EXECENV_…` variables in `env` (with
/// renamed ones read under their new name), then `overrides` from flags — or prints why not as
/// `error: invalid configuration: …` and returns exit code 2.
pub fn load<C: ServiceConfig>(
    args: &ServiceArgs,
    env: &HashMap<String, String>,
    overrides: &[(&str, String)],
) -> Result<C, ExitCode> {
    let env = with_renamed::<C>(env, |warning| eprintln!("warning: {warning}"));
    config::load_layers(
        &C::default(),
        args.config.as_deref(),
        &env,
        overrides,
        C::LISTS,
    )
    .map_err(|e| invalid_configuration(format_args!("invalid configuration: {e}")))
}

/// `env` with each renamed variable of `C` also under its new name (the new name wins when both
/// are set); `warn` is told once per old variable found.
fn with_renamed<C: ServiceConfig>(
    env: &HashMap<String, String>,
    mut warn: impl FnMut(String),
) -> HashMap<String, String> {
    let mut env = env.clone();
    for renamed in C::RENAMED {
        let Some(value) = env.get(renamed.variable).cloned() else {
            continue;
        };
        let new = variable_for_key(renamed.key);
        match env.entry(new) {
            std::collections::hash_map::Entry::Occupied(set) => warn(format!(
                "{} is deprecated and ignored because {} is also set; remove {}",
                renamed.variable,
                set.key(),
                renamed.variable
            )),
            std::collections::hash_map::Entry::Vacant(unset) => {
                warn(format!(
                    "{} is deprecated; set {} instead (the old name is read for one more release)",
                    renamed.variable,
                    unset.key()
                ));
                unset.insert(value);
            }
        }
    }
    env
}

/// What every service `main` does: loads the configuration ([`load`]); with `--print-settings`
/// or `--print-config` prints and exits; otherwise runs the service ([`run`]): `start` builds and
/// serves it, and the [`Started::done`] task it hands back ends when it has stopped.
pub fn main<C, Start, Starting, E, S>(
    args: &ServiceArgs,
    overrides: &[(&str, String)],
    start: Start,
) -> Result<ExitCode, RunError>
where
    C: ServiceConfig,
    Start: FnOnce(C, Shutdown) -> Starting,
    Starting: Future<Output = Result<S, E>>,
    E: Display,
    S: Started,
{
    if args.print_settings {
        print!("{}", settings::reference::<C>());
        return Ok(ExitCode::SUCCESS);
    }
    let env: HashMap<String, String> = std::env::vars().collect();
    let config: C = match load(args, &env, overrides) {
        Ok(config) => config,
        Err(exit) => return Ok(exit),
    };
    if args.print_config {
        // Secrets serialise masked.
        let json = serde_json::to_string_pretty(&config).map_err(RunError::Print)?;
        println!("{json}");
        return Ok(ExitCode::SUCCESS);
    }
    let telemetry = config.telemetry().clone();
    run(C::BINARY, telemetry, &env, async move |shutdown| {
        start(config, shutdown).await.map(Started::done)
    })
}

/// A service that has started: what its `start` returns.
pub trait Started {
    /// What the service's last task ends with.
    type Done: Stopped;
    /// The task that ends when the service has stopped.
    fn done(self) -> JoinHandle<Self::Done>;
}

/// Prints a configuration the user has to fix as one line, `error: {problem}`, without a
/// backtrace, and returns exit code 2.
pub fn invalid_configuration(problem: impl Display) -> ExitCode {
    eprintln!("error: {problem}");
    ExitCode::from(EXIT_INVALID_CONFIGURATION)
}

/// Runs the service `name` (e.g. `execenv-selector`) until it has stopped: builds the
/// multi-threaded runtime, starts telemetry, calls `start` with a [`Shutdown`] that SIGTERM and
/// Ctrl-C trigger, and waits for the `done` task it returns. A start error, or an error `done`
/// ends with, is printed as `error: …` and gives exit code 1; what the user cannot fix (no
/// runtime, no telemetry, a panicked task) is a [`RunError`] for `main` to return.
pub fn run<Start, Started, E, Done>(
    name: &str,
    telemetry: TelemetryConfig,
    env: &HashMap<String, String>,
    start: Start,
) -> Result<ExitCode, RunError>
where
    Start: FnOnce(Shutdown) -> Started,
    Started: Future<Output = Result<JoinHandle<Done>, E>>,
    E: Display,
    Done: Stopped,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let _telemetry = telemetry::init(name, &telemetry, env).map_err(RunError::Telemetry)?;
        until_stopped(name, start(Shutdown::on_signal())).await
    })
}

/// What a service's `done` task ends with: `()`, or a `Result` whose error stopped the service.
pub trait Stopped {
    /// The error that stopped the service, if one did.
    fn error(self) -> Option<String>;
}

impl Stopped for () {
    fn error(self) -> Option<String> {
        None
    }
}

impl<E: Display> Stopped for Result<(), E> {
    fn error(self) -> Option<String> {
        self.err().map(|e| e.to_string())
    }
}

/// Why [`run`] could not run the service (not the user's to fix: `main` returns it, with its causes).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The tokio runtime could not be built.
    #[error(transparent)]
    Runtime(#[from] std::io::Error),
    /// Logging or tracing could not be set up.
    #[error("cannot start telemetry")]
    Telemetry(#[source] TelemetryError),
    /// The configuration could not be printed.
    #[error("cannot print the configuration")]
    Print(#[source] serde_json::Error),
    /// The service's `done` task panicked or was cancelled.
    #[error("{service} task failed")]
    Task {
        /// The service, without the `execenv-` prefix (`launcher`).
        service: String,
        /// What happened to the task.
        #[source]
        source: JoinError,
    },
}

/// Awaits the start and then the `done` task; the exit code says how the service ended.
async fn until_stopped<E: Display, Done: Stopped>(
    name: &str,
    started: impl Future<Output = Result<JoinHandle<Done>, E>>,
) -> Result<ExitCode, RunError> {
    let done = match started.await {
        Ok(done) => done,
        Err(e) => return Ok(failed(e)),
    };
    let stopped = done.await.map_err(|source| RunError::Task {
        service: name.strip_prefix("execenv-").unwrap_or(name).to_owned(),
        source,
    })?;
    Ok(match stopped.error() {
        None => ExitCode::SUCCESS,
        Some(e) => failed(e),
    })
}

/// Prints why the service failed as `error: …` (the message names the problem and the fix; a
/// backtrace would not help) and returns exit code 1.
fn failed(e: impl Display) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::FAILURE
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde::{Deserialize, Serialize};

    use super::*;
    use crate::config::AuthConfig;
    use crate::secret::Secret;
    use crate::settings::{Renamed, Setting};

    #[derive(Debug, Default, Serialize, Deserialize)]
    struct TestConfig {
        name: String,
        #[serde(default)]
        auth: AuthConfig,
        #[serde(default)]
        launcher: Section,
        #[serde(default)]
        telemetry: TelemetryConfig,
    }

    #[derive(Debug, Default, Serialize, Deserialize)]
    struct Section {
        backend: String,
    }

    impl ServiceConfig for TestConfig {
        const BINARY: &'static str = "execenv-test";
        const RENAMED: &'static [Renamed] = &[Renamed {
            variable: "EXECENV_BACKEND",
            key: "launcher.backend",
        }];
        fn settings() -> Vec<Setting> {
            vec![]
        }
        fn telemetry(&self) -> &TelemetryConfig {
            &self.telemetry
        }
    }

    fn config(token: Option<&str>) -> TestConfig {
        TestConfig {
            name: "x".to_owned(),
            auth: AuthConfig {
                service_token: token.map(Secret::from),
                previous_service_token: None,
            },
            ..TestConfig::default()
        }
    }

    #[test]
    fn the_printed_configuration_masks_a_service_token() {
        let json = serde_json::to_string(&config(Some("secret"))).unwrap();
        assert!(json.contains("\"service_token\":\"***\""), "{json}");
        assert!(!json.contains("secret"), "{json}");
    }

    #[test]
    fn the_printed_configuration_shows_a_missing_service_token_as_null() {
        let json = serde_json::to_string(&config(None)).unwrap();
        assert!(json.contains("\"service_token\":null"), "{json}");
    }

    #[test]
    fn an_invalid_configuration_exits_2() {
        let env = HashMap::from([("EXECENV_AUTH__SERVICE_TOKEN".to_owned(), String::new())]);
        assert!(load::<TestConfig>(&ServiceArgs::default(), &env, &[]).is_ok());
        let missing = ServiceArgs {
            config: Some("/nonexistent/execenv.yaml".into()),
            ..ServiceArgs::default()
        };
        let exit = load::<TestConfig>(&missing, &env, &[]).unwrap_err();
        assert_eq!(exit, ExitCode::from(EXIT_INVALID_CONFIGURATION));
    }

    #[test]
    fn an_old_variable_sets_its_new_setting_with_a_warning() {
        let env = HashMap::from([("EXECENV_BACKEND".to_owned(), "kubernetes".to_owned())]);
        let mut warnings = vec![];
        let env = with_renamed::<TestConfig>(&env, |w| warnings.push(w));
        assert_eq!(env["EXECENV_LAUNCHER__BACKEND"], "kubernetes");
        assert_eq!(
            warnings,
            [
                "EXECENV_BACKEND is deprecated; set EXECENV_LAUNCHER__BACKEND instead (the old name is read for one more release)"
            ]
        );
        let loaded = config::load(&TestConfig::default(), None, &env).unwrap();
        assert_eq!(loaded.launcher.backend, "kubernetes");
    }

    #[test]
    fn the_new_variable_wins_over_the_old_one() {
        let env = HashMap::from([
            ("EXECENV_BACKEND".to_owned(), "kubernetes".to_owned()),
            ("EXECENV_LAUNCHER__BACKEND".to_owned(), "local".to_owned()),
        ]);
        let mut warnings = vec![];
        let env = with_renamed::<TestConfig>(&env, |w| warnings.push(w));
        assert_eq!(env["EXECENV_LAUNCHER__BACKEND"], "local");
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("ignored"), "{warnings:?}");
    }

    #[tokio::test]
    async fn a_service_that_stops_cleanly_exits_0() {
        let started = async { Ok::<_, String>(tokio::spawn(async {})) };
        let exit = until_stopped("execenv-test", started).await.unwrap();
        assert_eq!(exit, ExitCode::SUCCESS);
    }

    #[tokio::test]
    async fn a_service_that_cannot_start_exits_1() {
        let started = async { Err::<JoinHandle<()>, _>("port taken") };
        let exit = until_stopped("execenv-test", started).await.unwrap();
        assert_eq!(exit, ExitCode::FAILURE);
    }

    #[tokio::test]
    async fn a_service_whose_task_ends_with_an_error_exits_1() {
        let started =
            async { Ok::<_, String>(tokio::spawn(async { Err::<(), _>("no database") })) };
        let exit = until_stopped("execenv-test", started).await.unwrap();
        assert_eq!(exit, ExitCode::FAILURE);
    }

    #[tokio::test]
    async fn a_panicked_task_is_an_error_naming_the_service() {
        fn bug() {
            panic!("bug");
        }
        let started = async { Ok::<_, String>(tokio::spawn(async { bug() })) };
        let err = until_stopped("execenv-test", started).await.unwrap_err();
        assert_eq!(err.to_string(), "test task failed");
    }
}
