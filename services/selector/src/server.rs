//! Starting the selector: listeners, gRPC and admin servers, the watch on the registry and, with
//! `examiner.url`, the follower of the image examiner's checks.

use execenv_client::{CatalogueWatch, Connection, Options, Service, Target};
use execenv_kit::shutdown::Shutdown;
use execenv_kit::{GrpcServer, StartError};
use execenv_proto::selector::v1::selector_server::SelectorServer;

use crate::catalogue::{self, SharedCatalogue};
use crate::checks::{self, FollowOptions, SharedChecks};
use crate::config::Config;
use crate::examiner::GrpcExaminer;
use crate::metrics::SelectorMetrics;
use crate::service::SelectorService;

/// A running selector: its catalogue and the image examiner's checks are its `state`.
pub type Running = execenv_kit::Running<State>;

/// What a running selector answers from.
#[derive(Clone)]
pub struct State {
    /// The catalogue, kept by the watch on the registry.
    pub catalogue: SharedCatalogue,
    /// The image examiner's checks (empty without `examiner.url`).
    pub checks: SharedChecks,
}

/// Checks the configuration, binds the listeners and starts serving at once; the watch on the
/// registry runs in the background. gRPC health reports NOT_SERVING and `/readyz` 503 until the
/// first full catalogue is held, SERVING and 200 from then on — also while the registry is away.
/// The image examiner never holds readiness up: without it there is no drift information.
pub async fn start(config: Config, shutdown: Shutdown) -> Result<Running, StartError> {
    let settings = config
        .selection
        .settings()
        .map_err(|e| StartError::Config(e.message))?;
    let client_tls = config.tls.client()?;
    let registry = Connection::lazy(
        Target::new(Service::Registry, &config.registry.url),
        config.auth.token(),
        &Options::default().streaming().with_tls(client_tls.clone()),
    )?;
    // Unary calls (is a revision committed?) get the default request timeout, not the watch's.
    let registry_calls = Connection::lazy(
        Target::new(Service::Registry, &config.registry.url),
        config.auth.token(),
        &Options::default().with_tls(client_tls.clone()),
    )?;
    let examiner = config
        .examiner
        .url()
        .map(|url| GrpcExaminer::new(url, config.auth.token(), client_tls.clone()))
        .transpose()?;
    let mut server = GrpcServer::bind(&config.server)
        .await?
        .with_tls(&config.tls)?;
    let (grpc_addr, admin_addr) = (server.grpc_addr(), server.admin_addr());

    let shared = SharedCatalogue::new();
    let checks = SharedChecks::new();
    let domain = SelectorMetrics::register(server.metrics(), &shared);
    let service = SelectorService::new(
        shared.clone(),
        checks.clone(),
        settings,
        config.selection.skip_drift,
        domain.clone(),
        config.auth.service_auth(&config.tls),
    )
    .with_min_revision_wait(std::time::Duration::from_millis(
        config.selection.min_revision_wait_ms,
    ))
    .with_registry(registry_calls);
    let readiness = server.add_service(SelectorServer::new(service)).await;
    readiness
        .set_not_ready("waiting for the catalogue from the registry")
        .await;
    let servers = server.spawn(readiness.clone(), &shutdown)?;
    tracing::info!(%grpc_addr, %admin_addr, registry = %config.registry.url,
        python_version_matching = config.selection.python_version_matching.as_str(),
        r_version_matching = config.selection.r_version_matching.as_str(),
        quarto_version_matching = config.selection.quarto_version_matching.as_str(),
        examiner = config.examiner.url().unwrap_or("(none: no drift information)"),
        skip_drift = config.selection.skip_drift,
        min_revision_wait_ms = config.selection.min_revision_wait_ms,
        "selector listening; watching the registry");
    if config.selection.skip_drift && examiner.is_none() {
        tracing::warn!(
            "selection.skip_drift is on but examiner.url is empty: no environment is known to be in drift, so none is skipped"
        );
    }

    let watch = tokio::spawn(catalogue::run(
        CatalogueWatch::start(registry.registry(None)),
        registry.target().url.clone(),
        shared.clone(),
        domain,
        catalogue::Pacing::default(),
        shutdown.clone(),
    ));
    let follower = examiner.map(|examiner| {
        tokio::spawn(checks::run(
            examiner,
            checks.clone(),
            FollowOptions::default(),
            shutdown.clone(),
        ))
    });
    let ready = {
        let shared = shared.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = shutdown.wait() => {}
                () = shared.wait_until_held() => {
                    readiness.set_ready().await;
                    tracing::info!("selector ready");
                }
            }
        })
    };
    let done = tokio::spawn(async move {
        let _ = ready.await;
        let _ = watch.await;
        if let Some(follower) = follower {
            let _ = follower.await;
        }
        servers.join().await;
        tracing::info!("selector stopped");
    });
    Ok(Running {
        addr: grpc_addr,
        admin_addr,
        state: State {
            catalogue: shared,
            checks,
        },
        shutdown,
        done,
    })
}
