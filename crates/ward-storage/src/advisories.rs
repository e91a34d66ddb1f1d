//! Advisories (High Severity Alerts): the advisory, its recipients' answers, its log, and the
//! messages that announce and chase it (through the outbox, with references fixed by the caller
//! so a message queued twice is stored once).

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};
use ward_model::advisory::{
    Advisory, AdvisoryContent, AdvisoryDeadlines, AdvisoryLogEntry, AdvisoryRecipient,
    AdvisoryStatus, AdvisoryTarget, Applicability, Tlp,
};
use ward_model::OdsCode;

use crate::store::{parse_ods, Store};
use crate::StoreError;

/// What a recipient did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecipientAction {
    Acknowledge,
    Respond(Applicability),
    Update,
    /// Remediated.
    Close,
}

impl RecipientAction {
    fn log_name(self) -> &'static str {
        match self {
            RecipientAction::Acknowledge => "acknowledged",
            RecipientAction::Respond(_) => "responded",
            RecipientAction::Update => "update",
            RecipientAction::Close => "remediated",
        }
    }
}

/// A message about an advisory to one contact, queued in the outbox.
pub struct AdvisoryMessage<'a> {
    pub advisory_id: &'a str,
    pub org_code: &'a OdsCode,
    pub contact_id: i64,
    pub contact_name: &'a str,
    pub channel: &'a str,
    pub destination: &'a str,
    pub subject: &'a str,
    pub body: &'a str,
    /// Deterministic: the same reminder always carries the same reference.
    pub reference: &'a str,
    /// Counted in the recipient's reminders (the publication notice is not).
    pub is_reminder: bool,
    pub at: i64,
}

const ADVISORY_SELECT: &str = "SELECT id, title, summary, severity, tlp, affected, actions, refs, cves, target, status, source, created_by, created_at, published_at, closed_at, ack_ms, update_ms, remediation_ms FROM advisories";

const RECIPIENT_SELECT: &str = "SELECT advisory_id, org_code, notified_at, acknowledged_at, acknowledged_by, applicability, applicability_note, responded_at, responded_by, last_update_at, update_count, closed_at, closed_by, close_note, reminders FROM advisory_recipients";

fn json_list(r: &AnyRow, col: &str) -> Result<Vec<String>, StoreError> {
    let text: String = r.try_get(col)?;
    serde_json::from_str(&text).map_err(|e| StoreError::Invalid(format!("advisories.{col}: {e}")))
}

fn to_json(v: serde_json::Result<String>) -> Result<String, StoreError> {
    v.map_err(|e| StoreError::Invalid(e.to_string()))
}

fn advisory_from_row(r: &AnyRow) -> Result<Advisory, StoreError> {
    let tlp: String = r.try_get("tlp")?;
    let status: String = r.try_get("status")?;
    let target: String = r.try_get("target")?;
    let target: AdvisoryTarget = serde_json::from_str(&target)
        .map_err(|e| StoreError::Invalid(format!("advisories.target: {e}")))?;
    let ack: Option<i64> = r.try_get("ack_ms")?;
    let update: Option<i64> = r.try_get("update_ms")?;
    let remediation: Option<i64> = r.try_get("remediation_ms")?;
    let deadlines = match (ack, update, remediation) {
        (Some(ack_ms), Some(update_ms), Some(remediation_ms)) => Some(AdvisoryDeadlines {
            ack_ms,
            update_ms,
            remediation_ms,
        }),
        _ => None,
    };
    Ok(Advisory {
        id: r.try_get("id")?,
        content: AdvisoryContent {
            title: r.try_get("title")?,
            summary: r.try_get("summary")?,
            severity: r.try_get("severity")?,
            tlp: Tlp::parse(&tlp)
                .ok_or_else(|| StoreError::Invalid(format!("advisories.tlp {tlp:?}")))?,
            affected: json_list(r, "affected")?,
            actions: json_list(r, "actions")?,
            references: json_list(r, "refs")?,
            cves: json_list(r, "cves")?,
            target,
        },
        status: AdvisoryStatus::parse(&status)
            .ok_or_else(|| StoreError::Invalid(format!("advisories.status {status:?}")))?,
        source: r.try_get("source")?,
        created_by: r.try_get("created_by")?,
        created_at: r.try_get("created_at")?,
        published_at: r.try_get("published_at")?,
        closed_at: r.try_get("closed_at")?,
        deadlines,
    })
}

fn recipient_from_row(r: &AnyRow) -> Result<AdvisoryRecipient, StoreError> {
    let applicability = r
        .try_get::<Option<String>, _>("applicability")?
        .map(|a| {
            Applicability::parse(&a).ok_or_else(|| {
                StoreError::Invalid(format!("advisory_recipients.applicability {a:?}"))
            })
        })
        .transpose()?;
    Ok(AdvisoryRecipient {
        advisory_id: r.try_get("advisory_id")?,
        org_code: parse_ods(r.try_get("org_code")?)?,
        notified_at: r.try_get("notified_at")?,
        acknowledged_at: r.try_get("acknowledged_at")?,
        acknowledged_by: r.try_get("acknowledged_by")?,
        applicability,
        applicability_note: r.try_get("applicability_note")?,
        responded_at: r.try_get("responded_at")?,
        responded_by: r.try_get("responded_by")?,
        last_update_at: r.try_get("last_update_at")?,
        update_count: r.try_get("update_count")?,
        closed_at: r.try_get("closed_at")?,
        closed_by: r.try_get("closed_by")?,
        close_note: r.try_get("close_note")?,
        reminders: r.try_get("reminders")?,
    })
}

async fn log(
    tx: &mut Transaction<'_, Any>,
    advisory_id: &str,
    org: Option<&OdsCode>,
    at: i64,
    actor: &str,
    action: &str,
    note: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO advisory_log (advisory_id, org_code, at, actor, action, note) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(advisory_id)
    .bind(org.map(|o| o.as_str().to_string()))
    .bind(at)
    .bind(actor)
    .bind(action)
    .bind(note)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Store {
    /// Stores a new draft advisory with the next id of `at`'s year (`HSA-2026-0001`, …).
    /// `source_key`, when given, makes the call idempotent per source: a second draft for the
    /// same key is refused with [`StoreError::Conflict`].
    pub async fn create_advisory(
        &self,
        content: &AdvisoryContent,
        year: i64,
        source: &str,
        source_key: Option<&str>,
        actor: &str,
        at: i64,
    ) -> Result<Advisory, StoreError> {
        // Two central analysts creating at once on PostgreSQL may pick the same number; the
        // unique (year, seq) refuses the second, which takes the next number.
        for _ in 0..5 {
            let mut tx = self.begin_write().await?;
            let seq: i64 = sqlx::query(
                "SELECT COALESCE(MAX(seq), 0) + 1 AS n FROM advisories WHERE year = $1",
            )
            .bind(year)
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
            let id = format!("HSA-{year}-{seq:04}");
            let inserted = sqlx::query(
                "INSERT INTO advisories (id, year, seq, title, summary, severity, tlp, affected, actions, refs, cves, target, status, source, source_key, created_by, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'draft', $13, $14, $15, $16)",
            )
            .bind(&id)
            .bind(year)
            .bind(seq)
            .bind(&content.title)
            .bind(&content.summary)
            .bind(&content.severity)
            .bind(content.tlp.as_str())
            .bind(to_json(serde_json::to_string(&content.affected))?)
            .bind(to_json(serde_json::to_string(&content.actions))?)
            .bind(to_json(serde_json::to_string(&content.references))?)
            .bind(to_json(serde_json::to_string(&content.cves))?)
            .bind(to_json(serde_json::to_string(&content.target))?)
            .bind(source)
            .bind(source_key.map(str::to_string))
            .bind(actor)
            .bind(at)
            .execute(&mut *tx)
            .await;
            match inserted {
                Ok(_) => {}
                Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {
                    // Roll back before reading: an in-memory SQLite pool has one connection.
                    drop(tx);
                    let taken = source_key.is_some()
                        && sqlx::query("SELECT 1 AS one FROM advisories WHERE source_key = $1")
                            .bind(source_key.map(str::to_string))
                            .fetch_optional(&self.pool)
                            .await?
                            .is_some();
                    if taken {
                        return Err(StoreError::Conflict(format!(
                            "an advisory from {}",
                            source_key.unwrap_or_default()
                        )));
                    }
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
            log(&mut tx, &id, None, at, actor, "created", source).await?;
            tx.commit().await?;
            return self
                .get_advisory(&id)
                .await?
                .ok_or_else(|| StoreError::NotFound(format!("advisory {id}")));
        }
        Err(StoreError::Conflict(format!(
            "advisory number for {year} (too many concurrent creations; try again)"
        )))
    }

    pub async fn get_advisory(&self, id: &str) -> Result<Option<Advisory>, StoreError> {
        let row = sqlx::query(&format!("{ADVISORY_SELECT} WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(advisory_from_row).transpose()
    }

    /// The advisory a feed made from `source_key` (e.g. `kev:CVE-2024-3400`), if any.
    pub async fn advisory_by_source_key(&self, key: &str) -> Result<Option<Advisory>, StoreError> {
        let row = sqlx::query(&format!("{ADVISORY_SELECT} WHERE source_key = $1"))
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(advisory_from_row).transpose()
    }

    /// Advisories, newest first; `status` keeps one status.
    pub async fn list_advisories(
        &self,
        status: Option<AdvisoryStatus>,
    ) -> Result<Vec<Advisory>, StoreError> {
        let rows = sqlx::query(&format!(
            "{ADVISORY_SELECT} WHERE ($1 IS NULL OR status = $1) ORDER BY year DESC, seq DESC"
        ))
        .bind(status.map(|s| s.as_str().to_string()))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(advisory_from_row).collect()
    }

    /// Publishes a draft to `recipients` with the deadlines in force now. Refuses anything but
    /// a draft, naming its status.
    pub async fn publish_advisory(
        &self,
        id: &str,
        recipients: &[OdsCode],
        deadlines: AdvisoryDeadlines,
        actor: &str,
        at: i64,
    ) -> Result<Advisory, StoreError> {
        let mut tx = self.begin_write().await?;
        let status: String = sqlx::query("SELECT status FROM advisories WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("advisory {id}")))?
            .try_get("status")?;
        if status != "draft" {
            return Err(StoreError::Invalid(format!(
                "advisory {id} is {status}; only a draft can be published"
            )));
        }
        sqlx::query(
            "UPDATE advisories SET status = 'published', published_at = $1, ack_ms = $2, update_ms = $3, remediation_ms = $4 WHERE id = $5",
        )
        .bind(at)
        .bind(deadlines.ack_ms)
        .bind(deadlines.update_ms)
        .bind(deadlines.remediation_ms)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        for org in recipients {
            sqlx::query(
                "INSERT INTO advisory_recipients (advisory_id, org_code, notified_at, update_count, reminders) VALUES ($1, $2, $3, 0, 0)",
            )
            .bind(id)
            .bind(org.as_str())
            .bind(at)
            .execute(&mut *tx)
            .await?;
        }
        let names: Vec<&str> = recipients.iter().map(|o| o.as_str()).collect();
        log(
            &mut tx,
            id,
            None,
            at,
            actor,
            "published",
            &format!("to {}", names.join(", ")),
        )
        .await?;
        tx.commit().await?;
        self.get_advisory(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("advisory {id}")))
    }

    /// Closes an advisory as a whole: no more responses, no more chasing.
    pub async fn close_advisory(
        &self,
        id: &str,
        actor: &str,
        note: &str,
        at: i64,
    ) -> Result<Advisory, StoreError> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE advisories SET status = 'closed', closed_at = $1 WHERE id = $2 AND status <> 'closed'",
        )
        .bind(at)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            drop(tx);
            return match self.get_advisory(id).await? {
                None => Err(StoreError::NotFound(format!("advisory {id}"))),
                Some(_) => Err(StoreError::Invalid(format!(
                    "advisory {id} is already closed"
                ))),
            };
        }
        log(&mut tx, id, None, at, actor, "closed", note).await?;
        tx.commit().await?;
        self.get_advisory(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("advisory {id}")))
    }

    pub async fn advisory_recipients(
        &self,
        id: &str,
    ) -> Result<Vec<AdvisoryRecipient>, StoreError> {
        let rows = sqlx::query(&format!(
            "{RECIPIENT_SELECT} WHERE advisory_id = $1 ORDER BY org_code"
        ))
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(recipient_from_row).collect()
    }

    pub async fn advisory_recipient(
        &self,
        id: &str,
        org: &OdsCode,
    ) -> Result<Option<AdvisoryRecipient>, StoreError> {
        let row = sqlx::query(&format!(
            "{RECIPIENT_SELECT} WHERE advisory_id = $1 AND org_code = $2"
        ))
        .bind(id)
        .bind(org.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(recipient_from_row).transpose()
    }

    /// Every advisory `org` received, newest first, with its answers.
    pub async fn advisories_for_org(
        &self,
        org: &OdsCode,
    ) -> Result<Vec<(Advisory, AdvisoryRecipient)>, StoreError> {
        let rows = sqlx::query(&format!(
            "{RECIPIENT_SELECT} WHERE org_code = $1 ORDER BY notified_at DESC, advisory_id DESC"
        ))
        .bind(org.as_str())
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let rec = recipient_from_row(r)?;
            if let Some(a) = self.get_advisory(&rec.advisory_id).await? {
                out.push((a, rec));
            }
        }
        Ok(out)
    }

    /// Recipients that have not closed, of every published advisory: what the chase looks at.
    pub async fn open_advisory_recipients(
        &self,
    ) -> Result<Vec<(Advisory, Vec<AdvisoryRecipient>)>, StoreError> {
        let mut out = Vec::new();
        for a in self
            .list_advisories(Some(AdvisoryStatus::Published))
            .await?
        {
            let rows = sqlx::query(&format!(
                "{RECIPIENT_SELECT} WHERE advisory_id = $1 AND closed_at IS NULL ORDER BY org_code"
            ))
            .bind(&a.id)
            .fetch_all(&self.pool)
            .await?;
            let recipients = rows
                .iter()
                .map(recipient_from_row)
                .collect::<Result<Vec<_>, _>>()?;
            out.push((a, recipients));
        }
        Ok(out)
    }

    /// Records what a recipient did. Responding or updating also acknowledges. Refuses (with
    /// [`StoreError::Invalid`]) a recipient that has closed, an advisory not published, and a
    /// second acknowledgement; the caller checks the finer rules first.
    pub async fn record_advisory_action(
        &self,
        id: &str,
        org: &OdsCode,
        action: RecipientAction,
        actor: &str,
        note: &str,
        at: i64,
    ) -> Result<AdvisoryRecipient, StoreError> {
        let mut tx = self.begin_write().await?;
        let status: String = sqlx::query("SELECT status FROM advisories WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("advisory {id}")))?
            .try_get("status")?;
        if status != "published" {
            return Err(StoreError::Invalid(format!(
                "advisory {id} is {status}; only a published advisory takes responses"
            )));
        }
        let note_opt = (!note.is_empty()).then(|| note.to_string());
        let q = match action {
            RecipientAction::Acknowledge => sqlx::query(
                "UPDATE advisory_recipients SET acknowledged_at = $1, acknowledged_by = $2
                 WHERE advisory_id = $3 AND org_code = $4 AND closed_at IS NULL AND acknowledged_at IS NULL",
            )
            .bind(at)
            .bind(actor)
            .bind(id)
            .bind(org.as_str()),
            RecipientAction::Respond(a) => sqlx::query(
                "UPDATE advisory_recipients SET applicability = $1, applicability_note = $2, responded_at = $3, responded_by = $4,
                   acknowledged_at = COALESCE(acknowledged_at, $3), acknowledged_by = COALESCE(acknowledged_by, $4)
                 WHERE advisory_id = $5 AND org_code = $6 AND closed_at IS NULL",
            )
            .bind(a.as_str())
            .bind(note_opt)
            .bind(at)
            .bind(actor)
            .bind(id)
            .bind(org.as_str()),
            RecipientAction::Update => sqlx::query(
                "UPDATE advisory_recipients SET last_update_at = $1, update_count = update_count + 1,
                   acknowledged_at = COALESCE(acknowledged_at, $1), acknowledged_by = COALESCE(acknowledged_by, $2)
                 WHERE advisory_id = $3 AND org_code = $4 AND closed_at IS NULL",
            )
            .bind(at)
            .bind(actor)
            .bind(id)
            .bind(org.as_str()),
            RecipientAction::Close => sqlx::query(
                "UPDATE advisory_recipients SET closed_at = $1, closed_by = $2, close_note = $3,
                   acknowledged_at = COALESCE(acknowledged_at, $1), acknowledged_by = COALESCE(acknowledged_by, $2)
                 WHERE advisory_id = $4 AND org_code = $5 AND closed_at IS NULL",
            )
            .bind(at)
            .bind(actor)
            .bind(note_opt)
            .bind(id)
            .bind(org.as_str()),
        };
        let done = q.execute(&mut *tx).await?;
        if done.rows_affected() == 0 {
            drop(tx);
            return match self.advisory_recipient(id, org).await? {
                None => Err(StoreError::NotFound(format!(
                    "{org} as a recipient of advisory {id}"
                ))),
                Some(r) if r.closed_at.is_some() => Err(StoreError::Invalid(format!(
                    "{org} has already closed advisory {id}"
                ))),
                Some(_) => Err(StoreError::Invalid(format!(
                    "{org} has already acknowledged advisory {id}"
                ))),
            };
        }
        let log_note = match action {
            RecipientAction::Respond(a) if note.is_empty() => a.as_str().to_string(),
            RecipientAction::Respond(a) => format!("{}: {note}", a.as_str()),
            _ => note.to_string(),
        };
        log(
            &mut tx,
            id,
            Some(org),
            at,
            actor,
            action.log_name(),
            &log_note,
        )
        .await?;
        tx.commit().await?;
        self.advisory_recipient(id, org)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("{org} as a recipient of advisory {id}")))
    }

    /// Queues a message about an advisory. Returns false when a message with that reference
    /// was queued before (it is not queued again): chasing twice sends once.
    pub async fn queue_advisory_message(
        &self,
        m: &AdvisoryMessage<'_>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        // Advisory messages belong to no incident: 0 is never an incident id.
        let row = sqlx::query(
            "INSERT INTO outbox (incident_id, org_code, contact_id, contact_name, channel, destination, subject, body, reference, status, attempts, next_attempt_at, created_at)
             VALUES (0, $1, $2, $3, $4, $5, $6, $7, $8, 'pending', 0, $9, $9)
             ON CONFLICT (reference) DO NOTHING RETURNING id",
        )
        .bind(m.org_code.as_str())
        .bind(m.contact_id)
        .bind(m.contact_name)
        .bind(m.channel)
        .bind(m.destination)
        .bind(m.subject)
        .bind(m.body)
        .bind(m.reference)
        .bind(m.at)
        .fetch_optional(&mut *tx)
        .await?;
        if row.is_none() {
            return Ok(false);
        }
        if m.is_reminder {
            sqlx::query(
                "UPDATE advisory_recipients SET reminders = reminders + 1 WHERE advisory_id = $1 AND org_code = $2",
            )
            .bind(m.advisory_id)
            .bind(m.org_code.as_str())
            .execute(&mut *tx)
            .await?;
        }
        log(
            &mut tx,
            m.advisory_id,
            Some(m.org_code),
            m.at,
            "ward",
            if m.is_reminder {
                "reminder"
            } else {
                "notified"
            },
            &format!(
                "{} to {} ({}): {}",
                m.channel, m.contact_name, m.destination, m.subject
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Everything that happened on an advisory, oldest first.
    pub async fn advisory_log(&self, id: &str) -> Result<Vec<AdvisoryLogEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT at, org_code, actor, action, note FROM advisory_log WHERE advisory_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AdvisoryLogEntry {
                    at: r.try_get("at")?,
                    org_code: r
                        .try_get::<Option<String>, _>("org_code")?
                        .map(parse_ods)
                        .transpose()?,
                    actor: r.try_get("actor")?,
                    action: r.try_get("action")?,
                    note: r.try_get("note")?,
                })
            })
            .collect()
    }
}
