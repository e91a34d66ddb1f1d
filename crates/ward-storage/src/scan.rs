//! Scanner and estate state (issues 6 and 7): members' authorised scan scopes with an audit of
//! every change, scan runs and their refusals, findings with their lifecycle (open, fixed,
//! risk-accepted until a date), members' assets, vulnerability records from KEV/NVD/OSV/CSAF,
//! the state of each vulnerability feed, and draft advisory requests.
//!
//! The store does not know the scanner's or the intelligence library's types: scope
//! specifications, evidence, assets and feed records are kept as the JSON those libraries
//! write, and the server validates them before they get here.

use serde::Serialize;
use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};
use ward_model::OdsCode;

use crate::store::Store;
use crate::StoreError;

/// A member's consent to be scanned, as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScanScopeRecord {
    pub id: String,
    pub org_code: String,
    /// The scanner's scope (CIDRs, host names, windows, checks, rate, who authorised it).
    pub spec: Value,
    /// `{"every_secs": N}` or `{"daily_at": "HH:MM"}` (UTC), plus optional `ports`.
    pub schedule: Option<Value>,
    pub next_run_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One change to a scope: who, when, what it was before and after.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScopeAuditEntry {
    pub id: i64,
    pub scope_id: String,
    pub org_code: String,
    pub at: i64,
    pub actor: String,
    /// `create`, `update` or `delete`.
    pub action: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScanRunRecord {
    pub id: i64,
    pub scope_id: String,
    pub org_code: String,
    /// `manual` or `schedule`.
    pub trigger: String,
    pub requested_by: String,
    pub request: Value,
    /// `queued`, `running`, `done`, `cancelled`, `refused`, `failed` or `interrupted`.
    pub status: String,
    pub progress: Option<Value>,
    pub summary: Option<Value>,
    pub error: Option<String>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScanRefusalRecord {
    pub id: i64,
    pub run_id: i64,
    pub scope_id: String,
    pub org_code: String,
    pub target: String,
    /// The scanner's stable refusal code, e.g. `SCAN-R005`.
    pub code: String,
    pub reason: String,
    pub at: i64,
}

/// A refusal to record.
pub struct NewRefusal {
    pub target: String,
    pub code: String,
    pub reason: String,
    pub at: i64,
}

/// What makes two findings the same across scans (the scanner's `FindingKey` without the
/// member, which the query already fixes). `port` is `None` for host-level findings.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct FindingIdentity {
    pub address: String,
    pub port: Option<u16>,
    pub check: String,
    pub subject: String,
}

/// A finding as a scan reports it.
#[derive(Debug, Clone)]
pub struct ObservedFinding {
    pub scope_id: String,
    pub host: String,
    pub identity: FindingIdentity,
    pub title: String,
    pub severity: String,
    pub evidence: Value,
    pub observed_at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FindingRecord {
    pub id: i64,
    pub org_code: String,
    pub scope_id: String,
    pub host: String,
    pub address: String,
    pub port: Option<u16>,
    pub check: String,
    pub subject: String,
    pub title: String,
    pub severity: String,
    pub evidence: Value,
    /// `open`, `fixed` or `risk_accepted`.
    pub status: String,
    pub first_seen: i64,
    pub last_seen: i64,
    pub fixed_at: Option<i64>,
    pub accepted_until: Option<i64>,
    pub accepted_by: Option<String>,
    pub last_run_id: Option<i64>,
    pub incident_id: Option<i64>,
}

/// Filters for [`Store::list_findings`]; `None` means any.
#[derive(Debug, Clone, Default)]
pub struct FindingFilter {
    pub org: Option<String>,
    pub status: Option<String>,
    pub severity: Option<String>,
    pub check: Option<String>,
    pub scope: Option<String>,
    pub limit: Option<i64>,
}

/// What a scan's findings did to the findings table.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AppliedFindings {
    /// Findings opened by this scan (new, or seen again after being fixed).
    pub opened: Vec<FindingRecord>,
    pub seen_again: usize,
    pub fixed: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AssetRecord {
    pub org_code: String,
    pub asset_id: String,
    /// The asset as `ward_intel::estate::Asset` JSON.
    pub body: Value,
    /// `api`, `csv` or `scan`.
    pub source: String,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AdvisoryDraftRecord {
    pub id: i64,
    pub cve: String,
    pub summary: String,
    /// ODS codes of exactly the exposed members.
    pub members: Vec<String>,
    pub detail: Value,
    /// `draft` until the advisories service takes it.
    pub status: String,
    pub created_at: i64,
}

fn json_col(r: &AnyRow, col: &str, table: &str) -> Result<Value, StoreError> {
    let text: String = r.try_get(col)?;
    serde_json::from_str(&text).map_err(|e| StoreError::Invalid(format!("{table}.{col}: {e}")))
}

fn opt_json_col(r: &AnyRow, col: &str, table: &str) -> Result<Option<Value>, StoreError> {
    let text: Option<String> = r.try_get(col)?;
    text.map(|t| {
        serde_json::from_str(&t).map_err(|e| StoreError::Invalid(format!("{table}.{col}: {e}")))
    })
    .transpose()
}

fn port_col(p: Option<u16>) -> i64 {
    p.map(i64::from).unwrap_or(-1)
}

fn port_from_col(p: i64) -> Option<u16> {
    u16::try_from(p).ok()
}

const SCOPE_COLS: &str = "id, org_code, spec, schedule, next_run_at, created_at, updated_at";
const RUN_COLS: &str = "id, scope_id, org_code, trigger_kind, requested_by, request, status, progress, summary, error, created_at, started_at, finished_at";
const FINDING_COLS: &str = "id, org_code, scope_id, host, address, port, check_id, subject, title, severity, evidence, status, first_seen, last_seen, fixed_at, accepted_until, accepted_by, last_run_id, incident_id";

fn scope_from_row(r: &AnyRow) -> Result<ScanScopeRecord, StoreError> {
    Ok(ScanScopeRecord {
        id: r.try_get("id")?,
        org_code: r.try_get("org_code")?,
        spec: json_col(r, "spec", "scan_scopes")?,
        schedule: opt_json_col(r, "schedule", "scan_scopes")?,
        next_run_at: r.try_get("next_run_at")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn run_from_row(r: &AnyRow) -> Result<ScanRunRecord, StoreError> {
    Ok(ScanRunRecord {
        id: r.try_get("id")?,
        scope_id: r.try_get("scope_id")?,
        org_code: r.try_get("org_code")?,
        trigger: r.try_get("trigger_kind")?,
        requested_by: r.try_get("requested_by")?,
        request: json_col(r, "request", "scan_runs")?,
        status: r.try_get("status")?,
        progress: opt_json_col(r, "progress", "scan_runs")?,
        summary: opt_json_col(r, "summary", "scan_runs")?,
        error: r.try_get("error")?,
        created_at: r.try_get("created_at")?,
        started_at: r.try_get("started_at")?,
        finished_at: r.try_get("finished_at")?,
    })
}

fn finding_from_row(r: &AnyRow) -> Result<FindingRecord, StoreError> {
    Ok(FindingRecord {
        id: r.try_get("id")?,
        org_code: r.try_get("org_code")?,
        scope_id: r.try_get("scope_id")?,
        host: r.try_get("host")?,
        address: r.try_get("address")?,
        port: port_from_col(r.try_get("port")?),
        check: r.try_get("check_id")?,
        subject: r.try_get("subject")?,
        title: r.try_get("title")?,
        severity: r.try_get("severity")?,
        evidence: json_col(r, "evidence", "scan_findings")?,
        status: r.try_get("status")?,
        first_seen: r.try_get("first_seen")?,
        last_seen: r.try_get("last_seen")?,
        fixed_at: r.try_get("fixed_at")?,
        accepted_until: r.try_get("accepted_until")?,
        accepted_by: r.try_get("accepted_by")?,
        last_run_id: r.try_get("last_run_id")?,
        incident_id: r.try_get("incident_id")?,
    })
}

fn scope_json(s: &ScanScopeRecord) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "null".into())
}

impl Store {
    // One row per change; the arguments are that row's columns.
    #[allow(clippy::too_many_arguments)]
    async fn audit_scope(
        tx: &mut Transaction<'static, Any>,
        scope_id: &str,
        org: &str,
        at: i64,
        actor: &str,
        action: &str,
        before: Option<&ScanScopeRecord>,
        after: Option<&ScanScopeRecord>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO scan_scope_audit (scope_id, org_code, at, actor, action, before_json, after_json) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(scope_id)
        .bind(org)
        .bind(at)
        .bind(actor)
        .bind(action)
        .bind(before.map(scope_json))
        .bind(after.map(scope_json))
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    // ---- scopes ----

    /// Registers a scope and audits its creation by `actor`.
    #[allow(clippy::too_many_arguments)]
    pub async fn create_scan_scope(
        &self,
        id: &str,
        org: &OdsCode,
        spec: &Value,
        schedule: Option<&Value>,
        next_run_at: Option<i64>,
        actor: &str,
        now: i64,
    ) -> Result<ScanScopeRecord, StoreError> {
        if self.get_org(org).await?.is_none() {
            return Err(StoreError::NotFound(format!("organisation {org}")));
        }
        let rec = ScanScopeRecord {
            id: id.to_string(),
            org_code: org.as_str().to_string(),
            spec: spec.clone(),
            schedule: schedule.cloned(),
            next_run_at,
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO scan_scopes (id, org_code, spec, schedule, next_run_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)",
        )
        .bind(id)
        .bind(org.as_str())
        .bind(spec.to_string())
        .bind(schedule.map(|s| s.to_string()))
        .bind(next_run_at)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::conflict_on_unique(e, format!("scan scope {id}")))?;
        Self::audit_scope(
            &mut tx,
            id,
            org.as_str(),
            now,
            actor,
            "create",
            None,
            Some(&rec),
        )
        .await?;
        tx.commit().await?;
        Ok(rec)
    }

    /// Replaces a scope's specification and schedule; the audit keeps both versions.
    pub async fn update_scan_scope(
        &self,
        id: &str,
        spec: &Value,
        schedule: Option<&Value>,
        next_run_at: Option<i64>,
        actor: &str,
        now: i64,
    ) -> Result<ScanScopeRecord, StoreError> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(&format!(
            "SELECT {SCOPE_COLS} FROM scan_scopes WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(before) = row.as_ref().map(scope_from_row).transpose()? else {
            return Err(StoreError::NotFound(format!("scan scope {id}")));
        };
        let after = ScanScopeRecord {
            spec: spec.clone(),
            schedule: schedule.cloned(),
            next_run_at,
            updated_at: now,
            ..before.clone()
        };
        sqlx::query(
            "UPDATE scan_scopes SET spec = $1, schedule = $2, next_run_at = $3, updated_at = $4 WHERE id = $5",
        )
        .bind(spec.to_string())
        .bind(schedule.map(|s| s.to_string()))
        .bind(next_run_at)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        Self::audit_scope(
            &mut tx,
            id,
            &before.org_code,
            now,
            actor,
            "update",
            Some(&before),
            Some(&after),
        )
        .await?;
        tx.commit().await?;
        Ok(after)
    }

    /// Withdraws a scope (consent ended); the audit keeps what it was.
    pub async fn delete_scan_scope(
        &self,
        id: &str,
        actor: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(&format!(
            "SELECT {SCOPE_COLS} FROM scan_scopes WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(before) = row.as_ref().map(scope_from_row).transpose()? else {
            return Err(StoreError::NotFound(format!("scan scope {id}")));
        };
        sqlx::query("DELETE FROM scan_scopes WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        Self::audit_scope(
            &mut tx,
            id,
            &before.org_code,
            now,
            actor,
            "delete",
            Some(&before),
            None,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn get_scan_scope(&self, id: &str) -> Result<Option<ScanScopeRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {SCOPE_COLS} FROM scan_scopes WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(scope_from_row).transpose()
    }

    /// Scopes of one organisation, or of all.
    pub async fn list_scan_scopes(
        &self,
        org: Option<&OdsCode>,
    ) -> Result<Vec<ScanScopeRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {SCOPE_COLS} FROM scan_scopes WHERE ($1 IS NULL OR org_code = $1) ORDER BY org_code, id"
        ))
        .bind(org.map(|c| c.as_str().to_string()))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(scope_from_row).collect()
    }

    /// Every change of a scope, oldest first (kept after the scope is deleted).
    pub async fn scan_scope_audit(&self, id: &str) -> Result<Vec<ScopeAuditEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, scope_id, org_code, at, actor, action, before_json, after_json FROM scan_scope_audit WHERE scope_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ScopeAuditEntry {
                    id: r.try_get("id")?,
                    scope_id: r.try_get("scope_id")?,
                    org_code: r.try_get("org_code")?,
                    at: r.try_get("at")?,
                    actor: r.try_get("actor")?,
                    action: r.try_get("action")?,
                    before: opt_json_col(r, "before_json", "scan_scope_audit")?,
                    after: opt_json_col(r, "after_json", "scan_scope_audit")?,
                })
            })
            .collect()
    }

    /// Scopes whose scheduled run is due at `now`.
    pub async fn due_scan_scopes(&self, now: i64) -> Result<Vec<ScanScopeRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {SCOPE_COLS} FROM scan_scopes WHERE next_run_at IS NOT NULL AND next_run_at <= $1 ORDER BY next_run_at"
        ))
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(scope_from_row).collect()
    }

    /// Moves a scope's next scheduled run (not a consent change, so not audited).
    pub async fn set_scope_next_run(&self, id: &str, next: Option<i64>) -> Result<(), StoreError> {
        sqlx::query("UPDATE scan_scopes SET next_run_at = $1 WHERE id = $2")
            .bind(next)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    // ---- runs ----

    pub async fn create_scan_run(
        &self,
        scope: &ScanScopeRecord,
        trigger: &str,
        requested_by: &str,
        request: &Value,
        now: i64,
    ) -> Result<ScanRunRecord, StoreError> {
        let row = sqlx::query(
            "INSERT INTO scan_runs (scope_id, org_code, trigger_kind, requested_by, request, status, created_at) VALUES ($1, $2, $3, $4, $5, 'queued', $6) RETURNING id",
        )
        .bind(&scope.id)
        .bind(&scope.org_code)
        .bind(trigger)
        .bind(requested_by)
        .bind(request.to_string())
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        Ok(ScanRunRecord {
            id: row.try_get("id")?,
            scope_id: scope.id.clone(),
            org_code: scope.org_code.clone(),
            trigger: trigger.into(),
            requested_by: requested_by.into(),
            request: request.clone(),
            status: "queued".into(),
            progress: None,
            summary: None,
            error: None,
            created_at: now,
            started_at: None,
            finished_at: None,
        })
    }

    pub async fn mark_scan_run_running(&self, id: i64, at: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE scan_runs SET status = 'running', started_at = $1 WHERE id = $2 AND status = 'queued'")
            .bind(at)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn set_scan_run_progress(&self, id: i64, progress: &Value) -> Result<(), StoreError> {
        sqlx::query("UPDATE scan_runs SET progress = $1 WHERE id = $2")
            .bind(progress.to_string())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records how a run ended.
    pub async fn finish_scan_run(
        &self,
        id: i64,
        status: &str,
        at: i64,
        progress: Option<&Value>,
        summary: Option<&Value>,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE scan_runs SET status = $1, finished_at = $2, progress = COALESCE($3, progress), summary = $4, error = $5 WHERE id = $6",
        )
        .bind(status)
        .bind(at)
        .bind(progress.map(|p| p.to_string()))
        .bind(summary.map(|s| s.to_string()))
        .bind(error.map(str::to_string))
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Runs a previous process left queued or running are marked `interrupted` at start.
    pub async fn interrupt_unfinished_scan_runs(&self, at: i64) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE scan_runs SET status = 'interrupted', finished_at = $1 WHERE status IN ('queued', 'running')",
        )
        .bind(at)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    pub async fn get_scan_run(&self, id: i64) -> Result<Option<ScanRunRecord>, StoreError> {
        let row = sqlx::query(&format!("SELECT {RUN_COLS} FROM scan_runs WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(run_from_row).transpose()
    }

    /// Runs, newest first.
    pub async fn list_scan_runs(
        &self,
        org: Option<&OdsCode>,
        scope: Option<&str>,
        limit: i64,
    ) -> Result<Vec<ScanRunRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {RUN_COLS} FROM scan_runs WHERE ($1 IS NULL OR org_code = $1) AND ($2 IS NULL OR scope_id = $2) ORDER BY id DESC LIMIT $3"
        ))
        .bind(org.map(|c| c.as_str().to_string()))
        .bind(scope.map(str::to_string))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(run_from_row).collect()
    }

    pub async fn record_scan_refusals(
        &self,
        run: &ScanRunRecord,
        refusals: &[NewRefusal],
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        for r in refusals {
            sqlx::query(
                "INSERT INTO scan_refusals (run_id, scope_id, org_code, target, code, reason, at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(run.id)
            .bind(&run.scope_id)
            .bind(&run.org_code)
            .bind(&r.target)
            .bind(&r.code)
            .bind(&r.reason)
            .bind(r.at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn list_scan_refusals(
        &self,
        run_id: i64,
    ) -> Result<Vec<ScanRefusalRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, run_id, scope_id, org_code, target, code, reason, at FROM scan_refusals WHERE run_id = $1 ORDER BY id",
        )
        .bind(run_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ScanRefusalRecord {
                    id: r.try_get("id")?,
                    run_id: r.try_get("run_id")?,
                    scope_id: r.try_get("scope_id")?,
                    org_code: r.try_get("org_code")?,
                    target: r.try_get("target")?,
                    code: r.try_get("code")?,
                    reason: r.try_get("reason")?,
                    at: r.try_get("at")?,
                })
            })
            .collect()
    }

    // ---- findings ----

    /// Identities of an organisation's findings that are not fixed (open or risk-accepted):
    /// what a new scan is reconciled against.
    pub async fn unfixed_finding_identities(
        &self,
        org: &str,
    ) -> Result<Vec<FindingIdentity>, StoreError> {
        let rows = sqlx::query(
            "SELECT address, port, check_id, subject FROM scan_findings WHERE org_code = $1 AND status <> 'fixed' ORDER BY id",
        )
        .bind(org)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(FindingIdentity {
                    address: r.try_get("address")?,
                    port: port_from_col(r.try_get("port")?),
                    check: r.try_get("check_id")?,
                    subject: r.try_get("subject")?,
                })
            })
            .collect()
    }

    /// Applies one scan's reconciliation in one transaction: `new` findings are opened (a
    /// fixed one seen again is reopened), `seen_again` ones get a new last-seen and evidence,
    /// `closed` ones become `fixed`. Risk acceptances past their expiry become open again.
    pub async fn apply_scan_findings(
        &self,
        org: &str,
        run_id: i64,
        now: i64,
        new: &[ObservedFinding],
        seen_again: &[ObservedFinding],
        closed: &[FindingIdentity],
    ) -> Result<AppliedFindings, StoreError> {
        let mut tx = self.begin_write().await?;
        let mut out = AppliedFindings::default();
        for f in new {
            let row = sqlx::query(&format!(
                "INSERT INTO scan_findings (org_code, scope_id, host, address, port, check_id, subject, title, severity, evidence, status, first_seen, last_seen, last_run_id)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'open', $11, $11, $12)
                 ON CONFLICT (org_code, address, port, check_id, subject) DO UPDATE SET
                   status = 'open', scope_id = excluded.scope_id, host = excluded.host, title = excluded.title,
                   severity = excluded.severity, evidence = excluded.evidence, first_seen = excluded.first_seen,
                   last_seen = excluded.last_seen, last_run_id = excluded.last_run_id, fixed_at = NULL,
                   accepted_until = NULL, accepted_by = NULL, incident_id = NULL
                 RETURNING {FINDING_COLS}"
            ))
            .bind(org)
            .bind(&f.scope_id)
            .bind(&f.host)
            .bind(&f.identity.address)
            .bind(port_col(f.identity.port))
            .bind(&f.identity.check)
            .bind(&f.identity.subject)
            .bind(&f.title)
            .bind(&f.severity)
            .bind(f.evidence.to_string())
            .bind(f.observed_at)
            .bind(run_id)
            .fetch_one(&mut *tx)
            .await?;
            out.opened.push(finding_from_row(&row)?);
        }
        for f in seen_again {
            let done = sqlx::query(
                "UPDATE scan_findings SET last_seen = $1, evidence = $2, title = $3, severity = $4, host = $5, last_run_id = $6,
                   status = CASE WHEN status = 'risk_accepted' AND accepted_until IS NOT NULL AND accepted_until < $1 THEN 'open' ELSE status END
                 WHERE org_code = $7 AND address = $8 AND port = $9 AND check_id = $10 AND subject = $11",
            )
            .bind(f.observed_at)
            .bind(f.evidence.to_string())
            .bind(&f.title)
            .bind(&f.severity)
            .bind(&f.host)
            .bind(run_id)
            .bind(org)
            .bind(&f.identity.address)
            .bind(port_col(f.identity.port))
            .bind(&f.identity.check)
            .bind(&f.identity.subject)
            .execute(&mut *tx)
            .await?;
            out.seen_again += done.rows_affected() as usize;
        }
        for k in closed {
            let done = sqlx::query(
                "UPDATE scan_findings SET status = 'fixed', fixed_at = $1, last_run_id = $2
                 WHERE org_code = $3 AND address = $4 AND port = $5 AND check_id = $6 AND subject = $7 AND status <> 'fixed'",
            )
            .bind(now)
            .bind(run_id)
            .bind(org)
            .bind(&k.address)
            .bind(port_col(k.port))
            .bind(&k.check)
            .bind(&k.subject)
            .execute(&mut *tx)
            .await?;
            out.fixed += done.rows_affected() as usize;
        }
        tx.commit().await?;
        Ok(out)
    }

    /// Links a finding to the incident it opened.
    pub async fn set_finding_incident(&self, id: i64, incident_id: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE scan_findings SET incident_id = $1 WHERE id = $2")
            .bind(incident_id)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Accepts a finding's risk until `until` (epoch ms) or reopens it (`status = open`).
    pub async fn set_finding_status(
        &self,
        id: i64,
        status: &str,
        accepted_until: Option<i64>,
        actor: &str,
    ) -> Result<FindingRecord, StoreError> {
        match status {
            "risk_accepted" if accepted_until.is_none() => {
                return Err(StoreError::Invalid(
                    "accepting a finding's risk needs an expiry (accepted_until)".into(),
                ))
            }
            "risk_accepted" | "open" => {}
            other => {
                return Err(StoreError::Invalid(format!(
                    "finding status {other:?}: expected risk_accepted or open (fixed is decided by a re-scan)"
                )))
            }
        }
        let (until, by) = if status == "risk_accepted" {
            (accepted_until, Some(actor.to_string()))
        } else {
            (None, None)
        };
        let done = sqlx::query(
            "UPDATE scan_findings SET status = $1, accepted_until = $2, accepted_by = $3 WHERE id = $4 AND status <> 'fixed'",
        )
        .bind(status)
        .bind(until)
        .bind(by)
        .bind(id)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("unfixed finding {id}")));
        }
        self.get_finding(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("finding {id}")))
    }

    /// Risk acceptances whose expiry has passed become open again.
    pub async fn expire_risk_acceptances(&self, now: i64) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE scan_findings SET status = 'open' WHERE status = 'risk_accepted' AND accepted_until < $1",
        )
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    pub async fn get_finding(&self, id: i64) -> Result<Option<FindingRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {FINDING_COLS} FROM scan_findings WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(finding_from_row).transpose()
    }

    /// Findings matching `f`, most severe and most recent first.
    pub async fn list_findings(&self, f: &FindingFilter) -> Result<Vec<FindingRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {FINDING_COLS} FROM scan_findings
             WHERE ($1 IS NULL OR org_code = $1) AND ($2 IS NULL OR status = $2) AND ($3 IS NULL OR severity = $3)
               AND ($4 IS NULL OR check_id = $4) AND ($5 IS NULL OR scope_id = $5)
             ORDER BY CASE severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 WHEN 'low' THEN 3 ELSE 4 END,
                      last_seen DESC, id
             LIMIT $6"
        ))
        .bind(f.org.clone())
        .bind(f.status.clone())
        .bind(f.severity.clone())
        .bind(f.check.clone())
        .bind(f.scope.clone())
        .bind(f.limit.unwrap_or(10_000))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(finding_from_row).collect()
    }

    // ---- estate ----

    /// Adds or replaces an asset (identified by organisation and asset id).
    pub async fn upsert_asset(
        &self,
        org: &str,
        asset_id: &str,
        body: &Value,
        source: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO assets (org_code, asset_id, body, source, updated_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (org_code, asset_id) DO UPDATE SET body = excluded.body, source = excluded.source, updated_at = excluded.updated_at",
        )
        .bind(org)
        .bind(asset_id)
        .bind(body.to_string())
        .bind(source)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                StoreError::NotFound(format!("organisation {org}"))
            }
            _ => StoreError::Database(e),
        })?;
        Ok(())
    }

    /// Assets of one organisation, or of all.
    pub async fn list_assets(&self, org: Option<&str>) -> Result<Vec<AssetRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT org_code, asset_id, body, source, updated_at FROM assets WHERE ($1 IS NULL OR org_code = $1) ORDER BY org_code, asset_id",
        )
        .bind(org.map(str::to_string))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AssetRecord {
                    org_code: r.try_get("org_code")?,
                    asset_id: r.try_get("asset_id")?,
                    body: json_col(r, "body", "assets")?,
                    source: r.try_get("source")?,
                    updated_at: r.try_get("updated_at")?,
                })
            })
            .collect()
    }

    pub async fn delete_asset(&self, org: &str, asset_id: &str) -> Result<(), StoreError> {
        let done = sqlx::query("DELETE FROM assets WHERE org_code = $1 AND asset_id = $2")
            .bind(org)
            .bind(asset_id)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("asset {org}/{asset_id}")));
        }
        Ok(())
    }

    // ---- vulnerability records and feeds ----

    /// Stores `(record id, JSON)` pairs of one source (`kev`, `nvd`, `osv`, `csaf`);
    /// returns (added, updated).
    pub async fn put_vuln_records(
        &self,
        source: &str,
        records: &[(String, String)],
        now: i64,
    ) -> Result<(u64, u64), StoreError> {
        let mut tx = self.begin_write().await?;
        let (mut added, mut updated) = (0, 0);
        for (id, body) in records {
            let existed =
                sqlx::query("SELECT body FROM vuln_records WHERE source = $1 AND record_id = $2")
                    .bind(source)
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
            match existed {
                Some(r) => {
                    let old: String = r.try_get("body")?;
                    if &old != body {
                        sqlx::query("UPDATE vuln_records SET body = $1, updated_at = $2 WHERE source = $3 AND record_id = $4")
                            .bind(body)
                            .bind(now)
                            .bind(source)
                            .bind(id)
                            .execute(&mut *tx)
                            .await?;
                        updated += 1;
                    }
                }
                None => {
                    sqlx::query("INSERT INTO vuln_records (source, record_id, body, updated_at) VALUES ($1, $2, $3, $4)")
                        .bind(source)
                        .bind(id)
                        .bind(body)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    added += 1;
                }
            }
        }
        tx.commit().await?;
        Ok((added, updated))
    }

    /// Every stored record as (source, id, JSON text).
    pub async fn all_vuln_records(&self) -> Result<Vec<(String, String, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT source, record_id, body FROM vuln_records ORDER BY source, record_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("source")?,
                    r.try_get("record_id")?,
                    r.try_get("body")?,
                ))
            })
            .collect()
    }

    pub async fn get_vuln_record(
        &self,
        source: &str,
        id: &str,
    ) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT body FROM vuln_records WHERE source = $1 AND record_id = $2")
            .bind(source)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("body")).transpose()?)
    }

    pub async fn put_feed_state(
        &self,
        feed: &str,
        state: &Value,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO vuln_feeds (feed, state, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (feed) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
        )
        .bind(feed)
        .bind(state.to_string())
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn feed_states(&self) -> Result<Vec<(String, Value)>, StoreError> {
        let rows = sqlx::query("SELECT feed, state FROM vuln_feeds ORDER BY feed")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("feed")?, json_col(r, "state", "vuln_feeds")?)))
            .collect()
    }

    // ---- draft advisory requests ----

    /// Records a draft advisory request for `cve`; `None` when one already exists (a KEV
    /// entry produces one draft, however often the catalogue is pulled).
    pub async fn insert_advisory_draft(
        &self,
        cve: &str,
        summary: &str,
        members: &[String],
        detail: &Value,
        now: i64,
    ) -> Result<Option<AdvisoryDraftRecord>, StoreError> {
        let members_json = serde_json::to_string(members).unwrap_or_else(|_| "[]".into());
        let row = sqlx::query(
            "INSERT INTO advisory_drafts (cve, summary, members, detail, status, created_at) VALUES ($1, $2, $3, $4, 'draft', $5)
             ON CONFLICT (cve) DO NOTHING RETURNING id",
        )
        .bind(cve)
        .bind(summary)
        .bind(members_json)
        .bind(detail.to_string())
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(AdvisoryDraftRecord {
                id: r.try_get("id")?,
                cve: cve.into(),
                summary: summary.into(),
                members: members.to_vec(),
                detail: detail.clone(),
                status: "draft".into(),
                created_at: now,
            })
        })
        .transpose()
    }

    pub async fn list_advisory_drafts(&self) -> Result<Vec<AdvisoryDraftRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, cve, summary, members, detail, status, created_at FROM advisory_drafts ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AdvisoryDraftRecord {
                    id: r.try_get("id")?,
                    cve: r.try_get("cve")?,
                    summary: r.try_get("summary")?,
                    members: serde_json::from_value(json_col(r, "members", "advisory_drafts")?)
                        .unwrap_or_default(),
                    detail: json_col(r, "detail", "advisory_drafts")?,
                    status: r.try_get("status")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }
}
