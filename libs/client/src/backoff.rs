//! Delays between attempts to reach a service that a stream is followed from: the registry's
//! catalogue ([`CatalogueWatch`](crate::CatalogueWatch)), the image examiner's checks (the
//! selector's follower).

use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Delays that double from `first` up to `most`; each is shortened by a random part of up to
/// half of it, so that replicas that lost a service together do not come back in lockstep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    first: Duration,
    most: Duration,
    nominal: Duration,
}

impl Default for Backoff {
    /// 100 ms doubling up to 5 s.
    fn default() -> Self {
        Backoff::new(Duration::from_millis(100), Duration::from_secs(5))
    }
}

impl Backoff {
    /// Delays from `first` up to `most`.
    pub fn new(first: Duration, most: Duration) -> Self {
        Backoff {
            first,
            most: most.max(first),
            nominal: first,
        }
    }

    /// The next delay: its nominal value shortened by `spread` (0.0 to 1.0) times half of it.
    pub fn next_delay_spread(&mut self, spread: f64) -> Duration {
        let nominal = self.nominal;
        self.nominal = (nominal * 2).min(self.most);
        nominal - (nominal / 2).mul_f64(spread.clamp(0.0, 1.0))
    }

    /// The next delay, spread at random.
    pub fn next_delay(&mut self) -> Duration {
        self.next_delay_spread(random_fraction())
    }

    /// Starts over from the first delay (the last attempt reached the service).
    pub fn reset(&mut self) {
        self.nominal = self.first;
    }
}

/// A random number in [0, 1), from the standard library's randomly keyed hasher (no dependency
/// for a value that only spreads retries) fed with the clock.
fn random_fraction() -> f64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    hasher.write_u128(nanos);
    // The top 53 bits: every value is exact in an f64.
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_from_100_ms_up_to_5_s() {
        let mut b = Backoff::default();
        let ms: Vec<u128> = (0..9)
            .map(|_| b.next_delay_spread(0.0).as_millis())
            .collect();
        assert_eq!(ms, [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
    }

    #[test]
    fn the_spread_takes_off_at_most_half_of_the_delay() {
        let mut b = Backoff::default();
        for _ in 0..6 {
            b.next_delay_spread(0.0);
        }
        // Nominal 5 s from here on.
        assert_eq!(
            b.clone().next_delay_spread(1.0),
            Duration::from_millis(2500)
        );
        assert_eq!(
            b.clone().next_delay_spread(0.5),
            Duration::from_millis(3750)
        );
        assert_eq!(
            b.clone().next_delay_spread(7.0),
            Duration::from_millis(2500),
            "clamped"
        );
        let delays: Vec<Duration> = (0..100).map(|_| b.clone().next_delay()).collect();
        assert!(
            delays
                .iter()
                .all(|d| *d >= Duration::from_millis(2500) && *d <= Duration::from_secs(5)),
            "{delays:?}"
        );
        assert!(
            delays.iter().any(|d| *d != delays[0]),
            "random spreads differ: {delays:?}"
        );
    }

    #[test]
    fn reset_starts_over_after_a_success() {
        let mut b = Backoff::default();
        b.next_delay();
        b.next_delay();
        b.reset();
        assert_eq!(b.next_delay_spread(0.0), Duration::from_millis(100));
        let d = b.next_delay();
        assert!(
            d >= Duration::from_millis(100) && d <= Duration::from_millis(200),
            "{d:?}"
        );
    }
}
