//! High Severity Alerts ("advisories") as the centre publishes them and as members answer them.
//!
//! The lifecycle and deadline rules live in `ward_alerting::advisories`; this module holds only
//! the records every stage shares (storage, API, CLI).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{OdsCode, OrgKind};

/// Traffic Light Protocol 2.0, least restrictive first. Decides who may read an advisory.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
pub enum Tlp {
    #[serde(rename = "CLEAR", alias = "WHITE")]
    Clear,
    #[serde(rename = "GREEN")]
    Green,
    #[serde(rename = "AMBER")]
    Amber,
    #[serde(rename = "AMBER+STRICT")]
    AmberStrict,
    #[serde(rename = "RED")]
    Red,
}

impl Tlp {
    pub const ALL: [Tlp; 5] = [
        Tlp::Clear,
        Tlp::Green,
        Tlp::Amber,
        Tlp::AmberStrict,
        Tlp::Red,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Tlp::Clear => "CLEAR",
            Tlp::Green => "GREEN",
            Tlp::Amber => "AMBER",
            Tlp::AmberStrict => "AMBER+STRICT",
            Tlp::Red => "RED",
        }
    }

    /// Reads `TLP:AMBER+STRICT`, `amber+strict`, `white` (TLP 1.0, read as CLEAR), …
    pub fn parse(s: &str) -> Option<Tlp> {
        let t = s.trim().to_ascii_uppercase();
        let t = t.strip_prefix("TLP:").unwrap_or(&t);
        Some(match t {
            "CLEAR" | "WHITE" => Tlp::Clear,
            "GREEN" => Tlp::Green,
            "AMBER" => Tlp::Amber,
            "AMBER+STRICT" | "AMBER_STRICT" | "AMBER-STRICT" => Tlp::AmberStrict,
            "RED" => Tlp::Red,
            _ => return None,
        })
    }
}

/// Who an advisory goes to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AdvisoryTarget {
    /// Every member organisation.
    All,
    /// The members of one NHS England region.
    Region { region: String },
    /// The members of one kind (e.g. every acute trust).
    Kind { kind: OrgKind },
    /// An explicit list.
    Orgs { orgs: Vec<OdsCode> },
    /// The members exposed to a CVE, as the intelligence stage computes them.
    Cve { cve: String },
}

/// `draft` (not visible to members) → `published` (recipients fixed, deadlines running) →
/// `closed` (no more chasing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AdvisoryStatus {
    Draft,
    Published,
    Closed,
}

impl AdvisoryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AdvisoryStatus::Draft => "draft",
            AdvisoryStatus::Published => "published",
            AdvisoryStatus::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<AdvisoryStatus> {
        match s.trim().to_ascii_lowercase().as_str() {
            "draft" => Some(AdvisoryStatus::Draft),
            "published" => Some(AdvisoryStatus::Published),
            "closed" => Some(AdvisoryStatus::Closed),
            _ => None,
        }
    }
}

/// What the centre writes. `id`, status and times are assigned by the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AdvisoryContent {
    pub title: String,
    /// The threat in a few sentences.
    pub summary: String,
    /// `low`, `medium`, `high` or `critical`.
    pub severity: String,
    pub tlp: Tlp,
    /// Affected products as CPE 2.3 names or package URLs.
    #[serde(default)]
    pub affected: Vec<String>,
    /// What each recipient must do.
    #[serde(default)]
    pub actions: Vec<String>,
    #[serde(default)]
    pub references: Vec<String>,
    /// CVE ids the advisory is about.
    #[serde(default)]
    pub cves: Vec<String>,
    pub target: AdvisoryTarget,
}

/// The deadlines in force for one advisory, fixed when it is published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AdvisoryDeadlines {
    /// Time allowed to acknowledge (and to say whether it applies), from publication.
    pub ack_ms: i64,
    /// Time allowed between updates while remediation is under way.
    pub update_ms: i64,
    /// Time allowed to remediate and close, from publication.
    pub remediation_ms: i64,
}

impl Default for AdvisoryDeadlines {
    fn default() -> Self {
        AdvisoryDeadlines {
            ack_ms: 48 * 3_600_000,
            update_ms: 3 * 86_400_000,
            remediation_ms: 14 * 86_400_000,
        }
    }
}

/// An advisory as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Advisory {
    /// `HSA-2026-0001`: sequential per year.
    pub id: String,
    #[serde(flatten)]
    pub content: AdvisoryContent,
    pub status: AdvisoryStatus,
    /// `manual`, or what created the draft (e.g. `kev:CVE-2024-3400`).
    pub source: String,
    pub created_by: String,
    pub created_at: i64,
    pub published_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub deadlines: Option<AdvisoryDeadlines>,
}

/// Whether an advisory applies to a member, in its own words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Applicability {
    Applies,
    DoesNotApply,
}

impl Applicability {
    pub fn as_str(self) -> &'static str {
        match self {
            Applicability::Applies => "applies",
            Applicability::DoesNotApply => "does_not_apply",
        }
    }
    pub fn parse(s: &str) -> Option<Applicability> {
        match s
            .trim()
            .to_ascii_lowercase()
            .replace(['-', ' '], "_")
            .as_str()
        {
            "applies" | "yes" => Some(Applicability::Applies),
            "does_not_apply" | "not_applicable" | "no" => Some(Applicability::DoesNotApply),
            _ => None,
        }
    }
}

/// One recipient organisation's answers to one advisory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AdvisoryRecipient {
    pub advisory_id: String,
    pub org_code: OdsCode,
    /// When the advisory reached this member (its publication).
    pub notified_at: i64,
    pub acknowledged_at: Option<i64>,
    pub acknowledged_by: Option<String>,
    pub applicability: Option<Applicability>,
    pub applicability_note: Option<String>,
    pub responded_at: Option<i64>,
    pub responded_by: Option<String>,
    pub last_update_at: Option<i64>,
    pub update_count: i64,
    pub closed_at: Option<i64>,
    pub closed_by: Option<String>,
    pub close_note: Option<String>,
    /// Reminders queued for this member so far.
    pub reminders: i64,
}

/// One thing that happened on an advisory: who, when, what.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AdvisoryLogEntry {
    pub at: i64,
    pub org_code: Option<OdsCode>,
    pub actor: String,
    /// `created`, `published`, `closed`, `acknowledged`, `responded`, `update`,
    /// `remediated`, `reminder`.
    pub action: String,
    pub note: String,
}
