//! Who is sending: a client certificate or a registered source network maps
//! to a member organisation.

use std::collections::HashMap;
use std::net::IpAddr;
use std::str::FromStr;

use sha2::{Digest, Sha256};

/// What ward knows about a client certificate after a verified handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertIdentity {
    /// SHA-256 of the DER certificate, lower-case hex.
    pub sha256_fingerprint: String,
    /// Subject common name, if any.
    pub subject_cn: Option<String>,
    /// Full subject DN as text.
    pub subject: String,
}

impl CertIdentity {
    /// Identity of a DER certificate.
    pub fn from_der(der: &[u8]) -> CertIdentity {
        let sha256_fingerprint = fingerprint(der);
        let (subject_cn, subject) = match x509_parser::parse_x509_certificate(der) {
            Ok((_, cert)) => {
                let cn = cert
                    .subject()
                    .iter_common_name()
                    .next()
                    .and_then(|c| c.as_str().ok())
                    .map(str::to_string);
                (cn, cert.subject().to_string())
            }
            Err(_) => (None, String::new()),
        };
        CertIdentity {
            sha256_fingerprint,
            subject_cn,
            subject,
        }
    }
}

/// SHA-256 fingerprint, lower-case hex.
pub fn fingerprint(der: &[u8]) -> String {
    let d = Sha256::digest(der);
    let mut s = String::with_capacity(64);
    for b in d {
        s.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        s.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
    }
    s
}

/// Maps senders to member organisations. Implemented by the server over its
/// member registry; [`StaticResolver`] serves tests and small deployments.
pub trait OrgResolver: Send + Sync + 'static {
    /// The member a verified client certificate belongs to.
    fn org_for_cert(&self, cert: &CertIdentity) -> Option<String>;
    /// The member whose registered network contains `ip` (devices without
    /// certificates).
    fn org_for_addr(&self, ip: IpAddr) -> Option<String>;
}

/// An IP network in CIDR notation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    prefix: u8,
}

/// A CIDR string that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("WS0001: invalid network {0:?} (expected e.g. 10.0.0.0/8 or 2001:db8::/32)")]
pub struct CidrError(pub String);

impl FromStr for Cidr {
    type Err = CidrError;
    fn from_str(s: &str) -> Result<Cidr, CidrError> {
        let bad = || CidrError(s.to_string());
        let (a, p) = s.split_once('/').unwrap_or((s, ""));
        let net: IpAddr = a.trim().parse().map_err(|_| bad())?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = if p.is_empty() {
            max
        } else {
            p.trim().parse().map_err(|_| bad())?
        };
        if prefix > max {
            return Err(bad());
        }
        Ok(Cidr { net, prefix })
    }
}

impl Cidr {
    /// Whether `ip` is inside the network (IPv4-mapped IPv6 counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// A fixed registry: certificate fingerprints, certificate common names and
/// networks per organisation. The most specific network wins.
#[derive(Debug, Clone, Default)]
pub struct StaticResolver {
    by_fingerprint: HashMap<String, String>,
    by_cn: HashMap<String, String>,
    networks: Vec<(Cidr, String)>,
}

impl StaticResolver {
    /// Empty registry.
    pub fn new() -> StaticResolver {
        StaticResolver::default()
    }
    /// Register a certificate by SHA-256 fingerprint (hex, `:` allowed).
    pub fn with_fingerprint(mut self, fp: &str, org: &str) -> StaticResolver {
        let fp: String = fp
            .chars()
            .filter(|c| *c != ':')
            .collect::<String>()
            .to_ascii_lowercase();
        self.by_fingerprint.insert(fp, org.to_string());
        self
    }
    /// Register a certificate subject common name.
    pub fn with_common_name(mut self, cn: &str, org: &str) -> StaticResolver {
        self.by_cn.insert(cn.to_string(), org.to_string());
        self
    }
    /// Register a source network.
    pub fn with_network(mut self, net: Cidr, org: &str) -> StaticResolver {
        self.networks.push((net, org.to_string()));
        self.networks.sort_by_key(|n| std::cmp::Reverse(n.0.prefix));
        self
    }
}

impl OrgResolver for StaticResolver {
    fn org_for_cert(&self, cert: &CertIdentity) -> Option<String> {
        self.by_fingerprint
            .get(&cert.sha256_fingerprint)
            .or_else(|| cert.subject_cn.as_ref().and_then(|cn| self.by_cn.get(cn)))
            .cloned()
    }
    fn org_for_addr(&self, ip: IpAddr) -> Option<String> {
        self.networks
            .iter()
            .find(|(n, _)| n.contains(ip))
            .map(|(_, o)| o.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr() {
        let n: Cidr = "10.20.0.0/16".parse().unwrap();
        assert!(n.contains("10.20.3.4".parse().unwrap()));
        assert!(!n.contains("10.21.0.1".parse().unwrap()));
        assert!(n.contains("::ffff:10.20.0.1".parse().unwrap()));
        let n6: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(n6.contains("2001:db8:1::5".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
    }

    #[test]
    fn most_specific_network_wins() {
        let r = StaticResolver::new()
            .with_network("10.0.0.0/8".parse().unwrap(), "TRUST")
            .with_network("10.1.2.0/24".parse().unwrap(), "GP01");
        assert_eq!(
            r.org_for_addr("10.1.2.3".parse().unwrap()).as_deref(),
            Some("GP01")
        );
        assert_eq!(
            r.org_for_addr("10.9.9.9".parse().unwrap()).as_deref(),
            Some("TRUST")
        );
        assert_eq!(r.org_for_addr("192.0.2.1".parse().unwrap()), None);
    }
}
