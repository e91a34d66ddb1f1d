//! Advisories (High Severity Alerts): who receives one, what each recipient owes and by when,
//! who is behind, and who may read it. Pure functions of records and a time, so every rule is
//! unit tested with times and the chase task (or, later, an escalation policy) only has to act
//! on what they return.
//!
//! Each recipient must, from publication:
//! 1. acknowledge within `ack_ms` (48 hours by default);
//! 2. say within the same time whether the advisory applies;
//! 3. when it applies, post an update at least every `update_ms` (3 days) until it is closed;
//! 4. when it applies, close it (remediated) within `remediation_ms` (14 days).
//!
//! ```
//! use ward_alerting::advisories::{chase_plan, Stage};
//! use ward_model::advisory::{AdvisoryDeadlines, AdvisoryRecipient};
//! let d = AdvisoryDeadlines::default();
//! let r = AdvisoryRecipient {
//!     advisory_id: "HSA-2026-0001".into(), org_code: "RJ1".parse().unwrap(), notified_at: 0,
//!     acknowledged_at: None, acknowledged_by: None, applicability: None,
//!     applicability_note: None, responded_at: None, responded_by: None, last_update_at: None,
//!     update_count: 0, closed_at: None, closed_by: None, close_note: None, reminders: 0,
//! };
//! // 49 hours after publication nobody has acknowledged: both first steps are overdue.
//! let plan = chase_plan(&r, &d, 49 * 3_600_000);
//! assert!(plan.iter().all(|x| x.stage == Stage::Overdue));
//! assert_eq!(plan.len(), 2);
//! ```

use serde::Serialize;
use ward_model::advisory::{
    AdvisoryContent, AdvisoryDeadlines, AdvisoryRecipient, AdvisoryStatus, AdvisoryTarget,
    Applicability, Tlp,
};
use ward_model::records::Organisation;
use ward_model::{OdsCode, Role};

/// Why something about an advisory was refused. `code()` is stable (API error code).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdvisoryError {
    #[error("advisory {id} is {status}; {what}")]
    WrongStatus {
        id: String,
        status: &'static str,
        what: String,
    },
    #[error("{org} has already {what} advisory {id}")]
    AlreadyDone {
        id: String,
        org: OdsCode,
        what: &'static str,
    },
    #[error("{0}")]
    NotYet(String),
    #[error("unknown organisations in the target list: {}", .0.join(", "))]
    UnknownOrgs(Vec<String>),
    #[error("no exposure source can say who is exposed to {0}; list the organisations instead")]
    NoExposureSource(String),
    #[error("the exposure source failed for {cve}: {reason}")]
    Exposure { cve: String, reason: String },
    #[error("the target matches no member organisation")]
    NoRecipients,
    #[error("{0}")]
    Invalid(String),
}

impl AdvisoryError {
    pub fn code(&self) -> &'static str {
        match self {
            AdvisoryError::WrongStatus { .. } => "advisory_wrong_status",
            AdvisoryError::AlreadyDone { .. } => "advisory_already_done",
            AdvisoryError::NotYet(_) => "advisory_step_out_of_order",
            AdvisoryError::UnknownOrgs(_) => "unknown_organisations",
            AdvisoryError::NoExposureSource(_) => "no_exposure_source",
            AdvisoryError::Exposure { .. } => "exposure_source_failed",
            AdvisoryError::NoRecipients => "no_recipients",
            AdvisoryError::Invalid(_) => "invalid_advisory",
        }
    }
}

/// Says which members are exposed to a CVE (from their asset inventories, scans, SBOMs).
/// The intelligence stage implements it; the advisory stage only asks.
pub trait ExposureSource: Send + Sync {
    fn exposed_to(&self, cve: &str) -> Result<Vec<OdsCode>, String>;
}

/// The fixed answer of a list computed elsewhere: lets a caller that already knows who is
/// exposed (or a test) stand in for the intelligence stage.
pub struct ExposureList(pub Vec<(String, Vec<OdsCode>)>);

impl ExposureSource for ExposureList {
    fn exposed_to(&self, cve: &str) -> Result<Vec<OdsCode>, String> {
        Ok(self
            .0
            .iter()
            .filter(|(c, _)| c.eq_ignore_ascii_case(cve))
            .flat_map(|(_, orgs)| orgs.iter().cloned())
            .collect())
    }
}

/// The recipients of `target` among `members`, sorted and without duplicates.
pub fn resolve_recipients(
    target: &AdvisoryTarget,
    members: &[Organisation],
    exposure: Option<&dyn ExposureSource>,
) -> Result<Vec<OdsCode>, AdvisoryError> {
    let mut out: Vec<OdsCode> = match target {
        AdvisoryTarget::All => members.iter().map(|o| o.ods_code.clone()).collect(),
        AdvisoryTarget::Region { region } => members
            .iter()
            .filter(|o| o.region.eq_ignore_ascii_case(region.trim()))
            .map(|o| o.ods_code.clone())
            .collect(),
        AdvisoryTarget::Kind { kind } => members
            .iter()
            .filter(|o| o.kind == *kind)
            .map(|o| o.ods_code.clone())
            .collect(),
        AdvisoryTarget::Orgs { orgs } => {
            let unknown: Vec<String> = orgs
                .iter()
                .filter(|c| !members.iter().any(|m| &m.ods_code == *c))
                .map(|c| c.to_string())
                .collect();
            if !unknown.is_empty() {
                return Err(AdvisoryError::UnknownOrgs(unknown));
            }
            orgs.clone()
        }
        AdvisoryTarget::Cve { cve } => {
            let source = exposure.ok_or_else(|| AdvisoryError::NoExposureSource(cve.clone()))?;
            let exposed = source
                .exposed_to(cve)
                .map_err(|reason| AdvisoryError::Exposure {
                    cve: cve.clone(),
                    reason,
                })?;
            // Only members: an exposure feed may know organisations that are not (yet) members.
            exposed
                .into_iter()
                .filter(|c| members.iter().any(|m| &m.ods_code == c))
                .collect()
        }
    };
    out.sort();
    out.dedup();
    if out.is_empty() {
        return Err(AdvisoryError::NoRecipients);
    }
    Ok(out)
}

/// Checks an advisory before it is stored: a title, a known severity, a target that makes
/// sense.
pub fn validate_content(c: &AdvisoryContent) -> Result<(), AdvisoryError> {
    if c.title.trim().is_empty() {
        return Err(AdvisoryError::Invalid("an advisory needs a title".into()));
    }
    if c.summary.trim().is_empty() {
        return Err(AdvisoryError::Invalid(
            "an advisory needs a threat summary".into(),
        ));
    }
    if !matches!(c.severity.as_str(), "low" | "medium" | "high" | "critical") {
        return Err(AdvisoryError::Invalid(format!(
            "severity {:?}; expected low, medium, high or critical",
            c.severity
        )));
    }
    match &c.target {
        AdvisoryTarget::Orgs { orgs } if orgs.is_empty() => Err(AdvisoryError::Invalid(
            "target type orgs needs at least one organisation".into(),
        )),
        AdvisoryTarget::Region { region } if region.trim().is_empty() => Err(
            AdvisoryError::Invalid("target type region needs a region".into()),
        ),
        AdvisoryTarget::Cve { cve } if !looks_like_cve(cve) => Err(AdvisoryError::Invalid(
            format!("{cve:?} is not a CVE id (CVE-YYYY-NNNN)"),
        )),
        _ => Ok(()),
    }
}

fn looks_like_cve(s: &str) -> bool {
    let mut parts = s.split('-');
    matches!(
        (parts.next(), parts.next(), parts.next(), parts.next()),
        (Some(p), Some(y), Some(n), None)
            if p.eq_ignore_ascii_case("CVE") && y.len() == 4 && y.bytes().all(|b| b.is_ascii_digit())
                && n.len() >= 4 && n.bytes().all(|b| b.is_ascii_digit())
    )
}

/// `HSA-2026-0007`: the seventh advisory of 2026.
pub fn advisory_id(year: i64, seq: i64) -> String {
    format!("HSA-{year}-{seq:04}")
}

/// The UTC calendar year of an epoch-millisecond instant.
pub fn year_of(ms: i64) -> i64 {
    ward_model::clock::rfc3339(ms)
        .get(..4)
        .and_then(|y| y.parse().ok())
        .unwrap_or(1970)
}

/// The draft a new CISA KEV entry becomes: aimed at the members exposed to the CVE, TLP:CLEAR
/// (KEV is public), high severity (exploited in the wild). A person reviews and publishes it.
pub fn kev_draft(
    cve: &str,
    vendor: &str,
    product: &str,
    name: &str,
    description: &str,
    required_action: &str,
    due_date: Option<&str>,
) -> AdvisoryContent {
    let mut actions = vec![required_action.trim().to_string()];
    if let Some(due) = due_date {
        actions.push(format!("CISA's deadline for US federal agencies: {due}"));
    }
    AdvisoryContent {
        title: format!("{cve}: {name}"),
        summary: format!(
            "{vendor} {product}: {description} CISA lists it as known to be exploited in the wild."
        ),
        severity: "high".into(),
        tlp: Tlp::Clear,
        affected: vec![format!(
            "cpe:2.3:a:{}:{}:*:*:*:*:*:*:*:*",
            cpe_part(vendor),
            cpe_part(product)
        )],
        actions,
        references: vec![format!("https://nvd.nist.gov/vuln/detail/{cve}")],
        cves: vec![cve.to_string()],
        target: AdvisoryTarget::Cve {
            cve: cve.to_string(),
        },
    }
}

fn cpe_part(s: &str) -> String {
    s.trim()
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// Whether an advisory may move from `from` to `to`: draft → published → closed, or a draft
/// discarded (closed) without being published.
pub fn status_transition_allowed(from: AdvisoryStatus, to: AdvisoryStatus) -> bool {
    matches!(
        (from, to),
        (AdvisoryStatus::Draft, AdvisoryStatus::Published)
            | (AdvisoryStatus::Draft, AdvisoryStatus::Closed)
            | (AdvisoryStatus::Published, AdvisoryStatus::Closed)
    )
}

/// Who is reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    Central,
    /// A person of a member organisation.
    Person(Role),
    /// A member organisation's system (API key).
    System,
}

/// TLP on reads. Central analysts read everything. Members never see drafts. Beyond that:
/// CLEAR and GREEN (community) reach every member; AMBER only the recipients; AMBER+STRICT only
/// the recipients' people, not their systems (which pass data on); RED only the recipients'
/// leads, named individuals.
pub fn may_read(tlp: Tlp, status: AdvisoryStatus, reader: Reader, is_recipient: bool) -> bool {
    if reader == Reader::Central {
        return true;
    }
    if status == AdvisoryStatus::Draft {
        return false;
    }
    match tlp {
        Tlp::Clear | Tlp::Green => true,
        Tlp::Amber => is_recipient,
        Tlp::AmberStrict => is_recipient && matches!(reader, Reader::Person(_)),
        Tlp::Red => is_recipient && reader == Reader::Person(Role::OrgLead),
    }
}

/// What a recipient does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Acknowledge,
    /// Says whether it applies.
    Respond(Applicability),
    Update,
    /// Remediated.
    Close,
}

/// Checks that `action` makes sense now for this recipient of an advisory in `status`.
pub fn check_action(
    status: AdvisoryStatus,
    r: &AdvisoryRecipient,
    action: Action,
) -> Result<(), AdvisoryError> {
    let id = r.advisory_id.clone();
    if status != AdvisoryStatus::Published {
        return Err(AdvisoryError::WrongStatus {
            id,
            status: status.as_str(),
            what: "only a published advisory takes responses".into(),
        });
    }
    if r.closed_at.is_some() {
        return Err(AdvisoryError::AlreadyDone {
            id,
            org: r.org_code.clone(),
            what: "closed",
        });
    }
    match action {
        Action::Acknowledge if r.acknowledged_at.is_some() => Err(AdvisoryError::AlreadyDone {
            id,
            org: r.org_code.clone(),
            what: "acknowledged",
        }),
        Action::Update | Action::Close if r.applicability != Some(Applicability::Applies) => {
            Err(AdvisoryError::NotYet(format!(
                "{} has not said that advisory {id} applies; respond `applies` first",
                r.org_code
            )))
        }
        _ => Ok(()),
    }
}

/// A step a recipient owes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Acknowledge,
    Respond,
    Update,
    Remediate,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Acknowledge => "acknowledge",
            Step::Respond => "respond",
            Step::Update => "update",
            Step::Remediate => "remediate",
        }
    }
    fn window(self, d: &AdvisoryDeadlines) -> i64 {
        match self {
            Step::Acknowledge | Step::Respond => d.ack_ms,
            Step::Update => d.update_ms,
            Step::Remediate => d.remediation_ms,
        }
    }
}

/// How a step stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepState {
    DoneOnTime,
    DoneLate,
    Pending,
    Overdue,
    NotRequired,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepReport {
    pub step: Step,
    pub due_at: Option<i64>,
    pub done_at: Option<i64>,
    pub state: StepState,
}

/// Each step's deadline and completion for one recipient. The update step's deadline is the
/// next update's (from the last update, or from the response that said it applies).
pub fn steps(r: &AdvisoryRecipient, d: &AdvisoryDeadlines, now: i64) -> Vec<StepReport> {
    let t0 = r.notified_at;
    let report = |step: Step, due: Option<i64>, done: Option<i64>| {
        let state = match (due, done) {
            (None, _) => StepState::NotRequired,
            (Some(due), Some(at)) if at <= due => StepState::DoneOnTime,
            (Some(_), Some(_)) => StepState::DoneLate,
            (Some(due), None) if now > due => StepState::Overdue,
            (Some(_), None) => StepState::Pending,
        };
        StepReport {
            step,
            due_at: due,
            done_at: done,
            state,
        }
    };
    // Saying whether it applies acknowledges it too.
    let acked = r.acknowledged_at.or(r.responded_at);
    let applies = r.applicability == Some(Applicability::Applies);
    let update_due = if applies && r.closed_at.is_none() {
        r.last_update_at.or(r.responded_at).map(|t| t + d.update_ms)
    } else {
        None
    };
    vec![
        report(Step::Acknowledge, Some(t0 + d.ack_ms), acked),
        report(Step::Respond, Some(t0 + d.ack_ms), r.responded_at),
        report(Step::Update, update_due, None),
        report(
            Step::Remediate,
            (applies || r.applicability.is_none()).then_some(t0 + d.remediation_ms),
            r.closed_at,
        ),
    ]
}

/// A member's standing on one advisory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Standing {
    /// Closed (remediated), or said it does not apply.
    Complete,
    /// Nothing overdue.
    OnTrack,
    /// At least one step past its deadline.
    Overdue,
}

/// The member's standing: complete, on track or overdue.
pub fn standing(r: &AdvisoryRecipient, d: &AdvisoryDeadlines, now: i64) -> Standing {
    let done = r.closed_at.is_some()
        || (r.applicability == Some(Applicability::DoesNotApply) && r.responded_at.is_some());
    if done {
        return Standing::Complete;
    }
    if steps(r, d, now)
        .iter()
        .any(|s| s.state == StepState::Overdue)
    {
        Standing::Overdue
    } else {
        Standing::OnTrack
    }
}

/// When a reminder is sent: ahead of a deadline, and once it has passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    DueSoon,
    Overdue,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::DueSoon => "due",
            Stage::Overdue => "overdue",
        }
    }
}

/// One reminder to send to a recipient's contacts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reminder {
    pub advisory_id: String,
    pub org: OdsCode,
    pub step: Step,
    pub stage: Stage,
    pub due_at: i64,
}

impl Reminder {
    /// The outbox reference for this reminder to one contact on one channel. The same
    /// reminder always has the same reference, so a chase pass repeated after a restart finds
    /// it already queued and sends nothing twice. The deadline is part of it because the
    /// update step comes round again after each update.
    pub fn reference(&self, contact_id: i64, channel: &str) -> String {
        format!(
            "ward-{}-{}-{}-{}-{}-c{contact_id}-{channel}",
            self.advisory_id.to_ascii_lowercase(),
            self.org.as_str().to_ascii_lowercase(),
            self.step.as_str(),
            self.due_at,
            self.stage.as_str()
        )
    }
}

/// How long before a deadline the first reminder goes: a quarter of the step's window, at
/// most a day (12 hours before a 48-hour acknowledgement deadline).
pub fn lead_time(window_ms: i64) -> i64 {
    (window_ms / 4).clamp(0, 86_400_000)
}

/// What is due for one recipient now: for each open step, the latest stage reached. A step
/// whose deadline has passed is reminded as overdue only; the stale "due soon" is skipped.
pub fn chase_plan(r: &AdvisoryRecipient, d: &AdvisoryDeadlines, now: i64) -> Vec<Reminder> {
    if standing(r, d, now) == Standing::Complete {
        return Vec::new();
    }
    steps(r, d, now)
        .into_iter()
        .filter(|s| s.done_at.is_none())
        .filter_map(|s| {
            let due = s.due_at?;
            let stage = if now > due {
                Stage::Overdue
            } else if now >= due - lead_time(s.step.window(d)) {
                Stage::DueSoon
            } else {
                return None;
            };
            Some(Reminder {
                advisory_id: r.advisory_id.clone(),
                org: r.org_code.clone(),
                step: s.step,
                stage,
                due_at: due,
            })
        })
        .collect()
}

/// The words of a reminder (SMS-sized) and its e-mail subject.
pub fn reminder_text(rem: &Reminder, title: &str, link: &str) -> (String, String) {
    let what = match rem.step {
        Step::Acknowledge => "acknowledge it",
        Step::Respond => "say whether it applies to you",
        Step::Update => "post a progress update",
        Step::Remediate => "remediate and close it",
    };
    let when = ward_model::clock::rfc3339(rem.due_at);
    let subject = match rem.stage {
        Stage::DueSoon => format!("[ward] {} due: {what}", rem.advisory_id),
        Stage::Overdue => format!("[ward] {} OVERDUE: {what}", rem.advisory_id),
    };
    let body = match rem.stage {
        Stage::DueSoon => format!(
            "ward: {} for {} is due by {when}: {what}. {title}. {link}",
            rem.advisory_id, rem.org
        ),
        Stage::Overdue => format!(
            "ward: {} for {} is OVERDUE since {when}: {what} now. {title}. {link}",
            rem.advisory_id, rem.org
        ),
    };
    (subject, body.chars().take(459).collect())
}

/// Stores the draft for a new KEV entry (see [`kev_draft`]) unless one was made for that CVE
/// before. Returns the draft and whether this call created it, so a feed read twice makes one.
pub async fn create_kev_draft(
    store: &ward_storage::Store,
    content: &AdvisoryContent,
    at: i64,
) -> Result<(ward_model::advisory::Advisory, bool), ward_storage::StoreError> {
    let cve = content.cves.first().cloned().unwrap_or_default();
    let key = format!("kev:{}", cve.to_ascii_uppercase());
    if let Some(existing) = store.advisory_by_source_key(&key).await? {
        return Ok((existing, false));
    }
    match store
        .create_advisory(content, year_of(at), &key, Some(&key), "kev-feed", at)
        .await
    {
        Ok(a) => Ok((a, true)),
        // Another reader of the feed got there first.
        Err(ward_storage::StoreError::Conflict(_)) => store
            .advisory_by_source_key(&key)
            .await?
            .map(|a| (a, false))
            .ok_or_else(|| ward_storage::StoreError::NotFound(format!("advisory from {key}"))),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ward_model::OrgKind;

    const H: i64 = 3_600_000;
    const DAY: i64 = 24 * H;

    fn ods(s: &str) -> OdsCode {
        s.parse().unwrap()
    }

    fn recipient(t0: i64) -> AdvisoryRecipient {
        AdvisoryRecipient {
            advisory_id: "HSA-2026-0001".into(),
            org_code: ods("RJ1"),
            notified_at: t0,
            acknowledged_at: None,
            acknowledged_by: None,
            applicability: None,
            applicability_note: None,
            responded_at: None,
            responded_by: None,
            last_update_at: None,
            update_count: 0,
            closed_at: None,
            closed_by: None,
            close_note: None,
            reminders: 0,
        }
    }

    fn org(code: &str, kind: OrgKind, region: &str) -> Organisation {
        Organisation {
            ods_code: ods(code),
            name: code.into(),
            kind,
            region: region.into(),
            created_at: 0,
        }
    }

    fn members() -> Vec<Organisation> {
        vec![
            org("RJ1", OrgKind::AcuteTrust, "London"),
            org("RRV", OrgKind::AcuteTrust, "London"),
            org("B82005", OrgKind::GpPractice, "North East and Yorkshire"),
            org("RX9", OrgKind::AmbulanceTrust, "Midlands"),
        ]
    }

    #[test]
    fn ids_are_sequential_per_year() {
        assert_eq!(advisory_id(2026, 1), "HSA-2026-0001");
        assert_eq!(advisory_id(2026, 12345), "HSA-2026-12345");
        assert_eq!(year_of(1_795_892_681_123), 2026);
        assert_eq!(year_of(0), 1970);
    }

    #[test]
    fn targets_resolve_to_members() {
        let m = members();
        let region = AdvisoryTarget::Region {
            region: "london".into(),
        };
        assert_eq!(
            resolve_recipients(&region, &m, None).unwrap(),
            vec![ods("RJ1"), ods("RRV")]
        );
        let kind = AdvisoryTarget::Kind {
            kind: OrgKind::AmbulanceTrust,
        };
        assert_eq!(
            resolve_recipients(&kind, &m, None).unwrap(),
            vec![ods("RX9")]
        );
        assert_eq!(
            resolve_recipients(&AdvisoryTarget::All, &m, None)
                .unwrap()
                .len(),
            4
        );
        let list = AdvisoryTarget::Orgs {
            orgs: vec![ods("RX9"), ods("RJ1"), ods("RJ1")],
        };
        assert_eq!(
            resolve_recipients(&list, &m, None).unwrap(),
            vec![ods("RJ1"), ods("RX9")]
        );
        let bad = AdvisoryTarget::Orgs {
            orgs: vec![ods("ZZZ9")],
        };
        assert_eq!(
            resolve_recipients(&bad, &m, None),
            Err(AdvisoryError::UnknownOrgs(vec!["ZZZ9".into()]))
        );
        let nobody = AdvisoryTarget::Region {
            region: "Wales".into(),
        };
        assert_eq!(
            resolve_recipients(&nobody, &m, None),
            Err(AdvisoryError::NoRecipients)
        );
    }

    #[test]
    fn cve_targets_ask_the_exposure_source_and_keep_members_only() {
        let m = members();
        let target = AdvisoryTarget::Cve {
            cve: "CVE-2024-3400".into(),
        };
        assert!(matches!(
            resolve_recipients(&target, &m, None),
            Err(AdvisoryError::NoExposureSource(_))
        ));
        let source = ExposureList(vec![(
            "cve-2024-3400".into(),
            vec![ods("RRV"), ods("NOTAMEMBER")],
        )]);
        assert_eq!(
            resolve_recipients(&target, &m, Some(&source)).unwrap(),
            vec![ods("RRV")]
        );
    }

    #[test]
    fn content_is_validated() {
        let mut c = kev_draft(
            "CVE-2024-3400",
            "Palo Alto Networks",
            "PAN-OS",
            "PAN-OS Command Injection",
            "A command injection in GlobalProtect.",
            "Apply mitigations per vendor instructions.",
            Some("2024-04-19"),
        );
        assert_eq!(validate_content(&c), Ok(()));
        assert_eq!(
            c.affected[0],
            "cpe:2.3:a:palo_alto_networks:pan_os:*:*:*:*:*:*:*:*"
        );
        c.severity = "urgent".into();
        assert!(validate_content(&c).is_err());
        c.severity = "high".into();
        c.target = AdvisoryTarget::Cve {
            cve: "CVE-24-1".into(),
        };
        assert!(validate_content(&c).is_err());
        c.target = AdvisoryTarget::Orgs { orgs: vec![] };
        assert!(validate_content(&c).is_err());
    }

    #[test]
    fn lifecycle_moves_forward_only() {
        use AdvisoryStatus::*;
        assert!(status_transition_allowed(Draft, Published));
        assert!(status_transition_allowed(Published, Closed));
        assert!(status_transition_allowed(Draft, Closed));
        assert!(!status_transition_allowed(Published, Draft));
        assert!(!status_transition_allowed(Closed, Published));
        assert!(!status_transition_allowed(Published, Published));
    }

    #[test]
    fn tlp_decides_who_reads() {
        use AdvisoryStatus::*;
        let lead = Reader::Person(Role::OrgLead);
        let viewer = Reader::Person(Role::OrgViewer);
        assert!(may_read(Tlp::Red, Draft, Reader::Central, false));
        assert!(
            !may_read(Tlp::Clear, Draft, lead, true),
            "drafts are the centre's"
        );
        assert!(may_read(Tlp::Green, Published, Reader::System, false));
        assert!(may_read(Tlp::Amber, Published, Reader::System, true));
        assert!(!may_read(Tlp::Amber, Published, lead, false));
        assert!(may_read(Tlp::AmberStrict, Published, viewer, true));
        assert!(!may_read(Tlp::AmberStrict, Published, Reader::System, true));
        assert!(may_read(Tlp::Red, Closed, lead, true));
        assert!(!may_read(Tlp::Red, Published, viewer, true));
    }

    #[test]
    fn deadlines_follow_publication_and_updates() {
        let d = AdvisoryDeadlines::default();
        let t0 = 1_000 * DAY;
        let mut r = recipient(t0);
        let s = steps(&r, &d, t0 + H);
        assert_eq!(s[0].due_at, Some(t0 + 48 * H));
        assert_eq!(s[0].state, StepState::Pending);
        assert_eq!(s[2].state, StepState::NotRequired, "no update owed yet");
        assert_eq!(s[3].due_at, Some(t0 + 14 * DAY));
        assert_eq!(standing(&r, &d, t0 + H), Standing::OnTrack);
        assert_eq!(standing(&r, &d, t0 + 49 * H), Standing::Overdue);

        // Acknowledged on time, then says it applies a little late.
        r.acknowledged_at = Some(t0 + 2 * H);
        r.responded_at = Some(t0 + 50 * H);
        r.applicability = Some(Applicability::Applies);
        let s = steps(&r, &d, t0 + 51 * H);
        assert_eq!(s[0].state, StepState::DoneOnTime);
        assert_eq!(s[1].state, StepState::DoneLate);
        assert_eq!(s[2].due_at, Some(t0 + 50 * H + 3 * DAY));
        assert_eq!(s[2].state, StepState::Pending);
        // No update for more than three days: overdue; an update moves the deadline.
        assert_eq!(
            standing(&r, &d, t0 + 50 * H + 3 * DAY + 1),
            Standing::Overdue
        );
        r.last_update_at = Some(t0 + 4 * DAY);
        let s = steps(&r, &d, t0 + 5 * DAY);
        assert_eq!(s[2].due_at, Some(t0 + 7 * DAY));
        // Fourteen days pass without closing: remediation overdue; closing completes it.
        assert_eq!(s[3].state, StepState::Pending);
        let s = steps(&r, &d, t0 + 15 * DAY);
        assert_eq!(s[3].state, StepState::Overdue);
        r.closed_at = Some(t0 + 15 * DAY);
        let s = steps(&r, &d, t0 + 16 * DAY);
        assert_eq!(s[3].state, StepState::DoneLate);
        assert_eq!(s[2].state, StepState::NotRequired);
        assert_eq!(standing(&r, &d, t0 + 16 * DAY), Standing::Complete);
    }

    #[test]
    fn not_applicable_completes_without_remediation() {
        let d = AdvisoryDeadlines::default();
        let mut r = recipient(0);
        r.responded_at = Some(H);
        r.applicability = Some(Applicability::DoesNotApply);
        let s = steps(&r, &d, 30 * DAY);
        assert_eq!(s[0].state, StepState::DoneOnTime, "responding acknowledges");
        assert_eq!(s[3].state, StepState::NotRequired);
        assert_eq!(standing(&r, &d, 30 * DAY), Standing::Complete);
        assert!(chase_plan(&r, &d, 30 * DAY).is_empty());
    }

    #[test]
    fn chasing_warns_before_and_after_each_deadline_once() {
        let d = AdvisoryDeadlines::default();
        let r = recipient(0);
        assert!(chase_plan(&r, &d, 35 * H).is_empty(), "nothing due yet");
        let soon = chase_plan(&r, &d, 36 * H);
        assert_eq!(soon.len(), 2);
        assert!(soon.iter().all(|x| x.stage == Stage::DueSoon));
        let late = chase_plan(&r, &d, 48 * H + 1);
        assert!(late.iter().all(|x| x.stage == Stage::Overdue));
        // Deterministic references: the same reminder, asked twice, is the same message.
        assert_eq!(
            late[0].reference(7, "sms"),
            chase_plan(&r, &d, 60 * H)[0].reference(7, "sms")
        );
        assert_ne!(late[0].reference(7, "sms"), soon[0].reference(7, "sms"));
        assert_eq!(
            late[0].reference(7, "sms"),
            format!(
                "ward-hsa-2026-0001-rj1-acknowledge-{}-overdue-c7-sms",
                48 * H
            )
        );
        // Each update cycle has its own deadline, hence its own reminders.
        let mut r = recipient(0);
        r.responded_at = Some(H);
        r.applicability = Some(Applicability::Applies);
        let a = chase_plan(&r, &d, H + 3 * DAY + 1);
        r.last_update_at = Some(H + 3 * DAY + 5);
        let b = chase_plan(&r, &d, H + 6 * DAY + 10);
        let upd = |p: &[Reminder]| p.iter().find(|x| x.step == Step::Update).cloned();
        assert_ne!(
            upd(&a).unwrap().reference(1, "sms"),
            upd(&b).unwrap().reference(1, "sms")
        );
    }

    #[tokio::test]
    async fn a_kev_entry_makes_one_draft() {
        let store = ward_storage::Store::connect("sqlite::memory:", 1)
            .await
            .unwrap();
        let c = kev_draft(
            "CVE-2024-3400",
            "Palo Alto Networks",
            "PAN-OS",
            "PAN-OS Command Injection",
            "A command injection in GlobalProtect.",
            "Apply mitigations per vendor instructions.",
            None,
        );
        let at = 1_795_892_681_123;
        let (a, created) = create_kev_draft(&store, &c, at).await.unwrap();
        assert!(created);
        assert_eq!(a.id, "HSA-2026-0001");
        assert_eq!(a.status, AdvisoryStatus::Draft);
        assert_eq!(a.source, "kev:CVE-2024-3400");
        let (again, created) = create_kev_draft(&store, &c, at + 1).await.unwrap();
        assert!(!created);
        assert_eq!(again.id, a.id);
        assert_eq!(store.list_advisories(None).await.unwrap().len(), 1);
    }

    #[test]
    fn responses_are_checked_against_the_state() {
        let mut r = recipient(0);
        let draft = check_action(AdvisoryStatus::Draft, &r, Action::Acknowledge);
        assert_eq!(draft.unwrap_err().code(), "advisory_wrong_status");
        let p = AdvisoryStatus::Published;
        assert_eq!(check_action(p, &r, Action::Acknowledge), Ok(()));
        assert_eq!(
            check_action(p, &r, Action::Close).unwrap_err().code(),
            "advisory_step_out_of_order"
        );
        r.acknowledged_at = Some(1);
        assert_eq!(
            check_action(p, &r, Action::Acknowledge).unwrap_err().code(),
            "advisory_already_done"
        );
        r.applicability = Some(Applicability::Applies);
        assert_eq!(check_action(p, &r, Action::Update), Ok(()));
        r.closed_at = Some(2);
        assert!(check_action(p, &r, Action::Update).is_err());
    }
}
