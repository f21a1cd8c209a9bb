//! Starting the launcher: the backend (recovering what it knew), the listeners, the gRPC and admin
//! servers.

use std::sync::Arc;

use execenv_kit::grpc::{health_service, reflection_service};
use execenv_kit::metrics::Metrics;
use execenv_kit::shutdown::Shutdown;
use execenv_kit::{Listeners, Servers};
use execenv_proto::launcher::v1::launcher_server::LauncherServer;
use tonic::service::Routes;

use crate::backend::Backend;
use crate::kubernetes::KubernetesBackend;
use crate::launch::BackendKind;
use crate::local::LocalBackend;
use crate::metrics::LauncherMetrics;
use crate::selector::GrpcSelector;
use crate::service::LauncherService;
use crate::table::Launches;
use crate::{Config, Running, StartError};

/// Checks the configuration, opens the backend, binds the listeners and starts serving. With the
/// Kubernetes backend, gRPC health is NOT_SERVING and `/readyz` 503 until the Jobs already in the
/// namespace have been read back (so a repeated launch after a restart finds its Job).
pub async fn start(config: Config, shutdown: Shutdown) -> Result<Running, StartError> {
    let selector = GrpcSelector::new(&config.selector.url, config.auth.service_token.clone())
        .map_err(|e| StartError::Config(e.message))?;
    let metrics = Metrics::new();
    let launcher_metrics = LauncherMetrics::register(&metrics);
    launcher_metrics.initialize(config.backend);
    let launches = Launches::new(launcher_metrics);

    let (backend, backend_task) = match config.backend {
        BackendKind::Local => {
            let (b, task) = LocalBackend::open(
                &config.local,
                config.supervisor.clone(),
                launches.clone(),
                shutdown.clone(),
            )
            .await?;
            (Backend::Local(b), task)
        }
        BackendKind::Kubernetes => {
            if let Some(supervisor) = &config.supervisor {
                tracing::warn!(%supervisor,
                    "a global supervisor (EXECENV_SUPERVISOR) is set, but the Kubernetes backend does not use it: \
                     content pods run under their environment's own supervisor; remove the setting or use the local backend");
            }
            let (b, task) =
                KubernetesBackend::connect(&config.kubernetes, launches.clone(), shutdown.clone())
                    .await?;
            (Backend::Kubernetes(b), task)
        }
    };
    let backend = Arc::new(backend);

    let Listeners {
        grpc: grpc_listener,
        admin: admin_listener,
        grpc_addr,
        admin_addr,
    } = Listeners::bind(&config.server).await?;
    let (readiness, health) = health_service::<LauncherServer<LauncherService>>().await;
    let reflection =
        reflection_service(execenv_proto::FILE_DESCRIPTOR_SET).map_err(StartError::Reflection)?;
    let service = LauncherService::new(
        launches.clone(),
        backend.clone(),
        selector,
        config.auth.service_token.clone(),
    );
    let routes = Routes::new(health)
        .add_service(reflection)
        .add_service(LauncherServer::new(service));
    let servers = Servers::spawn(
        routes,
        grpc_listener,
        admin_listener,
        &metrics,
        readiness.clone(),
        &shutdown,
    );
    tracing::info!(%grpc_addr, %admin_addr, selector = %config.selector.url,
        backend = config.backend.as_str(), "launcher listening");

    let ready = {
        let backend = backend.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            readiness
                .set_not_ready("reading back the launches the backend already runs")
                .await;
            tokio::select! {
                () = shutdown.wait() => {}
                () = backend.synced() => {
                    readiness.set_ready().await;
                    tracing::info!("launcher ready");
                }
            }
        })
    };
    let done = tokio::spawn(async move {
        let _ = ready.await;
        let _ = backend_task.await;
        servers.join().await;
        tracing::info!("launcher stopped");
    });
    Ok(Running {
        grpc_addr,
        admin_addr,
        launches,
        shutdown,
        done,
    })
}
