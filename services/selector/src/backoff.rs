//! Exponential backoff with jitter between attempts to reach the registry.

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// The first delay after a failure.
pub const MIN_DELAY: Duration = Duration::from_millis(100);
/// The longest delay between attempts.
pub const MAX_DELAY: Duration = Duration::from_secs(5);

/// Delays that double from `min` up to `max`; each is jittered down by up to half, so replicas
/// that lost the registry together do not come back in lockstep.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new(MIN_DELAY, MAX_DELAY)
    }
}

impl Backoff {
    /// Delays from `min` to `max`.
    pub fn new(min: Duration, max: Duration) -> Self {
        Backoff {
            min,
            max: max.max(min),
            next: min,
        }
    }

    /// The delay before the next attempt, with random jitter.
    pub fn next_delay(&mut self) -> Duration {
        self.next_delay_with(random())
    }

    /// The delay before the next attempt, with jitter taken from `random`: the nominal delay
    /// minus up to half of it.
    pub fn next_delay_with(&mut self, random: u64) -> Duration {
        let nominal = self.next;
        self.next = (nominal * 2).min(self.max);
        let half = nominal / 2;
        // The top 53 bits of `random` as a fraction in [0, 1).
        let fraction = (random >> 11) as f64 / (1u64 << 53) as f64;
        nominal - half.mul_f64(fraction)
    }

    /// The nominal delay of the next attempt (before jitter).
    pub fn peek(&self) -> Duration {
        self.next
    }

    /// Starts over from `min`: the connection worked.
    pub fn reset(&mut self) {
        self.next = self.min;
    }
}

/// A random number from the standard library's per-process hash keys (no extra dependency for
/// a value that only spreads retries).
fn random() -> u64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0),
    );
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_from_100_ms_up_to_5_s() {
        let mut b = Backoff::default();
        // No jitter with random = 0.
        let delays: Vec<Duration> = (0..9).map(|_| b.next_delay_with(0)).collect();
        let ms: Vec<u128> = delays.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
    }

    #[test]
    fn jitter_takes_off_at_most_half_of_the_delay() {
        let mut b = Backoff::default();
        for _ in 0..6 {
            b.next_delay_with(0);
        }
        // Nominal 5 s now.
        let most = b.clone().next_delay_with(u64::MAX);
        assert!(most >= Duration::from_millis(2500), "{most:?}");
        assert!(most <= Duration::from_millis(2510), "{most:?}");
        let middle = b.clone().next_delay_with(u64::MAX / 2);
        assert!(
            middle > Duration::from_millis(3700) && middle < Duration::from_millis(3800),
            "{middle:?}"
        );
        for _ in 0..100 {
            let d = b.clone().next_delay();
            assert!(d >= Duration::from_millis(2500) && d <= MAX_DELAY, "{d:?}");
        }
    }

    #[test]
    fn reset_starts_over_after_a_success() {
        let mut b = Backoff::default();
        b.next_delay();
        b.next_delay();
        assert_eq!(b.peek(), Duration::from_millis(400));
        b.reset();
        assert_eq!(b.peek(), MIN_DELAY);
        assert_eq!(b.next_delay_with(0), MIN_DELAY);
    }
}
