//! TCP connect port scan with adaptive timeouts and retransmission.
//!
//! Workers pull ports from a shared cursor, so concurrency is bounded without
//! spawning a task per port. The timeout adapts to measured round-trip times
//! the way TCP's does (SRTT + 4·RTTVAR, clamped); an unanswered probe is
//! retried with a doubled timeout before the port is called filtered.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::net::{ConnectVerdict, Connector, ProbeError, SocketCache};
use crate::proto::http::banner_text;

/// Which ports to scan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PortSpec {
    /// Every port, 1–65535.
    Full,
    /// The first `n` entries of [`TOP_PORTS`].
    Top(usize),
    /// Exactly these ports.
    List(Vec<u16>),
}

impl PortSpec {
    /// The ports, deduplicated, in scan order.
    pub fn ports(&self) -> Vec<u16> {
        let mut v: Vec<u16> = match self {
            PortSpec::Full => (1..=65535).collect(),
            PortSpec::Top(n) => TOP_PORTS.iter().copied().take(*n).collect(),
            PortSpec::List(l) => l.iter().copied().filter(|p| *p != 0).collect(),
        };
        let mut seen = std::collections::HashSet::new();
        v.retain(|p| seen.insert(*p));
        v
    }
}

/// Commonly exposed TCP ports, most interesting to WannaCry-era risk first
/// (SMB, RDP, NetBIOS, then the usual services). Compiled by ward from
/// IANA assignments and common practice.
pub const TOP_PORTS: &[u16] = &[
    445, 3389, 139, 135, 80, 443, 22, 21, 23, 25, 53, 110, 111, 143, 993, 995, 587, 465, 8080,
    8443, 8000, 8888, 1433, 1521, 3306, 5432, 5900, 5985, 5986, 389, 636, 88, 464, 3268, 3269, 161,
    162, 514, 515, 631, 9100, 2049, 1723, 1194, 500, 4500, 5060, 5061, 6379, 11211, 27017, 9200,
    9300, 5601, 2375, 2376, 6443, 10250, 8081, 8008, 8009, 8181, 9000, 9090, 9443, 7001, 7002,
    4848, 8161, 61616, 1883, 8883, 5672, 15672, 4369, 25672, 4222, 2181, 9092, 6000, 5800, 5901,
    5902, 3128, 1080, 8118, 113, 119, 179, 199, 427, 548, 554, 873, 902, 990, 1025, 1026, 1027,
    1028, 1029, 1110, 1720, 1755, 1900, 2000, 2001, 2121, 2717, 3000, 3001, 3052, 3283, 3690, 4899,
    5000, 5001, 5009, 5051, 5190, 5357, 5631, 5666, 6001, 6646, 7070, 7443, 8010, 8031, 8082, 8083,
    8084, 8085, 8086, 8087, 8088, 8089, 8090, 8091, 8444, 9001, 9080, 9091, 9418, 9999, 10000,
    10001, 32768, 49152, 49153, 49154, 49155, 49156, 49157, 2222, 2323, 4443, 5555, 6667, 7547,
    8291, 8728, 37777, 50000, 50070, 47001, 593, 3260, 1434, 2103, 2105, 2107,
];

/// Verdict for one port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PortState {
    /// The handshake completed.
    Open,
    /// Actively refused (RST).
    Closed,
    /// No answer after all retries, or an ICMP unreachable.
    Filtered,
}

impl PortState {
    /// nmap's word for the state.
    pub fn as_str(self) -> &'static str {
        match self {
            PortState::Open => "open",
            PortState::Closed => "closed",
            PortState::Filtered => "filtered",
        }
    }

    /// nmap's `reason` attribute for a connect scan.
    pub fn nmap_reason(self) -> &'static str {
        match self {
            PortState::Open => "syn-ack",
            PortState::Closed => "conn-refused",
            PortState::Filtered => "no-response",
        }
    }
}

/// Result for one port worth reporting (open or filtered).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortResult {
    /// Address probed.
    pub address: IpAddr,
    /// Port.
    pub port: u16,
    /// Verdict.
    pub state: PortState,
    /// Round-trip time of the deciding probe, microseconds.
    pub rtt_us: Option<u64>,
    /// Attempts made.
    pub attempts: u32,
    /// What the service said first, as printable text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub banner: Option<String>,
    /// The same banner, hex-encoded raw bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub banner_hex: Option<String>,
}

/// The outcome of scanning one address.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortScanResult {
    /// Open ports, ascending.
    pub open: Vec<PortResult>,
    /// Filtered ports, ascending.
    pub filtered: Vec<PortResult>,
    /// How many ports were closed.
    pub closed: usize,
    /// The closed ports themselves, listed only when there are at most
    /// [`CLOSED_LIST_MAX`] (as nmap lists them rather than "Not shown").
    #[serde(default)]
    pub closed_ports: Vec<u16>,
    /// Ports probed.
    pub probed: usize,
    /// Scan duration in microseconds.
    pub elapsed_us: u64,
}

impl PortScanResult {
    /// Open port numbers.
    pub fn open_ports(&self) -> Vec<u16> {
        self.open.iter().map(|p| p.port).collect()
    }
}

/// nmap collapses a non-open state into "Not shown" above this many ports.
pub const CLOSED_LIST_MAX: usize = 25;

/// Port-scan tuning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PortScanConfig {
    /// Connection attempts in flight at once.
    pub concurrency: usize,
    /// Timeout before any RTT has been measured.
    pub initial_timeout: Duration,
    /// Lower bound of the adaptive timeout.
    pub min_timeout: Duration,
    /// Upper bound of the adaptive timeout.
    pub max_timeout: Duration,
    /// Retransmissions of an unanswered probe before "filtered".
    pub retries: u32,
    /// How long to wait for a service that speaks first; `None` disables
    /// banner grabbing.
    pub banner_timeout: Option<Duration>,
}

impl Default for PortScanConfig {
    fn default() -> Self {
        PortScanConfig {
            concurrency: 512,
            initial_timeout: Duration::from_millis(1000),
            min_timeout: Duration::from_millis(100),
            max_timeout: Duration::from_millis(3000),
            retries: 2,
            banner_timeout: Some(Duration::from_millis(1500)),
        }
    }
}

/// Jacobson/Karels RTT estimator shared by the workers. Racy updates are
/// acceptable: it is an estimate, and atomics keep it lock-free.
#[derive(Debug)]
struct RttEstimator {
    srtt_us: AtomicU64,
    rttvar_us: AtomicU64,
    samples: AtomicU64,
    cfg_min: u64,
    cfg_max: u64,
    initial: u64,
}

impl RttEstimator {
    fn new(cfg: &PortScanConfig) -> Self {
        RttEstimator {
            srtt_us: AtomicU64::new(0),
            rttvar_us: AtomicU64::new(0),
            samples: AtomicU64::new(0),
            cfg_min: cfg.min_timeout.as_micros() as u64,
            cfg_max: cfg.max_timeout.as_micros().max(cfg.min_timeout.as_micros()) as u64,
            initial: cfg.initial_timeout.as_micros() as u64,
        }
    }

    fn sample(&self, rtt_us: u64) {
        if self.samples.fetch_add(1, Ordering::Relaxed) == 0 {
            self.srtt_us.store(rtt_us, Ordering::Relaxed);
            self.rttvar_us.store(rtt_us / 2, Ordering::Relaxed);
            return;
        }
        let srtt = self.srtt_us.load(Ordering::Relaxed);
        let var = self.rttvar_us.load(Ordering::Relaxed);
        let diff = srtt.abs_diff(rtt_us);
        self.rttvar_us
            .store((3 * var + diff) / 4, Ordering::Relaxed);
        self.srtt_us
            .store((7 * srtt + rtt_us) / 8, Ordering::Relaxed);
    }

    fn timeout(&self) -> Duration {
        let t = if self.samples.load(Ordering::Relaxed) == 0 {
            self.initial
        } else {
            self.srtt_us.load(Ordering::Relaxed) + 4 * self.rttvar_us.load(Ordering::Relaxed)
        };
        Duration::from_micros(t.clamp(self.cfg_min, self.cfg_max))
    }
}

enum Verdict {
    Decided(PortState, Option<u64>, u32),
}

async fn probe(
    conn: &Connector,
    addr: SocketAddr,
    est: &RttEstimator,
    cfg: &PortScanConfig,
    cache: &mut SocketCache,
) -> Result<Verdict, ProbeError> {
    let mut attempts = 0u32;
    let mut pressure = 0u32;
    let mut backoff = 1u32;
    loop {
        attempts += 1;
        let timeout = est.timeout() * backoff;
        let t0 = Instant::now();
        match conn.probe_connect(addr, timeout, cache).await? {
            ConnectVerdict::Open => {
                let rtt = t0.elapsed().as_micros() as u64;
                est.sample(rtt);
                return Ok(Verdict::Decided(PortState::Open, Some(rtt), attempts));
            }
            ConnectVerdict::Refused => {
                let rtt = t0.elapsed().as_micros() as u64;
                est.sample(rtt);
                return Ok(Verdict::Decided(PortState::Closed, Some(rtt), attempts));
            }
            ConnectVerdict::LocalPressure(_) if pressure < 100 => {
                // Our side ran out of something: the port deserves another
                // try, not a verdict.
                pressure += 1;
                attempts -= 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            ConnectVerdict::LocalPressure(_) | ConnectVerdict::Unreachable(_) => {
                return Ok(Verdict::Decided(PortState::Filtered, None, attempts));
            }
            ConnectVerdict::Timeout => {
                if attempts > cfg.retries {
                    return Ok(Verdict::Decided(PortState::Filtered, None, attempts));
                }
                backoff = (backoff * 2).min(8);
            }
        }
    }
}

/// Scans `ports` on `ip`. `done` is incremented once per port decided, for
/// progress reporting. Returns early with the error when the scan is
/// cancelled or the window ends.
pub async fn scan_ports(
    conn: &Connector,
    ip: IpAddr,
    ports: &[u16],
    cfg: &PortScanConfig,
    done: Arc<AtomicU64>,
) -> Result<PortScanResult, ProbeError> {
    let start = Instant::now();
    conn.permit(ip)?;
    let ports: Arc<[u16]> = ports.into();
    let cursor = Arc::new(AtomicUsize::new(0));
    let est = Arc::new(RttEstimator::new(cfg));
    let workers = cfg.concurrency.clamp(1, ports.len().max(1));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..workers {
        let (conn, ports, cursor, est, cfg, done) = (
            conn.clone(),
            ports.clone(),
            cursor.clone(),
            est.clone(),
            cfg.clone(),
            done.clone(),
        );
        set.spawn(async move {
            let mut found: Vec<PortResult> = Vec::new();
            let mut closed = 0usize;
            let mut closed_ports = Vec::new();
            let mut cache = SocketCache::default();
            let mut n = 0u32;
            loop {
                n = n.wrapping_add(1);
                if n % 32 == 0 {
                    // Loopback probes settle without awaiting; yield now and
                    // then so one worker never holds a runtime thread long.
                    tokio::task::yield_now().await;
                }
                let i = cursor.fetch_add(1, Ordering::Relaxed);
                let Some(&port) = ports.get(i) else { break };
                let Verdict::Decided(state, rtt_us, attempts) =
                    probe(&conn, SocketAddr::new(ip, port), &est, &cfg, &mut cache).await?;
                done.fetch_add(1, Ordering::Relaxed);
                if state == PortState::Closed {
                    closed += 1;
                    if closed_ports.len() <= CLOSED_LIST_MAX {
                        closed_ports.push(port);
                    }
                } else {
                    found.push(PortResult {
                        address: ip,
                        port,
                        state,
                        rtt_us,
                        attempts,
                        banner: None,
                        banner_hex: None,
                    });
                }
            }
            Ok::<_, ProbeError>((found, closed, closed_ports))
        });
    }
    let mut result = PortScanResult {
        probed: ports.len(),
        ..PortScanResult::default()
    };
    let mut first_err = None;
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok(Ok((found, closed, closed_ports))) => {
                result.closed += closed;
                result.closed_ports.extend(closed_ports);
                for f in found {
                    match f.state {
                        PortState::Open => result.open.push(f),
                        _ => result.filtered.push(f),
                    }
                }
            }
            Ok(Err(e)) => {
                if first_err.is_none() {
                    first_err = Some(e);
                    set.abort_all();
                }
            }
            Err(_) => {} // aborted after an error
        }
    }
    if let Some(e) = first_err {
        return Err(e);
    }
    result.open.sort_by_key(|p| p.port);
    result.filtered.sort_by_key(|p| p.port);
    if result.closed > CLOSED_LIST_MAX {
        result.closed_ports.clear();
    }
    result.closed_ports.sort_unstable();
    if let Some(bt) = cfg.banner_timeout {
        grab_banners(conn, &mut result.open, bt).await?;
    }
    result.elapsed_us = start.elapsed().as_micros() as u64;
    Ok(result)
}

/// Reads what each open service says first, concurrently.
async fn grab_banners(
    conn: &Connector,
    open: &mut [PortResult],
    wait: Duration,
) -> Result<(), ProbeError> {
    let mut set = tokio::task::JoinSet::new();
    for (i, p) in open.iter().enumerate() {
        let conn = conn.clone();
        let addr = SocketAddr::new(p.address, p.port);
        set.spawn(async move { (i, read_banner(&conn, addr, wait).await) });
    }
    while let Some(j) = set.join_next().await {
        let Ok((i, r)) = j else { continue };
        match r {
            Ok(Some(bytes)) => {
                open[i].banner = Some(banner_text(&bytes));
                open[i].banner_hex = Some(crate::finding::hex(&bytes));
            }
            Ok(None) => {}
            Err(ProbeError::Cancelled) => return Err(ProbeError::Cancelled),
            Err(ProbeError::WindowEnded { end }) => return Err(ProbeError::WindowEnded { end }),
            Err(_) => {}
        }
    }
    Ok(())
}

/// Connects and returns the first bytes the service sends unprompted, or
/// `None` when it stays silent for `wait`.
pub async fn read_banner(
    conn: &Connector,
    addr: SocketAddr,
    wait: Duration,
) -> Result<Option<Vec<u8>>, ProbeError> {
    let mut s = conn.connect(addr).await?;
    let mut buf = vec![0u8; 1024];
    match conn.recv_some(&mut s, addr, &mut buf, wait, "banner").await {
        Ok(0) => Ok(None),
        Ok(n) => {
            buf.truncate(n);
            Ok(Some(buf))
        }
        Err(ProbeError::Timeout { .. }) | Err(ProbeError::Io { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_specs() {
        assert_eq!(PortSpec::Full.ports().len(), 65535);
        assert_eq!(PortSpec::Top(2).ports(), vec![445, 3389]);
        assert_eq!(PortSpec::List(vec![0, 5, 5, 7]).ports(), vec![5, 7]);
        let mut sorted = TOP_PORTS.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), TOP_PORTS.len(), "TOP_PORTS has duplicates");
    }

    #[test]
    fn rtt_estimator_adapts_and_clamps() {
        let cfg = PortScanConfig::default();
        let e = RttEstimator::new(&cfg);
        assert_eq!(e.timeout(), cfg.initial_timeout);
        for _ in 0..20 {
            e.sample(50);
        }
        assert_eq!(e.timeout(), cfg.min_timeout);
        for _ in 0..50 {
            e.sample(2_000_000);
        }
        assert!(e.timeout() > Duration::from_millis(2000));
        assert!(e.timeout() <= cfg.max_timeout);
    }
}
