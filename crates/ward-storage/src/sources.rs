//! Members' log sources (what identifies a syslog sender as an organisation) and each member's
//! event retention.
//!
//! The store keeps the values as given after trimming; the server checks their shape (a CIDR
//! parses, a fingerprint is 64 hex digits) before it calls [`Store::add_log_source`].

use sqlx::any::AnyRow;
use sqlx::Row;
use ward_model::clock::now_ms;
use ward_model::OdsCode;

use crate::store::parse_ods;
use crate::{Store, StoreError};

/// What a log source registration matches on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// SHA-256 fingerprint of the DER client certificate, lower-case hex without colons.
    CertFingerprint,
    /// Subject common name of a client certificate issued by the configured client CA.
    CertCn,
    /// A source network in CIDR notation, for devices that cannot present a certificate.
    Network,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::CertFingerprint => "cert_fingerprint",
            SourceKind::CertCn => "cert_cn",
            SourceKind::Network => "network",
        }
    }
}

impl std::str::FromStr for SourceKind {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<SourceKind, StoreError> {
        match s {
            "cert_fingerprint" => Ok(SourceKind::CertFingerprint),
            "cert_cn" => Ok(SourceKind::CertCn),
            "network" => Ok(SourceKind::Network),
            other => Err(StoreError::Invalid(format!(
                "log source kind {other:?} (expected cert_fingerprint, cert_cn or network)"
            ))),
        }
    }
}

/// One registered log source of a member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSource {
    pub id: i64,
    pub org_code: OdsCode,
    pub kind: SourceKind,
    pub value: String,
    pub label: String,
    pub created_at: i64,
}

fn source_from_row(row: &AnyRow) -> Result<LogSource, StoreError> {
    Ok(LogSource {
        id: row.try_get("id")?,
        org_code: parse_ods(row.try_get("org_code")?)?,
        kind: row.try_get::<String, _>("kind")?.parse()?,
        value: row.try_get("value")?,
        label: row.try_get("label")?,
        created_at: row.try_get("created_at")?,
    })
}

const SOURCE_COLUMNS: &str = "id, org_code, kind, value, label, created_at";

impl Store {
    /// Registers a log source. The same identity cannot belong to two members (Conflict).
    pub async fn add_log_source(
        &self,
        org: &OdsCode,
        kind: SourceKind,
        value: &str,
        label: &str,
    ) -> Result<LogSource, StoreError> {
        if self.get_org(org).await?.is_none() {
            return Err(StoreError::NotFound(format!("organisation {org}")));
        }
        let value = value.trim();
        if value.is_empty() {
            return Err(StoreError::Invalid("log source value is empty".into()));
        }
        let now = now_ms();
        let row = sqlx::query(
            "INSERT INTO log_sources (org_code, kind, value, label, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(org.as_str())
        .bind(kind.as_str())
        .bind(value)
        .bind(label)
        .bind(now)
        .fetch_one(&self.pool)
        .await
        .map_err(|e| {
            StoreError::conflict_on_unique(e, format!("log source {} {value}", kind.as_str()))
        })?;
        Ok(LogSource {
            id: row.try_get("id")?,
            org_code: org.clone(),
            kind,
            value: value.to_string(),
            label: label.to_string(),
            created_at: now,
        })
    }

    /// Sources of one member, or of every member when `org` is none, oldest first.
    pub async fn list_log_sources(
        &self,
        org: Option<&OdsCode>,
    ) -> Result<Vec<LogSource>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {SOURCE_COLUMNS} FROM log_sources WHERE ($1 IS NULL OR org_code = $1) ORDER BY id"
        ))
        .bind(org.map(|c| c.as_str().to_string()))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(source_from_row).collect()
    }

    pub async fn get_log_source(&self, id: i64) -> Result<Option<LogSource>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {SOURCE_COLUMNS} FROM log_sources WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(source_from_row).transpose()
    }

    pub async fn delete_log_source(&self, id: i64) -> Result<(), StoreError> {
        let done = sqlx::query("DELETE FROM log_sources WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("log source {id}")));
        }
        Ok(())
    }

    /// Changes whenever a source is added or removed: (count, highest id). Ids are never
    /// reused, so a removal followed by an addition still changes it.
    pub async fn log_sources_version(&self) -> Result<(i64, i64), StoreError> {
        let r = sqlx::query("SELECT COUNT(*) AS n, COALESCE(MAX(id), 0) AS m FROM log_sources")
            .fetch_one(&self.pool)
            .await?;
        Ok((r.try_get("n")?, r.try_get("m")?))
    }

    // ---- retention ----

    /// Sets how many days `org`'s events are kept; `None` returns it to the federation default.
    pub async fn set_retention_days(
        &self,
        org: &OdsCode,
        days: Option<u32>,
    ) -> Result<(), StoreError> {
        if self.get_org(org).await?.is_none() {
            return Err(StoreError::NotFound(format!("organisation {org}")));
        }
        match days {
            Some(0) => Err(StoreError::Invalid(
                "retention_days must be at least 1".into(),
            )),
            Some(d) => {
                sqlx::query(
                    "INSERT INTO org_retention (org_code, retention_days, updated_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (org_code) DO UPDATE SET retention_days = excluded.retention_days, updated_at = excluded.updated_at",
                )
                .bind(org.as_str())
                .bind(i64::from(d))
                .bind(now_ms())
                .execute(&self.pool)
                .await?;
                Ok(())
            }
            None => {
                sqlx::query("DELETE FROM org_retention WHERE org_code = $1")
                    .bind(org.as_str())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }
        }
    }

    /// The member's own retention in days, or `None` when the federation default applies.
    pub async fn retention_days(&self, org: &OdsCode) -> Result<Option<u32>, StoreError> {
        let row = sqlx::query("SELECT retention_days FROM org_retention WHERE org_code = $1")
            .bind(org.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| days(r.try_get("retention_days")?)).transpose()
    }

    /// Every member with its own retention, for whatever stores events by organisation and time.
    pub async fn list_retention(&self) -> Result<Vec<(OdsCode, u32)>, StoreError> {
        let rows =
            sqlx::query("SELECT org_code, retention_days FROM org_retention ORDER BY org_code")
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    parse_ods(r.try_get("org_code")?)?,
                    days(r.try_get("retention_days")?)?,
                ))
            })
            .collect()
    }
}

fn days(v: i64) -> Result<u32, StoreError> {
    u32::try_from(v).map_err(|_| StoreError::Invalid(format!("retention_days {v}")))
}
