//! Benchmark for `ward bench alert`: drain N notifications through a Notify endpoint (the
//! stand-in) while respecting the rate limit, and report how long it took.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::notify::NotifyClient;
use crate::{Channel, DeliveryOutcome, OutboundMessage, Recipient};

/// What a drain measured.
#[derive(Debug, Clone, PartialEq)]
pub struct DrainReport {
    pub notifications: usize,
    pub concurrency: usize,
    pub elapsed: Duration,
    pub accepted: u64,
    /// Attempts answered `Retryable` (server 429s, faults) and queued again.
    pub retried: u64,
    pub permanent: u64,
    /// Per-send latency (including waiting for a rate-limit token), p50 and p99.
    pub p50: Duration,
    pub p99: Duration,
    /// The fastest a sender could drain at the configured limit: the first `burst`
    /// immediately, the rest at `per_second`.
    pub rate_limited_minimum: Option<Duration>,
}

impl DrainReport {
    pub fn per_second(&self) -> f64 {
        self.accepted as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

impl fmt::Display for DrainReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "notify drain: {} notifications in {:.1} s ({:.1}/s, concurrency {}); accepted {}, retried {}, permanent {}; send latency p50 {:.1} ms, p99 {:.1} ms",
            self.notifications,
            self.elapsed.as_secs_f64(),
            self.per_second(),
            self.concurrency,
            self.accepted,
            self.retried,
            self.permanent,
            self.p50.as_secs_f64() * 1e3,
            self.p99.as_secs_f64() * 1e3,
        )?;
        if let Some(min) = self.rate_limited_minimum {
            write!(f, "; rate-limit floor {:.1} s", min.as_secs_f64())?;
        }
        Ok(())
    }
}

/// Sends `n` SMS (to `07700900123`, references `bench-<run>-<i>`) through `client` with
/// `concurrency` workers; a `Retryable` outcome re-queues the message after its
/// `retry_after` (or 100 ms). Returns when every message was accepted or failed
/// permanently.
pub async fn drain(client: &NotifyClient, n: usize, concurrency: usize) -> DrainReport {
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let queue: Arc<Mutex<VecDeque<(usize, Instant)>>> =
        Arc::new(Mutex::new((0..n).map(|i| (i, Instant::now())).collect()));
    let accepted = Arc::new(AtomicU64::new(0));
    let retried = Arc::new(AtomicU64::new(0));
    let permanent = Arc::new(AtomicU64::new(0));
    let latencies: Arc<Mutex<Vec<Duration>>> = Arc::new(Mutex::new(Vec::with_capacity(n)));
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (client, queue, accepted, retried, permanent, latencies, done) = (
            client.clone(),
            queue.clone(),
            accepted.clone(),
            retried.clone(),
            permanent.clone(),
            latencies.clone(),
            done.clone(),
        );
        workers.push(tokio::spawn(async move {
            loop {
                if done.load(Ordering::SeqCst) as usize >= n {
                    return;
                }
                let next = {
                    let mut q = queue.lock().unwrap_or_else(|p| p.into_inner());
                    match q.front() {
                        Some(&(_, not_before)) if not_before <= Instant::now() => q.pop_front(),
                        _ => None,
                    }
                };
                let Some((i, _)) = next else {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                };
                let msg = OutboundMessage::new(
                    format!("bench-{run}-{i}"),
                    Recipient::Phone("07700900123".into()),
                    "bench",
                    format!("bench message {i}"),
                );
                let t0 = Instant::now();
                let out = client.send(&msg).await;
                match out {
                    DeliveryOutcome::Accepted { .. } => {
                        latencies
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push(t0.elapsed());
                        accepted.fetch_add(1, Ordering::SeqCst);
                        done.fetch_add(1, Ordering::SeqCst);
                    }
                    DeliveryOutcome::Retryable { retry_after, .. } => {
                        retried.fetch_add(1, Ordering::SeqCst);
                        let at = Instant::now() + retry_after.unwrap_or(Duration::from_millis(100));
                        queue
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push_back((i, at));
                    }
                    DeliveryOutcome::Permanent { .. } => {
                        permanent.fetch_add(1, Ordering::SeqCst);
                        done.fetch_add(1, Ordering::SeqCst);
                    }
                }
            }
        }));
    }
    for w in workers {
        let _ = w.await;
    }
    let elapsed = start.elapsed();
    let mut lat = latencies.lock().unwrap_or_else(|p| p.into_inner()).clone();
    lat.sort();
    let pct = |p: f64| {
        if lat.is_empty() {
            Duration::ZERO
        } else {
            lat[((lat.len() as f64 - 1.0) * p).round() as usize]
        }
    };
    let rate_limited_minimum = client.rate_limit().map(|rl| {
        let rest = n.saturating_sub(rl.burst as usize) as f64;
        Duration::from_secs_f64(rest / rl.per_second)
    });
    DrainReport {
        notifications: n,
        concurrency: concurrency.max(1),
        elapsed,
        accepted: accepted.load(Ordering::SeqCst),
        retried: retried.load(Ordering::SeqCst),
        permanent: permanent.load(Ordering::SeqCst),
        p50: pct(0.50),
        p99: pct(0.99),
        rate_limited_minimum,
    }
}
