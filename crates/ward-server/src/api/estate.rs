//! Members' estates and their exposure to known vulnerabilities: assets (API, CSV import,
//! scanner facts), exposures per member and nationally, vulnerability feed pulls and their
//! state, and the draft advisory requests new KEV entries produce.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::IntoParams;
use ward_intel::estate::{parse_assets_csv, Asset, MatchConfidence};
use ward_model::clock::now_ms;
use ward_model::OdsCode;

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::vulns::VulnError;

/// Feeds and CSV estates are large; the default 2 MiB body limit would refuse the KEV catalogue.
const MAX_FEED_BYTES: usize = 128 << 20;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/organisations/{ods}/assets",
            get(list_assets).post(add_assets),
        )
        .route("/api/v1/organisations/{ods}/exposures", get(org_exposures))
        .route("/api/v1/exposures", get(national_exposures))
        .route("/api/v1/assets/import", post(import_csv))
        .route("/api/v1/vulns/feeds", get(list_feeds))
        .route("/api/v1/vulns/feeds/{feed}", post(pull_feed))
        .route("/api/v1/advisory-drafts", get(list_drafts))
        .layer(DefaultBodyLimit::max(MAX_FEED_BYTES))
}

fn ods(s: &str) -> ApiResult<OdsCode> {
    s.parse().map_err(|e: ward_model::InvalidOdsCode| {
        ApiError::bad_request("invalid_ods_code", e.to_string())
    })
}

fn readable(p: &Principal, s: &str) -> ApiResult<OdsCode> {
    let org = ods(s)?;
    if !p.can_read_org(&org) {
        return Err(ApiError::forbidden(format!(
            "you may not read {org}'s data"
        )));
    }
    Ok(org)
}

fn manageable(p: &Principal, org: &OdsCode) -> ApiResult<()> {
    if !p.can_manage_org(org) {
        return Err(ApiError::forbidden(format!(
            "only central analysts and {org}'s lead may change its estate"
        )));
    }
    Ok(())
}

fn validate_asset(a: &Asset) -> Result<(), String> {
    if a.asset_id.trim().is_empty() {
        return Err("an asset needs an asset_id".into());
    }
    for s in &a.software {
        if let Some(c) = &s.cpe {
            ward_intel::estate::cpe::Cpe::parse(c)
                .map_err(|e| format!("asset {}: software CPE {c:?}: {e}", a.asset_id))?;
        }
        if let Some(p) = &s.purl {
            ward_intel::estate::purl::Purl::parse(p)
                .map_err(|e| format!("asset {}: software purl {p:?}: {e}", a.asset_id))?;
        }
    }
    Ok(())
}

/// A member's assets.
#[utoipa::path(get, path = "/api/v1/organisations/{ods}/assets", tag = "estate",
    responses((status = 200, description = "Assets with their source (api, csv, scan)")), security(("bearer" = [])))]
pub async fn list_assets(
    State(state): State<AppState>,
    p: Principal,
    Path(code): Path<String>,
) -> ApiResult<Json<Value>> {
    let org = readable(&p, &code)?;
    Ok(Json(json!(
        state.store.list_assets(Some(org.as_str())).await?
    )))
}

#[derive(Deserialize)]
#[serde(untagged)]
pub enum AssetsBody {
    Many(Vec<Asset>),
    One(Box<Asset>),
}

/// Adds or replaces assets (one object or an array; `org` must be the path's).
#[utoipa::path(post, path = "/api/v1/organisations/{ods}/assets", tag = "estate",
    request_body(content = String, content_type = "application/json", description = "An asset (org, asset_id, hostname, os_name, os_version, os_patch_level, patches, software [{cpe|purl|vendor,name,version}], attributes) or an array of them"),
    responses((status = 201, description = "Stored"), (status = 400, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn add_assets(
    State(state): State<AppState>,
    p: Principal,
    Path(code): Path<String>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let org = readable(&p, &code)?;
    manageable(&p, &org)?;
    let body: AssetsBody = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request("invalid_asset", format!("assets body: {e}")))?;
    let assets = match body {
        AssetsBody::Many(v) => v,
        AssetsBody::One(a) => vec![*a],
    };
    for a in &assets {
        if a.org != org.as_str() {
            return Err(ApiError::bad_request(
                "invalid_asset",
                format!(
                    "asset {} names organisation {:?}, not {org}",
                    a.asset_id, a.org
                ),
            ));
        }
        validate_asset(a).map_err(|m| ApiError::bad_request("invalid_asset", m))?;
    }
    store_assets(&state, &assets, "api").await?;
    Ok((StatusCode::CREATED, Json(json!({"stored": assets.len()}))))
}

async fn store_assets(state: &AppState, assets: &[Asset], source: &str) -> ApiResult<()> {
    let now = now_ms();
    for a in assets {
        let body = serde_json::to_value(a).map_err(|e| ApiError::internal(e.to_string()))?;
        state
            .store
            .upsert_asset(&a.org, &a.asset_id, &body, source, now)
            .await?;
    }
    Ok(())
}

/// Imports assets from CSV (`org,asset_id,hostname,os_name,os_version,os_patch_level,
/// software,patches,attributes`); a lead may import only their own organisation's rows.
#[utoipa::path(post, path = "/api/v1/assets/import", tag = "estate",
    request_body(content = String, content_type = "text/csv"),
    responses((status = 201, description = "Stored, per organisation"), (status = 400, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn import_csv(
    State(state): State<AppState>,
    p: Principal,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let assets = tokio::task::spawn_blocking(move || parse_assets_csv(&body))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| ApiError::bad_request("invalid_csv", e.to_string()))?;
    let mut per_org: std::collections::BTreeMap<String, usize> = Default::default();
    for a in &assets {
        let org = ods(&a.org)?;
        if !p.can_read_org(&org) {
            return Err(ApiError::forbidden(format!(
                "you may not change {org}'s estate"
            )));
        }
        manageable(&p, &org)?;
        if state.store.get_org(&org).await?.is_none() {
            return Err(ApiError::not_found(format!("organisation {org} not found")));
        }
        *per_org.entry(a.org.clone()).or_default() += 1;
    }
    store_assets(&state, &assets, "csv").await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"stored": assets.len(), "organisations": per_org})),
    ))
}

/// A member's unpatched exposures: best match per CVE and asset, with match confidence
/// (`exact_purl` > `exact_cpe` > `partial_cpe` > `fuzzy`), KEV and ransomware flags.
#[utoipa::path(get, path = "/api/v1/organisations/{ods}/exposures", tag = "estate",
    responses((status = 200, description = "Exposures")), security(("bearer" = [])))]
pub async fn org_exposures(
    State(state): State<AppState>,
    p: Principal,
    Path(code): Path<String>,
) -> ApiResult<Json<Value>> {
    let org = readable(&p, &code)?;
    let all = state.scan.vulns.exposures(Some(org.as_str())).await?;
    let list = all.get(org.as_str()).cloned().unwrap_or_default();
    Ok(Json(json!(list)))
}

#[derive(Deserialize, IntoParams)]
pub struct NationalQuery {
    /// Only vulnerabilities in CISA KEV.
    pub kev: Option<bool>,
    /// Only KEV entries with known ransomware use.
    pub ransomware: Option<bool>,
    /// Exposures are unpatched by construction (installed fixes remove them); `false` is refused.
    pub unpatched: Option<bool>,
    /// `fuzzy` (default), `partial_cpe`, `exact_cpe` or `exact_purl`.
    pub min_confidence: Option<String>,
}

/// The national view (central analysts only): members exposed, by member.
#[utoipa::path(get, path = "/api/v1/exposures", tag = "estate", params(NationalQuery),
    responses((status = 200, description = "Exposures by member")), security(("bearer" = [])))]
pub async fn national_exposures(
    State(state): State<AppState>,
    p: Principal,
    Query(q): Query<NationalQuery>,
) -> ApiResult<Json<Value>> {
    p.require_central()?;
    if q.unpatched == Some(false) {
        return Err(ApiError::bad_request(
            "invalid_filter",
            "unpatched=false: ward reports only unpatched exposures (an installed fix removes it)",
        ));
    }
    let min = match q.min_confidence.as_deref() {
        None => MatchConfidence::Fuzzy,
        Some(s) => serde_json::from_value(json!(s)).map_err(|_| {
            ApiError::bad_request(
                "invalid_filter",
                format!(
                    "min_confidence {s:?}: expected fuzzy, partial_cpe, exact_cpe or exact_purl"
                ),
            )
        })?,
    };
    let view = state
        .scan
        .vulns
        .national(q.kev.unwrap_or(false), q.ransomware.unwrap_or(false), min)
        .await?;
    let members: Vec<Value> = view
        .iter()
        .map(|(org, ex)| json!({"org": org, "count": ex.len(), "exposures": ex}))
        .collect();
    Ok(Json(json!({"members": members})))
}

/// Each vulnerability feed's schedule and state (last run, next run, counts, errors).
#[utoipa::path(get, path = "/api/v1/vulns/feeds", tag = "estate",
    responses((status = 200, description = "Feeds")), security(("bearer" = [])))]
pub async fn list_feeds(State(state): State<AppState>, _p: Principal) -> ApiResult<Json<Value>> {
    Ok(Json(json!(state.scan.vulns.feeds().await?)))
}

/// Pulls a feed's data (the body: a KEV catalogue, an NVD API 2.0 response or CVE record, an
/// OSV record or array, a CSAF 2.0 advisory). Central analysts only.
#[utoipa::path(post, path = "/api/v1/vulns/feeds/{feed}", tag = "estate",
    request_body(content = String, content_type = "application/json"),
    responses((status = 200, description = "What the pull stored and the drafts it filed"), (status = 400, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn pull_feed(
    State(state): State<AppState>,
    p: Principal,
    Path(feed): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    p.require_central()?;
    let out = state
        .scan
        .vulns
        .pull(&feed, body.to_vec())
        .await
        .map_err(|e| match e {
            VulnError::UnknownFeed(_) => ApiError::not_found(e.to_string()),
            VulnError::Invalid { .. } => ApiError::bad_request("invalid_feed_data", e.to_string()),
            VulnError::Fetch { .. } => {
                ApiError::new(StatusCode::BAD_GATEWAY, "feed_unreachable", e.to_string())
            }
            VulnError::Store(s) => ApiError::from(s),
        })?;
    Ok(Json(json!(out)))
}

/// Draft advisory requests (one per new KEV entry with exposed members). Central analysts only.
#[utoipa::path(get, path = "/api/v1/advisory-drafts", tag = "estate",
    responses((status = 200, description = "Drafts")), security(("bearer" = [])))]
pub async fn list_drafts(State(state): State<AppState>, p: Principal) -> ApiResult<Json<Value>> {
    p.require_central()?;
    Ok(Json(json!(state.store.list_advisory_drafts().await?)))
}
