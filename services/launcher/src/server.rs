//! Starting the launcher: the backend (recovering what it knew), the listeners, the gRPC and admin
//! servers.

use std::sync::Arc;

use execenv_kit::shutdown::Shutdown;
use execenv_kit::{GrpcServer, StartError};
use execenv_proto::launcher::v1::launcher_server::LauncherServer;

use crate::backend::Backend;
use crate::config::Config;
use crate::history::History;
use crate::kubernetes::KubernetesBackend;
use crate::launch::BackendKind;
use crate::limits::{AccountRules, Policy};
use crate::local::LocalBackend;
use crate::metrics::LauncherMetrics;
use crate::selector::GrpcSelector;
use crate::service::LauncherService;
use crate::table::Launches;
use execenv_core::ErrorKind;

/// A running launcher.: launches is its `state`.
pub type Running = execenv_kit::Running<Launches>;

/// Checks the configuration, binds the listeners, opens the backend and starts serving. With the
/// Kubernetes backend, gRPC health is NOT_SERVING and `/readyz` 503 until the Jobs already in the
/// namespace have been read back (so a repeated launch after a restart finds its Job).
pub async fn start(config: Config, shutdown: Shutdown) -> Result<Running, StartError> {
    let selector = GrpcSelector::new(
        &config.selector.url,
        config.auth.token(),
        config.tls.client()?,
    )?;
    let backend_kind = config.launcher.backend;
    let mut server = GrpcServer::bind(&config.server)
        .await?
        .with_tls(&config.tls)?;
    let (grpc_addr, admin_addr) = (server.grpc_addr(), server.admin_addr());
    let launcher_metrics = LauncherMetrics::register(server.metrics());
    launcher_metrics.initialize(backend_kind);
    // The history first: its launches are in the table before the backend reports anything.
    let history = History::open(&config.history, launcher_metrics.clone(), shutdown.clone())
        .await
        .map_err(|e| match e.kind {
            ErrorKind::InvalidArgument => StartError::Config(e.message),
            _ => StartError::failed(e.message),
        })?;
    let (history, history_task) = history.unzip();
    let launches = Launches::with_history(launcher_metrics, history.clone());
    if let Some(history) = &history {
        let loaded = history.load().await.map_err(|e| {
            StartError::failed(format!("cannot read the launch history: {}", e.message))
        })?;
        let (count, unfinished) = (
            loaded.len(),
            loaded.iter().filter(|l| !l.state.is_terminal()).count(),
        );
        for launch in loaded {
            launches.restore(launch);
        }
        tracing::info!(launches = count, unfinished, "read back the launch history");
    }

    let (backend, backend_task) = match backend_kind {
        BackendKind::Local => {
            let (b, task) = LocalBackend::open(
                &config.local,
                config.local.supervisor(),
                launches.clone(),
                shutdown.clone(),
            )
            .await?;
            (Backend::Local(b), task)
        }
        BackendKind::Kubernetes => {
            if let Some(supervisor) = config.local.supervisor() {
                tracing::warn!(%supervisor,
                    "a local supervisor (local.supervisor) is set, but the Kubernetes backend does not use it: \
                     content pods run under their environment's own supervisor; remove the setting or use the local backend");
            }
            let (b, task) =
                KubernetesBackend::connect(&config.kubernetes, launches.clone(), shutdown.clone())
                    .await?;
            (Backend::Kubernetes(b), task)
        }
    };
    let backend = Arc::new(backend);

    let service = LauncherService::new(
        launches.clone(),
        backend.clone(),
        selector,
        config.auth.service_auth(&config.tls),
        policy(&config),
    );
    let watches = server.watch_bound();
    let readiness = server
        .add_service(LauncherServer::new(service.with_watch_bound(watches)))
        .await;
    let servers = server.spawn(readiness.clone(), &shutdown)?;
    tracing::info!(%grpc_addr, %admin_addr, selector = %config.selector.url,
        backend = backend_kind.as_str(), "launcher listening");

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
        if let Some(task) = history_task {
            let _ = task.await;
        }
        servers.join().await;
        tracing::info!("launcher stopped");
    });
    Ok(Running {
        addr: grpc_addr,
        admin_addr,
        state: launches,
        shutdown,
        done,
    })
}

/// What launches may take, from the `limits` section and the `kubernetes` section's defaults and
/// service accounts.
fn policy(config: &Config) -> Policy {
    let k = &config.kubernetes;
    Policy {
        limits: config.limits.clone(),
        build: k.build_resources.clone(),
        run: k.run_resources.clone(),
        accounts: AccountRules {
            default: k.default_service_account.clone(),
            allowed: k.service_accounts.clone(),
            label: k
                .service_account_label
                .clone()
                .filter(|l| !l.trim().is_empty()),
        },
    }
}
