//! The `execenv.sync.v1.ConfigSync` gRPC service: the last sync's status (publishers and
//! administrators), and a plan of the current file (a dry run against the registry;
//! administrators).

use std::path::PathBuf;
use std::sync::Arc;

use execenv_client::ServiceAuth;
use execenv_client::to_status;
use execenv_core::{Error, ErrorKind, Role};
use execenv_proto::registry::v1 as reg;
use execenv_proto::sync::v1 as pb;
use tokio::sync::watch;
use tonic::{Request, Response, Status};

use crate::sync::{Registry, SyncStatus, plan};

/// Serves the status of one syncer and plans of its file.
pub struct ConfigSyncService {
    status: watch::Receiver<SyncStatus>,
    file: Option<PathBuf>,
    registry: Arc<dyn Registry>,
    auth: ServiceAuth,
}

impl ConfigSyncService {
    /// The service for the syncer whose status is `status`, of `file` (`None` when no declarative
    /// file is configured); `auth` says who may call.
    pub fn new(
        status: watch::Receiver<SyncStatus>,
        file: Option<PathBuf>,
        registry: Arc<dyn Registry>,
        auth: ServiceAuth,
    ) -> Self {
        ConfigSyncService {
            status,
            file,
            registry,
            auth,
        }
    }
}

#[tonic::async_trait]
impl pb::config_sync_server::ConfigSync for ConfigSyncService {
    async fn status(
        &self,
        request: Request<pb::StatusRequest>,
    ) -> Result<Response<pb::StatusResponse>, Status> {
        let caller = self.auth.caller(&request).map_err(|e| to_status(&e))?;
        // As the gateway's `/sync`: viewers may not see environments, nor what a sync did to them.
        caller
            .require_publisher("reading config-sync's status")
            .map_err(|e| to_status(&e))?;
        let s = self.status.borrow().clone();
        Ok(Response::new(pb::StatusResponse::from(&s)))
    }

    async fn plan(
        &self,
        request: Request<pb::PlanRequest>,
    ) -> Result<Response<reg::ApplyManagedSetResponse>, Status> {
        let caller = self.auth.caller(&request).map_err(|e| to_status(&e))?;
        if caller.role != Role::Administrator {
            return Err(to_status(&Error::new(
                ErrorKind::PermissionDenied,
                "planning a sync of the declarative file needs the administrator role",
            )));
        }
        let Some(file) = &self.file else {
            return Err(to_status(&Error::new(
                ErrorKind::FailedPrecondition,
                "no declarative file is configured (only the legacy bootstrap runs); set sync.file (EXECENV_SYNC__FILE)",
            )));
        };
        plan(file, self.registry.as_ref())
            .await
            .map(Response::new)
            .map_err(|e| to_status(&e))
    }
}
