//! Acknowledgement by SMS reply: the on-call lead answers `ACK INC-42` from the phone that
//! was texted, and the incident is acknowledged in their name.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use ward_channels::notify::{parse_ack, NotifyClient};
use ward_channels::phone::normalise_uk_mobile;
use ward_storage::Store;
use ward_telemetry::Registry;

use crate::AlertingError;

/// Where the id of the last received text read is kept, so a restart reads each text once.
const CURSOR: &str = "notify-received-texts";

/// Polls GOV.UK Notify's received text messages for acknowledgements.
pub struct SmsAcks {
    pub store: Store,
    pub client: NotifyClient,
    pub interval: Duration,
    pub registry: Arc<Registry>,
}

impl SmsAcks {
    fn count(&self, outcome: &str) {
        self.registry
            .counter(
                "ward_sms_replies_total",
                "Received texts, by what became of them",
                &[("outcome", outcome)],
            )
            .inc();
    }

    /// Reads the texts received since the last poll; returns how many acknowledged an incident.
    pub async fn poll_once(&self) -> Result<usize, AlertingError> {
        let last = self.store.consumer_state(CURSOR).await?;
        let texts = match self.client.received_texts_since(last.as_deref(), 10).await {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read received texts from Notify; will retry");
                return Ok(0);
            }
        };
        let mut acknowledged = 0;
        for t in &texts {
            match acknowledge_text(&self.store, &t.user_number, &t.content).await? {
                Ok(()) => {
                    acknowledged += 1;
                    self.count("acknowledged");
                }
                Err(reason) => {
                    tracing::info!(from = %t.user_number, %reason, "received text did not acknowledge anything");
                    self.count(reason);
                }
            }
        }
        if let Some(newest) = texts.last() {
            self.store.set_consumer_state(CURSOR, &newest.id).await?;
        }
        Ok(acknowledged)
    }

    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        loop {
            if let Err(e) = self.poll_once().await {
                tracing::error!(error = %e, "SMS acknowledgement poll failed");
            }
            tokio::select! {
                _ = tokio::time::sleep(self.interval) => {}
                _ = shutdown.changed() => return,
            }
            if *shutdown.borrow() {
                return;
            }
        }
    }
}

/// Acts on one received text (polled, or pushed by Notify's received-text callback):
/// `Ok(Err(reason))` for a text that is not a valid acknowledgement, the reason being the
/// label counted on `/metrics`.
pub async fn acknowledge_text(
    store: &Store,
    from: &str,
    content: &str,
) -> Result<Result<(), &'static str>, AlertingError> {
    let Some(reference) = parse_ack(content) else {
        return Ok(Err("not_an_ack"));
    };
    let digits = reference.trim_start_matches(|c: char| !c.is_ascii_digit());
    let Ok(incident_id) = digits.parse::<i64>() else {
        return Ok(Err("unknown_incident"));
    };
    let Ok(phone) = normalise_uk_mobile(from) else {
        return Ok(Err("unknown_sender"));
    };
    let Some(incident) = store.get_incident(incident_id).await? else {
        return Ok(Err("unknown_incident"));
    };
    // Only a contact of an organisation involved in the incident may acknowledge it.
    let contacts = store.contacts_by_phone(&phone).await?;
    let Some(contact) = contacts.iter().find(|c| {
        incident
            .organisations
            .iter()
            .any(|o| o == c.org_code.as_str())
    }) else {
        return Ok(Err("sender_not_involved"));
    };
    let actor = format!("sms {phone} ({})", contact.name);
    match store
        .set_incident_status(incident_id, "acknowledged", &actor, "ACK by SMS reply")
        .await
    {
        Ok(_) => {
            // The chase stops on every channel now, not at the escalation engine's next tick.
            store
                .acknowledge_chases("incident", incident_id, &actor, ward_model::clock::now_ms())
                .await?;
            Ok(Ok(()))
        }
        Err(ward_storage::StoreError::Invalid(_)) => Ok(Err("already_past_acknowledged")),
        Err(e) => Err(e.into()),
    }
}
