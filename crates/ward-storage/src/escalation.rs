//! Escalation state: policies, rotas, silences, triage fields, chases and delivery statuses.
//!
//! A chase is the escalation of one target (`incident`, or any other kind a caller starts,
//! such as `advisory`) at one organisation. Its next step and due time live here, and every
//! step writes its outbox rows with deterministic references in the same transaction that
//! moves the chase on, guarded by the number of steps already fired: a restart or a second
//! runner can neither lose a step nor send one twice.

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};
use ward_model::escalation::{
    Chase, EscalationPolicy, EscalationStep, Rota, RotaOverride, RotaPeriod, Silence,
    SilenceMatcher, Triage, TLP_LABELS,
};
use ward_model::OdsCode;

use crate::store::{parse_ods, Store};
use crate::tx::DetectionTx;
use crate::StoreError;

/// Statuses Notify reports that end a message's life.
pub const FINAL_DELIVERY_STATUSES: &[&str] = &[
    "delivered",
    "permanent-failure",
    "temporary-failure",
    "technical-failure",
];

/// Every status a Notify delivery-status callback may carry.
pub const DELIVERY_STATUSES: &[&str] = &[
    "created",
    "sending",
    "pending",
    "sent",
    "delivered",
    "permanent-failure",
    "temporary-failure",
    "technical-failure",
];

pub struct NewPolicy {
    pub name: String,
    pub min_severity: i64,
    pub steps: Vec<EscalationStep>,
    pub repeat_delay_secs: u64,
    pub max_rounds: i64,
}

/// A chase to start. `first_due_at` is when its first step fires.
pub struct NewChase<'a> {
    pub target_kind: &'a str,
    pub target_id: i64,
    pub org_code: &'a str,
    pub policy_id: i64,
    pub subject: &'a str,
    pub body: &'a str,
    pub first_due_at: i64,
    pub at: i64,
}

/// One message a chase step (or a failover) writes to the outbox.
#[derive(Debug, Clone)]
pub struct ChaseMessage {
    pub incident_id: i64,
    pub org_code: String,
    pub contact_id: i64,
    pub contact_name: String,
    pub channel: String,
    pub destination: String,
    pub subject: String,
    pub body: String,
    /// Deterministic: the same step for the same contact always has the same reference, so
    /// writing it twice is a no-op.
    pub reference: String,
    /// Channels still to try, comma-separated, in order.
    pub failover_channels: String,
}

/// An incident organisation whose policy says it should be chased and is not yet.
#[derive(Debug, Clone)]
pub struct ChaseCandidate {
    pub incident_id: i64,
    pub org_code: String,
    pub severity: i64,
    pub title: String,
    pub opened_at: i64,
}

/// An active incident chase that must end, and why.
#[derive(Debug, Clone)]
pub struct SettledChase {
    pub chase_id: i64,
    /// `acknowledged`, `inhibited` or `closed`.
    pub state: &'static str,
    pub by: String,
}

/// A chase message whose channel failed or delivered nothing in time.
#[derive(Debug, Clone)]
pub struct FailoverCandidate {
    pub outbox_id: i64,
    pub chase_id: i64,
    pub incident_id: i64,
    pub org_code: String,
    pub contact_id: i64,
    pub contact_name: String,
    pub channel: String,
    pub subject: String,
    pub body: String,
    pub reference: String,
    pub failover_channels: Vec<String>,
}

fn json_col<T: serde::de::DeserializeOwned>(
    r: &AnyRow,
    col: &str,
    table: &str,
) -> Result<T, StoreError> {
    let text: String = r.try_get(col)?;
    serde_json::from_str(&text).map_err(|e| StoreError::Invalid(format!("{table}.{col}: {e}")))
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Invalid(format!("cannot encode: {e}")))
}

fn policy_from_row(r: &AnyRow) -> Result<EscalationPolicy, StoreError> {
    Ok(EscalationPolicy {
        id: r.try_get("id")?,
        org_code: parse_ods(r.try_get("org_code")?)?,
        name: r.try_get("name")?,
        min_severity: r.try_get("min_severity")?,
        steps: json_col(r, "steps", "escalation_policies")?,
        repeat_delay_secs: r.try_get::<i64, _>("repeat_delay_secs")?.max(0) as u64,
        max_rounds: r.try_get("max_rounds")?,
        created_at: r.try_get("created_at")?,
    })
}

fn rota_from_row(r: &AnyRow) -> Result<Rota, StoreError> {
    let period: String = r.try_get("period")?;
    Ok(Rota {
        id: r.try_get("id")?,
        org_code: parse_ods(r.try_get("org_code")?)?,
        name: r.try_get("name")?,
        period: RotaPeriod::parse(&period)
            .ok_or_else(|| StoreError::Invalid(format!("rotas.period {period:?}")))?,
        starts_at: r.try_get("starts_at")?,
        members: json_col(r, "members", "rotas")?,
        created_at: r.try_get("created_at")?,
    })
}

fn override_from_row(r: &AnyRow) -> Result<RotaOverride, StoreError> {
    Ok(RotaOverride {
        id: r.try_get("id")?,
        rota_id: r.try_get("rota_id")?,
        contact_id: r.try_get("contact_id")?,
        starts_at: r.try_get("starts_at")?,
        ends_at: r.try_get("ends_at")?,
        reason: r.try_get("reason")?,
        created_at: r.try_get("created_at")?,
    })
}

fn silence_from_row(r: &AnyRow) -> Result<Silence, StoreError> {
    Ok(Silence {
        id: r.try_get("id")?,
        org_code: r
            .try_get::<Option<String>, _>("org_code")?
            .map(parse_ods)
            .transpose()?,
        matchers: json_col::<Vec<SilenceMatcher>>(r, "matchers", "silences")?,
        reason: r.try_get("reason")?,
        author: r.try_get("author")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
    })
}

fn chase_from_row(r: &AnyRow) -> Result<Chase, StoreError> {
    Ok(Chase {
        id: r.try_get("id")?,
        target_kind: r.try_get("target_kind")?,
        target_id: r.try_get("target_id")?,
        org_code: r.try_get("org_code")?,
        policy_id: r.try_get("policy_id")?,
        state: r.try_get("state")?,
        steps_fired: r.try_get("steps_fired")?,
        next_due_at: r.try_get("next_due_at")?,
        started_at: r.try_get("started_at")?,
        ended_at: r.try_get("ended_at")?,
        ended_by: r.try_get("ended_by")?,
        subject: r.try_get("subject")?,
        body: r.try_get("body")?,
    })
}

const POLICY_COLS: &str =
    "id, org_code, name, min_severity, steps, repeat_delay_secs, max_rounds, created_at";
const ROTA_COLS: &str = "id, org_code, name, period, starts_at, members, created_at";
const OVERRIDE_COLS: &str = "id, rota_id, contact_id, starts_at, ends_at, reason, created_at";
const SILENCE_COLS: &str = "id, org_code, matchers, reason, author, created_at, expires_at";
const CHASE_COLS: &str = "id, target_kind, target_id, org_code, policy_id, state, steps_fired, next_due_at, started_at, ended_at, ended_by, subject, body";

async fn insert_chase_message(
    tx: &mut Transaction<'_, Any>,
    chase_id: i64,
    m: &ChaseMessage,
    at: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "INSERT INTO outbox (incident_id, org_code, contact_id, contact_name, channel, destination, subject, body, reference, status, attempts, next_attempt_at, created_at, chase_id, failover_channels)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', 0, $10, $10, $11, $12)
         ON CONFLICT (reference) DO NOTHING",
    )
    .bind(m.incident_id)
    .bind(&m.org_code)
    .bind(m.contact_id)
    .bind(&m.contact_name)
    .bind(&m.channel)
    .bind(&m.destination)
    .bind(&m.subject)
    .bind(&m.body)
    .bind(&m.reference)
    .bind(at)
    .bind(chase_id)
    .bind(&m.failover_channels)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

impl Store {
    // ---- escalation policies ----

    pub async fn create_policy(
        &self,
        org: &OdsCode,
        p: &NewPolicy,
    ) -> Result<EscalationPolicy, StoreError> {
        if !(1..=4).contains(&p.min_severity) {
            return Err(StoreError::Invalid(format!(
                "min_severity {} is not 1 (low) to 4 (critical)",
                p.min_severity
            )));
        }
        if p.steps.is_empty() {
            return Err(StoreError::Invalid(
                "an escalation policy needs at least one step".into(),
            ));
        }
        let now = ward_model::clock::now_ms();
        let row = sqlx::query(
            "INSERT INTO escalation_policies (org_code, name, min_severity, steps, repeat_delay_secs, max_rounds, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(org.as_str())
        .bind(&p.name)
        .bind(p.min_severity)
        .bind(to_json(&p.steps)?)
        .bind(p.repeat_delay_secs as i64)
        .bind(p.max_rounds.max(1))
        .bind(now)
        .fetch_one(&self.pool)
        .await
        .map_err(|e| {
            StoreError::conflict_on_unique(
                e,
                format!("escalation policy of {org} for severity {}", p.min_severity),
            )
        })?;
        Ok(EscalationPolicy {
            id: row.try_get("id")?,
            org_code: org.clone(),
            name: p.name.clone(),
            min_severity: p.min_severity,
            steps: p.steps.clone(),
            repeat_delay_secs: p.repeat_delay_secs,
            max_rounds: p.max_rounds.max(1),
            created_at: now,
        })
    }

    pub async fn list_policies(
        &self,
        org: Option<&OdsCode>,
    ) -> Result<Vec<EscalationPolicy>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {POLICY_COLS} FROM escalation_policies WHERE ($1 IS NULL OR org_code = $1) ORDER BY org_code, min_severity"
        ))
        .bind(org.map(|c| c.as_str().to_string()))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(policy_from_row).collect()
    }

    pub async fn get_policy(&self, id: i64) -> Result<Option<EscalationPolicy>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {POLICY_COLS} FROM escalation_policies WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(policy_from_row).transpose()
    }

    pub async fn delete_policy(&self, id: i64) -> Result<(), StoreError> {
        let done = sqlx::query("DELETE FROM escalation_policies WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("escalation policy {id}")));
        }
        Ok(())
    }

    /// The most specific policy of `org` covering `severity`.
    pub async fn policy_for(
        &self,
        org: &str,
        severity: i64,
    ) -> Result<Option<EscalationPolicy>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {POLICY_COLS} FROM escalation_policies WHERE org_code = $1 AND min_severity <= $2 ORDER BY min_severity DESC LIMIT 1"
        ))
        .bind(org)
        .bind(severity)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(policy_from_row).transpose()
    }

    // ---- on-call rotas ----

    pub async fn create_rota(
        &self,
        org: &OdsCode,
        name: &str,
        period: RotaPeriod,
        starts_at: i64,
        members: &[i64],
    ) -> Result<Rota, StoreError> {
        if members.is_empty() {
            return Err(StoreError::Invalid(
                "a rota needs at least one member".into(),
            ));
        }
        for id in members {
            match self.get_contact(*id).await? {
                Some(c) if c.org_code == *org => {}
                Some(c) => {
                    return Err(StoreError::Invalid(format!(
                        "contact {id} belongs to {}, not {org}",
                        c.org_code
                    )))
                }
                None => return Err(StoreError::NotFound(format!("contact {id}"))),
            }
        }
        let now = ward_model::clock::now_ms();
        let row = sqlx::query(
            "INSERT INTO rotas (org_code, name, period, starts_at, members, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(org.as_str())
        .bind(name)
        .bind(period.as_str())
        .bind(starts_at)
        .bind(to_json(&members)?)
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        Ok(Rota {
            id: row.try_get("id")?,
            org_code: org.clone(),
            name: name.into(),
            period,
            starts_at,
            members: members.to_vec(),
            created_at: now,
        })
    }

    pub async fn list_rotas(&self, org: Option<&OdsCode>) -> Result<Vec<Rota>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {ROTA_COLS} FROM rotas WHERE ($1 IS NULL OR org_code = $1) ORDER BY org_code, id"
        ))
        .bind(org.map(|c| c.as_str().to_string()))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(rota_from_row).collect()
    }

    pub async fn get_rota(&self, id: i64) -> Result<Option<Rota>, StoreError> {
        let row = sqlx::query(&format!("SELECT {ROTA_COLS} FROM rotas WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(rota_from_row).transpose()
    }

    pub async fn add_rota_override(
        &self,
        rota_id: i64,
        contact_id: i64,
        starts_at: i64,
        ends_at: i64,
        reason: &str,
    ) -> Result<RotaOverride, StoreError> {
        if ends_at <= starts_at {
            return Err(StoreError::Invalid(format!(
                "override ends ({ends_at}) before it starts ({starts_at})"
            )));
        }
        let rota = self
            .get_rota(rota_id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("rota {rota_id}")))?;
        match self.get_contact(contact_id).await? {
            Some(c) if c.org_code == rota.org_code => {}
            Some(c) => {
                return Err(StoreError::Invalid(format!(
                    "contact {contact_id} belongs to {}, not {}",
                    c.org_code, rota.org_code
                )))
            }
            None => return Err(StoreError::NotFound(format!("contact {contact_id}"))),
        }
        let now = ward_model::clock::now_ms();
        let row = sqlx::query(
            "INSERT INTO rota_overrides (rota_id, contact_id, starts_at, ends_at, reason, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(rota_id)
        .bind(contact_id)
        .bind(starts_at)
        .bind(ends_at)
        .bind(reason)
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        Ok(RotaOverride {
            id: row.try_get("id")?,
            rota_id,
            contact_id,
            starts_at,
            ends_at,
            reason: reason.into(),
            created_at: now,
        })
    }

    /// Overrides of a rota that overlap `[from, to)`, oldest first.
    pub async fn rota_overrides(
        &self,
        rota_id: i64,
        from: i64,
        to: i64,
    ) -> Result<Vec<RotaOverride>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {OVERRIDE_COLS} FROM rota_overrides WHERE rota_id = $1 AND ends_at > $2 AND starts_at < $3 ORDER BY id"
        ))
        .bind(rota_id)
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(override_from_row).collect()
    }

    // ---- silences ----

    pub async fn create_silence(
        &self,
        org: Option<&OdsCode>,
        matchers: &[SilenceMatcher],
        reason: &str,
        author: &str,
        expires_at: i64,
    ) -> Result<Silence, StoreError> {
        if matchers.is_empty() {
            return Err(StoreError::Invalid(
                "a silence needs at least one matcher; it would silence everything".into(),
            ));
        }
        if reason.trim().is_empty() {
            return Err(StoreError::Invalid("a silence needs a reason".into()));
        }
        let now = ward_model::clock::now_ms();
        if expires_at <= now {
            return Err(StoreError::Invalid(format!(
                "a silence must expire in the future (expires_at {expires_at} ≤ now {now})"
            )));
        }
        let row = sqlx::query(
            "INSERT INTO silences (org_code, matchers, reason, author, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(org.map(|c| c.as_str().to_string()))
        .bind(to_json(&matchers)?)
        .bind(reason)
        .bind(author)
        .bind(now)
        .bind(expires_at)
        .fetch_one(&self.pool)
        .await?;
        Ok(Silence {
            id: row.try_get("id")?,
            org_code: org.cloned(),
            matchers: matchers.to_vec(),
            reason: reason.into(),
            author: author.into(),
            created_at: now,
            expires_at,
        })
    }

    /// Silences visible to `org` (its own and federation-wide ones; all when `None`), those
    /// still in force at `active_at` when given.
    pub async fn list_silences(
        &self,
        org: Option<&OdsCode>,
        active_at: Option<i64>,
    ) -> Result<Vec<Silence>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {SILENCE_COLS} FROM silences
             WHERE ($1 IS NULL OR org_code IS NULL OR org_code = $1) AND ($2 IS NULL OR expires_at > $2)
             ORDER BY id DESC"
        ))
        .bind(org.map(|c| c.as_str().to_string()))
        .bind(active_at)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(silence_from_row).collect()
    }

    pub async fn get_silence(&self, id: i64) -> Result<Option<Silence>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {SILENCE_COLS} FROM silences WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(silence_from_row).transpose()
    }

    /// Ends a silence now (it stays listed, expired).
    pub async fn expire_silence(&self, id: i64, at: i64) -> Result<Silence, StoreError> {
        sqlx::query("UPDATE silences SET expires_at = $1 WHERE id = $2 AND expires_at > $1")
            .bind(at)
            .bind(id)
            .execute(&self.pool)
            .await?;
        self.get_silence(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("silence {id}")))
    }

    /// How many detections a silence caught.
    pub async fn silenced_count(&self, silence_id: i64) -> Result<i64, StoreError> {
        Ok(
            sqlx::query("SELECT COUNT(*) AS n FROM detections WHERE silence_id = $1")
                .bind(silence_id)
                .fetch_one(&self.pool)
                .await?
                .try_get("n")?,
        )
    }

    // ---- triage: severity, TLP, assignees ----

    pub async fn get_triage(&self, incident_id: i64) -> Result<Option<Triage>, StoreError> {
        let Some(row) = sqlx::query("SELECT severity, tlp FROM incidents WHERE id = $1")
            .bind(incident_id)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let assignees = sqlx::query(
            "SELECT assignee FROM incident_assignees WHERE incident_id = $1 ORDER BY assigned_at, assignee",
        )
        .bind(incident_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| r.try_get("assignee"))
        .collect::<Result<Vec<String>, _>>()?;
        Ok(Some(Triage {
            incident_id,
            severity: row.try_get("severity")?,
            tlp: row.try_get("tlp")?,
            assignees,
        }))
    }

    /// Changes any of severity, TLP and assignees, recording the change on the timeline.
    pub async fn set_triage(
        &self,
        incident_id: i64,
        severity: Option<i64>,
        tlp: Option<&str>,
        assignees: Option<&[String]>,
        actor: &str,
    ) -> Result<Triage, StoreError> {
        if let Some(s) = severity {
            if !(1..=4).contains(&s) {
                return Err(StoreError::Invalid(format!(
                    "severity {s} is not 1 (low) to 4 (critical)"
                )));
            }
        }
        let tlp = tlp.map(|t| t.trim().to_ascii_lowercase());
        if let Some(t) = &tlp {
            let t = t.as_str();
            let t = t.strip_prefix("tlp:").unwrap_or(t);
            if !TLP_LABELS.contains(&t) {
                return Err(StoreError::Invalid(format!(
                    "TLP {t:?}; expected one of {}",
                    TLP_LABELS.join(", ")
                )));
            }
        }
        let tlp = tlp.map(|t| t.trim_start_matches("tlp:").to_string());
        let before = self
            .get_triage(incident_id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("incident {incident_id}")))?;
        let at = ward_model::clock::now_ms();
        let mut changes = Vec::new();
        let mut tx = self.pool.begin().await?;
        if let Some(s) = severity.filter(|s| *s != before.severity) {
            sqlx::query("UPDATE incidents SET severity = $1 WHERE id = $2")
                .bind(s)
                .bind(incident_id)
                .execute(&mut *tx)
                .await?;
            changes.push(format!("severity {} → {s}", before.severity));
        }
        if let Some(t) = tlp.as_deref().filter(|t| *t != before.tlp) {
            sqlx::query("UPDATE incidents SET tlp = $1 WHERE id = $2")
                .bind(t)
                .bind(incident_id)
                .execute(&mut *tx)
                .await?;
            changes.push(format!(
                "TLP:{} → TLP:{}",
                before.tlp.to_uppercase(),
                t.to_uppercase()
            ));
        }
        if let Some(list) = assignees {
            let mut wanted: Vec<String> = list
                .iter()
                .map(|a| a.trim().to_string())
                .filter(|a| !a.is_empty())
                .collect();
            wanted.sort();
            wanted.dedup();
            let mut had = before.assignees.clone();
            had.sort();
            if wanted != had {
                sqlx::query("DELETE FROM incident_assignees WHERE incident_id = $1")
                    .bind(incident_id)
                    .execute(&mut *tx)
                    .await?;
                for a in &wanted {
                    sqlx::query(
                        "INSERT INTO incident_assignees (incident_id, assignee, assigned_at, assigned_by) VALUES ($1, $2, $3, $4)",
                    )
                    .bind(incident_id)
                    .bind(a)
                    .bind(at)
                    .bind(actor)
                    .execute(&mut *tx)
                    .await?;
                }
                changes.push(format!(
                    "assignees: {}",
                    if wanted.is_empty() {
                        "none".to_string()
                    } else {
                        wanted.join(", ")
                    }
                ));
            }
        }
        if !changes.is_empty() {
            let status: String = sqlx::query("SELECT status FROM incidents WHERE id = $1")
                .bind(incident_id)
                .fetch_one(&mut *tx)
                .await?
                .try_get("status")?;
            sqlx::query(
                "INSERT INTO incident_timeline (incident_id, at, actor, from_status, to_status, comment) VALUES ($1, $2, $3, $4, $4, $5)",
            )
            .bind(incident_id)
            .bind(at)
            .bind(actor)
            .bind(&status)
            .bind(changes.join("; "))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.get_triage(incident_id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("incident {incident_id}")))
    }

    // ---- chases ----

    /// Open, uninhibited incidents opened at or after `since` whose organisation has a
    /// policy covering their severity and no chase yet.
    pub async fn incidents_to_chase(
        &self,
        since: i64,
        limit: i64,
    ) -> Result<Vec<ChaseCandidate>, StoreError> {
        let rows = sqlx::query(
            "SELECT i.id, o.org_code, i.severity, i.title, i.opened_at
             FROM incidents i JOIN incident_orgs o ON o.incident_id = i.id
             WHERE i.status = 'new' AND i.parent_id IS NULL AND i.opened_at >= $1
               AND NOT EXISTS (SELECT 1 FROM chases c WHERE c.target_kind = 'incident' AND c.target_id = i.id AND c.org_code = o.org_code)
               AND EXISTS (SELECT 1 FROM escalation_policies p WHERE p.org_code = o.org_code AND p.min_severity <= i.severity)
             ORDER BY i.id, o.org_code LIMIT $2",
        )
        .bind(since)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ChaseCandidate {
                    incident_id: r.try_get("id")?,
                    org_code: r.try_get("org_code")?,
                    severity: r.try_get("severity")?,
                    title: r.try_get("title")?,
                    opened_at: r.try_get("opened_at")?,
                })
            })
            .collect()
    }

    /// Starts a chase; `None` when the target is already chased at that organisation.
    pub async fn start_chase(&self, c: &NewChase<'_>) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query(
            "INSERT INTO chases (target_kind, target_id, org_code, policy_id, state, steps_fired, next_due_at, started_at, subject, body)
             VALUES ($1, $2, $3, $4, 'active', 0, $5, $6, $7, $8)
             ON CONFLICT (target_kind, target_id, org_code) DO NOTHING RETURNING id",
        )
        .bind(c.target_kind)
        .bind(c.target_id)
        .bind(c.org_code)
        .bind(c.policy_id)
        .bind(c.first_due_at)
        .bind(c.at)
        .bind(c.subject)
        .bind(c.body)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.try_get("id")).transpose()?)
    }

    pub async fn get_chase(&self, id: i64) -> Result<Option<Chase>, StoreError> {
        let row = sqlx::query(&format!("SELECT {CHASE_COLS} FROM chases WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(chase_from_row).transpose()
    }

    /// Active chases whose next step is due at `now`, most overdue first.
    pub async fn due_chases(&self, now: i64, limit: i64) -> Result<Vec<Chase>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {CHASE_COLS} FROM chases WHERE state = 'active' AND next_due_at <= $1 ORDER BY next_due_at, id LIMIT $2"
        ))
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(chase_from_row).collect()
    }

    /// Chases of one target, every organisation.
    pub async fn chases_of(&self, kind: &str, target_id: i64) -> Result<Vec<Chase>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {CHASE_COLS} FROM chases WHERE target_kind = $1 AND target_id = $2 ORDER BY org_code, id"
        ))
        .bind(kind)
        .bind(target_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(chase_from_row).collect()
    }

    /// Incident chases still running (active, or exhausted but still failing over) whose
    /// incident was acknowledged (by any route), closed, or inhibited by a national incident.
    pub async fn chases_to_settle(&self) -> Result<Vec<SettledChase>, StoreError> {
        let rows = sqlx::query(
            "SELECT c.id, i.status, i.parent_id,
                    (SELECT t.actor FROM incident_timeline t WHERE t.incident_id = i.id AND t.from_status <> t.to_status ORDER BY t.id DESC LIMIT 1) AS actor
             FROM chases c JOIN incidents i ON i.id = c.target_id
             WHERE c.target_kind = 'incident' AND c.state IN ('active', 'exhausted') AND (i.status <> 'new' OR i.parent_id IS NOT NULL)",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let status: String = r.try_get("status")?;
                let parent: Option<i64> = r.try_get("parent_id")?;
                let actor: Option<String> = r.try_get("actor")?;
                let (state, by) = match (status.as_str(), parent) {
                    ("new", Some(p)) => ("inhibited", format!("national incident {p}")),
                    ("resolved" | "false_positive", _) => {
                        ("closed", actor.unwrap_or_else(|| status.clone()))
                    }
                    _ => ("acknowledged", actor.unwrap_or_else(|| "unknown".into())),
                };
                Ok(SettledChase {
                    chase_id: r.try_get("id")?,
                    state,
                    by,
                })
            })
            .collect()
    }

    /// Ends a chase (active, or exhausted but still failing over) and cancels its messages not
    /// yet sent, on every channel at once. False when it had already ended.
    pub async fn end_chase(
        &self,
        chase_id: i64,
        state: &str,
        by: &str,
        at: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE chases SET state = $1, ended_at = $2, ended_by = $3 WHERE id = $4 AND state IN ('active', 'exhausted')",
        )
        .bind(state)
        .bind(at)
        .bind(by)
        .bind(chase_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        sqlx::query(
            "UPDATE outbox SET status = 'cancelled' WHERE chase_id = $1 AND status = 'pending'",
        )
        .bind(chase_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Ends every running chase of a target as acknowledged by `actor`; returns how many.
    pub async fn acknowledge_chases(
        &self,
        kind: &str,
        target_id: i64,
        actor: &str,
        at: i64,
    ) -> Result<usize, StoreError> {
        let mut ended = 0;
        for c in self.chases_of(kind, target_id).await? {
            if matches!(c.state.as_str(), "active" | "exhausted")
                && self.end_chase(c.id, "acknowledged", actor, at).await?
            {
                ended += 1;
            }
        }
        Ok(ended)
    }

    /// Fires a chase's step number `steps_fired`: writes its messages and moves the chase on
    /// (to `next_due_at`, or ends it `exhausted` when `None`), in one transaction. False, with
    /// nothing written, when that step was already fired or the chase ended meanwhile.
    pub async fn fire_chase_step(
        &self,
        chase_id: i64,
        steps_fired: i64,
        messages: &[ChaseMessage],
        next_due_at: Option<i64>,
        at: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let (state, due) = match next_due_at {
            Some(due) => ("active", due),
            None => ("exhausted", at),
        };
        let done = sqlx::query(
            "UPDATE chases SET steps_fired = steps_fired + 1, next_due_at = $1, state = $2,
                ended_at = CASE WHEN $2 = 'active' THEN ended_at ELSE $3 END,
                ended_by = CASE WHEN $2 = 'active' THEN ended_by ELSE 'policy exhausted' END
             WHERE id = $4 AND state = 'active' AND steps_fired = $5",
        )
        .bind(due)
        .bind(state)
        .bind(at)
        .bind(chase_id)
        .bind(steps_fired)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        for m in messages {
            insert_chase_message(&mut tx, chase_id, m, at).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Chase messages to fail over: failed for good, reported failed by the provider,
    /// still undelivered after `deadline` (sent, or retrying, before it), while the chase is on.
    pub async fn failover_due(&self, deadline: i64) -> Result<Vec<FailoverCandidate>, StoreError> {
        let rows = sqlx::query(
            "SELECT o.id, o.chase_id, o.incident_id, o.org_code, o.contact_id, o.contact_name, o.channel, o.subject, o.body, o.reference, o.failover_channels
             FROM outbox o JOIN chases c ON c.id = o.chase_id
             WHERE c.state IN ('active', 'exhausted') AND o.failed_over_at IS NULL AND o.failover_channels <> '' AND o.contact_id IS NOT NULL
               AND (o.status = 'failed'
                    OR o.delivery_status IN ('permanent-failure', 'temporary-failure', 'technical-failure')
                    OR (o.status = 'pending' AND o.created_at <= $1)
                    OR (o.status = 'sent' AND o.delivery_status IS NOT NULL AND o.delivery_status <> 'delivered' AND o.sent_at <= $1))
             ORDER BY o.id LIMIT 500",
        )
        .bind(deadline)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let rest: String = r.try_get("failover_channels")?;
                Ok(FailoverCandidate {
                    outbox_id: r.try_get("id")?,
                    chase_id: r.try_get("chase_id")?,
                    incident_id: r.try_get("incident_id")?,
                    org_code: r.try_get("org_code")?,
                    contact_id: r.try_get("contact_id")?,
                    contact_name: r.try_get("contact_name")?,
                    channel: r.try_get("channel")?,
                    subject: r.try_get("subject")?,
                    body: r.try_get("body")?,
                    reference: r.try_get("reference")?,
                    failover_channels: rest
                        .split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect(),
                })
            })
            .collect()
    }

    /// Marks `outbox_id` failed over and writes its replacement (if any), in one transaction.
    /// False when it was already failed over.
    pub async fn record_failover(
        &self,
        outbox_id: i64,
        chase_id: i64,
        replacement: Option<&ChaseMessage>,
        at: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE outbox SET failed_over_at = $1 WHERE id = $2 AND failed_over_at IS NULL",
        )
        .bind(at)
        .bind(outbox_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        if let Some(m) = replacement {
            insert_chase_message(&mut tx, chase_id, m, at).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    // ---- delivery statuses (Notify callbacks) ----

    /// Records a provider's delivery status for the message with that provider id (or, when
    /// unknown, that reference). A final status is never replaced by an earlier one arriving
    /// late; a repeated callback is recorded once. Returns the outbox id, `None` if unknown.
    pub async fn record_delivery_status(
        &self,
        provider_id: &str,
        reference: Option<&str>,
        status: &str,
        at: i64,
    ) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query(
            "SELECT id, delivery_status FROM outbox WHERE provider_id = $1 OR ($2 IS NOT NULL AND reference = $2) ORDER BY id LIMIT 1",
        )
        .bind(provider_id)
        .bind(reference.map(str::to_string))
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let id: i64 = row.try_get("id")?;
        let current: Option<String> = row.try_get("delivery_status")?;
        let mut tx = self.pool.begin().await?;
        let seen = sqlx::query(
            "SELECT 1 AS one FROM notification_attempts WHERE outbox_id = $1 AND outcome = 'status_callback' AND detail = $2",
        )
        .bind(id)
        .bind(status)
        .fetch_optional(&mut *tx)
        .await?
        .is_some();
        if !seen {
            sqlx::query(
                "INSERT INTO notification_attempts (outbox_id, attempted_at, duration_ms, outcome, http_status, detail) VALUES ($1, $2, 0, 'status_callback', NULL, $3)",
            )
            .bind(id)
            .bind(at)
            .bind(status)
            .execute(&mut *tx)
            .await?;
        }
        let keep_current = current
            .as_deref()
            .is_some_and(|c| FINAL_DELIVERY_STATUSES.contains(&c));
        if !keep_current {
            sqlx::query(
                "UPDATE outbox SET delivery_status = $1, delivery_status_at = $2, provider_id = COALESCE(provider_id, $3) WHERE id = $4",
            )
            .bind(status)
            .bind(at)
            .bind(provider_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(Some(id))
    }

    /// The delivery status a provider last reported for a message.
    pub async fn delivery_status(&self, outbox_id: i64) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT delivery_status FROM outbox WHERE id = $1")
            .bind(outbox_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row
            .map(|r| r.try_get::<Option<String>, _>("delivery_status"))
            .transpose()?
            .flatten())
    }
}

impl DetectionTx<'_> {
    /// Silences in force at `now`.
    pub async fn active_silences(&mut self, now: i64) -> Result<Vec<Silence>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {SILENCE_COLS} FROM silences WHERE expires_at > $1 ORDER BY id"
        ))
        .bind(now)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter().map(silence_from_row).collect()
    }

    /// Marks a stored detection as caught by a silence.
    pub async fn mark_silenced(
        &mut self,
        detection_id: i64,
        silence_id: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE detections SET silence_id = $1 WHERE id = $2")
            .bind(silence_id)
            .bind(detection_id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }
}
