//! Chasing advisories: announces each published advisory to its recipients' contacts and
//! reminds them of every step that is due or overdue, through the outbox (the dispatcher sends).
//!
//! What is due for whom is [`ward_alerting::advisories::chase_plan`], a pure function; this
//! task only turns its answer into outbox rows. Every message has a deterministic reference, and
//! the outbox refuses a reference twice, so a pass repeated after a crash or a restart queues
//! nothing new.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use ward_alerting::advisories::{chase_plan, reminder_text, Reminder};
use ward_config::AdvisoryConfig;
use ward_model::advisory::{Advisory, AdvisoryDeadlines, AdvisoryRecipient, Tlp};
use ward_model::clock::{now_ms, rfc3339};
use ward_model::records::Contact;
use ward_model::OdsCode;
use ward_storage::{AdvisoryMessage, Store, StoreError};
use ward_telemetry::Registry;

/// The deadlines the configuration sets, in milliseconds.
pub fn deadlines(cfg: &AdvisoryConfig) -> AdvisoryDeadlines {
    let ms = |hours: f64| (hours * 3_600_000.0).round().max(1.0) as i64;
    AdvisoryDeadlines {
        ack_ms: ms(cfg.ack_hours),
        update_ms: ms(cfg.update_days * 24.0),
        remediation_ms: ms(cfg.remediation_days * 24.0),
    }
}

/// The chase task's state.
pub struct AdvisoryChase {
    pub store: Store,
    pub registry: Arc<Registry>,
    pub public_url: String,
    pub interval: Duration,
    /// References known to be in the outbox: after the first pass, only new reminders reach
    /// the database.
    seen: HashSet<String>,
}

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ChaseReport {
    pub queued: usize,
    pub already_queued: usize,
    pub no_contact: usize,
}

impl AdvisoryChase {
    pub fn new(cfg: &AdvisoryConfig, store: Store, registry: Arc<Registry>, url: String) -> Self {
        AdvisoryChase {
            store,
            registry,
            public_url: url,
            interval: Duration::from_millis(cfg.chase_interval_ms.max(100)),
            seen: HashSet::new(),
        }
    }

    /// Runs a pass every `interval` until `shutdown` turns true.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        loop {
            if let Err(e) = self.pass(now_ms()).await {
                tracing::error!(error = %e, "advisory chase pass failed; retrying");
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

    /// Announces and reminds as of `now`.
    pub async fn pass(&mut self, now: i64) -> Result<ChaseReport, StoreError> {
        if self.seen.len() > 1_000_000 {
            self.seen.clear();
        }
        let mut report = ChaseReport::default();
        let mut contacts: HashMap<OdsCode, Vec<Contact>> = HashMap::new();
        for (advisory, recipients) in self.store.open_advisory_recipients().await? {
            let d = advisory.deadlines.unwrap_or_default();
            for r in &recipients {
                // Where the member's escalation policy chases the advisory, the chase owns the
                // announcement and the acknowledgement; later steps stay reminders.
                let chased = crate::advisory_escalation::sync(
                    &self.store,
                    &advisory,
                    r,
                    &self.public_url,
                    now,
                )
                .await?
                    != crate::advisory_escalation::Outcome::NoPolicy;
                let mut wanted: Vec<Wanted> = Vec::new();
                if r.acknowledged_at.is_none() && r.responded_at.is_none() && !chased {
                    wanted.push(Wanted::Notice);
                }
                wanted.extend(
                    chase_plan(r, &d, now)
                        .into_iter()
                        .filter(|rem| {
                            !chased
                                || crate::advisory_escalation::reminder_wanted_when_chased(rem.step)
                        })
                        .map(Wanted::Reminder),
                );
                if wanted.is_empty() {
                    continue;
                }
                if !contacts.contains_key(&r.org_code) {
                    let list = self.store.list_contacts(&r.org_code).await?;
                    contacts.insert(r.org_code.clone(), list);
                }
                let list = contacts.get(&r.org_code).map(Vec::as_slice).unwrap_or(&[]);
                for w in &wanted {
                    self.send(&advisory, r, &d, w, list, now, &mut report)
                        .await?;
                }
            }
        }
        Ok(report)
    }

    #[allow(clippy::too_many_arguments)]
    async fn send(
        &mut self,
        advisory: &Advisory,
        r: &AdvisoryRecipient,
        d: &AdvisoryDeadlines,
        w: &Wanted,
        contacts: &[Contact],
        now: i64,
        report: &mut ChaseReport,
    ) -> Result<(), StoreError> {
        let link = format!("{}/api/v1/advisories/{}", self.public_url, advisory.id);
        // Beyond AMBER the title stays out of texts and e-mails: the link needs a login.
        let title = if advisory.content.tlp >= Tlp::AmberStrict {
            format!("TLP:{} - sign in to read it", advisory.content.tlp.as_str())
        } else {
            advisory.content.title.clone()
        };
        let (kind, stage, subject, body) = match w {
            Wanted::Notice => {
                let due = rfc3339(r.notified_at + d.ack_ms);
                (
                    "notice",
                    "published",
                    format!(
                        "[ward {} TLP:{}] {}: {}",
                        advisory.content.severity.to_uppercase(),
                        advisory.content.tlp.as_str(),
                        advisory.id,
                        title
                    ),
                    format!(
                        "ward HIGH SEVERITY ALERT {} ({}) for {}: {}. Acknowledge and say whether it applies by {due}: {link}",
                        advisory.id, advisory.content.severity, r.org_code, title
                    )
                    .chars()
                    .take(459)
                    .collect::<String>(),
                )
            }
            Wanted::Reminder(rem) => {
                let (subject, body) = reminder_text(rem, &title, &link);
                ("reminder", rem.stage.as_str(), subject, body)
            }
        };
        let usable: Vec<(&Contact, &str, &str)> = contacts
            .iter()
            .flat_map(|c| {
                let sms = c.phone.as_deref().map(|p| (c, "sms", p));
                let email = c.email.as_deref().map(|e| (c, "email", e));
                sms.into_iter().chain(email)
            })
            .collect();
        if usable.is_empty() {
            report.no_contact += 1;
            self.registry
                .counter(
                    "ward_advisory_messages_dropped_total",
                    "Advisory notices and reminders not sent, by reason (counted per chase pass)",
                    &[("reason", "no_contact")],
                )
                .inc();
            return Ok(());
        }
        for (c, channel, destination) in usable {
            let reference = match w {
                Wanted::Notice => format!(
                    "ward-{}-{}-published-c{}-{channel}",
                    advisory.id.to_ascii_lowercase(),
                    r.org_code.as_str().to_ascii_lowercase(),
                    c.id
                ),
                Wanted::Reminder(rem) => rem.reference(c.id, channel),
            };
            if self.seen.contains(&reference) {
                report.already_queued += 1;
                continue;
            }
            let queued = self
                .store
                .queue_advisory_message(&AdvisoryMessage {
                    advisory_id: &advisory.id,
                    org_code: &r.org_code,
                    contact_id: c.id,
                    contact_name: &c.name,
                    channel,
                    destination,
                    subject: &subject,
                    body: &body,
                    reference: &reference,
                    is_reminder: matches!(w, Wanted::Reminder(_)),
                    at: now,
                })
                .await?;
            if queued {
                report.queued += 1;
                self.registry
                    .counter(
                        "ward_advisory_messages_total",
                        "Advisory notices and reminders queued, by kind and stage",
                        &[("kind", kind), ("stage", stage), ("channel", channel)],
                    )
                    .inc();
            } else {
                report.already_queued += 1;
            }
            self.seen.insert(reference);
        }
        Ok(())
    }
}

enum Wanted {
    Notice,
    Reminder(Reminder),
}
