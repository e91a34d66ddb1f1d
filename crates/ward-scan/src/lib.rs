//! # ward-scan — the authorised weakness scanner
//!
//! ward-scan lets the centre prove, member by member, that the basics which
//! would have stopped WannaCry hold — no SMBv1, MS17-010 patched, no exposed
//! SMB or RDP without NLA, no end-of-life systems, no weak TLS — without ever
//! touching anything it is not allowed to touch.
//!
//! Main types:
//! - [`Scope`]: a member's consent record (ODS code, CIDRs and names, time
//!   windows, allowed [`Check`]s, rate, who authorised it and when).
//!   [`Scope::authorise`] turns a target into an [`AuthorisedTarget`] or a
//!   [`ScopeRefusal`] *before any packet is sent*; names are resolved first
//!   and every address is checked.
//! - [`Scanner`] (built by [`ScannerBuilder`]): per-target, per-member and
//!   global rate limits, a cancellation token, a [`Progress`] callback;
//!   [`Scanner::run`] returns a [`ScanReport`] with [`Finding`]s.
//! - [`Finding`] / [`FindingKey`] and the pure [`reconcile`] function that
//!   tells the store what is new, seen again, or no longer seen.
//! - [`checks`]: each check as a function returning a typed report
//!   (port scan, SMB dialects, MS17-010 + DoublePulsar, RDP, TLS, HTTP);
//!   [`eol::EolTable`] for end-of-life systems.
//! - [`output`]: JSON, CSV and nmap-style XML; [`mod@bench`]: `ward bench scan`.
//! - [`proto`]: pure, fuzzed parsers of everything a target sends back.
//!
//! ```
//! use ward_scan::{Check, Scope, TimeWindow, Timestamp, RefusalReason};
//!
//! let scope = Scope {
//!     id: "rxh-2026q4".into(),
//!     member: "RXH".into(),
//!     cidrs: vec!["10.20.0.0/16".parse().unwrap()],
//!     host_names: vec![],
//!     windows: vec![TimeWindow {
//!         start: Timestamp::parse_rfc3339("2026-11-01T00:00:00Z").unwrap(),
//!         end: Timestamp::parse_rfc3339("2026-12-01T00:00:00Z").unwrap(),
//!     }],
//!     allowed_checks: [Check::PortScan, Check::Smb, Check::Ms17010].into_iter().collect(),
//!     max_rate_per_sec: 200,
//!     authorised_by: "Head of Cyber, RXH".into(),
//!     authorised_at: Timestamp::parse_rfc3339("2026-10-20T09:00:00Z").unwrap(),
//! };
//! let now = Timestamp::parse_rfc3339("2026-11-15T12:00:00Z").unwrap();
//! let ok = scope.authorise("10.20.3.4", now).unwrap();
//! assert_eq!(ok.addresses().len(), 1);
//! let refused = scope.authorise("10.21.0.1", now).unwrap_err();
//! assert!(matches!(refused.reason, RefusalReason::AddressOutOfScope { .. }));
//! assert_eq!(refused.reason.code(), "SCAN-R005");
//! ```

pub mod bench;
pub mod checks;
pub mod eol;
pub mod finding;
pub mod net;
pub mod output;
pub mod proto;
pub mod rate;
pub mod scanner;
pub mod scope;
pub mod time;

pub use finding::{reconcile, Evidence, Finding, FindingKey, Reconciliation, Severity};
pub use scanner::{
    Phase, Progress, ScanReport, ScanRequest, Scanner, ScannerBuilder, ServicePorts,
};
pub use scope::{AuthorisedTarget, Check, Cidr, RefusalReason, Scope, ScopeRefusal, TimeWindow};
pub use time::Timestamp;
pub use tokio_util::sync::CancellationToken;
