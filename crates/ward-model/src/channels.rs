//! How a contact wants to be reached beyond a phone number and an e-mail address: a webhook
//! and an order of preference across channels.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Channel names a contact's preference and an escalation step may use.
pub const CONTACT_CHANNELS: &[&str] = &["sms", "email", "webhook"];

/// Body formats a contact's webhook may take.
pub const WEBHOOK_FORMATS: &[&str] = &["json", "teams", "slack"];

/// A contact's channel settings as stored. The secret never leaves the server: the API shows
/// [`ContactChannelsView`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContactChannels {
    pub contact_id: i64,
    pub webhook_url: Option<String>,
    /// `json`, `teams` or `slack`.
    pub webhook_format: String,
    pub webhook_secret: Option<String>,
    /// Channel names in order of preference; empty: the escalation step's order.
    pub channels: Vec<String>,
    pub updated_at: i64,
}

/// A contact's channel settings as the API shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ContactChannelsView {
    pub contact_id: i64,
    pub webhook_url: Option<String>,
    pub webhook_format: String,
    /// Whether webhook requests are signed (the secret itself is never shown).
    pub webhook_signed: bool,
    pub channels: Vec<String>,
    pub updated_at: i64,
}

impl From<&ContactChannels> for ContactChannelsView {
    fn from(c: &ContactChannels) -> Self {
        ContactChannelsView {
            contact_id: c.contact_id,
            webhook_url: c.webhook_url.clone(),
            webhook_format: c.webhook_format.clone(),
            webhook_signed: c.webhook_secret.is_some(),
            channels: c.channels.clone(),
            updated_at: c.updated_at,
        }
    }
}

/// The order to try a contact's channels in for a step allowing `step_channels`: the
/// contact's preferred channels the step allows first, in the contact's order, then the
/// step's other channels in the step's order. Channels the contact has no address for are
/// the caller's to skip.
pub fn channel_order(step_channels: &[String], preference: &[String]) -> Vec<String> {
    let mut out: Vec<String> = preference
        .iter()
        .filter(|p| step_channels.contains(p))
        .cloned()
        .collect();
    for c in step_channels {
        if !out.contains(c) {
            out.push(c.clone());
        }
    }
    out
}

/// Checks a preference list; the error names the bad entry.
pub fn validate_channels(channels: &[String]) -> Result<(), String> {
    for (i, c) in channels.iter().enumerate() {
        if !CONTACT_CHANNELS.contains(&c.as_str()) {
            return Err(format!(
                "channels[{i}] = {c:?}; expected one of {}",
                CONTACT_CHANNELS.join(", ")
            ));
        }
        if channels[..i].contains(c) {
            return Err(format!("channels[{i}] = {c:?} is listed twice"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn preference_reorders_within_the_step() {
        assert_eq!(
            channel_order(&v(&["sms", "email"]), &v(&["webhook", "email", "sms"])),
            v(&["email", "sms"])
        );
        assert_eq!(
            channel_order(&v(&["sms", "email", "webhook"]), &v(&["webhook"])),
            v(&["webhook", "sms", "email"])
        );
        assert_eq!(
            channel_order(&v(&["sms", "email"]), &[]),
            v(&["sms", "email"])
        );
    }

    #[test]
    fn preferences_are_validated() {
        assert!(validate_channels(&v(&["sms", "webhook"])).is_ok());
        assert!(validate_channels(&v(&["fax"]))
            .unwrap_err()
            .contains("channels[0]"));
        assert!(validate_channels(&v(&["sms", "sms"]))
            .unwrap_err()
            .contains("twice"));
    }
}
