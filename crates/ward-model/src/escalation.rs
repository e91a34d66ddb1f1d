//! Who is chased about what, and how: escalation policies, on-call rotas, silences, chases
//! and an incident's triage fields (severity, TLP, assignees), as the API shows them.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::OdsCode;

/// Who one escalation step reaches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StepTarget {
    /// One contact, of any organisation (the regional lead at the centre, say).
    Contact { contact_id: i64 },
    /// Every contact of the chased organisation with this role (`deputy`, `director`, ...).
    Role { role: String },
    /// Whoever is on call on this rota when the step fires.
    Rota { rota_id: i64 },
}

/// One step of a policy: after `delay_secs` without acknowledgement, reach `targets`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EscalationStep {
    /// Seconds after the previous step (after the incident opened, for the first).
    pub delay_secs: u64,
    pub targets: Vec<StepTarget>,
    /// Channels in order of preference (`sms`, `email`): the first the contact has is used;
    /// the next ones are the failover when it fails or delivers nothing in time.
    pub channels: Vec<String>,
}

/// How an organisation's incidents of at least `min_severity` are chased until acknowledged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EscalationPolicy {
    pub id: i64,
    pub org_code: OdsCode,
    pub name: String,
    /// 1 (low) to 4 (critical): the policy applies to incidents at least this severe; the
    /// most specific (highest) matching policy wins.
    pub min_severity: i64,
    pub steps: Vec<EscalationStep>,
    /// Seconds between the last step and the first step of the next round.
    pub repeat_delay_secs: u64,
    /// Rounds before the chase gives up (and says so on `/metrics`).
    pub max_rounds: i64,
    pub created_at: i64,
}

/// How often an on-call rota hands over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RotaPeriod {
    Daily,
    Weekly,
}

impl RotaPeriod {
    pub fn as_str(self) -> &'static str {
        match self {
            RotaPeriod::Daily => "daily",
            RotaPeriod::Weekly => "weekly",
        }
    }
    pub fn millis(self) -> i64 {
        match self {
            RotaPeriod::Daily => 86_400_000,
            RotaPeriod::Weekly => 7 * 86_400_000,
        }
    }
    pub fn parse(s: &str) -> Option<RotaPeriod> {
        match s {
            "daily" => Some(RotaPeriod::Daily),
            "weekly" => Some(RotaPeriod::Weekly),
            _ => None,
        }
    }
}

/// Members take turns, one period each, from `starts_at` (the first handover).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Rota {
    pub id: i64,
    pub org_code: OdsCode,
    pub name: String,
    pub period: RotaPeriod,
    /// Epoch ms of the first handover; later handovers are whole periods after it.
    pub starts_at: i64,
    /// Contact ids, in turn order.
    pub members: Vec<i64>,
    pub created_at: i64,
}

/// Who is on call on a rota, and for how long it stays that way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OnCall {
    pub rota_id: i64,
    pub contact_id: i64,
    /// The turn (or override) began at this instant…
    pub from: i64,
    /// …and ends at this one.
    pub until: i64,
    /// The override in force, when someone is covering.
    pub override_id: Option<i64>,
}

/// Someone covering a rota between two instants (holiday swap, sickness).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RotaOverride {
    pub id: i64,
    pub rota_id: i64,
    pub contact_id: i64,
    pub starts_at: i64,
    pub ends_at: i64,
    pub reason: String,
    pub created_at: i64,
}

/// One condition of a silence: `field` is `rule_id`, `org`, `host`, or `event.<path>` (a
/// dotted path into the event), compared for equality with `value`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SilenceMatcher {
    pub field: String,
    pub value: String,
}

/// Detections matching every matcher, until `expires_at`, are stored marked silenced and
/// open or notify nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Silence {
    pub id: i64,
    /// The organisation it is limited to; none for a federation-wide silence (analysts only).
    pub org_code: Option<OdsCode>,
    pub matchers: Vec<SilenceMatcher>,
    pub reason: String,
    pub author: String,
    pub created_at: i64,
    pub expires_at: i64,
}

/// The chase of one target (an incident or an advisory) at one organisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Chase {
    pub id: i64,
    /// `incident` or `advisory`.
    pub target_kind: String,
    pub target_id: i64,
    pub org_code: String,
    pub policy_id: i64,
    /// `active`, `acknowledged`, `inhibited`, `closed` or `exhausted`.
    pub state: String,
    /// Steps fired so far, counting across rounds.
    pub steps_fired: i64,
    /// When the next step fires, while active.
    pub next_due_at: i64,
    pub started_at: i64,
    pub ended_at: Option<i64>,
    /// Who or what ended it.
    pub ended_by: Option<String>,
    pub subject: String,
    pub body: String,
}

/// An incident's triage fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Triage {
    pub incident_id: i64,
    /// 1 (low) to 4 (critical), as TheHive.
    pub severity: i64,
    /// Traffic Light Protocol 2.0: `clear`, `green`, `amber`, `amber+strict` or `red`.
    pub tlp: String,
    /// Who works on it (e-mail addresses or names).
    pub assignees: Vec<String>,
}

/// TLP 2.0 labels, most shareable first.
pub const TLP_LABELS: &[&str] = &["clear", "green", "amber", "amber+strict", "red"];
