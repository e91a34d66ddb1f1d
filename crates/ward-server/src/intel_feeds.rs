//! Feeds as scheduled connectors: STIX bundles (file or URL), TAXII 2.1 collections
//! (`added_after` cursor + paging), MISP feeds (manifest.json → event JSON), MISP CSV and
//! freetext. Each connector's state (`ward_intel::feeds::ConnectorState`: last and next
//! run, errors with back-off, counts added / updated / expired) is kept in the store and
//! shown at `/api/v1/intel/feeds`; a scheduler task runs the connectors that are due.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::watch;
use utoipa::ToSchema;
use ward_intel::feeds::stix_bundle::{import_bundle, import_objects};
use ward_intel::feeds::{misp, ConnectorState, ImportCounts, IndicatorRecord};
use ward_intel::policy::Distribution;
use ward_intel::stix::{StixObject, Timestamp};
use ward_intel::taxii::client::{TaxiiAuth, TaxiiClient};
use ward_intel::tlp::Tlp;
use ward_model::clock::now_ms;
use ward_storage::intel::StoredFeed;

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::intel::{access, parse_distribution};
use crate::state::AppState;

pub const FEED_KINDS: &[&str] = &["stix", "taxii", "misp", "misp-csv", "freetext"];

/// A feed to add.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NewFeed {
    /// Unique name, e.g. `circl-osint`.
    pub name: String,
    /// `stix`, `taxii`, `misp`, `misp-csv` or `freetext`.
    pub kind: String,
    /// URL (`https://…`, `http://…`) or local path / `file://` for stix, misp-csv and
    /// freetext; the MISP feed's base URL (where `manifest.json` is); the TAXII API root.
    pub url: String,
    /// TAXII collection id (taxii only).
    #[serde(default)]
    pub collection: Option<String>,
    /// TAXII credentials: user and password (API key) for Basic.
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    /// Seconds between runs (default 3600).
    #[serde(default)]
    pub interval_secs: Option<u64>,
    /// TLP for values that carry none (default GREEN).
    #[serde(default)]
    pub tlp: Option<String>,
    /// Distribution of what the feed brings in (default `all`).
    #[serde(default)]
    pub distribution: Option<String>,
}

/// A feed and its connector state.
#[derive(Debug, Serialize, ToSchema)]
pub struct FeedView {
    pub name: String,
    pub kind: String,
    pub url: String,
    pub interval_secs: i64,
    pub enabled: bool,
    /// `ConnectorState`: last_run, last_success, next_run, cursor, runs, errors,
    /// last_counts and total_counts (added / updated / expired / skipped).
    #[schema(value_type = Object)]
    pub state: Value,
}

fn view(f: StoredFeed) -> FeedView {
    FeedView {
        state: serde_json::from_str(&f.state).unwrap_or(Value::Null),
        name: f.name,
        kind: f.kind,
        url: f.url,
        interval_secs: f.interval_secs,
        enabled: f.enabled,
    }
}

/// List feeds with their state.
#[utoipa::path(
    get, path = "/api/v1/intel/feeds", tag = "intel",
    responses(
        (status = 200, description = "Feeds and connector state", body = [FeedView]),
        (status = 403, description = "Central analysts only", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn list_feeds(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<Vec<FeedView>>> {
    principal.require_central()?;
    Ok(Json(
        state
            .store
            .list_feeds()
            .await?
            .into_iter()
            .map(view)
            .collect(),
    ))
}

/// Add a feed (it runs at the scheduler's next pass).
#[utoipa::path(
    post, path = "/api/v1/intel/feeds", tag = "intel", request_body = NewFeed,
    responses(
        (status = 201, description = "Added", body = FeedView),
        (status = 400, description = "Bad kind, URL or option", body = crate::error::ErrorBody),
        (status = 409, description = "A feed of that name exists", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn add_feed(
    State(state): State<AppState>,
    principal: Principal,
    Json(f): Json<NewFeed>,
) -> ApiResult<(axum::http::StatusCode, Json<FeedView>)> {
    principal.require_central()?;
    let bad = |m: String| ApiError::bad_request("invalid_request", m);
    if f.name.trim().is_empty() || f.name.len() > 100 {
        return Err(bad("feed name must be 1 to 100 characters".into()));
    }
    if !FEED_KINDS.contains(&f.kind.as_str()) {
        return Err(bad(format!(
            "feed kind {:?} is not one of {}",
            f.kind,
            FEED_KINDS.join(", ")
        )));
    }
    if f.kind == "taxii" && f.collection.is_none() {
        return Err(bad("a taxii feed needs collection".into()));
    }
    if let Some(t) = &f.tlp {
        Tlp::parse(t).ok_or_else(|| bad(format!("tlp {t:?} is not a TLP label")))?;
    }
    if let Some(d) = &f.distribution {
        parse_distribution(d).ok_or_else(|| bad(format!("distribution {d:?} is not known")))?;
    }
    let interval = f.interval_secs.unwrap_or(3600).max(60);
    let now = now_ms();
    let stored = StoredFeed {
        name: f.name.clone(),
        kind: f.kind.clone(),
        url: f.url.clone(),
        config: serde_json::to_string(&f)
            .map_err(|e| ApiError::internal(format!("feed config: {e}")))?,
        interval_secs: interval as i64,
        enabled: true,
        state: serde_json::to_string(&ConnectorState::new(&f.name, interval))
            .map_err(|e| ApiError::internal(format!("feed state: {e}")))?,
        created_at: now,
        updated_at: now,
    };
    state.store.create_feed(&stored).await?;
    Ok((axum::http::StatusCode::CREATED, Json(view(stored))))
}

/// Run a feed now; replies with its state after the run.
#[utoipa::path(
    post, path = "/api/v1/intel/feeds/{name}/run", tag = "intel",
    params(("name" = String, Path, description = "Feed name")),
    responses(
        (status = 200, description = "Ran (see state.errors for a failed run)", body = FeedView),
        (status = 404, description = "No such feed", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn run_feed_now(
    State(state): State<AppState>,
    principal: Principal,
    Path(name): Path<String>,
) -> ApiResult<Json<FeedView>> {
    principal.require_central()?;
    let feed = state
        .store
        .get_feed(&name)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("feed {name} not found")))?;
    run_feed(&state, &feed).await?;
    let feed = state
        .store
        .get_feed(&name)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("feed {name} not found")))?;
    Ok(Json(view(feed)))
}

/// Runs one connector and saves its state (success or error).
pub async fn run_feed(state: &AppState, feed: &StoredFeed) -> ApiResult<()> {
    let mut cs: ConnectorState = serde_json::from_str(&feed.state)
        .unwrap_or_else(|_| ConnectorState::new(&feed.name, feed.interval_secs.max(60) as u64));
    let cfg: NewFeed = serde_json::from_str(&feed.config)
        .map_err(|e| ApiError::internal(format!("stored config of feed {}: {e}", feed.name)))?;
    let now = Timestamp::now();
    match pull(state, &cfg, cs.cursor.clone()).await {
        Ok((counts, cursor)) => cs.record_success(now, counts, cursor),
        Err(e) => {
            tracing::warn!(feed = %feed.name, error = %e, "feed run failed");
            state
                .registry
                .counter("ward_intel_feed_errors_total", "Feed runs that failed", &[])
                .inc();
            cs.record_error(now, &e)
        }
    }
    let text =
        serde_json::to_string(&cs).map_err(|e| ApiError::internal(format!("feed state: {e}")))?;
    state.store.set_feed_state(&feed.name, &text).await?;
    Ok(())
}

async fn fetch(url: &str) -> Result<Vec<u8>, String> {
    if url.starts_with("http://") || url.starts_with("https://") {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .user_agent("ward")
            .build()
            .map_err(|e| e.to_string())?;
        let resp = client
            .get(url)
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("GET {url}: HTTP {}", resp.status()));
        }
        return Ok(resp
            .bytes()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?
            .to_vec());
    }
    let path = url.strip_prefix("file://").unwrap_or(url);
    tokio::fs::read(path)
        .await
        .map_err(|e| format!("read {path}: {e}"))
}

/// Fetches and publishes; returns the counts and the new cursor.
async fn pull(
    state: &AppState,
    cfg: &NewFeed,
    cursor: Option<String>,
) -> Result<(ImportCounts, Option<String>), String> {
    let tlp = cfg
        .tlp
        .as_deref()
        .and_then(Tlp::parse)
        .unwrap_or(Tlp::Green);
    let dist = cfg
        .distribution
        .as_deref()
        .and_then(parse_distribution)
        .unwrap_or(Distribution::All);
    let source = format!("feed:{}", cfg.name);
    let (objects, records, skipped, new_cursor): (
        Vec<Value>,
        Vec<IndicatorRecord>,
        u64,
        Option<String>,
    ) = match cfg.kind.as_str() {
        "stix" => {
            let bytes = fetch(&cfg.url).await?;
            let imp = import_bundle(&bytes, &source, tlp).map_err(|e| e.to_string())?;
            let objs = imp.objects.iter().map(|o| o.to_value()).collect();
            (objs, imp.indicators, imp.skipped.len() as u64, None)
        }
        "taxii" => {
            let auth = match (&cfg.username, &cfg.password) {
                (Some(u), Some(p)) => TaxiiAuth::Basic {
                    user: u.clone(),
                    password: p.clone(),
                },
                (None, Some(p)) => TaxiiAuth::Bearer(p.clone()),
                _ => TaxiiAuth::None,
            };
            let client = TaxiiClient::new(auth).map_err(|e| e.to_string())?;
            let coll = cfg.collection.clone().unwrap_or_default();
            let res = client
                .poll(&cfg.url, &coll, cursor.as_deref(), 1000)
                .await
                .map_err(|e| e.to_string())?;
            let mut parsed = Vec::new();
            let mut bad = 0u64;
            for o in &res.objects {
                match StixObject::from_value(o.clone()) {
                    Ok(s) => parsed.push(s),
                    Err(_) => bad += 1,
                }
            }
            let imp = import_objects(parsed, &source, tlp);
            (
                res.objects,
                imp.indicators,
                bad + imp.skipped.len() as u64,
                res.cursor,
            )
        }
        "misp" => {
            let base = cfg.url.trim_end_matches('/');
            let manifest = misp::parse_manifest(&fetch(&format!("{base}/manifest.json")).await?)
                .map_err(|e| e.to_string())?;
            let since: u64 = cursor.as_deref().and_then(|c| c.parse().ok()).unwrap_or(0);
            let mut records = Vec::new();
            let mut newest = since;
            for uuid in misp::manifest_changed_since(&manifest, since) {
                let ev = misp::parse_event(&fetch(&format!("{base}/{uuid}.json")).await?)
                    .map_err(|e| format!("event {uuid}: {e}"))?;
                records.extend(misp::event_indicators(&ev, &source));
            }
            for (_, e) in &manifest {
                newest = newest.max(e.timestamp);
            }
            (Vec::new(), records, 0, Some(newest.to_string()))
        }
        "misp-csv" => {
            let (r, skipped) = misp::parse_csv(&fetch(&cfg.url).await?, &source, true)
                .map_err(|e| e.to_string())?;
            (Vec::new(), r, skipped, None)
        }
        "freetext" => {
            let text = String::from_utf8_lossy(&fetch(&cfg.url).await?).into_owned();
            let now = Timestamp::now();
            let r = misp::freetext(&text)
                .into_iter()
                .map(|o| {
                    let mut r = IndicatorRecord::from_value(o, &source, now);
                    r.tlp = tlp;
                    r
                })
                .collect();
            (Vec::new(), r, 0, None)
        }
        other => return Err(format!("unknown feed kind {other:?}")),
    };
    // Values from CSV, MISP and freetext are also served over TAXII as indicators.
    let objects = if objects.is_empty() && !records.is_empty() {
        let b = ward_intel::export::stix_bundle(
            &records,
            &[],
            &ward_intel::export::Producer::default(),
        );
        b["objects"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|o| o["type"] == "indicator")
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    } else {
        objects
    };
    let owner = state.cfg.intel.national_org.clone();
    let tlp_of = |v: &Value| {
        v.get("object_marking_refs")
            .and_then(Value::as_array)
            .and_then(|a| Tlp::from_marking_refs(a.iter().filter_map(Value::as_str)))
            .unwrap_or(tlp)
    };
    let report = state
        .intel_publisher
        .publish(
            &objects,
            &records,
            |v| access(&owner, "", tlp_of(v), dist),
            |r| access(&owner, "", r.tlp, dist),
        )
        .await
        .map_err(|e| e.message)?;
    let expired = records
        .iter()
        .filter(|r| r.valid_until.is_some_and(|u| u.unix() <= now_ms() / 1000))
        .count() as u64;
    Ok((
        ImportCounts {
            added: report.indicators_added,
            updated: report.indicators_updated,
            expired,
            skipped: skipped + report.skipped.len() as u64,
        },
        new_cursor,
    ))
}

/// Runs due connectors every `intel.scheduler_secs`.
pub async fn scheduler(state: AppState, mut shutdown: watch::Receiver<bool>) {
    let every = Duration::from_secs(state.cfg.intel.scheduler_secs.max(1));
    loop {
        match state.store.list_feeds().await {
            Ok(feeds) => {
                for f in feeds.into_iter().filter(|f| f.enabled) {
                    let due = serde_json::from_str::<ConnectorState>(&f.state)
                        .map(|s| s.due(Timestamp::now()))
                        .unwrap_or(true);
                    if due {
                        if let Err(e) = run_feed(&state, &f).await {
                            tracing::error!(feed = %f.name, error = %e.message, "feed state not saved");
                        }
                    }
                    if *shutdown.borrow() {
                        return;
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot list feeds"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Keeps the live matcher in step with indicators other writers (other nodes) add.
/// The retro-hunt runs on the node that received the publication, not here.
pub async fn refresher(state: AppState, mut shutdown: watch::Receiver<bool>) {
    let every = Duration::from_millis(state.cfg.intel.refresh_ms.max(100));
    loop {
        if let Err(e) = state.intel.refresh(&state.store).await {
            tracing::error!(error = %e, "indicator refresh failed");
        }
        if state.intel.live.compaction_due() {
            // Rebuilding the snapshot is CPU work proportional to all indicators.
            let rt = state.intel.clone();
            let now = now_ms() / 1000;
            if let Err(e) = tokio::task::spawn_blocking(move || rt.live.compact(now)).await {
                tracing::error!(error = %e, "matcher compaction failed");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => return,
        }
    }
}
