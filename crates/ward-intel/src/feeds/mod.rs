//! Feeds in: every parser turns a real feed format into ward's types, and
//! [`ConnectorState`] records what each scheduled connector did.
//!
//! - [`stix_bundle`]: STIX 2.1 bundles → [`IndicatorRecord`]s.
//! - [`misp`]: MISP feed `manifest.json`, event JSON, `hashes.csv`, MISP CSV, freetext.
//! - [`kev`]: the CISA Known Exploited Vulnerabilities catalogue.
//! - [`nvd`]: NVD CVE API 2.0 records and a paging, rate-limited client.
//! - [`osv`]: OSV advisories. [`csaf`]: CSAF 2.0 advisories.

pub mod csaf;
pub mod kev;
pub mod misp;
pub mod nvd;
pub mod osv;
pub mod stix_bundle;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::decay::DecayConfig;
use crate::index::{DomainRule, IndexEntry, IndicatorMeta};
use crate::observable::Observable;
use crate::policy::Distribution;
use crate::stix::{content_id, Timestamp};
use crate::tlp::Tlp;

/// One indicator value as ward keeps it, whatever feed it came from. A STIX indicator
/// whose pattern ORs three values yields three records sharing the indicator id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndicatorRecord {
    /// `indicator--<uuid>`: the feed's id for STIX, else deterministic from the value.
    pub id: String,
    #[serde(with = "observable_serde")]
    pub observable: Observable,
    pub name: Option<String>,
    pub description: Option<String>,
    pub tlp: Tlp,
    pub distribution: Distribution,
    /// 0–100.
    pub confidence: u8,
    pub valid_from: Timestamp,
    pub valid_until: Option<Timestamp>,
    /// The feed it came from.
    pub source: String,
    pub labels: Vec<String>,
    /// Last time someone reported seeing it (resets decay).
    pub last_seen: Option<Timestamp>,
    pub sightings: u32,
    pub false_positives: u32,
}

mod observable_serde {
    use super::*;
    use serde::{Deserializer, Serializer};

    #[derive(Serialize, Deserialize)]
    struct Repr {
        kind: crate::observable::ObservableKind,
        value: String,
    }

    pub fn serialize<S: Serializer>(o: &Observable, s: S) -> Result<S::Ok, S::Error> {
        Repr {
            kind: o.kind(),
            value: o.value(),
        }
        .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Observable, D::Error> {
        let r = Repr::deserialize(d)?;
        Observable::parse(r.kind, &r.value).map_err(serde::de::Error::custom)
    }
}

impl IndicatorRecord {
    /// A record for a bare value with a deterministic id (so the same value from two
    /// feeds is one indicator).
    pub fn from_value(observable: Observable, source: &str, valid_from: Timestamp) -> Self {
        let id = content_id("indicator", &observable.to_stix_pattern());
        Self::with_id(id, observable, source, valid_from)
    }

    /// A record carrying a producer's indicator id (no id derivation cost).
    pub fn with_id(
        id: String,
        observable: Observable,
        source: &str,
        valid_from: Timestamp,
    ) -> Self {
        IndicatorRecord {
            id,
            observable,
            name: None,
            description: None,
            tlp: Tlp::Clear,
            distribution: Distribution::All,
            confidence: 50,
            valid_from,
            valid_until: None,
            source: source.to_string(),
            labels: Vec::new(),
            last_seen: None,
            sightings: 0,
            false_positives: 0,
        }
    }

    /// The UUID part of the id.
    pub fn uuid(&self) -> Uuid {
        self.id
            .rsplit_once("--")
            .and_then(|(_, u)| Uuid::parse_str(u).ok())
            .unwrap_or_else(|| Uuid::new_v5(&crate::stix::WARD_SDO_NAMESPACE, self.id.as_bytes()))
    }

    /// The decay-adjusted end of validity: the earlier of `valid_until` and the moment
    /// the decay score drops below the type's threshold (counted from the last sighting).
    pub fn effective_until(&self, decay: &DecayConfig) -> Option<i64> {
        let p = decay.params(self.observable.kind());
        let start = self
            .last_seen
            .unwrap_or(self.valid_from)
            .max(self.valid_from);
        let days = p.days_until_expired(self.confidence as f64);
        // Float → int casts saturate; the sum must too (hostile or silly configs).
        let decay_end = start.unix().saturating_add((days * 86_400.0) as i64);
        let until = self.valid_until.map(|t| t.unix()).unwrap_or(i64::MAX);
        Some(until.min(decay_end))
    }

    /// The current decay score (0–100) at `now`.
    pub fn score_at(&self, decay: &DecayConfig, now: i64) -> f64 {
        if self.false_positives > 0 {
            return 0.0;
        }
        let start = self
            .last_seen
            .unwrap_or(self.valid_from)
            .max(self.valid_from);
        let age_days = (now - start.unix()) as f64 / 86_400.0;
        decay
            .params(self.observable.kind())
            .score(self.confidence as f64, age_days)
    }

    /// The index entry for live matching, or `None` when a false-positive report has
    /// been filed against it (MISP drops the score to 0 on a false-positive sighting).
    pub fn to_index_entry(&self, decay: &DecayConfig, source_no: u16) -> Option<IndexEntry> {
        if self.false_positives > 0 {
            return None;
        }
        Some(IndexEntry {
            observable: self.observable.clone(),
            meta: IndicatorMeta {
                indicator: self.uuid(),
                valid_from: self.valid_from.unix(),
                valid_until: self.effective_until(decay).unwrap_or(i64::MAX),
                source: source_no,
                confidence: self.confidence,
                tlp: self.tlp,
                rule: DomainRule::WithSubdomains,
            },
        })
    }
}

/// Counts one import produced.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportCounts {
    pub added: u64,
    pub updated: u64,
    pub expired: u64,
    /// Items skipped, with the reason (unsupported pattern, warninglisted, …).
    pub skipped: u64,
}

/// A feed connector's state, shown in the API/UI and persisted by the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectorState {
    /// Feed name (`kev`, `nvd`, `misp-circl`, …).
    pub feed: String,
    pub last_run: Option<Timestamp>,
    pub last_success: Option<Timestamp>,
    pub next_run: Option<Timestamp>,
    pub interval_secs: u64,
    /// The feed's own cursor (TAXII `added_after`, NVD `lastModEndDate`, MISP manifest
    /// timestamp), so the next run fetches only what is new.
    pub cursor: Option<String>,
    pub runs: u64,
    pub consecutive_errors: u32,
    /// The last few errors, newest last (bounded).
    pub errors: Vec<String>,
    pub last_counts: ImportCounts,
    pub total_counts: ImportCounts,
}

impl ConnectorState {
    const MAX_ERRORS: usize = 20;

    /// A connector that has never run, due now.
    pub fn new(feed: &str, interval_secs: u64) -> Self {
        ConnectorState {
            feed: feed.to_string(),
            last_run: None,
            last_success: None,
            next_run: None,
            interval_secs,
            cursor: None,
            runs: 0,
            consecutive_errors: 0,
            errors: Vec::new(),
            last_counts: ImportCounts::default(),
            total_counts: ImportCounts::default(),
        }
    }

    /// Is the connector due at `now`?
    pub fn due(&self, now: Timestamp) -> bool {
        self.next_run.is_none_or(|n| n <= now)
    }

    /// Records a successful run.
    pub fn record_success(&mut self, now: Timestamp, counts: ImportCounts, cursor: Option<String>) {
        self.last_run = Some(now);
        self.last_success = Some(now);
        self.runs += 1;
        self.consecutive_errors = 0;
        self.total_counts.added += counts.added;
        self.total_counts.updated += counts.updated;
        self.total_counts.expired += counts.expired;
        self.total_counts.skipped += counts.skipped;
        self.last_counts = counts;
        if cursor.is_some() {
            self.cursor = cursor;
        }
        self.next_run = Some(after(now, self.interval_secs));
    }

    /// Records a failed run; retries back off exponentially (capped at the interval).
    pub fn record_error(&mut self, now: Timestamp, error: &str) {
        self.last_run = Some(now);
        self.runs += 1;
        self.consecutive_errors += 1;
        self.errors.push(format!("{}: {error}", now.to_stix()));
        if self.errors.len() > Self::MAX_ERRORS {
            let drop = self.errors.len() - Self::MAX_ERRORS;
            self.errors.drain(..drop);
        }
        let backoff = 60u64
            .saturating_mul(1 << self.consecutive_errors.min(16))
            .min(self.interval_secs.max(60));
        self.next_run = Some(after(now, backoff));
    }
}

/// `now + secs`, saturating instead of panicking on absurd intervals.
fn after(now: Timestamp, secs: u64) -> Timestamp {
    let secs = i64::try_from(secs)
        .unwrap_or(i64::MAX)
        .min(100 * 365 * 86_400);
    Timestamp(
        now.0
            .checked_add_signed(chrono::Duration::seconds(secs))
            .unwrap_or(now.0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connector_state_tracks_runs_errors_and_backoff() {
        let mut s = ConnectorState::new("kev", 3600);
        let t0 = Timestamp::parse("2026-01-01T00:00:00Z").unwrap();
        assert!(s.due(t0));
        s.record_error(t0, "I008 connection refused");
        assert_eq!(s.consecutive_errors, 1);
        assert_eq!(s.next_run.unwrap().unix() - t0.unix(), 120);
        assert!(!s.due(t0));
        s.record_success(
            t0,
            ImportCounts {
                added: 5,
                updated: 1,
                expired: 0,
                skipped: 2,
            },
            Some("c1".into()),
        );
        s.record_success(
            t0,
            ImportCounts {
                added: 1,
                ..Default::default()
            },
            None,
        );
        assert_eq!(s.total_counts.added, 6);
        assert_eq!(s.cursor.as_deref(), Some("c1"));
        assert_eq!(s.consecutive_errors, 0);
        assert_eq!(s.next_run.unwrap().unix() - t0.unix(), 3600);
        for i in 0..30 {
            s.record_error(t0, &format!("e{i}"));
        }
        assert_eq!(s.errors.len(), 20);
        assert!(s.errors.last().unwrap().ends_with("e29"));
        let j = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<ConnectorState>(&j).unwrap(), s);
    }

    #[test]
    fn decay_bounds_validity_and_false_positive_disables() {
        let t0 = Timestamp::parse("2026-01-01T00:00:00Z").unwrap();
        let mut r =
            IndicatorRecord::from_value(Observable::ipv4("81.2.69.142").unwrap(), "test", t0);
        r.confidence = 80;
        let cfg = DecayConfig::default();
        let until = r.effective_until(&cfg).unwrap();
        // IPs: 30-day lifetime, speed 2, threshold 20: 30 × (1 − 20/80)² = 16.875 days.
        assert_eq!(until - t0.unix(), (16.875 * 86_400.0) as i64);
        assert!(r.score_at(&cfg, t0.unix() + 86_400) < 80.0);
        let e = r.to_index_entry(&cfg, 3).unwrap();
        assert_eq!(e.meta.valid_until, until);
        // A sighting restarts the clock.
        r.last_seen = Some(Timestamp::parse("2026-01-10T00:00:00Z").unwrap());
        assert!(r.effective_until(&cfg).unwrap() > until);
        r.false_positives = 1;
        assert!(r.to_index_entry(&cfg, 3).is_none());
        assert_eq!(r.score_at(&cfg, t0.unix()), 0.0);
    }
}
