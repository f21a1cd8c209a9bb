//! Graceful shutdown: a signal listener for `main` and a cloneable handle that servers wait on and
//! tests trigger directly.

use tokio_util::sync::CancellationToken;

/// Completes when SIGTERM or Ctrl-C (SIGINT) arrives, logging which one.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C; only SIGTERM will stop the process");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM; only Ctrl-C will stop the process");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();

    tokio::select! {
        () = ctrl_c => tracing::info!(signal = "SIGINT", "shutting down"),
        () = terminate => tracing::info!(signal = "SIGTERM", "shutting down"),
    }
}

/// A cloneable shutdown switch: every clone sees [`Shutdown::trigger`] from any other.
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    token: CancellationToken,
}

impl Shutdown {
    /// A switch that has not been triggered.
    pub fn new() -> Self {
        Shutdown::default()
    }

    /// A switch triggered by SIGTERM or Ctrl-C (spawns the listener on the current runtime).
    pub fn on_signal() -> Self {
        let shutdown = Shutdown::new();
        let trigger = shutdown.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = shutdown_signal() => trigger.trigger(),
                () = trigger.wait() => {}
            }
        });
        shutdown
    }

    /// Asks everything waiting on this switch to stop.
    pub fn trigger(&self) {
        self.token.cancel();
    }

    /// Whether shutdown has been asked for.
    pub fn is_triggered(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Completes once shutdown has been asked for (immediately if it already was).
    pub async fn wait(&self) {
        self.token.cancelled().await;
    }

    /// A future that owns a clone of the switch, for `serve_with_shutdown(…)` style APIs.
    pub fn wait_owned(&self) -> impl Future<Output = ()> + Send + 'static {
        self.token.clone().cancelled_owned()
    }
}

/// How long a server may take to finish its open requests after shutdown was asked for.
pub const DRAIN_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// Waits for a server task that was told to shut down, at most `grace`: a client that never
/// finishes a request or never acknowledges the close (HTTP/2 GOAWAY) cannot hold the process up.
/// Failures and the forced close are logged.
pub async fn join_server<E: std::fmt::Display>(
    what: &str,
    mut task: tokio::task::JoinHandle<Result<(), E>>,
    grace: std::time::Duration,
) {
    match tokio::time::timeout(grace, &mut task).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => tracing::error!(error = %e, "{what} failed"),
        Ok(Err(e)) => tracing::error!(error = %e, "{what} task failed"),
        Err(_) => {
            task.abort();
            // Completes at once with "cancelled": the connections are closed when this returns.
            let _ = task.await;
            tracing::warn!(
                ?grace,
                "{what} still had open connections after shutdown; closed them"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn join_server_closes_a_server_that_does_not_finish_within_the_grace() {
        let stuck = tokio::spawn(async {
            std::future::pending::<()>().await;
            Ok::<(), String>(())
        });
        let abort = stuck.abort_handle();
        join_server("stuck", stuck, std::time::Duration::from_millis(10)).await;
        assert!(abort.is_finished());
    }

    #[tokio::test]
    async fn trigger_releases_every_clone() {
        let shutdown = Shutdown::new();
        let waiter = shutdown.clone();
        let task = tokio::spawn(async move { waiter.wait().await });
        assert!(!shutdown.is_triggered());
        shutdown.trigger();
        assert!(task.await.is_ok());
        assert!(shutdown.is_triggered());
        // Waiting after the trigger completes at once.
        shutdown.wait_owned().await;
    }
}
