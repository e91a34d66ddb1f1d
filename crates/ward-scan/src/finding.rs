//! Findings: what the scanner saw, with the evidence that proves it.
//!
//! Lifecycle (open, fixed, risk-accepted) is the store's business; this module
//! supplies the identity of a finding ([`FindingKey`]) and the pure
//! [`reconcile`] function that tells the store which findings are new, which
//! were seen again and which are no longer seen.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::time::Timestamp;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Informational: inventory (an open port, a banner, a dialect list).
    Info,
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Critical: exploitable as WannaCry was, or already compromised.
    Critical,
}

impl Severity {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The bytes or fields that prove a finding.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// One-line human summary.
    pub summary: String,
    /// Named fields observed (e.g. `dialect_index = 0`, `status = 0xC0000205`).
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    /// The raw reply (or its relevant part), hex-encoded, when binary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_hex: Option<String>,
}

impl Evidence {
    /// Evidence with only a summary.
    pub fn new(summary: impl Into<String>) -> Self {
        Evidence {
            summary: summary.into(),
            ..Evidence::default()
        }
    }

    /// Adds a field.
    pub fn field(mut self, k: impl Into<String>, v: impl fmt::Display) -> Self {
        self.fields.insert(k.into(), v.to_string());
        self
    }

    /// Attaches raw bytes (hex-encoded, truncated to 4 KiB of input).
    pub fn bytes(mut self, b: &[u8]) -> Self {
        self.bytes_hex = Some(hex(&b[..b.len().min(4096)]));
        self
    }
}

/// Lower-case hex of `b`.
pub fn hex(b: &[u8]) -> String {
    const D: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        s.push(D[usize::from(x >> 4)] as char);
        s.push(D[usize::from(x & 15)] as char);
    }
    s
}

/// One result of a scan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Member ODS code.
    pub member: String,
    /// Scope under which it was observed.
    pub scope_id: String,
    /// Target as requested (host name or address).
    pub host: String,
    /// The address actually probed.
    pub address: IpAddr,
    /// TCP port, when the finding is about a service.
    pub port: Option<u16>,
    /// Stable check identifier, e.g. `smb.v1`, `smb.ms17_010`, `tls.weak_cipher`.
    pub check: String,
    /// What, within the check, this is about (a cipher, a dialect, a path);
    /// empty when the check yields one finding per port.
    #[serde(default)]
    pub subject: String,
    /// Short title for people.
    pub title: String,
    /// Severity.
    pub severity: Severity,
    /// Proof.
    pub evidence: Evidence,
    /// When it was observed.
    pub observed_at: Timestamp,
}

impl Finding {
    /// The identity of this finding across scans.
    pub fn key(&self) -> FindingKey {
        FindingKey {
            member: self.member.clone(),
            address: self.address,
            port: self.port,
            check: self.check.clone(),
            subject: self.subject.clone(),
        }
    }
}

/// What makes two findings from different scans "the same" finding.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct FindingKey {
    /// Member ODS code.
    pub member: String,
    /// Address probed.
    pub address: IpAddr,
    /// Port, if any.
    pub port: Option<u16>,
    /// Check identifier.
    pub check: String,
    /// Subject within the check.
    pub subject: String,
}

/// The outcome of comparing a new scan with what was open before.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Reconciliation {
    /// Seen now and not open before: open them.
    pub new: Vec<Finding>,
    /// Seen now and open before: update last-seen and evidence.
    pub seen_again: Vec<Finding>,
    /// Open before and not seen now: close them as fixed.
    pub closed: Vec<FindingKey>,
}

impl Reconciliation {
    /// Keeps in `closed` only keys the new scan actually covered (e.g. the
    /// addresses and checks it ran), so that a partial scan — or a cancelled
    /// one — does not close findings it never looked for.
    pub fn retain_covered(&mut self, covered: impl Fn(&FindingKey) -> bool) {
        self.closed.retain(|k| covered(k));
    }
}

/// Compares the keys of previously open findings with the findings of a new
/// scan. Pure: no I/O, deterministic order (new and seen-again in the order
/// of `current`, closed in the order of `previous`). Duplicates in `current`
/// are reported once.
pub fn reconcile(previous: &[FindingKey], current: &[Finding]) -> Reconciliation {
    let prev: BTreeSet<&FindingKey> = previous.iter().collect();
    let mut seen = BTreeSet::new();
    let mut out = Reconciliation::default();
    for f in current {
        let k = f.key();
        if !seen.insert(k.clone()) {
            continue;
        }
        if prev.contains(&k) {
            out.seen_again.push(f.clone());
        } else {
            out.new.push(f.clone());
        }
    }
    let mut closed_seen = BTreeSet::new();
    for k in previous {
        if !seen.contains(k) && closed_seen.insert(k) {
            out.closed.push(k.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(port: u16, check: &str) -> Finding {
        Finding {
            member: "RXH".into(),
            scope_id: "s".into(),
            host: "10.0.0.1".into(),
            address: "10.0.0.1".parse().unwrap(),
            port: Some(port),
            check: check.into(),
            subject: String::new(),
            title: check.into(),
            severity: Severity::High,
            evidence: Evidence::new("x").field("a", 1).bytes(&[0xff, 0x53]),
            observed_at: Timestamp(0),
        }
    }

    #[test]
    fn reconcile_splits_new_seen_closed() {
        let prev = vec![
            f(445, "smb.v1").key(),
            f(3389, "rdp.nla_not_enforced").key(),
        ];
        let cur = vec![
            f(445, "smb.v1"),
            f(443, "tls.cert_expired"),
            f(445, "smb.v1"),
        ];
        let r = reconcile(&prev, &cur);
        assert_eq!(r.new.len(), 1);
        assert_eq!(r.new[0].check, "tls.cert_expired");
        assert_eq!(r.seen_again.len(), 1);
        assert_eq!(r.closed, vec![f(3389, "rdp.nla_not_enforced").key()]);
        let mut r2 = r.clone();
        r2.retain_covered(|k| k.port != Some(3389));
        assert!(r2.closed.is_empty());
        assert_eq!(f(1, "x").evidence.bytes_hex.as_deref(), Some("ff53"));
    }
}
