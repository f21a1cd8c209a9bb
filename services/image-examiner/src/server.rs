//! Starting the image examiner: listeners, gRPC and admin servers, the watch on the registry's
//! catalogue and the drift loop.

use execenv_client::{CatalogueWatch, Connection, Options, Service, Target};
use execenv_kit::shutdown::Shutdown;
use execenv_kit::{GrpcServer, StartError};
use execenv_proto::examiner::v1::image_examiner_server::ImageExaminerServer;
use tokio::sync::mpsc;

use crate::board::CheckBoard;
use crate::config::Config;
use crate::drift;
use crate::examinations::{Examiner, Limits};
use crate::metrics::ExaminerMetrics;
use crate::oci::RegistrySource;
use crate::service::ExaminerService;
use crate::source::ImageSource;

/// A running image examiner; the checks are its `state`.
pub type Running = execenv_kit::Running<CheckBoard>;

/// Checks the configuration (a Docker config that is missing or broken stops the start), binds
/// the listeners and serves at once: `Examine` needs nothing else, so the examiner is ready as
/// soon as it listens. The checks start when the registry's catalogue arrives.
pub async fn start(config: Config, shutdown: Shutdown) -> Result<Running, StartError> {
    let problems = config.examiner.problems();
    if !problems.is_empty() {
        return Err(StartError::with_problems(
            "the examiner's settings are invalid",
            problems,
        ));
    }
    let source = RegistrySource::new(&config.examiner).map_err(StartError::Config)?;
    start_with(config, shutdown, source).await
}

/// [`start`] reading images through `source`.
pub async fn start_with<S: ImageSource>(
    config: Config,
    shutdown: Shutdown,
    source: S,
) -> Result<Running, StartError> {
    let registry = Connection::lazy(
        Target::new(Service::Registry, &config.registry.url),
        config.auth.token(),
        &Options::default()
            .streaming()
            .with_tls(config.tls.client()?),
    )?;
    let mut server = GrpcServer::bind(&config.server)
        .await?
        .with_tls(&config.tls)?;
    let (grpc_addr, admin_addr) = (server.grpc_addr(), server.admin_addr());

    let metrics = ExaminerMetrics::register(server.metrics());
    let examiner = Examiner::new(
        source,
        Limits {
            max_concurrent_reads: config.examiner.max_concurrent_reads,
            cached_trees: config.examiner.cached_trees,
        },
        metrics.clone(),
    );
    let board = CheckBoard::new(metrics);
    let (asks, asked) = mpsc::channel(16);
    let interval = config.examiner.check_interval();
    let service = ExaminerService::new(
        examiner.clone(),
        board.clone(),
        asks,
        u32::try_from(config.examiner.check_interval_s).unwrap_or(u32::MAX),
        config.auth.service_auth(&config.tls),
        shutdown.clone(),
    );
    let watches = server.watch_bound();
    let readiness = server
        .add_service(ImageExaminerServer::new(service.with_watch_bound(watches)))
        .await;
    readiness.set_ready().await;
    let servers = server.spawn(readiness, &shutdown)?;
    tracing::info!(%grpc_addr, %admin_addr, registry = %config.registry.url,
        check_interval_s = config.examiner.check_interval_s,
        max_concurrent_reads = config.examiner.max_concurrent_reads,
        cached_trees = config.examiner.cached_trees,
        "image examiner listening; watching the registry's catalogue");

    let catalogue = CatalogueWatch::start(registry.registry(None));
    let checks = tokio::spawn(drift::run(
        examiner,
        board.clone(),
        catalogue,
        asked,
        interval,
        shutdown.clone(),
    ));
    let done = tokio::spawn(async move {
        let _ = checks.await;
        servers.join().await;
        tracing::info!("image examiner stopped");
    });
    Ok(Running {
        addr: grpc_addr,
        admin_addr,
        state: board,
        shutdown,
        done,
    })
}
