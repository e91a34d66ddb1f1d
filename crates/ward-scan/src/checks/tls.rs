//! TLS checks: protocol versions by hand-crafted ClientHellos, weak cipher
//! suites by offering only weak ones, and the leaf certificate.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde::Serialize;
use tokio::net::TcpStream;

use crate::finding::hex;
use crate::net::{Connector, ProbeError};
use crate::proto::tls::{self, ServerFlight, TlsVersion};
use crate::proto::x509::{self, CertInfo};

const MAX_FLIGHT: usize = 256 * 1024;

/// Sends a ClientHello on an open stream and reads the server's first flight.
pub async fn hello_exchange(
    conn: &Connector,
    s: &mut TcpStream,
    addr: SocketAddr,
    hello: &[u8],
) -> Result<ServerFlight, ProbeError> {
    conn.send(s, addr, hello, "tls client hello").await?;
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    // The whole flight gets a deadline, so a server trickling bytes cannot
    // hold a probe for long.
    let deadline = tokio::time::Instant::now() + conn.io_timeout * 2;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let n = match conn
            .recv_some(s, addr, &mut chunk, left, "tls server flight")
            .await
        {
            Ok(n) => n,
            // A reset or silence after the hello is a refusal, not an error.
            Err(ProbeError::Io { .. }) | Err(ProbeError::Timeout { .. }) => 0,
            Err(e) => return Err(e),
        };
        if n == 0 {
            let f = tls::parse_server_flight(&buf).map_err(|source| ProbeError::Parse {
                address: addr,
                source,
            })?;
            return Ok(f);
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > MAX_FLIGHT {
            return Err(ProbeError::TooLarge {
                address: addr,
                len: buf.len(),
                max: MAX_FLIGHT,
            });
        }
        let f = tls::parse_server_flight(&buf).map_err(|source| ProbeError::Parse {
            address: addr,
            source,
        })?;
        if f.is_complete() {
            return Ok(f);
        }
    }
}

/// The outcome of one ClientHello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelloOutcome {
    /// The server answered with a ServerHello for exactly the offered version.
    pub accepted: bool,
    /// Version and cipher it chose, if it sent a ServerHello.
    pub server_hello: Option<tls::ServerHello>,
    /// Alert (level, description), if any.
    pub alert: Option<(u8, u8)>,
    /// Certificate chain (DER), if sent in clear.
    pub certificates: Option<Vec<Vec<u8>>>,
    /// The reply was not TLS.
    pub not_tls: bool,
}

/// Offers `version` with `suites` on a fresh connection.
pub async fn try_hello(
    conn: &Connector,
    addr: SocketAddr,
    sni: Option<&str>,
    version: TlsVersion,
    suites: &[u16],
) -> Result<HelloOutcome, ProbeError> {
    let mut s = match conn.connect(addr).await {
        Ok(s) => s,
        Err(e) => return Err(e),
    };
    let f = hello_exchange(conn, &mut s, addr, &tls::client_hello(version, suites, sni)).await?;
    let accepted = f
        .server_hello
        .as_ref()
        .is_some_and(|h| h.version == version.wire());
    Ok(HelloOutcome {
        accepted,
        server_hello: f.server_hello,
        alert: f.alert,
        certificates: f.certificates,
        not_tls: f.not_tls,
    })
}

/// A weak suite the server accepted, with the versions it accepted it under.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WeakCipher {
    /// IANA id.
    pub id: u16,
    /// OpenSSL name.
    pub name: String,
    /// Why it is weak.
    pub weakness: tls::Weakness,
    /// Versions under which the server chose it.
    pub versions: Vec<TlsVersion>,
}

/// Everything the TLS check learned about one port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TlsReport {
    /// The port did not answer in TLS at all.
    pub not_tls: bool,
    /// Versions accepted, oldest first.
    pub versions: Vec<TlsVersion>,
    /// Weak suites accepted.
    pub weak_ciphers: Vec<WeakCipher>,
    /// Leaf certificate, when one was obtained in clear.
    pub certificate: Option<CertInfo>,
    /// Leaf certificate, DER hex.
    pub certificate_hex: Option<String>,
    /// Why the certificate is missing or unparsable, if it is.
    pub certificate_note: Option<String>,
}

/// Probes every version, then weak suites under each accepted version ≤ 1.2,
/// and parses the leaf certificate from the highest accepted version ≤ 1.2.
pub async fn scan_tls(
    conn: &Connector,
    addr: SocketAddr,
    sni: Option<&str>,
) -> Result<TlsReport, ProbeError> {
    let mut rep = TlsReport {
        not_tls: false,
        versions: Vec::new(),
        weak_ciphers: Vec::new(),
        certificate: None,
        certificate_hex: None,
        certificate_note: None,
    };
    let all = tls::all_suite_ids();
    let mut chain: Option<Vec<Vec<u8>>> = None;
    let mut not_tls_count = 0;
    for v in TlsVersion::ALL {
        let o = try_hello(conn, addr, sni, v, &all).await?;
        if o.not_tls {
            not_tls_count += 1;
        }
        if o.accepted {
            rep.versions.push(v);
            if v <= TlsVersion::Tls12 && o.certificates.as_ref().is_some_and(|c| !c.is_empty()) {
                chain = o.certificates;
            }
        }
    }
    if rep.versions.is_empty() && not_tls_count > 0 {
        rep.not_tls = true;
        return Ok(rep);
    }
    let mut weak: BTreeMap<u16, Vec<TlsVersion>> = BTreeMap::new();
    for &v in rep.versions.iter().filter(|v| **v <= TlsVersion::Tls12) {
        let mut offer = tls::weak_suite_ids();
        // Take out each suite the server picks and ask again, so every
        // accepted weak suite is listed, not just the server's favourite.
        for _ in 0..tls::CIPHER_SUITES.len() {
            if offer.is_empty() {
                break;
            }
            let o = try_hello(conn, addr, sni, v, &offer).await?;
            let Some(h) = o.server_hello.filter(|_| o.accepted) else {
                break;
            };
            if !offer.contains(&h.cipher) {
                break; // server chose something we did not offer: stop asking
            }
            weak.entry(h.cipher).or_default().push(v);
            offer.retain(|c| *c != h.cipher);
        }
    }
    rep.weak_ciphers = weak
        .into_iter()
        .filter_map(|(id, versions)| {
            let c = tls::cipher_suite(id)?;
            Some(WeakCipher {
                id,
                name: c.name.to_string(),
                weakness: c.weakness?,
                versions,
            })
        })
        .collect();
    match chain.as_ref().and_then(|c| c.first()) {
        Some(der) => {
            rep.certificate_hex = Some(hex(der));
            match x509::parse_certificate(der) {
                Ok(c) => rep.certificate = Some(c),
                Err(e) => {
                    rep.certificate_note = Some(format!("leaf certificate did not parse: {e}"))
                }
            }
        }
        None if !rep.versions.is_empty() => {
            rep.certificate_note =
                Some("no certificate in clear (TLS 1.3 only, or anonymous suites)".into());
        }
        None => {}
    }
    Ok(rep)
}
