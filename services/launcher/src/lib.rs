//! execenv-launcher: turns "build / run this content" into a workload in the chosen execution
//! environment.
//!
//! A `Launch` call is validated at the edge, the selector chooses the environment (acting as the
//! caller, so permissions hold), and one of two backends starts the workload: Kubernetes (a
//! `batch/v1` Job built by the pure [`job_spec::build_job`]) or local host processes. Both report
//! into one in-memory [`table::Launches`], from which `Get`, `List`, `Watch` are answered; the
//! durable truth is the cluster (Jobs and pods) or the local data folder, and both are read back
//! after a restart; with `history.database_url`, launches are also written to a durable
//! [`history`] that every replica shares and reads back first. Each launch belongs to the user who asked ([`ownership`]): publishers see
//! only their own.

/// The seven settings of a section holding a [`job_spec::Resources`] (`$prefix.cpu_request`, …),
/// each meaning `$what` followed by what the field is.
macro_rules! resource_settings {
    ($prefix:literal, $what:literal) => {
        [
            execenv_kit::settings::Setting {
                key: concat!($prefix, ".cpu_request"),
                meaning: concat!($what, "requests.cpu, a quantity such as 500m or 2"),
            },
            execenv_kit::settings::Setting {
                key: concat!($prefix, ".cpu_limit"),
                meaning: concat!($what, "limits.cpu, a quantity such as 500m or 2"),
            },
            execenv_kit::settings::Setting {
                key: concat!($prefix, ".memory_request"),
                meaning: concat!($what, "requests.memory, a quantity such as 512Mi or 2Gi"),
            },
            execenv_kit::settings::Setting {
                key: concat!($prefix, ".memory_limit"),
                meaning: concat!($what, "limits.memory, a quantity such as 512Mi or 2Gi"),
            },
            execenv_kit::settings::Setting {
                key: concat!($prefix, ".gpu"),
                meaning: concat!($what, "GPUs, a whole number (of kubernetes.gpu_resource)"),
            },
            execenv_kit::settings::Setting {
                key: concat!($prefix, ".ephemeral_storage_request"),
                meaning: concat!($what, "requests.ephemeral-storage, a quantity such as 1Gi"),
            },
            execenv_kit::settings::Setting {
                key: concat!($prefix, ".ephemeral_storage_limit"),
                meaning: concat!($what, "limits.ephemeral-storage, a quantity such as 1Gi"),
            },
        ]
    };
}

pub mod backend;
pub mod config;
pub mod history;
pub mod job_spec;
pub mod kubernetes;
pub mod launch;
pub mod limits;
pub mod local;
pub mod metrics;
pub mod ownership;
pub mod selector;
mod server;
pub mod service;
pub mod table;
pub mod template;
pub mod wire;

pub use config::{BackendConfig, Config, HistoryConfig, KubernetesConfig, LocalConfig};
pub use execenv_kit::StartError;
pub use execenv_kit::config::SelectorConfig;
pub use job_spec::{
    ChosenInstallation, DEFAULT_RUNNER_PATH, JobSettings, LaunchKind, LaunchRequest, Resources,
    build_job, cache_sub_path, job_name,
};
pub use launch::{BackendKind, Launch, Observation, State};
pub use server::{Running, start};
pub use template::JobTemplate;
