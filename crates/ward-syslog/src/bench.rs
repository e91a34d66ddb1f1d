//! Throughput of the TCP listener: [`bench_syslog`] sends RFC 5424 messages
//! (octet-counted) over loopback TCP connections into a counting sink and
//! prints messages/s and MB/s.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;

use crate::{start, Backpressure, ListenerConfig, RateLimit, StaticResolver, SyslogSink};

/// Figures from [`bench_syslog`].
#[derive(Debug, Clone)]
pub struct SyslogBenchReport {
    /// Messages sent.
    pub sent: u64,
    /// Messages that reached the sink.
    pub delivered: u64,
    /// Of those, parsed (not raw).
    pub parsed: u64,
    /// Bytes sent (with framing).
    pub bytes: u64,
    /// Seconds from first byte to last delivery.
    pub secs: f64,
    /// Peak RSS in KiB (Linux), if known.
    pub peak_rss_kib: Option<u64>,
}

impl SyslogBenchReport {
    /// Delivered messages per second.
    pub fn msgs_per_sec(&self) -> f64 {
        self.delivered as f64 / self.secs.max(1e-9)
    }
    /// MB (10^6) per second.
    pub fn mb_per_sec(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.secs.max(1e-9)
    }
}

impl fmt::Display for SyslogBenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "syslog tcp rfc5424: {} sent, {} delivered ({} parsed) in {:.2}s: {:.0} msgs/s, {:.1} MB/s",
            self.sent,
            self.delivered,
            self.parsed,
            self.secs,
            self.msgs_per_sec(),
            self.mb_per_sec()
        )?;
        if let Some(k) = self.peak_rss_kib {
            write!(f, ", peak RSS {:.1} MiB", k as f64 / 1024.0)?;
        }
        Ok(())
    }
}

struct CountingSink {
    delivered: AtomicU64,
    parsed: AtomicU64,
}

#[async_trait::async_trait]
impl SyslogSink for CountingSink {
    async fn submit(
        &self,
        _org: &str,
        records: Vec<ward_event::Event>,
    ) -> Result<(), Backpressure> {
        let parsed = records.iter().filter(|e| e.is_parsed()).count() as u64;
        self.parsed.fetch_add(parsed, Ordering::Relaxed);
        self.delivered
            .fetch_add(records.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

fn peak_rss_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Send `messages` RFC 5424 messages over `connections` TCP connections to a
/// listener on loopback and measure delivery into the sink. Builds its own
/// multi-threaded runtime; call from synchronous code.
pub fn bench_syslog(messages: u64, connections: usize) -> std::io::Result<SyslogBenchReport> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let sink = Arc::new(CountingSink {
            delivered: AtomicU64::new(0),
            parsed: AtomicU64::new(0),
        });
        let resolver = StaticResolver::new()
            .with_network("127.0.0.0/8".parse().map_err(std::io::Error::other)?, "BENCH");
        let cfg = ListenerConfig {
            tcp: Some("127.0.0.1:0".parse().map_err(std::io::Error::other)?),
            rate_limit: RateLimit {
                messages_per_sec: 1e9,
                burst: 1e9,
            },
            batch_max: 2048,
            ..ListenerConfig::default()
        };
        let running = start(cfg, sink.clone(), Arc::new(resolver))
            .await
            .map_err(std::io::Error::other)?;
        let addr = running.tcp_addr.ok_or_else(|| std::io::Error::other("no tcp address"))?;
        let connections = connections.max(1);
        let per_conn = messages / connections as u64;
        // Pre-build a block of messages per connection and send it
        // repeatedly, so the sender costs little and memory stays small.
        const BLOCK: u64 = 10_000;
        let mut payloads = Vec::new();
        for c in 0..connections {
            let mut buf = Vec::with_capacity(BLOCK as usize * 200);
            for i in 0..BLOCK.min(per_conn.max(1)) {
                let msg = format!(
                    "<134>1 2024-05-01T10:00:{:02}.{:06}Z fw-{c:02}.gp.example.nhs.uk sshd {} - [origin ip=\"10.0.{c}.1\"] Failed password for invalid user admin{} from 198.51.100.{} port {} ssh2",
                    i % 60,
                    i % 1_000_000,
                    1000 + i % 30000,
                    i % 100,
                    i % 250,
                    1024 + i % 60000
                );
                buf.extend_from_slice(format!("{} ", msg.len()).as_bytes());
                buf.extend_from_slice(msg.as_bytes());
            }
            payloads.push(Arc::new(buf));
        }
        let block_msgs = BLOCK.min(per_conn.max(1));
        let repeats = per_conn / block_msgs;
        let per_conn = repeats * block_msgs;
        let total = per_conn * connections as u64;
        let bytes: u64 = payloads.iter().map(|p| p.len() as u64 * repeats).sum();
        let start_t = Instant::now();
        let mut senders = Vec::new();
        for p in payloads {
            senders.push(tokio::spawn(async move {
                let mut s = tokio::net::TcpStream::connect(addr).await?;
                for _ in 0..repeats {
                    s.write_all(&p).await?;
                }
                s.shutdown().await
            }));
        }
        for s in senders {
            s.await.map_err(std::io::Error::other)??;
        }
        let deadline = Instant::now() + Duration::from_secs(120);
        while sink.delivered.load(Ordering::Relaxed) < total && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let secs = start_t.elapsed().as_secs_f64();
        running.shutdown().await;
        let report = SyslogBenchReport {
            sent: total,
            delivered: sink.delivered.load(Ordering::Relaxed),
            parsed: sink.parsed.load(Ordering::Relaxed),
            bytes,
            secs,
            peak_rss_kib: peak_rss_kib(),
        };
        println!("{report}");
        Ok(report)
    })
}
