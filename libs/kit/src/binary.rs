//! What every service binary's `main` does around its own flags: load the configuration (a mistake
//! in it is one line on stderr and exit 2), print it with the service token masked
//! (`--print-config`), and run the service — runtime, telemetry, signal handling — until it has
//! stopped.
//!
//! ```text
//! let config: Config = match binary::load_config(args.config.as_deref(), &env) {
//!     Ok(config) => config,
//!     Err(exit) => return Ok(exit),
//! };
//! if args.print_config {
//!     binary::print_config(config, |c| &mut c.auth)?;
//!     return Ok(ExitCode::SUCCESS);
//! }
//! let telemetry = config.telemetry.clone();
//! let service = async move |shutdown| start(config, shutdown).await.map(|running| running.done);
//! Ok(binary::run("execenv-selector", telemetry, &env, service)?)
//! ```

use std::collections::HashMap;
use std::fmt::Display;
use std::path::Path;
use std::process::ExitCode;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::task::{JoinError, JoinHandle};

use crate::config::{self, AuthConfig, TelemetryConfig};
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

/// Loads the configuration: `T::default()`, then the YAML `file`, then the `EXECENV_…` variables in
/// `env` ([`config::load`]). On failure the problem has been printed as
/// `error: invalid configuration: …` and the error is the exit code to return (2).
pub fn load_config<T>(file: Option<&Path>, env: &HashMap<String, String>) -> Result<T, ExitCode>
where
    T: Default + Serialize + DeserializeOwned,
{
    config::load(&T::default(), file, env)
        .map_err(|e| invalid_configuration(format_args!("invalid configuration: {e}")))
}

/// Prints a configuration the user has to fix as one line, `error: {problem}`, without a
/// backtrace, and returns exit code 2.
pub fn invalid_configuration(problem: impl Display) -> ExitCode {
    eprintln!("error: {problem}");
    ExitCode::from(EXIT_INVALID_CONFIGURATION)
}

/// Prints `config` as pretty JSON on stdout, with the service token in `auth(&mut config)` shown as
/// `***` when one is set (`--print-config`).
pub fn print_config<C: Serialize>(
    config: C,
    auth: impl FnOnce(&mut C) -> &mut AuthConfig,
) -> Result<(), serde_json::Error> {
    println!("{}", masked_json(config, auth)?);
    Ok(())
}

fn masked_json<C: Serialize>(
    mut config: C,
    auth: impl FnOnce(&mut C) -> &mut AuthConfig,
) -> Result<String, serde_json::Error> {
    let token = &mut auth(&mut config).service_token;
    if token.is_some() {
        *token = Some("***".to_owned());
    }
    serde_json::to_string_pretty(&config)
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
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Default, Serialize, Deserialize)]
    struct TestConfig {
        name: String,
        #[serde(default)]
        auth: AuthConfig,
    }

    fn config(token: Option<&str>) -> TestConfig {
        TestConfig {
            name: "x".to_owned(),
            auth: AuthConfig {
                service_token: token.map(str::to_owned),
            },
        }
    }

    #[test]
    fn the_printed_configuration_masks_a_service_token() {
        let json = masked_json(config(Some("secret")), |c| &mut c.auth).unwrap();
        assert_eq!(
            json,
            "{\n  \"name\": \"x\",\n  \"auth\": {\n    \"service_token\": \"***\"\n  }\n}"
        );
    }

    #[test]
    fn the_printed_configuration_shows_a_missing_service_token_as_null() {
        let json = masked_json(config(None), |c| &mut c.auth).unwrap();
        assert!(json.contains("\"service_token\": null"), "{json}");
    }

    #[test]
    fn an_invalid_configuration_exits_2() {
        let env = HashMap::from([("EXECENV_AUTH__SERVICE_TOKEN".to_owned(), String::new())]);
        assert!(load_config::<TestConfig>(None, &env).is_ok());
        let missing = Path::new("/nonexistent/execenv.yaml");
        let exit = load_config::<TestConfig>(Some(missing), &env).unwrap_err();
        assert_eq!(exit, ExitCode::from(EXIT_INVALID_CONFIGURATION));
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
