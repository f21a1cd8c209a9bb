//! How either backend calls the content runner: its command line and the variables through which
//! it learns the chosen installations. The Job's content container and the local process differ
//! only in the paths they pass.

use execenv_core::Language;

use super::{ChosenInstallation, LaunchKind, LaunchRequest};

/// The folders the runner is given, as the backend sees them (inside the container, or on the host).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunnerFolders<S> {
    /// The bundle folder.
    pub bundle: S,
    /// The work folder.
    pub work: S,
    /// The image's package cache (passed to BUILD only).
    pub cache: S,
    /// The file the runner writes its outcome to.
    pub status: S,
}

impl<S> RunnerFolders<S> {
    /// The same folders in another form (host paths as command-line arguments).
    pub fn map<T>(self, f: impl Fn(S) -> T) -> RunnerFolders<T> {
        RunnerFolders {
            bundle: f(self.bundle),
            work: f(self.work),
            cache: f(self.cache),
            status: f(self.status),
        }
    }
}

/// `[supervisor] runner build|run --bundle … --work … [--cache …] --status-file … [-- command…]`:
/// the cache for BUILD only, the content's command for RUN and INTERACTIVE only.
pub fn runner_argv<S>(
    launch: &LaunchRequest,
    supervisor: Option<&str>,
    runner: S,
    folders: RunnerFolders<S>,
) -> Vec<S>
where
    S: for<'a> From<&'a str>,
{
    let mut argv: Vec<S> = supervisor.into_iter().map(S::from).collect();
    argv.extend([
        runner,
        S::from(launch.kind.runner_step()),
        S::from("--bundle"),
        folders.bundle,
        S::from("--work"),
        folders.work,
    ]);
    if launch.kind == LaunchKind::Build {
        argv.extend([S::from("--cache"), folders.cache]);
    }
    argv.extend([S::from("--status-file"), folders.status]);
    if launch.kind != LaunchKind::Build && !launch.command.is_empty() {
        argv.push(S::from("--"));
        argv.extend(launch.command.iter().map(|c| S::from(c.as_str())));
    }
    argv
}

/// The runner's variables: each chosen installation's interpreter variable first, then the
/// request's variables in order.
pub fn runner_variables(
    launch: &LaunchRequest,
    installations: &[ChosenInstallation],
) -> Vec<(String, String)> {
    let chosen = installations.iter().filter_map(|i| {
        interpreter_variable(i.language).map(|name| (name.to_owned(), i.path.clone()))
    });
    chosen.chain(launch.env.iter().cloned()).collect()
}

/// The variable that tells interactive content the port to listen on.
pub const CONTENT_PORT_VARIABLE: &str = "EXECENV_CONTENT_PORT";
/// The variable that tells interactive content the address to bind.
pub const CONTENT_HOST_VARIABLE: &str = "EXECENV_CONTENT_HOST";
/// The variable that tells interactive content its public path prefix (no trailing slash).
pub const CONTENT_BASE_PATH_VARIABLE: &str = "EXECENV_CONTENT_BASE_PATH";

/// The variables of interactive content (the runner's `--port`, `--host` and `--base-path`):
/// listen on `host:port`, served to the public under `/content/<content guid>`.
pub fn content_variables(content_guid: &str, host: &str, port: u16) -> Vec<(String, String)> {
    vec![
        (CONTENT_PORT_VARIABLE.to_owned(), port.to_string()),
        (CONTENT_HOST_VARIABLE.to_owned(), host.to_owned()),
        (
            CONTENT_BASE_PATH_VARIABLE.to_owned(),
            format!("/content/{content_guid}"),
        ),
    ]
}

/// The variable through which the runner learns an installation; TensorFlow has none (it is
/// recorded in the annotations only).
pub(super) fn interpreter_variable(language: Language) -> Option<&'static str> {
    match language {
        Language::Python => Some("EXECENV_PYTHON"),
        Language::R => Some("EXECENV_R"),
        Language::Quarto => Some("EXECENV_QUARTO"),
        Language::Tensorflow => None,
    }
}
