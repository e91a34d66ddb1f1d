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

use std::sync::Arc;

use crate::jwt::ApiKey;
use crate::phone::normalise_uk_mobile;
use crate::ratelimit::{shared_limits, until_utc_midnight, DailyUsage, KeyLimits, RateLimit};
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
    /// Sender-side token bucket, shared by all clients of this key in the process.
    /// `None` disables it (Notify's own limit still applies).
    #[serde(default = "default_rate_limit")]
    pub rate_limit: Option<RateLimit>,
    /// The service's daily message limit (Notify: 250,000 for a live service).
    #[serde(default = "default_daily_limit")]
    pub daily_limit: u64,
}

fn default_rate_limit() -> Option<RateLimit> {
    Some(RateLimit::default())
}
fn default_daily_limit() -> u64 {
    250_000
}

impl std::fmt::Debug for NotifyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotifyConfig")
            .field("api_key", &"<redacted>")
            .field("base_url", &self.base_url)
            .field("sms_template_id", &self.sms_template_id)
            .field("email_template_id", &self.email_template_id)
            .field("timeout_ms", &self.timeout_ms)
            .field("rate_limit", &self.rate_limit)
            .field("daily_limit", &self.daily_limit)
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
            rate_limit: default_rate_limit(),
            daily_limit: default_daily_limit(),
        }
    }

    /// Replaces (or with `None` disables) the sender-side token bucket.
    pub fn with_rate_limit(mut self, rate_limit: Option<RateLimit>) -> Self {
        self.rate_limit = rate_limit;
        self
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
    limits: Arc<KeyLimits>,
    /// References whose last attempt may have reached Notify without our learning the
    /// answer (timeout, transport error, 5xx). Before sending one again the client asks
    /// Notify whether it already has it, so a retry never texts twice.
    uncertain: Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
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
        let limits = shared_limits(
            // Different endpoints (a stand-in per test) have different limits.
            &format!("{base_url}|{}:{}", key.service_id, key.key_name),
            config.rate_limit,
            config.daily_limit,
        );
        Ok(NotifyClient {
            uncertain: Arc::default(),
            limits,
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
        self.post_send(&msg.reference, "/v2/notifications/sms", &body)
            .await
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
        self.post_send(&msg.reference, "/v2/notifications/email", &body)
            .await
    }

    /// Today's usage against the daily limit (counted by this process for this key).
    pub fn daily_usage(&self) -> DailyUsage {
        self.limits.daily.usage()
    }

    /// The sender-side rate limit in force (`None` when disabled).
    pub fn rate_limit(&self) -> Option<RateLimit> {
        self.limits.bucket.as_ref().map(|b| b.limit())
    }

    /// Tokens left in the sender-side bucket (`None` when disabled).
    pub fn rate_tokens_available(&self) -> Option<f64> {
        self.limits.bucket.as_ref().map(|b| b.available())
    }

    /// Marks `reference` as possibly already sent (e.g. an outbox row that was in flight
    /// when the process died), so the next send first checks Notify for it.
    pub fn mark_uncertain(&self, reference: &str) {
        self.uncertain_set().insert(reference.to_string());
    }

    fn uncertain_set(&self) -> std::sync::MutexGuard<'_, std::collections::HashSet<String>> {
        self.uncertain.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn post_send<B: Serialize>(
        &self,
        reference: &str,
        path: &str,
        body: &B,
    ) -> DeliveryOutcome {
        let was_uncertain = self.uncertain_set().contains(reference);
        if was_uncertain && !reference.is_empty() {
            match self.find_by_reference(reference).await {
                Ok(found) if !found.is_empty() => {
                    self.uncertain_set().remove(reference);
                    let n = &found[0];
                    return DeliveryOutcome::Accepted {
                        provider_id: Some(n.id.clone()),
                        http_status: None,
                        detail: format!(
                            "notify already had notification {} for this reference (status {}); not sent again",
                            n.id,
                            n.status.as_str()
                        ),
                    };
                }
                Ok(_) => {}
                Err(e) => {
                    return DeliveryOutcome::Retryable {
                        reason: format!("could not check for an earlier send: {e}"),
                        retry_after: None,
                    }
                }
            }
        }
        let outcome = self.post_send_limited(path, body).await;
        match &outcome {
            DeliveryOutcome::Retryable { reason, .. }
                if !reason.starts_with("HTTP 429")
                    && !reason.starts_with("sender-side")
                    && !reason.starts_with("daily limit") =>
            {
                self.uncertain_set().insert(reference.to_string());
            }
            _ => {
                self.uncertain_set().remove(reference);
            }
        }
        outcome
    }

    async fn post_send_limited<B: Serialize>(&self, path: &str, body: &B) -> DeliveryOutcome {
        if self.limits.daily.usage().exhausted {
            return DeliveryOutcome::Retryable {
                reason: "daily limit reached (TooManyRequestsError earlier today)".to_string(),
                retry_after: Some(until_utc_midnight()),
            };
        }
        if let Some(bucket) = &self.limits.bucket {
            if let Err(wait) = bucket.acquire().await {
                return DeliveryOutcome::Retryable {
                    reason: format!(
                        "sender-side rate limit: next token in {} ms",
                        wait.as_millis()
                    ),
                    retry_after: Some(wait),
                };
            }
        }
        let outcome = self.post_send_now(path, body).await;
        match &outcome {
            DeliveryOutcome::Accepted { .. } => self.limits.daily.record_sent(),
            DeliveryOutcome::Retryable { reason, .. } if reason.contains("RateLimitError") => {
                if let Some(bucket) = &self.limits.bucket {
                    bucket.drain();
                }
            }
            DeliveryOutcome::Retryable { reason, .. }
                if reason.contains("TooManyRequestsError") =>
            {
                self.limits.daily.mark_exhausted();
                return DeliveryOutcome::Retryable {
                    reason: reason.clone(),
                    retry_after: Some(until_utc_midnight()),
                };
            }
            _ => {}
        }
        outcome
    }

    async fn post_send_now<B: Serialize>(&self, path: &str, body: &B) -> DeliveryOutcome {
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
    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        path_and_query: &str,
    ) -> Result<T, NotifyError> {
        let url = format!("{}{path_and_query}", self.base_url);
        let resp = self
            .http
            .get(&url)
            .bearer_auth(self.key.token_now())
            .send()
            .await
            .map_err(|e| NotifyError::Transport {
                url: url.clone(),
                reason: e.to_string(),
            })?;
        let status = resp.status().as_u16();
        let retry_after = parse_retry_after(resp.headers());
        let bytes = resp.bytes().await.map_err(|e| NotifyError::Transport {
            url: url.clone(),
            reason: e.to_string(),
        })?;
        if !(200..300).contains(&status) {
            let body = serde_json::from_slice::<NotifyErrorBody>(&bytes).ok();
            return Err(NotifyError::Api {
                status,
                summary: body.as_ref().map(|b| b.summary()).unwrap_or_else(|| {
                    String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned()
                }),
                body,
                retry_after,
            });
        }
        serde_json::from_slice(&bytes).map_err(|e| NotifyError::Decode {
            url,
            reason: e.to_string(),
        })
    }

    /// `GET /v2/notifications/{id}`: the status-polling backstop to callbacks.
    pub async fn get_notification(&self, id: &str) -> Result<NotificationInfo, NotifyError> {
        let id = uuid::Uuid::parse_str(id).map_err(|e| NotifyError::InvalidArgument {
            field: "id",
            reason: e.to_string(),
        })?;
        self.get_json(&format!("/v2/notifications/{id}")).await
    }

    /// Notifications sent with `reference` (newest first, first page of 250). Used after a
    /// lost reply to learn whether a send went through before sending it again.
    pub async fn find_by_reference(
        &self,
        reference: &str,
    ) -> Result<Vec<NotificationInfo>, NotifyError> {
        let page: NotificationsPage = self
            .get_json(&format!(
                "/v2/notifications?reference={}",
                url_encode(reference)
            ))
            .await?;
        Ok(page.notifications)
    }

    /// One page (up to 250, newest first) of `GET /v2/received-text-messages`.
    pub async fn received_texts_page(
        &self,
        older_than: Option<&str>,
    ) -> Result<ReceivedTextsPage, NotifyError> {
        match older_than {
            Some(id) => {
                let id = uuid::Uuid::parse_str(id).map_err(|e| NotifyError::InvalidArgument {
                    field: "older_than",
                    reason: e.to_string(),
                })?;
                self.get_json(&format!("/v2/received-text-messages?older_than={id}"))
                    .await
            }
            None => self.get_json("/v2/received-text-messages").await,
        }
    }

    /// Received texts newer than `last_seen_id`, oldest first, following `older_than`
    /// pages back until the last one seen (or the end, at most `max_pages`). Feed the
    /// newest id back in on the next poll.
    pub async fn received_texts_since(
        &self,
        last_seen_id: Option<&str>,
        max_pages: usize,
    ) -> Result<Vec<ReceivedText>, NotifyError> {
        let mut out = Vec::new();
        let mut older_than: Option<String> = None;
        for _ in 0..max_pages.max(1) {
            let page = self.received_texts_page(older_than.as_deref()).await?;
            if page.received_text_messages.is_empty() {
                break;
            }
            for t in page.received_text_messages {
                if Some(t.id.as_str()) == last_seen_id {
                    out.reverse();
                    return Ok(out);
                }
                older_than = Some(t.id.clone());
                out.push(t);
            }
        }
        out.reverse();
        Ok(out)
    }
}

/// Errors from Notify's read APIs (sends report a [`DeliveryOutcome`] instead).
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("NF001 Notify answered HTTP {status}: {summary}")]
    Api {
        status: u16,
        summary: String,
        body: Option<NotifyErrorBody>,
        retry_after: Option<Duration>,
    },
    #[error("NF002 request to {url} failed: {reason}")]
    Transport { url: String, reason: String },
    #[error("NF003 reply from {url} not understood: {reason}")]
    Decode { url: String, reason: String },
    #[error("NF004 invalid `{field}`: {reason}")]
    InvalidArgument { field: &'static str, reason: String },
}

impl NotifyError {
    /// Worth retrying later (429, 5xx, transport).
    pub fn is_retryable(&self) -> bool {
        match self {
            NotifyError::Api { status, .. } => *status == 429 || *status >= 500,
            NotifyError::Transport { .. } => true,
            NotifyError::Decode { .. } | NotifyError::InvalidArgument { .. } => false,
        }
    }
}

fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A notification's status as Notify reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NotifyStatus {
    Created,
    Sending,
    Pending,
    Sent,
    Delivered,
    PermanentFailure,
    TemporaryFailure,
    TechnicalFailure,
    /// Any status ward does not act on (letters, `cancelled`, future additions).
    #[serde(other)]
    Other,
}

impl NotifyStatus {
    /// No further change is expected.
    pub fn is_final(self) -> bool {
        !matches!(
            self,
            NotifyStatus::Created | NotifyStatus::Sending | NotifyStatus::Pending
        )
    }
    /// Reached the handset or inbox (`sent` is as far as international SMS reports).
    pub fn is_delivered(self) -> bool {
        matches!(self, NotifyStatus::Delivered | NotifyStatus::Sent)
    }
    /// Failed: the caller should fail over to the next channel.
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            NotifyStatus::PermanentFailure
                | NotifyStatus::TemporaryFailure
                | NotifyStatus::TechnicalFailure
        )
    }
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyStatus::Created => "created",
            NotifyStatus::Sending => "sending",
            NotifyStatus::Pending => "pending",
            NotifyStatus::Sent => "sent",
            NotifyStatus::Delivered => "delivered",
            NotifyStatus::PermanentFailure => "permanent-failure",
            NotifyStatus::TemporaryFailure => "temporary-failure",
            NotifyStatus::TechnicalFailure => "technical-failure",
            NotifyStatus::Other => "other",
        }
    }
}

/// The fields of `GET /v2/notifications/{id}` ward uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationInfo {
    pub id: String,
    #[serde(default)]
    pub reference: Option<String>,
    #[serde(rename = "type")]
    pub notification_type: String,
    pub status: NotifyStatus,
    #[serde(default)]
    pub phone_number: Option<String>,
    #[serde(default)]
    pub email_address: Option<String>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub sent_at: Option<String>,
    #[serde(default)]
    pub completed_at: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct NotificationsPage {
    notifications: Vec<NotificationInfo>,
}

/// One received text message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceivedText {
    pub id: String,
    pub user_number: String,
    pub notify_number: String,
    pub created_at: String,
    #[serde(default)]
    pub service_id: Option<String>,
    pub content: String,
}

/// A page of `GET /v2/received-text-messages`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceivedTextsPage {
    pub received_text_messages: Vec<ReceivedText>,
    #[serde(default)]
    pub links: serde_json::Value,
}

/// The body Notify posts to the delivery-status callback URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryStatusCallback {
    pub id: String,
    #[serde(default)]
    pub reference: Option<String>,
    pub to: String,
    pub status: NotifyStatus,
    pub created_at: String,
    #[serde(default)]
    pub completed_at: Option<String>,
    #[serde(default)]
    pub sent_at: Option<String>,
    pub notification_type: String,
    #[serde(default)]
    pub template_id: Option<String>,
    #[serde(default)]
    pub template_version: Option<u32>,
}

/// The body Notify posts to the received-text callback URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceivedTextCallback {
    pub id: String,
    pub source_number: String,
    pub destination_number: String,
    pub message: String,
    pub date_received: String,
}

/// Checks a callback's `Authorization` header against the bearer token configured in
/// Notify, in constant time.
pub fn verify_callback_bearer(authorization: Option<&str>, expected_token: &str) -> bool {
    use subtle::ConstantTimeEq;
    let Some(h) = authorization else {
        return false;
    };
    let Some(token) = h
        .get(..7)
        .filter(|s| s.eq_ignore_ascii_case("bearer "))
        .map(|_| &h[7..])
    else {
        return false;
    };
    !expected_token.is_empty() && bool::from(token.as_bytes().ct_eq(expected_token.as_bytes()))
}

/// Extracts the reference from an SMS reply `ACK <ref>` (case-insensitive; an optional `:`
/// after ACK; surrounding spaces ignored). Returns `None` for anything else.
///
/// ```
/// use ward_channels::notify::parse_ack;
/// assert_eq!(parse_ack(" ack: INC-42 ").as_deref(), Some("INC-42"));
/// assert_eq!(parse_ack("ACKNOWLEDGED"), None);
/// ```
pub fn parse_ack(content: &str) -> Option<String> {
    let t = content.trim();
    let head = t.get(..3)?;
    if !head.eq_ignore_ascii_case("ack") {
        return None;
    }
    let rest = &t[3..];
    let rest = rest.strip_prefix(':').unwrap_or(rest);
    if !rest.starts_with(char::is_whitespace) && !t[3..].starts_with(':') {
        return None;
    }
    let reference = rest.split_whitespace().next()?;
    Some(reference.to_string())
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
    fn parses_ack_replies() {
        assert_eq!(parse_ack("ACK INC-42").as_deref(), Some("INC-42"));
        assert_eq!(parse_ack("ack inc-42 thanks").as_deref(), Some("inc-42"));
        assert_eq!(
            parse_ack("Ack:HSA-2026-0001").as_deref(),
            Some("HSA-2026-0001")
        );
        assert_eq!(parse_ack("ACK"), None);
        assert_eq!(parse_ack("ACK   "), None);
        assert_eq!(parse_ack("ACKNOWLEDGED INC-1"), None);
        assert_eq!(parse_ack("please ACK INC-1"), None);
        assert_eq!(parse_ack("é"), None);
    }

    #[test]
    fn callback_bodies_deserialise() {
        let cb: DeliveryStatusCallback = serde_json::from_str(r#"{"id":"740e5834-3a29-46b4-9a6f-16142fde533a","reference":"r","to":"07700912345","status":"temporary-failure","created_at":"2017-05-14T12:15:30.000000Z","completed_at":null,"sent_at":null,"notification_type":"sms","template_id":"t","template_version":1}"#).unwrap();
        assert_eq!(cb.status, NotifyStatus::TemporaryFailure);
        let cb: DeliveryStatusCallback = serde_json::from_str(r#"{"id":"x","reference":null,"to":"a@b.c","status":"cancelled","created_at":"t","notification_type":"email"}"#).unwrap();
        assert_eq!(cb.status, NotifyStatus::Other);
    }

    #[test]
    fn email_check_is_loose_but_not_empty() {
        assert!(looks_like_email("a.b@nhs.net"));
        assert!(!looks_like_email("a.b@nhs"));
        assert!(!looks_like_email("@nhs.net"));
        assert!(!looks_like_email("a b@nhs.net"));
    }
}
