//! Token-bucket rate limiting for connection attempts.
//!
//! Every connection attempt takes one token from each of three buckets: the
//! target's, the member's and the global one, so a scan never exceeds the
//! intensity the member agreed to nor the centre's overall cap.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Rates at or above this are treated as unlimited (no bookkeeping at all).
pub const UNLIMITED: u32 = 1_000_000;

/// An asynchronous token bucket.
#[derive(Debug)]
pub struct RateLimiter {
    rate_per_sec: u32,
    burst: f64,
    state: Mutex<(f64, Instant)>,
}

impl RateLimiter {
    /// A bucket refilling at `rate_per_sec` tokens per second, holding at most
    /// `max(1, rate/10)` tokens so that bursts stay short.
    pub fn new(rate_per_sec: u32) -> Self {
        let burst = (f64::from(rate_per_sec) / 10.0).max(1.0);
        RateLimiter {
            rate_per_sec,
            burst,
            state: Mutex::new((burst, Instant::now())),
        }
    }

    /// The configured rate.
    pub fn rate_per_sec(&self) -> u32 {
        self.rate_per_sec
    }

    /// Whether this bucket limits anything.
    pub fn is_unlimited(&self) -> bool {
        self.rate_per_sec >= UNLIMITED
    }

    /// Takes one token, returning how long the caller must wait first
    /// (`Duration::ZERO` when a token was available).
    pub fn reserve(&self) -> Duration {
        if self.is_unlimited() {
            return Duration::ZERO;
        }
        let rate = f64::from(self.rate_per_sec.max(1));
        // A poisoned lock only means another prober panicked mid-update; the
        // bucket state is still two plain numbers, so keep using it.
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let (tokens, last) = *st;
        let tokens = (tokens + now.duration_since(last).as_secs_f64() * rate).min(self.burst);
        // Tokens may go negative: that is a queue of reservations, each of
        // which waits its turn.
        let after = tokens - 1.0;
        *st = (after, now);
        if after >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-after / rate)
        }
    }

    /// Waits until a token is available and takes it.
    pub async fn acquire(&self) {
        let wait = self.reserve();
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_space_out() {
        let r = RateLimiter::new(10);
        assert!(r.reserve().is_zero());
        let w2 = r.reserve();
        let w3 = r.reserve();
        assert!(
            w2 > Duration::from_millis(50) && w2 <= Duration::from_millis(110),
            "{w2:?}"
        );
        assert!(w3 > w2);
        assert!(RateLimiter::new(UNLIMITED).reserve().is_zero());
    }
}
