//! RDP: X.224 negotiation with PROTOCOL_RDP, SSL and HYBRID, and the TLS
//! certificate behind it.

use std::net::SocketAddr;

use serde::Serialize;
use tokio::net::TcpStream;

use crate::finding::hex;
use crate::net::{Connector, ProbeError};
use crate::proto::rdp::{self, NegResult};
use crate::proto::tls::{self, TlsVersion};
use crate::proto::x509::{self, CertInfo};

/// What the RDP check learned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RdpReport {
    /// Answer to a request for Standard RDP Security only.
    pub rdp_only: String,
    /// Answer to a request for TLS only.
    pub ssl_only: String,
    /// Answer to a request for CredSSP (HYBRID | SSL).
    pub hybrid: String,
    /// Standard RDP Security accepted.
    pub standard_rdp_accepted: bool,
    /// TLS without CredSSP accepted.
    pub ssl_accepted: bool,
    /// CredSSP supported.
    pub hybrid_supported: bool,
    /// NLA enforced: neither Standard RDP Security nor plain TLS is accepted.
    pub nla_enforced: bool,
    /// The server sent no negotiation data (pre-Vista RDP).
    pub legacy: bool,
    /// Leaf certificate of the TLS layer.
    pub certificate: Option<CertInfo>,
    /// Leaf certificate, DER hex.
    pub certificate_hex: Option<String>,
    /// Raw Connection Confirm of the RDP-only request, hex.
    pub confirm_hex: Option<String>,
}

fn describe(r: &NegResult) -> String {
    match r {
        NegResult::Selected { protocol, .. } => format!("selected protocol {protocol}"),
        NegResult::Failure { code } => format!("failure {code} {}", rdp::failure_name(*code)),
        NegResult::Legacy => "no negotiation data (legacy)".into(),
    }
}

async fn negotiate(
    conn: &Connector,
    addr: SocketAddr,
    requested: u32,
) -> Result<(NegResult, Vec<u8>, TcpStream), ProbeError> {
    let mut s = conn.connect(addr).await?;
    conn.send(
        &mut s,
        addr,
        &rdp::x224_connection_request(requested),
        "x224 connection request",
    )
    .await?;
    let mut h = [0u8; 4];
    conn.recv_exact(&mut s, addr, &mut h, "x224 connection confirm")
        .await?;
    let Some(len) = rdp::tpkt_length(&h) else {
        return Err(ProbeError::Parse {
            address: addr,
            source: crate::proto::ParseError {
                protocol: "x224",
                offset: 0,
                what: "a TPKT header",
            },
        });
    };
    let mut p = h.to_vec();
    p.resize(len, 0);
    conn.recv_exact(&mut s, addr, &mut p[4..], "x224 connection confirm")
        .await?;
    let r = rdp::parse_connection_confirm(&p).map_err(|source| ProbeError::Parse {
        address: addr,
        source,
    })?;
    Ok((r, p, s))
}

/// Runs the three negotiations and, when TLS is offered, reads the certificate.
pub async fn check_rdp(conn: &Connector, addr: SocketAddr) -> Result<RdpReport, ProbeError> {
    let (rdp_only, confirm, _) = negotiate(conn, addr, rdp::PROTOCOL_RDP).await?;
    let (ssl_only, _, ssl_stream) = negotiate(conn, addr, rdp::PROTOCOL_SSL).await?;
    let (hybrid, _, _) = negotiate(conn, addr, rdp::PROTOCOL_SSL | rdp::PROTOCOL_HYBRID).await?;
    let standard_rdp_accepted = matches!(
        rdp_only,
        NegResult::Selected {
            protocol: rdp::PROTOCOL_RDP,
            ..
        } | NegResult::Legacy
    );
    let ssl_accepted = matches!(
        ssl_only,
        NegResult::Selected {
            protocol: rdp::PROTOCOL_SSL,
            ..
        }
    );
    let hybrid_supported = matches!(hybrid, NegResult::Selected { protocol, .. } if protocol & (rdp::PROTOCOL_HYBRID | rdp::PROTOCOL_HYBRID_EX) != 0);
    let mut rep = RdpReport {
        rdp_only: describe(&rdp_only),
        ssl_only: describe(&ssl_only),
        hybrid: describe(&hybrid),
        standard_rdp_accepted,
        ssl_accepted,
        hybrid_supported,
        nla_enforced: !standard_rdp_accepted && !ssl_accepted,
        legacy: rdp_only == NegResult::Legacy,
        certificate: None,
        certificate_hex: None,
        confirm_hex: Some(hex(&confirm)),
    };
    // The TLS layer starts right after a Connection Confirm that selected SSL.
    let tls_stream = if ssl_accepted {
        Some(ssl_stream)
    } else if hybrid_supported {
        Some(
            negotiate(conn, addr, rdp::PROTOCOL_SSL | rdp::PROTOCOL_HYBRID)
                .await?
                .2,
        )
    } else {
        None
    };
    if let Some(mut s) = tls_stream {
        let hello = tls::client_hello(TlsVersion::Tls12, &tls::all_suite_ids(), None);
        if let Ok(f) = super::tls::hello_exchange(conn, &mut s, addr, &hello).await {
            if let Some(der) = f.certificates.as_ref().and_then(|c| c.first()) {
                rep.certificate_hex = Some(hex(der));
                rep.certificate = x509::parse_certificate(der).ok();
            }
        }
    }
    Ok(rep)
}

/// Whether the service on `addr` answers an X.224 Connection Request with a
/// Connection Confirm: RDP on a port other than 3389.
pub async fn detect(conn: &Connector, addr: SocketAddr) -> Result<bool, ProbeError> {
    match negotiate(conn, addr, rdp::PROTOCOL_SSL | rdp::PROTOCOL_HYBRID).await {
        Ok(_) => Ok(true),
        Err(
            e @ (ProbeError::Cancelled
            | ProbeError::WindowEnded { .. }
            | ProbeError::NotAuthorised { .. }),
        ) => Err(e),
        Err(_) => Ok(false),
    }
}
