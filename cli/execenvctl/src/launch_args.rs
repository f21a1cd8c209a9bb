//! The flags of `execenvctl launch …` and `execenvctl launches …`. The requirement flags are the
//! ones `select` takes ([`SelectArgs`]), so content launches exactly as `select` shows it would be
//! placed. Parsing is pure; nothing here does I/O.

use clap::{Args, Subcommand, ValueEnum};
use execenv_proto::launcher::v1 as pb;

use crate::select_args::SelectArgs;
use crate::values::{EnvVar, parse_env_var};

/// `execenvctl launch …`
#[derive(Debug, Subcommand)]
pub enum LaunchCommand {
    /// Restore the bundle's packages in the environment chosen for it.
    Build(LaunchArgs),
    /// Run the content in the environment chosen for it: the command after `--`, or the
    /// manifest's entrypoint.
    Run(RunArgs),
}

/// What `launch build` and `launch run` share: the content, its requirements and how it runs.
#[derive(Debug, Clone, Args)]
pub struct LaunchArgs {
    /// The content's guid.
    #[arg(long, value_name = "GUID")]
    pub content: String,
    /// The bundle id (letters, digits, '-', '_', '.').
    #[arg(long, value_name = "ID")]
    pub bundle: String,
    /// The launch's id and idempotency key: the same id twice is one launch (default: a fresh
    /// UUID v4, shown as the launch id).
    #[arg(long, value_name = "ID")]
    pub request_id: Option<String>,
    /// The requirements, as for `select`.
    #[command(flatten)]
    pub select: SelectArgs,
    /// An extra environment variable for the content (repeatable).
    #[arg(long = "env", value_name = "NAME=VALUE", value_parser = parse_env_var)]
    pub env: Vec<EnvVar>,
    /// CPU, memory, GPUs and ephemeral storage for the content's container.
    #[command(flatten)]
    pub resources: ResourceArgs,
    /// Kubernetes: the pod's service account (default: the launcher's configured one).
    #[arg(long, value_name = "NAME")]
    pub service_account: Option<String>,
    /// Follow the launch until it finishes; exit 1 unless it succeeded.
    #[arg(long)]
    pub wait: bool,
}

/// `execenvctl launch run …`
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// The content, its requirements and how it runs.
    #[command(flatten)]
    pub launch: LaunchArgs,
    /// The command to run, after `--` (default: the manifest's entrypoint).
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

/// Kubernetes quantities for the content's container.
#[derive(Debug, Clone, Default, Args)]
pub struct ResourceArgs {
    /// CPU the container is guaranteed, e.g. 500m or 2.
    #[arg(long, value_name = "CPU")]
    pub cpu_request: Option<String>,
    /// CPU the container may use at most.
    #[arg(long, value_name = "CPU")]
    pub cpu_limit: Option<String>,
    /// Memory the container is guaranteed, e.g. 512Mi or 1Gi.
    #[arg(long, value_name = "BYTES")]
    pub memory_request: Option<String>,
    /// Memory the container may use at most.
    #[arg(long, value_name = "BYTES")]
    pub memory_limit: Option<String>,
    /// GPUs for the container, a whole number (the launcher's kubernetes.gpu_resource).
    #[arg(long, value_name = "COUNT")]
    pub gpu: Option<String>,
    /// Ephemeral storage (writable layer, logs, emptyDirs) the container is guaranteed.
    #[arg(long, value_name = "BYTES")]
    pub ephemeral_storage_request: Option<String>,
    /// Ephemeral storage the container may use at most.
    #[arg(long, value_name = "BYTES")]
    pub ephemeral_storage_limit: Option<String>,
}

/// `execenvctl launches …`
#[derive(Debug, Subcommand)]
pub enum LaunchesCommand {
    /// List launches, newest first.
    List(LaunchListArgs),
    /// Show one launch.
    Get {
        /// The launch id (its request id).
        id: String,
    },
    /// Print a line per change of a launch until it has finished; without ID, every change of
    /// every launch until interrupted.
    Watch {
        /// The launch id (its request id).
        id: Option<String>,
    },
    /// Stop a launch (its Job is deleted, or its process terminated); prints it.
    Cancel {
        /// The launch id (its request id).
        id: String,
    },
    /// Print a launch's output (runner and content).
    Logs {
        /// The launch id (its request id).
        id: String,
        /// Keep printing until the launch has finished.
        #[arg(short, long)]
        follow: bool,
    },
}

/// `execenvctl launches list …`
#[derive(Debug, Clone, Default, Args)]
pub struct LaunchListArgs {
    /// Only launches of this content.
    #[arg(long, value_name = "GUID")]
    pub content: Option<String>,
    /// Only launches in this state (repeatable).
    #[arg(long, value_enum, value_name = "STATE")]
    pub state: Vec<StateArg>,
    /// Only builds, only runs or only interactive launches (apps and APIs).
    #[arg(long, value_enum, value_name = "KIND")]
    pub kind: Option<KindArg>,
}

/// Launch states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StateArg {
    /// Accepted, not started yet.
    Pending,
    /// Started.
    Running,
    /// Finished with exit code 0.
    Succeeded,
    /// Finished otherwise.
    Failed,
    /// Stopped by `launches cancel` (or, for interactive content, when it was idle).
    Cancelled,
    /// Interactive: answering on its address.
    Ready,
}

impl From<StateArg> for pb::State {
    fn from(s: StateArg) -> pb::State {
        match s {
            StateArg::Pending => pb::State::Pending,
            StateArg::Running => pb::State::Running,
            StateArg::Succeeded => pb::State::Succeeded,
            StateArg::Failed => pb::State::Failed,
            StateArg::Cancelled => pb::State::Cancelled,
            StateArg::Ready => pb::State::Ready,
        }
    }
}

/// Launch kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KindArg {
    /// Package restores.
    Build,
    /// Content runs.
    Run,
    /// Interactive content served until stopped (started by the gateway at `/content/{guid}/`).
    Interactive,
}

impl From<KindArg> for pb::Kind {
    fn from(k: KindArg) -> pb::Kind {
        match k {
            KindArg::Build => pb::Kind::Build,
            KindArg::Run => pb::Kind::Run,
            KindArg::Interactive => pb::Kind::Interactive,
        }
    }
}
