//! Throttling of failed authentications, per client address: each address has a bucket of
//! `limits.auth_failure_burst` failures that refills at `limits.auth_failures_per_minute`. An
//! address whose bucket is empty is answered 429 with `Retry-After` (and counted in
//! `execenv_gateway_auth_throttled_total`) instead of having its key checked by the registry —
//! unless the key has authenticated before: people behind the same address (a NAT, a proxy) are
//! never held back by someone else's guesses.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use execenv_core::{Error, ErrorKind};
use execenv_kit::metrics::Metrics;
use prometheus_client::metrics::counter::Counter;

use crate::config::LimitsConfig;

/// Above this many addresses, the full buckets are dropped on the next failure.
const PRUNE_AT: usize = 10_000;

/// The failed-authentication buckets of every client address.
#[derive(Clone)]
pub struct Throttle {
    buckets: Arc<Mutex<HashMap<IpAddr, Bucket>>>,
    burst: f64,
    per_second: f64,
    throttled: Counter,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    failures_left: f64,
    at: Instant,
}

impl Throttle {
    /// A throttle with the bucket size and refill rate of `limits` (a burst of 0: none).
    pub fn new(limits: &LimitsConfig) -> Self {
        Throttle {
            buckets: Arc::default(),
            burst: f64::from(limits.auth_failure_burst),
            per_second: f64::from(limits.auth_failures_per_minute.max(1)) / 60.0,
            throttled: Counter::default(),
        }
    }

    /// Registers `execenv_gateway_auth_throttled_total` in `metrics`.
    pub fn register(self, metrics: &Metrics) -> Self {
        metrics.register(
            "execenv_gateway_auth_throttled",
            "Requests refused with 429 because their client address failed to authenticate too often (limits.auth_failure_burst, limits.auth_failures_per_minute).",
            self.throttled.clone(),
        );
        self
    }

    /// Ok when `client` may have an unknown credential checked at `now`; otherwise the refusal
    /// (ResourceExhausted), counted.
    pub fn admit(&self, client: Option<IpAddr>, now: Instant) -> Result<(), Error> {
        let Some(wait) = self.wait(client, now) else {
            return Ok(());
        };
        self.throttled.inc();
        let address = client.map_or_else(String::new, |c| c.to_string());
        Err(Error::new(
            ErrorKind::ResourceExhausted,
            format!(
                "too many failed authentications from {address}; try again in {} s with a valid API key (limits: EXECENV_LIMITS__AUTH_FAILURE_BURST, EXECENV_LIMITS__AUTH_FAILURES_PER_MINUTE)",
                retry_after(wait)
            ),
        ))
    }

    /// How long `client` must wait at `now` before an unknown credential is checked again; None
    /// when it need not.
    pub fn wait(&self, client: Option<IpAddr>, now: Instant) -> Option<Duration> {
        let client = client?;
        if self.burst <= 0.0 {
            return None;
        }
        let buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        let left = self.refilled(buckets.get(&client)?, now);
        (left < 1.0).then(|| Duration::from_secs_f64((1.0 - left) / self.per_second))
    }

    /// Counts one failed authentication of `client` at `now`.
    pub fn failed(&self, client: Option<IpAddr>, now: Instant) {
        let Some(client) = client else { return };
        if self.burst <= 0.0 {
            return;
        }
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if buckets.len() >= PRUNE_AT {
            buckets.retain(|_, b| self.refilled(b, now) < self.burst);
        }
        let left = buckets
            .get(&client)
            .map_or(self.burst, |b| self.refilled(b, now));
        buckets.insert(
            client,
            Bucket {
                failures_left: (left - 1.0).max(0.0),
                at: now,
            },
        );
    }

    fn refilled(&self, bucket: &Bucket, now: Instant) -> f64 {
        let earned = now.saturating_duration_since(bucket.at).as_secs_f64() * self.per_second;
        (bucket.failures_left + earned).min(self.burst)
    }
}

/// The whole seconds of `Retry-After` for a wait (at least 1).
pub fn retry_after(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn throttle(burst: u32, per_minute: u32) -> Throttle {
        Throttle::new(&LimitsConfig {
            auth_failure_burst: burst,
            auth_failures_per_minute: per_minute,
            ..LimitsConfig::default()
        })
    }

    const GUESSER: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 9)));
    const OTHER: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 7)));

    #[test]
    fn a_client_is_throttled_after_its_burst_and_earns_failures_back() {
        let t = throttle(3, 6);
        let start = Instant::now();
        for _ in 0..3 {
            t.admit(GUESSER, start).unwrap();
            t.failed(GUESSER, start);
        }
        let refused = t.admit(GUESSER, start).unwrap_err();
        assert_eq!(refused.kind, ErrorKind::ResourceExhausted);
        assert_eq!(
            refused.message,
            "too many failed authentications from 10.0.0.9; try again in 10 s with a valid API key (limits: EXECENV_LIMITS__AUTH_FAILURE_BURST, EXECENV_LIMITS__AUTH_FAILURES_PER_MINUTE)"
        );
        assert_eq!(t.wait(GUESSER, start), Some(Duration::from_secs(10)));
        assert!(
            t.admit(OTHER, start).is_ok(),
            "another address is not held back"
        );
        let later = start + Duration::from_secs(10);
        assert!(t.admit(GUESSER, later).is_ok());
        t.failed(GUESSER, later);
        assert!(t.admit(GUESSER, later).is_err());
    }

    #[test]
    fn no_address_or_no_burst_is_never_throttled() {
        let now = Instant::now();
        let t = throttle(1, 1);
        t.failed(None, now);
        t.failed(None, now);
        assert!(t.admit(None, now).is_ok());
        let off = throttle(0, 1);
        off.failed(GUESSER, now);
        off.failed(GUESSER, now);
        assert!(off.admit(GUESSER, now).is_ok());
    }

    #[test]
    fn throttled_requests_are_counted() {
        let metrics = Metrics::new();
        let t = throttle(1, 1).register(&metrics);
        let now = Instant::now();
        t.failed(GUESSER, now);
        let _ = t.admit(GUESSER, now);
        let _ = t.admit(GUESSER, now);
        assert!(
            metrics
                .encode()
                .contains("execenv_gateway_auth_throttled_total 2"),
            "{}",
            metrics.encode()
        );
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after(Duration::from_millis(1)), 1);
        assert_eq!(retry_after(Duration::ZERO), 1);
        assert_eq!(retry_after(Duration::from_secs(6)), 6);
        assert_eq!(retry_after(Duration::from_millis(6001)), 7);
    }
}
