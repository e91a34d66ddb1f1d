//! Event search and retro-hunt over the search index.
//!
//! `GET /api/v1/search` finds events by time range, organisation, host, class, observable
//! (kind and value, a value of any kind, or an IP CIDR block) and free text over the original
//! record. Observable, organisation, host and time filters are answered from indexes; free text
//! is a bounded scan of the candidates they leave, and the answer says how much it read.

use axum::extract::{Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use ward_model::clock::now_ms;
use ward_model::OdsCode;
use ward_storage::{Cursor, EventIndex, ObservableQuery, SearchHit, SearchQuery};

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/search", get(search))
        .route("/api/v1/search/retro", post(retro_search))
}

#[derive(Debug, Default, Clone, Deserialize, Serialize, IntoParams)]
pub struct SearchParams {
    /// An observable: IP address, CIDR block (at most 4,096 addresses), domain, URL, hash, user
    /// name or e-mail address.
    pub ioc: Option<String>,
    /// The observable's kind (`ip`, `domain`, `url`, `hash`, `user`, `email`); default: any
    /// kind the value could be.
    pub kind: Option<String>,
    /// Organisations (ODS codes, comma-separated). Default: all you may see.
    pub org: Option<String>,
    /// Host name as the event reports it.
    pub host: Option<String>,
    /// OCSF class in snake case, e.g. `network_activity`, `dns_activity`, `process_activity`.
    pub class: Option<String>,
    /// How far back from `to`: `30d`, `12h`, `15m`, `90s`. Default `30d`. Ignored with `from`.
    pub since: Option<String>,
    /// Start of the range, epoch milliseconds (inclusive).
    pub from: Option<i64>,
    /// End of the range, epoch milliseconds (exclusive). Default: now.
    pub to: Option<i64>,
    /// Case-insensitive text in the original record.
    pub text: Option<String>,
    /// At most this many events (default 100, at most 1000).
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// The observable an event was found by.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MatchedObservable {
    pub kind: String,
    pub value: String,
}

/// One event found.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SearchHitView {
    /// Offset of the event in the event log.
    pub offset: u64,
    pub org: String,
    /// When it happened (epoch ms), or when it arrived if the record does not say.
    pub time: i64,
    pub received_at: i64,
    pub host: Option<String>,
    pub class: String,
    pub format: String,
    pub parsed: bool,
    pub matched: Option<MatchedObservable>,
    /// The original record, parsed when it is JSON.
    #[schema(value_type = Object)]
    pub event: serde_json::Value,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SearchResponse {
    pub from: i64,
    pub to: i64,
    pub hits: Vec<SearchHitView>,
    /// Pass as `cursor` for the next page; absent when there is no more.
    pub next_cursor: Option<String>,
    /// Records read for the free-text match (0 without `text`).
    pub scanned: u64,
    /// True when the free-text scan stopped at its limit; `next_cursor` continues it.
    pub scan_limited: bool,
}

/// `30d`, `12h`, `15m`, `90s` as milliseconds.
pub fn parse_duration_ms(s: &str) -> Result<i64, ApiError> {
    let s = s.trim();
    let bad = || {
        ApiError::bad_request(
            "invalid_since",
            format!("since {s:?}: expected a number and a unit, e.g. 30d, 12h, 15m, 90s"),
        )
    };
    let split = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (n, unit) = s.split_at(split);
    let n: i64 = n.parse().map_err(|_| bad())?;
    let unit_ms = match unit {
        "d" => 86_400_000,
        "h" => 3_600_000,
        "m" => 60_000,
        "s" => 1000,
        _ => return Err(bad()),
    };
    n.checked_mul(unit_ms).ok_or_else(bad)
}

/// Which organisations the caller searches: what was asked, limited to what they may see.
fn orgs_in_scope(p: &Principal, asked: Option<&str>) -> ApiResult<Vec<String>> {
    let mut asked_codes = Vec::new();
    for code in asked
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let ods: OdsCode = code.parse().map_err(|e: ward_model::InvalidOdsCode| {
            ApiError::bad_request("invalid_ods_code", e.to_string())
        })?;
        if !p.can_read_org(&ods) {
            return Err(ApiError::forbidden(format!(
                "you may not read {ods}'s data"
            )));
        }
        asked_codes.push(ods.to_string());
    }
    match p.org_scope() {
        Some(own) if asked_codes.is_empty() => Ok(vec![own.to_string()]),
        _ => Ok(asked_codes),
    }
}

fn view(hit: SearchHit) -> SearchHitView {
    let event = serde_json::from_str(&hit.record)
        .unwrap_or_else(|_| serde_json::Value::String(hit.record.clone()));
    SearchHitView {
        offset: hit.offset,
        org: hit.org,
        time: hit.time_ms,
        received_at: hit.received_at_ms,
        host: hit.host,
        class: hit.class,
        format: hit.format,
        parsed: hit.parsed,
        matched: hit
            .matched
            .map(|(kind, value)| MatchedObservable { kind, value }),
        event,
    }
}

/// Runs a search for `p` (the API and the web page share it).
pub async fn run_search(
    state: &AppState,
    p: &Principal,
    params: &SearchParams,
) -> ApiResult<SearchResponse> {
    let orgs = orgs_in_scope(p, params.org.as_deref())?;
    let to = params.to.unwrap_or_else(|| now_ms() + 1);
    let from = match params.from {
        Some(f) => f,
        None => to - parse_duration_ms(params.since.as_deref().unwrap_or("30d"))?,
    };
    let cursor = params
        .cursor
        .as_deref()
        .filter(|c| !c.is_empty())
        .map(|c| c.parse::<Cursor>())
        .transpose()?;
    let nonempty = |s: &Option<String>| {
        s.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let q = SearchQuery {
        from_ms: from,
        to_ms: to,
        orgs,
        host: nonempty(&params.host),
        class: nonempty(&params.class),
        observable: nonempty(&params.ioc).map(|value| ObservableQuery {
            kind: nonempty(&params.kind),
            value,
        }),
        text: nonempty(&params.text),
        limit: params.limit.unwrap_or(100).clamp(1, 1000),
        cursor,
        text_scan_limit: state.cfg.search.text_scan_limit,
    };
    let page = state.search_index.search(&q).await?;
    Ok(SearchResponse {
        from,
        to,
        hits: page.hits.into_iter().map(view).collect(),
        next_cursor: page.next_cursor.map(|c| c.to_string()),
        scanned: page.scanned,
        scan_limited: page.scan_limited,
    })
}

/// Events by time, organisation, host, class, observable and free text, newest first.
#[utoipa::path(get, path = "/api/v1/search", tag = "search", params(SearchParams),
    responses((status = 200, body = SearchResponse),
              (status = 400, description = "A parameter is invalid", body = crate::error::ErrorBody),
              (status = 403, description = "Another organisation's data", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn search(
    State(state): State<AppState>,
    p: Principal,
    Query(params): Query<SearchParams>,
) -> ApiResult<Json<SearchResponse>> {
    Ok(Json(run_search(&state, &p, &params).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RetroRequest {
    /// The indicators: kind (`ip`, `domain`, `url`, `hash`, `user`, `email`) and value.
    pub observables: Vec<MatchedObservable>,
    /// How many days back (default 30).
    pub days: Option<u32>,
    /// At most this many hits (default 1000, at most 10000).
    pub limit: Option<usize>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RetroHitView {
    pub offset: u64,
    pub org: String,
    pub time: i64,
    pub kind: String,
    pub value: String,
}

/// Retro-hunt: every event of the last N days holding any of the indicators, across all
/// organisations (central analysts only).
#[utoipa::path(post, path = "/api/v1/search/retro", tag = "search", request_body = RetroRequest,
    responses((status = 200, body = Vec<RetroHitView>),
              (status = 403, description = "Not a central analyst", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn retro_search(
    State(state): State<AppState>,
    p: Principal,
    Json(req): Json<RetroRequest>,
) -> ApiResult<Json<Vec<RetroHitView>>> {
    p.require_central()?;
    if req.observables.len() > 100_000 {
        return Err(ApiError::bad_request(
            "too_many_observables",
            format!(
                "{} observables; at most 100000 per retro-hunt",
                req.observables.len()
            ),
        ));
    }
    let pairs: Vec<(String, String)> = req
        .observables
        .into_iter()
        .map(|o| (o.kind, o.value))
        .collect();
    let hits = state
        .search_index
        .retro_search(
            &pairs,
            req.days.unwrap_or(30),
            now_ms(),
            req.limit.unwrap_or(1000).clamp(1, 10_000),
        )
        .await?;
    Ok(Json(
        hits.into_iter()
            .map(|h| RetroHitView {
                offset: h.offset,
                org: h.org,
                time: h.time_ms,
                kind: h.kind,
                value: h.value,
            })
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("30d").unwrap(), 30 * 86_400_000);
        assert_eq!(parse_duration_ms("12h").unwrap(), 12 * 3_600_000);
        assert_eq!(parse_duration_ms("15m").unwrap(), 900_000);
        assert!(parse_duration_ms("30").is_err());
        assert!(parse_duration_ms("d").is_err());
        assert!(parse_duration_ms("3w").is_err());
    }
}
