//! Counters for everything the listeners receive, accept and refuse. Every
//! drop has a reason; nothing is dropped silently.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// Why a message or connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Larger than the maximum message size.
    TooLarge,
    /// RFC 6587 framing error (bad octet count, truncated frame).
    BadFrame,
    /// Over the member's rate limit.
    RateLimited,
    /// Source not registered to any member (no certificate, unknown network).
    UnknownMember,
    /// The sink stayed full beyond the backpressure wait.
    Backpressure,
    /// The listener is shutting down with messages in hand.
    Shutdown,
}

impl DropReason {
    /// Every reason, for rendering.
    pub const ALL: [DropReason; 6] = [
        DropReason::TooLarge,
        DropReason::BadFrame,
        DropReason::RateLimited,
        DropReason::UnknownMember,
        DropReason::Backpressure,
        DropReason::Shutdown,
    ];

    /// Label value.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::TooLarge => "too_large",
            DropReason::BadFrame => "bad_frame",
            DropReason::RateLimited => "rate_limited",
            DropReason::UnknownMember => "unknown_member",
            DropReason::Backpressure => "backpressure",
            DropReason::Shutdown => "shutdown",
        }
    }
}

/// Why a connection was refused or closed early.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnRefusal {
    /// TLS handshake failed (untrusted or missing certificate, protocol error).
    TlsHandshake,
    /// A valid certificate that no member is registered for.
    UnknownCertificate,
    /// No certificate and the source network is not registered.
    UnknownNetwork,
    /// Read error on the socket.
    ReadError,
    /// Over the listener's connection limit.
    TooManyConnections,
    /// Closed after sending nothing for the idle timeout.
    IdleTimeout,
}

impl ConnRefusal {
    /// Every reason, for rendering.
    pub const ALL: [ConnRefusal; 6] = [
        ConnRefusal::TlsHandshake,
        ConnRefusal::UnknownCertificate,
        ConnRefusal::UnknownNetwork,
        ConnRefusal::ReadError,
        ConnRefusal::TooManyConnections,
        ConnRefusal::IdleTimeout,
    ];

    /// Label value.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnRefusal::TlsHandshake => "tls_handshake",
            ConnRefusal::UnknownCertificate => "unknown_certificate",
            ConnRefusal::UnknownNetwork => "unknown_network",
            ConnRefusal::ReadError => "read_error",
            ConnRefusal::TooManyConnections => "too_many_connections",
            ConnRefusal::IdleTimeout => "idle_timeout",
        }
    }
}

/// Transport a message arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// UDP (RFC 5426).
    Udp,
    /// Plain TCP (RFC 6587).
    Tcp,
    /// TLS (RFC 5425).
    Tls,
}

impl Transport {
    /// Label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
        }
    }

    fn idx(self) -> usize {
        self as usize
    }
}

/// Listener counters, shared by every connection.
#[derive(Debug, Default)]
pub struct Metrics {
    received: [AtomicU64; 3],
    received_bytes: [AtomicU64; 3],
    accepted: AtomicU64,
    unparsed: AtomicU64,
    dropped: [AtomicU64; 6],
    connections: [AtomicU64; 3],
    refused: [AtomicU64; 6],
}

fn drop_idx(r: DropReason) -> usize {
    DropReason::ALL.iter().position(|x| *x == r).unwrap_or(0)
}

fn refusal_idx(r: ConnRefusal) -> usize {
    ConnRefusal::ALL.iter().position(|x| *x == r).unwrap_or(0)
}

impl Metrics {
    pub(crate) fn received(&self, t: Transport, n: u64, bytes: u64) {
        self.received[t.idx()].fetch_add(n, Ordering::Relaxed);
        self.received_bytes[t.idx()].fetch_add(bytes, Ordering::Relaxed);
    }
    pub(crate) fn accepted(&self, n: u64, unparsed: u64) {
        self.accepted.fetch_add(n, Ordering::Relaxed);
        self.unparsed.fetch_add(unparsed, Ordering::Relaxed);
    }
    pub(crate) fn dropped(&self, r: DropReason, n: u64) {
        self.dropped[drop_idx(r)].fetch_add(n, Ordering::Relaxed);
    }
    pub(crate) fn connection(&self, t: Transport) {
        self.connections[t.idx()].fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn refused(&self, r: ConnRefusal) {
        self.refused[refusal_idx(r)].fetch_add(1, Ordering::Relaxed);
    }

    /// Messages received on a transport (before any check).
    pub fn received_total(&self, t: Transport) -> u64 {
        self.received[t.idx()].load(Ordering::Relaxed)
    }
    /// Messages handed to the sink.
    pub fn accepted_total(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }
    /// Of those, stored raw because they did not parse.
    pub fn unparsed_total(&self) -> u64 {
        self.unparsed.load(Ordering::Relaxed)
    }
    /// Messages dropped for a reason.
    pub fn dropped_total(&self, r: DropReason) -> u64 {
        self.dropped[drop_idx(r)].load(Ordering::Relaxed)
    }
    /// Connections accepted on a transport.
    pub fn connections_total(&self, t: Transport) -> u64 {
        self.connections[t.idx()].load(Ordering::Relaxed)
    }
    /// Connections refused for a reason.
    pub fn refused_total(&self, r: ConnRefusal) -> u64 {
        self.refused[refusal_idx(r)].load(Ordering::Relaxed)
    }

    /// Prometheus text exposition of every counter.
    pub fn render_prometheus(&self) -> String {
        let mut s = String::with_capacity(2048);
        let ts = [Transport::Udp, Transport::Tcp, Transport::Tls];
        s.push_str("# HELP ward_syslog_messages_received_total Syslog messages received, before any check.\n# TYPE ward_syslog_messages_received_total counter\n");
        for t in ts {
            let _ = writeln!(
                s,
                "ward_syslog_messages_received_total{{transport=\"{}\"}} {}",
                t.as_str(),
                self.received_total(t)
            );
        }
        s.push_str("# HELP ward_syslog_received_bytes_total Syslog bytes received.\n# TYPE ward_syslog_received_bytes_total counter\n");
        for t in ts {
            let _ = writeln!(
                s,
                "ward_syslog_received_bytes_total{{transport=\"{}\"}} {}",
                t.as_str(),
                self.received_bytes[t.idx()].load(Ordering::Relaxed)
            );
        }
        s.push_str("# HELP ward_syslog_messages_accepted_total Messages handed to the pipeline.\n# TYPE ward_syslog_messages_accepted_total counter\n");
        let _ = writeln!(
            s,
            "ward_syslog_messages_accepted_total {}",
            self.accepted_total()
        );
        s.push_str("# HELP ward_syslog_messages_unparsed_total Accepted messages kept raw because they did not parse.\n# TYPE ward_syslog_messages_unparsed_total counter\n");
        let _ = writeln!(
            s,
            "ward_syslog_messages_unparsed_total {}",
            self.unparsed_total()
        );
        s.push_str("# HELP ward_syslog_messages_dropped_total Messages refused, by reason.\n# TYPE ward_syslog_messages_dropped_total counter\n");
        for r in DropReason::ALL {
            let _ = writeln!(
                s,
                "ward_syslog_messages_dropped_total{{reason=\"{}\"}} {}",
                r.as_str(),
                self.dropped_total(r)
            );
        }
        s.push_str("# HELP ward_syslog_connections_total Connections accepted.\n# TYPE ward_syslog_connections_total counter\n");
        for t in [Transport::Tcp, Transport::Tls] {
            let _ = writeln!(
                s,
                "ward_syslog_connections_total{{transport=\"{}\"}} {}",
                t.as_str(),
                self.connections_total(t)
            );
        }
        s.push_str("# HELP ward_syslog_connections_refused_total Connections refused or ended early, by reason.\n# TYPE ward_syslog_connections_refused_total counter\n");
        for r in ConnRefusal::ALL {
            let _ = writeln!(
                s,
                "ward_syslog_connections_refused_total{{reason=\"{}\"}} {}",
                r.as_str(),
                self.refused_total(r)
            );
        }
        s
    }
}
