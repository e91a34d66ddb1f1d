//! Delivery channels for ward alerts.
//!
//! A [`Channel`] takes one [`OutboundMessage`] (one outbox row, identified by its unique
//! `reference`) and reports a [`DeliveryOutcome`]: `Accepted` by the provider, `Retryable`
//! (the caller retries later with backoff, re-using the same reference) or `Permanent`
//! (the caller fails over to the contact's next channel).
//!
//! Channels:
//! - [`LogChannel`]: writes the message through `tracing`; the offline default.
//! - [`notify::NotifyClient`] (with [`notify::NotifySms`] / [`notify::NotifyEmail`]): GOV.UK
//!   Notify SMS and e-mail (`POST /v2/notifications/sms|email`), JWT-authenticated, Notify's
//!   error bodies mapped onto outcomes, a shared sender-side token bucket and daily counter
//!   ([`ratelimit`]), status polling, received-text polling, callback types.
//! - [`smtp::SmtpChannel`]: e-mail through `lettre` (rustls, STARTTLS or implicit TLS, pooled).
//! - [`webhook::WebhookChannel`]: signed JSON, Slack and Microsoft Teams posts.
//!
//! Phone numbers are validated and normalised to UK E.164 by [`phone::normalise_uk_mobile`].
//! [`bench::drain`] measures how long N notifications take to drain under the rate limit.
//!
//! ```
//! use ward_channels::{Channel, ChannelKind, DeliveryOutcome, LogChannel, OutboundMessage, Recipient};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let channel = LogChannel::default();
//! let msg = OutboundMessage::new("outbox-42", Recipient::Log, "INC-7", "Worm at RXX");
//! let outcome = channel.send(&msg).await;
//! assert_eq!(channel.kind(), ChannelKind::Log);
//! assert!(matches!(outcome, DeliveryOutcome::Accepted { .. }));
//! assert_eq!(outcome.as_str(), "accepted");
//! # });
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub mod bench;
pub mod jwt;
pub mod notify;
pub mod phone;
pub mod ratelimit;
pub mod smtp;
pub mod webhook;

/// The kind of a delivery channel. Serialises as a stable lowercase string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelKind {
    Sms,
    Email,
    Webhook,
    Log,
}

impl ChannelKind {
    /// Stable lowercase name, as stored in the outbox.
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Sms => "sms",
            ChannelKind::Email => "email",
            ChannelKind::Webhook => "webhook",
            ChannelKind::Log => "log",
        }
    }
}

impl fmt::Display for ChannelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ChannelKind {
    type Err = ChannelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "sms" => Ok(ChannelKind::Sms),
            "email" => Ok(ChannelKind::Email),
            "webhook" => Ok(ChannelKind::Webhook),
            "log" => Ok(ChannelKind::Log),
            other => Err(ChannelError::UnknownKind(other.to_string())),
        }
    }
}

/// Payload shape of a webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum WebhookFormat {
    /// ward's own JSON document.
    #[default]
    Json,
    /// Slack incoming-webhook message.
    Slack,
    /// Microsoft Teams incoming-webhook message card.
    Teams,
}

impl WebhookFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookFormat::Json => "json",
            WebhookFormat::Slack => "slack",
            WebhookFormat::Teams => "teams",
        }
    }
}

/// Where a message goes. Serialises adjacently tagged: `{"kind": "phone", "value": "07700900123"}`,
/// `{"kind": "webhook", "value": {"url": ..., "format": "slack"}}`, `{"kind": "log"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "lowercase")]
pub enum Recipient {
    Phone(String),
    Email(String),
    Webhook { url: String, format: WebhookFormat },
    Log,
}

impl Recipient {
    /// The channel kind that can deliver to this recipient.
    pub fn channel_kind(&self) -> ChannelKind {
        match self {
            Recipient::Phone(_) => ChannelKind::Sms,
            Recipient::Email(_) => ChannelKind::Email,
            Recipient::Webhook { .. } => ChannelKind::Webhook,
            Recipient::Log => ChannelKind::Log,
        }
    }

    /// Stable lowercase name of the recipient kind.
    pub fn kind_str(&self) -> &'static str {
        match self {
            Recipient::Phone(_) => "phone",
            Recipient::Email(_) => "email",
            Recipient::Webhook { .. } => "webhook",
            Recipient::Log => "log",
        }
    }
}

impl fmt::Display for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Recipient::Phone(value) => write!(f, "phone:{value}"),
            Recipient::Email(value) => write!(f, "email:{value}"),
            Recipient::Webhook { url, format } => write!(f, "webhook:{}:{url}", format.as_str()),
            Recipient::Log => f.write_str("log"),
        }
    }
}

/// One message to deliver: one outbox row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboundMessage {
    /// Unique per outbox row; sent as Notify's `reference` so that a retried send can be
    /// recognised (Notify has no idempotency key).
    pub reference: String,
    pub recipient: Recipient,
    pub subject: String,
    pub body: String,
    /// Template personalisation. `subject` and `body` are added by template-based channels
    /// when absent, so templates can use `((subject))` and `((body))`.
    pub personalisation: BTreeMap<String, String>,
}

impl OutboundMessage {
    pub fn new(
        reference: impl Into<String>,
        recipient: Recipient,
        subject: impl Into<String>,
        body: impl Into<String>,
    ) -> Self {
        OutboundMessage {
            reference: reference.into(),
            recipient,
            subject: subject.into(),
            body: body.into(),
            personalisation: BTreeMap::new(),
        }
    }

    /// Personalisation including `subject` and `body` unless the caller set them.
    pub fn template_personalisation(&self) -> BTreeMap<String, String> {
        let mut p = self.personalisation.clone();
        p.entry("subject".to_string())
            .or_insert_with(|| self.subject.clone());
        p.entry("body".to_string())
            .or_insert_with(|| self.body.clone());
        p
    }
}

/// The result of one delivery attempt. Serialises with `"outcome": "accepted" | "retryable" |
/// "permanent"`; durations as milliseconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "lowercase")]
pub enum DeliveryOutcome {
    /// The provider took the message (not yet necessarily delivered to the handset).
    Accepted {
        provider_id: Option<String>,
        http_status: Option<u16>,
        detail: String,
    },
    /// Try again later (429, 5xx, timeout, connection failure); same reference.
    Retryable {
        reason: String,
        #[serde(with = "opt_millis", rename = "retry_after_ms")]
        retry_after: Option<Duration>,
    },
    /// Never retry on this channel (bad number, other 4xx); fail over.
    Permanent { reason: String },
}

impl DeliveryOutcome {
    /// Stable lowercase name of the outcome.
    pub fn as_str(&self) -> &'static str {
        match self {
            DeliveryOutcome::Accepted { .. } => "accepted",
            DeliveryOutcome::Retryable { .. } => "retryable",
            DeliveryOutcome::Permanent { .. } => "permanent",
        }
    }
    pub fn is_accepted(&self) -> bool {
        matches!(self, DeliveryOutcome::Accepted { .. })
    }
    pub(crate) fn retryable(reason: impl Into<String>) -> Self {
        DeliveryOutcome::Retryable {
            reason: reason.into(),
            retry_after: None,
        }
    }
    pub(crate) fn permanent(reason: impl Into<String>) -> Self {
        DeliveryOutcome::Permanent {
            reason: reason.into(),
        }
    }
}

impl fmt::Display for DeliveryOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeliveryOutcome::Accepted { detail, .. } => write!(f, "accepted: {detail}"),
            DeliveryOutcome::Retryable { reason, .. } => write!(f, "retryable: {reason}"),
            DeliveryOutcome::Permanent { reason } => write!(f, "permanent: {reason}"),
        }
    }
}

mod opt_millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(v: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(d) => s.serialize_some(&(d.as_millis() as u64)),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_millis))
    }
}

/// Errors from configuring channels (sending never errors: it returns a [`DeliveryOutcome`]).
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("CH001 invalid Notify API key: {0}")]
    InvalidApiKey(String),
    #[error("CH002 invalid configuration field `{field}`: {reason}")]
    InvalidConfig { field: &'static str, reason: String },
    #[error("CH003 unknown channel kind `{0}` (expected sms, email, webhook or log)")]
    UnknownKind(String),
    #[error("CH004 HTTP client could not be built: {0}")]
    HttpClient(String),
}

/// A delivery channel. Implementations never panic on provider input and never retry
/// internally: they report [`DeliveryOutcome::Retryable`] and the dispatcher schedules the retry.
#[async_trait::async_trait]
pub trait Channel: Send + Sync {
    fn kind(&self) -> ChannelKind;
    async fn send(&self, msg: &OutboundMessage) -> DeliveryOutcome;
}

/// Writes every message through `tracing` at INFO; always `Accepted`. The default channel
/// when no provider is configured, so a demo works offline.
#[derive(Debug, Default, Clone)]
pub struct LogChannel;

#[async_trait::async_trait]
impl Channel for LogChannel {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Log
    }
    async fn send(&self, msg: &OutboundMessage) -> DeliveryOutcome {
        tracing::info!(
            target: "ward::notification",
            reference = %msg.reference,
            recipient = %msg.recipient,
            subject = %msg.subject,
            body = %msg.body,
            "notification"
        );
        DeliveryOutcome::Accepted {
            provider_id: None,
            http_status: None,
            detail: format!("logged {}", msg.reference),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_forms_are_stable_lowercase() {
        assert_eq!(serde_json::to_string(&ChannelKind::Sms).unwrap(), "\"sms\"");
        assert_eq!(
            "webhook".parse::<ChannelKind>().unwrap(),
            ChannelKind::Webhook
        );
        assert!("SMS".parse::<ChannelKind>().is_err());
        let r = Recipient::Webhook {
            url: "http://x".into(),
            format: WebhookFormat::Teams,
        };
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            serde_json::json!({"kind":"webhook","value":{"url":"http://x","format":"teams"}})
        );
        assert_eq!(
            serde_json::to_value(Recipient::Phone("07700900123".into())).unwrap(),
            serde_json::json!({"kind":"phone","value":"07700900123"})
        );
        let o = DeliveryOutcome::Retryable {
            reason: "429".into(),
            retry_after: Some(Duration::from_secs(2)),
        };
        let v = serde_json::to_value(&o).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"outcome":"retryable","reason":"429","retry_after_ms":2000})
        );
        let back: DeliveryOutcome = serde_json::from_value(v).unwrap();
        assert_eq!(back, o);
        assert_eq!(o.as_str(), "retryable");
    }

    #[test]
    fn template_personalisation_adds_subject_and_body() {
        let mut m = OutboundMessage::new("r", Recipient::Log, "S", "B");
        m.personalisation.insert("body".into(), "custom".into());
        let p = m.template_personalisation();
        assert_eq!(p["subject"], "S");
        assert_eq!(p["body"], "custom");
    }
}
