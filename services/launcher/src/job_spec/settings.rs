//! What shapes every Job: the `kubernetes` section of the launcher's configuration, read as it is
//! configured, and the job base template that section names.

use crate::config::KubernetesConfig;
use crate::template::JobTemplate;

/// The launcher's settings that shape every Job.
#[derive(Debug, Clone, PartialEq)]
pub struct JobSettings {
    /// The `kubernetes` configuration section (`EXECENV_KUBERNETES__…`).
    pub config: KubernetesConfig,
    /// The administrator's job base, read from `config.job_template`, merged under our fields.
    pub base_template: Option<JobTemplate>,
}
