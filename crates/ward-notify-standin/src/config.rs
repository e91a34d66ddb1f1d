//! The stand-in's configuration: one service, its keys, templates, limits and callbacks.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Notify's three key types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyType {
    /// Sends to anyone.
    Live,
    /// Sends only to the service's team members.
    Team,
    /// Sends nothing real; the documented test numbers simulate failures.
    Test,
}

impl KeyType {
    /// As in Notify's rate-limit message (`LIVE`, `TEAM`, `TEST`).
    pub fn upper(self) -> &'static str {
        match self {
            KeyType::Live => "LIVE",
            KeyType::Team => "TEAM",
            KeyType::Test => "TEST",
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Live => "normal",
            KeyType::Team => "team",
            KeyType::Test => "test",
        }
    }
}

/// One API key of the service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyConfig {
    /// The key name (the first part of the full key).
    pub name: String,
    pub key_type: KeyType,
    /// The signing secret: a UUID in text form.
    pub secret: String,
    #[serde(default)]
    pub revoked: bool,
}

/// `sms` or `email` (letters are not simulated).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TemplateType {
    Sms,
    Email,
}

impl TemplateType {
    pub fn as_str(self) -> &'static str {
        match self {
            TemplateType::Sms => "sms",
            TemplateType::Email => "email",
        }
    }
}

/// A template with `((placeholders))`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateConfig {
    pub id: Uuid,
    pub name: String,
    pub template_type: TemplateType,
    /// E-mail only.
    #[serde(default)]
    pub subject: Option<String>,
    pub body: String,
    #[serde(default = "one")]
    pub version: u32,
}

fn one() -> u32 {
    1
}

/// Where and how Notify calls the service back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallbackTarget {
    pub url: String,
    /// Sent as `Authorization: Bearer <token>`.
    pub bearer_token: String,
}

/// Which status changes produce a delivery-status callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum CallbackStatuses {
    /// Every status the notification passes through (`created`, `sending`, `pending`, ...).
    #[default]
    All,
    /// Only final statuses, as production Notify does.
    FinalOnly,
}

/// Callback settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallbackConfig {
    #[serde(default)]
    pub delivery_status: Option<CallbackTarget>,
    #[serde(default)]
    pub received_text: Option<CallbackTarget>,
    #[serde(default)]
    pub statuses: CallbackStatuses,
    /// Simulated seconds between retries (Notify: 5 minutes).
    #[serde(default = "default_retry_secs")]
    pub retry_interval_secs: u64,
    /// Retries after the first attempt (Notify: 5).
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
    /// Per-attempt HTTP timeout in real milliseconds.
    #[serde(default = "default_cb_timeout")]
    pub timeout_ms: u64,
}

fn default_retry_secs() -> u64 {
    300
}
fn default_max_retries() -> u32 {
    5
}
fn default_cb_timeout() -> u64 {
    5_000
}

impl Default for CallbackConfig {
    fn default() -> Self {
        CallbackConfig {
            delivery_status: None,
            received_text: None,
            statuses: CallbackStatuses::All,
            retry_interval_secs: default_retry_secs(),
            max_retries: default_max_retries(),
            timeout_ms: default_cb_timeout(),
        }
    }
}

/// Notify's API rate limit: a token bucket per key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// The figure in the error message (3,000 per 60 seconds).
    pub per_minute: u32,
    /// Burst size (1,000).
    pub bucket_size: u32,
    /// Tokens per second (50).
    pub refill_per_sec: f64,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            per_minute: 3_000,
            bucket_size: 1_000,
            refill_per_sec: 50.0,
        }
    }
}

/// How long (simulated milliseconds after creation) a notification takes to reach each
/// status: `created` → `sending` → (`pending`, SMS only) → final.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgressionConfig {
    pub sending_after_ms: u64,
    pub pending_after_ms: u64,
    pub final_after_ms: u64,
}

impl Default for ProgressionConfig {
    fn default() -> Self {
        ProgressionConfig {
            sending_after_ms: 50,
            pending_after_ms: 100,
            final_after_ms: 200,
        }
    }
}

/// Everything the stand-in simulates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StandinConfig {
    pub service_id: Uuid,
    pub service_name: String,
    pub keys: Vec<KeyConfig>,
    pub templates: Vec<TemplateConfig>,
    /// Recipients a team key may send to (phone numbers or e-mail addresses).
    #[serde(default)]
    pub team_members: Vec<String>,
    /// `from_number` in SMS replies.
    #[serde(default = "default_sms_sender")]
    pub sms_sender: String,
    /// `from_email` in e-mail replies.
    #[serde(default = "default_from_email")]
    pub from_email: String,
    /// The service's inbound number (`notify_number` of received texts).
    #[serde(default = "default_inbound_number")]
    pub inbound_number: String,
    /// Whether non-UK numbers may be texted.
    #[serde(default)]
    pub international_sms: bool,
    /// Messages per day across live and team keys (test keys are unlimited).
    #[serde(default = "default_daily_limit")]
    pub daily_limit: u64,
    #[serde(default)]
    pub rate_limit: RateLimitConfig,
    #[serde(default)]
    pub progression: ProgressionConfig,
    #[serde(default)]
    pub callbacks: CallbackConfig,
    /// Real milliseconds a `timeout` fault holds a request before answering 504.
    #[serde(default = "default_hang")]
    pub timeout_fault_hold_ms: u64,
    /// Real milliseconds between progression/callback ticks.
    #[serde(default = "default_tick")]
    pub tick_ms: u64,
}

fn default_sms_sender() -> String {
    "GOVUK".to_string()
}
fn default_from_email() -> String {
    "ward.alerts@notifications.service.gov.uk".to_string()
}
fn default_inbound_number() -> String {
    "07700900999".to_string()
}
fn default_daily_limit() -> u64 {
    250_000
}
fn default_hang() -> u64 {
    30_000
}
fn default_tick() -> u64 {
    10
}

/// Fixed ids of the default configuration, so a demo's `ward.toml` can name them.
pub mod defaults {
    use uuid::{uuid, Uuid};
    pub const SERVICE_ID: Uuid = uuid!("5ea7c0de-0000-4000-8000-000000000001");
    pub const SMS_TEMPLATE_ID: Uuid = uuid!("5ea7c0de-0000-4000-8000-0000000000a1");
    pub const EMAIL_TEMPLATE_ID: Uuid = uuid!("5ea7c0de-0000-4000-8000-0000000000e1");
    pub const LIVE_SECRET: &str = "5ea7c0de-0000-4000-8000-00000000f001";
    pub const TEAM_SECRET: &str = "5ea7c0de-0000-4000-8000-00000000f002";
    pub const TEST_SECRET: &str = "5ea7c0de-0000-4000-8000-00000000f003";
}

impl Default for StandinConfig {
    /// A service with live (`ward-live`), team (`ward-team`) and test (`ward-test`) keys, an
    /// SMS template `((body))` and an e-mail template `((subject))` / `((body))`. The secrets
    /// are fixed and public: this is a stand-in, never a real service.
    fn default() -> Self {
        StandinConfig {
            service_id: defaults::SERVICE_ID,
            service_name: "ward stand-in".to_string(),
            keys: vec![
                KeyConfig {
                    name: "ward-live".into(),
                    key_type: KeyType::Live,
                    secret: defaults::LIVE_SECRET.into(),
                    revoked: false,
                },
                KeyConfig {
                    name: "ward-team".into(),
                    key_type: KeyType::Team,
                    secret: defaults::TEAM_SECRET.into(),
                    revoked: false,
                },
                KeyConfig {
                    name: "ward-test".into(),
                    key_type: KeyType::Test,
                    secret: defaults::TEST_SECRET.into(),
                    revoked: false,
                },
            ],
            templates: vec![
                TemplateConfig {
                    id: defaults::SMS_TEMPLATE_ID,
                    name: "ward alert (SMS)".into(),
                    template_type: TemplateType::Sms,
                    subject: None,
                    body: "((body))".into(),
                    version: 1,
                },
                TemplateConfig {
                    id: defaults::EMAIL_TEMPLATE_ID,
                    name: "ward alert (e-mail)".into(),
                    template_type: TemplateType::Email,
                    subject: Some("((subject))".into()),
                    body: "((body))".into(),
                    version: 1,
                },
            ],
            team_members: Vec::new(),
            sms_sender: default_sms_sender(),
            from_email: default_from_email(),
            inbound_number: default_inbound_number(),
            international_sms: false,
            daily_limit: default_daily_limit(),
            rate_limit: RateLimitConfig::default(),
            progression: ProgressionConfig::default(),
            callbacks: CallbackConfig::default(),
            timeout_fault_hold_ms: default_hang(),
            tick_ms: default_tick(),
        }
    }
}

impl StandinConfig {
    /// The full API key string `{name}-{service_id}-{secret}` for the named key.
    pub fn api_key(&self, name: &str) -> Option<String> {
        self.keys
            .iter()
            .find(|k| k.name == name)
            .map(|k| format!("{}-{}-{}", k.name, self.service_id, k.secret))
    }

    /// Checks what serde cannot: secrets are UUIDs, names and ids unique, subjects present.
    pub fn validate(&self) -> Result<(), crate::StandinError> {
        let bad =
            |field: String, reason: String| Err(crate::StandinError::Config { field, reason });
        for (i, k) in self.keys.iter().enumerate() {
            if Uuid::parse_str(&k.secret).is_err() {
                return bad(format!("keys[{i}].secret"), "must be a UUID".into());
            }
            if k.name.is_empty() {
                return bad(format!("keys[{i}].name"), "must not be empty".into());
            }
            if self.keys[..i].iter().any(|o| o.name == k.name) {
                return bad(format!("keys[{i}].name"), format!("duplicate `{}`", k.name));
            }
        }
        for (i, t) in self.templates.iter().enumerate() {
            if t.template_type == TemplateType::Email && t.subject.is_none() {
                return bad(
                    format!("templates[{i}].subject"),
                    "e-mail templates need a subject".into(),
                );
            }
            if self.templates[..i].iter().any(|o| o.id == t.id) {
                return bad(format!("templates[{i}].id"), format!("duplicate {}", t.id));
            }
        }
        if self.rate_limit.bucket_size == 0 || self.rate_limit.refill_per_sec <= 0.0 {
            return bad(
                "rate_limit".into(),
                "bucket_size and refill_per_sec must be positive".into(),
            );
        }
        Ok(())
    }
}
