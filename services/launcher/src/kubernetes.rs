//! PLACEHOLDER (being written): the Kubernetes backend.
use execenv_core::Error;
use execenv_kit::shutdown::Shutdown;

use crate::backend::{LogStream, Plan};
use crate::launch::Launch;
use crate::table::Launches;
use crate::{KubernetesConfig, StartError};

/// Kubernetes Jobs.
pub struct KubernetesBackend;

impl KubernetesBackend {
    /// Opens the data folder.
    pub async fn connect(
        _config: &KubernetesConfig,
        _launches: Launches,
        _shutdown: Shutdown,
    ) -> Result<(KubernetesBackend, tokio::task::JoinHandle<()>), StartError> {
        Err(StartError::Backend(
            "the Kubernetes backend is not written yet".into(),
        ))
    }
    /// Starts.
    pub async fn start(&self, _plan: Plan) -> Result<Launch, Error> {
        Err(Error::internal("not written yet"))
    }
    /// Cancels.
    pub async fn cancel(&self, _launch: &Launch) -> Result<Launch, Error> {
        Err(Error::internal("not written yet"))
    }
    /// Logs.
    pub async fn logs(&self, _launch: &Launch, _follow: bool) -> Result<LogStream, Error> {
        Err(Error::internal("not written yet"))
    }
}

impl KubernetesBackend {
    /// Synced.
    pub async fn synced(&self) {}
}
