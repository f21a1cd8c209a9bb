//! Starting the registry: listeners, gRPC and admin servers, the database, background tasks.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use execenv_core::security::SignInFailures;
use execenv_core::{Change, ErrorKind};
use execenv_kit::metrics::Metrics;
use execenv_kit::shutdown::Shutdown;
use execenv_kit::{GrpcServer, StartError};
use execenv_proto::identity::v1::identity_server::IdentityServer;
use execenv_store::Store;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;

use crate::config::{Config, HistoryConfig};
use crate::feed::ChangeFeed;
use crate::service::{Backend, BackendSlot, IdentityService, RegistryApi, RegistryService};

/// A running registry.
pub type Running = execenv_kit::Running<(), Result<(), StartError>>;

/// How long to wait between attempts to reach an unavailable database at start-up.
const DATABASE_RETRY: Duration = Duration::from_secs(2);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ChangeLabels {
    action: String,
    source: String,
}

/// The registry's own metrics.
#[derive(Clone, Default)]
struct RegistryMetrics {
    changes: Family<ChangeLabels, Counter>,
    revision: Gauge,
    fenced: Counter,
}

impl RegistryMetrics {
    fn register(metrics: &Metrics) -> Self {
        let m = RegistryMetrics::default();
        metrics.register(
            "execenv_registry_changes",
            "Catalogue changes committed, by action and source",
            m.changes.clone(),
        );
        metrics.register(
            "execenv_registry_revision",
            "Newest change-log revision seen by this registry",
            m.revision.clone(),
        );
        metrics.register(
            "execenv_registry_syncs_fenced",
            "Syncs refused because a newer config-sync leader (a higher Lease term) already synced",
            m.fenced.clone(),
        );
        m
    }

    fn observe(&self, c: &Change) {
        self.changes
            .get_or_create(&ChangeLabels {
                action: c.action.as_str().to_owned(),
                source: c.source.as_str().to_owned(),
            })
            .inc();
        self.revision.set(c.revision);
    }
}

/// Binds the listeners and starts serving at once; the database is opened (and migrated) in the
/// background while gRPC health reports NOT_SERVING and `/readyz` 503. `Running::done` completes
/// when everything stopped, with an error if the database could not be opened.
pub async fn start(config: Config, shutdown: Shutdown) -> Result<Running, StartError> {
    let mut server = GrpcServer::bind(&config.server)
        .await?
        .with_tls(&config.tls)?;
    let (grpc_addr, admin_addr) = (server.grpc_addr(), server.admin_addr());
    let domain = RegistryMetrics::register(server.metrics());
    let slot: BackendSlot = Arc::new(OnceLock::new());
    let service = RegistryService::new(
        slot.clone(),
        config.auth.service_auth(&config.tls),
        shutdown.clone(),
    )
    .with_fenced_counter(domain.fenced.clone());
    // The Identity service shares the port and the database, so it is ready when the Registry
    // is; each has its own gRPC health status.
    let identity_readiness = server
        .add_service(IdentityServer::new(IdentityService::new(
            service.clone(),
            SignInFailures::new(
                config.identity.failed_sign_in_threshold,
                Duration::from_secs(config.identity.failed_sign_in_window_s),
            ),
        )))
        .await;
    let watches = server.watch_bound();
    let readiness = server
        .add_service(RegistryApi::new(service.with_watch_bound(watches)))
        .await;
    let servers = server.spawn(readiness.clone(), &shutdown)?;
    tracing::info!(%grpc_addr, %admin_addr, database = %config.database.url, "registry listening; opening the database");

    let background = {
        let shutdown = shutdown.clone();
        async move {
            let result = open_database(&config, &shutdown).await;
            match result {
                Ok(Some((store, start))) => {
                    let feed = ChangeFeed::new(store.clone());
                    let tail = tokio::spawn(feed.clone().run(
                        start,
                        config.poll_interval(),
                        shutdown.clone(),
                        move |c| domain.observe(c),
                    ));
                    let compact = tokio::spawn(compact_history(
                        store.clone(),
                        config.history.clone(),
                        shutdown.clone(),
                    ));
                    // The slot is set once, here; a second set cannot happen.
                    let _ = slot.set(Backend { store, feed });
                    readiness.set_ready().await;
                    identity_readiness.set_ready().await;
                    tracing::info!("registry ready");
                    shutdown.wait().await;
                    let _ = tail.await;
                    let _ = compact.await;
                    Ok(())
                }
                Ok(None) => Ok(()),
                Err(e) => {
                    tracing::error!(error = %e, "registry cannot start");
                    shutdown.trigger();
                    Err(e)
                }
            }
        }
    };
    let done = tokio::spawn(async move {
        let result = background.await;
        servers.join().await;
        tracing::info!("registry stopped");
        result
    });
    Ok(Running {
        addr: grpc_addr,
        admin_addr,
        state: (),
        shutdown,
        done,
    })
}

/// Opens and migrates the database, retrying while it is unavailable; returns the store and the
/// newest change-log revision, or `None` if shut down first.
async fn open_database(
    config: &Config,
    shutdown: &Shutdown,
) -> Result<Option<(Arc<dyn Store>, i64)>, StartError> {
    loop {
        match open_store(config.database.url.expose()).await {
            Ok((store, revision)) => {
                tracing::info!(backend = store.backend(), revision, "database migrated");
                return Ok(Some((store, revision)));
            }
            Err(e) if e.kind == ErrorKind::Unavailable => {
                tracing::warn!(error = %e, retry_in = ?DATABASE_RETRY, "database unavailable; retrying");
                tokio::select! {
                    () = shutdown.wait() => return Ok(None),
                    () = pace(DATABASE_RETRY) => {}
                }
            }
            // The store's message already names the database.
            Err(cause) => return Err(StartError::failed(cause.message)),
        }
    }
}

async fn open_store(url: &str) -> Result<(Arc<dyn Store>, i64), execenv_core::Error> {
    // Boxed as `dyn Send` so the compiler checks the store's future here, concretely.
    let open: std::pin::Pin<Box<dyn Future<Output = _> + Send + '_>> =
        Box::pin(execenv_store::open(url));
    let store = open.await?;
    let revision = store.log_bounds().await?.latest;
    Ok((store, revision))
}

/// Deletes change-log entries and security events older than the retention, periodically.
async fn compact_history(store: Arc<dyn Store>, history: HistoryConfig, shutdown: Shutdown) {
    if history.retention_days == 0 {
        return;
    }
    let mut tick =
        tokio::time::interval(Duration::from_secs(history.compact_interval_seconds.max(1)));
    loop {
        tokio::select! {
            () = shutdown.wait() => return,
            _ = tick.tick() => {}
        }
        let before = chrono::Utc::now() - chrono::Duration::days(i64::from(history.retention_days));
        match store.compact_changes(before).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, %before, "compacted the change log"),
            Err(e) => tracing::warn!(error = %e, "change-log compaction failed; retrying later"),
        }
        match store.compact_security_events(before).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, %before, "deleted old security events"),
            Err(e) => {
                tracing::warn!(error = %e, "deleting old security events failed; retrying later")
            }
        }
    }
}

/// Waits `d` (pacing a retry loop, not synchronising).
async fn pace(d: Duration) {
    let mut tick = tokio::time::interval(d);
    tick.tick().await;
    tick.tick().await;
}
