//! Whether the service is ready for traffic, shared by the admin `/readyz` endpoint and the gRPC
//! health status of the service.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

/// A cloneable readiness switch; starts not ready ("starting").
#[derive(Debug, Clone)]
pub struct Readiness {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    ready: AtomicBool,
    reason: Mutex<String>,
    health: Option<(HealthReporter, String)>,
}

impl Default for Readiness {
    fn default() -> Self {
        Readiness::new()
    }
}

impl Readiness {
    /// A switch for `/readyz` only.
    pub fn new() -> Self {
        Readiness::build(None)
    }

    /// A switch that also sets the gRPC health status of `service_name` through `reporter`.
    pub fn with_health(reporter: HealthReporter, service_name: impl Into<String>) -> Self {
        Readiness::build(Some((reporter, service_name.into())))
    }

    fn build(health: Option<(HealthReporter, String)>) -> Self {
        Readiness {
            inner: Arc::new(Inner {
                ready: AtomicBool::new(false),
                reason: Mutex::new("starting".to_owned()),
                health,
            }),
        }
    }

    /// Whether the service takes traffic.
    pub fn is_ready(&self) -> bool {
        self.inner.ready.load(Ordering::Acquire)
    }

    /// Why the service is not ready; `None` when it is.
    pub fn reason(&self) -> Option<String> {
        if self.is_ready() {
            return None;
        }
        Some(
            self.inner
                .reason
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        )
    }

    /// The gRPC service name whose health this switch sets, if any.
    pub fn service_name(&self) -> Option<&str> {
        self.inner.health.as_ref().map(|(_, name)| name.as_str())
    }

    /// Marks the service ready: `/readyz` answers 200 and the gRPC health status is SERVING.
    pub async fn set_ready(&self) {
        self.inner.ready.store(true, Ordering::Release);
        self.set_health(ServingStatus::Serving).await;
    }

    /// Marks the service not ready for `reason` (e.g. "database unreachable"): `/readyz` answers
    /// 503 with it and the gRPC health status is NOT_SERVING.
    pub async fn set_not_ready(&self, reason: impl Into<String>) {
        *self
            .inner
            .reason
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = reason.into();
        self.inner.ready.store(false, Ordering::Release);
        self.set_health(ServingStatus::NotServing).await;
    }

    async fn set_health(&self, status: ServingStatus) {
        if let Some((reporter, name)) = &self.inner.health {
            reporter.set_service_status(name, status).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn readiness_flips_with_its_reason() {
        let readiness = Readiness::new();
        assert_eq!(readiness.reason().as_deref(), Some("starting"));
        readiness.set_ready().await;
        assert!(readiness.clone().is_ready());
        assert_eq!(readiness.reason(), None);
        readiness.set_not_ready("database unreachable").await;
        assert_eq!(readiness.reason().as_deref(), Some("database unreachable"));
    }
}
