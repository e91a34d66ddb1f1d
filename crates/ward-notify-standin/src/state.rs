//! The stand-in's state and behaviour, independent of HTTP: notifications and their status
//! progression, received texts, rate and daily limits, faults, callbacks.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::clock::format_dt;
use crate::config::{
    CallbackConfig, CallbackStatuses, CallbackTarget, KeyType, StandinConfig, TemplateType,
};
use crate::validate;

/// Every notification status ward cares about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Created,
    Sending,
    Pending,
    Sent,
    Delivered,
    PermanentFailure,
    TemporaryFailure,
    TechnicalFailure,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Sending => "sending",
            Status::Pending => "pending",
            Status::Sent => "sent",
            Status::Delivered => "delivered",
            Status::PermanentFailure => "permanent-failure",
            Status::TemporaryFailure => "temporary-failure",
            Status::TechnicalFailure => "technical-failure",
        }
    }
    pub fn parse(s: &str) -> Option<Status> {
        Some(match s {
            "created" => Status::Created,
            "sending" => Status::Sending,
            "pending" => Status::Pending,
            "sent" => Status::Sent,
            "delivered" => Status::Delivered,
            "permanent-failure" => Status::PermanentFailure,
            "temporary-failure" => Status::TemporaryFailure,
            "technical-failure" => Status::TechnicalFailure,
            _ => return None,
        })
    }
    /// Final statuses end the progression (`sent` is final for international SMS).
    pub fn is_final(self) -> bool {
        !matches!(self, Status::Created | Status::Sending | Status::Pending)
    }
}

/// The statuses Notify's `status` filter accepts, in its error message's order.
pub const STATUS_FILTER_VALUES: &[&str] = &[
    "cancelled",
    "created",
    "sending",
    "sent",
    "delivered",
    "pending",
    "failed",
    "technical-failure",
    "temporary-failure",
    "permanent-failure",
    "pending-virus-check",
    "validation-failed",
    "virus-scan-failed",
    "returned-letter",
    "accepted",
    "received",
];

/// One notification as stored.
#[derive(Debug, Clone, Serialize)]
pub struct Notification {
    pub id: Uuid,
    #[serde(skip)]
    pub seq: u64,
    pub key_name: String,
    pub key_type: KeyType,
    pub notification_type: TemplateType,
    /// As submitted.
    pub to: String,
    pub normalised_to: String,
    pub reference: Option<String>,
    pub template_id: Uuid,
    pub template_version: u32,
    pub body: String,
    pub subject: Option<String>,
    pub status: Status,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    /// Every status with the (simulated) time it was reached.
    pub history: Vec<(Status, DateTime<Utc>)>,
    #[serde(skip)]
    steps: VecDeque<(DateTime<Utc>, Status)>,
}

impl Notification {
    /// Notify's v2 JSON for `GET /v2/notifications/{id}` and the list.
    pub fn to_api_json(&self, base: &str) -> Value {
        let sms = self.notification_type == TemplateType::Sms;
        let completed_at = if self.status.is_final() {
            self.updated_at.as_ref().map(format_dt)
        } else {
            None
        };
        json!({
            "id": self.id,
            "reference": self.reference,
            "email_address": if sms { Value::Null } else { Value::String(self.to.clone()) },
            "phone_number": if sms { Value::String(self.to.clone()) } else { Value::Null },
            "line_1": null, "line_2": null, "line_3": null, "line_4": null,
            "line_5": null, "line_6": null, "postcode": null, "postage": null,
            "type": self.notification_type.as_str(),
            "status": self.status.as_str(),
            "template": {
                "id": self.template_id,
                "version": self.template_version,
                "uri": format!("{base}/v2/template/{}/version/{}", self.template_id, self.template_version),
            },
            "body": self.body,
            "subject": self.subject,
            "created_at": format_dt(&self.created_at),
            "created_by_name": null,
            "sent_at": self.sent_at.as_ref().map(format_dt),
            "completed_at": completed_at,
            "scheduled_for": null,
            "one_click_unsubscribe": null,
            "is_cost_data_ready": true,
            "cost_in_pounds": 0.0,
            "cost_details": if sms {
                json!({"billable_sms_fragments": 1, "international_rate_multiplier": 1, "sms_rate": 0.0})
            } else { json!({}) },
        })
    }

    /// The delivery-status callback body, as Notify posts it.
    pub fn callback_json(&self) -> Value {
        json!({
            "id": self.id,
            "reference": self.reference,
            "to": self.to,
            "status": self.status.as_str(),
            "created_at": format_dt(&self.created_at),
            "completed_at": self.updated_at.as_ref().map(format_dt),
            "sent_at": self.sent_at.as_ref().map(format_dt),
            "notification_type": self.notification_type.as_str(),
            "template_id": self.template_id,
            "template_version": self.template_version,
        })
    }
}

/// A text message received on the service's inbound number.
#[derive(Debug, Clone, Serialize)]
pub struct ReceivedText {
    pub id: Uuid,
    #[serde(skip)]
    pub seq: u64,
    pub user_number: String,
    pub notify_number: String,
    pub content: String,
    pub created_at: DateTime<Utc>,
}

/// What an injected fault does to `/v2/...` requests while it lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
    /// Answer with this 5xx status and Notify's `Exception` body.
    ServerError { status: u16 },
    /// Answer 429 `RateLimitError`.
    RateLimit,
    /// Hold the request without creating anything, then answer 504.
    Timeout,
    /// Create the notification, then hold the reply and answer 504 (a lost response).
    TimeoutAfterAccept,
}

/// A fault and the simulated time it ends.
#[derive(Debug, Clone, Serialize)]
pub struct Fault {
    pub kind: FaultKind,
    pub until: DateTime<Utc>,
}

/// One callback delivery attempt, for tests to inspect.
#[derive(Debug, Clone, Serialize)]
pub struct CallbackRecord {
    pub kind: &'static str,
    pub url: String,
    pub payload: Value,
    pub attempt: u32,
    /// HTTP status, or the transport error.
    pub result: Result<u16, String>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub(crate) struct PendingCallback {
    pub kind: &'static str,
    pub target: CallbackTarget,
    pub payload: Value,
    pub attempts_made: u32,
    pub next_at: DateTime<Utc>,
    pub in_flight: bool,
    pub id: u64,
}

/// Counters exposed through the handle and `/_standin/stats`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    pub sends_accepted: u64,
    pub sends_refused: u64,
    pub rate_limited: u64,
    pub daily_limited: u64,
    pub faulted: u64,
    /// Live and team sends counted against today's limit.
    pub daily_count: u64,
    pub daily_limit: u64,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: f64,
}

/// An error answer: HTTP status plus Notify's `errors` entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub errors: Vec<(String, String)>,
}

impl ApiError {
    pub fn one(status: u16, error: &str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            errors: vec![(error.to_string(), message.into())],
        }
    }
    pub fn body(&self) -> Value {
        json!({
            "status_code": self.status,
            "errors": self.errors.iter().map(|(e, m)| json!({"error": e, "message": m})).collect::<Vec<_>>(),
        })
    }
}

/// A send that passed validation, ready to answer.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub id: Uuid,
    pub reference: Option<String>,
    pub body: String,
    pub subject: Option<String>,
    pub template_id: Uuid,
    pub template_version: u32,
    pub notification_type: TemplateType,
}

pub(crate) struct State {
    pub config: StandinConfig,
    pub notifications: Vec<Notification>,
    pub by_id: HashMap<Uuid, usize>,
    pub received: Vec<ReceivedText>,
    buckets: HashMap<KeyType, Bucket>,
    daily: (Option<NaiveDate>, u64),
    pub faults: Vec<Fault>,
    pub outcomes: HashMap<String, Status>,
    pub callbacks: CallbackConfig,
    pub pending_callbacks: VecDeque<PendingCallback>,
    pub callback_log: Vec<CallbackRecord>,
    pub stats: Stats,
    seq: u64,
    /// Indexes of notifications with status changes still to come, so a tick does not
    /// scan every notification ever sent.
    active: Vec<usize>,
}

const SMOKE_NUMBERS: &[&str] = &["447700900000", "447700900111", "447700900222"];
const SMOKE_EMAILS: &[&str] = &[
    "simulate-delivered@notifications.service.gov.uk",
    "simulate-delivered-2@notifications.service.gov.uk",
    "simulate-delivered-3@notifications.service.gov.uk",
];

impl State {
    pub fn new(config: StandinConfig) -> Self {
        let callbacks = config.callbacks.clone();
        State {
            stats: Stats {
                daily_limit: config.daily_limit,
                ..Stats::default()
            },
            config,
            notifications: Vec::new(),
            by_id: HashMap::new(),
            received: Vec::new(),
            buckets: HashMap::new(),
            daily: (None, 0),
            faults: Vec::new(),
            outcomes: HashMap::new(),
            callbacks,
            pending_callbacks: VecDeque::new(),
            callback_log: Vec::new(),
            seq: 0,
            active: Vec::new(),
        }
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// The fault active at `now`, dropping expired ones.
    pub fn active_fault(&mut self, now: DateTime<Utc>) -> Option<FaultKind> {
        self.faults.retain(|f| f.until > now);
        self.faults.last().map(|f| f.kind)
    }

    /// Token bucket per service and key type, as Notify keys its limit (the service is
    /// the only one here); `Err` is Notify's 429 `RateLimitError`.
    pub fn take_rate_token(&mut self, key_type: KeyType, now_secs: f64) -> Result<(), ApiError> {
        let rl = &self.config.rate_limit;
        let size = f64::from(rl.bucket_size);
        let b = self.buckets.entry(key_type).or_insert(Bucket {
            tokens: size,
            last: now_secs,
        });
        b.tokens = (b.tokens + (now_secs - b.last).max(0.0) * rl.refill_per_sec).min(size);
        b.last = now_secs;
        if b.tokens < 1.0 {
            self.stats.rate_limited += 1;
            return Err(rate_limit_error(key_type, rl.per_minute));
        }
        b.tokens -= 1.0;
        Ok(())
    }

    fn daily_count_at(&mut self, now: DateTime<Utc>) -> u64 {
        let today = now.date_naive();
        if self.daily.0 != Some(today) {
            self.daily = (Some(today), 0);
        }
        self.daily.1
    }

    pub fn stats(&mut self, now: DateTime<Utc>) -> Stats {
        let mut s = self.stats.clone();
        s.daily_count = self.daily_count_at(now);
        s
    }

    /// Validates and records a send. `body` is the parsed JSON request.
    #[allow(clippy::too_many_arguments)]
    pub fn send(
        &mut self,
        kind: TemplateType,
        body: &Value,
        key: usize,
        now: DateTime<Utc>,
        now_secs: f64,
    ) -> Result<Accepted, ApiError> {
        let result = self.send_inner(kind, body, key, now, now_secs);
        match &result {
            Ok(_) => self.stats.sends_accepted += 1,
            Err(_) => self.stats.sends_refused += 1,
        }
        result
    }

    fn send_inner(
        &mut self,
        kind: TemplateType,
        body: &Value,
        key_idx: usize,
        now: DateTime<Utc>,
        now_secs: f64,
    ) -> Result<Accepted, ApiError> {
        let key = self.config.keys[key_idx].clone();
        let req = validate_schema(kind, body)?;
        self.take_rate_token(key.key_type, now_secs)?;
        if key.key_type != KeyType::Test && self.daily_count_at(now) >= self.config.daily_limit {
            self.stats.daily_limited += 1;
            return Err(ApiError::one(
                429,
                "TooManyRequestsError",
                format!(
                    "Exceeded send limits ({}) for today",
                    self.config.daily_limit
                ),
            ));
        }
        let template = self
            .config
            .templates
            .iter()
            .find(|t| t.id == req.template_id)
            .cloned()
            .ok_or_else(|| ApiError::one(400, "BadRequestError", "Template not found"))?;
        if template.template_type != kind {
            return Err(ApiError::one(
                400,
                "BadRequestError",
                format!(
                    "{} template is not suitable for {} notification",
                    template.template_type.as_str(),
                    kind.as_str()
                ),
            ));
        }
        let subject_src = template.subject.clone().unwrap_or_default();
        let texts: Vec<&str> = match kind {
            TemplateType::Sms => vec![template.body.as_str()],
            TemplateType::Email => vec![subject_src.as_str(), template.body.as_str()],
        };
        let missing = validate::missing_personalisation(&texts, &req.personalisation);
        if !missing.is_empty() {
            return Err(ApiError::one(
                400,
                "BadRequestError",
                format!("Missing personalisation: {}", missing.join(", ")),
            ));
        }
        let normalised = match kind {
            TemplateType::Sms => validate::validate_phone(&req.to, self.config.international_sms)
                .map_err(|f| {
                ApiError::one(
                    400,
                    "ValidationError",
                    format!("phone_number {}", f.message()),
                )
            })?,
            TemplateType::Email => {
                if !validate::validate_email(&req.to) {
                    return Err(ApiError::one(
                        400,
                        "ValidationError",
                        "email_address Not a valid email address",
                    ));
                }
                req.to.trim().to_lowercase()
            }
        };
        if key.key_type == KeyType::Team && !self.is_team_member(kind, &normalised) {
            return Err(ApiError::one(
                400,
                "BadRequestError",
                "Can't send to this recipient using a team-only API key",
            ));
        }
        let email = kind == TemplateType::Email;
        let mut rendered = validate::render(&template.body, &req.personalisation, email);
        if kind == TemplateType::Sms && rendered.chars().count() > 918 {
            return Err(ApiError::one(
                400,
                "BadRequestError",
                format!(
                    "Your message is too long. Text messages cannot be longer than 918 characters. Your message is {} characters long.",
                    rendered.chars().count()
                ),
            ));
        }
        if kind == TemplateType::Sms {
            rendered = rendered.trim().to_string();
        }
        let subject = email.then(|| validate::render(&subject_src, &req.personalisation, false));
        let id = Uuid::new_v4();
        let accepted = Accepted {
            id,
            reference: req.reference.clone(),
            body: rendered.clone(),
            subject: subject.clone(),
            template_id: template.id,
            template_version: template.version,
            notification_type: kind,
        };
        // Smoke-test recipients: a realistic answer, nothing persisted, no receipt.
        if SMOKE_NUMBERS.contains(&normalised.as_str())
            || SMOKE_EMAILS.contains(&normalised.as_str())
        {
            return Ok(accepted);
        }
        if key.key_type != KeyType::Test {
            self.daily.1 += 1;
        }
        let final_status = self.outcome_for(key.key_type, kind, &normalised);
        let steps = self.steps_for(kind, final_status, now);
        let seq = self.next_seq();
        let n = Notification {
            id,
            seq,
            key_name: key.name.clone(),
            key_type: key.key_type,
            notification_type: kind,
            to: req.to.clone(),
            normalised_to: normalised,
            reference: req.reference,
            template_id: template.id,
            template_version: template.version,
            body: rendered,
            subject,
            status: Status::Created,
            created_at: now,
            sent_at: None,
            updated_at: None,
            history: vec![(Status::Created, now)],
            steps,
        };
        self.by_id.insert(id, self.notifications.len());
        self.active.push(self.notifications.len());
        self.notifications.push(n);
        if self.callbacks.statuses == CallbackStatuses::All {
            let idx = self.notifications.len() - 1;
            self.queue_status_callback(idx, now);
        }
        Ok(accepted)
    }

    fn is_team_member(&self, kind: TemplateType, normalised: &str) -> bool {
        self.config.team_members.iter().any(|m| match kind {
            TemplateType::Sms => {
                validate::validate_phone(m, true).ok().as_deref() == Some(normalised)
            }
            TemplateType::Email => m.trim().eq_ignore_ascii_case(normalised),
        })
    }

    fn outcome_for(&self, key_type: KeyType, kind: TemplateType, normalised: &str) -> Status {
        if let Some(s) = self.outcomes.get(normalised) {
            return *s;
        }
        if key_type == KeyType::Test {
            match normalised {
                "447700900003" | "temp-fail@simulator.notify" => return Status::TemporaryFailure,
                "447700900002" | "perm-fail@simulator.notify" => return Status::PermanentFailure,
                _ => {}
            }
        }
        if kind == TemplateType::Sms && !validate::is_uk_normalised(normalised) {
            return Status::Sent;
        }
        Status::Delivered
    }

    fn steps_for(
        &self,
        kind: TemplateType,
        fin: Status,
        now: DateTime<Utc>,
    ) -> VecDeque<(DateTime<Utc>, Status)> {
        let p = &self.config.progression;
        let at = |ms: u64| {
            now + chrono::Duration::milliseconds(i64::try_from(ms).unwrap_or(i64::MAX / 2))
        };
        let mut steps = VecDeque::new();
        if fin == Status::TechnicalFailure {
            steps.push_back((at(p.sending_after_ms), fin));
            return steps;
        }
        steps.push_back((at(p.sending_after_ms), Status::Sending));
        if kind == TemplateType::Sms && matches!(fin, Status::Delivered | Status::TemporaryFailure)
        {
            steps.push_back((at(p.pending_after_ms), Status::Pending));
        }
        steps.push_back((at(p.final_after_ms), fin));
        steps
    }

    /// Moves every notification whose next step is due; queues callbacks.
    pub fn progress(&mut self, now: DateTime<Utc>) {
        let active = std::mem::take(&mut self.active);
        for &idx in &active {
            loop {
                let n = &mut self.notifications[idx];
                let Some(&(at, status)) = n.steps.front() else {
                    break;
                };
                if at > now {
                    break;
                }
                n.steps.pop_front();
                n.status = status;
                n.updated_at = Some(at);
                if status == Status::Sending {
                    n.sent_at = Some(at);
                }
                n.history.push((status, at));
                let send_cb = match self.callbacks.statuses {
                    CallbackStatuses::All => true,
                    CallbackStatuses::FinalOnly => status.is_final(),
                };
                if send_cb {
                    self.queue_status_callback(idx, now);
                }
            }
        }
        self.active = active
            .into_iter()
            .filter(|&i| !self.notifications[i].steps.is_empty())
            .collect();
    }

    fn queue_status_callback(&mut self, idx: usize, now: DateTime<Utc>) {
        let Some(target) = self.callbacks.delivery_status.clone() else {
            return;
        };
        let payload = self.notifications[idx].callback_json();
        let id = self.next_seq();
        self.pending_callbacks.push_back(PendingCallback {
            kind: "delivery_status",
            target,
            payload,
            attempts_made: 0,
            next_at: now,
            in_flight: false,
            id,
        });
    }

    /// Records a text received from `user_number`; queues the inbound callback.
    pub fn receive_text(
        &mut self,
        user_number: &str,
        content: &str,
        now: DateTime<Utc>,
    ) -> ReceivedText {
        let user =
            validate::validate_phone(user_number, true).unwrap_or_else(|_| user_number.to_string());
        let seq = self.next_seq();
        let rt = ReceivedText {
            id: Uuid::new_v4(),
            seq,
            user_number: user,
            notify_number: self.config.inbound_number.clone(),
            content: content.to_string(),
            created_at: now,
        };
        self.received.push(rt.clone());
        if let Some(target) = self.callbacks.received_text.clone() {
            let id = self.next_seq();
            self.pending_callbacks.push_back(PendingCallback {
                kind: "received_text",
                target,
                payload: json!({
                    "id": rt.id,
                    "source_number": rt.user_number,
                    "destination_number": rt.notify_number,
                    "message": rt.content,
                    "date_received": format_dt(&rt.created_at),
                }),
                attempts_made: 0,
                next_at: now,
                in_flight: false,
                id,
            });
        }
        rt
    }

    /// Callbacks due now, marked in flight.
    pub fn due_callbacks(&mut self, now: DateTime<Utc>) -> Vec<PendingCallback> {
        let mut due = Vec::new();
        for cb in self.pending_callbacks.iter_mut() {
            if !cb.in_flight && cb.next_at <= now {
                cb.in_flight = true;
                due.push(cb.clone());
            }
        }
        due
    }

    /// Records an attempt's result; schedules a retry on 5xx, 429 or transport errors.
    pub fn callback_done(&mut self, id: u64, result: Result<u16, String>, now: DateTime<Utc>) {
        let Some(pos) = self.pending_callbacks.iter().position(|c| c.id == id) else {
            return;
        };
        let cb = &mut self.pending_callbacks[pos];
        cb.attempts_made += 1;
        cb.in_flight = false;
        self.callback_log.push(CallbackRecord {
            kind: cb.kind,
            url: cb.target.url.clone(),
            payload: cb.payload.clone(),
            attempt: cb.attempts_made,
            result: result.clone(),
            at: now,
        });
        let retry = match result {
            Ok(s) => s >= 500 || s == 429,
            Err(_) => true,
        };
        if retry && cb.attempts_made <= self.callbacks.max_retries {
            cb.next_at = now
                + chrono::Duration::seconds(
                    i64::try_from(self.callbacks.retry_interval_secs).unwrap_or(300),
                );
        } else {
            self.pending_callbacks.remove(pos);
        }
    }

    /// `GET /v2/notifications` with Notify's filters, newest first, pages of 250.
    pub fn list(&self, key_type: KeyType, q: &ListQuery) -> Vec<&Notification> {
        let older_seq = match q.older_than {
            Some(id) => match self.by_id.get(&id) {
                Some(&i) => Some(self.notifications[i].seq),
                None => return Vec::new(),
            },
            None => None,
        };
        self.notifications
            .iter()
            .rev()
            .filter(|n| n.key_type == key_type)
            .filter(|n| older_seq.is_none_or(|s| n.seq < s))
            .filter(|n| !q.template_given || q.template_types.contains(&n.notification_type))
            .filter(|n| !q.status_given || q.statuses.contains(&n.status))
            .filter(|n| {
                q.reference
                    .as_ref()
                    .is_none_or(|r| n.reference.as_ref() == Some(r))
            })
            .take(PAGE_SIZE)
            .collect()
    }

    /// `GET /v2/received-text-messages`, newest first, pages of 250.
    pub fn list_received(&self, older_than: Option<Uuid>) -> Vec<&ReceivedText> {
        let older_seq = match older_than {
            Some(id) => match self.received.iter().find(|r| r.id == id) {
                Some(r) => Some(r.seq),
                None => return Vec::new(),
            },
            None => None,
        };
        self.received
            .iter()
            .rev()
            .filter(|r| older_seq.is_none_or(|s| r.seq < s))
            .take(PAGE_SIZE)
            .collect()
    }
}

/// Notify's page size.
pub const PAGE_SIZE: usize = 250;

/// Parsed list filters.
#[derive(Debug, Default, Clone)]
pub struct ListQuery {
    pub template_types: Vec<TemplateType>,
    pub statuses: Vec<Status>,
    pub reference: Option<String>,
    pub older_than: Option<Uuid>,
    /// A `status` filter was given (it may name only statuses nothing here has).
    pub status_given: bool,
    /// A `template_type` filter was given.
    pub template_given: bool,
}

/// Parses the query pairs of `GET /v2/notifications`, with Notify's messages.
pub fn parse_list_query(pairs: &[(String, String)]) -> Result<ListQuery, ApiError> {
    let mut q = ListQuery::default();
    let mut errors = Vec::new();
    for (k, v) in pairs {
        match k.as_str() {
            "template_type" => match v.as_str() {
                "sms" => {
                    q.template_given = true;
                    q.template_types.push(TemplateType::Sms)
                }
                "email" => {
                    q.template_given = true;
                    q.template_types.push(TemplateType::Email)
                }
                "letter" => q.template_given = true,
                other => errors.push(format!("{other} is not one of [sms, email, letter]")),
            },
            "status" => {
                if v == "failed" {
                    q.statuses.extend([
                        Status::TechnicalFailure,
                        Status::TemporaryFailure,
                        Status::PermanentFailure,
                    ]);
                } else if let Some(s) = Status::parse(v) {
                    q.statuses.push(s);
                } else if !STATUS_FILTER_VALUES.contains(&v.as_str()) {
                    errors.push(format!(
                        "status {v} is not one of [{}]",
                        STATUS_FILTER_VALUES.join(", ")
                    ));
                }
                // Letter-only statuses are valid filters that match nothing here.
                q.status_given = true;
            }
            "reference" => q.reference = Some(v.clone()),
            "older_than" => match Uuid::parse_str(v) {
                Ok(id) => q.older_than = Some(id),
                Err(_) => errors.push("older_than is not a valid UUID".to_string()),
            },
            "include_jobs" => {}
            other => errors.push(format!(
                "Additional properties are not allowed ({other} was unexpected)"
            )),
        }
    }
    if errors.is_empty() {
        Ok(q)
    } else {
        Err(ApiError {
            status: 400,
            errors: errors
                .into_iter()
                .map(|m| ("ValidationError".to_string(), m))
                .collect(),
        })
    }
}

struct SendRequest {
    to: String,
    template_id: Uuid,
    personalisation: Map<String, Value>,
    reference: Option<String>,
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The v2 POST schemas: required properties, types, UUIDs, no additional properties.
fn validate_schema(kind: TemplateType, body: &Value) -> Result<SendRequest, ApiError> {
    let Some(obj) = body.as_object() else {
        return Err(ApiError::one(
            400,
            "ValidationError",
            format!("{body} is not of type object"),
        ));
    };
    let (to_field, optional): (&str, &[&str]) = match kind {
        TemplateType::Sms => (
            "phone_number",
            &[
                "personalisation",
                "reference",
                "sms_sender_id",
                "scheduled_for",
            ],
        ),
        TemplateType::Email => (
            "email_address",
            &[
                "personalisation",
                "reference",
                "email_reply_to_id",
                "scheduled_for",
                "one_click_unsubscribe_url",
            ],
        ),
    };
    let mut errors: Vec<String> = Vec::new();
    for k in obj.keys() {
        if k != to_field && k != "template_id" && !optional.contains(&k.as_str()) {
            errors.push(format!(
                "Additional properties are not allowed ({k} was unexpected)"
            ));
        }
    }
    let to = match obj.get(to_field) {
        None => {
            errors.push(format!("{to_field} is a required property"));
            String::new()
        }
        Some(Value::String(s)) => s.clone(),
        Some(v) => {
            errors.push(format!("{to_field} {v} is not of type string"));
            String::new()
        }
    };
    let template_id = match obj.get("template_id") {
        None => {
            errors.push("template_id is a required property".to_string());
            Uuid::nil()
        }
        Some(Value::String(s)) => Uuid::parse_str(s).unwrap_or_else(|_| {
            errors.push("template_id is not a valid UUID".to_string());
            Uuid::nil()
        }),
        Some(_) => {
            errors.push("template_id is not a valid UUID".to_string());
            Uuid::nil()
        }
    };
    let personalisation = match obj.get("personalisation") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(v) => {
            errors.push(format!("personalisation {v} is not of type object"));
            Map::new()
        }
    };
    let reference = match obj.get("reference") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(v) => {
            errors.push(format!("reference {v} is not of type string, null"));
            None
        }
    };
    for id_field in ["sms_sender_id", "email_reply_to_id"] {
        if let Some(v) = obj.get(id_field) {
            if v.as_str().is_none_or(|s| Uuid::parse_str(s).is_err()) {
                errors.push(format!("{id_field} is not a valid UUID"));
            }
        }
    }
    if let Some(v) = obj.get("scheduled_for") {
        if !v.is_null() {
            errors.push(format!(
                "scheduled_for {} is not of type null (scheduling is not simulated)",
                json_type(v)
            ));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError {
            status: 400,
            errors: errors
                .into_iter()
                .map(|m| ("ValidationError".to_string(), m))
                .collect(),
        });
    }
    Ok(SendRequest {
        to,
        template_id,
        personalisation,
        reference,
    })
}

/// Notify's 429 `RateLimitError`.
pub fn rate_limit_error(key_type: KeyType, per_minute: u32) -> ApiError {
    ApiError::one(
        429,
        "RateLimitError",
        format!(
            "Exceeded rate limit for key type {} of {} requests per 60 seconds",
            key_type.upper(),
            per_minute
        ),
    )
}

/// Converts a simulated duration for admin APIs.
pub fn chrono_dur(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}
