//! Starting config-sync: listeners, gRPC and admin servers, the legacy bootstrap, the first sync
//! and the sync loop.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use execenv_client::{Service, Target};
use execenv_core::{Error, ErrorKind};
use execenv_kit::shutdown::Shutdown;
use execenv_kit::{GrpcServer, StartError};
use execenv_proto::sync::v1::config_sync_server::ConfigSyncServer;
use tokio::time::Instant;

use crate::config::Config;
use crate::election;
use crate::metrics::SyncMetrics;
use crate::registry::GrpcRegistry;
use crate::service::ConfigSyncService;
use crate::sync::{self, Phase, Registry, SyncStatus, Syncer, problems, short};

/// A running config-sync.: status is its `state`.
pub type Running = execenv_kit::Running<tokio::sync::watch::Receiver<SyncStatus>>;

/// Binds the listeners, serves gRPC (health NOT_SERVING) and admin HTTP, runs the legacy bootstrap
/// and the first sync, and then reports ready and keeps syncing on every change. Returns an error
/// with every problem, after stopping the servers, when the first sync fails.
pub async fn start(config: Config, shutdown: Shutdown) -> Result<Running, StartError> {
    let sync_config = &config.sync;
    if sync_config.file.is_none() && sync_config.legacy_file.is_none() {
        return Err(StartError::Config(
            "nothing to sync: set the declarative file with sync.file (EXECENV_SYNC__FILE or --file), \
             or a legacy runtime.yaml with sync.legacy_file (EXECENV_SYNC__LEGACY_FILE)"
                .to_owned(),
        ));
    }
    let registry: Arc<dyn Registry> = Arc::new(GrpcRegistry::new(
        Target::new(Service::Registry, &config.registry.url),
        config.auth.token(),
        config.tls.client()?,
    )?);
    let mut server = GrpcServer::bind(&config.server)
        .await?
        .with_tls(&config.tls)?;
    let (grpc_addr, admin_addr) = (server.grpc_addr(), server.admin_addr());

    let sync_metrics = SyncMetrics::register(server.metrics());
    // With an election, only the leader applies the file (the legacy bootstrap, which only ever
    // fills an empty catalogue once, is not elected).
    let election = election::join(&config.election, &shutdown).await?;
    let leadership = election.as_ref().map(|(l, _)| l.clone());
    let mut syncer = sync_config.file.clone().map(|file| {
        let syncer = Syncer::new(file, registry.clone(), sync_metrics)
            .with_settle(sync_config.watch_options().debounce);
        match &leadership {
            Some(l) => syncer.with_leadership(l.clone()),
            None => syncer,
        }
    });
    let status = match &syncer {
        Some(s) => s.status(),
        None => tokio::sync::watch::channel(SyncStatus::never("")).1,
    };
    let service = ConfigSyncService::new(
        status.clone(),
        sync_config.file.clone(),
        registry.clone(),
        config.auth.service_auth(&config.tls),
    );
    let readiness = server.add_service(ConfigSyncServer::new(service)).await;
    let servers = server.spawn(readiness.clone(), &shutdown)?;
    tracing::info!(%grpc_addr, %admin_addr, registry = %config.registry.url,
        file = ?sync_config.file, legacy_file = ?sync_config.legacy_file, "config-sync listening");
    let servers = async move {
        servers.join().await;
    };

    let startup_deadline = Instant::now() + Duration::from_millis(sync_config.startup_timeout_ms);
    let retry = sync_config.watch_options().poll_interval;
    let first = async {
        match (&sync_config.file, &sync_config.legacy_file) {
            (Some(_), Some(legacy)) => tracing::warn!(legacy_file = %legacy.display(),
                "both sync.file and the deprecated sync.legacy_file are set; only the declarative file is used and the legacy file is skipped"),
            (None, Some(legacy)) => {
                until_available(startup_deadline, retry, &shutdown, async || {
                    sync::bootstrap(legacy, registry.as_ref()).await
                })
                .await
                .map_err(|e| {
                    StartError::with_problems(
                        format!("cannot bootstrap from the legacy file {}", legacy.display()),
                        problems(&e),
                    )
                })?;
            }
            _ => {}
        }
        if let Some(syncer) = syncer.as_mut() {
            until_available(startup_deadline, retry, &shutdown, async || {
                syncer.sync(Phase::Startup).await
            })
            .await
            .map_err(|e| {
                StartError::with_problems(
                    format!("cannot sync {}", syncer_file(&config).display()),
                    problems(&e),
                )
            })?;
        }
        Ok::<(), StartError>(())
    };
    if let Err(e) = first.await {
        tracing::error!(error = %e, "config-sync cannot start");
        shutdown.trigger();
        servers.await;
        return Err(e);
    }

    let sync_loop = syncer.map(|syncer| {
        let watch = crate::watch::watch(
            &syncer_file(&config),
            sync_config.watch_options(),
            shutdown.clone(),
        );
        tokio::spawn(sync::run(syncer, watch, shutdown.clone()))
    });
    readiness.set_ready().await;
    {
        let s = status.borrow();
        tracing::info!(
            outcome = s.outcome.as_str(),
            managed = s.managed_count,
            digest = short(&s.digest),
            "config-sync ready"
        );
    }
    let done = tokio::spawn(async move {
        if let Some(l) = sync_loop {
            let _ = l.await;
        }
        if let Some((_, released)) = election {
            let _ = released.await;
        }
        servers.await;
        tracing::info!("config-sync stopped");
    });
    Ok(Running {
        addr: grpc_addr,
        admin_addr,
        state: status,
        shutdown,
        done,
    })
}

fn syncer_file(config: &Config) -> PathBuf {
    config.sync.file.clone().unwrap_or_default()
}

/// Runs `call` until it succeeds, fails with anything but UNAVAILABLE, or `deadline` passes:
/// at startup the registry may still be starting.
async fn until_available<T>(
    deadline: Instant,
    retry: Duration,
    shutdown: &Shutdown,
    mut call: impl AsyncFnMut() -> Result<T, Error>,
) -> Result<T, Error> {
    loop {
        match call().await {
            Err(e) if e.kind == ErrorKind::Unavailable && Instant::now() < deadline => {
                tracing::warn!(error = %e, retry_in = ?retry, "registry unavailable at startup; retrying");
                tokio::select! {
                    () = shutdown.wait() => return Err(e),
                    () = tokio::time::sleep(retry) => {}
                }
            }
            other => return other,
        }
    }
}
