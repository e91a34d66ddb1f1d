//! Advisories chased through the escalation engine where the recipient organisation has an
//! escalation policy covering the advisory's severity: the policy's steps (targets, channels,
//! failover, signed acknowledgement links) replace the announcement and the acknowledgement
//! reminders of [`crate::advisory_chase`], which stays the path for organisations without a
//! policy. The two acknowledgements are kept in step both ways: a member acknowledging the
//! advisory (web, API, CLI) ends the chase; the chase's signed link acknowledges the advisory.

use ward_alerting::advisories::Step;
use ward_alerting::escalation::{start_chase, ACK_LINK};
use ward_model::advisory::{Advisory, AdvisoryRecipient, Tlp};
use ward_storage::{RecipientAction, Store, StoreError};

/// The chase target id of an advisory `HSA-YYYY-NNNN`: `YYYY * 1_000_000 + NNNN`, so chases
/// (keyed by integers) name advisories reversibly.
pub fn target_id(advisory_id: &str) -> Option<i64> {
    let rest = advisory_id.strip_prefix("HSA-")?;
    let (year, seq) = rest.split_once('-')?;
    let year: i64 = year.parse().ok()?;
    let seq: i64 = seq.parse().ok()?;
    (0..1_000_000)
        .contains(&seq)
        .then_some(year * 1_000_000 + seq)
}

/// The advisory's severity on the incident scale (1–4) that escalation policies use.
pub fn severity(advisory: &Advisory) -> i64 {
    match advisory.content.severity.as_str() {
        "low" => 1,
        "medium" => 2,
        "high" => 3,
        _ => 4,
    }
}

/// What happened to one recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// No policy: the reminder path handles this recipient.
    NoPolicy,
    /// Chased by the escalation engine (started now or before): skip the announcement and the
    /// acknowledgement reminders.
    Chased,
    /// The member had acknowledged: the chase was ended (or had ended).
    Settled,
}

/// Starts or settles the escalation chase of one recipient of a published advisory.
pub async fn sync(
    store: &Store,
    advisory: &Advisory,
    r: &AdvisoryRecipient,
    public_url: &str,
    now: i64,
) -> Result<Outcome, StoreError> {
    let Some(tid) = target_id(&advisory.id) else {
        return Ok(Outcome::NoPolicy);
    };
    let chase = store
        .chases_of("advisory", tid)
        .await?
        .into_iter()
        .find(|c| c.org_code == r.org_code.as_str());
    if r.acknowledged_at.is_some() || r.responded_at.is_some() || r.closed_at.is_some() {
        if let Some(c) = &chase {
            if matches!(c.state.as_str(), "active" | "exhausted") {
                let by = r
                    .acknowledged_by
                    .clone()
                    .or_else(|| r.responded_by.clone())
                    .or_else(|| r.closed_by.clone())
                    .unwrap_or_else(|| format!("{} (advisory)", r.org_code));
                store.end_chase(c.id, "acknowledged", &by, now).await?;
            }
            return Ok(Outcome::Settled);
        }
        return Ok(Outcome::NoPolicy);
    }
    if let Some(c) = &chase {
        // The chase's signed link acknowledged it: the advisory records who did.
        if c.state == "acknowledged" {
            let by = c.ended_by.clone().unwrap_or_else(|| "ack link".into());
            match store
                .record_advisory_action(
                    &advisory.id,
                    &r.org_code,
                    RecipientAction::Acknowledge,
                    &by,
                    "acknowledged through the escalation chase",
                    now,
                )
                .await
            {
                Ok(_) | Err(StoreError::Invalid(_)) => {}
                Err(e) => return Err(e),
            }
            return Ok(Outcome::Settled);
        }
        return Ok(Outcome::Chased);
    }
    let title = if advisory.content.tlp >= Tlp::AmberStrict {
        format!("TLP:{} - sign in to read it", advisory.content.tlp.as_str())
    } else {
        advisory.content.title.clone()
    };
    let subject = format!(
        "[ward {} TLP:{}] {}: {} - awaiting acknowledgement",
        advisory.content.severity.to_uppercase(),
        advisory.content.tlp.as_str(),
        advisory.id,
        title
    );
    let body = format!(
        "ward HIGH SEVERITY ALERT {} for {}: {}. Acknowledge: {ACK_LINK} - details: {}/api/v1/advisories/{}",
        advisory.id,
        r.org_code,
        title,
        public_url.trim_end_matches('/'),
        advisory.id
    );
    match start_chase(
        store,
        "advisory",
        tid,
        r.org_code.as_str(),
        severity(advisory),
        &subject,
        &body,
        now,
    )
    .await
    {
        Ok(Some(_)) => Ok(Outcome::Chased),
        Ok(None) => {
            // No policy, or a chase raced in: look again.
            let exists = store
                .chases_of("advisory", tid)
                .await?
                .iter()
                .any(|c| c.org_code == r.org_code.as_str());
            Ok(if exists {
                Outcome::Chased
            } else {
                Outcome::NoPolicy
            })
        }
        Err(ward_alerting::AlertingError::Store(e)) => Err(e),
    }
}

/// Whether the reminder path should still send this kind of step for a chased recipient: the
/// chase owns acknowledgement; the later steps (respond, update, remediate) stay reminders.
pub fn reminder_wanted_when_chased(step: Step) -> bool {
    !matches!(step, Step::Acknowledge)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advisory_ids_map_to_target_ids() {
        assert_eq!(target_id("HSA-2026-0001"), Some(2_026_000_001));
        assert_eq!(target_id("HSA-2026-12345"), Some(2_026_012_345));
        assert_eq!(target_id("INC-1"), None);
        assert_eq!(target_id("HSA-x-1"), None);
    }
}
