//! E-mail over SMTP through `lettre`: STARTTLS (port 587) or implicit TLS (port 465), with
//! rustls and a pool of reused connections.
//!
//! A private CA can be trusted explicitly ([`SmtpConfig::extra_ca_pem`]): rustls refuses a
//! bare self-signed certificate, so a test or an internal relay presents a leaf issued by
//! a CA that is added here. SMTP replies map onto outcomes: 4xx (transient) and connection
//! or TLS failures are `Retryable`, 5xx (permanent) is `Permanent`.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};

use crate::{Channel, ChannelError, ChannelKind, DeliveryOutcome, OutboundMessage, Recipient};

/// How the connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS, which is required (never falls back).
    #[default]
    Starttls,
    /// TLS from the first byte (SMTPS, port 465).
    Implicit,
    /// No TLS at all: only for a relay on loopback.
    None,
}

/// SMTP relay settings.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    #[serde(default = "default_port")]
    pub port: u16,
    #[serde(default)]
    pub security: SmtpSecurity,
    /// Name checked against the server certificate; defaults to `host`.
    #[serde(default)]
    pub tls_server_name: Option<String>,
    /// PEM of an extra CA to trust (added to the Web PKI roots).
    #[serde(default)]
    pub extra_ca_pem: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    /// `From:` mailbox, e.g. `ward alerts <alerts@ward.example>`.
    pub from: String,
    /// Pooled connections kept open.
    #[serde(default = "default_pool")]
    pub pool_max_size: u32,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_port() -> u16 {
    587
}
fn default_pool() -> u32 {
    4
}
fn default_timeout_ms() -> u64 {
    15_000
}

impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("from", &self.from)
            .finish()
    }
}

impl SmtpConfig {
    pub fn new(host: impl Into<String>, port: u16, from: impl Into<String>) -> Self {
        SmtpConfig {
            host: host.into(),
            port,
            security: SmtpSecurity::Starttls,
            tls_server_name: None,
            extra_ca_pem: None,
            username: None,
            password: None,
            from: from.into(),
            pool_max_size: default_pool(),
            timeout_ms: default_timeout_ms(),
        }
    }
}

/// Sends `Recipient::Email` messages through an SMTP relay.
#[derive(Clone)]
pub struct SmtpChannel {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for SmtpChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpChannel")
            .field("from", &self.from)
            .finish()
    }
}

impl SmtpChannel {
    /// Builds the pooled transport. Must run inside a Tokio runtime: the pool spawns its
    /// idle-connection reaper there.
    pub fn new(config: SmtpConfig) -> Result<Self, ChannelError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(ChannelError::InvalidConfig {
                field: "runtime",
                reason: "SmtpChannel::new must be called inside a Tokio runtime".into(),
            });
        }
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|e| ChannelError::InvalidConfig {
                field: "from",
                reason: format!("`{}` is not a mailbox: {e}", config.from),
            })?;
        let server_name = config
            .tls_server_name
            .clone()
            .unwrap_or_else(|| config.host.clone());
        let mut tls = TlsParameters::builder(server_name);
        if let Some(pem) = &config.extra_ca_pem {
            // lettre accepts a PEM with no certificate in it; that would trust nothing new.
            if !pem.contains("-----BEGIN CERTIFICATE-----") {
                return Err(ChannelError::InvalidConfig {
                    field: "extra_ca_pem",
                    reason: "no `-----BEGIN CERTIFICATE-----` block".into(),
                });
            }
            let cert =
                Certificate::from_pem(pem.as_bytes()).map_err(|e| ChannelError::InvalidConfig {
                    field: "extra_ca_pem",
                    reason: e.to_string(),
                })?;
            tls = tls.add_root_certificate(cert);
        }
        let tls = tls
            .build_rustls()
            .map_err(|e| ChannelError::InvalidConfig {
                field: "tls_server_name",
                reason: e.to_string(),
            })?;
        let tls = match config.security {
            SmtpSecurity::Starttls => Tls::Required(tls),
            SmtpSecurity::Implicit => Tls::Wrapper(tls),
            SmtpSecurity::None => Tls::None,
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host)
            .port(config.port)
            .tls(tls)
            .timeout(Some(Duration::from_millis(config.timeout_ms.max(1))))
            .pool_config(PoolConfig::new().max_size(config.pool_max_size.max(1)));
        match (&config.username, &config.password) {
            (Some(u), Some(p)) => {
                builder = builder.credentials(Credentials::new(u.clone(), p.clone()));
            }
            (None, None) => {}
            _ => {
                return Err(ChannelError::InvalidConfig {
                    field: "username",
                    reason: "username and password go together".into(),
                })
            }
        }
        Ok(SmtpChannel {
            transport: builder.build(),
            from,
        })
    }

    /// Checks that the relay answers (connects, secures, greets).
    pub async fn test_connection(&self) -> Result<bool, String> {
        self.transport
            .test_connection()
            .await
            .map_err(|e| e.to_string())
    }

    async fn send_to(&self, msg: &OutboundMessage, address: &str) -> DeliveryOutcome {
        let to: Mailbox = match address.trim().parse() {
            Ok(m) => m,
            Err(e) => {
                return DeliveryOutcome::permanent(format!(
                    "invalid e-mail address `{address}`: {e}"
                ))
            }
        };
        let email = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(msg.subject.clone())
            .message_id(Some(message_id(&msg.reference, &self.from)))
            .header(ContentType::TEXT_PLAIN)
            .body(msg.body.clone());
        let email = match email {
            Ok(e) => e,
            Err(e) => {
                return DeliveryOutcome::permanent(format!("message could not be built: {e}"))
            }
        };
        match self.transport.send(email).await {
            Ok(resp) => DeliveryOutcome::Accepted {
                provider_id: resp.first_line().map(str::to_string),
                http_status: None,
                detail: format!("SMTP {}", resp.code()),
            },
            Err(e) if e.is_permanent() => DeliveryOutcome::permanent(format!("SMTP: {e}")),
            Err(e) => DeliveryOutcome::retryable(format!("SMTP: {e}")),
        }
    }
}

/// `<reference@from-domain>` with characters outside a msg-id's dot-atom replaced, so the
/// reference can be found in the recipient's headers.
fn message_id(reference: &str, from: &Mailbox) -> String {
    let clean: String = reference
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-._+".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    let clean = if clean.is_empty() {
        "ward".to_string()
    } else {
        clean
    };
    format!("<{clean}@{}>", from.email.domain())
}

#[async_trait::async_trait]
impl Channel for SmtpChannel {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Email
    }
    async fn send(&self, msg: &OutboundMessage) -> DeliveryOutcome {
        match &msg.recipient {
            Recipient::Email(a) => self.send_to(msg, a).await,
            other => DeliveryOutcome::permanent(format!(
                "the SMTP channel cannot deliver to a {} recipient",
                other.kind_str()
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_are_clean() {
        let from: Mailbox = "ward <alerts@ward.example>".parse().unwrap();
        assert_eq!(
            message_id("INC-7/sms 1", &from),
            "<INC-7-sms-1@ward.example>"
        );
        assert_eq!(message_id("", &from), "<ward@ward.example>");
    }

    #[test]
    fn needs_a_runtime() {
        let e = SmtpChannel::new(SmtpConfig::new("h", 587, "a@b.example")).unwrap_err();
        assert!(e.to_string().contains("runtime"), "{e}");
    }

    #[tokio::test]
    async fn config_errors_name_the_field() {
        let e = SmtpChannel::new(SmtpConfig::new("h", 587, "not a mailbox")).unwrap_err();
        assert!(e.to_string().contains("`from`"), "{e}");
        let mut c = SmtpConfig::new("h", 587, "a@b.example");
        c.username = Some("u".into());
        assert!(SmtpChannel::new(c)
            .unwrap_err()
            .to_string()
            .contains("username"));
        let mut c = SmtpConfig::new("h", 587, "a@b.example");
        c.extra_ca_pem = Some("garbage".into());
        assert!(SmtpChannel::new(c)
            .unwrap_err()
            .to_string()
            .contains("extra_ca_pem"));
    }
}
