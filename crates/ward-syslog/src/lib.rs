//! Syslog listeners for ward: UDP (RFC 5426), TCP (RFC 6587, both framings
//! detected per message) and TLS (RFC 5425) with member identification by
//! client certificate (mTLS) or, for devices without certificates, by
//! registered source network.
//!
//! * [`SyslogSink`] receives parsed [`ward_event::Event`]s per organisation
//!   and may answer [`Backpressure`].
//! * [`OrgResolver`] maps a certificate or source address to an organisation;
//!   [`StaticResolver`] is a fixed registry.
//! * [`start`] binds the listeners in a [`ListenerConfig`] and returns a
//!   [`RunningListeners`] with the bound addresses, the shared [`Metrics`]
//!   (Prometheus text via [`Metrics::render_prometheus`]) and a shutdown.
//! * [`bench::bench_syslog`] measures RFC 5424 messages/s over TCP into a sink.
//!
//! Every message is accounted for: accepted into the sink, or dropped with a
//! [`DropReason`] (too large, bad frame, rate limited, unknown member,
//! backpressure). The organisation comes only from the connection — a
//! certificate of organisation A cannot send as B whatever the messages say.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use ward_syslog::{start, Backpressure, ListenerConfig, StaticResolver, SyslogSink};
//!
//! struct Collect(Mutex<Vec<(String, ward_event::Event)>>);
//! #[async_trait::async_trait]
//! impl SyslogSink for Collect {
//!     async fn submit(&self, org: &str, records: Vec<ward_event::Event>) -> Result<(), Backpressure> {
//!         let mut v = self.0.lock().unwrap();
//!         v.extend(records.into_iter().map(|e| (org.to_string(), e)));
//!         Ok(())
//!     }
//! }
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let sink = Arc::new(Collect(Mutex::new(Vec::new())));
//! let resolver = StaticResolver::new().with_network("127.0.0.0/8".parse().unwrap(), "Y12345");
//! let cfg = ListenerConfig { udp: Some("127.0.0.1:0".parse().unwrap()), ..ListenerConfig::default() };
//! let running = start(cfg, sink.clone(), Arc::new(resolver)).await.unwrap();
//! let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
//! sock.send_to(b"<13>1 2024-05-01T10:00:00Z fw01 app - - - hello", running.udp_addr.unwrap()).unwrap();
//! for _ in 0..200 {
//!     if !sink.0.lock().unwrap().is_empty() { break; }
//!     tokio::time::sleep(std::time::Duration::from_millis(10)).await;
//! }
//! let got = sink.0.lock().unwrap();
//! assert_eq!(got[0].0, "Y12345");
//! assert_eq!(got[0].1.org.as_deref(), Some("Y12345"));
//! # running.shutdown().await;
//! # });
//! ```

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use ward_event::Event;
use ward_formats::framing::{Decoder, FrameError, Framing};

pub mod bench;
mod limiter;
mod metrics;
mod resolver;
mod tls;

pub use bench::{bench_syslog, SyslogBenchReport};
pub use limiter::{Limiter, RateLimit};
pub use metrics::{ConnRefusal, DropReason, Metrics, Transport};
pub use resolver::{fingerprint, CertIdentity, Cidr, CidrError, OrgResolver, StaticResolver};
pub use tls::TlsListenerConfig;

/// The sink is full. It hands the records back so the listener can retry
/// without copying them, and finally drop them, counted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("WS0100: pipeline full ({} records refused)", records.len())]
pub struct Backpressure {
    /// The refused records, unchanged.
    pub records: Vec<Event>,
}

/// Where accepted records go (the durable log, in the server).
#[async_trait::async_trait]
pub trait SyslogSink: Send + Sync + 'static {
    /// Take a batch of parsed records for `org`. Return [`Backpressure`] to
    /// refuse the whole batch (handing the records back); the listener retries for up to
    /// [`ListenerConfig::backpressure_wait_ms`] (not reading from TCP
    /// meanwhile, so the sender is slowed) and then drops it, counted.
    async fn submit(&self, org: &str, records: Vec<Event>) -> Result<(), Backpressure>;
}

/// Listener configuration. Units are in the names.
#[derive(Debug, Clone)]
pub struct ListenerConfig {
    /// UDP address, if any.
    pub udp: Option<SocketAddr>,
    /// Plain TCP address, if any.
    pub tcp: Option<SocketAddr>,
    /// TLS listener, if any.
    pub tls: Option<TlsListenerConfig>,
    /// Largest message accepted, in bytes (RFC 5425 requires ≥ 2048).
    pub max_message_bytes: usize,
    /// Per-member rate limit.
    pub rate_limit: RateLimit,
    /// Most records per sink call.
    pub batch_max: usize,
    /// How long to keep retrying a sink that answers [`Backpressure`].
    pub backpressure_wait_ms: u64,
    /// Most simultaneous TCP + TLS connections; more are refused, counted.
    pub max_connections: usize,
    /// Close a TCP/TLS connection that sends nothing for this long.
    pub idle_timeout_secs: u64,
}

impl Default for ListenerConfig {
    fn default() -> ListenerConfig {
        ListenerConfig {
            udp: None,
            tcp: None,
            tls: None,
            max_message_bytes: 64 * 1024,
            rate_limit: RateLimit::default(),
            batch_max: 1024,
            backpressure_wait_ms: 5_000,
            max_connections: 10_000,
            idle_timeout_secs: 600,
        }
    }
}

/// Starting the listeners failed.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// Binding a socket failed.
    #[error("WS0002: cannot bind {transport} listener on {addr}: {source}")]
    Bind {
        /// Transport.
        transport: &'static str,
        /// Address.
        addr: SocketAddr,
        /// OS error.
        source: std::io::Error,
    },
    /// TLS material is unusable.
    #[error("WS0003: TLS configuration: {0}")]
    Tls(String),
}

/// Listeners that are running.
#[derive(Debug)]
pub struct RunningListeners {
    /// Bound UDP address.
    pub udp_addr: Option<SocketAddr>,
    /// Bound TCP address.
    pub tcp_addr: Option<SocketAddr>,
    /// Bound TLS address.
    pub tls_addr: Option<SocketAddr>,
    /// Shared counters.
    pub metrics: Arc<Metrics>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl RunningListeners {
    /// Stop accepting and wait for the accept loops to end.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// State shared by all listener tasks.
pub(crate) struct Shared {
    pub(crate) sink: Arc<dyn SyslogSink>,
    pub(crate) resolver: Arc<dyn OrgResolver>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) limiter: Limiter,
    pub(crate) cfg: ListenerConfig,
    pub(crate) connections: Arc<tokio::sync::Semaphore>,
}

/// Bind and run the configured listeners.
pub async fn start(
    cfg: ListenerConfig,
    sink: Arc<dyn SyslogSink>,
    resolver: Arc<dyn OrgResolver>,
) -> Result<RunningListeners, ListenError> {
    let metrics = Arc::new(Metrics::default());
    let (stop, stop_rx) = watch::channel(false);
    let shared = Arc::new(Shared {
        sink,
        resolver,
        metrics: metrics.clone(),
        limiter: Limiter::new(cfg.rate_limit),
        connections: Arc::new(tokio::sync::Semaphore::new(cfg.max_connections.max(1))),
        cfg: cfg.clone(),
    });
    let mut tasks = Vec::new();
    let mut out = RunningListeners {
        udp_addr: None,
        tcp_addr: None,
        tls_addr: None,
        metrics,
        stop,
        tasks: Vec::new(),
    };
    if let Some(addr) = cfg.udp {
        let sock = UdpSocket::bind(addr)
            .await
            .map_err(|source| ListenError::Bind {
                transport: "udp",
                addr,
                source,
            })?;
        out.udp_addr = sock.local_addr().ok();
        tasks.push(tokio::spawn(udp_loop(
            sock,
            shared.clone(),
            stop_rx.clone(),
        )));
    }
    if let Some(addr) = cfg.tcp {
        let l = TcpListener::bind(addr)
            .await
            .map_err(|source| ListenError::Bind {
                transport: "tcp",
                addr,
                source,
            })?;
        out.tcp_addr = l.local_addr().ok();
        tasks.push(tokio::spawn(tcp_accept_loop(
            l,
            shared.clone(),
            stop_rx.clone(),
        )));
    }
    if let Some(t) = &cfg.tls {
        let acceptor = tls::acceptor(t).map_err(ListenError::Tls)?;
        let l = TcpListener::bind(t.addr)
            .await
            .map_err(|source| ListenError::Bind {
                transport: "tls",
                addr: t.addr,
                source,
            })?;
        out.tls_addr = l.local_addr().ok();
        tasks.push(tokio::spawn(tls::accept_loop(
            l,
            acceptor,
            shared.clone(),
            stop_rx.clone(),
        )));
    }
    out.tasks = tasks;
    Ok(out)
}

/// Parse a batch off the runtime and hand it to the sink, honouring rate
/// limit and backpressure. Every message ends accepted or counted dropped.
pub(crate) async fn deliver(shared: &Shared, org: &str, frames: Vec<Vec<u8>>) {
    if frames.is_empty() {
        return;
    }
    let n = frames.len();
    let allowed = shared.limiter.take(org, n);
    if allowed < n {
        shared
            .metrics
            .dropped(DropReason::RateLimited, (n - allowed) as u64);
    }
    if allowed == 0 {
        return;
    }
    let mut frames = frames;
    frames.truncate(allowed);
    let org_owned = org.to_string();
    // Parsing is CPU work: keep it off the async workers.
    let parsed = tokio::task::spawn_blocking(move || {
        let opts = ward_formats::Options::default();
        frames
            .iter()
            .map(|f| {
                let mut ev = ward_formats::parse_bytes_or_raw(None, f, &opts);
                ev.org = Some(org_owned.clone());
                ev
            })
            .collect::<Vec<Event>>()
    })
    .await;
    let events = match parsed {
        Ok(e) => e,
        Err(_) => {
            // A parser panic is a bug; the batch is still accounted for.
            shared.metrics.dropped(DropReason::BadFrame, allowed as u64);
            return;
        }
    };
    let unparsed = events.iter().filter(|e| !e.is_parsed()).count() as u64;
    let count = events.len() as u64;
    let deadline =
        tokio::time::Instant::now() + Duration::from_millis(shared.cfg.backpressure_wait_ms);
    let mut pending = events;
    let mut wait = Duration::from_millis(5);
    loop {
        match shared.sink.submit(org, pending).await {
            Ok(()) => {
                shared.metrics.accepted(count, unparsed);
                return;
            }
            Err(Backpressure { records }) if tokio::time::Instant::now() < deadline => {
                pending = records;
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_millis(200));
            }
            Err(Backpressure { records }) => {
                drop(records);
                shared.metrics.dropped(DropReason::Backpressure, count);
                return;
            }
        }
    }
}

async fn udp_loop(sock: UdpSocket, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let max = shared.cfg.max_message_bytes;
    let mut buf = vec![0u8; max + 1];
    loop {
        // Collect what is queued, grouped by member, then deliver.
        let mut batch: Vec<(String, Vec<Vec<u8>>)> = Vec::new();
        let first = tokio::select! {
            r = sock.recv_from(&mut buf) => r,
            _ = stop.changed() => return,
        };
        let mut next = Some(first);
        while let Some(r) = next.take() {
            if let Ok((len, peer)) = r {
                handle_datagram(&shared, &buf[..len], peer.ip(), &mut batch);
            }
            if batch.iter().map(|b| b.1.len()).sum::<usize>() >= shared.cfg.batch_max {
                break;
            }
            next = match sock.try_recv_from(&mut buf) {
                Ok(x) => Some(Ok(x)),
                Err(_) => None,
            };
        }
        for (org, frames) in batch {
            deliver(&shared, &org, frames).await;
        }
    }
}

fn handle_datagram(
    shared: &Shared,
    data: &[u8],
    ip: IpAddr,
    batch: &mut Vec<(String, Vec<Vec<u8>>)>,
) {
    shared
        .metrics
        .received(Transport::Udp, 1, data.len() as u64);
    if data.len() > shared.cfg.max_message_bytes {
        shared.metrics.dropped(DropReason::TooLarge, 1);
        return;
    }
    let Some(org) = shared.resolver.org_for_addr(ip) else {
        shared.metrics.dropped(DropReason::UnknownMember, 1);
        return;
    };
    let mut end = data.len();
    while end > 0 && matches!(data[end - 1], b'\n' | b'\r' | 0) {
        end -= 1;
    }
    if end == 0 {
        return;
    }
    let msg = data[..end].to_vec();
    match batch.iter_mut().find(|(o, _)| *o == org) {
        Some((_, v)) => v.push(msg),
        None => batch.push((org, vec![msg])),
    }
}

async fn tcp_accept_loop(l: TcpListener, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    loop {
        let (stream, peer) = tokio::select! {
            r = l.accept() => match r {
                Ok(x) => x,
                Err(_) => {
                    // Out of file descriptors and the like: back off rather
                    // than spin; established connections carry on.
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let _ = stream.set_nodelay(true);
        shared.metrics.connection(Transport::Tcp);
        let Ok(permit) = shared.connections.clone().try_acquire_owned() else {
            shared.metrics.refused(ConnRefusal::TooManyConnections);
            continue;
        };
        let Some(org) = shared.resolver.org_for_addr(peer.ip()) else {
            shared.metrics.refused(ConnRefusal::UnknownNetwork);
            continue;
        };
        let shared = shared.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            read_stream(stream, org, Transport::Tcp, &shared, stop).await;
            drop(permit);
        });
    }
}

/// Read a byte stream, frame it and deliver batches until EOF.
pub(crate) async fn read_stream<S: AsyncRead + Unpin>(
    mut stream: S,
    org: String,
    transport: Transport,
    shared: &Shared,
    mut stop: watch::Receiver<bool>,
) {
    let mut dec = Decoder::new(Framing::Auto, shared.cfg.max_message_bytes);
    let mut buf = vec![0u8; 64 * 1024];
    let mut frames: Vec<Vec<u8>> = Vec::with_capacity(shared.cfg.batch_max);
    let idle = Duration::from_secs(shared.cfg.idle_timeout_secs.max(1));
    loop {
        let n = tokio::select! {
            r = tokio::time::timeout(idle, stream.read(&mut buf)) => match r {
                Ok(Ok(n)) => n,
                Ok(Err(_)) => {
                    shared.metrics.refused(ConnRefusal::ReadError);
                    0
                }
                Err(_) => {
                    shared.metrics.refused(ConnRefusal::IdleTimeout);
                    0
                }
            },
            _ = stop.changed() => 0,
        };
        let mut bytes = 0u64;
        let mut on_frame = |f: Result<&[u8], FrameError>| match f {
            Ok(m) => {
                bytes += m.len() as u64;
                frames.push(m.to_vec());
            }
            Err(FrameError::TooLarge { .. }) => {
                shared.metrics.received(transport, 1, 0);
                shared.metrics.dropped(DropReason::TooLarge, 1);
            }
            Err(FrameError::BadCount { .. }) => {
                shared.metrics.received(transport, 1, 0);
                shared.metrics.dropped(DropReason::BadFrame, 1);
            }
        };
        if n == 0 {
            dec.finish(&mut on_frame);
        } else {
            dec.feed(&buf[..n], &mut on_frame);
        }
        if !frames.is_empty() {
            shared
                .metrics
                .received(transport, frames.len() as u64, bytes);
            while frames.len() > shared.cfg.batch_max {
                let rest = frames.split_off(shared.cfg.batch_max);
                let batch = std::mem::replace(&mut frames, rest);
                deliver(shared, &org, batch).await;
            }
            let batch = std::mem::take(&mut frames);
            deliver(shared, &org, batch).await;
        }
        if n == 0 {
            return;
        }
    }
}
