use ward_model::records::IncidentScope;
use ward_model::{Level, Severity};
use ward_storage::{DetectionTx, NewDetection, NewIncident, NewOutbox};

use crate::messages::{self, Announcement};
use crate::AlertingError;

/// How detections become incidents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentPolicy {
    pub local_window_ms: i64,
    pub national_window_ms: i64,
    pub national_min_orgs: usize,
    /// Base URL for links in messages, e.g. `http://127.0.0.1:8080`.
    pub public_url: String,
}

impl Default for IncidentPolicy {
    fn default() -> Self {
        IncidentPolicy {
            local_window_ms: 3_600_000,
            national_window_ms: 600_000,
            national_min_orgs: 3,
            public_url: "http://127.0.0.1:8080".into(),
        }
    }
}

/// One rule matching one event, as the detection stage reports it.
#[derive(Debug, Clone)]
pub struct RuleHit {
    pub event_offset: u64,
    pub org: String,
    pub received_at_ms: i64,
    pub host: Option<String>,
    /// The event as stored in the log (JSON text).
    pub event_json: String,
    pub rule_id: String,
    pub rule_title: String,
    pub rule_author: Option<String>,
    pub level: Level,
    pub tags: Vec<String>,
    /// `{field: value}` of what matched.
    pub matched_fields: serde_json::Value,
}

/// What one hit did, for counters and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupOutcome {
    pub local_incident: i64,
    pub opened_local: bool,
    pub national_incident: Option<i64>,
    pub opened_national: bool,
    pub messages_queued: usize,
    /// The silence that caught the hit: stored, but opened and told nothing.
    pub silenced: Option<i64>,
}

pub struct IncidentGrouper {
    policy: IncidentPolicy,
}

impl IncidentGrouper {
    pub fn new(policy: IncidentPolicy) -> Self {
        IncidentGrouper { policy }
    }

    pub fn policy(&self) -> &IncidentPolicy {
        &self.policy
    }

    /// Records `hit` and everything it causes inside `tx`. `now` is the detection time.
    pub async fn apply(
        &self,
        tx: &mut DetectionTx<'_>,
        hit: &RuleHit,
        now: i64,
    ) -> Result<GroupOutcome, AlertingError> {
        let p = &self.policy;
        let severity = Severity::from(hit.level);
        let mut out = GroupOutcome::default();
        let host = hit.host.as_deref();
        let tags = serde_json::to_string(&hit.tags).unwrap_or_else(|_| "[]".into());
        let matched = hit.matched_fields.to_string();

        let silences = tx.active_silences(now).await?;
        if let Some(silence) = crate::silence::matching_silence(&silences, hit) {
            // Kept as evidence (incident 0, marked with the silence), but it opens nothing.
            let id = tx
                .insert_detection(&NewDetection {
                    event_offset: hit.event_offset as i64,
                    org_code: &hit.org,
                    rule_id: &hit.rule_id,
                    rule_title: &hit.rule_title,
                    rule_author: hit.rule_author.as_deref(),
                    level: hit.level.as_str(),
                    tags_json: &tags,
                    matched_fields_json: &matched,
                    host,
                    event_json: &hit.event_json,
                    received_at: hit.received_at_ms,
                    detected_at: now,
                    incident_id: 0,
                })
                .await?;
            tx.mark_silenced(id, silence.id).await?;
            out.silenced = Some(silence.id);
            return Ok(out);
        }

        let local = tx
            .find_open_local(&hit.rule_id, &hit.org, host, now - p.local_window_ms)
            .await?;
        let (local_id, mut parent) = match local {
            Some(open) => (open.id, open.parent_id),
            None => {
                let title = match host {
                    Some(h) => format!("{} on {h} at {}", hit.rule_title, hit.org),
                    None => format!("{} at {}", hit.rule_title, hit.org),
                };
                let id = tx
                    .insert_incident(&NewIncident {
                        scope: IncidentScope::Local.as_str(),
                        rule_id: &hit.rule_id,
                        title: &title,
                        severity: severity.as_i64(),
                        org_code: Some(&hit.org),
                        host,
                        parent_id: None,
                        at: now,
                    })
                    .await?;
                tx.add_incident_org(id, &hit.org, now).await?;
                out.opened_local = true;
                (id, None)
            }
        };
        out.local_incident = local_id;
        tx.touch_incident(local_id, now).await?;
        tx.insert_detection(&NewDetection {
            event_offset: hit.event_offset as i64,
            org_code: &hit.org,
            rule_id: &hit.rule_id,
            rule_title: &hit.rule_title,
            rule_author: hit.rule_author.as_deref(),
            level: hit.level.as_str(),
            tags_json: &tags,
            matched_fields_json: &matched,
            host,
            event_json: &hit.event_json,
            received_at: hit.received_at_ms,
            detected_at: now,
            incident_id: local_id,
        })
        .await?;

        let national_since = now - p.national_window_ms;
        if parent.is_none() {
            if let Some(national) = tx.find_open_national(&hit.rule_id, national_since).await? {
                tx.link_locals(national, &hit.rule_id, &hit.org, now - p.local_window_ms)
                    .await?;
                parent = Some(national);
                if tx.add_incident_org(national, &hit.org, now).await? {
                    // A new organisation joins an outbreak already under way: tell it.
                    out.messages_queued += self
                        .announce(tx, national, &hit.org, Announcement::joined(hit, severity))
                        .await?;
                }
            } else {
                let orgs = tx.orgs_with_local(&hit.rule_id, national_since).await?;
                if orgs.len() >= p.national_min_orgs {
                    let national = match tx
                        .find_overlapping_national(&orgs, national_since, p.national_min_orgs)
                        .await?
                    {
                        // The outbreak already has a national incident under another rule:
                        // this rule joins it, and only organisations new to it are told.
                        Some(existing) => {
                            tx.add_incident_rule(existing, &hit.rule_id).await?;
                            tx.raise_severity(existing, severity.as_i64()).await?;
                            for org in &orgs {
                                tx.link_locals(
                                    existing,
                                    &hit.rule_id,
                                    org,
                                    now - p.local_window_ms,
                                )
                                .await?;
                                if tx.add_incident_org(existing, org, now).await? {
                                    out.messages_queued += self
                                        .announce(
                                            tx,
                                            existing,
                                            org,
                                            Announcement::joined(hit, severity),
                                        )
                                        .await?;
                                }
                            }
                            existing
                        }
                        None => {
                            let title = format!("National outbreak: {}", hit.rule_title);
                            let national = tx
                                .insert_incident(&NewIncident {
                                    scope: IncidentScope::National.as_str(),
                                    rule_id: &hit.rule_id,
                                    title: &title,
                                    severity: severity.as_i64(),
                                    org_code: None,
                                    host: None,
                                    parent_id: None,
                                    at: now,
                                })
                                .await?;
                            tx.add_incident_rule(national, &hit.rule_id).await?;
                            out.opened_national = true;
                            for org in &orgs {
                                tx.link_locals(
                                    national,
                                    &hit.rule_id,
                                    org,
                                    now - p.local_window_ms,
                                )
                                .await?;
                                tx.add_incident_org(national, org, now).await?;
                            }
                            for org in &orgs {
                                out.messages_queued += self
                                    .announce(
                                        tx,
                                        national,
                                        org,
                                        Announcement::national(hit, severity, &orgs),
                                    )
                                    .await?;
                            }
                            national
                        }
                    };
                    parent = Some(national);
                }
            }
        }
        if let Some(national) = parent {
            tx.touch_incident(national, now).await?;
            out.national_incident = Some(national);
        }
        // A local incident inside a national one is inhibited: its organisation was told
        // about the national incident instead.
        if out.opened_local && parent.is_none() {
            out.messages_queued += self
                .announce(tx, local_id, &hit.org, Announcement::local(hit, severity))
                .await?;
        }
        Ok(out)
    }

    /// Queues one message per contact channel of `org` about `incident_id`.
    async fn announce(
        &self,
        tx: &mut DetectionTx<'_>,
        incident_id: i64,
        org: &str,
        what: Announcement,
    ) -> Result<usize, AlertingError> {
        let contacts = tx.contacts(org).await?;
        if contacts.is_empty() {
            tracing::warn!(org, incident_id, "no contacts to tell about an incident");
        }
        let now = ward_model::clock::now_ms();
        let link = format!(
            "{}/incidents/{incident_id}",
            self.policy.public_url.trim_end_matches('/')
        );
        let subject = what.subject(incident_id);
        let mut queued = 0;
        for c in &contacts {
            let routes = [("sms", c.phone.as_deref()), ("email", c.email.as_deref())];
            for (channel, destination) in routes {
                let Some(destination) = destination else {
                    continue;
                };
                let body = match channel {
                    "sms" => messages::sms_body(&what, incident_id, &link),
                    _ => messages::email_body(&what, incident_id, &link),
                };
                let reference = messages::new_reference(incident_id);
                tx.insert_outbox(&NewOutbox {
                    incident_id,
                    org_code: org,
                    contact_id: Some(c.id),
                    contact_name: &c.name,
                    channel,
                    destination,
                    subject: &subject,
                    body: &body,
                    reference: &reference,
                    at: now,
                })
                .await?;
                queued += 1;
            }
        }
        Ok(queued)
    }
}
