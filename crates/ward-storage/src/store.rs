use std::collections::HashMap;
use std::str::FromStr;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};
use ward_model::clock::now_ms;
use ward_model::records::{
    ApiKey, Contact, Detection, Incident, IncidentScope, MetaFilter, Notification,
    NotificationAttempt, Organisation, TimelineEntry, User,
};
use ward_model::{OdsCode, OrgKind, Role};

use crate::secrets::{hash_token, new_api_key_secret, new_user_token};
use crate::tx::DetectionTx;
use crate::StoreError;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// A handle on the state store. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    pub(crate) pool: AnyPool,
    pub(crate) backend: Backend,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    Sqlite,
    Postgres,
}

pub struct NewContact {
    pub name: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub role: String,
}

/// The result of one delivery attempt, as the dispatcher records it.
pub struct OutboxUpdate {
    pub outbox_id: i64,
    pub attempted_at: i64,
    pub duration_ms: i64,
    /// `accepted`, `retryable` or `permanent`.
    pub outcome: String,
    pub http_status: Option<i64>,
    pub detail: String,
    pub provider_id: Option<String>,
    /// The row's new status: `sent`, `pending` (try again at `next_attempt_at`) or `failed`.
    pub new_status: String,
    pub next_attempt_at: i64,
}

pub(crate) fn parse_ods(s: String) -> Result<OdsCode, StoreError> {
    s.parse()
        .map_err(|e: ward_model::InvalidOdsCode| StoreError::Invalid(e.to_string()))
}

pub(crate) fn parse_named<T: FromStr<Err = ward_model::UnknownName>>(
    s: &str,
) -> Result<T, StoreError> {
    s.parse()
        .map_err(|e: ward_model::UnknownName| StoreError::Invalid(e.to_string()))
}

impl Store {
    /// Connects and migrates. `sqlite::memory:` works for tests (with one connection).
    pub async fn connect(url: &str, max_connections: u32) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::UnsupportedUrl(url.to_string()));
        };
        let opts = AnyConnectOptions::from_str(url)?;
        let max = if url.contains(":memory:") {
            1
        } else {
            max_connections.max(1)
        };
        let pool = AnyPoolOptions::new()
            .max_connections(max)
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets the API read while detection writes; busy_timeout turns
                        // writer contention into a short wait instead of an error.
                        for pragma in [
                            "PRAGMA journal_mode = WAL",
                            "PRAGMA synchronous = NORMAL",
                            "PRAGMA busy_timeout = 10000",
                            "PRAGMA foreign_keys = ON",
                        ] {
                            sqlx::query(pragma).execute(&mut *conn).await?;
                        }
                    }
                    Ok(())
                })
            })
            .connect_with(opts)
            .await?;
        match backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&pool).await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&pool).await?,
        }
        Ok(Store { pool, backend })
    }

    /// A write transaction; on SQLite it takes the write lock up front so a read-then-write
    /// waits for other writers instead of failing with SQLITE_BUSY halfway.
    pub(crate) async fn begin_write(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub async fn begin_detection_tx(&self) -> Result<DetectionTx<'static>, StoreError> {
        let tx = match self.backend {
            // The transaction reads before it writes; a deferred SQLite transaction would then
            // fail with SQLITE_BUSY instead of waiting if another writer got in between.
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        Ok(DetectionTx::new(tx))
    }

    // ---- organisations ----

    pub async fn create_org(
        &self,
        code: &OdsCode,
        name: &str,
        kind: OrgKind,
        region: &str,
    ) -> Result<Organisation, StoreError> {
        let now = now_ms();
        sqlx::query(
            "INSERT INTO organisations (ods_code, name, kind, region, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(code.as_str())
        .bind(name)
        .bind(kind.as_str())
        .bind(region)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::conflict_on_unique(e, format!("organisation {code}")))?;
        Ok(Organisation {
            ods_code: code.clone(),
            name: name.into(),
            kind,
            region: region.into(),
            created_at: now,
        })
    }

    fn org_from_row(row: &AnyRow) -> Result<Organisation, StoreError> {
        Ok(Organisation {
            ods_code: parse_ods(row.try_get("ods_code")?)?,
            name: row.try_get("name")?,
            kind: parse_named(&row.try_get::<String, _>("kind")?)?,
            region: row.try_get("region")?,
            created_at: row.try_get("created_at")?,
        })
    }

    pub async fn list_orgs(&self) -> Result<Vec<Organisation>, StoreError> {
        let rows = sqlx::query(
            "SELECT ods_code, name, kind, region, created_at FROM organisations ORDER BY region, ods_code",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Self::org_from_row).collect()
    }

    pub async fn get_org(&self, code: &OdsCode) -> Result<Option<Organisation>, StoreError> {
        let row = sqlx::query(
            "SELECT ods_code, name, kind, region, created_at FROM organisations WHERE ods_code = $1",
        )
        .bind(code.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(Self::org_from_row).transpose()
    }

    async fn require_org(&self, code: &OdsCode) -> Result<(), StoreError> {
        match self.get_org(code).await? {
            Some(_) => Ok(()),
            None => Err(StoreError::NotFound(format!("organisation {code}"))),
        }
    }

    // ---- users ----

    /// Creates a user and returns it with its personal token (shown once).
    pub async fn create_user(
        &self,
        name: &str,
        email: &str,
        role: Role,
        org: Option<&OdsCode>,
    ) -> Result<(User, String), StoreError> {
        if role.is_central() != org.is_none() {
            return Err(StoreError::Invalid(
                "central analysts have no organisation; leads and viewers need one".into(),
            ));
        }
        if let Some(code) = org {
            self.require_org(code).await?;
        }
        let token = new_user_token();
        let now = now_ms();
        let row = sqlx::query(
            "INSERT INTO users (name, email, role, org_code, token_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(name)
        .bind(email)
        .bind(role.as_str())
        .bind(org.map(|c| c.as_str().to_string()))
        .bind(hash_token(&token))
        .bind(now)
        .fetch_one(&self.pool)
        .await
        .map_err(|e| StoreError::conflict_on_unique(e, format!("user {email}")))?;
        let user = User {
            id: row.try_get("id")?,
            name: name.into(),
            email: email.into(),
            role,
            org_code: org.cloned(),
            created_at: now,
        };
        Ok((user, token))
    }

    fn user_from_row(row: &AnyRow) -> Result<User, StoreError> {
        Ok(User {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            email: row.try_get("email")?,
            role: parse_named(&row.try_get::<String, _>("role")?)?,
            org_code: row
                .try_get::<Option<String>, _>("org_code")?
                .map(parse_ods)
                .transpose()?,
            created_at: row.try_get("created_at")?,
        })
    }

    pub async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, name, email, role, org_code, created_at FROM users ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Self::user_from_row).collect()
    }

    pub async fn count_users(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query("SELECT COUNT(*) AS n FROM users")
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?)
    }

    pub async fn authenticate_user(&self, token: &str) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(
            "SELECT id, name, email, role, org_code, created_at FROM users WHERE token_hash = $1",
        )
        .bind(hash_token(token))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(Self::user_from_row).transpose()
    }

    // ---- API keys ----

    /// Creates a key for `org`; returns the listing and the secret (shown once, never stored).
    pub async fn create_api_key(
        &self,
        org: &OdsCode,
        label: &str,
    ) -> Result<(ApiKey, String), StoreError> {
        self.require_org(org).await?;
        let (id, secret) = new_api_key_secret();
        let now = now_ms();
        sqlx::query(
            "INSERT INTO api_keys (id, org_code, label, token_hash, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&id)
        .bind(org.as_str())
        .bind(label)
        .bind(hash_token(&secret))
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok((
            ApiKey {
                id,
                org_code: org.clone(),
                label: label.into(),
                created_at: now,
                revoked_at: None,
            },
            secret,
        ))
    }

    /// Returns the key's organisation and id when `secret` is a live key.
    pub async fn authenticate_key(
        &self,
        secret: &str,
    ) -> Result<Option<(OdsCode, String)>, StoreError> {
        let row = sqlx::query(
            "SELECT id, org_code FROM api_keys WHERE token_hash = $1 AND revoked_at IS NULL",
        )
        .bind(hash_token(secret))
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(r) => Ok(Some((parse_ods(r.try_get("org_code")?)?, r.try_get("id")?))),
            None => Ok(None),
        }
    }

    pub async fn get_api_key(&self, id: &str) -> Result<Option<ApiKey>, StoreError> {
        let row = sqlx::query(
            "SELECT id, org_code, label, created_at, revoked_at FROM api_keys WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(Self::key_from_row).transpose()
    }

    fn key_from_row(r: &AnyRow) -> Result<ApiKey, StoreError> {
        Ok(ApiKey {
            id: r.try_get("id")?,
            org_code: parse_ods(r.try_get("org_code")?)?,
            label: r.try_get("label")?,
            created_at: r.try_get("created_at")?,
            revoked_at: r.try_get("revoked_at")?,
        })
    }

    pub async fn list_api_keys(&self, org: &OdsCode) -> Result<Vec<ApiKey>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, org_code, label, created_at, revoked_at FROM api_keys WHERE org_code = $1 ORDER BY created_at",
        )
        .bind(org.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Self::key_from_row).collect()
    }

    /// Revokes a key. Revoking twice is not an error; an unknown id is.
    pub async fn revoke_api_key(&self, id: &str) -> Result<ApiKey, StoreError> {
        sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now_ms())
            .bind(id)
            .execute(&self.pool)
            .await?;
        self.get_api_key(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("API key {id}")))
    }

    // ---- contacts ----

    pub async fn add_contact(&self, org: &OdsCode, c: NewContact) -> Result<Contact, StoreError> {
        self.require_org(org).await?;
        if c.phone.is_none() && c.email.is_none() {
            return Err(StoreError::Invalid(
                "a contact needs a phone number or an e-mail address".into(),
            ));
        }
        let now = now_ms();
        let row = sqlx::query(
            "INSERT INTO contacts (org_code, name, phone, email, role, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(org.as_str())
        .bind(&c.name)
        .bind(c.phone.clone())
        .bind(c.email.clone())
        .bind(&c.role)
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        Ok(Contact {
            id: row.try_get("id")?,
            org_code: org.clone(),
            name: c.name,
            phone: c.phone,
            email: c.email,
            role: c.role,
            created_at: now,
        })
    }

    pub(crate) fn contact_from_row(r: &AnyRow) -> Result<Contact, StoreError> {
        Ok(Contact {
            id: r.try_get("id")?,
            org_code: parse_ods(r.try_get("org_code")?)?,
            name: r.try_get("name")?,
            phone: r.try_get("phone")?,
            email: r.try_get("email")?,
            role: r.try_get("role")?,
            created_at: r.try_get("created_at")?,
        })
    }

    pub async fn list_contacts(&self, org: &OdsCode) -> Result<Vec<Contact>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, org_code, name, phone, email, role, created_at FROM contacts WHERE org_code = $1 ORDER BY id",
        )
        .bind(org.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Self::contact_from_row).collect()
    }

    pub async fn get_contact(&self, id: i64) -> Result<Option<Contact>, StoreError> {
        let row = sqlx::query(
            "SELECT id, org_code, name, phone, email, role, created_at FROM contacts WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(Self::contact_from_row).transpose()
    }

    pub async fn delete_contact(&self, id: i64) -> Result<(), StoreError> {
        let done = sqlx::query("DELETE FROM contacts WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("contact {id}")));
        }
        Ok(())
    }

    // ---- meta filters ----

    pub async fn add_filter(
        &self,
        org: &OdsCode,
        name: &str,
        yaml: &str,
    ) -> Result<MetaFilter, StoreError> {
        self.require_org(org).await?;
        let now = now_ms();
        let row = sqlx::query(
            "INSERT INTO meta_filters (org_code, name, yaml, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(org.as_str())
        .bind(name)
        .bind(yaml)
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        Ok(MetaFilter {
            id: row.try_get("id")?,
            org_code: org.clone(),
            name: name.into(),
            yaml: yaml.into(),
            created_at: now,
        })
    }

    /// Filters of one organisation, or of all when `org` is none.
    pub async fn list_filters(&self, org: Option<&OdsCode>) -> Result<Vec<MetaFilter>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, org_code, name, yaml, created_at FROM meta_filters WHERE ($1 IS NULL OR org_code = $1) ORDER BY id",
        )
        .bind(org.map(|c| c.as_str().to_string()))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(filter_from_row).collect()
    }

    pub async fn get_filter(&self, id: i64) -> Result<Option<MetaFilter>, StoreError> {
        let row = sqlx::query(
            "SELECT id, org_code, name, yaml, created_at FROM meta_filters WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(filter_from_row).transpose()
    }

    pub async fn delete_filter(&self, id: i64) -> Result<(), StoreError> {
        let done = sqlx::query("DELETE FROM meta_filters WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("filter {id}")));
        }
        Ok(())
    }

    /// Changes whenever a filter is added or removed: (count, highest id).
    pub async fn filters_version(&self) -> Result<(i64, i64), StoreError> {
        let r = sqlx::query("SELECT COUNT(*) AS n, COALESCE(MAX(id), 0) AS m FROM meta_filters")
            .fetch_one(&self.pool)
            .await?;
        Ok((r.try_get("n")?, r.try_get("m")?))
    }

    // ---- detections and incidents ----

    pub async fn consumer_offset(&self, consumer: &str) -> Result<u64, StoreError> {
        let row = sqlx::query("SELECT next_offset FROM consumer_offsets WHERE consumer = $1")
            .bind(consumer)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(r) => r.try_get::<i64, _>("next_offset")?.max(0) as u64,
            None => 0,
        })
    }

    /// Saves a consumer's state on its own (for consumers without an offset in the log).
    pub async fn set_consumer_state(&self, consumer: &str, state: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO consumer_state (consumer, state, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (consumer) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
        )
        .bind(consumer)
        .bind(state)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Contacts with this phone number (E.164).
    pub async fn contacts_by_phone(&self, phone: &str) -> Result<Vec<Contact>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, org_code, name, phone, email, role, created_at FROM contacts WHERE phone = $1 ORDER BY id",
        )
        .bind(phone)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Self::contact_from_row).collect()
    }

    /// The state a consumer committed with its last offset, if any.
    pub async fn consumer_state(&self, consumer: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT state FROM consumer_state WHERE consumer = $1")
            .bind(consumer)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("state")).transpose()?)
    }

    /// Detections, newest first. `org` limits them to one organisation.
    pub async fn list_detections(
        &self,
        org: Option<&OdsCode>,
        incident: Option<i64>,
        limit: i64,
    ) -> Result<Vec<Detection>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, event_offset, org_code, rule_id, rule_title, rule_author, level, tags, matched_fields, host, event, received_at, detected_at, incident_id
             FROM detections
             WHERE ($1 IS NULL OR org_code = $1) AND ($2 IS NULL OR incident_id = $2)
             ORDER BY id DESC LIMIT $3",
        )
        .bind(org.map(|c| c.as_str().to_string()))
        .bind(incident)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let json = |col: &str| -> Result<serde_json::Value, StoreError> {
                    let text: String = r.try_get(col)?;
                    serde_json::from_str(&text)
                        .map_err(|e| StoreError::Invalid(format!("detections.{col}: {e}")))
                };
                Ok(Detection {
                    id: r.try_get("id")?,
                    event_offset: r.try_get("event_offset")?,
                    org_code: r.try_get("org_code")?,
                    rule_id: r.try_get("rule_id")?,
                    rule_title: r.try_get("rule_title")?,
                    rule_author: r.try_get("rule_author")?,
                    level: r.try_get("level")?,
                    tags: serde_json::from_value(json("tags")?).unwrap_or_default(),
                    matched_fields: json("matched_fields")?,
                    host: r.try_get("host")?,
                    event: json("event")?,
                    received_at: r.try_get("received_at")?,
                    detected_at: r.try_get("detected_at")?,
                    incident_id: r.try_get("incident_id")?,
                })
            })
            .collect()
    }

    pub async fn count_detections(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query("SELECT COUNT(*) AS n FROM detections")
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?)
    }

    /// Incidents, national first, then newest first. `org` keeps those involving it.
    pub async fn list_incidents(
        &self,
        org: Option<&OdsCode>,
        scope: Option<IncidentScope>,
        limit: i64,
    ) -> Result<Vec<Incident>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, scope, rule_id, title, severity, org_code, host, status, parent_id, opened_at, last_seen_at, detection_count
             FROM incidents i
             WHERE ($1 IS NULL OR EXISTS (SELECT 1 FROM incident_orgs o WHERE o.incident_id = i.id AND o.org_code = $1))
               AND ($2 IS NULL OR scope = $2)
             ORDER BY CASE WHEN scope = 'national' THEN 0 ELSE 1 END, last_seen_at DESC, id DESC
             LIMIT $3",
        )
        .bind(org.map(|c| c.as_str().to_string()))
        .bind(scope.map(|s| s.as_str().to_string()))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        self.incidents_from_rows(&rows).await
    }

    pub async fn get_incident(&self, id: i64) -> Result<Option<Incident>, StoreError> {
        let row = sqlx::query(
            "SELECT id, scope, rule_id, title, severity, org_code, host, status, parent_id, opened_at, last_seen_at, detection_count
             FROM incidents WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        let rows: Vec<AnyRow> = row.into_iter().collect();
        Ok(self.incidents_from_rows(&rows).await?.pop())
    }

    /// Builds incidents from their rows, fetching the organisations and rules of all of them
    /// in two queries rather than two per incident.
    async fn incidents_from_rows(&self, rows: &[AnyRow]) -> Result<Vec<Incident>, StoreError> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let ids = rows
            .iter()
            .map(|r| r.try_get::<i64, _>("id"))
            .collect::<Result<Vec<_>, _>>()?;
        let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
        let in_list = placeholders.join(", ");
        let fetch_pairs = |sql: String, column: &'static str| {
            let ids = ids.clone();
            async move {
                let mut q = sqlx::query(&sql);
                for id in &ids {
                    q = q.bind(*id);
                }
                let mut by_incident: HashMap<i64, Vec<String>> = HashMap::new();
                for row in q.fetch_all(&self.pool).await? {
                    by_incident
                        .entry(row.try_get("incident_id")?)
                        .or_default()
                        .push(row.try_get(column)?);
                }
                Ok::<_, StoreError>(by_incident)
            }
        };
        let mut orgs = fetch_pairs(
            format!("SELECT incident_id, org_code FROM incident_orgs WHERE incident_id IN ({in_list}) ORDER BY joined_at, org_code"),
            "org_code",
        )
        .await?;
        let mut rules = fetch_pairs(
            format!("SELECT incident_id, rule_id FROM incident_rules WHERE incident_id IN ({in_list}) ORDER BY rule_id"),
            "rule_id",
        )
        .await?;
        rows.iter()
            .zip(ids)
            .map(|(r, id)| {
                let rule_id: String = r.try_get("rule_id")?;
                let rules = rules.remove(&id).unwrap_or_else(|| vec![rule_id.clone()]);
                let scope = match r.try_get::<String, _>("scope")?.as_str() {
                    "national" => IncidentScope::National,
                    _ => IncidentScope::Local,
                };
                Ok(Incident {
                    id,
                    scope,
                    rule_id,
                    rules,
                    title: r.try_get("title")?,
                    severity: r.try_get("severity")?,
                    org_code: r.try_get("org_code")?,
                    host: r.try_get("host")?,
                    status: r.try_get("status")?,
                    parent_id: r.try_get("parent_id")?,
                    opened_at: r.try_get("opened_at")?,
                    last_seen_at: r.try_get("last_seen_at")?,
                    detection_count: r.try_get("detection_count")?,
                    organisations: orgs.remove(&id).unwrap_or_default(),
                })
            })
            .collect()
    }

    /// Moves an incident to `to`, recording who, when and why. Refuses a move the lifecycle
    /// does not allow, naming the current status.
    pub async fn set_incident_status(
        &self,
        id: i64,
        to: &str,
        actor: &str,
        comment: &str,
    ) -> Result<TimelineEntry, StoreError> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query("SELECT status FROM incidents WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("incident {id}")))?;
        let from: String = row.try_get("status")?;
        if !ward_model::records::incident_transition_allowed(&from, to) {
            return Err(StoreError::Invalid(format!(
                "incident {id} is {from}; it cannot become {to} (lifecycle: {})",
                ward_model::records::INCIDENT_STATUSES.join(" → ")
            )));
        }
        let at = now_ms();
        sqlx::query("UPDATE incidents SET status = $1 WHERE id = $2")
            .bind(to)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO incident_timeline (incident_id, at, actor, from_status, to_status, comment) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(at)
        .bind(actor)
        .bind(&from)
        .bind(to)
        .bind(comment)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(TimelineEntry {
            at,
            actor: actor.into(),
            from_status: from,
            to_status: to.into(),
            comment: comment.into(),
        })
    }

    pub async fn incident_timeline(&self, id: i64) -> Result<Vec<TimelineEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT at, actor, from_status, to_status, comment FROM incident_timeline WHERE incident_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(TimelineEntry {
                    at: r.try_get("at")?,
                    actor: r.try_get("actor")?,
                    from_status: r.try_get("from_status")?,
                    to_status: r.try_get("to_status")?,
                    comment: r.try_get("comment")?,
                })
            })
            .collect()
    }

    // ---- outbox ----

    /// Messages due for (another) attempt, oldest first.
    pub async fn due_outbox(&self, now: i64, limit: i64) -> Result<Vec<Notification>, StoreError> {
        let rows = sqlx::query(&format!(
            "{OUTBOX_SELECT} WHERE status = 'pending' AND next_attempt_at <= $1 ORDER BY next_attempt_at, id LIMIT $2"
        ))
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| outbox_from_row(r, Vec::new()))
            .collect()
    }

    pub async fn record_attempt(&self, u: &OutboxUpdate) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO notification_attempts (outbox_id, attempted_at, duration_ms, outcome, http_status, detail) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(u.outbox_id)
        .bind(u.attempted_at)
        .bind(u.duration_ms)
        .bind(&u.outcome)
        .bind(u.http_status)
        .bind(&u.detail)
        .execute(&mut *tx)
        .await?;
        let sent_at = (u.new_status == "sent").then_some(u.attempted_at + u.duration_ms);
        sqlx::query(
            "UPDATE outbox SET status = $1, attempts = attempts + 1, next_attempt_at = $2, sent_at = COALESCE($3, sent_at), provider_id = COALESCE($4, provider_id) WHERE id = $5",
        )
        .bind(&u.new_status)
        .bind(u.next_attempt_at)
        .bind(sent_at)
        .bind(u.provider_id.clone())
        .bind(u.outbox_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Notifications with their attempt logs, newest first.
    pub async fn list_notifications(
        &self,
        org: Option<&OdsCode>,
        incident: Option<i64>,
        limit: i64,
    ) -> Result<Vec<Notification>, StoreError> {
        let rows = sqlx::query(&format!(
            "{OUTBOX_SELECT} WHERE ($1 IS NULL OR org_code = $1) AND ($2 IS NULL OR incident_id = $2) ORDER BY id DESC LIMIT $3"
        ))
        .bind(org.map(|c| c.as_str().to_string()))
        .bind(incident)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let id: i64 = r.try_get("id")?;
            let attempts = sqlx::query(
                "SELECT attempted_at, duration_ms, outcome, http_status, detail FROM notification_attempts WHERE outbox_id = $1 ORDER BY id",
            )
            .bind(id)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|a| {
                Ok(NotificationAttempt {
                    attempted_at: a.try_get("attempted_at")?,
                    duration_ms: a.try_get("duration_ms")?,
                    outcome: a.try_get("outcome")?,
                    http_status: a.try_get("http_status")?,
                    detail: a.try_get("detail")?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
            out.push(outbox_from_row(r, attempts)?);
        }
        Ok(out)
    }

    pub async fn outbox_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows =
            sqlx::query("SELECT status, COUNT(*) AS n FROM outbox GROUP BY status ORDER BY status")
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("status")?, r.try_get("n")?)))
            .collect()
    }
}

const OUTBOX_SELECT: &str = "SELECT id, incident_id, org_code, contact_id, contact_name, channel, destination, subject, body, reference, status, attempts, next_attempt_at, created_at, sent_at, provider_id FROM outbox";

fn filter_from_row(r: &AnyRow) -> Result<MetaFilter, StoreError> {
    Ok(MetaFilter {
        id: r.try_get("id")?,
        org_code: parse_ods(r.try_get("org_code")?)?,
        name: r.try_get("name")?,
        yaml: r.try_get("yaml")?,
        created_at: r.try_get("created_at")?,
    })
}

fn outbox_from_row(
    r: &AnyRow,
    attempt_log: Vec<NotificationAttempt>,
) -> Result<Notification, StoreError> {
    Ok(Notification {
        id: r.try_get("id")?,
        incident_id: r.try_get("incident_id")?,
        org_code: r.try_get("org_code")?,
        contact_id: r.try_get("contact_id")?,
        contact_name: r.try_get("contact_name")?,
        channel: r.try_get("channel")?,
        destination: r.try_get("destination")?,
        subject: r.try_get("subject")?,
        body: r.try_get("body")?,
        reference: r.try_get("reference")?,
        status: r.try_get("status")?,
        attempts: r.try_get("attempts")?,
        next_attempt_at: r.try_get("next_attempt_at")?,
        created_at: r.try_get("created_at")?,
        sent_at: r.try_get("sent_at")?,
        provider_id: r.try_get("provider_id")?,
        attempt_log,
    })
}
