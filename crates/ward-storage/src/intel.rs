//! Threat intelligence in the store: STIX object versions (served over TAXII), the indicator
//! values derived from them (matching, API, exports), sightings and false-positive reports,
//! TAXII collections and statuses, and feed connectors with their state.
//!
//! The store knows nothing of STIX or TLP semantics: the server hands it access facts as
//! numbers ([`IntelAccess`]) and a reader ([`IntelReader`]); [`visibility_sql`] turns the
//! reader into a predicate so that a page of 1,000 visible objects is one indexed range
//! query, never a query (or a policy check) per object that is then thrown away.

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};
use ward_model::clock::now_ms;

use crate::store::{Backend, Store};
use crate::StoreError;

/// TLP rank of TLP:RED (0 CLEAR, 1 GREEN, 2 AMBER, 3 AMBER+STRICT, 4 RED).
pub const TLP_RED: i64 = 4;
/// MISP distribution levels as stored.
pub const DIST_OWN_ORG: i64 = 0;
pub const DIST_COMMUNITY: i64 = 1;
pub const DIST_CONNECTED: i64 = 2;
pub const DIST_ALL: i64 = 3;
pub const DIST_SHARING_GROUP: i64 = 4;

/// Who owns an object and who may read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntelAccess {
    pub owner_org: String,
    /// 0 CLEAR .. 4 RED.
    pub tlp: i64,
    /// MISP level 0..4.
    pub distribution: i64,
    pub sharing_group: Option<i64>,
    /// The distribution once the TLP cap is applied (what readers are checked against).
    pub eff_distribution: i64,
    pub community: String,
    pub connected: Vec<String>,
}

/// The reader a query is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntelReader {
    /// Central analysts read everything.
    pub central: bool,
    pub org: String,
    /// Organisation leads may read TLP:RED shared with them.
    pub lead: bool,
    /// Member systems (API keys) never read TLP:RED.
    pub machine: bool,
    pub communities: Vec<String>,
    pub sharing_groups: Vec<i64>,
}

/// A bind value for dynamically built queries.
#[derive(Debug, Clone)]
enum Arg {
    I(i64),
    S(String),
}

#[derive(Default)]
struct Args(Vec<Arg>);

impl Args {
    fn i(&mut self, v: i64) -> String {
        self.0.push(Arg::I(v));
        format!("${}", self.0.len())
    }
    fn s(&mut self, v: impl Into<String>) -> String {
        self.0.push(Arg::S(v.into()));
        format!("${}", self.0.len())
    }
    fn bind<'q>(
        &self,
        mut q: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>,
    ) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>> {
        for a in &self.0 {
            q = match a {
                Arg::I(v) => q.bind(*v),
                Arg::S(v) => q.bind(v.clone()),
            };
        }
        q
    }
}

/// The visibility predicate for `reader` over a table with the access columns. Mirrors
/// `ward_intel::policy::can_read` (the server's route × TLP × role matrix test checks
/// the two agree).
fn visibility_sql(reader: &IntelReader, args: &mut Args) -> String {
    if reader.central {
        return "1 = 1".into();
    }
    let org = args.s(reader.org.clone());
    let own = if reader.machine {
        format!("(owner_org = {org} AND tlp < {TLP_RED})")
    } else {
        format!("owner_org = {org}")
    };
    let mut audience = vec![format!("eff_distribution = {DIST_ALL}")];
    if !reader.communities.is_empty() {
        let cs: Vec<String> = reader
            .communities
            .iter()
            .map(|c| args.s(c.clone()))
            .collect();
        audience.push(format!(
            "(eff_distribution IN ({DIST_COMMUNITY}, {DIST_CONNECTED}) AND community IN ({}))",
            cs.join(", ")
        ));
        for c in &reader.communities {
            let p = args.s(format!("%|{c}|%"));
            audience.push(format!(
                "(eff_distribution = {DIST_CONNECTED} AND connected LIKE {p})"
            ));
        }
    }
    if !reader.sharing_groups.is_empty() {
        let gs: Vec<String> = reader.sharing_groups.iter().map(|g| args.i(*g)).collect();
        audience.push(format!(
            "(eff_distribution = {DIST_SHARING_GROUP} AND sharing_group IN ({}))",
            gs.join(", ")
        ));
    }
    let red = if reader.lead {
        String::new()
    } else {
        format!("tlp < {TLP_RED} AND ")
    };
    format!(
        "({own} OR (owner_org <> {org} AND {red}({})))",
        audience.join(" OR ")
    )
}

fn connected_text(c: &[String]) -> String {
    if c.is_empty() {
        String::new()
    } else {
        format!("|{}|", c.join("|"))
    }
}

fn access_from_row(row: &AnyRow) -> Result<IntelAccess, StoreError> {
    let connected: String = row.try_get("connected")?;
    Ok(IntelAccess {
        owner_org: row.try_get("owner_org")?,
        tlp: row.try_get("tlp")?,
        distribution: row.try_get("distribution")?,
        sharing_group: row.try_get("sharing_group")?,
        eff_distribution: row.try_get("eff_distribution")?,
        community: row.try_get("community")?,
        connected: connected
            .split('|')
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
    })
}

/// A TAXII collection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntelCollection {
    pub id: String,
    pub api_root: String,
    pub title: String,
    pub description: Option<String>,
    pub alias: Option<String>,
    pub write_roles: Vec<String>,
}

/// One STIX object version to store.
#[derive(Debug, Clone)]
pub struct NewIntelObject {
    pub stix_id: String,
    pub stix_type: String,
    pub spec_version: String,
    /// `modified` as the object writes it.
    pub version: String,
    pub version_ms: i64,
    pub access: IntelAccess,
    /// The object's JSON.
    pub object: String,
}

/// What storing one object did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectOutcome {
    Added,
    /// That version was already stored (TAXII treats a repeat as a success).
    AlreadyStored,
}

/// A stored object version.
#[derive(Debug, Clone)]
pub struct StoredIntelObject {
    pub collection_id: String,
    pub stix_id: String,
    pub stix_type: String,
    pub spec_version: String,
    pub version: String,
    pub version_ms: i64,
    /// Microseconds.
    pub date_added: i64,
    pub access: IntelAccess,
    pub object: String,
}

/// Which versions of each object a query returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionSel {
    Last,
    First,
    All,
    /// Versions by `modified` in epoch milliseconds.
    At(i64),
}

/// A TAXII object query: one indexed range scan over `(collection_id, date_added)`.
#[derive(Debug, Clone)]
pub struct ObjectQuery {
    pub collection_id: String,
    /// Only objects added strictly after this (microseconds): `added_after` or the cursor.
    pub added_after_us: Option<i64>,
    pub ids: Vec<String>,
    pub types: Vec<String>,
    pub versions: Vec<VersionSel>,
    pub spec_versions: Vec<String>,
    pub limit: usize,
}

/// One indicator value as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredIndicator {
    pub indicator_id: String,
    /// `ipv4`, `domain`, … (`ward_intel::observable::ObservableKind::as_str`).
    pub kind: String,
    pub value: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub labels: Vec<String>,
    pub access: IntelAccess,
    pub confidence: i64,
    /// Epoch ms.
    pub valid_from: i64,
    pub valid_until: Option<i64>,
    pub source: String,
    pub last_seen: Option<i64>,
    pub sightings: i64,
    pub false_positives: i64,
    /// Microseconds; set by the store.
    pub date_added: i64,
    pub updated_at: i64,
}

/// What an indicator upsert did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct UpsertCounts {
    pub added: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// Positions (in the input) of the values added or updated.
    pub changed: Vec<usize>,
}

/// A filter over indicator values.
#[derive(Debug, Clone, Default)]
pub struct IndicatorQuery {
    pub kind: Option<String>,
    /// Substring of the value.
    pub value_contains: Option<String>,
    pub source: Option<String>,
    /// Exact indicator id.
    pub indicator_id: Option<String>,
    /// Only those changed after this (microseconds of `date_added` of the row's last
    /// change is not kept; `updated_at` is in ms): for paging by `date_added`.
    pub added_after_us: Option<i64>,
    pub limit: usize,
}

/// A feed connector as stored; `state` is the connector's state as JSON
/// (`ward_intel::feeds::ConnectorState`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFeed {
    pub name: String,
    pub kind: String,
    pub url: String,
    pub config: String,
    pub interval_secs: i64,
    pub enabled: bool,
    pub state: String,
    pub created_at: i64,
    pub updated_at: i64,
}

const OBJECT_COLS: &str = "collection_id, stix_id, stix_type, spec_version, version, version_ms, date_added, owner_org, tlp, distribution, sharing_group, eff_distribution, community, connected, object";
const INDICATOR_COLS: &str = "indicator_id, kind, value, name, description, labels, owner_org, tlp, distribution, sharing_group, eff_distribution, community, connected, confidence, valid_from, valid_until, source, last_seen, sightings, false_positives, date_added, updated_at";

impl Store {
    async fn intel_tx(&self) -> Result<Transaction<'static, Any>, StoreError> {
        Ok(match self.backend {
            // Writers of intelligence assign date_added from the table's maximum: they
            // must not interleave.
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => {
                let mut tx = self.pool.begin().await?;
                sqlx::query("SELECT pg_advisory_xact_lock(70090009)")
                    .execute(&mut *tx)
                    .await?;
                tx
            }
        })
    }

    /// Next strictly increasing microsecond stamp after the table's maximum.
    async fn next_added(
        tx: &mut Transaction<'static, Any>,
        table: &str,
    ) -> Result<i64, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT COALESCE(MAX(date_added), 0) AS m FROM {table}"
        ))
        .fetch_one(&mut **tx)
        .await?;
        let max: i64 = row.try_get("m")?;
        Ok((now_ms() * 1000).max(max + 1))
    }

    // ---- collections ----

    /// Creates the collection or updates its description.
    pub async fn upsert_intel_collection(&self, c: &IntelCollection) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO intel_collections (id, api_root, title, description, alias, write_roles, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (id) DO UPDATE SET api_root = $2, title = $3, description = $4, alias = $5, write_roles = $6",
        )
        .bind(&c.id)
        .bind(&c.api_root)
        .bind(&c.title)
        .bind(c.description.clone())
        .bind(c.alias.clone())
        .bind(c.write_roles.join(","))
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn list_intel_collections(
        &self,
        api_root: &str,
    ) -> Result<Vec<IntelCollection>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, api_root, title, description, alias, write_roles FROM intel_collections WHERE api_root = $1 ORDER BY created_at, id",
        )
        .bind(api_root)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let roles: String = r.try_get("write_roles")?;
                Ok(IntelCollection {
                    id: r.try_get("id")?,
                    api_root: r.try_get("api_root")?,
                    title: r.try_get("title")?,
                    description: r.try_get("description")?,
                    alias: r.try_get("alias")?,
                    write_roles: roles
                        .split(',')
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect(),
                })
            })
            .collect()
    }

    // ---- objects ----

    /// Stores object versions in one transaction; each gets a strictly increasing
    /// `date_added` and the newest version of each id is marked latest.
    pub async fn add_intel_objects(
        &self,
        collection_id: &str,
        objects: &[NewIntelObject],
    ) -> Result<Vec<ObjectOutcome>, StoreError> {
        let mut tx = self.intel_tx().await?;
        let mut added = Self::next_added(&mut tx, "intel_objects").await?;
        let mut out = Vec::with_capacity(objects.len());
        for o in objects {
            let row = sqlx::query(
                "SELECT MAX(version_ms) AS newest, COUNT(CASE WHEN version_ms = $3 THEN 1 END) AS same \
                 FROM intel_objects WHERE collection_id = $1 AND stix_id = $2",
            )
            .bind(collection_id)
            .bind(&o.stix_id)
            .bind(o.version_ms)
            .fetch_one(&mut *tx)
            .await?;
            let newest: Option<i64> = row.try_get("newest")?;
            let same: i64 = row.try_get("same")?;
            if same > 0 {
                out.push(ObjectOutcome::AlreadyStored);
                continue;
            }
            let latest = newest.is_none_or(|n| o.version_ms > n);
            if latest && newest.is_some() {
                sqlx::query(
                    "UPDATE intel_objects SET is_latest = 0 WHERE collection_id = $1 AND stix_id = $2",
                )
                .bind(collection_id)
                .bind(&o.stix_id)
                .execute(&mut *tx)
                .await?;
            }
            let a = &o.access;
            sqlx::query(
                "INSERT INTO intel_objects (collection_id, stix_id, stix_type, spec_version, version, version_ms, date_added, is_latest, \
                 owner_org, tlp, distribution, sharing_group, eff_distribution, community, connected, object) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
            )
            .bind(collection_id)
            .bind(&o.stix_id)
            .bind(&o.stix_type)
            .bind(&o.spec_version)
            .bind(&o.version)
            .bind(o.version_ms)
            .bind(added)
            .bind(latest as i64)
            .bind(&a.owner_org)
            .bind(a.tlp)
            .bind(a.distribution)
            .bind(a.sharing_group)
            .bind(a.eff_distribution)
            .bind(&a.community)
            .bind(connected_text(&a.connected))
            .bind(&o.object)
            .execute(&mut *tx)
            .await?;
            added += 1;
            out.push(ObjectOutcome::Added);
        }
        tx.commit().await?;
        Ok(out)
    }

    fn object_from_row(r: &AnyRow) -> Result<StoredIntelObject, StoreError> {
        Ok(StoredIntelObject {
            collection_id: r.try_get("collection_id")?,
            stix_id: r.try_get("stix_id")?,
            stix_type: r.try_get("stix_type")?,
            spec_version: r.try_get("spec_version")?,
            version: r.try_get("version")?,
            version_ms: r.try_get("version_ms")?,
            date_added: r.try_get("date_added")?,
            access: access_from_row(r)?,
            object: r.try_get("object")?,
        })
    }

    /// One page of objects `reader` may see, in `date_added` order, plus whether more
    /// follow. One query: the visibility and version filters are part of the range scan.
    pub async fn query_intel_objects(
        &self,
        reader: &IntelReader,
        q: &ObjectQuery,
    ) -> Result<(Vec<StoredIntelObject>, bool), StoreError> {
        let mut args = Args::default();
        let coll = args.s(q.collection_id.clone());
        let mut sql =
            format!("SELECT {OBJECT_COLS} FROM intel_objects o WHERE collection_id = {coll}");
        if let Some(t) = q.added_after_us {
            sql += &format!(" AND date_added > {}", args.i(t));
        }
        if !q.ids.is_empty() {
            let ps: Vec<String> = q.ids.iter().map(|v| args.s(v.clone())).collect();
            sql += &format!(" AND stix_id IN ({})", ps.join(", "));
        }
        if !q.types.is_empty() {
            let ps: Vec<String> = q.types.iter().map(|v| args.s(v.clone())).collect();
            sql += &format!(" AND stix_type IN ({})", ps.join(", "));
        }
        if !q.spec_versions.is_empty() {
            let ps: Vec<String> = q.spec_versions.iter().map(|v| args.s(v.clone())).collect();
            sql += &format!(" AND spec_version IN ({})", ps.join(", "));
        }
        let versions = if q.versions.is_empty() {
            vec![VersionSel::Last]
        } else {
            q.versions.clone()
        };
        if !versions.contains(&VersionSel::All) {
            let conds: Vec<String> = versions
                .iter()
                .map(|v| match v {
                    VersionSel::Last => "is_latest = 1".to_string(),
                    VersionSel::First => "version_ms = (SELECT MIN(f.version_ms) FROM intel_objects f WHERE f.collection_id = o.collection_id AND f.stix_id = o.stix_id)".to_string(),
                    VersionSel::At(ms) => format!("version_ms = {}", args.i(*ms)),
                    VersionSel::All => "1 = 1".to_string(),
                })
                .collect();
            sql += &format!(" AND ({})", conds.join(" OR "));
        }
        sql += &format!(" AND {}", visibility_sql(reader, &mut args));
        let limit = q.limit.max(1);
        sql += &format!(" ORDER BY date_added LIMIT {}", limit + 1);
        let rows = args.bind(sqlx::query(&sql)).fetch_all(&self.pool).await?;
        let more = rows.len() > limit;
        let items = rows
            .iter()
            .take(limit)
            .map(Self::object_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((items, more))
    }

    // ---- TAXII statuses ----

    pub async fn put_taxii_status(
        &self,
        id: &str,
        api_root: &str,
        owner: &str,
        body: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO intel_taxii_status (id, api_root, owner, body, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(api_root)
        .bind(owner)
        .bind(body)
        .bind(now_ms())
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::conflict_on_unique(e, format!("TAXII status {id}")))?;
        Ok(())
    }

    /// The status body and the principal that created it.
    pub async fn get_taxii_status(
        &self,
        api_root: &str,
        id: &str,
    ) -> Result<Option<(String, String)>, StoreError> {
        let row = sqlx::query(
            "SELECT owner, body FROM intel_taxii_status WHERE api_root = $1 AND id = $2",
        )
        .bind(api_root)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok((r.try_get("owner")?, r.try_get("body")?)))
            .transpose()
    }

    // ---- indicators ----

    /// Inserts or updates indicator values (keyed by indicator id, kind and value) in one
    /// transaction. An update keeps the sightings and false positives already recorded
    /// and adds the incoming ones.
    pub async fn upsert_indicators(
        &self,
        items: &[StoredIndicator],
    ) -> Result<UpsertCounts, StoreError> {
        let mut tx = self.intel_tx().await?;
        let mut added = Self::next_added(&mut tx, "intel_indicators").await?;
        let now = now_ms();
        let mut counts = UpsertCounts::default();
        for (pos, it) in items.iter().enumerate() {
            let existing = sqlx::query(
                "SELECT valid_from, valid_until, confidence, tlp, eff_distribution, name FROM intel_indicators \
                 WHERE indicator_id = $1 AND kind = $2 AND value = $3",
            )
            .bind(&it.indicator_id)
            .bind(&it.kind)
            .bind(&it.value)
            .fetch_optional(&mut *tx)
            .await?;
            let a = &it.access;
            let labels = serde_json::to_string(&it.labels)
                .map_err(|e| StoreError::Invalid(format!("labels of {}: {e}", it.indicator_id)))?;
            let write = match existing {
                Some(r) => {
                    let same = r.try_get::<i64, _>("valid_from")? == it.valid_from
                        && r.try_get::<Option<i64>, _>("valid_until")? == it.valid_until
                        && r.try_get::<i64, _>("confidence")? == it.confidence
                        && r.try_get::<i64, _>("tlp")? == a.tlp
                        && r.try_get::<i64, _>("eff_distribution")? == a.eff_distribution
                        && r.try_get::<Option<String>, _>("name")? == it.name
                        && it.sightings == 0
                        && it.false_positives == 0;
                    if same {
                        counts.unchanged += 1;
                        continue;
                    }
                    counts.updated += 1;
                    "UPDATE intel_indicators SET name = $4, description = $5, labels = $6, owner_org = $7, tlp = $8, \
                         distribution = $9, sharing_group = $10, eff_distribution = $11, community = $12, connected = $13, \
                         confidence = $14, valid_from = $15, valid_until = $16, source = $17, \
                         last_seen = CASE WHEN last_seen IS NULL OR last_seen < $18 THEN $18 ELSE last_seen END, \
                         sightings = sightings + $19, false_positives = false_positives + $20, date_added = $21, updated_at = $22 \
                         WHERE indicator_id = $1 AND kind = $2 AND value = $3".to_string()
                }
                None => {
                    counts.added += 1;
                    format!(
                        "INSERT INTO intel_indicators ({INDICATOR_COLS}) VALUES \
                         ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)"
                    )
                }
            };
            // The same 22 values in the same order for both: columns 1–3 identify the row.
            sqlx::query(&write)
                .bind(&it.indicator_id)
                .bind(&it.kind)
                .bind(&it.value)
                .bind(it.name.clone())
                .bind(it.description.clone())
                .bind(labels)
                .bind(&a.owner_org)
                .bind(a.tlp)
                .bind(a.distribution)
                .bind(a.sharing_group)
                .bind(a.eff_distribution)
                .bind(&a.community)
                .bind(connected_text(&a.connected))
                .bind(it.confidence)
                .bind(it.valid_from)
                .bind(it.valid_until)
                .bind(&it.source)
                .bind(it.last_seen)
                .bind(it.sightings)
                .bind(it.false_positives)
                .bind(added)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            counts.changed.push(pos);
            added += 1;
        }
        tx.commit().await?;
        Ok(counts)
    }

    fn indicator_from_row(r: &AnyRow) -> Result<StoredIndicator, StoreError> {
        let labels: String = r.try_get("labels")?;
        Ok(StoredIndicator {
            indicator_id: r.try_get("indicator_id")?,
            kind: r.try_get("kind")?,
            value: r.try_get("value")?,
            name: r.try_get("name")?,
            description: r.try_get("description")?,
            labels: serde_json::from_str(&labels)
                .map_err(|e| StoreError::Invalid(format!("stored labels {labels:?}: {e}")))?,
            access: access_from_row(r)?,
            confidence: r.try_get("confidence")?,
            valid_from: r.try_get("valid_from")?,
            valid_until: r.try_get("valid_until")?,
            source: r.try_get("source")?,
            last_seen: r.try_get("last_seen")?,
            sightings: r.try_get("sightings")?,
            false_positives: r.try_get("false_positives")?,
            date_added: r.try_get("date_added")?,
            updated_at: r.try_get("updated_at")?,
        })
    }

    /// Indicator values `reader` may see, in `date_added` order (one query), plus
    /// whether more follow.
    pub async fn query_indicators(
        &self,
        reader: &IntelReader,
        q: &IndicatorQuery,
    ) -> Result<(Vec<StoredIndicator>, bool), StoreError> {
        let mut args = Args::default();
        let mut sql = format!("SELECT {INDICATOR_COLS} FROM intel_indicators WHERE 1 = 1");
        if let Some(t) = q.added_after_us {
            sql += &format!(" AND date_added > {}", args.i(t));
        }
        if let Some(k) = &q.kind {
            sql += &format!(" AND kind = {}", args.s(k.clone()));
        }
        if let Some(v) = &q.value_contains {
            sql += &format!(" AND value LIKE {}", args.s(format!("%{v}%")));
        }
        if let Some(s) = &q.source {
            sql += &format!(" AND source = {}", args.s(s.clone()));
        }
        if let Some(id) = &q.indicator_id {
            sql += &format!(" AND indicator_id = {}", args.s(id.clone()));
        }
        sql += &format!(" AND {}", visibility_sql(reader, &mut args));
        let limit = q.limit.max(1);
        sql += &format!(" ORDER BY date_added LIMIT {}", limit + 1);
        let rows = args.bind(sqlx::query(&sql)).fetch_all(&self.pool).await?;
        let more = rows.len() > limit;
        let items = rows
            .iter()
            .take(limit)
            .map(Self::indicator_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((items, more))
    }

    /// Every indicator value changed after `after_us` (microseconds of `date_added`),
    /// for loading and refreshing the live matcher. No visibility filter: matching runs
    /// for the service, and a hit is reported to the organisation whose event it was.
    pub async fn indicators_changed_since(
        &self,
        after_us: i64,
        limit: usize,
    ) -> Result<Vec<StoredIndicator>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {INDICATOR_COLS} FROM intel_indicators WHERE date_added > $1 ORDER BY date_added LIMIT $2"
        ))
        .bind(after_us)
        .bind(limit.max(1) as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Self::indicator_from_row).collect()
    }

    /// Records a sighting or false-positive report against every value of an indicator;
    /// returns how many values it touched (0: no such indicator). The indicator's
    /// `date_added` moves so the live matcher picks the change up.
    pub async fn report_indicator(
        &self,
        indicator_id: &str,
        false_positive: bool,
        org: Option<&str>,
        count: i64,
        note: Option<&str>,
        seen_at: i64,
    ) -> Result<u64, StoreError> {
        let mut tx = self.intel_tx().await?;
        let added = Self::next_added(&mut tx, "intel_indicators").await?;
        let now = now_ms();
        let sql = if false_positive {
            "UPDATE intel_indicators SET false_positives = false_positives + $2, date_added = $3, updated_at = $4 WHERE indicator_id = $1"
        } else {
            "UPDATE intel_indicators SET sightings = sightings + $2, date_added = $3, updated_at = $4, \
             last_seen = CASE WHEN last_seen IS NULL OR last_seen < $5 THEN $5 ELSE last_seen END WHERE indicator_id = $1"
        };
        let mut q = sqlx::query(sql)
            .bind(indicator_id)
            .bind(count.max(1))
            .bind(added)
            .bind(now);
        if !false_positive {
            q = q.bind(seen_at);
        }
        let n = q.execute(&mut *tx).await?.rows_affected();
        if n > 0 {
            sqlx::query(
                "INSERT INTO intel_reports (indicator_id, kind, org_code, count, note, seen_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(indicator_id)
            .bind(if false_positive { "false_positive" } else { "sighting" })
            .bind(org.map(String::from))
            .bind(count.max(1))
            .bind(note.map(String::from))
            .bind(seen_at)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(n)
    }

    // ---- feeds ----

    pub async fn create_feed(&self, f: &StoredFeed) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO intel_feeds (name, kind, url, config, interval_secs, enabled, state, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&f.name)
        .bind(&f.kind)
        .bind(&f.url)
        .bind(&f.config)
        .bind(f.interval_secs)
        .bind(f.enabled as i64)
        .bind(&f.state)
        .bind(f.created_at)
        .bind(f.updated_at)
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::conflict_on_unique(e, format!("feed {}", f.name)))?;
        Ok(())
    }

    fn feed_from_row(r: &AnyRow) -> Result<StoredFeed, StoreError> {
        Ok(StoredFeed {
            name: r.try_get("name")?,
            kind: r.try_get("kind")?,
            url: r.try_get("url")?,
            config: r.try_get("config")?,
            interval_secs: r.try_get("interval_secs")?,
            enabled: r.try_get::<i64, _>("enabled")? != 0,
            state: r.try_get("state")?,
            created_at: r.try_get("created_at")?,
            updated_at: r.try_get("updated_at")?,
        })
    }

    pub async fn list_feeds(&self) -> Result<Vec<StoredFeed>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, kind, url, config, interval_secs, enabled, state, created_at, updated_at FROM intel_feeds ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Self::feed_from_row).collect()
    }

    pub async fn get_feed(&self, name: &str) -> Result<Option<StoredFeed>, StoreError> {
        let row = sqlx::query(
            "SELECT name, kind, url, config, interval_secs, enabled, state, created_at, updated_at FROM intel_feeds WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(Self::feed_from_row).transpose()
    }

    /// Saves a connector's state after a run.
    pub async fn set_feed_state(&self, name: &str, state: &str) -> Result<(), StoreError> {
        let n = sqlx::query("UPDATE intel_feeds SET state = $2, updated_at = $3 WHERE name = $1")
            .bind(name)
            .bind(state)
            .bind(now_ms())
            .execute(&self.pool)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound(format!("feed {name}")));
        }
        Ok(())
    }
}
