//! Threat intelligence wired into the server: who may read what (TLP × distribution ×
//! role, via `ward_intel::policy`), publishing indicators (store, live matcher,
//! retro-hunt), observables of events, and the live matcher the detection consumer checks
//! every event against.
//!
//! ```text
//!  API / TAXII POST / feeds ──► publish() ──► store (intel_objects, intel_indicators)
//!                                   │
//!                                   ├─► refresh(): LiveIndex.upsert (seen by detection at once)
//!                                   └─► retro-hunt over the last N days (RetroSearch)
//! ```

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

use serde_json::Value;
use tokio::sync::Notify;
use uuid::Uuid;
use ward_alerting::{IncidentGrouper, RuleHit};
use ward_config::IntelConfig;
use ward_eventlog::EventLog;
use ward_intel::decay::DecayConfig;
use ward_intel::feeds::IndicatorRecord;
use ward_intel::index::{IndexEntry, IndicatorIndex, IndicatorMeta, LiveIndex};
use ward_intel::observable::{Observable, ObservableKind};
use ward_intel::policy::{effective_distribution, AccessMeta, Distribution, Role, Viewer};
use ward_intel::stix::Timestamp;
use ward_intel::tlp::Tlp;
use ward_intel::warninglist::Warninglists;
use ward_model::clock::now_ms;
use ward_model::Level;
use ward_storage::intel::{
    IntelAccess, IntelReader, NewIntelObject, StoredIndicator, UpsertCounts,
};
use ward_storage::Store;
use ward_telemetry::{Counter, Registry};

use crate::auth::Principal;
use crate::error::ApiError;

/// The TAXII API root and the collection everything published lands in.
pub const API_ROOT: &str = "api";
pub const DEFAULT_COLLECTION: &str = "365fed99-08fa-fdcd-a1b3-fb247eb41d01";
pub const DEFAULT_COLLECTION_ALIAS: &str = "indicators";

// ---- access ----

pub fn tlp_rank(t: Tlp) -> i64 {
    match t {
        Tlp::Clear => 0,
        Tlp::Green => 1,
        Tlp::Amber => 2,
        Tlp::AmberStrict => 3,
        Tlp::Red => 4,
    }
}

pub fn tlp_from_rank(r: i64) -> Tlp {
    match r {
        0 => Tlp::Clear,
        1 => Tlp::Green,
        2 => Tlp::Amber,
        3 => Tlp::AmberStrict,
        _ => Tlp::Red,
    }
}

fn dist_parts(d: Distribution) -> (i64, Option<i64>) {
    match d {
        Distribution::SharingGroup(g) => (4, Some(g.min(i64::MAX as u64) as i64)),
        other => (other.misp_level() as i64, None),
    }
}

fn dist_from_parts(level: i64, group: Option<i64>) -> Distribution {
    Distribution::from_misp(level.clamp(0, 4) as u8, group.map(|g| g.max(0) as u64))
        .unwrap_or(Distribution::OwnOrg)
}

/// Parses `own_org`, `community`, `connected`, `all` or `sharing_group:<n>`.
pub fn parse_distribution(s: &str) -> Option<Distribution> {
    let t = s.trim().to_ascii_lowercase().replace('-', "_");
    Some(match t.as_str() {
        "own_org" | "0" => Distribution::OwnOrg,
        "community" | "1" => Distribution::Community,
        "connected" | "2" => Distribution::Connected,
        "all" | "3" => Distribution::All,
        other => Distribution::SharingGroup(other.strip_prefix("sharing_group:")?.parse().ok()?),
    })
}

pub fn distribution_name(d: Distribution) -> String {
    match d {
        Distribution::OwnOrg => "own_org".into(),
        Distribution::Community => "community".into(),
        Distribution::Connected => "connected".into(),
        Distribution::All => "all".into(),
        Distribution::SharingGroup(g) => format!("sharing_group:{g}"),
    }
}

/// The stored access facts of something `owner` publishes.
pub fn access(owner: &str, community: &str, tlp: Tlp, d: Distribution) -> IntelAccess {
    let (distribution, sharing_group) = dist_parts(d);
    let (eff, _) = dist_parts(effective_distribution(tlp, d));
    IntelAccess {
        owner_org: owner.to_string(),
        tlp: tlp_rank(tlp),
        distribution,
        sharing_group,
        eff_distribution: eff,
        community: community.to_string(),
        connected: Vec::new(),
    }
}

pub fn access_meta(a: &IntelAccess) -> AccessMeta {
    AccessMeta {
        owner_org: a.owner_org.clone(),
        tlp: tlp_from_rank(a.tlp),
        distribution: dist_from_parts(a.distribution, a.sharing_group),
        community: a.community.clone(),
        connected: a.connected.clone(),
    }
}

/// A caller as the intelligence policy sees it.
#[derive(Debug, Clone)]
pub struct IntelCaller {
    pub principal: Principal,
    pub viewer: Viewer,
    pub reader: IntelReader,
    /// The organisation publications are recorded under.
    pub owner: String,
    /// The owner's community (its region).
    pub community: String,
}

impl IntelCaller {
    pub fn role(&self) -> Role {
        self.viewer.role
    }

    /// Organisation leads, member systems and central analysts publish; viewers read.
    pub fn may_publish(&self) -> bool {
        self.viewer.role != Role::OrgViewer
    }

    /// Where a publication goes when the caller does not say: the national centre to
    /// everyone, a member to its community.
    pub fn default_distribution(&self) -> Distribution {
        if self.viewer.role == Role::CentralAnalyst {
            Distribution::All
        } else {
            Distribution::Community
        }
    }

    pub fn access(&self, tlp: Tlp, d: Distribution) -> IntelAccess {
        access(&self.owner, &self.community, tlp, d)
    }
}

/// Resolves a principal into its intelligence identity (one query for its region).
pub async fn caller(
    store: &Store,
    cfg: &IntelConfig,
    principal: Principal,
) -> Result<IntelCaller, ApiError> {
    let (role, org) = match &principal {
        Principal::Member { org, .. } => (Role::MemberSystem, Some(org.clone())),
        Principal::Person(u) => (
            match u.role {
                ward_model::Role::CentralAnalyst => Role::CentralAnalyst,
                ward_model::Role::OrgLead => Role::OrgLead,
                ward_model::Role::OrgViewer => Role::OrgViewer,
            },
            u.org_code.clone(),
        ),
    };
    let (owner, community) = match &org {
        Some(code) => {
            let region = store
                .get_org(code)
                .await?
                .map(|o| o.region)
                .unwrap_or_default();
            (code.to_string(), region)
        }
        None => (cfg.national_org.clone(), String::new()),
    };
    let communities: Vec<String> = if community.is_empty() {
        Vec::new()
    } else {
        vec![community.clone()]
    };
    let viewer = Viewer {
        role,
        org: if org.is_some() {
            owner.clone()
        } else {
            String::new()
        },
        communities: communities.clone(),
        sharing_groups: Vec::new(),
    };
    let reader = IntelReader {
        central: role == Role::CentralAnalyst,
        org: viewer.org.clone(),
        lead: role == Role::OrgLead,
        machine: role == Role::MemberSystem,
        communities,
        sharing_groups: Vec::new(),
    };
    Ok(IntelCaller {
        principal,
        viewer,
        reader,
        owner,
        community,
    })
}

// ---- records ----

pub fn to_stored(r: &IndicatorRecord, a: &IntelAccess) -> StoredIndicator {
    StoredIndicator {
        indicator_id: r.id.clone(),
        kind: r.observable.kind().as_str().to_string(),
        value: r.observable.value(),
        name: r.name.clone(),
        description: r.description.clone(),
        labels: r.labels.clone(),
        access: a.clone(),
        confidence: r.confidence as i64,
        valid_from: r.valid_from.0.timestamp_millis(),
        valid_until: r.valid_until.map(|t| t.0.timestamp_millis()),
        source: r.source.clone(),
        last_seen: r.last_seen.map(|t| t.0.timestamp_millis()),
        sightings: r.sightings as i64,
        false_positives: r.false_positives as i64,
        date_added: 0,
        updated_at: 0,
    }
}

fn ts_ms(ms: i64) -> Timestamp {
    Timestamp(chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default())
}

pub fn kind_from_str(s: &str) -> Option<ObservableKind> {
    ObservableKind::ALL
        .iter()
        .copied()
        .find(|k| k.as_str() == s)
}

/// The record back; `None` (and a log line) when the stored value no longer parses.
pub fn from_stored(s: &StoredIndicator) -> Option<IndicatorRecord> {
    let kind = kind_from_str(&s.kind)?;
    let observable = match Observable::parse(kind, &s.value) {
        Ok(o) => o,
        Err(e) => {
            tracing::error!(indicator = %s.indicator_id, error = %e, "stored indicator value does not parse");
            return None;
        }
    };
    let mut r = IndicatorRecord::with_id(
        s.indicator_id.clone(),
        observable,
        &s.source,
        ts_ms(s.valid_from),
    );
    r.name = s.name.clone();
    r.description = s.description.clone();
    r.tlp = tlp_from_rank(s.access.tlp);
    r.distribution = dist_from_parts(s.access.distribution, s.access.sharing_group);
    r.confidence = s.confidence.clamp(0, 100) as u8;
    r.valid_until = s.valid_until.map(ts_ms);
    r.labels = s.labels.clone();
    r.last_seen = s.last_seen.map(ts_ms);
    r.sightings = s.sightings.clamp(0, u32::MAX as i64) as u32;
    r.false_positives = s.false_positives.clamp(0, u32::MAX as i64) as u32;
    Some(r)
}

/// The STIX object versions to store for a publication: the objects given, or (for
/// values from CSV, MISP, freetext) indicators built from the records.
pub fn new_object(v: &Value, a: &IntelAccess) -> Option<NewIntelObject> {
    let id = v.get("id")?.as_str()?.to_string();
    let type_ = v.get("type")?.as_str()?.to_string();
    let version = v
        .get("modified")
        .or_else(|| v.get("created"))
        .and_then(Value::as_str)
        .map(String::from)
        .unwrap_or_else(|| Timestamp::now().to_stix());
    let version_ms = Timestamp::parse(&version).ok()?.0.timestamp_millis();
    Some(NewIntelObject {
        stix_id: id,
        stix_type: type_,
        spec_version: v
            .get("spec_version")
            .and_then(Value::as_str)
            .unwrap_or("2.1")
            .to_string(),
        version,
        version_ms,
        access: a.clone(),
        object: v.to_string(),
    })
}

// ---- the live matcher ----

/// What a hit reports about the indicator behind it.
#[derive(Debug, Clone)]
pub struct IocInfo {
    pub id: String,
    pub name: Option<String>,
    pub value: String,
    pub confidence: u8,
    pub tlp: Tlp,
    pub source: String,
    pub owner: String,
}

/// The matcher the pipeline checks events against, kept in step with the store.
pub struct IntelRuntime {
    pub cfg: IntelConfig,
    pub live: LiveIndex,
    pub lists: Warninglists,
    pub decay: DecayConfig,
    info: RwLock<HashMap<Uuid, IocInfo>>,
    /// `date_added` (µs) of the newest indicator row loaded.
    watermark: AtomicI64,
    refresh_lock: tokio::sync::Mutex<()>,
    pub suppressed: Counter,
    pub loaded: Counter,
    pub live_hits: Counter,
    pub retro_hits: Counter,
    pub denied: Counter,
}

impl IntelRuntime {
    pub fn new(cfg: IntelConfig, registry: &Registry) -> Self {
        let mut lists = Warninglists::builtin().unwrap_or_else(|e| {
            tracing::error!(error = %e, "shipped warninglists do not load");
            Warninglists::new()
        });
        if let Some(dir) = &cfg.warninglists_dir {
            match lists.load_dir(dir) {
                Ok(n) => tracing::info!(lists = n, dir = %dir.display(), "warninglists loaded"),
                Err(e) => {
                    tracing::error!(dir = %dir.display(), error = %e, "warninglists not loaded")
                }
            }
        }
        IntelRuntime {
            cfg,
            live: LiveIndex::default(),
            lists,
            decay: DecayConfig::default(),
            info: RwLock::new(HashMap::new()),
            watermark: AtomicI64::new(0),
            refresh_lock: tokio::sync::Mutex::new(()),
            suppressed: registry.counter(
                "ward_intel_indicators_refused_total",
                "Indicator values kept out of matching",
                &[("reason", "warninglisted")],
            ),
            loaded: registry.counter(
                "ward_intel_indicators_loaded_total",
                "Indicator values loaded into the live matcher",
                &[],
            ),
            live_hits: registry.counter(
                "ward_intel_matches_total",
                "Events matching an indicator",
                &[("when", "live")],
            ),
            retro_hits: registry.counter(
                "ward_intel_matches_total",
                "Events matching an indicator",
                &[("when", "retro_hunt")],
            ),
            denied: registry.counter(
                "ward_intel_reads_refused_total",
                "Objects the database returned that the TLP/distribution policy refused",
                &[],
            ),
        }
    }

    pub fn info(&self, id: &Uuid) -> Option<IocInfo> {
        self.info
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
    }

    /// Loads indicator rows changed since the last refresh into the live matcher and
    /// returns the records that are new or changed (for the retro-hunt).
    pub async fn refresh(
        &self,
        store: &Store,
    ) -> Result<Vec<IndicatorRecord>, ward_storage::StoreError> {
        let _one = self.refresh_lock.lock().await;
        let mut changed = Vec::new();
        loop {
            let after = self.watermark.load(Ordering::SeqCst);
            let rows = store.indicators_changed_since(after, 10_000).await?;
            let Some(last) = rows.last().map(|r| r.date_added) else {
                break;
            };
            let mut entries = Vec::new();
            let mut revoke = Vec::new();
            {
                let mut info = self.info.write().unwrap_or_else(|p| p.into_inner());
                for row in &rows {
                    let Some(rec) = from_stored(row) else {
                        continue;
                    };
                    match rec.to_index_entry(&self.decay, 0) {
                        Some(e) => {
                            info.insert(
                                e.meta.indicator,
                                IocInfo {
                                    id: rec.id.clone(),
                                    name: rec.name.clone(),
                                    value: rec.observable.value(),
                                    confidence: rec.confidence,
                                    tlp: rec.tlp,
                                    source: rec.source.clone(),
                                    owner: row.access.owner_org.clone(),
                                },
                            );
                            entries.push(e);
                            changed.push(rec);
                        }
                        // A false-positive report takes the whole indicator out of matching.
                        None => revoke.push(rec.uuid()),
                    }
                }
            }
            if !revoke.is_empty() {
                self.live.revoke(&revoke);
            }
            let n = entries.len();
            let report = self.live.upsert(entries, Some(&self.lists));
            self.loaded.add(report.added as u64);
            self.suppressed.add(report.suppressed.len() as u64);
            for (value, list) in &report.suppressed {
                tracing::info!(value = %value, list = %list, "indicator value is on a warninglist; not matched");
            }
            self.watermark.store(last, Ordering::SeqCst);
            if n < 10_000 && rows.len() < 10_000 {
                break;
            }
        }
        Ok(changed)
    }
}

fn level_for(confidence: u8) -> Level {
    match confidence {
        90..=u8::MAX => Level::Critical,
        70..=89 => Level::High,
        40..=69 => Level::Medium,
        _ => Level::Low,
    }
}

/// The detection a hit becomes: rule id `ioc:<indicator id>`, level from the indicator's
/// confidence, the context in the matched fields.
/// The event a hit is about.
pub struct HitEvent {
    pub offset: u64,
    pub org: String,
    pub received_at_ms: i64,
    pub event_json: String,
    pub host: Option<String>,
}

pub fn ioc_hit(
    info: &IocInfo,
    field: &str,
    seen: &Observable,
    matched: &Observable,
    ev: HitEvent,
    retro: bool,
) -> RuleHit {
    // The event's organisation may be outside the indicator's audience: it learns that
    // its own data matched, but the producer's wording only when the TLP allows sharing.
    let label = match (&info.name, info.tlp) {
        (Some(n), t) if t <= Tlp::Amber => n.clone(),
        _ => matched.value(),
    };
    let mut fields = serde_json::json!({
        "field": field,
        "observable": seen.value(),
        "indicator": info.id,
        "indicator_value": matched.value(),
        "confidence": info.confidence,
        "tlp": info.tlp.to_string(),
        "source": info.source,
    });
    if retro {
        fields["seen_before_publication"] = Value::Bool(true);
    }
    RuleHit {
        event_offset: ev.offset,
        org: ev.org,
        received_at_ms: ev.received_at_ms,
        host: ev.host,
        event_json: ev.event_json,
        rule_id: format!("ioc:{}", info.id),
        rule_title: if retro {
            format!("Indicator seen before publication: {label}")
        } else {
            format!("Indicator match: {label}")
        },
        rule_author: Some(info.source.clone()),
        level: level_for(info.confidence),
        tags: {
            let mut t = vec![
                "ioc".to_string(),
                format!("ioc.{}", matched.kind().as_str()),
                format!("tlp.{}", info.tlp.as_str().to_ascii_lowercase()),
            ];
            if retro {
                t.push("retro_hunt".into());
                t.push("seen_before_publication".into());
            }
            t
        },
        matched_fields: fields,
    }
}

/// Checks one event's observables against the live matcher; at most one hit per
/// indicator per event. CPU-bound: runs on the detection consumer's worker threads.
pub fn match_event(
    rt: &IntelRuntime,
    rec: &ward_eventlog::LogRecord,
    event: &Value,
    host: Option<String>,
) -> Vec<RuleHit> {
    let now = now_ms() / 1000;
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (field, o) in event_observables(event) {
        let Some(hit) = rt.live.check(&o, now) else {
            continue;
        };
        if !seen.insert(hit.meta.indicator) {
            continue;
        }
        let Some(info) = rt.info(&hit.meta.indicator) else {
            continue;
        };
        rt.live_hits.inc();
        out.push(ioc_hit(
            &info,
            &field,
            &o,
            &hit.matched,
            HitEvent {
                offset: rec.offset,
                org: rec.org.clone(),
                received_at_ms: rec.received_at_ms,
                event_json: String::from_utf8_lossy(&rec.payload).into_owned(),
                host: host.clone(),
            },
            false,
        ));
    }
    out
}

// ---- observables of events ----

const MAX_OBSERVABLES: usize = 256;
const MAX_STRING: usize = 4096;

/// Every IP, domain, URL (and its host), hash and e-mail address in an event's string
/// values, with the field it came from. Tokens are split on the separators that logs
/// use between values (`Hashes: "SHA256=…,MD5=…"`, command lines, CEF).
pub fn event_observables(event: &Value) -> Vec<(String, Observable)> {
    let mut out = Vec::new();
    let mut dedup = HashSet::new();
    walk(event, &mut String::new(), 0, &mut out, &mut dedup);
    out
}

fn walk(
    v: &Value,
    path: &mut String,
    depth: usize,
    out: &mut Vec<(String, Observable)>,
    dedup: &mut HashSet<String>,
) {
    if depth > 8 || out.len() >= MAX_OBSERVABLES {
        return;
    }
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k);
                walk(v, path, depth + 1, out, dedup);
                path.truncate(len);
            }
        }
        Value::Array(a) => {
            for v in a {
                walk(v, path, depth + 1, out, dedup);
            }
        }
        Value::String(s) if s.len() <= MAX_STRING => {
            let mut push = |o: Observable| {
                if out.len() < MAX_OBSERVABLES && dedup.insert(o.to_string()) {
                    out.push((path.clone(), o));
                }
            };
            let whole = s.trim();
            // A value that is one observable (a URL with a query string) is taken whole;
            // only otherwise is it split into tokens.
            let single = Observable::guess(whole).is_some();
            let tokens: Vec<&str> =
                if !single && whole.contains(|c: char| " ,;=|\t\"'<>()[]".contains(c)) {
                    whole
                        .split(|c: char| " ,;=|\t\"'<>()[]".contains(c))
                        .filter(|t| t.len() >= 4)
                        .take(64)
                        .collect()
                } else {
                    vec![whole]
                };
            for t in tokens {
                let t = t.trim_matches(|c: char| c == '.' || c == ':' || c == '/');
                if let Some(o) = Observable::guess(t) {
                    if let Observable::Url(_) = &o {
                        if let Some(h) = url_host(t).and_then(Observable::guess) {
                            push(h);
                        }
                    }
                    push(o);
                }
            }
        }
        _ => {}
    }
}

fn url_host(u: &str) -> Option<&str> {
    let rest = u.split_once("://")?.1;
    let host = rest.split(['/', '?', '#']).next()?;
    let host = host.rsplit('@').next()?;
    // [v6]:port or host:port
    if let Some(v6) = host.strip_prefix('[') {
        return v6.split(']').next();
    }
    Some(host.split(':').next().unwrap_or(host))
}

// ---- retro-hunt ----

/// One past event that holds one of the observables searched for.
#[derive(Debug, Clone)]
pub struct RetroEvent {
    pub offset: u64,
    pub org: String,
    pub received_at_ms: i64,
    pub event_json: String,
    pub field: String,
    /// The event's value.
    pub seen: Observable,
    /// Index into the searched observables.
    pub matched: usize,
}

/// Finds past events holding any of `observables` (networks match the addresses inside
/// them, domains their subdomains) within the last `days`. The event search index
/// implements it once merged; [`LogScan`] is the fallback that reads the event log.
pub trait RetroSearch: Send + Sync {
    fn retro_search(
        &self,
        observables: &[Observable],
        days: u32,
    ) -> Result<Vec<RetroEvent>, String>;
}

/// Scans the event log over the window. Linear in the window's events: fine for the
/// single node and tests; the event index answers the same question from an index.
pub struct LogScan {
    pub log: Arc<dyn EventLog>,
}

impl RetroSearch for LogScan {
    fn retro_search(
        &self,
        observables: &[Observable],
        days: u32,
    ) -> Result<Vec<RetroEvent>, String> {
        if observables.is_empty() || days == 0 {
            return Ok(Vec::new());
        }
        let index =
            IndicatorIndex::build(observables.iter().enumerate().map(|(i, o)| IndexEntry {
                observable: o.clone(),
                meta: IndicatorMeta::new(Uuid::from_u128(i as u128), i64::MIN),
            }));
        let from_ms = now_ms() - days as i64 * 86_400_000;
        let mut reader = self.log.reader(0).map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        let now = now_ms() / 1000;
        loop {
            let batch = reader.read_batch(4096).map_err(|e| e.to_string())?;
            if batch.is_empty() {
                break;
            }
            for rec in &batch {
                if rec.received_at_ms < from_ms {
                    continue;
                }
                let Ok(event) = serde_json::from_slice::<Value>(&rec.payload) else {
                    continue;
                };
                let mut seen = HashSet::new();
                for (field, o) in event_observables(&event) {
                    if let Some(hit) = index.check(&o, now) {
                        let i = hit.meta.indicator.as_u128() as usize;
                        if seen.insert(i) {
                            out.push(RetroEvent {
                                offset: rec.offset,
                                org: rec.org.clone(),
                                received_at_ms: rec.received_at_ms,
                                event_json: String::from_utf8_lossy(&rec.payload).into_owned(),
                                field,
                                seen: o,
                                matched: i,
                            });
                        }
                    }
                }
            }
        }
        Ok(out)
    }
}

/// What publishing did.
#[derive(Debug, Default, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct PublishReport {
    pub objects_added: u64,
    pub objects_already_stored: u64,
    pub indicators_added: u64,
    pub indicators_updated: u64,
    pub indicators_unchanged: u64,
    /// Values refused (pattern outside the subset, invalid values, …) with why.
    pub skipped: Vec<String>,
    /// Values on a warninglist: stored, but not matched.
    pub warninglisted: Vec<String>,
    /// Past events found by the retro-hunt (incidents opened or extended).
    pub retro_hunt_hits: u64,
}

/// Everything publishing needs.
#[derive(Clone)]
pub struct Publisher {
    pub store: Store,
    pub runtime: Arc<IntelRuntime>,
    pub retro: Arc<dyn RetroSearch>,
    pub grouper: Arc<IncidentGrouper>,
    pub dispatcher_wake: Arc<Notify>,
}

impl Publisher {
    /// Stores objects and indicator values, loads them into the live matcher, and runs
    /// the retro-hunt for the new values. Returns once all of it is done, so a caller
    /// that got a 2xx can rely on matching being live.
    pub async fn publish(
        &self,
        objects: &[Value],
        records: &[IndicatorRecord],
        object_access: impl Fn(&Value) -> IntelAccess,
        record_access: impl Fn(&IndicatorRecord) -> IntelAccess,
    ) -> Result<PublishReport, ApiError> {
        let mut report = PublishReport::default();
        let mut new_objects = Vec::new();
        for o in objects {
            match new_object(o, &object_access(o)) {
                Some(n) => new_objects.push(n),
                None => report.skipped.push(format!(
                    "object {} lacks id, type or a valid modified/created",
                    o.get("id").and_then(Value::as_str).unwrap_or("?")
                )),
            }
        }
        if !new_objects.is_empty() {
            for out in self
                .store
                .add_intel_objects(DEFAULT_COLLECTION, &new_objects)
                .await?
            {
                match out {
                    ward_storage::intel::ObjectOutcome::Added => report.objects_added += 1,
                    ward_storage::intel::ObjectOutcome::AlreadyStored => {
                        report.objects_already_stored += 1
                    }
                }
            }
        }
        for r in records {
            if let Some(list) = self.runtime.lists.check(&r.observable) {
                report
                    .warninglisted
                    .push(format!("{} ({list})", r.observable));
            }
        }
        let stored: Vec<StoredIndicator> = records
            .iter()
            .map(|r| to_stored(r, &record_access(r)))
            .collect();
        let UpsertCounts {
            added,
            updated,
            unchanged,
            changed,
        } = self.store.upsert_indicators(&stored).await?;
        report.indicators_added = added;
        report.indicators_updated = updated;
        report.indicators_unchanged = unchanged;
        self.runtime.refresh(&self.store).await?;
        // Only what is new or changed is hunted for; a feed re-pulling the same values
        // does not rescan the past.
        let fresh: Vec<IndicatorRecord> = changed
            .into_iter()
            .filter_map(|i| records.get(i).cloned())
            .collect();
        report.retro_hunt_hits = self.retro_hunt(&fresh).await;
        Ok(report)
    }

    /// Searches past events for `records` and opens (or extends) an incident per hit,
    /// marked "seen before publication". Returns the number of hits.
    pub async fn retro_hunt(&self, records: &[IndicatorRecord]) -> u64 {
        let days = self.runtime.cfg.retro_hunt_days;
        if records.is_empty() || days == 0 {
            return 0;
        }
        let listed: Vec<&IndicatorRecord> = records
            .iter()
            .filter(|r| r.false_positives == 0 && self.runtime.lists.check(&r.observable).is_none())
            .collect();
        let observables: Vec<Observable> = listed.iter().map(|r| r.observable.clone()).collect();
        let retro = self.retro.clone();
        let found =
            match tokio::task::spawn_blocking(move || retro.retro_search(&observables, days)).await
            {
                Ok(Ok(f)) => f,
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "retro-hunt failed");
                    return 0;
                }
                Err(e) => {
                    tracing::error!(error = %e, "retro-hunt task failed");
                    return 0;
                }
            };
        if found.is_empty() {
            return 0;
        }
        let mut hits = Vec::new();
        for ev in found {
            let Some(rec) = listed.get(ev.matched) else {
                continue;
            };
            let info = match self.runtime.info(&rec.uuid()) {
                Some(i) => i,
                None => continue,
            };
            let host = serde_json::from_str::<Value>(&ev.event_json)
                .ok()
                .and_then(|v| crate::pipeline::event_host(&v));
            hits.push(ioc_hit(
                &info,
                &ev.field,
                &ev.seen,
                &rec.observable,
                HitEvent {
                    offset: ev.offset,
                    org: ev.org,
                    received_at_ms: ev.received_at_ms,
                    event_json: ev.event_json,
                    host,
                },
                true,
            ));
        }
        let n = hits.len() as u64;
        match self.commit_hits(&hits).await {
            Ok(queued) => {
                self.runtime.retro_hits.add(n);
                if queued > 0 {
                    self.dispatcher_wake.notify_one();
                }
                n
            }
            Err(e) => {
                tracing::error!(error = %e, "retro-hunt hits not recorded");
                0
            }
        }
    }

    async fn commit_hits(&self, hits: &[RuleHit]) -> Result<usize, ward_alerting::AlertingError> {
        let mut tx = self.store.begin_detection_tx().await?;
        let now = now_ms();
        let mut queued = 0;
        for hit in hits {
            queued += self.grouper.apply(&mut tx, hit, now).await?.messages_queued;
        }
        tx.commit().await?;
        Ok(queued)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn observables_come_from_any_field_and_token() {
        let ev = json!({
            "destination": {"ip": "203.0.113.9", "domain": "cdn.evil.example"},
            "url": {"full": "http://login.evil.example:8080/x?y=1"},
            "Hashes": "SHA256=E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855,MD5=D41D8CD98F00B204E9800998ECF8427E",
            "n": 5
        });
        let got: Vec<String> = event_observables(&ev)
            .into_iter()
            .map(|(f, o)| format!("{f}={}", o.value()))
            .collect();
        let has = |s: &str| got.iter().any(|g| g.contains(s));
        assert!(has("destination.ip=203.0.113.9"), "{got:?}");
        assert!(has("destination.domain=cdn.evil.example"), "{got:?}");
        assert!(has("url.full=login.evil.example"), "{got:?}");
        assert!(
            has("url.full=http://login.evil.example:8080/x?y=1"),
            "{got:?}"
        );
        assert!(
            has("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
            "{got:?}"
        );
        assert!(has("d41d8cd98f00b204e9800998ecf8427e"), "{got:?}");
    }

    #[test]
    fn distribution_names_round_trip() {
        for d in [
            Distribution::OwnOrg,
            Distribution::Community,
            Distribution::Connected,
            Distribution::All,
            Distribution::SharingGroup(7),
        ] {
            assert_eq!(parse_distribution(&distribution_name(d)), Some(d));
        }
        assert_eq!(parse_distribution("everyone"), None);
    }
}
