//! The records ward keeps about members, people and what happened, as the API shows them.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{OdsCode, OrgKind, Role};

/// A member organisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Organisation {
    pub ods_code: OdsCode,
    pub name: String,
    pub kind: OrgKind,
    /// NHS England region, e.g. "London" or "North East and Yorkshire".
    pub region: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub role: Role,
    /// The organisation a lead or viewer belongs to; none for central analysts.
    pub org_code: Option<OdsCode>,
    pub created_at: i64,
}

/// An organisation's API key as listed: the secret itself is never stored or shown again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ApiKey {
    pub id: String,
    pub org_code: OdsCode,
    pub label: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// A person to tell when something happens at an organisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Contact {
    pub id: i64,
    pub org_code: OdsCode,
    pub name: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    /// e.g. "security_lead", "deputy", "director", "on_call".
    pub role: String,
    pub created_at: i64,
}

/// A rule match on one event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Detection {
    pub id: i64,
    /// Offset of the event in the durable event log.
    pub event_offset: i64,
    pub org_code: String,
    pub rule_id: String,
    pub rule_title: String,
    pub rule_author: Option<String>,
    pub level: String,
    /// ATT&CK and other tags from the rule.
    pub tags: Vec<String>,
    #[schema(value_type = Object)]
    pub matched_fields: serde_json::Value,
    pub host: Option<String>,
    #[schema(value_type = Object)]
    pub event: serde_json::Value,
    pub received_at: i64,
    pub detected_at: i64,
    pub incident_id: i64,
}

/// `local`: one rule, one organisation, one host. `national`: one rule at several organisations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IncidentScope {
    Local,
    National,
}

impl IncidentScope {
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentScope::Local => "local",
            IncidentScope::National => "national",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Incident {
    pub id: i64,
    pub scope: IncidentScope,
    /// The rule that opened it.
    pub rule_id: String,
    /// Every rule whose detections it groups (several for a national outbreak).
    pub rules: Vec<String>,
    pub title: String,
    /// 1 (low) to 4 (critical), from the rule's level.
    pub severity: i64,
    pub org_code: Option<String>,
    pub host: Option<String>,
    pub status: String,
    /// The national incident this local one is part of.
    pub parent_id: Option<i64>,
    pub opened_at: i64,
    pub last_seen_at: i64,
    pub detection_count: i64,
    /// Organisations involved (1 for a local incident).
    pub organisations: Vec<String>,
}

/// A message to one contact about one incident, and what became of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Notification {
    pub id: i64,
    pub incident_id: i64,
    pub org_code: String,
    pub contact_id: Option<i64>,
    pub contact_name: String,
    /// `sms`, `email` or `log`.
    pub channel: String,
    pub destination: String,
    pub subject: String,
    pub body: String,
    /// Unique per message; sent to GOV.UK Notify as `reference`.
    pub reference: String,
    /// `pending`, `sent` or `failed`.
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub created_at: i64,
    pub sent_at: Option<i64>,
    pub provider_id: Option<String>,
    pub attempt_log: Vec<NotificationAttempt>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NotificationAttempt {
    pub attempted_at: i64,
    pub duration_ms: i64,
    /// `accepted`, `retryable` or `permanent`.
    pub outcome: String,
    pub http_status: Option<i64>,
    pub detail: String,
}

/// A Sigma meta filter an organisation applies to its own detections.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MetaFilter {
    pub id: i64,
    pub org_code: OdsCode,
    pub name: String,
    /// The filter document (Sigma `filter:` rule, YAML).
    pub yaml: String,
    pub created_at: i64,
}

/// One change of an incident's status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TimelineEntry {
    pub at: i64,
    /// Who made the change (a user's e-mail address).
    pub actor: String,
    pub from_status: String,
    pub to_status: String,
    pub comment: String,
}

/// The statuses an incident moves through.
pub const INCIDENT_STATUSES: &[&str] = &[
    "new",
    "acknowledged",
    "investigating",
    "contained",
    "resolved",
    "false_positive",
];

/// Whether an incident may move from `from` to `to`: forward along new → acknowledged →
/// investigating → contained → resolved (steps may be skipped), or to false_positive from any
/// open status. Resolved and false-positive incidents are closed.
pub fn incident_transition_allowed(from: &str, to: &str) -> bool {
    let rank = |s: &str| INCIDENT_STATUSES[..5].iter().position(|x| *x == s);
    if matches!(from, "resolved" | "false_positive") {
        return false;
    }
    if to == "false_positive" {
        return true;
    }
    matches!((rank(from), rank(to)), (Some(a), Some(b)) if b > a)
}
