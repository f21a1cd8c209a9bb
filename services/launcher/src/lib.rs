//! execenv-launcher: turns "build / run this content" into a workload in the chosen execution
//! environment.
//!
//! For now the crate holds the pure half of the Kubernetes backend: [`job_spec::build_job`] turns a
//! launch, its environment and the launcher's settings into a `batch/v1` Job, and
//! [`template::JobTemplate`] is the administrator's job base merged into it.

pub mod job_spec;
pub mod template;

pub use job_spec::{
    ChosenInstallation, DEFAULT_RUNNER_PATH, JobSettings, LaunchKind, LaunchRequest, PodSecurity,
    Resources, build_job, cache_sub_path, job_name,
};
pub use template::JobTemplate;
