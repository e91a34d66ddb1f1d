//! Per-member token-bucket rate limit.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use serde::{Deserialize, Serialize};

/// A member's allowance.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Sustained messages per second per member.
    pub messages_per_sec: f64,
    /// Burst allowance in messages.
    pub burst: f64,
}

impl Default for RateLimit {
    fn default() -> RateLimit {
        RateLimit {
            messages_per_sec: 50_000.0,
            burst: 200_000.0,
        }
    }
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Buckets keyed by organisation.
#[derive(Debug)]
pub struct Limiter {
    limit: RateLimit,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl Limiter {
    /// A limiter with the same allowance for every member.
    pub fn new(limit: RateLimit) -> Limiter {
        Limiter {
            limit,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Take up to `n` messages for `org`; returns how many are allowed.
    pub fn take(&self, org: &str, n: usize) -> usize {
        let now = Instant::now();
        // A poisoned lock only means another connection panicked mid-update;
        // the buckets are still usable numbers.
        let mut map = match self.buckets.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        let b = map.entry(org.to_string()).or_insert(Bucket {
            tokens: self.limit.burst,
            at: now,
        });
        let elapsed = now.duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + elapsed * self.limit.messages_per_sec).min(self.limit.burst);
        b.at = now;
        let allowed = (b.tokens.floor().max(0.0) as usize).min(n);
        b.tokens -= allowed as f64;
        allowed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refill() {
        let l = Limiter::new(RateLimit {
            messages_per_sec: 1000.0,
            burst: 10.0,
        });
        assert_eq!(l.take("A", 8), 8);
        assert_eq!(l.take("A", 8), 2);
        assert_eq!(l.take("B", 8), 8, "members have separate buckets");
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(l.take("A", 100) >= 9);
    }
}
