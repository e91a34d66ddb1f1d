//! `/api/v1/intel/…`: submit indicators (STIX bundle, MISP event JSON, MISP CSV, freetext),
//! list and search them, report sightings and false positives, export them (STIX bundle,
//! MISP JSON, CSV, plain lists per type), and manage feeds. Every read goes through the
//! store's TLP × distribution × role filter and `ward_intel::policy::can_read`.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use ward_intel::export::{self, Producer};
use ward_intel::feeds::misp;
use ward_intel::feeds::stix_bundle::import_bundle;
use ward_intel::feeds::IndicatorRecord;
use ward_intel::policy::{can_read, Distribution};
use ward_intel::stix::Timestamp;
use ward_intel::tlp::Tlp;
use ward_model::clock::now_ms;
use ward_storage::intel::{IndicatorQuery, StoredIndicator};

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::intel::{
    access_meta, caller, distribution_name, from_stored, kind_from_str, parse_distribution,
    tlp_from_rank, IntelCaller, PublishReport,
};
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/intel/indicators",
            get(list_indicators)
                .post(submit_indicators)
                .layer(axum::extract::DefaultBodyLimit::max(MAX_SUBMIT_BYTES)),
        )
        .route("/api/v1/intel/indicators/{id}", get(get_indicator))
        .route(
            "/api/v1/intel/indicators/{id}/sightings",
            post(report_sighting),
        )
        .route(
            "/api/v1/intel/indicators/{id}/false-positives",
            post(report_false_positive),
        )
        .route("/api/v1/intel/export/{format}", get(export_indicators))
        .route(
            "/api/v1/intel/feeds",
            get(crate::intel_feeds::list_feeds).post(crate::intel_feeds::add_feed),
        )
        .route(
            "/api/v1/intel/feeds/{name}/run",
            post(crate::intel_feeds::run_feed_now),
        )
        .route("/api/v1/intel/warninglists", get(warninglists))
}

/// Largest submission (a national feed's bundle is a few tens of MB).
pub const MAX_SUBMIT_BYTES: usize = 64 * 1024 * 1024;

async fn intel_caller(state: &AppState, p: Principal) -> ApiResult<IntelCaller> {
    caller(&state.store, &state.cfg.intel, p).await
}

/// How submitted data is read.
#[derive(Debug, Deserialize, IntoParams)]
pub struct SubmitParams {
    /// `stix`, `misp`, `csv` or `freetext`; default from Content-Type
    /// (`application/stix+json`, `text/csv`, `text/plain`; JSON with `Event` is MISP).
    pub format: Option<String>,
    /// TLP for values that carry none: CLEAR, GREEN, AMBER, AMBER+STRICT, RED (default AMBER).
    pub tlp: Option<String>,
    /// `own_org`, `community`, `connected`, `all` or `sharing_group:<n>` (default: the
    /// national centre publishes to all, members to their community).
    pub distribution: Option<String>,
    /// Name recorded as the source (default `api:<organisation>`).
    pub source: Option<String>,
}

fn bad(code: &'static str, m: impl Into<String>) -> ApiError {
    ApiError::bad_request(code, m)
}

/// Submit indicators.
///
/// The body is a STIX 2.1 bundle, a MISP event (`{"Event": …}`), MISP CSV or freetext
/// (refanged; `hxxp`, `[.]` accepted). Indicator values are stored with the caller's
/// organisation as owner and are matched against incoming events at once; the last
/// `intel.retro_hunt_days` days of events are searched for them before the reply.
#[utoipa::path(
    post, path = "/api/v1/intel/indicators", tag = "intel", params(SubmitParams),
    request_body(content = String, description = "STIX bundle, MISP event JSON, MISP CSV or freetext"),
    responses(
        (status = 200, description = "Stored; what was added, updated, skipped", body = PublishReport),
        (status = 400, description = "Unreadable body or parameter (invalid_intel, invalid_request)", body = crate::error::ErrorBody),
        (status = 401, description = "No credential", body = crate::error::ErrorBody),
        (status = 403, description = "Viewers cannot publish", body = crate::error::ErrorBody),
        (status = 413, description = "Body over 64 MiB", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn submit_indicators(
    State(state): State<AppState>,
    principal: Principal,
    Query(params): Query<SubmitParams>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<PublishReport>> {
    let c = intel_caller(&state, principal).await?;
    if !c.may_publish() {
        return Err(ApiError::forbidden(
            "organisation viewers may read intelligence but not publish it",
        ));
    }
    let tlp = match &params.tlp {
        Some(t) => Tlp::parse(t).ok_or_else(|| {
            bad(
                "invalid_request",
                format!("tlp {t:?} is not one of CLEAR, GREEN, AMBER, AMBER+STRICT, RED"),
            )
        })?,
        None => Tlp::Amber,
    };
    let dist = match &params.distribution {
        Some(d) => parse_distribution(d).ok_or_else(|| {
            bad(
                "invalid_request",
                format!("distribution {d:?} is not own_org, community, connected, all or sharing_group:<n>"),
            )
        })?,
        None => c.default_distribution(),
    };
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let format = match params.format.as_deref() {
        Some(f) => f.to_ascii_lowercase(),
        None if ct.starts_with("text/csv") => "csv".into(),
        None if ct.starts_with("text/plain") => "freetext".into(),
        None if ct.contains("stix") => "stix".into(),
        None => {
            let head = &body[..body.len().min(4096)];
            if String::from_utf8_lossy(head).contains("\"Event\"") {
                "misp".into()
            } else {
                "stix".into()
            }
        }
    };
    let source = params
        .source
        .clone()
        .unwrap_or_else(|| format!("api:{}", c.owner));
    let tlp_given = params.tlp.is_some();
    // Parsing a large bundle is CPU work: off the runtime.
    let parsed = tokio::task::spawn_blocking(move || {
        parse_submission(&format, &body, &source, tlp, tlp_given)
    })
    .await
    .map_err(|e| ApiError::internal(format!("parser task failed: {e}")))??;
    let (objects, records, skipped) = parsed;
    let publisher = state.intel_publisher.clone();
    let tlp_of = |v: &Value| {
        v.get("object_marking_refs")
            .and_then(Value::as_array)
            .and_then(|a| Tlp::from_marking_refs(a.iter().filter_map(Value::as_str)))
            .unwrap_or(tlp)
    };
    let mut report = publisher
        .publish(
            &objects,
            &records,
            |v| c.access(tlp_of(v), dist),
            |r| c.access(r.tlp, dist),
        )
        .await?;
    report.skipped.extend(skipped);
    Ok(Json(report))
}

type Parsed = (Vec<Value>, Vec<IndicatorRecord>, Vec<String>);

fn parse_submission(
    format: &str,
    body: &[u8],
    source: &str,
    tlp: Tlp,
    tlp_given: bool,
) -> ApiResult<Parsed> {
    let invalid = |e: ward_intel::IntelError| bad("invalid_intel", e.to_string());
    match format {
        "stix" => {
            let imp = import_bundle(body, source, tlp).map_err(invalid)?;
            let objects = imp.objects.iter().map(|o| o.to_value()).collect();
            let skipped = imp
                .skipped
                .iter()
                .map(|(id, e)| format!("{id}: {e}"))
                .collect();
            Ok((objects, imp.indicators, skipped))
        }
        "misp" | "csv" | "freetext" => {
            let (mut records, skipped): (Vec<IndicatorRecord>, Vec<String>) = match format {
                "misp" => {
                    let ev = misp::parse_event(body).map_err(invalid)?;
                    (misp::event_indicators(&ev, source), Vec::new())
                }
                "csv" => {
                    let (r, n) = misp::parse_csv(body, source, true).map_err(invalid)?;
                    let s = if n > 0 {
                        vec![format!("{n} CSV rows not usable for detection")]
                    } else {
                        Vec::new()
                    };
                    (r, s)
                }
                _ => {
                    let text = String::from_utf8_lossy(body);
                    let now = Timestamp::now();
                    (
                        misp::freetext(&text)
                            .into_iter()
                            .map(|o| IndicatorRecord::from_value(o, source, now))
                            .collect(),
                        Vec::new(),
                    )
                }
            };
            for r in &mut records {
                if tlp_given || format != "misp" {
                    r.tlp = tlp;
                }
            }
            // TAXII readers get the same values as STIX indicators.
            let bundle = export::stix_bundle(&records, &[], &Producer::default());
            let objects = bundle["objects"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter(|o| o["type"] == "indicator")
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            Ok((objects, records, skipped))
        }
        other => Err(bad(
            "invalid_request",
            format!("format {other:?} is not stix, misp, csv or freetext"),
        )),
    }
}

/// Filters for listing and exporting.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ListParams {
    /// `ipv4`, `ipv6`, `domain`, `url`, `md5`, `sha1`, `sha256`, `email`.
    pub kind: Option<String>,
    /// Part of the value.
    pub q: Option<String>,
    pub source: Option<String>,
    /// Page size (default 100, at most 1000).
    pub limit: Option<usize>,
    /// The `next` of the previous page.
    pub after: Option<i64>,
}

/// One indicator value as a reader sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct IndicatorView {
    pub id: String,
    pub kind: String,
    pub value: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub labels: Vec<String>,
    pub tlp: String,
    pub distribution: String,
    pub owner_org: String,
    pub confidence: i64,
    /// Epoch ms.
    pub valid_from: i64,
    pub valid_until: Option<i64>,
    pub source: String,
    pub last_seen: Option<i64>,
    pub sightings: i64,
    pub false_positives: i64,
    pub updated_at: i64,
}

fn view(s: StoredIndicator) -> IndicatorView {
    IndicatorView {
        tlp: tlp_from_rank(s.access.tlp).to_string(),
        distribution: distribution_name(
            Distribution::from_misp(
                s.access.distribution.clamp(0, 4) as u8,
                s.access.sharing_group.map(|g| g.max(0) as u64),
            )
            .unwrap_or(Distribution::OwnOrg),
        ),
        owner_org: s.access.owner_org,
        id: s.indicator_id,
        kind: s.kind,
        value: s.value,
        name: s.name,
        description: s.description,
        labels: s.labels,
        confidence: s.confidence,
        valid_from: s.valid_from,
        valid_until: s.valid_until,
        source: s.source,
        last_seen: s.last_seen,
        sightings: s.sightings,
        false_positives: s.false_positives,
        updated_at: s.updated_at,
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IndicatorPage {
    pub items: Vec<IndicatorView>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next: Option<i64>,
}

/// The store's answer, checked again value by value against the policy.
async fn visible(
    state: &AppState,
    c: &IntelCaller,
    q: &IndicatorQuery,
) -> ApiResult<(Vec<StoredIndicator>, bool)> {
    let (items, more) = state.store.query_indicators(&c.reader, q).await?;
    let mut out = Vec::with_capacity(items.len());
    for i in items {
        if can_read(&c.viewer, &access_meta(&i.access)) {
            out.push(i);
        } else {
            state.intel.denied.inc();
            tracing::error!(id = %i.indicator_id, "store returned an indicator the policy refuses; withheld");
        }
    }
    Ok((out, more))
}

fn query_from(p: &ListParams, limit: usize) -> ApiResult<IndicatorQuery> {
    if let Some(k) = &p.kind {
        if kind_from_str(k).is_none() {
            return Err(bad(
                "invalid_request",
                format!("kind {k:?} is not ipv4, ipv6, domain, url, md5, sha1, sha256 or email"),
            ));
        }
    }
    Ok(IndicatorQuery {
        kind: p.kind.clone(),
        value_contains: p.q.clone(),
        source: p.source.clone(),
        indicator_id: None,
        added_after_us: p.after,
        limit,
    })
}

/// List and search indicators.
///
/// Only what the caller may read under TLP and distribution. Ordered by when each value
/// was added or last changed; page with `after`.
#[utoipa::path(
    get, path = "/api/v1/intel/indicators", tag = "intel", params(ListParams),
    responses(
        (status = 200, description = "A page of indicator values", body = IndicatorPage),
        (status = 400, description = "Bad filter", body = crate::error::ErrorBody),
        (status = 401, description = "No credential", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn list_indicators(
    State(state): State<AppState>,
    principal: Principal,
    Query(p): Query<ListParams>,
) -> ApiResult<Json<IndicatorPage>> {
    let c = intel_caller(&state, principal).await?;
    let q = query_from(&p, p.limit.unwrap_or(100).clamp(1, 1000))?;
    let (items, more) = visible(&state, &c, &q).await?;
    let next = if more {
        items.last().map(|i| i.date_added)
    } else {
        None
    };
    Ok(Json(IndicatorPage {
        items: items.into_iter().map(view).collect(),
        next,
    }))
}

/// One indicator (all its values).
#[utoipa::path(
    get, path = "/api/v1/intel/indicators/{id}", tag = "intel",
    params(("id" = String, Path, description = "indicator--<uuid>")),
    responses(
        (status = 200, description = "The indicator's values", body = [IndicatorView]),
        (status = 404, description = "No such indicator, or not visible to you", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn get_indicator(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<IndicatorView>>> {
    let c = intel_caller(&state, principal).await?;
    let items = one(&state, &c, &id).await?;
    Ok(Json(items.into_iter().map(view).collect()))
}

async fn one(state: &AppState, c: &IntelCaller, id: &str) -> ApiResult<Vec<StoredIndicator>> {
    let q = IndicatorQuery {
        indicator_id: Some(id.to_string()),
        limit: 1000,
        ..Default::default()
    };
    let (items, _) = visible(state, c, &q).await?;
    if items.is_empty() {
        return Err(ApiError::not_found(format!(
            "indicator {id} does not exist or is not visible to you"
        )));
    }
    Ok(items)
}

/// A sighting or false-positive report.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ReportBody {
    /// Times seen (sightings; default 1).
    pub count: Option<i64>,
    /// When it was last seen, epoch ms (default now).
    pub seen_at: Option<i64>,
    pub note: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReportResult {
    pub indicator: String,
    pub values: u64,
}

async fn report(
    state: AppState,
    principal: Principal,
    id: String,
    body: Option<Json<ReportBody>>,
    false_positive: bool,
) -> ApiResult<Json<ReportResult>> {
    let c = intel_caller(&state, principal).await?;
    one(&state, &c, &id).await?;
    let b = body.map(|Json(b)| b).unwrap_or_default();
    let org = if c.viewer.org.is_empty() {
        None
    } else {
        Some(c.viewer.org.as_str())
    };
    let values = state
        .store
        .report_indicator(
            &id,
            false_positive,
            org,
            b.count.unwrap_or(1),
            b.note.as_deref(),
            b.seen_at.unwrap_or_else(now_ms),
        )
        .await?;
    // A false positive takes the indicator out of matching; a sighting resets its decay.
    state.intel.refresh(&state.store).await?;
    Ok(Json(ReportResult {
        indicator: id,
        values,
    }))
}

/// Report a sighting.
#[utoipa::path(
    post, path = "/api/v1/intel/indicators/{id}/sightings", tag = "intel",
    params(("id" = String, Path, description = "indicator--<uuid>")),
    request_body = ReportBody,
    responses(
        (status = 200, description = "Recorded", body = ReportResult),
        (status = 404, description = "No such indicator, or not visible to you", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn report_sighting(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    body: Option<Json<ReportBody>>,
) -> ApiResult<Json<ReportResult>> {
    report(state, principal, id, body, false).await
}

/// Report a false positive (the indicator stops matching).
#[utoipa::path(
    post, path = "/api/v1/intel/indicators/{id}/false-positives", tag = "intel",
    params(("id" = String, Path, description = "indicator--<uuid>")),
    request_body = ReportBody,
    responses(
        (status = 200, description = "Recorded", body = ReportResult),
        (status = 404, description = "No such indicator, or not visible to you", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn report_false_positive(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    body: Option<Json<ReportBody>>,
) -> ApiResult<Json<ReportResult>> {
    report(state, principal, id, body, true).await
}

/// Most values one export holds.
const EXPORT_MAX: usize = 200_000;

/// Export indicators.
///
/// `stix` (a STIX 2.1 bundle valid under `stix2-validator --strict`), `misp` (a MISP
/// event), `csv`, or `list` (one value per line for `kind`, for firewalls and DNS
/// blocklists; only values valid now and not reported as false positives).
#[utoipa::path(
    get, path = "/api/v1/intel/export/{format}", tag = "intel",
    params(("format" = String, Path, description = "stix, misp, csv or list"), ListParams),
    responses(
        (status = 200, description = "The export"),
        (status = 400, description = "Unknown format, or list without kind", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn export_indicators(
    State(state): State<AppState>,
    principal: Principal,
    Path(format): Path<String>,
    Query(p): Query<ListParams>,
) -> ApiResult<Response> {
    let c = intel_caller(&state, principal).await?;
    if !matches!(format.as_str(), "stix" | "misp" | "csv" | "list") {
        return Err(bad(
            "invalid_request",
            format!("export format {format:?} is not stix, misp, csv or list"),
        ));
    }
    let kind = match (&format[..], &p.kind) {
        ("list", None) => {
            return Err(bad(
                "invalid_request",
                "a plain list needs kind=ipv4|ipv6|domain|url|md5|sha1|sha256|email",
            ))
        }
        (_, k) => k.as_deref().and_then(kind_from_str),
    };
    let mut q = query_from(&p, 10_000)?;
    let mut records = Vec::new();
    loop {
        let (items, more) = visible(&state, &c, &q).await?;
        q.added_after_us = items.last().map(|i| i.date_added).or(q.added_after_us);
        records.extend(items.iter().filter_map(from_stored));
        if !more || records.len() >= EXPORT_MAX {
            break;
        }
    }
    let (ct, body) = tokio::task::spawn_blocking(move || match format.as_str() {
        "stix" => (
            "application/stix+json;version=2.1",
            export::stix_bundle(&records, &[], &Producer::default()).to_string(),
        ),
        "misp" => (
            "application/json",
            export::misp_event(&records, "ward export", &Producer::default()).to_string(),
        ),
        "csv" => ("text/csv; charset=utf-8", export::csv(&records)),
        _ => (
            "text/plain; charset=utf-8",
            match kind {
                Some(k) => export::plain_list(&records, k, now_ms() / 1000),
                None => String::new(),
            },
        ),
    })
    .await
    .map_err(|e| ApiError::internal(format!("export task failed: {e}")))?;
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, ct)], body).into_response())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WarninglistInfo {
    /// Lists loaded (shipped ones plus `intel.warninglists_dir`).
    pub lists: usize,
}

/// Warninglists loaded.
#[utoipa::path(
    get, path = "/api/v1/intel/warninglists", tag = "intel",
    responses((status = 200, description = "How many lists keep benign values out of matching", body = WarninglistInfo)),
    security(("bearer" = []))
)]
pub async fn warninglists(
    State(state): State<AppState>,
    _principal: Principal,
) -> ApiResult<Json<WarninglistInfo>> {
    Ok(Json(WarninglistInfo {
        lists: state.intel.lists.len(),
    }))
}
