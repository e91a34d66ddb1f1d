//! The event search index on the SQL store: every event of the log by organisation and time,
//! and every observable in it by (kind, value, time).
//!
//! Two tables (migration 0006): `search_events`, one row per log offset with the organisation,
//! the event's time, host, OCSF class, format, whether it parsed and the original record
//! deflate-compressed; and `search_observables`, whose primary key
//! `(kind, value, event_time, log_offset)` is the index an observable lookup reads, so "every
//! event with this IP in the last 30 days" is one B-tree range per candidate value, never a
//! scan. Time-range, organisation and host queries read `(org_code, event_time)`,
//! `(event_time)` and `(host, event_time)`.
//!
//! Free text is the one part that is not indexed: it is a bounded scan of the candidates the
//! other filters leave (newest first), at most [`SearchQuery::text_scan_limit`] records per
//! request; the answer says how many were scanned and gives a cursor to scan further.
//!
//! The index sits behind [`EventIndex`] so another engine (an embedded full-text index) can
//! stand in for the SQL one without the consumer, the API or the retro-hunt noticing.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::IpAddr;

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::store::{Backend, Store};
use crate::StoreError;

/// The observable kinds the index knows, as `ward_event::ObservableKind::as_str` names them.
pub const OBSERVABLE_KINDS: [&str; 6] = ["ip", "domain", "url", "hash", "user", "email"];

/// CIDR searches are expanded into point lookups; larger ranges are refused rather than
/// turned into a scan.
pub const MAX_CIDR_ADDRESSES: u128 = 4096;

/// One event as the index consumer hands it over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedEvent {
    pub offset: u64,
    pub org: String,
    /// When it happened per the record, or when ward received it when the record does not say.
    pub time_ms: i64,
    pub received_at_ms: i64,
    pub host: Option<String>,
    /// OCSF class in snake case (`network_activity`, `base_event` for raw records).
    pub class: String,
    /// Parser format id (`suricata.eve`…) or `raw`.
    pub format: String,
    pub parsed: bool,
    /// The original record as received.
    pub record: Vec<u8>,
    /// (kind, canonical value), as `ward_event::Observables::iter` gives them.
    pub observables: Vec<(String, String)>,
}

/// What to look for: one kind, or any kind the value could be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservableQuery {
    /// `None`: every kind the value could be (an IP, a hash, a domain…).
    pub kind: Option<String>,
    pub value: String,
}

/// Where a page ended: the next page starts strictly after (older than) it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub time_ms: i64,
    pub offset: u64,
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.time_ms, self.offset)
    }
}

impl std::str::FromStr for Cursor {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Cursor, StoreError> {
        let bad = || StoreError::Invalid(format!("cursor {s:?} is not one this server gave out"));
        let (t, o) = s.rsplit_once('.').ok_or_else(bad)?;
        Ok(Cursor {
            time_ms: t.parse().map_err(|_| bad())?,
            offset: o.parse().map_err(|_| bad())?,
        })
    }
}

/// A search. Empty `orgs` means every organisation (the caller has already limited it to what
/// the person may see).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    pub from_ms: i64,
    pub to_ms: i64,
    pub orgs: Vec<String>,
    pub host: Option<String>,
    pub class: Option<String>,
    pub observable: Option<ObservableQuery>,
    /// Case-insensitive substring of the original record.
    pub text: Option<String>,
    pub limit: usize,
    pub cursor: Option<Cursor>,
    /// Most candidate records one request reads for `text`.
    pub text_scan_limit: usize,
}

impl SearchQuery {
    /// Everything in `[from_ms, to_ms)`, 100 at a time.
    pub fn between(from_ms: i64, to_ms: i64) -> SearchQuery {
        SearchQuery {
            from_ms,
            to_ms,
            orgs: Vec::new(),
            host: None,
            class: None,
            observable: None,
            text: None,
            limit: 100,
            cursor: None,
            text_scan_limit: 50_000,
        }
    }
}

/// One event found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchHit {
    pub offset: u64,
    pub org: String,
    pub time_ms: i64,
    pub received_at_ms: i64,
    pub host: Option<String>,
    pub class: String,
    pub format: String,
    pub parsed: bool,
    /// The observable that matched, when the search was by observable.
    pub matched: Option<(String, String)>,
    /// The original record.
    pub record: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SearchPage {
    pub hits: Vec<SearchHit>,
    /// Present when there may be more: pass it back as [`SearchQuery::cursor`].
    pub next_cursor: Option<Cursor>,
    /// Candidate records read for free text (0 without text).
    pub scanned: u64,
    /// True when the free-text scan stopped at its limit before the candidates ran out.
    pub scan_limited: bool,
}

/// An event in which a retro-hunt found one of its observables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetroHit {
    pub offset: u64,
    pub org: String,
    pub time_ms: i64,
    pub kind: String,
    pub value: String,
}

/// The search index, whichever engine holds it.
#[async_trait::async_trait]
pub trait EventIndex: Send + Sync {
    /// Where the named consumer resumes in the event log.
    async fn indexed_offset(&self, consumer: &str) -> Result<u64, StoreError>;

    /// Stores a batch and moves the consumer's offset to `next_offset`, atomically: a crash
    /// replays the whole batch or none of it.
    async fn index_batch(
        &self,
        consumer: &str,
        events: &[IndexedEvent],
        next_offset: u64,
    ) -> Result<(), StoreError>;

    /// Events matching `q`, newest first.
    async fn search(&self, q: &SearchQuery) -> Result<SearchPage, StoreError>;

    /// Retro-hunt: events of the last `lookback_days` (before `now_ms`) holding any of
    /// `observables` (kind, value), newest first, at most `max_hits`. Answered from the
    /// observable index alone.
    async fn retro_search(
        &self,
        observables: &[(String, String)],
        lookback_days: u32,
        now_ms: i64,
        max_hits: usize,
    ) -> Result<Vec<RetroHit>, StoreError>;

    /// Removes what is older than each organisation's retention (`per_org`, else
    /// `default_days`). Returns the number of events removed.
    async fn prune(
        &self,
        default_days: u32,
        per_org: &HashMap<String, u32>,
        now_ms: i64,
    ) -> Result<u64, StoreError>;
}

const DAY_MS: i64 = 86_400_000;

/// The canonical form of `value` as an observable of `kind` (what the index stores), or
/// `None` when it cannot be one.
pub fn normalise(kind: &str, value: &str) -> Option<String> {
    let v = value.trim();
    if v.is_empty() {
        return None;
    }
    match kind {
        "ip" => v.parse::<IpAddr>().ok().map(|ip| ip.to_string()),
        "domain" => {
            let d = v.trim_end_matches('.');
            (d.contains('.')
                && d.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_')))
            .then(|| d.to_ascii_lowercase())
        }
        "hash" => (matches!(v.len(), 32 | 40 | 64 | 128)
            && v.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| v.to_ascii_lowercase()),
        "email" => v.contains('@').then(|| v.to_ascii_lowercase()),
        "url" => Some(v.to_string()),
        "user" => {
            let u = v.rsplit('\\').next().unwrap_or(v);
            (!u.is_empty()).then(|| u.to_string())
        }
        _ => None,
    }
}

/// Every (kind, canonical value) `value` could be, for a search by value of any kind.
pub fn candidates(value: &str) -> Vec<(String, String)> {
    let v = value.trim();
    if v.parse::<IpAddr>().is_ok() {
        // An address is only ever stored as an IP.
        return normalise("ip", v)
            .map(|n| vec![("ip".to_string(), n)])
            .unwrap_or_default();
    }
    OBSERVABLE_KINDS
        .iter()
        .filter(|k| **k != "ip")
        .filter_map(|k| normalise(k, v).map(|n| (k.to_string(), n)))
        .collect()
}

/// The addresses of a CIDR block (`10.1.2.0/24`), when it holds at most
/// [`MAX_CIDR_ADDRESSES`].
pub fn cidr_addresses(cidr: &str) -> Result<Vec<String>, StoreError> {
    let bad = |why: &str| StoreError::Invalid(format!("CIDR block {cidr:?}: {why}"));
    let (addr, bits) = cidr
        .trim()
        .split_once('/')
        .ok_or_else(|| bad("no /prefix"))?;
    let ip: IpAddr = addr.parse().map_err(|_| bad("not an IP address"))?;
    let bits: u32 = bits.parse().map_err(|_| bad("prefix is not a number"))?;
    let width = if ip.is_ipv4() { 32 } else { 128 };
    if bits > width {
        return Err(bad("prefix is longer than the address"));
    }
    let host_bits = width - bits;
    let count: u128 = 1u128.checked_shl(host_bits).unwrap_or(u128::MAX);
    if count > MAX_CIDR_ADDRESSES {
        return Err(bad(&format!(
            "holds {count} addresses; at most {MAX_CIDR_ADDRESSES} (/{} for IPv4) are searched from the index",
            32 - MAX_CIDR_ADDRESSES.trailing_zeros()
        )));
    }
    let out = match ip {
        IpAddr::V4(v4) => {
            let mask = if host_bits == 32 {
                0
            } else {
                u32::MAX << host_bits
            };
            let base = u32::from(v4) & mask;
            (0..count as u32)
                .map(|i| std::net::Ipv4Addr::from(base + i).to_string())
                .collect()
        }
        IpAddr::V6(v6) => {
            let mask = if host_bits == 128 {
                0
            } else {
                u128::MAX << host_bits
            };
            let base = u128::from(v6) & mask;
            (0..count)
                .map(|i| std::net::Ipv6Addr::from(base + i).to_string())
                .collect()
        }
    };
    Ok(out)
}

/// Deflate at the fastest level: records are small and indexing speed matters more than the
/// last few percent of space.
fn compress(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::DeflateEncoder::new(
        Vec::with_capacity(bytes.len() / 2 + 16),
        flate2::Compression::fast(),
    );
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(bytes);
    enc.finish().unwrap_or_default()
}

fn decompress(bytes: &[u8], offset: u64) -> Result<String, StoreError> {
    let mut out = String::new();
    flate2::read::DeflateDecoder::new(bytes)
        .read_to_string(&mut out)
        .map_err(|e| {
            StoreError::Invalid(format!(
                "indexed record at log offset {offset} is unreadable: {e}"
            ))
        })?;
    Ok(out)
}

enum Arg {
    I64(i64),
    Str(String),
}

/// A statement built piece by piece with `$n` placeholders numbered as it grows.
#[derive(Default)]
struct Sql {
    text: String,
    args: Vec<Arg>,
}

impl Sql {
    fn push(&mut self, s: &str) -> &mut Self {
        self.text.push_str(s);
        self
    }
    fn int(&mut self, v: i64) -> &mut Self {
        self.args.push(Arg::I64(v));
        let n = self.args.len();
        self.text.push_str(&format!("${n}"));
        self
    }
    fn str(&mut self, v: &str) -> &mut Self {
        self.args.push(Arg::Str(v.to_string()));
        let n = self.args.len();
        self.text.push_str(&format!("${n}"));
        self
    }
    fn query(&self) -> sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments<'_>> {
        let mut q = sqlx::query(&self.text);
        for a in &self.args {
            q = match a {
                Arg::I64(v) => q.bind(*v),
                Arg::Str(s) => q.bind(s.as_str()),
            };
        }
        q
    }
}

/// `(o.kind = .. AND o.value = ..) OR …` for the observable part of a query.
fn observable_condition(sql: &mut Sql, alias: &str, pairs: &[(String, String)]) {
    // Group by kind so that a CIDR block becomes `kind = 'ip' AND value IN (…)`.
    let mut by_kind: Vec<(&str, Vec<&str>)> = Vec::new();
    for (k, v) in pairs {
        match by_kind.iter_mut().find(|(kk, _)| *kk == k.as_str()) {
            Some((_, vs)) => vs.push(v),
            None => by_kind.push((k, vec![v])),
        }
    }
    sql.push("(");
    for (i, (kind, values)) in by_kind.iter().enumerate() {
        if i > 0 {
            sql.push(" OR ");
        }
        sql.push(&format!("({alias}.kind = ")).str(kind);
        if values.len() == 1 {
            sql.push(&format!(" AND {alias}.value = ")).str(values[0]);
        } else {
            sql.push(&format!(" AND {alias}.value IN ("));
            for (j, v) in values.iter().enumerate() {
                if j > 0 {
                    sql.push(", ");
                }
                sql.str(v);
            }
            sql.push(")");
        }
        sql.push(")");
    }
    sql.push(")");
}

/// The (kind, value) pairs an observable query stands for.
fn resolve(o: &ObservableQuery) -> Result<Vec<(String, String)>, StoreError> {
    let invalid = |why: String| StoreError::Invalid(why);
    match o.kind.as_deref() {
        Some("ip") | None
            if o.value
                .split_once('/')
                .is_some_and(|(a, _)| a.trim().parse::<IpAddr>().is_ok()) =>
        {
            Ok(cidr_addresses(&o.value)?
                .into_iter()
                .map(|a| ("ip".to_string(), a))
                .collect())
        }
        Some(kind) => {
            if !OBSERVABLE_KINDS.contains(&kind) {
                return Err(invalid(format!(
                    "observable kind {kind:?}; expected one of {}",
                    OBSERVABLE_KINDS.join(", ")
                )));
            }
            let v = normalise(kind, &o.value).ok_or_else(|| {
                invalid(format!("{:?} is not a valid {kind} observable", o.value))
            })?;
            Ok(vec![(kind.to_string(), v)])
        }
        None => {
            let c = candidates(&o.value);
            if c.is_empty() {
                return Err(invalid(format!(
                    "{:?} is not an IP, domain, URL, hash, user or e-mail address",
                    o.value
                )));
            }
            Ok(c)
        }
    }
}

struct Candidate {
    hit: SearchHit,
    body: Vec<u8>,
}

impl Candidate {
    fn cursor(&self) -> Cursor {
        Cursor {
            time_ms: self.hit.time_ms,
            offset: self.hit.offset,
        }
    }
}

/// Time range, organisations and the page position, on the table aliased `t`.
fn time_org_cursor(sql: &mut Sql, t: &str, q: &SearchQuery, cursor: Option<Cursor>) {
    sql.push(&format!("{t}.event_time >= ")).int(q.from_ms);
    sql.push(&format!(" AND {t}.event_time < ")).int(q.to_ms);
    if !q.orgs.is_empty() {
        sql.push(&format!(" AND {t}.org_code IN ("));
        for (i, o) in q.orgs.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.str(o);
        }
        sql.push(")");
    }
    if let Some(c) = cursor {
        sql.push(&format!(" AND ({t}.event_time < "))
            .int(c.time_ms)
            .push(&format!(" OR ({t}.event_time = "))
            .int(c.time_ms)
            .push(&format!(" AND {t}.log_offset < "))
            .int(c.offset as i64)
            .push("))");
    }
}

fn candidate_from_row(
    row: &AnyRow,
    matched: Option<(String, String)>,
) -> Result<Candidate, StoreError> {
    let offset = row.try_get::<i64, _>("log_offset")?.max(0) as u64;

    Ok(Candidate {
        hit: SearchHit {
            offset,
            org: row.try_get("org_code")?,
            time_ms: row.try_get("event_time")?,
            received_at_ms: row.try_get("received_at")?,
            host: row.try_get("host")?,
            class: row.try_get("class")?,
            format: row.try_get("format")?,
            parsed: row.try_get::<i64, _>("parsed")? != 0,
            matched,
            record: String::new(),
        },
        body: row.try_get("body")?,
    })
}

impl Store {
    /// Up to `limit` candidates in index order after `cursor`, with the position after the
    /// last index row read and whether the index ran out.
    async fn candidates_page(
        &self,
        q: &SearchQuery,
        pairs: Option<&[(String, String)]>,
        cursor: Option<Cursor>,
        limit: usize,
    ) -> Result<(Vec<Candidate>, Option<Cursor>, bool), StoreError> {
        if let Some(pairs) = pairs {
            return self.observable_candidates(q, pairs, cursor, limit).await;
        }
        let mut sql = Sql::default();
        sql.push("SELECT e.log_offset, e.org_code, e.event_time, e.received_at, e.host, e.class, e.format, e.parsed, e.body FROM search_events e WHERE ");
        time_org_cursor(&mut sql, "e", q, cursor);
        if let Some(h) = &q.host {
            sql.push(" AND e.host = ").str(h);
        }
        if let Some(c) = &q.class {
            sql.push(" AND e.class = ").str(c);
        }
        sql.push(" ORDER BY e.event_time DESC, e.log_offset DESC LIMIT ")
            .int(limit as i64);
        let rows = sql.query().fetch_all(&self.pool).await?;
        let exhausted = rows.len() < limit;
        let out = rows
            .iter()
            .map(|r| candidate_from_row(r, None))
            .collect::<Result<Vec<_>, _>>()?;
        let pos = out.last().map(Candidate::cursor).or(cursor);
        Ok((out, pos, exhausted))
    }

    /// Observable search in two steps: the observable index alone gives the offsets (newest
    /// first), then the events are read by offset. A join lets the planner walk events by time
    /// and probe the observables for each, which is a scan when the value list is long (CIDR).
    async fn observable_candidates(
        &self,
        q: &SearchQuery,
        pairs: &[(String, String)],
        cursor: Option<Cursor>,
        limit: usize,
    ) -> Result<(Vec<Candidate>, Option<Cursor>, bool), StoreError> {
        let mut out: Vec<Candidate> = Vec::new();
        let mut pos = cursor;
        loop {
            let mut sql = Sql::default();
            sql.push("SELECT o.kind, o.value, o.event_time, o.log_offset FROM search_observables o WHERE ");
            observable_condition(&mut sql, "o", pairs);
            sql.push(" AND ");
            time_org_cursor(&mut sql, "o", q, pos);
            sql.push(" ORDER BY o.event_time DESC, o.log_offset DESC LIMIT ")
                .int(limit as i64);
            let rows = sql.query().fetch_all(&self.pool).await?;
            let exhausted = rows.len() < limit;
            let mut found: Vec<(u64, i64, String, String)> = Vec::with_capacity(rows.len());
            for r in &rows {
                let offset = r.try_get::<i64, _>("log_offset")?.max(0) as u64;
                // One event can hold the value under two kinds (a domain that is also a user
                // name); its rows are adjacent in this order.
                if found.last().is_some_and(|l| l.0 == offset) {
                    continue;
                }
                found.push((
                    offset,
                    r.try_get("event_time")?,
                    r.try_get("kind")?,
                    r.try_get("value")?,
                ));
            }
            if let Some(last) = found.last() {
                pos = Some(Cursor {
                    time_ms: last.1,
                    offset: last.0,
                });
            }
            if !found.is_empty() {
                let mut sql = Sql::default();
                sql.push("SELECT e.log_offset, e.org_code, e.event_time, e.received_at, e.host, e.class, e.format, e.parsed, e.body FROM search_events e WHERE e.log_offset IN (");
                for (i, f) in found.iter().enumerate() {
                    if i > 0 {
                        sql.push(", ");
                    }
                    sql.int(f.0 as i64);
                }
                sql.push(")");
                if let Some(h) = &q.host {
                    sql.push(" AND e.host = ").str(h);
                }
                if let Some(c) = &q.class {
                    sql.push(" AND e.class = ").str(c);
                }
                let mut by_offset: HashMap<u64, Candidate> = HashMap::new();
                for r in sql.query().fetch_all(&self.pool).await? {
                    let c = candidate_from_row(&r, None)?;
                    by_offset.insert(c.hit.offset, c);
                }
                for (offset, _, kind, value) in found {
                    if let Some(mut c) = by_offset.remove(&offset) {
                        c.hit.matched = Some((kind, value));
                        out.push(c);
                    }
                }
            }
            if out.len() >= limit {
                out.truncate(limit);
                let pos = out.last().map(Candidate::cursor);
                return Ok((out, pos, false));
            }
            if exhausted {
                return Ok((out, pos, true));
            }
        }
    }

    async fn search_sql(&self, q: &SearchQuery) -> Result<SearchPage, StoreError> {
        if q.from_ms >= q.to_ms {
            return Err(StoreError::Invalid(format!(
                "time range is empty: from {} is not before to {}",
                q.from_ms, q.to_ms
            )));
        }
        let limit = q.limit.clamp(1, 1000);
        let pairs = q.observable.as_ref().map(resolve).transpose()?;
        let needle = q
            .text
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(|t| t.to_lowercase());
        let Some(needle) = needle else {
            let (mut rows, pos, exhausted) = self
                .candidates_page(q, pairs.as_deref(), q.cursor, limit + 1)
                .await?;
            let next_cursor = if rows.len() > limit {
                rows.truncate(limit);
                rows.last().map(Candidate::cursor)
            } else if exhausted {
                None
            } else {
                pos
            };
            let mut hits = Vec::with_capacity(rows.len());
            for c in rows {
                let mut hit = c.hit;
                hit.record = decompress(&c.body, hit.offset)?;
                hits.push(hit);
            }
            return Ok(SearchPage {
                hits,
                next_cursor,
                scanned: 0,
                scan_limited: false,
            });
        };
        // Free text: a bounded scan of the narrowed candidates, page by page, decompressing
        // and matching off the async runtime.
        let budget = q.text_scan_limit.max(1);
        let mut page = SearchPage::default();
        let mut cursor = q.cursor;
        let needle = std::sync::Arc::new(needle);
        loop {
            let want = 500.min(budget - page.scanned as usize).max(1);
            let (rows, pos, exhausted) = self
                .candidates_page(q, pairs.as_deref(), cursor, want)
                .await?;
            let n = needle.clone();
            let matched = tokio::task::spawn_blocking(move || {
                rows.into_iter()
                    .map(|c| {
                        let text = decompress(&c.body, c.hit.offset)?;
                        let cur = Cursor {
                            time_ms: c.hit.time_ms,
                            offset: c.hit.offset,
                        };
                        let hit = text.to_lowercase().contains(n.as_str()).then(|| {
                            let mut hit = c.hit;
                            hit.record = text;
                            hit
                        });
                        Ok((cur, hit))
                    })
                    .collect::<Result<Vec<_>, StoreError>>()
            })
            .await
            .map_err(|e| StoreError::Invalid(format!("free-text scan failed: {e}")))??;
            for (cur, hit) in matched {
                page.scanned += 1;
                cursor = Some(cur);
                if let Some(h) = hit {
                    page.hits.push(h);
                    if page.hits.len() == limit {
                        page.next_cursor = Some(cur);
                        return Ok(page);
                    }
                }
            }
            if exhausted {
                return Ok(page);
            }
            // Rows the host or class filter dropped still move the scan on.
            cursor = pos.or(cursor);
            if page.scanned as usize >= budget {
                page.scan_limited = true;
                page.next_cursor = cursor;
                return Ok(page);
            }
        }
    }

    async fn insert_events(
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        events: &[IndexedEvent],
    ) -> Result<(), StoreError> {
        // Rows per statement: well under SQLite's and PostgreSQL's bound-parameter limits.
        for chunk in events.chunks(200) {
            let mut q = String::from(
                "INSERT INTO search_events (log_offset, org_code, event_time, received_at, host, class, format, parsed, body) VALUES ",
            );
            for i in 0..chunk.len() {
                let b = i * 9;
                if i > 0 {
                    q.push(',');
                }
                q.push_str(&format!(
                    "(${},${},${},${},${},${},${},${},${})",
                    b + 1,
                    b + 2,
                    b + 3,
                    b + 4,
                    b + 5,
                    b + 6,
                    b + 7,
                    b + 8,
                    b + 9
                ));
            }
            q.push_str(" ON CONFLICT (log_offset) DO NOTHING");
            let bodies: Vec<Vec<u8>> = chunk.iter().map(|e| compress(&e.record)).collect();
            let mut query = sqlx::query(&q);
            for (e, body) in chunk.iter().zip(bodies) {
                query = query
                    .bind(e.offset as i64)
                    .bind(e.org.as_str())
                    .bind(e.time_ms)
                    .bind(e.received_at_ms)
                    .bind(e.host.as_deref())
                    .bind(e.class.as_str())
                    .bind(e.format.as_str())
                    .bind(i64::from(e.parsed))
                    .bind(body);
            }
            query.execute(&mut **tx).await?;
        }
        let obs: Vec<(&IndexedEvent, &str, &str)> = events
            .iter()
            .flat_map(|e| {
                e.observables
                    .iter()
                    .map(move |(k, v)| (e, k.as_str(), v.as_str()))
            })
            .collect();
        for chunk in obs.chunks(400) {
            let mut q = String::from(
                "INSERT INTO search_observables (kind, value, event_time, log_offset, org_code) VALUES ",
            );
            for i in 0..chunk.len() {
                let b = i * 5;
                if i > 0 {
                    q.push(',');
                }
                q.push_str(&format!(
                    "(${},${},${},${},${})",
                    b + 1,
                    b + 2,
                    b + 3,
                    b + 4,
                    b + 5
                ));
            }
            q.push_str(" ON CONFLICT DO NOTHING");
            let mut query = sqlx::query(&q);
            for (e, k, v) in chunk {
                query = query
                    .bind(*k)
                    .bind(*v)
                    .bind(e.time_ms)
                    .bind(e.offset as i64)
                    .bind(e.org.as_str());
            }
            query.execute(&mut **tx).await?;
        }
        Ok(())
    }

    /// Events in the index (all organisations).
    pub async fn indexed_event_count(&self) -> Result<u64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM search_events")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<i64, _>("n")?.max(0) as u64)
    }

    /// Removes events (and their observables) older than `cutoff`: of `org` only, or of
    /// every organisation except `excluded`.
    async fn delete_older(
        &self,
        org: Option<&str>,
        excluded: &[&String],
        cutoff: i64,
    ) -> Result<u64, StoreError> {
        // Observables first, found through the events they belong to.
        let mut cond = Sql::default();
        cond.push("event_time < ").int(cutoff);
        if let Some(code) = org {
            cond.push(" AND org_code = ").str(code);
        } else if !excluded.is_empty() {
            cond.push(" AND org_code NOT IN (");
            for (i, o) in excluded.iter().enumerate() {
                if i > 0 {
                    cond.push(", ");
                }
                cond.str(o);
            }
            cond.push(")");
        }
        let mut tx = self.pool.begin().await?;
        let del_obs = Sql {
            text: format!(
                "DELETE FROM search_observables WHERE log_offset IN (SELECT log_offset FROM search_events WHERE {})",
                cond.text
            ),
            args: clone_args(&cond.args),
        };
        del_obs.query().execute(&mut *tx).await?;
        let del_ev = Sql {
            text: format!("DELETE FROM search_events WHERE {}", cond.text),
            args: clone_args(&cond.args),
        };
        let n = del_ev.query().execute(&mut *tx).await?.rows_affected();
        tx.commit().await?;
        Ok(n)
    }
}

fn clone_args(args: &[Arg]) -> Vec<Arg> {
    args.iter()
        .map(|a| match a {
            Arg::I64(v) => Arg::I64(*v),
            Arg::Str(s) => Arg::Str(s.clone()),
        })
        .collect()
}

#[async_trait::async_trait]
impl EventIndex for Store {
    async fn indexed_offset(&self, consumer: &str) -> Result<u64, StoreError> {
        self.consumer_offset(consumer).await
    }

    async fn index_batch(
        &self,
        consumer: &str,
        events: &[IndexedEvent],
        next_offset: u64,
    ) -> Result<(), StoreError> {
        let mut tx = match self.backend {
            // Immediate: the batch writes, and a deferred SQLite transaction would fail with
            // SQLITE_BUSY instead of waiting when detection commits at the same moment.
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        Self::insert_events(&mut tx, events).await?;
        sqlx::query(
            "INSERT INTO consumer_offsets (consumer, next_offset, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (consumer) DO UPDATE SET next_offset = excluded.next_offset, updated_at = excluded.updated_at",
        )
        .bind(consumer)
        .bind(next_offset as i64)
        .bind(ward_model::clock::now_ms())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn search(&self, q: &SearchQuery) -> Result<SearchPage, StoreError> {
        self.search_sql(q).await
    }

    async fn retro_search(
        &self,
        observables: &[(String, String)],
        lookback_days: u32,
        now_ms: i64,
        max_hits: usize,
    ) -> Result<Vec<RetroHit>, StoreError> {
        let pairs: Vec<(String, String)> = observables
            .iter()
            .filter_map(|(k, v)| normalise(k, v).map(|n| (k.clone(), n)))
            .collect();
        let since = now_ms - i64::from(lookback_days) * DAY_MS;
        let mut out = Vec::new();
        // Chunks keep each statement's parameters bounded; each pair is an index range.
        for chunk in pairs.chunks(250) {
            if out.len() >= max_hits {
                break;
            }
            let mut sql = Sql::default();
            sql.push("SELECT o.kind, o.value, o.event_time, o.log_offset, o.org_code FROM search_observables o WHERE ");
            observable_condition(&mut sql, "o", chunk);
            sql.push(" AND o.event_time >= ").int(since);
            sql.push(" AND o.event_time <= ").int(now_ms);
            sql.push(" ORDER BY o.event_time DESC, o.log_offset DESC LIMIT ")
                .int((max_hits - out.len()) as i64);
            for row in sql.query().fetch_all(&self.pool).await? {
                out.push(RetroHit {
                    kind: row.try_get("kind")?,
                    value: row.try_get("value")?,
                    time_ms: row.try_get("event_time")?,
                    offset: row.try_get::<i64, _>("log_offset")?.max(0) as u64,
                    org: row.try_get("org_code")?,
                });
            }
        }
        out.sort_by_key(|h| std::cmp::Reverse((h.time_ms, h.offset)));
        out.truncate(max_hits);
        Ok(out)
    }

    async fn prune(
        &self,
        default_days: u32,
        per_org: &HashMap<String, u32>,
        now_ms: i64,
    ) -> Result<u64, StoreError> {
        let mut removed = 0;
        let mut listed: Vec<&String> = per_org.keys().collect();
        listed.sort();
        for org in &listed {
            let days = per_org.get(*org).copied().unwrap_or(default_days);
            removed += self
                .delete_older(Some(org.as_str()), &[], now_ms - i64::from(days) * DAY_MS)
                .await?;
        }
        removed += self
            .delete_older(None, &listed, now_ms - i64::from(default_days) * DAY_MS)
            .await?;
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_normalise_like_the_model() {
        assert_eq!(normalise("ip", " 10.0.0.1 ").as_deref(), Some("10.0.0.1"));
        assert_eq!(
            normalise("ip", "2001:DB8::1").as_deref(),
            Some("2001:db8::1")
        );
        assert_eq!(normalise("ip", "nope"), None);
        assert_eq!(
            normalise("domain", "Evil.Example.COM.").as_deref(),
            Some("evil.example.com")
        );
        assert_eq!(normalise("hash", "ABC"), None);
        assert_eq!(normalise("user", "CORP\\alice").as_deref(), Some("alice"));
    }

    #[test]
    fn any_kind_candidates() {
        assert_eq!(
            candidates("10.0.0.1"),
            vec![("ip".into(), "10.0.0.1".into())]
        );
        let md5 = "d41d8cd98f00b204e9800998ecf8427e".to_ascii_uppercase();
        assert!(candidates(&md5).contains(&("hash".into(), md5.to_ascii_lowercase())));
        let c = candidates("evil.example");
        assert!(c.contains(&("domain".into(), "evil.example".into())));
    }

    #[test]
    fn cidr_blocks_expand_or_are_refused() {
        let a = cidr_addresses("192.0.2.7/30").unwrap();
        assert_eq!(a, vec!["192.0.2.4", "192.0.2.5", "192.0.2.6", "192.0.2.7"]);
        assert_eq!(cidr_addresses("10.0.0.0/20").unwrap().len(), 4096);
        let err = cidr_addresses("10.0.0.0/8").unwrap_err().to_string();
        assert!(err.contains("16777216"), "{err}");
        assert!(cidr_addresses("10.0.0.0/33").is_err());
        assert_eq!(cidr_addresses("2001:db8::/126").unwrap().len(), 4);
    }

    #[test]
    fn cursors_round_trip() {
        let c = Cursor {
            time_ms: 1_700_000_000_000,
            offset: 42,
        };
        assert_eq!(c.to_string().parse::<Cursor>().unwrap(), c);
        assert!("x.1".parse::<Cursor>().is_err());
    }

    #[test]
    fn records_survive_compression() {
        let text = br#"{"src_ip":"10.0.0.1","msg":"hello"}"#;
        assert_eq!(
            decompress(&compress(text), 0).unwrap().as_bytes(),
            &text[..]
        );
        assert!(decompress(b"not deflate", 3).is_err());
    }
}
