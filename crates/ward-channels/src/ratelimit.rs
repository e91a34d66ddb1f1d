//! Sender-side limits for GOV.UK Notify: a token bucket mirroring Notify's rate limit
//! (bursts of 1,000, then 50 a second, shared by every client using the same API key in this
//! process) and a daily-limit counter.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// The sender's token bucket settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Burst size (Notify: 1,000).
    pub burst: u32,
    /// Tokens per second (Notify: 50).
    pub per_second: f64,
    /// Longest a send waits for a token before reporting `Retryable` instead.
    pub max_wait_ms: u64,
}

impl Default for RateLimit {
    /// Notify's published limit (a bucket of 1,000 refilled at 50/s) less a 2% margin: the
    /// server's bucket starts when our first request *arrives* and counts arrivals, so a
    /// sender pacing at exactly the limit meets 429s from network jitter.
    fn default() -> Self {
        RateLimit {
            burst: 980,
            per_second: 49.0,
            max_wait_ms: 30_000,
        }
    }
}

/// A token bucket where waiting senders reserve their slot (tokens may go negative), so
/// concurrent senders are served in arrival order and none waits longer than needed.
#[derive(Debug)]
pub struct TokenBucket {
    limit: RateLimit,
    state: Mutex<(f64, Instant)>,
}

impl TokenBucket {
    pub fn new(limit: RateLimit) -> Self {
        TokenBucket {
            state: Mutex::new((f64::from(limit.burst), Instant::now())),
            limit,
        }
    }

    pub fn limit(&self) -> RateLimit {
        self.limit
    }

    /// Reserves a token; returns how long to wait before using it, or `Err(wait)` without
    /// reserving when the wait would exceed `max_wait_ms`.
    pub fn reserve(&self) -> Result<Duration, Duration> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let refill = now.duration_since(st.1).as_secs_f64() * self.limit.per_second;
        st.0 = (st.0 + refill).min(f64::from(self.limit.burst));
        st.1 = now;
        let after = st.0 - 1.0;
        let wait = if after >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-after / self.limit.per_second)
        };
        if wait > Duration::from_millis(self.limit.max_wait_ms) {
            return Err(wait);
        }
        st.0 = after;
        Ok(wait)
    }

    /// Waits for a token (never holding the lock across the wait).
    pub async fn acquire(&self) -> Result<(), Duration> {
        let wait = self.reserve()?;
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        Ok(())
    }

    /// Empties the bucket: called when Notify answered `RateLimitError` anyway, so that
    /// senders back off at the refill rate instead of hammering.
    pub fn drain(&self) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.0 = st.0.min(0.0);
        st.1 = Instant::now();
    }

    /// Tokens available now (negative while senders are queued).
    pub fn available(&self) -> f64 {
        let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let refill = st.1.elapsed().as_secs_f64() * self.limit.per_second;
        (st.0 + refill).min(f64::from(self.limit.burst))
    }
}

/// Today's sends against Notify's daily limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DailyUsage {
    /// UTC day, as days since 1970-01-01.
    pub day: u64,
    /// Messages accepted today by this process for this key.
    pub sent: u64,
    pub limit: u64,
    /// Notify answered `TooManyRequestsError` today.
    pub exhausted: bool,
}

impl DailyUsage {
    pub fn remaining(&self) -> u64 {
        if self.exhausted {
            0
        } else {
            self.limit.saturating_sub(self.sent)
        }
    }
    /// Share of the limit used, 0.0–1.0, for "surfaced before it bites" warnings.
    pub fn used_fraction(&self) -> f64 {
        if self.exhausted || self.limit == 0 {
            1.0
        } else {
            (self.sent as f64 / self.limit as f64).min(1.0)
        }
    }
}

fn utc_day_and_rest(now: SystemTime) -> (u64, Duration) {
    let secs = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    (secs / 86_400, Duration::from_secs(86_400 - secs % 86_400))
}

/// Time until the next UTC midnight, when Notify's daily limits reset.
pub fn until_utc_midnight() -> Duration {
    utc_day_and_rest(SystemTime::now()).1
}

/// The daily counter.
#[derive(Debug)]
pub struct DailyCounter {
    usage: Mutex<DailyUsage>,
}

impl DailyCounter {
    pub fn new(limit: u64) -> Self {
        DailyCounter {
            usage: Mutex::new(DailyUsage {
                day: utc_day_and_rest(SystemTime::now()).0,
                sent: 0,
                limit,
                exhausted: false,
            }),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut DailyUsage) -> R) -> R {
        let mut u = self.usage.lock().unwrap_or_else(|p| p.into_inner());
        let today = utc_day_and_rest(SystemTime::now()).0;
        if u.day != today {
            *u = DailyUsage {
                day: today,
                sent: 0,
                limit: u.limit,
                exhausted: false,
            };
        }
        f(&mut u)
    }

    pub fn usage(&self) -> DailyUsage {
        self.with(|u| *u)
    }
    pub fn record_sent(&self) {
        self.with(|u| u.sent += 1);
    }
    pub fn mark_exhausted(&self) {
        self.with(|u| u.exhausted = true);
    }
}

/// The limits shared by every client of one API key in this process.
#[derive(Debug)]
pub struct KeyLimits {
    pub bucket: Option<TokenBucket>,
    pub daily: DailyCounter,
}

/// Returns the process-wide limits for `key_id`, creating them on first use.
pub fn shared_limits(key_id: &str, rate: Option<RateLimit>, daily_limit: u64) -> Arc<KeyLimits> {
    static REGISTRY: OnceLock<Mutex<HashMap<String, Arc<KeyLimits>>>> = OnceLock::new();
    let reg = REGISTRY.get_or_init(|| Mutex::new(HashMap::new()));
    let mut map = reg.lock().unwrap_or_else(|p| p.into_inner());
    map.entry(key_id.to_string())
        .or_insert_with(|| {
            Arc::new(KeyLimits {
                bucket: rate.map(TokenBucket::new),
                daily: DailyCounter::new(daily_limit),
            })
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_bursts_then_queues_then_refuses() {
        let b = TokenBucket::new(RateLimit {
            burst: 3,
            per_second: 10.0,
            max_wait_ms: 250,
        });
        for _ in 0..3 {
            assert_eq!(b.reserve(), Ok(Duration::ZERO));
        }
        // The 4th and 5th wait ~100 ms and ~200 ms; the 6th would wait ~300 ms: refused.
        let w4 = b.reserve().unwrap();
        let w5 = b.reserve().unwrap();
        assert!(
            w4 > Duration::from_millis(90) && w4 <= Duration::from_millis(100),
            "{w4:?}"
        );
        assert!(
            w5 > Duration::from_millis(190) && w5 <= Duration::from_millis(200),
            "{w5:?}"
        );
        let refused = b.reserve().unwrap_err();
        assert!(refused > Duration::from_millis(250), "{refused:?}");
        assert!(b.available() < -1.5);
    }

    #[tokio::test]
    async fn acquire_paces_at_the_refill_rate() {
        let b = TokenBucket::new(RateLimit {
            burst: 1,
            per_second: 100.0,
            max_wait_ms: 1_000,
        });
        let t0 = Instant::now();
        for _ in 0..11 {
            b.acquire().await.unwrap();
        }
        // 1 immediately, then 10 at 100/s.
        assert!(
            t0.elapsed() >= Duration::from_millis(95),
            "{:?}",
            t0.elapsed()
        );
    }

    #[test]
    fn daily_counter_counts_and_exhausts() {
        let d = DailyCounter::new(2);
        d.record_sent();
        assert_eq!(d.usage().remaining(), 1);
        assert!((d.usage().used_fraction() - 0.5).abs() < 1e-9);
        d.mark_exhausted();
        assert_eq!(d.usage().remaining(), 0);
        assert!(until_utc_midnight() <= Duration::from_secs(86_400));
    }

    #[test]
    fn drain_empties_the_bucket() {
        let b = TokenBucket::new(RateLimit::default());
        b.drain();
        assert!(b.available() < 1.0);
        assert!(b.reserve().unwrap() > Duration::ZERO);
    }

    #[test]
    fn limits_are_shared_per_key() {
        let a = shared_limits("svc:key-a", Some(RateLimit::default()), 10);
        let b = shared_limits("svc:key-a", None, 99);
        let c = shared_limits("svc:key-c", None, 10);
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c));
        a.daily.record_sent();
        assert_eq!(b.daily.usage().sent, 1);
    }
}
