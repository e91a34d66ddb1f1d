//! The stand-in's simulated clock: real time plus an offset that tests advance.
//!
//! Everything time-based in the stand-in (rate-limit buckets, daily limits, fault windows,
//! status progression, callback retries, timestamps) reads this clock, so a test can
//! "wait ten minutes" instantly. JWT `iat` checks use the wall clock instead, because the
//! clients that sign tokens live in real time.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

/// Real time plus an advanceable offset. Monotonic: it never goes backwards.
#[derive(Debug)]
pub struct SimClock {
    start_instant: Instant,
    start_wall: DateTime<Utc>,
    offset_micros: AtomicI64,
}

impl Default for SimClock {
    fn default() -> Self {
        Self::new()
    }
}

impl SimClock {
    pub fn new() -> Self {
        SimClock {
            start_instant: Instant::now(),
            start_wall: Utc::now(),
            offset_micros: AtomicI64::new(0),
        }
    }

    /// Moves simulated time forward.
    pub fn advance(&self, by: Duration) {
        let micros = i64::try_from(by.as_micros()).unwrap_or(i64::MAX);
        self.offset_micros.fetch_add(micros, Ordering::SeqCst);
    }

    /// Simulated seconds since the stand-in started (for token buckets).
    pub fn elapsed_secs(&self) -> f64 {
        self.start_instant.elapsed().as_secs_f64()
            + self.offset_micros.load(Ordering::SeqCst) as f64 / 1e6
    }

    /// Simulated wall-clock time.
    pub fn now(&self) -> DateTime<Utc> {
        let real = chrono::Duration::from_std(self.start_instant.elapsed()).unwrap_or_default();
        self.start_wall
            + real
            + chrono::Duration::microseconds(self.offset_micros.load(Ordering::SeqCst))
    }

    /// Total simulated advance so far.
    pub fn offset(&self) -> Duration {
        Duration::from_micros(self.offset_micros.load(Ordering::SeqCst).max(0) as u64)
    }
}

/// Notify's `DATETIME_FORMAT`: `2017-05-14T12:15:30.000000Z`.
pub fn format_dt(dt: &DateTime<Utc>) -> String {
    dt.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advance_moves_now_and_elapsed() {
        let c = SimClock::new();
        let t0 = c.now();
        let e0 = c.elapsed_secs();
        c.advance(Duration::from_secs(600));
        assert!(c.now() - t0 >= chrono::Duration::seconds(600));
        assert!(c.elapsed_secs() - e0 >= 600.0);
        assert_eq!(c.offset(), Duration::from_secs(600));
    }

    #[test]
    fn formats_like_notify() {
        let dt = DateTime::parse_from_rfc3339("2017-05-14T12:15:30.5Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(format_dt(&dt), "2017-05-14T12:15:30.500000Z");
    }
}
