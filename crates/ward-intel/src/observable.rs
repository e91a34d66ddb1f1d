//! Typed, normalised observables: the values indicators name and events carry.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

use crate::error::{IntelError, Result};

/// The kinds of value ward matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ObservableKind {
    Ipv4,
    Ipv6,
    Domain,
    Url,
    Md5,
    Sha1,
    Sha256,
    Email,
}

impl ObservableKind {
    pub const ALL: [ObservableKind; 8] = [
        ObservableKind::Ipv4,
        ObservableKind::Ipv6,
        ObservableKind::Domain,
        ObservableKind::Url,
        ObservableKind::Md5,
        ObservableKind::Sha1,
        ObservableKind::Sha256,
        ObservableKind::Email,
    ];

    /// A short name for plain-list exports and CLI flags (`ipv4`, `sha256`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            ObservableKind::Ipv4 => "ipv4",
            ObservableKind::Ipv6 => "ipv6",
            ObservableKind::Domain => "domain",
            ObservableKind::Url => "url",
            ObservableKind::Md5 => "md5",
            ObservableKind::Sha1 => "sha1",
            ObservableKind::Sha256 => "sha256",
            ObservableKind::Email => "email",
        }
    }

    /// MISP attribute type for this kind (destination address for IPs).
    pub fn misp_type(self) -> &'static str {
        match self {
            ObservableKind::Ipv4 | ObservableKind::Ipv6 => "ip-dst",
            ObservableKind::Domain => "domain",
            ObservableKind::Url => "url",
            ObservableKind::Md5 => "md5",
            ObservableKind::Sha1 => "sha1",
            ObservableKind::Sha256 => "sha256",
            ObservableKind::Email => "email-src",
        }
    }
}

/// A normalised observable value. IP entries are networks (`prefix` 32/128 for a
/// single address) so indicators can be CIDR ranges.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Observable {
    Ipv4 {
        addr: u32,
        prefix: u8,
    },
    Ipv6 {
        addr: u128,
        prefix: u8,
    },
    /// Lower case, no trailing dot.
    Domain(String),
    /// Scheme and host lower-cased, fragment dropped, empty path written as `/`.
    Url(String),
    Md5([u8; 16]),
    Sha1([u8; 20]),
    Sha256([u8; 32]),
    /// Lower case.
    Email(String),
}

fn bad(kind: &'static str, value: &str, message: impl Into<String>) -> IntelError {
    IntelError::Value {
        kind,
        value: value.chars().take(200).collect(),
        message: message.into(),
    }
}

fn hex<const N: usize>(kind: &'static str, s: &str) -> Result<[u8; N]> {
    let s = s.trim();
    if s.len() != N * 2 {
        return Err(bad(
            kind,
            s,
            format!("expected {} hex digits, got {}", N * 2, s.len()),
        ));
    }
    let mut out = [0u8; N];
    let b = s.as_bytes();
    for i in 0..N {
        let hi = (b[2 * i] as char).to_digit(16);
        let lo = (b[2 * i + 1] as char).to_digit(16);
        match (hi, lo) {
            (Some(h), Some(l)) => out[i] = (h * 16 + l) as u8,
            _ => {
                return Err(bad(
                    kind,
                    s,
                    format!("non-hex character near offset {}", 2 * i),
                ))
            }
        }
    }
    Ok(out)
}

fn to_hex(b: &[u8]) -> String {
    const D: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        s.push(D[(x >> 4) as usize] as char);
        s.push(D[(x & 15) as usize] as char);
    }
    s
}

fn mask4(addr: u32, prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        addr & (u32::MAX << (32 - prefix as u32))
    }
}

fn mask6(addr: u128, prefix: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        addr & (u128::MAX << (128 - prefix as u32))
    }
}

impl Observable {
    /// The kind.
    pub fn kind(&self) -> ObservableKind {
        match self {
            Observable::Ipv4 { .. } => ObservableKind::Ipv4,
            Observable::Ipv6 { .. } => ObservableKind::Ipv6,
            Observable::Domain(_) => ObservableKind::Domain,
            Observable::Url(_) => ObservableKind::Url,
            Observable::Md5(_) => ObservableKind::Md5,
            Observable::Sha1(_) => ObservableKind::Sha1,
            Observable::Sha256(_) => ObservableKind::Sha256,
            Observable::Email(_) => ObservableKind::Email,
        }
    }

    /// An IPv4 address or CIDR network (host bits are cleared).
    pub fn ipv4(s: &str) -> Result<Self> {
        let s = s.trim();
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => {
                let p: u8 = p
                    .parse()
                    .map_err(|_| bad("ipv4", s, "prefix is not a number"))?;
                if p > 32 {
                    return Err(bad("ipv4", s, "prefix longer than 32"));
                }
                (a, p)
            }
            None => (s, 32),
        };
        let ip: Ipv4Addr = a
            .parse()
            .map_err(|_| bad("ipv4", s, "not an IPv4 address"))?;
        Ok(Observable::Ipv4 {
            addr: mask4(u32::from(ip), p),
            prefix: p,
        })
    }

    /// An IPv6 address or CIDR network.
    pub fn ipv6(s: &str) -> Result<Self> {
        let s = s.trim();
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => {
                let p: u8 = p
                    .parse()
                    .map_err(|_| bad("ipv6", s, "prefix is not a number"))?;
                if p > 128 {
                    return Err(bad("ipv6", s, "prefix longer than 128"));
                }
                (a, p)
            }
            None => (s, 128),
        };
        let ip: Ipv6Addr = a
            .parse()
            .map_err(|_| bad("ipv6", s, "not an IPv6 address"))?;
        // An IPv4-mapped address is the IPv4 address: match it against IPv4 indicators.
        if let Some(v4) = ip.to_ipv4_mapped() {
            if p >= 96 {
                return Ok(Observable::Ipv4 {
                    addr: mask4(u32::from(v4), p - 96),
                    prefix: p - 96,
                });
            }
        }
        Ok(Observable::Ipv6 {
            addr: mask6(u128::from(ip), p),
            prefix: p,
        })
    }

    /// An IP (v4 or v6), with optional prefix.
    pub fn ip(s: &str) -> Result<Self> {
        if s.contains(':') {
            Observable::ipv6(s)
        } else {
            Observable::ipv4(s)
        }
    }

    /// A domain name.
    pub fn domain(s: &str) -> Result<Self> {
        let d = s.trim().trim_end_matches('.').to_ascii_lowercase();
        if d.is_empty() || d.len() > 253 {
            return Err(bad("domain", s, "empty or longer than 253 characters"));
        }
        for label in d.split('.') {
            if label.is_empty() || label.len() > 63 {
                return Err(bad("domain", s, "empty label or label longer than 63"));
            }
            if !label
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'*')
            {
                return Err(bad(
                    "domain",
                    s,
                    "characters outside [a-z0-9-_] (use punycode)",
                ));
            }
        }
        Ok(Observable::Domain(d))
    }

    /// A URL (must have a scheme and a host).
    pub fn url(s: &str) -> Result<Self> {
        let t = s.trim();
        // Whitespace and control characters never appear in a URL on the wire; taking
        // them would make the normalised value differ from what it normalises to.
        if t.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("url", s, "contains whitespace or control characters"));
        }
        let Some((scheme, rest)) = t.split_once("://") else {
            return Err(bad("url", s, "no scheme://"));
        };
        if scheme.is_empty()
            || !scheme
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || b"+-.".contains(&c))
        {
            return Err(bad("url", s, "bad scheme"));
        }
        let rest = rest.split('#').next().unwrap_or("");
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (host, path) = rest.split_at(split);
        if host.is_empty() {
            return Err(bad("url", s, "empty host"));
        }
        let host = host.to_ascii_lowercase();
        let path = if path.is_empty() {
            "/".to_string()
        } else if path.starts_with('?') {
            format!("/{path}")
        } else {
            path.to_string()
        };
        Ok(Observable::Url(format!(
            "{}://{host}{path}",
            scheme.to_ascii_lowercase()
        )))
    }

    /// An e-mail address.
    pub fn email(s: &str) -> Result<Self> {
        let e = s.trim().to_ascii_lowercase();
        if e.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("email", s, "contains whitespace or control characters"));
        }
        match e.split_once('@') {
            Some((l, d)) if !l.is_empty() && !d.is_empty() && !d.contains('@') => {
                Observable::domain(d).map_err(|_| bad("email", s, "bad domain part"))?;
                Ok(Observable::Email(e))
            }
            _ => Err(bad("email", s, "not local@domain")),
        }
    }

    /// An MD5, SHA-1 or SHA-256 hash, told apart by length.
    pub fn hash(s: &str) -> Result<Self> {
        let t = s.trim();
        match t.len() {
            32 => Ok(Observable::Md5(hex("md5", t)?)),
            40 => Ok(Observable::Sha1(hex("sha1", t)?)),
            64 => Ok(Observable::Sha256(hex("sha256", t)?)),
            _ => Err(bad("hash", s, "not 32, 40 or 64 hex digits")),
        }
    }

    /// Parses a value of a given kind.
    pub fn parse(kind: ObservableKind, s: &str) -> Result<Self> {
        match kind {
            ObservableKind::Ipv4 => Observable::ipv4(s),
            ObservableKind::Ipv6 => Observable::ipv6(s),
            ObservableKind::Domain => Observable::domain(s),
            ObservableKind::Url => Observable::url(s),
            ObservableKind::Md5 => Ok(Observable::Md5(hex("md5", s)?)),
            ObservableKind::Sha1 => Ok(Observable::Sha1(hex("sha1", s)?)),
            ObservableKind::Sha256 => Ok(Observable::Sha256(hex("sha256", s)?)),
            ObservableKind::Email => Observable::email(s),
        }
    }

    /// Guesses the kind of a bare value (plain lists, freetext tokens).
    pub fn guess(s: &str) -> Option<Self> {
        let t = s.trim();
        if t.is_empty() {
            return None;
        }
        if t.contains("://") {
            return Observable::url(t).ok();
        }
        if t.contains('@') {
            return Observable::email(t).ok();
        }
        if t.bytes().all(|c| c.is_ascii_hexdigit()) && matches!(t.len(), 32 | 40 | 64) {
            return Observable::hash(t).ok();
        }
        if let Ok(ip) = Observable::ip(t) {
            return Some(ip);
        }
        if t.contains('.') && t.bytes().any(|c| c.is_ascii_alphabetic()) {
            return Observable::domain(t).ok();
        }
        None
    }

    /// The value as text (CIDR notation for networks wider than one address).
    pub fn value(&self) -> String {
        match self {
            Observable::Ipv4 { addr, prefix } => {
                let ip = Ipv4Addr::from(*addr);
                if *prefix == 32 {
                    ip.to_string()
                } else {
                    format!("{ip}/{prefix}")
                }
            }
            Observable::Ipv6 { addr, prefix } => {
                let ip = Ipv6Addr::from(*addr);
                if *prefix == 128 {
                    ip.to_string()
                } else {
                    format!("{ip}/{prefix}")
                }
            }
            Observable::Domain(s) | Observable::Url(s) | Observable::Email(s) => s.clone(),
            Observable::Md5(h) => to_hex(h),
            Observable::Sha1(h) => to_hex(h),
            Observable::Sha256(h) => to_hex(h),
        }
    }

    /// The STIX object path this value sits at.
    pub fn stix_path(&self) -> &'static str {
        match self {
            Observable::Ipv4 { .. } => "ipv4-addr:value",
            Observable::Ipv6 { .. } => "ipv6-addr:value",
            Observable::Domain(_) => "domain-name:value",
            Observable::Url(_) => "url:value",
            Observable::Md5(_) => "file:hashes.MD5",
            Observable::Sha1(_) => "file:hashes.'SHA-1'",
            Observable::Sha256(_) => "file:hashes.'SHA-256'",
            Observable::Email(_) => "email-addr:value",
        }
    }

    /// A one-comparison STIX pattern for this value.
    pub fn to_stix_pattern(&self) -> String {
        let v = self.value().replace('\\', "\\\\").replace('\'', "\\'");
        format!("[{} = '{}']", self.stix_path(), v)
    }

    /// The STIX cyber-observable object (with its deterministic id) for this value.
    pub fn to_sco(&self) -> serde_json::Value {
        use serde_json::json;
        let (ty, contributing) = match self {
            Observable::Ipv4 { .. } => ("ipv4-addr", json!({"value": self.value()})),
            Observable::Ipv6 { .. } => ("ipv6-addr", json!({"value": self.value()})),
            Observable::Domain(_) => ("domain-name", json!({"value": self.value()})),
            Observable::Url(_) => ("url", json!({"value": self.value()})),
            Observable::Email(_) => ("email-addr", json!({"value": self.value()})),
            Observable::Md5(_) => ("file", json!({"hashes": {"MD5": self.value()}})),
            Observable::Sha1(_) => ("file", json!({"hashes": {"SHA-1": self.value()}})),
            Observable::Sha256(_) => ("file", json!({"hashes": {"SHA-256": self.value()}})),
        };
        let mut o = contributing.clone();
        if let Some(m) = o.as_object_mut() {
            m.insert("type".into(), json!(ty));
            m.insert("spec_version".into(), json!("2.1"));
            m.insert("id".into(), json!(crate::stix::sco_id(ty, &contributing)));
        }
        o
    }

    /// Does this (indicator) value cover `other` (an event's value)? Networks cover
    /// addresses inside them; everything else is equality (domain subdomain rules live
    /// in the index, which knows whether an indicator includes subdomains).
    pub fn covers(&self, other: &Observable) -> bool {
        match (self, other) {
            (Observable::Ipv4 { addr, prefix }, Observable::Ipv4 { addr: b, prefix: q }) => {
                q >= prefix && mask4(*b, *prefix) == *addr
            }
            (Observable::Ipv6 { addr, prefix }, Observable::Ipv6 { addr: b, prefix: q }) => {
                q >= prefix && mask6(*b, *prefix) == *addr
            }
            (a, b) => a == b,
        }
    }
}

impl fmt::Display for Observable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind().as_str(), self.value())
    }
}

pub(crate) fn mask_v4(addr: u32, prefix: u8) -> u32 {
    mask4(addr, prefix)
}

pub(crate) fn mask_v6(addr: u128, prefix: u8) -> u128 {
    mask6(addr, prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation() {
        assert_eq!(
            Observable::ipv4("10.1.2.3/8").unwrap().value(),
            "10.0.0.0/8"
        );
        assert_eq!(
            Observable::ip("::ffff:192.0.2.1").unwrap(),
            Observable::ipv4("192.0.2.1").unwrap()
        );
        assert_eq!(
            Observable::domain("WWW.Example.COM.").unwrap().value(),
            "www.example.com"
        );
        assert_eq!(
            Observable::url("HTTP://Evil.Example/a/B?x=1#frag")
                .unwrap()
                .value(),
            "http://evil.example/a/B?x=1"
        );
        assert_eq!(
            Observable::url("https://evil.example").unwrap().value(),
            "https://evil.example/"
        );
        assert!(Observable::domain("bad domain.com").is_err());
        // Fuzz finding: a URL with embedded CR/space did not round-trip.
        assert!(Observable::url("http://b.example/a\rb").is_err());
        assert!(Observable::url("http://b.example/a b").is_err());
        assert!(Observable::email("a b@example.org").is_err());
        assert!(Observable::ipv4("10.0.0.0/33").is_err());
        let h = "DB349B97C37D22F5EA1D1841E3C89EB4";
        assert_eq!(Observable::hash(h).unwrap().value(), h.to_ascii_lowercase());
        assert_eq!(
            Observable::guess("user@Example.org").unwrap().kind(),
            ObservableKind::Email
        );
        assert_eq!(
            Observable::guess("2001:db8::1").unwrap().kind(),
            ObservableKind::Ipv6
        );
        assert_eq!(
            Observable::guess("example.org").unwrap().kind(),
            ObservableKind::Domain
        );
        assert!(Observable::guess("hello").is_none());
        let net = Observable::ipv4("192.168.0.0/16").unwrap();
        assert!(net.covers(&Observable::ipv4("192.168.4.5").unwrap()));
        assert!(!net.covers(&Observable::ipv4("192.169.0.1").unwrap()));
        assert_eq!(
            Observable::ipv4("198.51.100.3").unwrap().to_sco()["id"],
            "ipv4-addr--28bb3599-77cd-5a82-a950-b5bc3caf07c4"
        );
    }
}
