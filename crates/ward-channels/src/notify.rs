//! GOV.UK Notify client: SMS and e-mail through `POST /v2/notifications/sms|email`.
//!
//! [`NotifyClient`] is configured by a [`NotifyConfig`] (API key, base URL, the SMS and e-mail
//! template ids). Every send carries the outbox row's `reference` and the message's
//! personalisation (with `subject` and `body` added, so a template can be `((body))`).
//!
//! Outcomes follow Notify's documented error contract (`status_code` plus
//! `errors[{error, message}]`): 429 and 5xx, timeouts and connection failures are
//! [`DeliveryOutcome::Retryable`]; any other 4xx is [`DeliveryOutcome::Permanent`]. A phone
//! number that is not a valid UK mobile is `Permanent` without any request being made.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::jwt::ApiKey;
use crate::phone::normalise_uk_mobile;
use crate::{Channel, ChannelError, ChannelKind, DeliveryOutcome, OutboundMessage, Recipient};

/// The production Notify API.
pub const DEFAULT_BASE_URL: &str = "https://api.notifications.service.gov.uk";

/// How to reach Notify.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    /// `{key_name}-{service_id}-{secret}` as issued by Notify.
    pub api_key: String,
    /// Defaults to [`DEFAULT_BASE_URL`].
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// Template used for SMS; should contain `((body))`.
    pub sms_template_id: String,
    /// Template used for e-mail; should contain `((subject))` and `((body))`.
    pub email_template_id: String,
    /// Optional `sms_sender_id` sent with every SMS.
    #[serde(default)]
    pub sms_sender_id: Option<String>,
    /// Optional `email_reply_to_id` sent with every e-mail.
    #[serde(default)]
    pub email_reply_to_id: Option<String>,
    /// Whole-request timeout; a timeout is Retryable.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

impl std::fmt::Debug for NotifyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotifyConfig")
            .field("api_key", &"<redacted>")
            .field("base_url", &self.base_url)
            .field("sms_template_id", &self.sms_template_id)
            .field("email_template_id", &self.email_template_id)
            .field("timeout_ms", &self.timeout_ms)
            .finish()
    }
}

fn default_base_url() -> String {
    DEFAULT_BASE_URL.to_string()
}
fn default_timeout_ms() -> u64 {
    10_000
}

impl NotifyConfig {
    pub fn new(
        api_key: impl Into<String>,
        sms_template_id: impl Into<String>,
        email_template_id: impl Into<String>,
    ) -> Self {
        NotifyConfig {
            api_key: api_key.into(),
            base_url: default_base_url(),
            sms_template_id: sms_template_id.into(),
            email_template_id: email_template_id.into(),
            sms_sender_id: None,
            email_reply_to_id: None,
            timeout_ms: default_timeout_ms(),
        }
    }

    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into();
        self
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout_ms = timeout.as_millis() as u64;
        self
    }
}

/// One entry of Notify's `errors` array.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotifyApiError {
    pub error: String,
    pub message: String,
}

/// Notify's error body: `{"status_code": 400, "errors": [{"error": ..., "message": ...}]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotifyErrorBody {
    pub status_code: u16,
    #[serde(default)]
    pub errors: Vec<NotifyApiError>,
}

impl NotifyErrorBody {
    /// `BadRequestError: Missing personalisation: name; ...`
    pub fn summary(&self) -> String {
        self.errors
            .iter()
            .map(|e| format!("{}: {}", e.error, e.message))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// True when any entry has this `error` type (e.g. `RateLimitError`).
    pub fn has_error(&self, error: &str) -> bool {
        self.errors.iter().any(|e| e.error == error)
    }
}

/// The 201 reply to a send (fields common to SMS and e-mail).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SendResponse {
    pub id: String,
    #[serde(default)]
    pub reference: Option<String>,
    #[serde(default)]
    pub uri: Option<String>,
    #[serde(default)]
    pub content: serde_json::Value,
    #[serde(default)]
    pub template: serde_json::Value,
}

#[derive(Debug, Serialize)]
struct SmsRequest<'a> {
    phone_number: &'a str,
    template_id: &'a str,
    personalisation: &'a BTreeMap<String, String>,
    reference: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    sms_sender_id: Option<&'a str>,
}

#[derive(Debug, Serialize)]
struct EmailRequest<'a> {
    email_address: &'a str,
    template_id: &'a str,
    personalisation: &'a BTreeMap<String, String>,
    reference: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    email_reply_to_id: Option<&'a str>,
}

/// GOV.UK Notify API client. Cheap to clone (shares one connection pool).
///
/// As a [`Channel`] it reports kind `Sms` but delivers both `Recipient::Phone` (SMS) and
/// `Recipient::Email`; use [`NotifyClient::sms`] / [`NotifyClient::email`] for channels whose
/// `kind()` says which one they are.
#[derive(Clone, Debug)]
pub struct NotifyClient {
    key: ApiKey,
    base_url: String,
    sms_template_id: String,
    email_template_id: String,
    sms_sender_id: Option<String>,
    email_reply_to_id: Option<String>,
    http: reqwest::Client,
}

impl NotifyClient {
    /// Builds a client; fails on a malformed API key, base URL or template id.
    pub fn new(config: NotifyConfig) -> Result<Self, ChannelError> {
        let key = ApiKey::parse(&config.api_key)?;
        let base_url = config.base_url.trim_end_matches('/').to_string();
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(ChannelError::InvalidConfig {
                field: "base_url",
                reason: format!("`{base_url}` is not an http(s) URL"),
            });
        }
        for (field, v) in [
            ("sms_template_id", &config.sms_template_id),
            ("email_template_id", &config.email_template_id),
        ] {
            uuid::Uuid::parse_str(v).map_err(|e| ChannelError::InvalidConfig {
                field,
                reason: format!("`{v}` is not a UUID: {e}"),
            })?;
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.timeout_ms.max(1)))
            .user_agent(concat!("ward/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ChannelError::HttpClient(e.to_string()))?;
        Ok(NotifyClient {
            key,
            base_url,
            sms_template_id: config.sms_template_id,
            email_template_id: config.email_template_id,
            sms_sender_id: config.sms_sender_id,
            email_reply_to_id: config.email_reply_to_id,
            http,
        })
    }

    /// The parsed API key (service id, key name).
    pub fn api_key(&self) -> &ApiKey {
        &self.key
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// A channel of kind `Sms` over this client.
    pub fn sms(&self) -> NotifySms {
        NotifySms(self.clone())
    }

    /// A channel of kind `Email` over this client.
    pub fn email(&self) -> NotifyEmail {
        NotifyEmail(self.clone())
    }

    /// Sends an SMS. The number is normalised to E.164 first; an invalid one is `Permanent`
    /// and no request is made.
    pub async fn send_sms(&self, msg: &OutboundMessage, phone: &str) -> DeliveryOutcome {
        let phone = match normalise_uk_mobile(phone) {
            Ok(p) => p,
            Err(e) => return DeliveryOutcome::permanent(format!("invalid phone number: {e}")),
        };
        let personalisation = msg.template_personalisation();
        let body = SmsRequest {
            phone_number: &phone,
            template_id: &self.sms_template_id,
            personalisation: &personalisation,
            reference: &msg.reference,
            sms_sender_id: self.sms_sender_id.as_deref(),
        };
        self.post_send("/v2/notifications/sms", &body).await
    }

    /// Sends an e-mail through the e-mail template.
    pub async fn send_email(&self, msg: &OutboundMessage, address: &str) -> DeliveryOutcome {
        let address = address.trim();
        if !looks_like_email(address) {
            return DeliveryOutcome::permanent(format!(
                "invalid e-mail address `{address}`: Not a valid email address"
            ));
        }
        let personalisation = msg.template_personalisation();
        let body = EmailRequest {
            email_address: address,
            template_id: &self.email_template_id,
            personalisation: &personalisation,
            reference: &msg.reference,
            email_reply_to_id: self.email_reply_to_id.as_deref(),
        };
        self.post_send("/v2/notifications/email", &body).await
    }

    async fn post_send<B: Serialize>(&self, path: &str, body: &B) -> DeliveryOutcome {
        let url = format!("{}{path}", self.base_url);
        let res = self
            .http
            .post(&url)
            .bearer_auth(self.key.token_now())
            .json(body)
            .send()
            .await;
        let resp = match res {
            Ok(r) => r,
            Err(e) => return transport_outcome(&e),
        };
        let status = resp.status().as_u16();
        let retry_after = parse_retry_after(resp.headers());
        let bytes = match resp.bytes().await {
            Ok(b) => b,
            Err(e) if (200..300).contains(&status) => {
                // The send was taken; a broken body must not cause a duplicate text.
                return DeliveryOutcome::Accepted {
                    provider_id: None,
                    http_status: Some(status),
                    detail: format!("accepted, but reply body unreadable: {e}"),
                };
            }
            Err(e) => return transport_outcome(&e),
        };
        classify_response(status, &bytes, retry_after)
    }
}

/// Maps a Notify HTTP reply onto an outcome.
pub fn classify_response(
    status: u16,
    body: &[u8],
    retry_after: Option<Duration>,
) -> DeliveryOutcome {
    if (200..300).contains(&status) {
        return match serde_json::from_slice::<SendResponse>(body) {
            Ok(r) => DeliveryOutcome::Accepted {
                detail: format!("notify accepted notification {}", r.id),
                provider_id: Some(r.id),
                http_status: Some(status),
            },
            Err(e) => DeliveryOutcome::Accepted {
                provider_id: None,
                http_status: Some(status),
                detail: format!("accepted, but reply body not understood: {e}"),
            },
        };
    }
    let detail = match serde_json::from_slice::<NotifyErrorBody>(body) {
        Ok(b) if !b.errors.is_empty() => b.summary(),
        _ => {
            let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
            format!("unexpected body: {text}")
        }
    };
    let reason = format!("HTTP {status} {detail}");
    match status {
        429 => DeliveryOutcome::Retryable {
            reason,
            retry_after,
        },
        500..=599 => DeliveryOutcome::Retryable {
            reason,
            retry_after,
        },
        _ => DeliveryOutcome::permanent(reason),
    }
}

fn transport_outcome(e: &reqwest::Error) -> DeliveryOutcome {
    if e.is_timeout() {
        DeliveryOutcome::retryable(format!("timeout: {e}"))
    } else if e.is_connect() {
        DeliveryOutcome::retryable(format!("connection failed: {e}"))
    } else {
        DeliveryOutcome::retryable(format!("transport error: {e}"))
    }
}

fn parse_retry_after(h: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = h.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// A deliberately loose check (one `@`, something either side, a dot in the domain, no
/// spaces): Notify does the authoritative validation and answers 400 if it disagrees.
fn looks_like_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && !s.chars().any(char::is_whitespace)
}

#[async_trait::async_trait]
impl Channel for NotifyClient {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Sms
    }
    async fn send(&self, msg: &OutboundMessage) -> DeliveryOutcome {
        match &msg.recipient {
            Recipient::Phone(p) => self.send_sms(msg, p).await,
            Recipient::Email(a) => self.send_email(msg, a).await,
            other => DeliveryOutcome::permanent(format!(
                "GOV.UK Notify cannot deliver to a {} recipient",
                other.kind_str()
            )),
        }
    }
}

/// Notify SMS as a channel of kind `Sms`.
#[derive(Clone, Debug)]
pub struct NotifySms(pub NotifyClient);

/// Notify e-mail as a channel of kind `Email`.
#[derive(Clone, Debug)]
pub struct NotifyEmail(pub NotifyClient);

#[async_trait::async_trait]
impl Channel for NotifySms {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Sms
    }
    async fn send(&self, msg: &OutboundMessage) -> DeliveryOutcome {
        match &msg.recipient {
            Recipient::Phone(p) => self.0.send_sms(msg, p).await,
            other => DeliveryOutcome::permanent(format!(
                "the SMS channel cannot deliver to a {} recipient",
                other.kind_str()
            )),
        }
    }
}

#[async_trait::async_trait]
impl Channel for NotifyEmail {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Email
    }
    async fn send(&self, msg: &OutboundMessage) -> DeliveryOutcome {
        match &msg.recipient {
            Recipient::Email(a) => self.0.send_email(msg, a).await,
            other => DeliveryOutcome::permanent(format!(
                "the e-mail channel cannot deliver to a {} recipient",
                other.kind_str()
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_notify_error_bodies() {
        let body = br#"{"status_code":429,"errors":[{"error":"RateLimitError","message":"Exceeded rate limit for key type LIVE of 3000 requests per 60 seconds"}]}"#;
        let o = classify_response(429, body, Some(Duration::from_secs(1)));
        match o {
            DeliveryOutcome::Retryable {
                reason,
                retry_after,
            } => {
                assert!(reason.contains("RateLimitError"), "{reason}");
                assert_eq!(retry_after, Some(Duration::from_secs(1)));
            }
            other => panic!("{other:?}"),
        }
        let body = br#"{"status_code":400,"errors":[{"error":"BadRequestError","message":"Missing personalisation: name"}]}"#;
        assert!(matches!(
            classify_response(400, body, None),
            DeliveryOutcome::Permanent { reason } if reason.contains("Missing personalisation: name")
        ));
        assert!(matches!(
            classify_response(503, b"<html>bad gateway</html>", None),
            DeliveryOutcome::Retryable { .. }
        ));
        assert!(matches!(
            classify_response(403, b"", None),
            DeliveryOutcome::Permanent { .. }
        ));
        let ok = br#"{"id":"740e5834-3a29-46b4-9a6f-16142fde533a","reference":"r1","content":{"body":"hi","from_number":"GOVUK"},"uri":"x","template":{"id":"t","version":1,"uri":"u"}}"#;
        assert_eq!(
            classify_response(201, ok, None),
            DeliveryOutcome::Accepted {
                provider_id: Some("740e5834-3a29-46b4-9a6f-16142fde533a".into()),
                http_status: Some(201),
                detail: "notify accepted notification 740e5834-3a29-46b4-9a6f-16142fde533a".into()
            }
        );
    }

    #[test]
    fn email_check_is_loose_but_not_empty() {
        assert!(looks_like_email("a.b@nhs.net"));
        assert!(!looks_like_email("a.b@nhs"));
        assert!(!looks_like_email("@nhs.net"));
        assert!(!looks_like_email("a b@nhs.net"));
    }
}
