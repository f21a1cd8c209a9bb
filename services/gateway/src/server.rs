//! Starting the gateway: listeners, the REST API and the admin server.

use std::time::Duration;

use axum::serve::ListenerExt;
use execenv_kit::StartError;
use execenv_kit::http::serve;
use execenv_kit::listen::bind;
use execenv_kit::metrics::Metrics;
use execenv_kit::readiness::Readiness;
use execenv_kit::serve_admin;
use execenv_kit::shutdown::{DRAIN_GRACE, Shutdown, join_server};

use crate::access::HttpMetrics;
use crate::api;
use crate::auth::{Authenticator, Gate};
use crate::bundles::{BundleStore, STALE_AFTER};
use crate::config::Config;
use crate::config_sync::ConfigSync;
use crate::content_metrics::ContentMetrics;
use crate::events::Events;
use crate::examiner::Examiner;
use crate::instances::InstanceSettings;
use crate::limits::Limits;
use crate::registry::Registry;
use crate::session::SessionStore;
use crate::state::AppState;
use crate::throttle::Throttle;
use crate::upstream::Upstream;

/// A running gateway.
pub type Running = execenv_kit::Running;

/// Checks the configuration, binds both listeners and serves until `shutdown`. The registry is
/// reached lazily: a registry that is down makes requests fail 503 with code 1, not the start.
pub async fn start(config: Config, shutdown: Shutdown) -> Result<Running, StartError> {
    let token = config.auth.token();
    let client_tls = config.tls.client()?;
    // HTTP/1.1 is what the REST API speaks (axum's http1).
    let server_tls = config.tls.server(&[b"http/1.1"])?;
    let registry = Registry::with_tls(&config.registry.url, token.clone(), client_tls.clone())
        .map_err(|e| StartError::Config(e.message))?;
    let upstreams = (
        Upstream::with_tls(
            execenv_client::Service::Selector,
            &config.selector.url,
            token.clone(),
            client_tls.clone(),
        )
        .map_err(|e| StartError::Config(e.message))?,
        Upstream::with_tls(
            execenv_client::Service::Launcher,
            &config.launcher.url,
            token,
            client_tls.clone(),
        )
        .map_err(|e| StartError::Config(e.message))?,
    );
    let config_sync = ConfigSync::with_tls(
        config.config_sync.url.as_deref(),
        config.auth.token(),
        client_tls.clone(),
    )
    .map_err(|e| StartError::Config(e.message))?;
    let examiner = Examiner::with_tls(&config.examiner.url, config.auth.token(), client_tls)
        .map_err(|e| StartError::Config(e.message))?;
    let events = Events::new(registry.clone(), config_sync.clone(), shutdown.clone());
    let (http, http_addr) = bind(config.server.http_addr, "REST API HTTP").await?;
    let (admin, admin_addr) = bind(config.server.admin_addr, "admin HTTP").await?;

    let hostname = config.server.hostname.clone().unwrap_or_else(host_name);
    let metrics = Metrics::new();
    let bundles = BundleStore::new(&config.bundles);
    // What an earlier gateway left mid-upload; in the background, the start does not wait.
    let sweeper = bundles.clone();
    tokio::task::spawn_blocking(move || sweeper.sweep(STALE_AFTER));
    let gate = Gate::new(
        Authenticator::new(
            registry.clone(),
            Duration::from_millis(config.server.key_cache_ms),
        ),
        SessionStore::new(
            Duration::from_secs(config.console.session_idle_s),
            Duration::from_secs(config.console.session_max_s),
        ),
        // Served over TLS, the session cookie is always Secure.
        config.console.secure_cookies || server_tls.is_some(),
    )
    .with_throttle(Throttle::new(&config.limits).register(&metrics));
    let state = AppState::new(
        gate,
        registry,
        upstreams,
        hostname,
        HttpMetrics::register(&metrics),
        bundles,
    )
    .with_live(config_sync, events)
    .with_examiner(examiner)
    .with_limits(Limits::new(&config.limits))
    .with_content(
        InstanceSettings::from(&config.content),
        ContentMetrics::register(&metrics),
    );
    // Adopts the instances an earlier gateway left, then stops idle ones.
    state.instances().spawn(&shutdown);
    let readiness = Readiness::new();
    readiness.set_ready().await;

    let tls_on = server_tls.is_some();
    // Each request carries the peer's address (throttling, X-Forwarded-For to content).
    let app = api::router(state);
    let header_read_timeout = (config.limits.header_read_timeout_s > 0)
        .then(|| Duration::from_secs(config.limits.header_read_timeout_s));
    let api = match server_tls {
        // HTTPS only: a plain-text request fails its handshake.
        Some(tls) => tokio::spawn(serve(
            tls.accept(http),
            app,
            header_read_timeout,
            shutdown.wait_owned(),
        )),
        None => tokio::spawn(serve(
            http.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            }),
            app,
            header_read_timeout,
            shutdown.wait_owned(),
        )),
    };
    let admin = tokio::spawn(serve_admin(
        admin,
        metrics,
        readiness,
        shutdown.wait_owned(),
    ));
    tracing::info!(
        %http_addr,
        %admin_addr,
        tls = tls_on,
        mutual_tls = config.tls.is_mutual(),
        registry = %config.registry.url,
        selector = %config.selector.url,
        launcher = %config.launcher.url,
        config_sync = config.config_sync.url.as_deref().unwrap_or("(not set)"),
        examiner = if config.examiner.url.trim().is_empty() { "(not set)" } else { &config.examiner.url },
        bundles = %config.bundles.dir.display(),
        content_start_timeout_s = config.content.start_timeout_s,
        content_idle_timeout_s = config.content.idle_timeout_s,
        "gateway listening"
    );
    let stopping = shutdown.clone();
    let done = tokio::spawn(async move {
        // The drain grace starts when shutdown is asked for, not before.
        stopping.wait().await;
        join_server("REST API server", api, DRAIN_GRACE).await;
        join_server("admin server", admin, DRAIN_GRACE).await;
        tracing::info!("gateway stopped");
    });
    Ok(Running {
        addr: http_addr,
        admin_addr,
        state: (),
        shutdown,
        done,
    })
}

/// This machine's host name (Linux), else `localhost`.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn local() -> Config {
        let mut config = Config::default();
        config.server.http_addr = "127.0.0.1:0".parse().unwrap();
        config.server.admin_addr = "127.0.0.1:0".parse().unwrap();
        config
    }

    #[tokio::test(start_paused = true)]
    async fn the_gateway_serves_until_shutdown_and_then_stops() {
        let running = start(local(), Shutdown::new()).await.unwrap();
        // Virtual time (the clock is paused and jumps ahead whenever every task waits): well
        // past the drain grace in no real time.
        tokio::time::sleep(DRAIN_GRACE + Duration::from_secs(60)).await;
        assert!(!running.done.is_finished(), "stopped without being asked");
        running.shutdown.trigger();
        running.done.await.unwrap();
    }
}
