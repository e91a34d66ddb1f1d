//! ward-intel: threat intelligence and vulnerability watch.
//!
//! The pure parts of ward's intelligence stage; storage, HTTP routes, auth and the CLI
//! live elsewhere and call into this crate.
//!
//! - [`stix`]: the STIX 2.1 model ([`stix::StixObject`], [`stix::Bundle`]) with unknown
//!   properties preserved and deterministic ids ([`stix::sco_id`], [`stix::content_id`]).
//! - [`tlp::Tlp`] (TLP 2.0 with the official marking-definition ids) and
//!   [`policy::can_read`] over TLP × [`policy::Distribution`] × [`policy::Role`].
//! - [`decay`]: MISP's polynomial decay per indicator type.
//! - [`pattern::parse_pattern`]: the STIX pattern subset ward matches, into typed
//!   [`observable::Observable`]s.
//! - [`index::IndicatorIndex`] and [`index::LiveIndex`]: the in-memory matcher, with
//!   [`warninglist::Warninglists`] keeping benign values out.
//! - [`feeds`]: STIX bundles, MISP (manifest, event, hashes.csv, CSV, freetext), CISA KEV,
//!   NVD CVE API 2.0 (+ paging client), OSV and CSAF 2.0; [`feeds::ConnectorState`].
//! - [`estate`]: CPE 2.3 and purl matching of vulnerabilities against members' assets.
//! - [`taxii`]: TAXII 2.1 client and server; [`export`]: STIX, MISP JSON, CSV, plain lists.
//! - [`retro::retro_hunt`]: search past events for newly published indicators.
//! - [`bench::bench_intel`]: the figures `ward bench intel` prints.
//!
//! ```
//! use ward_intel::index::{IndexEntry, IndicatorIndex, IndicatorMeta};
//! use ward_intel::observable::Observable;
//! use ward_intel::pattern::parse_pattern;
//!
//! let values = parse_pattern("[domain-name:value = 'evil.example'] OR [ipv4-addr:value = '203.0.113.0/24']").unwrap();
//! let id = uuid::Uuid::new_v4();
//! let ix = IndicatorIndex::build(values.into_iter().map(|o| IndexEntry {
//!     observable: o,
//!     meta: IndicatorMeta::new(id, 0),
//! }));
//! let now = 1_700_000_000;
//! assert!(ix.check(&Observable::domain("cdn.evil.example").unwrap(), now).is_some());
//! assert!(ix.check(&Observable::ipv4("203.0.113.77").unwrap(), now).is_some());
//! assert!(ix.check(&Observable::ipv4("198.51.100.1").unwrap(), now).is_none());
//! ```

pub mod bench;
pub mod decay;
pub mod error;
pub mod estate;
pub mod export;
pub mod feeds;
mod http;
pub mod index;
pub mod observable;
pub mod pattern;
pub mod policy;
pub mod retro;
pub mod stix;
pub mod taxii;
pub mod tlp;
pub mod warninglist;

pub use error::{IntelError, Result};

#[cfg(test)]
pub(crate) mod test_support {
    use std::path::PathBuf;

    /// `../shared/data` of the repository, or `WARD_SHARED_DATA`.
    pub fn shared_data() -> PathBuf {
        match std::env::var_os("WARD_SHARED_DATA") {
            Some(p) => PathBuf::from(p),
            None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"),
        }
    }
}
