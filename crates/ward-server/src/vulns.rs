//! Members' estates against vulnerability records: KEV, NVD (configurations with version
//! ranges), OSV and CSAF records are stored as pulled and held in memory as one
//! `ward_intel::estate::VulnDb`, rebuilt off the async runtime after every pull; exposures are
//! computed on request from the stored assets. A KEV pull that adds entries produces one
//! draft advisory request per new entry, targeted at exactly the exposed members, through
//! [`AdvisoryDrafts`].

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::watch;
use ward_config::VulnsConfig;
use ward_intel::estate::{Asset, Exposure, MatchConfidence, VulnDb};
use ward_intel::feeds::csaf::CsafAdvisory;
use ward_intel::feeds::kev::KevCatalog;
use ward_intel::feeds::nvd::{CveRecord, CveResponse};
use ward_intel::feeds::osv::OsvRecord;
use ward_intel::feeds::{ConnectorState, ImportCounts};
use ward_intel::stix::Timestamp as IntelTime;
use ward_model::clock::now_ms;
use ward_storage::{AdvisoryDraftRecord, Store, StoreError};
use ward_telemetry::Registry;

use crate::scan::HostFacts;

/// The vulnerability feeds ward reads.
pub const FEEDS: [&str; 4] = ["kev", "nvd", "osv", "csaf"];

/// A request for a draft High Severity Alert: one CVE newly in KEV, and exactly the members
/// exposed to it. The advisories service turns it into an advisory.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DraftAdvisoryRequest {
    pub cve: String,
    pub summary: String,
    pub members: Vec<String>,
    /// KEV entry and the exposures per member.
    pub detail: Value,
}

type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where draft advisory requests go. The store-backed one keeps them in `advisory_drafts`;
/// the advisories service can implement this to take them directly.
pub trait AdvisoryDrafts: Send + Sync {
    /// Files a request; `None` when one for this CVE already exists.
    fn request(
        &self,
        req: DraftAdvisoryRequest,
    ) -> BoxFut<'_, Result<Option<AdvisoryDraftRecord>, StoreError>>;
}

pub struct StoreDrafts(pub Store);

impl AdvisoryDrafts for StoreDrafts {
    fn request(
        &self,
        req: DraftAdvisoryRequest,
    ) -> BoxFut<'_, Result<Option<AdvisoryDraftRecord>, StoreError>> {
        Box::pin(async move {
            self.0
                .insert_advisory_draft(&req.cve, &req.summary, &req.members, &req.detail, now_ms())
                .await
        })
    }
}

/// Turns each request into a draft advisory (`HSA-YYYY-NNNN`, status draft) aimed at exactly
/// the exposed members, for an analyst to review and publish; the request is also kept in
/// `advisory_drafts` as the record of why the draft exists.
pub struct AdvisoryServiceDrafts(pub Store);

impl AdvisoryDrafts for AdvisoryServiceDrafts {
    fn request(
        &self,
        req: DraftAdvisoryRequest,
    ) -> BoxFut<'_, Result<Option<AdvisoryDraftRecord>, StoreError>> {
        Box::pin(async move {
            let kev: ward_intel::feeds::kev::KevEntry =
                serde_json::from_value(req.detail["kev"].clone()).map_err(|e| {
                    StoreError::Invalid(format!("draft request for {}: {e}", req.cve))
                })?;
            let due = (!kev.due_date.is_empty()).then_some(kev.due_date.as_str());
            let mut content = ward_alerting::advisories::kev_draft(
                &req.cve,
                &kev.vendor_project,
                &kev.product,
                &kev.vulnerability_name,
                &kev.short_description,
                &kev.required_action,
                due,
            );
            content.target = ward_model::advisory::AdvisoryTarget::Orgs {
                orgs: req.members.iter().filter_map(|m| m.parse().ok()).collect(),
            };
            let now = now_ms();
            ward_alerting::advisories::create_kev_draft(&self.0, &content, now).await?;
            self.0
                .insert_advisory_draft(&req.cve, &req.summary, &req.members, &req.detail, now)
                .await
        })
    }
}

/// What one pull did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PullOutcome {
    pub feed: String,
    pub records: usize,
    pub added: u64,
    pub updated: u64,
    /// Draft advisory requests filed (KEV only).
    pub drafts: Vec<DraftAdvisoryRequest>,
    /// New KEV entries no member is exposed to (no draft: nobody to alert).
    pub new_kev_without_exposure: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum VulnError {
    #[error("feed {0:?} is unknown: expected kev, nvd, osv or csaf")]
    UnknownFeed(String),
    #[error("{feed} data is invalid: {message}")]
    Invalid { feed: String, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("fetching {url}: {message}")]
    Fetch { url: String, message: String },
}

pub struct VulnService {
    store: Store,
    cfg: VulnsConfig,
    db: RwLock<Arc<VulnDb>>,
    kev: RwLock<Option<Arc<KevCatalog>>>,
    pulls: tokio::sync::Mutex<()>,
    drafts: RwLock<Arc<dyn AdvisoryDrafts>>,
    registry: Arc<Registry>,
}

fn read<T: Clone>(l: &RwLock<T>) -> T {
    l.read().unwrap_or_else(|p| p.into_inner()).clone()
}

fn write<T>(l: &RwLock<T>, v: T) {
    *l.write().unwrap_or_else(|p| p.into_inner()) = v;
}

/// Records of one pull as (id, JSON text), parsed so that nothing invalid is stored.
fn split_feed(feed: &str, bytes: &[u8]) -> Result<Vec<(String, String)>, String> {
    match feed {
        "kev" => {
            KevCatalog::parse(bytes).map_err(|e| e.to_string())?;
            let text = String::from_utf8(bytes.to_vec()).map_err(|e| e.to_string())?;
            Ok(vec![("catalogue".into(), text)])
        }
        "nvd" => {
            let v: Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
            let records: Vec<CveRecord> = if v.get("vulnerabilities").is_some() {
                CveResponse::parse(bytes)
                    .map_err(|e| e.to_string())?
                    .vulnerabilities
                    .into_iter()
                    .map(|i| i.cve)
                    .collect()
            } else if let Some(cve) = v.get("cve") {
                vec![serde_json::from_value(cve.clone()).map_err(|e| e.to_string())?]
            } else {
                vec![CveRecord::parse(bytes).map_err(|e| e.to_string())?]
            };
            records
                .into_iter()
                .map(|r| {
                    Ok((
                        r.id.clone(),
                        serde_json::to_string(&r).map_err(|e| e.to_string())?,
                    ))
                })
                .collect()
        }
        "osv" => {
            let v: Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
            let items = match v {
                Value::Array(a) => a,
                other => vec![other],
            };
            items
                .into_iter()
                .map(|item| {
                    let text = item.to_string();
                    let r = OsvRecord::parse(text.as_bytes()).map_err(|e| e.to_string())?;
                    Ok((r.id, text))
                })
                .collect()
        }
        "csaf" => {
            let a = CsafAdvisory::parse(bytes).map_err(|e| e.to_string())?;
            let text = String::from_utf8(bytes.to_vec()).map_err(|e| e.to_string())?;
            Ok(vec![(a.tracking_id, text)])
        }
        other => Err(format!("unknown feed {other}")),
    }
}

fn build_db(records: &[(String, String, String)]) -> (VulnDb, Option<KevCatalog>, usize) {
    let mut db = VulnDb::new();
    let mut kev = None;
    let mut bad = 0;
    for (source, _id, body) in records {
        let ok = match source.as_str() {
            "kev" => KevCatalog::parse(body.as_bytes())
                .map(|k| {
                    db.set_kev(&k);
                    kev = Some(k);
                })
                .is_ok(),
            "nvd" => serde_json::from_str::<CveRecord>(body)
                .map(|r| db.add_nvd(r))
                .is_ok(),
            "osv" => OsvRecord::parse(body.as_bytes())
                .map(|r| db.add_osv(r))
                .is_ok(),
            "csaf" => CsafAdvisory::parse(body.as_bytes())
                .map(|a| db.add_csaf(a))
                .is_ok(),
            _ => false,
        };
        if !ok {
            bad += 1;
        }
    }
    (db, kev, bad)
}

impl VulnService {
    pub fn new(store: Store, cfg: VulnsConfig, registry: Arc<Registry>) -> VulnService {
        VulnService {
            drafts: RwLock::new(Arc::new(AdvisoryServiceDrafts(store.clone()))),
            store,
            cfg,
            db: RwLock::new(Arc::new(VulnDb::new())),
            kev: RwLock::new(None),
            pulls: tokio::sync::Mutex::new(()),
            registry,
        }
    }

    /// Sends draft requests elsewhere (the advisories service) instead of the store's table;
    /// callable on the running server (`state.scan.vulns.set_drafts(…)`).
    pub fn set_drafts(&self, drafts: Arc<dyn AdvisoryDrafts>) {
        write(&self.drafts, drafts);
    }

    /// Rebuilds the in-memory database from the stored records.
    pub async fn reload(&self) -> Result<(), StoreError> {
        let records = self.store.all_vuln_records().await?;
        let (db, kev, bad) = tokio::task::spawn_blocking(move || build_db(&records))
            .await
            .map_err(|e| {
                StoreError::Invalid(format!("rebuilding the vulnerability database: {e}"))
            })?;
        if bad > 0 {
            self.registry
                .counter(
                    "ward_vuln_records_unreadable_total",
                    "Stored vulnerability records that could not be read back",
                    &[],
                )
                .add(bad as u64);
        }
        write(&self.db, Arc::new(db));
        write(&self.kev, kev.map(Arc::new));
        Ok(())
    }

    async fn feed_state(&self, feed: &str) -> Result<ConnectorState, StoreError> {
        let interval = if feed == "kev" && self.cfg.kev_url.is_some() {
            self.cfg.kev_interval_secs
        } else {
            0
        };
        Ok(self
            .store
            .feed_states()
            .await?
            .into_iter()
            .find(|(f, _)| f == feed)
            .and_then(|(_, v)| serde_json::from_value(v).ok())
            .unwrap_or_else(|| ConnectorState::new(feed, interval)))
    }

    /// Every feed's state (never-pulled feeds included), with its configured source.
    pub async fn feeds(&self) -> Result<Vec<Value>, StoreError> {
        let mut out = Vec::new();
        for feed in FEEDS {
            let state = self.feed_state(feed).await?;
            let url = if feed == "kev" {
                self.cfg.kev_url.clone()
            } else {
                None
            };
            let scheduled = url.is_some();
            out.push(json!({"feed": feed, "url": url, "scheduled": scheduled, "state": state}));
        }
        Ok(out)
    }

    /// Stores a feed's data, rebuilds the database and, for KEV, files draft advisory
    /// requests for entries the previous catalogue did not have.
    pub async fn pull(&self, feed: &str, bytes: Vec<u8>) -> Result<PullOutcome, VulnError> {
        if !FEEDS.contains(&feed) {
            return Err(VulnError::UnknownFeed(feed.to_string()));
        }
        let _one_at_a_time = self.pulls.lock().await;
        let f = feed.to_string();
        let split = tokio::task::spawn_blocking(move || split_feed(&f, &bytes))
            .await
            .map_err(|e| VulnError::Invalid {
                feed: feed.into(),
                message: e.to_string(),
            })?;
        let mut state = self.feed_state(feed).await?;
        let now = now_ms();
        let records = match split {
            Ok(r) => r,
            Err(message) => {
                self.registry
                    .counter(
                        "ward_vuln_pulls_refused_total",
                        "Vulnerability feed pulls refused as invalid, by feed",
                        &[("feed", feed)],
                    )
                    .inc();
                state.record_error(IntelTime::now(), &message);
                self.store
                    .put_feed_state(
                        feed,
                        &serde_json::to_value(&state).unwrap_or(Value::Null),
                        now,
                    )
                    .await?;
                return Err(VulnError::Invalid {
                    feed: feed.into(),
                    message,
                });
            }
        };
        let previous_kev = read(&self.kev);
        let (added, updated) = self.store.put_vuln_records(feed, &records, now).await?;
        self.reload().await?;
        let mut out = PullOutcome {
            feed: feed.into(),
            records: records.len(),
            added,
            updated,
            ..PullOutcome::default()
        };
        // The first catalogue is the baseline, not 1,400 new alerts.
        if let (true, Some(prev), Some(cur)) = (feed == "kev", previous_kev, read(&self.kev)) {
            let assets = self.assets(None).await?;
            let db = read(&self.db);
            let drafts =
                tokio::task::spawn_blocking(move || db.kev_alert_drafts(&cur, &prev, &assets))
                    .await
                    .map_err(|e| VulnError::Invalid {
                        feed: feed.into(),
                        message: e.to_string(),
                    })?;
            for d in drafts {
                if d.targets.is_empty() {
                    out.new_kev_without_exposure.push(d.kev.cve_id.clone());
                    continue;
                }
                let req = DraftAdvisoryRequest {
                    cve: d.kev.cve_id.clone(),
                    summary: format!(
                        "{} ({}): {} — {}",
                        d.kev.vulnerability_name,
                        d.kev.cve_id,
                        d.kev.short_description,
                        d.kev.required_action
                    ),
                    members: d.targets.keys().cloned().collect(),
                    detail: serde_json::to_value(&d).unwrap_or(Value::Null),
                };
                let sink = read(&self.drafts);
                if sink.request(req.clone()).await?.is_some() {
                    self.registry
                        .counter(
                            "ward_vuln_draft_advisories_total",
                            "Draft advisory requests filed for new KEV entries with exposed members",
                            &[],
                        )
                        .inc();
                    out.drafts.push(req);
                }
            }
        }
        state.record_success(
            IntelTime::now(),
            ImportCounts {
                added,
                updated,
                expired: 0,
                skipped: 0,
            },
            None,
        );
        self.store
            .put_feed_state(
                feed,
                &serde_json::to_value(&state).unwrap_or(Value::Null),
                now,
            )
            .await?;
        Ok(out)
    }

    /// Stored assets (of one member or all) as the matcher's type; unreadable ones are counted.
    pub async fn assets(&self, org: Option<&str>) -> Result<Vec<Asset>, StoreError> {
        let rows = self.store.list_assets(org).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            match serde_json::from_value::<Asset>(r.body) {
                Ok(a) => out.push(a),
                Err(_) => self
                    .registry
                    .counter(
                        "ward_estate_assets_unreadable_total",
                        "Stored assets that could not be read back",
                        &[],
                    )
                    .inc(),
            }
        }
        Ok(out)
    }

    /// Exposures of one member or of all, grouped by member; best match per CVE and asset.
    pub async fn exposures(
        &self,
        org: Option<&str>,
    ) -> Result<BTreeMap<String, Vec<Exposure>>, StoreError> {
        let assets = self.assets(org).await?;
        let db = read(&self.db);
        tokio::task::spawn_blocking(move || db.exposures(&assets))
            .await
            .map_err(|e| StoreError::Invalid(format!("matching the estate: {e}")))
    }

    /// The national view: exposures filtered by KEV membership, ransomware use and confidence.
    pub async fn national(
        &self,
        kev: bool,
        ransomware: bool,
        min: MatchConfidence,
    ) -> Result<BTreeMap<String, Vec<Exposure>>, StoreError> {
        let mut all = self.exposures(None).await?;
        for v in all.values_mut() {
            v.retain(|e| {
                (!kev || e.in_kev) && (!ransomware || e.kev_ransomware) && e.confidence >= min
            });
        }
        all.retain(|_, v| !v.is_empty());
        Ok(all)
    }

    /// Merges a scan's host facts into the member's estate: into the asset registered under
    /// that host name or address, or into a `scan-<address>` asset. Returns assets written.
    pub async fn apply_scan_facts(
        &self,
        org: &str,
        facts: &[HostFacts],
    ) -> Result<usize, StoreError> {
        if facts.is_empty() {
            return Ok(0);
        }
        // (asset, where it came from): a scan fact never changes who registered the asset.
        let mut assets: Vec<(Asset, String)> = self
            .store
            .list_assets(Some(org))
            .await?
            .into_iter()
            .filter_map(|r| Some((serde_json::from_value::<Asset>(r.body).ok()?, r.source)))
            .collect();
        let now = now_ms();
        let mut written = 0;
        for f in facts {
            let pos = assets.iter().position(|(a, _)| {
                let name = a.hostname.as_deref();
                name == Some(f.host.as_str())
                    || name == Some(f.address.as_str())
                    || a.attributes.get("address") == Some(&f.address)
            });
            let (mut asset, source) = match pos {
                Some(i) => assets[i].clone(),
                None => (
                    Asset {
                        org: org.to_string(),
                        asset_id: format!("scan-{}", f.address),
                        hostname: Some(f.host.clone()),
                        os_name: None,
                        os_version: None,
                        os_patch_level: None,
                        patches: Default::default(),
                        software: vec![],
                        attributes: BTreeMap::new(),
                    },
                    "scan".to_string(),
                ),
            };
            for (k, v) in &f.attributes {
                asset.attributes.insert(k.clone(), v.clone());
            }
            if asset.os_name.is_none() {
                asset.os_name = f.os_name.clone();
                if asset.os_patch_level.is_none() {
                    asset.os_patch_level = f.os_patch_level.clone();
                }
            }
            let body = serde_json::to_value(&asset).unwrap_or(Value::Null);
            self.store
                .upsert_asset(org, &asset.asset_id, &body, &source, now)
                .await?;
            match pos {
                Some(i) => assets[i] = (asset, source),
                None => assets.push((asset, source)),
            }
            written += 1;
        }
        Ok(written)
    }

    /// Pulls the configured KEV URL when due, until shutdown.
    pub async fn poller(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let Some(url) = self.cfg.kev_url.clone() else {
            return;
        };
        let tick = Duration::from_millis(self.cfg.tick_ms.max(100));
        let client = match reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
        {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "KEV poller: no HTTP client");
                return;
            }
        };
        loop {
            match self.feed_state("kev").await {
                Ok(state) if state.due(IntelTime::now()) => {
                    if let Err(e) = self.pull_url(&client, &url).await {
                        tracing::warn!(error = %e, "KEV pull failed");
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "KEV poller cannot read its state"),
            }
            tokio::select! {
                _ = tokio::time::sleep(tick) => {}
                _ = shutdown.changed() => return,
            }
        }
    }

    async fn pull_url(
        &self,
        client: &reqwest::Client,
        url: &str,
    ) -> Result<PullOutcome, VulnError> {
        let fetched = async {
            let mut resp = client.get(url).send().await.map_err(|e| e.to_string())?;
            if !resp.status().is_success() {
                return Err(format!("HTTP {}", resp.status()));
            }
            // Bounded: a misbehaving server cannot make ward hold more than 64 MiB.
            let mut body = Vec::new();
            while let Some(chunk) = resp.chunk().await.map_err(|e| e.to_string())? {
                body.extend_from_slice(&chunk);
                if body.len() > 64 << 20 {
                    return Err("the catalogue is larger than 64 MiB".to_string());
                }
            }
            Ok(body)
        }
        .await;
        match fetched {
            Ok(bytes) => self.pull("kev", bytes).await,
            Err(message) => {
                let mut state = self.feed_state("kev").await?;
                state.record_error(IntelTime::now(), &message);
                self.store
                    .put_feed_state(
                        "kev",
                        &serde_json::to_value(&state).unwrap_or(Value::Null),
                        now_ms(),
                    )
                    .await?;
                Err(VulnError::Fetch {
                    url: url.into(),
                    message,
                })
            }
        }
    }
}
