//! Starting the selector: listeners, gRPC and admin servers, and the watch on the registry.

use execenv_kit::grpc::{health_service, reflection_service};
use execenv_kit::metrics::Metrics;
use execenv_kit::shutdown::Shutdown;
use execenv_kit::{Listeners, Servers};
use execenv_proto::selector::v1::selector_server::SelectorServer;
use tonic::service::Routes;

use crate::catalogue::{self, SharedCatalogue, WatchOptions};
use crate::metrics::SelectorMetrics;
use crate::registry::GrpcRegistry;
use crate::service::SelectorService;
use crate::{Config, Running, StartError};

/// Checks the configuration, binds the listeners and starts serving at once; the watch on the
/// registry runs in the background. gRPC health reports NOT_SERVING and `/readyz` 503 until the
/// first full catalogue is held, SERVING and 200 from then on — also while the registry is away.
pub async fn start(config: Config, shutdown: Shutdown) -> Result<Running, StartError> {
    let settings = config
        .selection
        .settings()
        .map_err(|e| StartError::Config(e.message))?;
    let registry = GrpcRegistry::new(&config.registry.url, config.auth.service_token.clone())
        .map_err(|e| StartError::Config(e.message))?;
    let Listeners {
        grpc: grpc_listener,
        admin: admin_listener,
        grpc_addr,
        admin_addr,
    } = Listeners::bind(&config.server).await?;

    let metrics = Metrics::new();
    let shared = SharedCatalogue::new();
    let domain = SelectorMetrics::register(&metrics, &shared);
    let (readiness, health) = health_service::<SelectorServer<SelectorService>>().await;
    readiness
        .set_not_ready("waiting for the catalogue from the registry")
        .await;
    let reflection =
        reflection_service(execenv_proto::FILE_DESCRIPTOR_SET).map_err(StartError::Reflection)?;
    let service = SelectorService::new(
        shared.clone(),
        settings,
        domain.clone(),
        config.auth.service_token.clone(),
    );
    let routes = Routes::new(health)
        .add_service(reflection)
        .add_service(SelectorServer::new(service));
    let servers = Servers::spawn(
        routes,
        grpc_listener,
        admin_listener,
        &metrics,
        readiness.clone(),
        &shutdown,
    );
    tracing::info!(%grpc_addr, %admin_addr, registry = %config.registry.url,
        python_version_matching = config.selection.python_version_matching.as_str(),
        r_version_matching = config.selection.r_version_matching.as_str(),
        quarto_version_matching = config.selection.quarto_version_matching.as_str(),
        "selector listening; watching the registry");

    let watch = tokio::spawn(catalogue::run(
        registry,
        shared.clone(),
        domain,
        WatchOptions::default(),
        shutdown.clone(),
    ));
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
        servers.join().await;
        tracing::info!("selector stopped");
    });
    Ok(Running {
        grpc_addr,
        admin_addr,
        catalogue: shared,
        shutdown,
        done,
    })
}
