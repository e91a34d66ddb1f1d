use sqlx::{Any, Row, Transaction};
use ward_model::records::Contact;

use crate::store::Store;
use crate::StoreError;

/// The detection consumer's unit of work. Nothing is visible until [`DetectionTx::commit`],
/// which also moves the consumer's offset: either all of a batch's effects land, or none.
pub struct DetectionTx<'c> {
    pub(crate) tx: Transaction<'c, Any>,
}

/// An open incident found by its grouping key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenIncident {
    pub id: i64,
    pub parent_id: Option<i64>,
}

pub struct NewIncident<'a> {
    pub scope: &'a str,
    pub rule_id: &'a str,
    pub title: &'a str,
    pub severity: i64,
    pub org_code: Option<&'a str>,
    pub host: Option<&'a str>,
    pub parent_id: Option<i64>,
    pub at: i64,
}

pub struct NewDetection<'a> {
    pub event_offset: i64,
    pub org_code: &'a str,
    pub rule_id: &'a str,
    pub rule_title: &'a str,
    pub rule_author: Option<&'a str>,
    pub level: &'a str,
    pub tags_json: &'a str,
    pub matched_fields_json: &'a str,
    pub host: Option<&'a str>,
    pub event_json: &'a str,
    pub received_at: i64,
    pub detected_at: i64,
    pub incident_id: i64,
}

pub struct NewOutbox<'a> {
    pub incident_id: i64,
    pub org_code: &'a str,
    pub contact_id: Option<i64>,
    pub contact_name: &'a str,
    pub channel: &'a str,
    pub destination: &'a str,
    pub subject: &'a str,
    pub body: &'a str,
    pub reference: &'a str,
    pub at: i64,
}

impl<'c> DetectionTx<'c> {
    pub(crate) fn new(tx: Transaction<'c, Any>) -> Self {
        DetectionTx { tx }
    }

    pub async fn commit(self) -> Result<(), StoreError> {
        Ok(self.tx.commit().await?)
    }

    /// The open local incident for (rule, organisation, host) seen at or after `since`.
    pub async fn find_open_local(
        &mut self,
        rule_id: &str,
        org: &str,
        host: Option<&str>,
        since: i64,
    ) -> Result<Option<OpenIncident>, StoreError> {
        let row = sqlx::query(
            "SELECT id, parent_id FROM incidents
             WHERE scope = 'local' AND rule_id = $1 AND org_code = $2
               AND COALESCE(host, '') = COALESCE($3, '') AND last_seen_at >= $4 AND status NOT IN ('resolved', 'false_positive')
             ORDER BY last_seen_at DESC LIMIT 1",
        )
        .bind(rule_id)
        .bind(org)
        .bind(host.map(str::to_string))
        .bind(since)
        .fetch_optional(&mut *self.tx)
        .await?;
        row.map(|r| {
            Ok(OpenIncident {
                id: r.try_get("id")?,
                parent_id: r.try_get("parent_id")?,
            })
        })
        .transpose()
    }

    /// The open national incident for `rule_id` seen at or after `since`.
    pub async fn find_open_national(
        &mut self,
        rule_id: &str,
        since: i64,
    ) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query(
            "SELECT i.id FROM incidents i JOIN incident_rules r ON r.incident_id = i.id
             WHERE i.scope = 'national' AND r.rule_id = $1 AND i.last_seen_at >= $2 AND i.status NOT IN ('resolved', 'false_positive')
             ORDER BY i.last_seen_at DESC LIMIT 1",
        )
        .bind(rule_id)
        .bind(since)
        .fetch_optional(&mut *self.tx)
        .await?;
        Ok(row.map(|r| r.try_get("id")).transpose()?)
    }

    /// An open national incident seen at or after `since` that already involves at least
    /// `min_overlap` of `orgs`: the same outbreak, showing up under another rule.
    pub async fn find_overlapping_national(
        &mut self,
        orgs: &[String],
        since: i64,
        min_overlap: usize,
    ) -> Result<Option<i64>, StoreError> {
        if orgs.is_empty() {
            return Ok(None);
        }
        let placeholders: Vec<String> = (0..orgs.len()).map(|i| format!("${}", i + 3)).collect();
        let sql = format!(
            "SELECT o.incident_id AS id, COUNT(*) AS n FROM incident_orgs o JOIN incidents i ON i.id = o.incident_id
             WHERE i.scope = 'national' AND i.last_seen_at >= $1 AND i.status NOT IN ('resolved', 'false_positive') AND o.org_code IN ({})
             GROUP BY o.incident_id HAVING COUNT(*) >= $2 ORDER BY COUNT(*) DESC, o.incident_id LIMIT 1",
            placeholders.join(", ")
        );
        let mut q = sqlx::query(&sql).bind(since).bind(min_overlap as i64);
        for org in orgs {
            q = q.bind(org.as_str());
        }
        let row = q.fetch_optional(&mut *self.tx).await?;
        Ok(row.map(|r| r.try_get("id")).transpose()?)
    }

    /// Raises an incident's severity to `severity` if it is lower.
    pub async fn raise_severity(
        &mut self,
        incident_id: i64,
        severity: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE incidents SET severity = $1 WHERE id = $2 AND severity < $1")
            .bind(severity)
            .bind(incident_id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Records that `rule_id` is part of a national incident.
    pub async fn add_incident_rule(
        &mut self,
        incident_id: i64,
        rule_id: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO incident_rules (incident_id, rule_id) VALUES ($1, $2) ON CONFLICT (incident_id, rule_id) DO NOTHING",
        )
        .bind(incident_id)
        .bind(rule_id)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Organisations with a local incident of `rule_id` seen at or after `since`.
    pub async fn orgs_with_local(
        &mut self,
        rule_id: &str,
        since: i64,
    ) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT DISTINCT org_code FROM incidents WHERE scope = 'local' AND rule_id = $1 AND last_seen_at >= $2 ORDER BY org_code",
        )
        .bind(rule_id)
        .bind(since)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter().map(|r| Ok(r.try_get("org_code")?)).collect()
    }

    pub async fn insert_incident(&mut self, n: &NewIncident<'_>) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "INSERT INTO incidents (scope, rule_id, title, severity, org_code, host, status, parent_id, opened_at, last_seen_at, detection_count, org_count)
             VALUES ($1, $2, $3, $4, $5, $6, 'new', $7, $8, $8, 0, 0) RETURNING id",
        )
        .bind(n.scope)
        .bind(n.rule_id)
        .bind(n.title)
        .bind(n.severity)
        .bind(n.org_code.map(str::to_string))
        .bind(n.host.map(str::to_string))
        .bind(n.parent_id)
        .bind(n.at)
        .fetch_one(&mut *self.tx)
        .await?;
        Ok(row.try_get("id")?)
    }

    /// Records another detection on an incident.
    pub async fn touch_incident(&mut self, id: i64, at: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE incidents SET detection_count = detection_count + 1,
               last_seen_at = CASE WHEN last_seen_at > $1 THEN last_seen_at ELSE $1 END
             WHERE id = $2",
        )
        .bind(at)
        .bind(id)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Adds `org` to an incident's organisations; true when it was not there before.
    pub async fn add_incident_org(
        &mut self,
        incident_id: i64,
        org: &str,
        at: i64,
    ) -> Result<bool, StoreError> {
        let exists = sqlx::query(
            "SELECT 1 AS one FROM incident_orgs WHERE incident_id = $1 AND org_code = $2",
        )
        .bind(incident_id)
        .bind(org)
        .fetch_optional(&mut *self.tx)
        .await?
        .is_some();
        if exists {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO incident_orgs (incident_id, org_code, joined_at) VALUES ($1, $2, $3)",
        )
        .bind(incident_id)
        .bind(org)
        .bind(at)
        .execute(&mut *self.tx)
        .await?;
        sqlx::query("UPDATE incidents SET org_count = org_count + 1 WHERE id = $1")
            .bind(incident_id)
            .execute(&mut *self.tx)
            .await?;
        Ok(true)
    }

    /// Makes the open local incidents of `rule_id` at `org` part of a national incident.
    pub async fn link_locals(
        &mut self,
        national_id: i64,
        rule_id: &str,
        org: &str,
        since: i64,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE incidents SET parent_id = $1
             WHERE scope = 'local' AND rule_id = $2 AND org_code = $3 AND last_seen_at >= $4 AND parent_id IS NULL",
        )
        .bind(national_id)
        .bind(rule_id)
        .bind(org)
        .bind(since)
        .execute(&mut *self.tx)
        .await?;
        Ok(done.rows_affected())
    }

    pub async fn insert_detection(&mut self, d: &NewDetection<'_>) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "INSERT INTO detections (event_offset, org_code, rule_id, rule_title, rule_author, level, tags, matched_fields, host, event, received_at, detected_at, incident_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
        )
        .bind(d.event_offset)
        .bind(d.org_code)
        .bind(d.rule_id)
        .bind(d.rule_title)
        .bind(d.rule_author.map(str::to_string))
        .bind(d.level)
        .bind(d.tags_json)
        .bind(d.matched_fields_json)
        .bind(d.host.map(str::to_string))
        .bind(d.event_json)
        .bind(d.received_at)
        .bind(d.detected_at)
        .bind(d.incident_id)
        .fetch_one(&mut *self.tx)
        .await?;
        Ok(row.try_get("id")?)
    }

    pub async fn contacts(&mut self, org: &str) -> Result<Vec<Contact>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, org_code, name, phone, email, role, created_at FROM contacts WHERE org_code = $1 ORDER BY id",
        )
        .bind(org)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter().map(Store::contact_from_row).collect()
    }

    pub async fn insert_outbox(&mut self, o: &NewOutbox<'_>) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "INSERT INTO outbox (incident_id, org_code, contact_id, contact_name, channel, destination, subject, body, reference, status, attempts, next_attempt_at, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', 0, $10, $10) RETURNING id",
        )
        .bind(o.incident_id)
        .bind(o.org_code)
        .bind(o.contact_id)
        .bind(o.contact_name)
        .bind(o.channel)
        .bind(o.destination)
        .bind(o.subject)
        .bind(o.body)
        .bind(o.reference)
        .bind(o.at)
        .fetch_one(&mut *self.tx)
        .await?;
        Ok(row.try_get("id")?)
    }

    pub async fn set_consumer_state(
        &mut self,
        consumer: &str,
        state: &str,
        at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO consumer_state (consumer, state, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (consumer) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
        )
        .bind(consumer)
        .bind(state)
        .bind(at)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    pub async fn set_consumer_offset(
        &mut self,
        consumer: &str,
        next_offset: u64,
        at: i64,
    ) -> Result<(), StoreError> {
        // Portable upsert: both engines support ON CONFLICT … DO UPDATE.
        sqlx::query(
            "INSERT INTO consumer_offsets (consumer, next_offset, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (consumer) DO UPDATE SET next_offset = excluded.next_offset, updated_at = excluded.updated_at",
        )
        .bind(consumer)
        .bind(next_offset as i64)
        .bind(at)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }
}
