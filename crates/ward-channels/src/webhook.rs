//! Webhooks: JSON posted to a URL, signed with HMAC-SHA-256 over `timestamp.body`.
//!
//! Every request carries `X-Ward-Timestamp: <unix seconds>` and
//! `X-Ward-Signature: sha256=<hex HMAC-SHA-256(secret, "<timestamp>.<body>")>`, so a
//! receiver can check both origin and freshness ([`verify_signature`]). Bodies come in three
//! shapes ([`WebhookFormat`]): ward's own JSON, a Slack incoming-webhook message and a
//! Microsoft Teams Adaptive Card message. 2xx is `Accepted`; 408, 429, 5xx, timeouts and
//! connection failures are `Retryable` (the dispatcher retries with backoff); other 4xx
//! are `Permanent`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use subtle::ConstantTimeEq;

use crate::jwt::hmac_sha256;
use crate::{
    Channel, ChannelError, ChannelKind, DeliveryOutcome, OutboundMessage, Recipient, WebhookFormat,
};

/// Header carrying the signing time in Unix seconds.
pub const TIMESTAMP_HEADER: &str = "X-Ward-Timestamp";
/// Header carrying `sha256=<hex>`.
pub const SIGNATURE_HEADER: &str = "X-Ward-Signature";

/// Webhook channel settings.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// HMAC key. Without one, requests are sent unsigned (Slack and Teams URLs carry their
    /// own secret in the path).
    #[serde(default)]
    pub secret: Option<String>,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_timeout_ms() -> u64 {
    10_000
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            secret: None,
            timeout_ms: default_timeout_ms(),
        }
    }
}

impl std::fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("timeout_ms", &self.timeout_ms)
            .finish()
    }
}

/// Posts to the URL in each `Recipient::Webhook`.
#[derive(Clone, Debug)]
pub struct WebhookChannel {
    secret: Option<String>,
    http: reqwest::Client,
}

impl WebhookChannel {
    pub fn new(config: WebhookConfig) -> Result<Self, ChannelError> {
        if config.secret.as_deref() == Some("") {
            return Err(ChannelError::InvalidConfig {
                field: "secret",
                reason: "empty secret; omit it to send unsigned".into(),
            });
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.timeout_ms.max(1)))
            .user_agent(concat!("ward/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ChannelError::HttpClient(e.to_string()))?;
        Ok(WebhookChannel {
            secret: config.secret,
            http,
        })
    }

    /// Sends `msg` signed with `secret` instead of the channel's own: each contact's webhook
    /// has its own key, while one channel (one connection pool) serves them all.
    pub async fn send_with_secret(
        &self,
        msg: &OutboundMessage,
        secret: Option<&str>,
    ) -> DeliveryOutcome {
        match &msg.recipient {
            Recipient::Webhook { url, format } => self.post(url, *format, msg, secret).await,
            other => DeliveryOutcome::permanent(format!(
                "the webhook channel cannot deliver to a {} recipient",
                other.kind_str()
            )),
        }
    }

    async fn post(
        &self,
        url: &str,
        format: WebhookFormat,
        msg: &OutboundMessage,
        secret: Option<&str>,
    ) -> DeliveryOutcome {
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return DeliveryOutcome::permanent(format!("webhook URL `{url}` is not http(s)"));
        }
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let body = render(format, msg, timestamp).to_string();
        let mut req = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(TIMESTAMP_HEADER, timestamp.to_string());
        if let Some(secret) = secret.filter(|s| !s.is_empty()) {
            req = req.header(SIGNATURE_HEADER, sign(secret, timestamp, body.as_bytes()));
        }
        let resp = match req.body(body).send().await {
            Ok(r) => r,
            Err(e) if e.is_timeout() => return DeliveryOutcome::retryable(format!("timeout: {e}")),
            Err(e) if e.is_builder() => {
                return DeliveryOutcome::permanent(format!("invalid webhook URL: {e}"))
            }
            Err(e) => return DeliveryOutcome::retryable(format!("transport error: {e}")),
        };
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        // Only a short prefix of the reply is kept for the attempt record.
        let text = resp.text().await.unwrap_or_default();
        let snippet: String = text.chars().take(200).collect();
        match status {
            200..=299 => DeliveryOutcome::Accepted {
                provider_id: None,
                http_status: Some(status),
                detail: format!("webhook answered {status}"),
            },
            408 | 429 | 500..=599 => DeliveryOutcome::Retryable {
                reason: format!("HTTP {status} {snippet}"),
                retry_after,
            },
            _ => DeliveryOutcome::permanent(format!("HTTP {status} {snippet}")),
        }
    }
}

#[async_trait::async_trait]
impl Channel for WebhookChannel {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Webhook
    }
    async fn send(&self, msg: &OutboundMessage) -> DeliveryOutcome {
        match &msg.recipient {
            Recipient::Webhook { .. } => self.send_with_secret(msg, self.secret.as_deref()).await,
            other => DeliveryOutcome::permanent(format!(
                "the webhook channel cannot deliver to a {} recipient",
                other.kind_str()
            )),
        }
    }
}

/// `sha256=<hex>` of `HMAC-SHA-256(secret, "<timestamp>.<body>")`.
pub fn sign(secret: &str, timestamp: u64, body: &[u8]) -> String {
    let mut data = Vec::with_capacity(body.len() + 21);
    data.extend_from_slice(timestamp.to_string().as_bytes());
    data.push(b'.');
    data.extend_from_slice(body);
    let mac = hmac_sha256(secret.as_bytes(), &data);
    let mut hex = String::with_capacity(71);
    hex.push_str("sha256=");
    for b in mac {
        hex.push_str(&format!("{b:02x}"));
    }
    hex
}

/// Why a webhook signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("WH001 missing header {0}")]
    Missing(&'static str),
    #[error("WH002 timestamp `{0}` is not Unix seconds")]
    BadTimestamp(String),
    #[error("WH003 timestamp is {skew_secs} s away from now (tolerance {tolerance_secs} s)")]
    Stale { skew_secs: u64, tolerance_secs: u64 },
    #[error("WH004 signature does not match")]
    Mismatch,
}

/// Receiver-side check: the signature matches and the timestamp is within `tolerance` of
/// `now_secs` (rejecting replays).
pub fn verify_signature(
    secret: &str,
    timestamp_header: Option<&str>,
    signature_header: Option<&str>,
    body: &[u8],
    now_secs: u64,
    tolerance: Duration,
) -> Result<(), SignatureError> {
    let ts_text = timestamp_header.ok_or(SignatureError::Missing(TIMESTAMP_HEADER))?;
    let sig = signature_header.ok_or(SignatureError::Missing(SIGNATURE_HEADER))?;
    let ts: u64 = ts_text
        .trim()
        .parse()
        .map_err(|_| SignatureError::BadTimestamp(ts_text.chars().take(40).collect()))?;
    let skew = ts.abs_diff(now_secs);
    if skew > tolerance.as_secs() {
        return Err(SignatureError::Stale {
            skew_secs: skew,
            tolerance_secs: tolerance.as_secs(),
        });
    }
    let expected = sign(secret, ts, body);
    if bool::from(expected.as_bytes().ct_eq(sig.trim().as_bytes())) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// The request body for each format.
pub fn render(format: WebhookFormat, msg: &OutboundMessage, timestamp: u64) -> Value {
    match format {
        WebhookFormat::Json => json!({
            "reference": msg.reference,
            "subject": msg.subject,
            "body": msg.body,
            "personalisation": msg.personalisation,
            "timestamp": timestamp,
        }),
        WebhookFormat::Slack => json!({
            "text": format!("*{}*\n{}", slack_escape(&msg.subject), slack_escape(&msg.body)),
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": truncate(&msg.subject, 150), "emoji": false}},
                {"type": "section", "text": {"type": "mrkdwn", "text": truncate(&slack_escape(&msg.body), 3000)}},
                {"type": "context", "elements": [{"type": "mrkdwn", "text": format!("ward reference `{}`", slack_escape(&msg.reference))}]},
            ],
        }),
        WebhookFormat::Teams => json!({
            "type": "message",
            "attachments": [{
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": null,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": [
                        {"type": "TextBlock", "size": "Large", "weight": "Bolder", "text": msg.subject, "wrap": true},
                        {"type": "TextBlock", "text": msg.body, "wrap": true},
                        {"type": "FactSet", "facts": [{"title": "Reference", "value": msg.reference}]},
                    ],
                },
            }],
        }),
    }
}

/// Slack's three control characters.
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn truncate(s: &str, max_chars: usize) -> String {
    if s.chars().count() <= max_chars {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max_chars - 1).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_roundtrip_and_refusals() {
        let body = br#"{"a":1}"#;
        let sig = sign("k", 1_700_000_000, body);
        assert!(sig.starts_with("sha256=") && sig.len() == 71);
        let ok = verify_signature(
            "k",
            Some("1700000000"),
            Some(&sig),
            body,
            1_700_000_100,
            Duration::from_secs(300),
        );
        assert_eq!(ok, Ok(()));
        let tol = Duration::from_secs(300);
        assert_eq!(
            verify_signature(
                "k2",
                Some("1700000000"),
                Some(&sig),
                body,
                1_700_000_000,
                tol
            ),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(
                "k",
                Some("1700000000"),
                Some(&sig),
                b"{}",
                1_700_000_000,
                tol
            ),
            Err(SignatureError::Mismatch)
        );
        assert!(matches!(
            verify_signature(
                "k",
                Some("1700000000"),
                Some(&sig),
                body,
                1_700_001_000,
                tol
            ),
            Err(SignatureError::Stale {
                skew_secs: 1000,
                ..
            })
        ));
        assert_eq!(
            verify_signature("k", None, Some(&sig), body, 0, tol),
            Err(SignatureError::Missing(TIMESTAMP_HEADER))
        );
        assert!(matches!(
            verify_signature("k", Some("soon"), Some(&sig), body, 0, tol),
            Err(SignatureError::BadTimestamp(_))
        ));
    }

    #[test]
    fn known_hmac_vector() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn formats_have_the_expected_shape() {
        let mut m = OutboundMessage::new("INC-1", Recipient::Log, "Worm <SMBv1>", "Act & patch");
        m.personalisation.insert("org".into(), "RXX".into());
        let j = render(WebhookFormat::Json, &m, 5);
        assert_eq!(j["personalisation"]["org"], "RXX");
        assert_eq!(j["timestamp"], 5);
        let s = render(WebhookFormat::Slack, &m, 5);
        assert_eq!(s["text"], "*Worm &lt;SMBv1&gt;*\nAct &amp; patch");
        assert_eq!(s["blocks"][0]["type"], "header");
        let t = render(WebhookFormat::Teams, &m, 5);
        assert_eq!(
            t["attachments"][0]["contentType"],
            "application/vnd.microsoft.card.adaptive"
        );
        assert_eq!(
            t["attachments"][0]["content"]["body"][0]["text"],
            "Worm <SMBv1>"
        );
        assert_eq!(truncate("abcdef", 4), "abc…");
    }
}
