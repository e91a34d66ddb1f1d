//! The only place the scanner opens connections.
//!
//! A [`Connector`] is made from an [`AuthorisedTarget`] and will connect
//! only to that target's checked addresses, only before its window ends,
//! only after taking rate tokens, and never once the scan is cancelled.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use crate::proto::ParseError;
use crate::rate::RateLimiter;
use crate::scope::{canonical, AuthorisedTarget};
use crate::time::Timestamp;

/// Why a probe did not complete.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The address is not one the target was authorised for.
    #[error("SCAN-N001 {address} is not an authorised address of this target")]
    NotAuthorised {
        /// The address refused.
        address: IpAddr,
    },
    /// The target's time window has ended.
    #[error("SCAN-N002 the authorised window ended at {end}")]
    WindowEnded {
        /// End of the window.
        end: Timestamp,
    },
    /// The scan was cancelled.
    #[error("SCAN-N003 cancelled")]
    Cancelled,
    /// Connecting failed.
    #[error("SCAN-N004 connect to {address} failed: {source}")]
    Connect {
        /// Where.
        address: SocketAddr,
        /// OS error.
        source: std::io::Error,
    },
    /// No answer in time.
    #[error("SCAN-N005 timed out during {stage} with {address}")]
    Timeout {
        /// Where.
        address: SocketAddr,
        /// Which step.
        stage: &'static str,
    },
    /// Reading or writing failed.
    #[error("SCAN-N006 i/o with {address} during {stage}: {source}")]
    Io {
        /// Where.
        address: SocketAddr,
        /// Which step.
        stage: &'static str,
        /// OS error.
        source: std::io::Error,
    },
    /// The peer closed the connection.
    #[error("SCAN-N007 {address} closed the connection during {stage}")]
    Closed {
        /// Where.
        address: SocketAddr,
        /// Which step.
        stage: &'static str,
    },
    /// The reply did not parse.
    #[error("SCAN-N008 reply from {address}: {source}")]
    Parse {
        /// Where.
        address: SocketAddr,
        /// Parser error.
        source: ParseError,
    },
    /// A reply frame was larger than we are willing to read.
    #[error("SCAN-N009 reply from {address} announces {len} bytes, more than {max}")]
    TooLarge {
        /// Where.
        address: SocketAddr,
        /// Announced length.
        len: usize,
        /// Limit.
        max: usize,
    },
}

impl ProbeError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            ProbeError::NotAuthorised { .. } => "SCAN-N001",
            ProbeError::WindowEnded { .. } => "SCAN-N002",
            ProbeError::Cancelled => "SCAN-N003",
            ProbeError::Connect { .. } => "SCAN-N004",
            ProbeError::Timeout { .. } => "SCAN-N005",
            ProbeError::Io { .. } => "SCAN-N006",
            ProbeError::Closed { .. } => "SCAN-N007",
            ProbeError::Parse { .. } => "SCAN-N008",
            ProbeError::TooLarge { .. } => "SCAN-N009",
        }
    }
}

/// Opens connections for one authorised target.
#[derive(Debug, Clone)]
pub struct Connector {
    addresses: Arc<[IpAddr]>,
    window_end: Timestamp,
    limits: Vec<Arc<RateLimiter>>,
    cancel: CancellationToken,
    /// Timeout for connecting.
    pub connect_timeout: Duration,
    /// Timeout for each read of a reply.
    pub io_timeout: Duration,
}

impl Connector {
    /// A connector for `target` with the given limiters (target, member,
    /// global) and cancellation token.
    pub fn new(
        target: &AuthorisedTarget,
        limits: Vec<Arc<RateLimiter>>,
        cancel: CancellationToken,
        timeout: Duration,
    ) -> Self {
        Connector {
            addresses: target.addresses().into(),
            window_end: target.window_end(),
            limits,
            cancel,
            connect_timeout: timeout,
            io_timeout: timeout,
        }
    }

    /// The cancellation token.
    pub fn cancel_token(&self) -> &CancellationToken {
        &self.cancel
    }

    /// Fails unless `ip` is authorised, the window is open and the scan is live.
    pub fn permit(&self, ip: IpAddr) -> Result<(), ProbeError> {
        if self.cancel.is_cancelled() {
            return Err(ProbeError::Cancelled);
        }
        let ip = canonical(ip);
        if !self.addresses.contains(&ip) {
            return Err(ProbeError::NotAuthorised { address: ip });
        }
        if Timestamp::now() >= self.window_end {
            return Err(ProbeError::WindowEnded {
                end: self.window_end,
            });
        }
        Ok(())
    }

    /// Takes a token from every limiter (cancellable).
    pub async fn pace(&self) -> Result<(), ProbeError> {
        for l in &self.limits {
            if l.is_unlimited() {
                continue;
            }
            tokio::select! {
                _ = self.cancel.cancelled() => return Err(ProbeError::Cancelled),
                _ = l.acquire() => {}
            }
        }
        Ok(())
    }

    /// Connects to `addr` within `timeout`, after checking and pacing.
    pub async fn connect_with(
        &self,
        addr: SocketAddr,
        timeout: Duration,
    ) -> Result<TcpStream, ProbeError> {
        self.permit(addr.ip())?;
        self.pace().await?;
        tokio::select! {
            _ = self.cancel.cancelled() => Err(ProbeError::Cancelled),
            r = tokio::time::timeout(timeout, TcpStream::connect(addr)) => match r {
                Err(_) => Err(ProbeError::Timeout { address: addr, stage: "connect" }),
                Ok(Err(source)) => Err(ProbeError::Connect { address: addr, source }),
                Ok(Ok(s)) => {
                    // Probes are small request/reply exchanges.
                    let _ = s.set_nodelay(true);
                    Ok(s)
                }
            }
        }
    }

    /// Connects with the default connect timeout.
    pub async fn connect(&self, addr: SocketAddr) -> Result<TcpStream, ProbeError> {
        self.connect_with(addr, self.connect_timeout).await
    }

    /// Writes all of `buf`.
    pub async fn send(
        &self,
        s: &mut TcpStream,
        addr: SocketAddr,
        buf: &[u8],
        stage: &'static str,
    ) -> Result<(), ProbeError> {
        tokio::select! {
            _ = self.cancel.cancelled() => Err(ProbeError::Cancelled),
            r = tokio::time::timeout(self.io_timeout, s.write_all(buf)) => match r {
                Err(_) => Err(ProbeError::Timeout { address: addr, stage }),
                Ok(Err(source)) => Err(ProbeError::Io { address: addr, stage, source }),
                Ok(Ok(())) => Ok(()),
            }
        }
    }

    /// Reads exactly `buf.len()` bytes.
    pub async fn recv_exact(
        &self,
        s: &mut TcpStream,
        addr: SocketAddr,
        buf: &mut [u8],
        stage: &'static str,
    ) -> Result<(), ProbeError> {
        tokio::select! {
            _ = self.cancel.cancelled() => Err(ProbeError::Cancelled),
            r = tokio::time::timeout(self.io_timeout, s.read_exact(buf)) => match r {
                Err(_) => Err(ProbeError::Timeout { address: addr, stage }),
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(ProbeError::Closed { address: addr, stage }),
                Ok(Err(source)) => Err(ProbeError::Io { address: addr, stage, source }),
                Ok(Ok(_)) => Ok(()),
            }
        }
    }

    /// Reads whatever arrives next (up to `buf.len()`), `Ok(0)` on EOF.
    pub async fn recv_some(
        &self,
        s: &mut TcpStream,
        addr: SocketAddr,
        buf: &mut [u8],
        timeout: Duration,
        stage: &'static str,
    ) -> Result<usize, ProbeError> {
        tokio::select! {
            _ = self.cancel.cancelled() => Err(ProbeError::Cancelled),
            r = tokio::time::timeout(timeout, s.read(buf)) => match r {
                Err(_) => Err(ProbeError::Timeout { address: addr, stage }),
                Ok(Err(source)) => Err(ProbeError::Io { address: addr, stage, source }),
                Ok(Ok(n)) => Ok(n),
            }
        }
    }
}

/// The outcome of a port-scan connection attempt.
#[derive(Debug)]
pub enum ConnectVerdict {
    /// The handshake completed.
    Open,
    /// Refused (RST), or the kernel connected the socket to itself, which
    /// only happens when nothing listens on the port.
    Refused,
    /// No answer within the timeout.
    Timeout,
    /// Our side ran out of a resource (descriptors, ephemeral ports).
    LocalPressure(std::io::Error),
    /// Anything else (host or network unreachable…): nmap calls it filtered.
    Unreachable(std::io::Error),
}

const EINPROGRESS: i32 = 115;

fn classify(e: std::io::Error) -> ConnectVerdict {
    if e.kind() == std::io::ErrorKind::ConnectionRefused {
        return ConnectVerdict::Refused;
    }
    // EMFILE, ENFILE, ENOBUFS, EADDRNOTAVAIL, EAGAIN, ENOMEM.
    if matches!(e.raw_os_error(), Some(24 | 23 | 105 | 99 | 11 | 12)) {
        return ConnectVerdict::LocalPressure(e);
    }
    ConnectVerdict::Unreachable(e)
}

enum Settled {
    /// Refused by the peer: the socket is closed again and can be reused.
    Refused,
    /// Connected to itself (nothing listens there).
    SelfConnect,
    /// Connected.
    Open,
    /// Failed otherwise.
    Failed(std::io::Error),
}

fn settled(sock: &socket2::Socket) -> Option<Settled> {
    match sock.take_error() {
        Ok(Some(e)) | Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            return Some(Settled::Refused)
        }
        Ok(Some(e)) | Err(e) => return Some(Settled::Failed(e)),
        Ok(None) => {}
    }
    let peer = sock.peer_addr().ok()?;
    let local = sock.local_addr().ok();
    // A connect to a loopback port in the ephemeral range can pick that very
    // port as its source and "succeed" by TCP simultaneous open with itself.
    if local.as_ref().and_then(|l| l.as_socket()) == peer.as_socket() {
        return Some(Settled::SelfConnect);
    }
    Some(Settled::Open)
}

const ECONNABORTED: i32 = 103;

/// Sockets kept by one port-scan worker between probes. A socket whose
/// connect was refused is closed again and may connect anew, which spares a
/// `socket` and a `close` per closed port — most ports of a full scan.
#[derive(Debug, Default)]
pub struct SocketCache {
    v4: Option<socket2::Socket>,
    v6: Option<socket2::Socket>,
}

impl SocketCache {
    fn slot(&mut self, addr: &SocketAddr) -> &mut Option<socket2::Socket> {
        if addr.is_ipv4() {
            &mut self.v4
        } else {
            &mut self.v6
        }
    }
}

fn new_socket(addr: &SocketAddr) -> std::io::Result<socket2::Socket> {
    use socket2::{Domain, Protocol, Socket, Type};
    #[cfg(target_os = "linux")]
    let ty = Type::STREAM.nonblocking();
    #[cfg(not(target_os = "linux"))]
    let ty = Type::STREAM;
    let sock = Socket::new(Domain::for_address(*addr), ty, Some(Protocol::TCP))?;
    #[cfg(not(target_os = "linux"))]
    sock.set_nonblocking(true)?;
    Ok(sock)
}

enum Attempt {
    Settled(Settled),
    Pending,
}

fn attempt(sock: &socket2::Socket, addr: &SocketAddr, reused: bool) -> Attempt {
    let sa = socket2::SockAddr::from(*addr);
    let mut r = sock.connect(&sa);
    // gVisor answers the first connect on a socket refused earlier with
    // ECONNABORTED and resets it; the next connect is a real one.
    if reused && matches!(&r, Err(e) if e.raw_os_error() == Some(ECONNABORTED)) {
        r = sock.connect(&sa);
    }
    match r {
        Ok(()) => Attempt::Settled(settled(sock).unwrap_or(Settled::Open)),
        Err(e)
            if e.raw_os_error() == Some(EINPROGRESS)
                || e.kind() == std::io::ErrorKind::WouldBlock =>
        {
            match settled(sock) {
                Some(s) => Attempt::Settled(s),
                None => Attempt::Pending,
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            Attempt::Settled(Settled::Refused)
        }
        Err(e) => Attempt::Settled(Settled::Failed(e)),
    }
}

impl Connector {
    /// One port-scan probe: connect and close. Loopback and LAN replies are
    /// usually already settled when `connect` returns, and are read without
    /// touching the reactor; only slower ones wait on it. This is what makes
    /// a full-range scan cheap.
    pub async fn probe_connect(
        &self,
        addr: SocketAddr,
        timeout: Duration,
        cache: &mut SocketCache,
    ) -> Result<ConnectVerdict, ProbeError> {
        self.permit(addr.ip())?;
        self.pace().await?;
        let sock = loop {
            let (sock, reused) = match cache.slot(&addr).take() {
                Some(s) => (s, true),
                None => match new_socket(&addr) {
                    Ok(s) => (s, false),
                    Err(e) => return Ok(classify(e)),
                },
            };
            match attempt(&sock, &addr, reused) {
                Attempt::Settled(Settled::Refused) => {
                    *cache.slot(&addr) = Some(sock);
                    return Ok(ConnectVerdict::Refused);
                }
                Attempt::Settled(Settled::SelfConnect) => return Ok(ConnectVerdict::Refused),
                Attempt::Settled(Settled::Open) => return Ok(ConnectVerdict::Open),
                // Anything odd from a reused socket is no verdict: drop it
                // and ask again with a fresh one.
                Attempt::Settled(Settled::Failed(_)) if reused => continue,
                Attempt::Settled(Settled::Failed(e)) => return Ok(classify(e)),
                Attempt::Pending => break sock,
            }
        };
        let std_stream: std::net::TcpStream = sock.into();
        let stream = match TcpStream::from_std(std_stream) {
            Ok(s) => s,
            Err(e) => return Ok(classify(e)),
        };
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            tokio::select! {
                _ = self.cancel.cancelled() => return Err(ProbeError::Cancelled),
                r = tokio::time::timeout_at(deadline, stream.writable()) => match r {
                    Err(_) => return Ok(ConnectVerdict::Timeout),
                    Ok(Err(e)) => return Ok(classify(e)),
                    Ok(Ok(())) => {
                        match stream.take_error() {
                            Ok(Some(e)) | Err(e) => return Ok(classify(e)),
                            Ok(None) => {}
                        }
                        if let (Ok(peer), Ok(local)) = (stream.peer_addr(), stream.local_addr()) {
                            return Ok(if peer == local { ConnectVerdict::Refused } else { ConnectVerdict::Open });
                        }
                        // Spurious readiness: keep waiting until the deadline.
                        tokio::task::yield_now().await;
                    }
                }
            }
        }
    }
}
