//! The escalation engine: chases each unacknowledged target through its organisation's
//! policy, step by step and round after round, until someone acknowledges.
//!
//! Everything it knows lives in the store (see `ward_storage`'s chases): each [`Escalator::tick`]
//! reads what is due, writes each step's outbox messages with deterministic references in the
//! same transaction that moves the chase on, and leaves sending to the
//! [`Dispatcher`](crate::Dispatcher). A restart therefore resumes exactly where the store
//! says: no step is lost, and none is sent twice.
//!
//! A chase's target is generic (`target_kind`, `target_id`): incidents are chased
//! automatically, and any other kind (advisories) is chased by calling [`start_chase`] and
//! ended by `Store::acknowledge_chases`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};
use ward_model::channels::{channel_order, ContactChannels};
use ward_model::escalation::{Chase, EscalationPolicy, EscalationStep, StepTarget};
use ward_model::records::Contact;
use ward_model::Severity;
use ward_storage::{ChaseMessage, NewChase, Store};
use ward_telemetry::Registry;

use crate::acklink::{AckClaim, AckSigner};
use crate::rota::on_call_at;
use crate::AlertingError;

/// Placeholder in a chase's body replaced, per recipient, by their signed acknowledgement link.
pub const ACK_LINK: &str = "{ack_link}";

#[derive(Debug, Clone)]
pub struct EscalationConfig {
    /// How often the engine looks for due steps.
    pub tick: Duration,
    /// Base URL of acknowledgement links, e.g. `https://ward.example.nhs.uk`.
    pub public_url: String,
    /// How long an acknowledgement link stays valid.
    pub link_ttl_ms: i64,
    /// A chase message not delivered this long after it was written fails over to the
    /// contact's next channel; 0 fails over only on failure.
    pub delivery_deadline_ms: i64,
    /// Incidents opened longer ago than this are not started on (at an upgrade, say).
    pub lookback_ms: i64,
}

impl Default for EscalationConfig {
    fn default() -> Self {
        EscalationConfig {
            tick: Duration::from_secs(1),
            public_url: "http://127.0.0.1:8080".into(),
            link_ttl_ms: 24 * 3_600_000,
            delivery_deadline_ms: 15 * 60_000,
            lookback_ms: 24 * 3_600_000,
        }
    }
}

/// What one tick did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TickReport {
    pub started: usize,
    pub settled: usize,
    pub steps_fired: usize,
    pub messages: usize,
    pub failovers: usize,
    pub exhausted: usize,
}

pub struct Escalator {
    store: Store,
    cfg: EscalationConfig,
    signer: Arc<AckSigner>,
    registry: Arc<Registry>,
    wake: Option<Arc<Notify>>,
}

/// Starts chasing any target (an advisory, say) at `org` under the policy covering
/// `severity`. `body` may contain [`ACK_LINK`]. Returns the chase id; `None` when the
/// organisation has no such policy or the target is already chased there.
#[allow(clippy::too_many_arguments)]
pub async fn start_chase(
    store: &Store,
    kind: &str,
    target_id: i64,
    org: &str,
    severity: i64,
    subject: &str,
    body: &str,
    now: i64,
) -> Result<Option<i64>, AlertingError> {
    let Some(policy) = store.policy_for(org, severity).await? else {
        return Ok(None);
    };
    let first = policy.steps.first().map(|s| s.delay_secs).unwrap_or(0);
    Ok(store
        .start_chase(&NewChase {
            target_kind: kind,
            target_id,
            org_code: org,
            policy_id: policy.id,
            subject,
            body,
            first_due_at: now + first as i64 * 1000,
            at: now,
        })
        .await?)
}

fn destination<'a>(
    c: &'a Contact,
    settings: Option<&'a ContactChannels>,
    channel: &str,
) -> Option<&'a str> {
    match channel {
        "sms" => c.phone.as_deref(),
        "email" => c.email.as_deref(),
        "webhook" => settings.and_then(|s| s.webhook_url.as_deref()),
        _ => None,
    }
}

/// Channels the dispatcher can send on; a policy naming another is refused when stored.
pub const CHASE_CHANNELS: &[&str] = ward_model::channels::CONTACT_CHANNELS;

/// Checks a policy's steps before they are stored; the error names the bad part.
pub fn validate_steps(steps: &[EscalationStep]) -> Result<(), String> {
    if steps.is_empty() {
        return Err("a policy needs at least one step".into());
    }
    for (i, s) in steps.iter().enumerate() {
        if s.targets.is_empty() {
            return Err(format!("steps[{i}].targets is empty"));
        }
        if s.channels.is_empty() {
            return Err(format!("steps[{i}].channels is empty"));
        }
        for c in &s.channels {
            if !CHASE_CHANNELS.contains(&c.as_str()) {
                return Err(format!(
                    "steps[{i}].channels: {c:?}; expected {}",
                    CHASE_CHANNELS.join(" or ")
                ));
            }
        }
    }
    Ok(())
}

/// When the step after `steps_fired` fires, or `None` once the policy's rounds are done.
pub fn next_due(policy: &EscalationPolicy, steps_fired: i64, now: i64) -> Option<i64> {
    let n = policy.steps.len() as i64;
    if n == 0 {
        return None;
    }
    let next = steps_fired + 1;
    if next / n >= policy.max_rounds {
        return None;
    }
    let idx = (next % n) as usize;
    let delay = if idx == 0 {
        policy.repeat_delay_secs
    } else {
        policy.steps[idx].delay_secs
    };
    Some(now + delay as i64 * 1000)
}

impl Escalator {
    pub fn new(
        store: Store,
        cfg: EscalationConfig,
        signer: Arc<AckSigner>,
        registry: Arc<Registry>,
    ) -> Self {
        Escalator {
            store,
            cfg,
            signer,
            registry,
            wake: None,
        }
    }

    /// Wakes the dispatcher whenever a tick writes messages.
    pub fn with_dispatcher_wake(mut self, wake: Arc<Notify>) -> Self {
        self.wake = Some(wake);
        self
    }

    fn count(&self, name: &str, help: &str, labels: &[(&str, &str)], n: usize) {
        if n > 0 {
            self.registry.counter(name, help, labels).add(n as u64);
        }
    }

    fn chase_event(&self, event: &str) {
        self.count(
            "ward_escalation_chases_total",
            "Chases started and ended, by event",
            &[("event", event)],
            1,
        );
    }

    /// Does everything due at `now`.
    pub async fn tick(&self, now: i64) -> Result<TickReport, AlertingError> {
        let mut report = TickReport::default();
        // Acknowledgements first, whatever route they came by, so nothing more is sent.
        for s in self.store.chases_to_settle().await? {
            if self
                .store
                .end_chase(s.chase_id, s.state, &s.by, now)
                .await?
            {
                report.settled += 1;
                self.chase_event(s.state);
            }
        }
        for c in self
            .store
            .incidents_to_chase(now - self.cfg.lookback_ms, 500)
            .await?
        {
            let sev = Severity::from_i64(c.severity)
                .map(|s| s.as_str().to_uppercase())
                .unwrap_or_else(|| c.severity.to_string());
            let subject = format!(
                "[ward {sev}] INC-{}: {} - awaiting acknowledgement",
                c.incident_id, c.title
            );
            let body = format!(
                "ward {sev}: INC-{} {} is not yet acknowledged. Acknowledge: {ACK_LINK} or reply ACK INC-{}",
                c.incident_id, c.title, c.incident_id
            );
            let Some(policy) = self.store.policy_for(&c.org_code, c.severity).await? else {
                continue;
            };
            let first = policy.steps.first().map(|s| s.delay_secs).unwrap_or(0) as i64;
            let started = self
                .store
                .start_chase(&NewChase {
                    target_kind: "incident",
                    target_id: c.incident_id,
                    org_code: &c.org_code,
                    policy_id: policy.id,
                    subject: &subject,
                    body: &body,
                    first_due_at: c.opened_at + first * 1000,
                    at: now,
                })
                .await?;
            if started.is_some() {
                report.started += 1;
                self.chase_event("started");
            }
        }
        let mut policies: HashMap<i64, Option<EscalationPolicy>> = HashMap::new();
        for chase in self.store.due_chases(now, 200).await? {
            if let std::collections::hash_map::Entry::Vacant(slot) = policies.entry(chase.policy_id)
            {
                slot.insert(self.store.get_policy(chase.policy_id).await?);
            }
            let policy = policies.get(&chase.policy_id).cloned().flatten();
            self.fire(&chase, policy.as_ref(), now, &mut report).await?;
        }
        self.failover(now, &mut report).await?;
        if report.messages + report.failovers > 0 {
            if let Some(w) = &self.wake {
                w.notify_one();
            }
        }
        Ok(report)
    }

    async fn fire(
        &self,
        chase: &Chase,
        policy: Option<&EscalationPolicy>,
        now: i64,
        report: &mut TickReport,
    ) -> Result<(), AlertingError> {
        let Some(policy) = policy.filter(|p| !p.steps.is_empty()) else {
            if self
                .store
                .end_chase(chase.id, "exhausted", "policy deleted", now)
                .await?
            {
                report.exhausted += 1;
                self.chase_event("exhausted");
            }
            return Ok(());
        };
        let n = policy.steps.len() as i64;
        if chase.steps_fired / n >= policy.max_rounds {
            if self
                .store
                .end_chase(chase.id, "exhausted", "policy exhausted", now)
                .await?
            {
                report.exhausted += 1;
                self.chase_event("exhausted");
            }
            return Ok(());
        }
        let step = &policy.steps[(chase.steps_fired % n) as usize];
        let recipients = self.recipients(chase, step, now).await?;
        if recipients.is_empty() {
            tracing::warn!(chase = chase.id, org = %chase.org_code, step = chase.steps_fired, "escalation step reaches no one: check the policy's targets and the rota");
            self.count(
                "ward_escalation_steps_without_recipients_total",
                "Escalation steps that found no one to reach",
                &[],
                1,
            );
        }
        let mut messages: Vec<ChaseMessage> = Vec::with_capacity(recipients.len());
        for c in &recipients {
            let settings = self.store.contact_channels(c.id).await?;
            if let Some(m) = self.message(
                chase,
                chase.steps_fired,
                c,
                settings.as_ref(),
                &step.channels,
                now,
            ) {
                messages.push(m);
            }
        }
        let next = next_due(policy, chase.steps_fired, now);
        if self
            .store
            .fire_chase_step(chase.id, chase.steps_fired, &messages, next, now)
            .await?
        {
            report.steps_fired += 1;
            report.messages += messages.len();
            self.count(
                "ward_escalation_steps_total",
                "Escalation steps fired",
                &[],
                1,
            );
            self.count(
                "ward_escalation_messages_total",
                "Messages escalation steps wrote to the outbox",
                &[],
                messages.len(),
            );
            if next.is_none() {
                report.exhausted += 1;
                self.chase_event("exhausted");
            }
        }
        Ok(())
    }

    async fn recipients(
        &self,
        chase: &Chase,
        step: &EscalationStep,
        now: i64,
    ) -> Result<Vec<Contact>, AlertingError> {
        let mut out: Vec<Contact> = Vec::new();
        let mut org_contacts: Option<Vec<Contact>> = None;
        for t in &step.targets {
            let found: Vec<Contact> = match t {
                StepTarget::Contact { contact_id } => self
                    .store
                    .get_contact(*contact_id)
                    .await?
                    .into_iter()
                    .collect(),
                StepTarget::Role { role } => {
                    if org_contacts.is_none() {
                        let org = chase.org_code.parse::<ward_model::OdsCode>().map_err(|e| {
                            ward_storage::StoreError::Invalid(format!("chase {}: {e}", chase.id))
                        })?;
                        org_contacts = Some(self.store.list_contacts(&org).await?);
                    }
                    org_contacts
                        .iter()
                        .flatten()
                        .filter(|c| c.role.eq_ignore_ascii_case(role))
                        .cloned()
                        .collect()
                }
                StepTarget::Rota { rota_id } => {
                    let Some(rota) = self.store.get_rota(*rota_id).await? else {
                        tracing::warn!(
                            rota_id,
                            chase = chase.id,
                            "escalation step names a rota that does not exist"
                        );
                        continue;
                    };
                    let overrides = self.store.rota_overrides(rota.id, now, now + 1).await?;
                    match on_call_at(&rota, &overrides, now) {
                        Some(oc) => self
                            .store
                            .get_contact(oc.contact_id)
                            .await?
                            .into_iter()
                            .collect(),
                        None => Vec::new(),
                    }
                }
            };
            for c in found {
                if !out.iter().any(|o| o.id == c.id) {
                    out.push(c);
                }
            }
        }
        Ok(out)
    }

    fn message(
        &self,
        chase: &Chase,
        step_no: i64,
        contact: &Contact,
        settings: Option<&ContactChannels>,
        channels: &[String],
        now: i64,
    ) -> Option<ChaseMessage> {
        // The contact's own order of preference, within what the step allows, decides which
        // channel goes first; the rest are its failover, in that order.
        let ordered = channel_order(channels, settings.map(|s| &s.channels[..]).unwrap_or(&[]));
        let usable: Vec<&String> = ordered
            .iter()
            .filter(|ch| destination(contact, settings, ch).is_some())
            .collect();
        let (first, rest) = usable.split_first()?;
        let destination = destination(contact, settings, first)?.to_string();
        Some(ChaseMessage {
            incident_id: if chase.target_kind == "incident" {
                chase.target_id
            } else {
                0
            },
            org_code: chase.org_code.clone(),
            contact_id: contact.id,
            contact_name: contact.name.clone(),
            channel: first.to_string(),
            destination,
            subject: chase.subject.clone(),
            body: self.body_for(chase, contact.id, now),
            reference: format!("ward-chase{}-s{step_no}-c{}-{first}", chase.id, contact.id),
            failover_channels: rest
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(","),
        })
    }

    fn body_for(&self, chase: &Chase, contact_id: i64, now: i64) -> String {
        let token = self.signer.sign(&AckClaim {
            kind: chase.target_kind.clone(),
            target_id: chase.target_id,
            contact_id,
            expires_at: now + self.cfg.link_ttl_ms,
        });
        let link = format!("{}/ack/{token}", self.cfg.public_url.trim_end_matches('/'));
        chase.body.replace(ACK_LINK, &link)
    }

    async fn failover(&self, now: i64, report: &mut TickReport) -> Result<(), AlertingError> {
        let deadline = if self.cfg.delivery_deadline_ms > 0 {
            now - self.cfg.delivery_deadline_ms
        } else {
            i64::MIN
        };
        for f in self.store.failover_due(deadline).await? {
            let contact = self.store.get_contact(f.contact_id).await?;
            let settings = self.store.contact_channels(f.contact_id).await?;
            let base = f
                .reference
                .strip_suffix(&format!("-{}", f.channel))
                .unwrap_or(&f.reference)
                .to_string();
            let mut replacement = None;
            if let Some(contact) = &contact {
                let mut rest = f.failover_channels.clone();
                while !rest.is_empty() {
                    let ch = rest.remove(0);
                    if let Some(dest) = destination(contact, settings.as_ref(), &ch) {
                        replacement = Some(ChaseMessage {
                            incident_id: f.incident_id,
                            org_code: f.org_code.clone(),
                            contact_id: f.contact_id,
                            contact_name: f.contact_name.clone(),
                            channel: ch.clone(),
                            destination: dest.to_string(),
                            subject: f.subject.clone(),
                            body: f.body.clone(),
                            reference: format!("{base}-{ch}"),
                            failover_channels: rest.join(","),
                        });
                        break;
                    }
                }
            }
            if self
                .store
                .record_failover(f.outbox_id, f.chase_id, replacement.as_ref(), now)
                .await?
            {
                let outcome = if replacement.is_some() {
                    report.failovers += 1;
                    "next_channel"
                } else {
                    "no_channel_left"
                };
                tracing::info!(reference = %f.reference, channel = %f.channel, outcome, "escalation message failed over");
                self.count(
                    "ward_escalation_failovers_total",
                    "Chase messages moved to the contact's next channel",
                    &[("outcome", outcome)],
                    1,
                );
            }
        }
        Ok(())
    }

    /// Ticks until `shutdown` turns true.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        loop {
            match self.tick(ward_model::clock::now_ms()).await {
                Ok(r) if r != TickReport::default() => tracing::debug!(?r, "escalation tick"),
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "escalation tick failed; retrying"),
            }
            tokio::select! {
                _ = tokio::time::sleep(self.cfg.tick) => {}
                _ = shutdown.changed() => return,
            }
            if *shutdown.borrow() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(delays: &[u64], rounds: i64) -> EscalationPolicy {
        EscalationPolicy {
            id: 1,
            org_code: "RJ1".parse().unwrap(),
            name: "p".into(),
            min_severity: 1,
            steps: delays
                .iter()
                .map(|d| EscalationStep {
                    delay_secs: *d,
                    targets: vec![StepTarget::Role {
                        role: "lead".into(),
                    }],
                    channels: vec!["sms".into()],
                })
                .collect(),
            repeat_delay_secs: 600,
            max_rounds: rounds,
            created_at: 0,
        }
    }

    #[test]
    fn steps_follow_their_delays_then_repeat_then_stop() {
        let p = policy(&[0, 300, 900], 2);
        assert_eq!(next_due(&p, 0, 1_000), Some(1_000 + 300_000));
        assert_eq!(next_due(&p, 1, 1_000), Some(1_000 + 900_000));
        assert_eq!(
            next_due(&p, 2, 1_000),
            Some(1_000 + 600_000),
            "round 2 after the repeat delay"
        );
        assert_eq!(next_due(&p, 4, 0), Some(900_000));
        assert_eq!(
            next_due(&p, 5, 0),
            None,
            "two rounds of three steps, then done"
        );
    }

    #[test]
    fn steps_are_validated() {
        let mut p = policy(&[0], 1);
        assert!(validate_steps(&p.steps).is_ok());
        p.steps[0].channels = vec!["pigeon".into()];
        let err = validate_steps(&p.steps).unwrap_err();
        assert!(err.contains("steps[0].channels"), "{err}");
        p.steps[0].channels = vec!["sms".into()];
        p.steps[0].targets.clear();
        assert!(validate_steps(&p.steps).unwrap_err().contains("targets"));
        assert!(validate_steps(&[]).is_err());
    }
}
