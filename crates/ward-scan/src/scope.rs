//! Authorised scopes: what may be scanned, when, how hard, and on whose word.
//!
//! A [`Scope`] is the consent record for one member organisation. Nothing in
//! the scanner opens a socket except towards an [`AuthorisedTarget`], and the
//! only way to obtain one is [`Scope::authorise`], which checks the time
//! window and every resolved address *before* any packet is sent. Host names
//! are resolved once, here; the scanner connects only to the addresses that
//! were checked, so a DNS answer that changes later cannot widen the scope.

use std::collections::BTreeSet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, ToSocketAddrs};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::time::Timestamp;

/// One kind of check a scope may allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// TCP connect port scan with banner grabbing.
    PortScan,
    /// SMB dialect enumeration (SMBv1, SMB2/3 dialects, signing).
    Smb,
    /// The MS17-010 safe check (PeekNamedPipe on FID 0).
    Ms17010,
    /// The DoublePulsar implant probe (TRANS2 SESSION_SETUP).
    DoublePulsar,
    /// RDP exposure, NLA enforcement, Standard RDP Security, certificate.
    Rdp,
    /// TLS protocol versions, weak ciphers and certificate checks.
    Tls,
    /// End-of-life operating systems from negotiation data and banners.
    Eol,
    /// HTTP server banners and exposed admin interfaces.
    Http,
}

impl Check {
    /// Every check, in the order the scanner runs them.
    pub const ALL: [Check; 8] = [
        Check::PortScan,
        Check::Smb,
        Check::Ms17010,
        Check::DoublePulsar,
        Check::Rdp,
        Check::Tls,
        Check::Eol,
        Check::Http,
    ];

    /// Stable lower-case name, as used in configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Check::PortScan => "port_scan",
            Check::Smb => "smb",
            Check::Ms17010 => "ms17010",
            Check::DoublePulsar => "double_pulsar",
            Check::Rdp => "rdp",
            Check::Tls => "tls",
            Check::Eol => "eol",
            Check::Http => "http",
        }
    }
}

/// An IPv4 or IPv6 network in CIDR notation, e.g. `10.1.0.0/16` or `2001:db8::/32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

/// Why a CIDR string could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("SCAN-E010 invalid CIDR {input:?}: {reason}")]
pub struct CidrError {
    /// The text that was rejected.
    pub input: String,
    /// What was wrong with it.
    pub reason: &'static str,
}

impl Cidr {
    /// Builds a CIDR; host bits must be zero so that the text is unambiguous.
    pub fn new(network: IpAddr, prefix: u8) -> Result<Self, CidrError> {
        let max = if network.is_ipv4() { 32 } else { 128 };
        let err = |reason| CidrError {
            input: format!("{network}/{prefix}"),
            reason,
        };
        if prefix > max {
            return Err(err("prefix length too long for the address family"));
        }
        let c = Cidr { network, prefix };
        if c.mask_addr(network) != network {
            return Err(err("host bits are set; use the network address"));
        }
        Ok(c)
    }

    /// The network address.
    pub fn network(&self) -> IpAddr {
        self.network
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    fn mask_addr(&self, ip: IpAddr) -> IpAddr {
        match ip {
            IpAddr::V4(v4) => {
                let m = if self.prefix == 0 {
                    0
                } else {
                    u32::MAX << (32 - u32::from(self.prefix))
                };
                IpAddr::V4(Ipv4Addr::from(u32::from(v4) & m))
            }
            IpAddr::V6(v6) => {
                let m = if self.prefix == 0 {
                    0
                } else {
                    u128::MAX << (128 - u32::from(self.prefix))
                };
                IpAddr::V6(Ipv6Addr::from(u128::from(v6) & m))
            }
        }
    }

    /// Whether `ip` lies inside this network. An IPv4-mapped IPv6 address is
    /// compared as the IPv4 address it carries, so `::ffff:10.0.0.1` cannot
    /// slip past an IPv4 scope check (or into one).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        if ip.is_ipv4() != self.network.is_ipv4() {
            return false;
        }
        self.mask_addr(ip) == self.network
    }

    /// Number of addresses, saturating at `u128::MAX`.
    pub fn size(&self) -> u128 {
        let bits = if self.network.is_ipv4() { 32 } else { 128 } - u32::from(self.prefix);
        if bits >= 128 {
            u128::MAX
        } else {
            1u128 << bits
        }
    }

    /// Iterates the addresses of the network (all of them, network and
    /// broadcast included, as nmap does). Returns `None` when the network
    /// holds more than `limit` addresses.
    pub fn hosts(&self, limit: u128) -> Option<Vec<IpAddr>> {
        if self.size() > limit {
            return None;
        }
        let n = self.size();
        Some(match self.network {
            IpAddr::V4(v4) => {
                let base = u32::from(v4);
                (0..n as u32)
                    .map(|i| IpAddr::V4(Ipv4Addr::from(base.wrapping_add(i))))
                    .collect()
            }
            IpAddr::V6(v6) => {
                let base = u128::from(v6);
                (0..n)
                    .map(|i| IpAddr::V6(Ipv6Addr::from(base.wrapping_add(i))))
                    .collect()
            }
        })
    }
}

/// IPv4-mapped IPv6 addresses are treated as the IPv4 address.
pub(crate) fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

impl FromStr for Cidr {
    type Err = CidrError;
    fn from_str(s: &str) -> Result<Self, CidrError> {
        let err = |reason| CidrError {
            input: s.to_string(),
            reason,
        };
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let ip: IpAddr = addr.trim().parse().map_err(|_| err("not an IP address"))?;
        let prefix = match prefix {
            Some(p) => p
                .trim()
                .parse::<u8>()
                .map_err(|_| err("prefix is not a number"))?,
            None if ip.is_ipv4() => 32,
            None => 128,
        };
        Cidr::new(ip, prefix).map_err(|e| err(e.reason))
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl Serialize for Cidr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A period during which scanning is permitted: `start <= now < end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeWindow {
    /// First permitted instant.
    pub start: Timestamp,
    /// First instant no longer permitted.
    pub end: Timestamp,
}

impl TimeWindow {
    /// Whether `now` falls inside the window.
    pub fn contains(&self, now: Timestamp) -> bool {
        self.start <= now && now < self.end
    }
}

/// The consent record for scanning one member organisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scope {
    /// Identifier of this scope (chosen by the registry, e.g. `"rxx-2026q4"`).
    pub id: String,
    /// NHS ODS organisation code of the member, e.g. `RXH` or `Y01234`.
    pub member: String,
    /// Address ranges the member registered.
    #[serde(default)]
    pub cidrs: Vec<Cidr>,
    /// Host names the member registered. Every address a name resolves to must
    /// still lie inside `cidrs`.
    #[serde(default)]
    pub host_names: Vec<String>,
    /// Permitted time windows; scanning outside all of them is refused.
    pub windows: Vec<TimeWindow>,
    /// Checks the member agreed to.
    pub allowed_checks: BTreeSet<Check>,
    /// Highest probe rate allowed against this member, in connection attempts
    /// per second across all of its hosts.
    pub max_rate_per_sec: u32,
    /// Who authorised the scope (name or account of the approver).
    pub authorised_by: String,
    /// When it was authorised. Scanning before this instant is refused.
    pub authorised_at: Timestamp,
}

/// A scope that is not well formed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    /// The member is not a plausible ODS code.
    #[error("SCAN-E011 scope {scope}: member {member:?} is not an ODS code (3-10 upper-case letters and digits)")]
    BadMember {
        /// Scope id.
        scope: String,
        /// Offending member code.
        member: String,
    },
    /// A field is empty that must not be.
    #[error("SCAN-E012 scope {scope}: field `{field}` must not be empty")]
    Empty {
        /// Scope id.
        scope: String,
        /// Field name.
        field: &'static str,
    },
    /// A window ends before it starts.
    #[error("SCAN-E013 scope {scope}: window {index} ends before it starts")]
    BadWindow {
        /// Scope id.
        scope: String,
        /// Index in `windows`.
        index: usize,
    },
    /// A host name is not a syntactically valid DNS name.
    #[error("SCAN-E014 scope {scope}: host name {name:?} is not a valid DNS name")]
    BadHostName {
        /// Scope id.
        scope: String,
        /// Offending name.
        name: String,
    },
}

/// Why a target was refused. Each reason has a stable code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum RefusalReason {
    /// The scope itself is malformed.
    #[error("SCAN-R001 scope is invalid: {detail}")]
    InvalidScope {
        /// What is wrong with it.
        detail: String,
    },
    /// `now` is before `authorised_at`.
    #[error("SCAN-R002 scope not yet authorised (authorised at {authorised_at})")]
    NotYetAuthorised {
        /// When authorisation takes effect.
        authorised_at: Timestamp,
    },
    /// `now` is outside every permitted window.
    #[error("SCAN-R003 {now} is outside every permitted time window")]
    OutsideWindow {
        /// The instant that was checked.
        now: Timestamp,
    },
    /// The target is neither an IP address nor a valid host name.
    #[error("SCAN-R004 target is neither an IP address nor a valid host name")]
    InvalidTarget,
    /// An address target (or a resolved address) lies outside the scope.
    #[error("SCAN-R005 address {address} is outside the scope's ranges")]
    AddressOutOfScope {
        /// The address.
        address: IpAddr,
    },
    /// A host name resolves (at least partly) outside the scope.
    #[error("SCAN-R006 host name resolves to {address}, which is outside the scope's ranges")]
    NameResolvesOutside {
        /// The first address found outside.
        address: IpAddr,
        /// Every address the name resolved to.
        resolved: Vec<IpAddr>,
    },
    /// The name could not be resolved.
    #[error("SCAN-R007 host name could not be resolved: {detail}")]
    ResolutionFailed {
        /// Resolver error text.
        detail: String,
    },
    /// A check was requested that the scope does not allow.
    #[error("SCAN-R008 check {check:?} is not allowed by the scope")]
    CheckNotAllowed {
        /// The check.
        check: Check,
    },
}

impl RefusalReason {
    /// The stable code (`SCAN-R00n`).
    pub fn code(&self) -> &'static str {
        match self {
            RefusalReason::InvalidScope { .. } => "SCAN-R001",
            RefusalReason::NotYetAuthorised { .. } => "SCAN-R002",
            RefusalReason::OutsideWindow { .. } => "SCAN-R003",
            RefusalReason::InvalidTarget => "SCAN-R004",
            RefusalReason::AddressOutOfScope { .. } => "SCAN-R005",
            RefusalReason::NameResolvesOutside { .. } => "SCAN-R006",
            RefusalReason::ResolutionFailed { .. } => "SCAN-R007",
            RefusalReason::CheckNotAllowed { .. } => "SCAN-R008",
        }
    }
}

/// A recorded refusal: which scope, which target, when and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("scope {scope_id} (member {member}) refused target {target:?} at {at}: {reason}")]
pub struct ScopeRefusal {
    /// Scope consulted.
    pub scope_id: String,
    /// Member of that scope.
    pub member: String,
    /// Target as requested.
    pub target: String,
    /// When the refusal happened.
    pub at: Timestamp,
    /// Why.
    pub reason: RefusalReason,
}

/// A target that passed [`Scope::authorise`]. Its fields are private so that
/// one cannot be made any other way; the scanner connects only to
/// [`AuthorisedTarget::addresses`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuthorisedTarget {
    scope_id: String,
    member: String,
    target: String,
    host_name: Option<String>,
    addresses: Vec<IpAddr>,
    checks: BTreeSet<Check>,
    max_rate_per_sec: u32,
    authorised_at: Timestamp,
    window_end: Timestamp,
}

impl AuthorisedTarget {
    /// Scope that authorised it.
    pub fn scope_id(&self) -> &str {
        &self.scope_id
    }
    /// Member ODS code.
    pub fn member(&self) -> &str {
        &self.member
    }
    /// The target as requested (address or name).
    pub fn target(&self) -> &str {
        &self.target
    }
    /// The host name, when the target was a name (used for SNI and name checks).
    pub fn host_name(&self) -> Option<&str> {
        self.host_name.as_deref()
    }
    /// The checked addresses; the only ones the scanner will contact.
    pub fn addresses(&self) -> &[IpAddr] {
        &self.addresses
    }
    /// Checks allowed against it.
    pub fn checks(&self) -> &BTreeSet<Check> {
        &self.checks
    }
    /// Whether `check` is allowed.
    pub fn allows(&self, check: Check) -> bool {
        self.checks.contains(&check)
    }
    /// Member-wide rate ceiling from the scope.
    pub fn max_rate_per_sec(&self) -> u32 {
        self.max_rate_per_sec
    }
    /// Instant the authorisation was granted.
    pub fn authorised_at(&self) -> Timestamp {
        self.authorised_at
    }
    /// End of the window it was authorised in; the scanner stops probing then.
    pub fn window_end(&self) -> Timestamp {
        self.window_end
    }
}

/// Resolves host names. [`SystemResolver`] uses the operating system; tests
/// and callers with their own DNS policy can supply another.
pub trait Resolver {
    /// All addresses for `name`.
    fn resolve(&self, name: &str) -> std::io::Result<Vec<IpAddr>>;
}

/// The operating system's resolver (`getaddrinfo`: `/etc/hosts`, then DNS).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemResolver;

impl Resolver for SystemResolver {
    fn resolve(&self, name: &str) -> std::io::Result<Vec<IpAddr>> {
        let mut out: Vec<IpAddr> = Vec::new();
        for sa in (name, 0u16).to_socket_addrs()? {
            let ip = canonical(sa.ip());
            if !out.contains(&ip) {
                out.push(ip);
            }
        }
        Ok(out)
    }
}

/// Whether `s` is a syntactically valid DNS host name.
pub fn is_valid_host_name(s: &str) -> bool {
    let s = s.strip_suffix('.').unwrap_or(s);
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// Addresses enumerated per CIDR at most; larger ranges must be split.
pub const MAX_HOSTS_PER_CIDR: u128 = 65_536;

impl Scope {
    /// Checks that the scope is well formed.
    pub fn validate(&self) -> Result<(), ScopeError> {
        let m = &self.member;
        if !(3..=10).contains(&m.len())
            || !m
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        {
            return Err(ScopeError::BadMember {
                scope: self.id.clone(),
                member: m.clone(),
            });
        }
        let empty = |field| ScopeError::Empty {
            scope: self.id.clone(),
            field,
        };
        if self.id.is_empty() {
            return Err(empty("id"));
        }
        if self.authorised_by.trim().is_empty() {
            return Err(empty("authorised_by"));
        }
        if self.cidrs.is_empty() {
            return Err(empty("cidrs"));
        }
        if self.windows.is_empty() {
            return Err(empty("windows"));
        }
        if self.allowed_checks.is_empty() {
            return Err(empty("allowed_checks"));
        }
        for (index, w) in self.windows.iter().enumerate() {
            if w.end <= w.start {
                return Err(ScopeError::BadWindow {
                    scope: self.id.clone(),
                    index,
                });
            }
        }
        for n in &self.host_names {
            if !is_valid_host_name(n) {
                return Err(ScopeError::BadHostName {
                    scope: self.id.clone(),
                    name: n.clone(),
                });
            }
        }
        Ok(())
    }

    /// Whether `ip` lies in one of the scope's ranges.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.cidrs.iter().any(|c| c.contains(ip))
    }

    /// Authorises `target` (an IP address or a host name) at `now`, resolving
    /// names with the system resolver. See [`Scope::authorise_with`].
    // A refusal is the rare path and carries the whole record the registry
    // must keep; boxing it would only make every caller's match clumsier.
    #[allow(clippy::result_large_err)]
    pub fn authorise(
        &self,
        target: &str,
        now: Timestamp,
    ) -> Result<AuthorisedTarget, ScopeRefusal> {
        self.authorise_with(target, now, &SystemResolver)
    }

    /// Authorises `target` at `now`. Refuses when the scope is invalid, `now`
    /// is before `authorised_at` or outside every window, the target is an
    /// address outside the ranges, or the target is a name any of whose
    /// addresses is outside the ranges. No packet is sent to the target.
    #[allow(clippy::result_large_err)]
    pub fn authorise_with(
        &self,
        target: &str,
        now: Timestamp,
        resolver: &dyn Resolver,
    ) -> Result<AuthorisedTarget, ScopeRefusal> {
        let refuse = |reason| ScopeRefusal {
            scope_id: self.id.clone(),
            member: self.member.clone(),
            target: target.to_string(),
            at: now,
            reason,
        };
        self.validate().map_err(|e| {
            refuse(RefusalReason::InvalidScope {
                detail: e.to_string(),
            })
        })?;
        if now < self.authorised_at {
            return Err(refuse(RefusalReason::NotYetAuthorised {
                authorised_at: self.authorised_at,
            }));
        }
        let Some(window) = self.windows.iter().find(|w| w.contains(now)) else {
            return Err(refuse(RefusalReason::OutsideWindow { now }));
        };
        let trimmed = target.trim();
        let literal = trimmed
            .strip_prefix('[')
            .and_then(|t| t.strip_suffix(']'))
            .unwrap_or(trimmed);
        let (host_name, addresses) = if let Ok(ip) = literal.parse::<IpAddr>() {
            let ip = canonical(ip);
            if !self.contains(ip) {
                return Err(refuse(RefusalReason::AddressOutOfScope { address: ip }));
            }
            (None, vec![ip])
        } else {
            if !is_valid_host_name(trimmed) {
                return Err(refuse(RefusalReason::InvalidTarget));
            }
            let resolved = resolver.resolve(trimmed).map_err(|e| {
                refuse(RefusalReason::ResolutionFailed {
                    detail: e.to_string(),
                })
            })?;
            if resolved.is_empty() {
                return Err(refuse(RefusalReason::ResolutionFailed {
                    detail: "no addresses".into(),
                }));
            }
            let resolved: Vec<IpAddr> = resolved.into_iter().map(canonical).collect();
            // Every address must be inside: a name that points partly outside
            // the member's ranges is refused whole, because which address a
            // client would use is not ours to choose.
            if let Some(bad) = resolved.iter().find(|ip| !self.contains(**ip)) {
                return Err(refuse(RefusalReason::NameResolvesOutside {
                    address: *bad,
                    resolved: resolved.clone(),
                }));
            }
            (Some(trimmed.trim_end_matches('.').to_string()), resolved)
        };
        Ok(AuthorisedTarget {
            scope_id: self.id.clone(),
            member: self.member.clone(),
            target: target.to_string(),
            host_name,
            addresses,
            checks: self.allowed_checks.clone(),
            max_rate_per_sec: self.max_rate_per_sec,
            authorised_at: now,
            window_end: window.end,
        })
    }

    /// The targets the scope registers: every address of every range (up to
    /// [`MAX_HOSTS_PER_CIDR`] each; larger ranges are skipped and reported)
    /// followed by the host names.
    pub fn targets(&self) -> (Vec<String>, Vec<Cidr>) {
        let mut out = Vec::new();
        let mut too_large = Vec::new();
        for c in &self.cidrs {
            match c.hosts(MAX_HOSTS_PER_CIDR) {
                Some(h) => out.extend(h.into_iter().map(|ip| ip.to_string())),
                None => too_large.push(*c),
            }
        }
        out.extend(self.host_names.iter().cloned());
        (out, too_large)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> Scope {
        Scope {
            id: "s1".into(),
            member: "RXH".into(),
            cidrs: vec![
                "10.1.0.0/16".parse().unwrap(),
                "2001:db8::/32".parse().unwrap(),
            ],
            host_names: vec![],
            windows: vec![TimeWindow {
                start: Timestamp(1000),
                end: Timestamp(2000),
            }],
            allowed_checks: Check::ALL.into_iter().collect(),
            max_rate_per_sec: 100,
            authorised_by: "Jane Analyst".into(),
            authorised_at: Timestamp(900),
        }
    }

    struct Fixed(Vec<IpAddr>);
    impl Resolver for Fixed {
        fn resolve(&self, _: &str) -> std::io::Result<Vec<IpAddr>> {
            Ok(self.0.clone())
        }
    }

    #[test]
    fn cidr_parse_and_contains() {
        let c: Cidr = "10.1.0.0/16".parse().unwrap();
        assert!(c.contains("10.1.255.3".parse().unwrap()));
        assert!(!c.contains("10.2.0.0".parse().unwrap()));
        assert!(c.contains("::ffff:10.1.0.1".parse().unwrap()));
        assert!("10.1.0.1/16".parse::<Cidr>().is_err());
        assert!("10.1.0.0/33".parse::<Cidr>().is_err());
        let z: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(z.contains("8.8.8.8".parse().unwrap()));
        assert!(!z.contains("::1".parse().unwrap()));
        assert_eq!(
            "192.0.2.0/30"
                .parse::<Cidr>()
                .unwrap()
                .hosts(10)
                .unwrap()
                .len(),
            4
        );
    }

    #[test]
    fn refusals_have_codes() {
        let s = scope();
        let r = s.authorise("10.2.0.1", Timestamp(1500)).unwrap_err();
        assert_eq!(r.reason.code(), "SCAN-R005");
        let r = s.authorise("10.1.0.1", Timestamp(2000)).unwrap_err();
        assert_eq!(r.reason.code(), "SCAN-R003");
        let r = s.authorise("10.1.0.1", Timestamp(950)).unwrap_err();
        assert_eq!(r.reason.code(), "SCAN-R003");
        let mut early = s.clone();
        early.authorised_at = Timestamp(1600);
        assert_eq!(
            early
                .authorise("10.1.0.1", Timestamp(1500))
                .unwrap_err()
                .reason
                .code(),
            "SCAN-R002"
        );
        let r = s.authorise("bad name!", Timestamp(1500)).unwrap_err();
        assert_eq!(r.reason.code(), "SCAN-R004");
        let ok = s.authorise("[2001:db8::5]", Timestamp(1500)).unwrap();
        assert_eq!(ok.addresses(), &["2001:db8::5".parse::<IpAddr>().unwrap()]);
        assert_eq!(ok.window_end(), Timestamp(2000));
    }

    #[test]
    fn names_must_resolve_entirely_inside() {
        let s = scope();
        let inside = Fixed(vec!["10.1.2.3".parse().unwrap()]);
        let t = s
            .authorise_with("pc1.rxh.example", Timestamp(1500), &inside)
            .unwrap();
        assert_eq!(t.host_name(), Some("pc1.rxh.example"));
        let partly = Fixed(vec![
            "10.1.2.3".parse().unwrap(),
            "192.0.2.1".parse().unwrap(),
        ]);
        let r = s
            .authorise_with("pc1.rxh.example", Timestamp(1500), &partly)
            .unwrap_err();
        assert_eq!(r.reason.code(), "SCAN-R006");
    }

    #[test]
    fn validation() {
        let mut s = scope();
        s.member = "rxh".into();
        assert!(matches!(s.validate(), Err(ScopeError::BadMember { .. })));
        let mut s = scope();
        s.windows[0].end = Timestamp(10);
        assert!(matches!(
            s.validate(),
            Err(ScopeError::BadWindow { index: 0, .. })
        ));
        let json = serde_json::to_string(&scope()).unwrap();
        let back: Scope = serde_json::from_str(&json).unwrap();
        assert_eq!(back, scope());
    }
}
