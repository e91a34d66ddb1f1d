//! The SMTP and webhook channels, added to the dispatcher's [`ChannelSet`] from `[smtp]`,
//! `[webhooks]` and `notify.email_via`.

use std::sync::Arc;
use std::time::Duration;

use ward_alerting::ChannelSet;
use ward_channels::smtp::{SmtpChannel, SmtpConfig, SmtpSecurity};
use ward_channels::webhook::{WebhookChannel, WebhookConfig};
use ward_config::Config;

use crate::ServerError;

/// Puts SMTP in place of the e-mail channel when `notify.email_via = "smtp"`, and the webhook
/// channel in when webhooks are enabled. Must run inside the Tokio runtime (the SMTP pool
/// spawns its reaper there).
pub fn configure(cfg: &Config, set: &mut ChannelSet) -> Result<(), ServerError> {
    if cfg.webhooks.enabled {
        set.webhook = Some(Arc::new(WebhookChannel::new(WebhookConfig {
            secret: None,
            timeout_ms: cfg.webhooks.timeout_ms,
        })?));
    }
    if cfg.notify.email_via == "smtp" {
        set.email = Arc::new(smtp_channel(cfg)?);
    }
    Ok(())
}

fn smtp_channel(cfg: &Config) -> Result<SmtpChannel, ServerError> {
    let s = &cfg.smtp;
    let host = s
        .host
        .clone()
        .ok_or_else(|| ServerError::Config("notify.email_via = \"smtp\" needs smtp.host".into()))?;
    let mut c = SmtpConfig::new(host, s.port, s.from.clone());
    c.security = match s.security.as_str() {
        "starttls" => SmtpSecurity::Starttls,
        "tls" => SmtpSecurity::Implicit,
        "none" => SmtpSecurity::None,
        other => {
            return Err(ServerError::Config(format!(
                "smtp.security = {other:?}; expected starttls, tls or none"
            )))
        }
    };
    if let Some(path) = &s.ca_file {
        let pem = std::fs::read_to_string(path)
            .map_err(|e| ServerError::Config(format!("smtp.ca_file {}: {e}", path.display())))?;
        c.extra_ca_pem = Some(pem);
    }
    c.username = s.username.clone();
    c.password = s.password.clone();
    c.pool_max_size = s.pool_size.max(1);
    c.timeout_ms = Duration::from_millis(s.timeout_ms.max(1)).as_millis() as u64;
    Ok(SmtpChannel::new(c)?)
}
