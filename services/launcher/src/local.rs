//! PLACEHOLDER (being written): the local backend.
use execenv_core::Error;
use execenv_kit::shutdown::Shutdown;

use crate::backend::{LogStream, Plan};
use crate::launch::Launch;
use crate::table::Launches;
use crate::{LocalConfig, StartError};

/// Host processes.
pub struct LocalBackend;

impl LocalBackend {
    /// Opens the data folder.
    pub async fn open(
        _config: &LocalConfig,
        _supervisor: Option<String>,
        _launches: Launches,
        _shutdown: Shutdown,
    ) -> Result<(LocalBackend, tokio::task::JoinHandle<()>), StartError> {
        Err(StartError::Backend(
            "the local backend is not written yet".into(),
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
