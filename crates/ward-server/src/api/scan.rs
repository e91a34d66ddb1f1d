//! The authorised scanner: members' scopes (central analysts manage them, members read their
//! own), scan runs with live progress and cancellation, and findings as JSON, CSV or
//! nmap-style XML.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};
use ward_model::clock::now_ms;
use ward_model::OdsCode;
use ward_scan::checks::portscan::PortSpec;
use ward_scan::output::xml_escape;
use ward_scan::{Check, ScanRequest};
use ward_storage::{FindingFilter, FindingRecord, ScanScopeRecord};

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::scan::{parse_scope, Schedule};
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/scan/scopes", get(list_scopes).post(create_scope))
        .route(
            "/api/v1/scan/scopes/{id}",
            get(get_scope).put(update_scope).delete(delete_scope),
        )
        .route("/api/v1/scan/scopes/{id}/audit", get(scope_audit))
        .route("/api/v1/scans", get(list_runs).post(start_run))
        .route("/api/v1/scans/{id}", get(get_run))
        .route("/api/v1/scans/{id}/cancel", post(cancel_run))
        .route("/api/v1/findings", get(list_findings))
        .route("/api/v1/findings/{id}/status", post(set_finding_status))
}

fn actor(p: &Principal) -> String {
    match p {
        Principal::Person(u) => format!("user:{} <{}>", u.name, u.email),
        Principal::Member { org, key_id } => format!("key:{key_id} ({org})"),
    }
}

fn org_filter(p: &Principal, asked: Option<&str>) -> ApiResult<Option<OdsCode>> {
    let asked = asked
        .map(|s| s.parse::<OdsCode>())
        .transpose()
        .map_err(|e| ApiError::bad_request("invalid_ods_code", e.to_string()))?;
    match (p.org_scope(), asked) {
        (None, asked) => Ok(asked),
        (Some(own), None) => Ok(Some(own.clone())),
        (Some(own), Some(asked)) if *own == asked => Ok(Some(asked)),
        (Some(_), Some(asked)) => Err(ApiError::forbidden(format!(
            "you may not read {asked}'s data"
        ))),
    }
}

fn can_read(p: &Principal, org: &str) -> bool {
    org.parse::<OdsCode>().is_ok_and(|o| p.can_read_org(&o))
}

async fn scope_for(state: &AppState, p: &Principal, id: &str) -> ApiResult<ScanScopeRecord> {
    match state.store.get_scan_scope(id).await? {
        Some(s) if can_read(p, &s.org_code) => Ok(s),
        _ => Err(ApiError::not_found(format!("scan scope {id} not found"))),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScopeBody {
    /// The scanner's scope: id, member, cidrs, host_names, windows, allowed_checks,
    /// max_rate_per_sec, authorised_by, authorised_at (see docs/scanner.md).
    #[schema(value_type = Object)]
    pub scope: Value,
    /// `{"every_secs": N}` or `{"daily_at": "HH:MM"}` (UTC), optional `ports`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub schedule: Option<Schedule>,
}

fn checked(
    body: &ScopeBody,
    path_id: Option<&str>,
) -> ApiResult<(OdsCode, Value, Option<Value>, Option<i64>)> {
    let scope = parse_scope(&body.scope).map_err(|m| ApiError::bad_request("invalid_scope", m))?;
    if let Some(id) = path_id {
        if scope.id != id {
            return Err(ApiError::bad_request(
                "invalid_scope",
                format!(
                    "the body's scope id {:?} is not the path's {id:?}",
                    scope.id
                ),
            ));
        }
    }
    let org: OdsCode = scope
        .member
        .parse()
        .map_err(|e: ward_model::InvalidOdsCode| {
            ApiError::bad_request("invalid_ods_code", e.to_string())
        })?;
    let (schedule, next) = match &body.schedule {
        Some(s) => {
            s.validate()
                .map_err(|m| ApiError::bad_request("invalid_schedule", m))?;
            (serde_json::to_value(s).ok(), s.next_after(now_ms()))
        }
        None => (None, None),
    };
    Ok((org, body.scope.clone(), schedule, next))
}

/// Scopes the caller may see.
#[utoipa::path(get, path = "/api/v1/scan/scopes", tag = "scan",
    responses((status = 200, description = "Scopes with their schedules")), security(("bearer" = [])))]
pub async fn list_scopes(State(state): State<AppState>, p: Principal) -> ApiResult<Json<Value>> {
    let org = org_filter(&p, None)?;
    Ok(Json(json!(
        state.store.list_scan_scopes(org.as_ref()).await?
    )))
}

/// Registers a member's authorised scope (central analysts only); audited.
#[utoipa::path(post, path = "/api/v1/scan/scopes", tag = "scan",
    responses((status = 201, description = "Created"), (status = 400, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_scope(
    State(state): State<AppState>,
    p: Principal,
    Json(body): Json<ScopeBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    p.require_central()?;
    let (org, spec, schedule, next) = checked(&body, None)?;
    let id = spec["id"].as_str().unwrap_or_default().to_string();
    let rec = state
        .store
        .create_scan_scope(
            &id,
            &org,
            &spec,
            schedule.as_ref(),
            next,
            &actor(&p),
            now_ms(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(json!(rec))))
}

#[utoipa::path(get, path = "/api/v1/scan/scopes/{id}", tag = "scan",
    responses((status = 200, description = "The scope"), (status = 404, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn get_scope(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(json!(scope_for(&state, &p, &id).await?)))
}

/// Replaces a scope (central analysts only); the audit keeps before and after.
#[utoipa::path(put, path = "/api/v1/scan/scopes/{id}", tag = "scan",
    responses((status = 200, description = "Updated"), (status = 400, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn update_scope(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    Json(body): Json<ScopeBody>,
) -> ApiResult<Json<Value>> {
    p.require_central()?;
    let (org, spec, schedule, next) = checked(&body, Some(&id))?;
    let before = scope_for(&state, &p, &id).await?;
    if before.org_code != org.as_str() {
        return Err(ApiError::bad_request(
            "invalid_scope",
            format!(
                "scope {id} belongs to {}; a scope cannot move to another member",
                before.org_code
            ),
        ));
    }
    let rec = state
        .store
        .update_scan_scope(&id, &spec, schedule.as_ref(), next, &actor(&p), now_ms())
        .await?;
    Ok(Json(json!(rec)))
}

/// Withdraws a scope (central analysts only); audited.
#[utoipa::path(delete, path = "/api/v1/scan/scopes/{id}", tag = "scan",
    responses((status = 204, description = "Deleted"), (status = 404, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn delete_scope(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    p.require_central()?;
    state
        .store
        .delete_scan_scope(&id, &actor(&p), now_ms())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every change of a scope: who, when, before and after.
#[utoipa::path(get, path = "/api/v1/scan/scopes/{id}/audit", tag = "scan",
    responses((status = 200, description = "Audit entries, oldest first")), security(("bearer" = [])))]
pub async fn scope_audit(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let entries = state.store.scan_scope_audit(&id).await?;
    if entries.first().is_none_or(|e| !can_read(&p, &e.org_code)) {
        return Err(ApiError::not_found(format!("scan scope {id} not found")));
    }
    Ok(Json(json!(entries)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartBody {
    pub scope_id: String,
    /// Addresses or names; empty = everything the scope registers.
    #[serde(default)]
    pub targets: Vec<String>,
    /// `"full"`, `{"top": N}` or `{"list": [ports]}`; default the top 100.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub ports: Option<PortSpec>,
    /// Checks wanted (`port_scan`, `smb`, `ms17010`, …); default all the scope allows.
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>)]
    pub checks: Option<BTreeSet<Check>>,
}

/// Starts a scan of a scope now (central analysts only). Targets outside the scope are
/// refused before any packet and recorded with the run.
#[utoipa::path(post, path = "/api/v1/scans", tag = "scan",
    responses((status = 202, description = "The run, queued"), (status = 404, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn start_run(
    State(state): State<AppState>,
    p: Principal,
    Json(body): Json<StartBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    p.require_central()?;
    if !state.scan.enabled() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "scanner_disabled",
            "the scanner is disabled in this server's configuration ([scan] enabled = false)",
        ));
    }
    let scope = scope_for(&state, &p, &body.scope_id).await?;
    let req = ScanRequest {
        targets: body.targets,
        ports: body.ports.unwrap_or(PortSpec::Top(100)),
        checks: body.checks,
    };
    let run = state
        .scan
        .start_run(&scope, req, "manual", &actor(&p))
        .await?;
    Ok((StatusCode::ACCEPTED, Json(json!(run))))
}

#[derive(Deserialize, IntoParams)]
pub struct RunQuery {
    pub scope: Option<String>,
    pub org: Option<String>,
    pub limit: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/scans", tag = "scan", params(RunQuery),
    responses((status = 200, description = "Runs, newest first")), security(("bearer" = [])))]
pub async fn list_runs(
    State(state): State<AppState>,
    p: Principal,
    Query(q): Query<RunQuery>,
) -> ApiResult<Json<Value>> {
    let org = org_filter(&p, q.org.as_deref())?;
    let runs = state
        .store
        .list_scan_runs(
            org.as_ref(),
            q.scope.as_deref(),
            q.limit.unwrap_or(100).clamp(1, 1000),
        )
        .await?;
    Ok(Json(json!(runs)))
}

/// One run with its live progress while it runs, and its refusals.
#[utoipa::path(get, path = "/api/v1/scans/{id}", tag = "scan",
    responses((status = 200, description = "The run"), (status = 404, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn get_run(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    let run = match state.store.get_scan_run(id).await? {
        Some(r) if can_read(&p, &r.org_code) => r,
        _ => return Err(ApiError::not_found(format!("scan run {id} not found"))),
    };
    let refusals = state.store.list_scan_refusals(id).await?;
    let mut v = json!(run);
    if let Some(live) = state.scan.live_progress(id) {
        v["progress"] = json!(live);
    }
    v["refusals"] = json!(refusals);
    Ok(Json(v))
}

/// Stops a queued or running scan at once (central analysts only).
#[utoipa::path(post, path = "/api/v1/scans/{id}/cancel", tag = "scan",
    responses((status = 202, description = "Cancelling"), (status = 409, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn cancel_run(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    p.require_central()?;
    let Some(run) = state.store.get_scan_run(id).await? else {
        return Err(ApiError::not_found(format!("scan run {id} not found")));
    };
    if !state.scan.cancel(id) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_running",
            format!("scan run {id} is not running (status {})", run.status),
        ));
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"id": id, "status": "cancelling"})),
    ))
}

#[derive(Deserialize, IntoParams)]
pub struct FindingQuery {
    pub org: Option<String>,
    /// `open`, `fixed` or `risk_accepted`.
    pub status: Option<String>,
    pub severity: Option<String>,
    pub check: Option<String>,
    pub scope: Option<String>,
    pub limit: Option<i64>,
    /// `json` (default), `csv` or `xml` (nmap-style).
    pub format: Option<String>,
}

/// Findings, most severe first, as JSON, CSV or nmap-style XML.
#[utoipa::path(get, path = "/api/v1/findings", tag = "scan", params(FindingQuery),
    responses((status = 200, description = "Findings")), security(("bearer" = [])))]
pub async fn list_findings(
    State(state): State<AppState>,
    p: Principal,
    Query(q): Query<FindingQuery>,
) -> ApiResult<Response> {
    let org = org_filter(&p, q.org.as_deref())?;
    let findings = state
        .store
        .list_findings(&FindingFilter {
            org: org.map(|o| o.as_str().to_string()),
            status: q.status.clone(),
            severity: q.severity.clone(),
            check: q.check.clone(),
            scope: q.scope.clone(),
            limit: q.limit.map(|l| l.clamp(1, 100_000)),
        })
        .await?;
    Ok(match q.format.as_deref().unwrap_or("json") {
        "json" => Json(json!(findings)).into_response(),
        "csv" => (
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            findings_csv(&findings),
        )
            .into_response(),
        "xml" => (
            [(header::CONTENT_TYPE, "application/xml")],
            findings_xml(&findings),
        )
            .into_response(),
        other => {
            return Err(ApiError::bad_request(
                "invalid_format",
                format!("format {other:?}: expected json, csv or xml"),
            ))
        }
    })
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FindingStatusBody {
    /// `risk_accepted` (with `accepted_until`) or `open`.
    pub status: String,
    /// Epoch milliseconds.
    #[serde(default)]
    pub accepted_until: Option<i64>,
}

/// Accepts a finding's risk until a date, or reopens it (central analysts and the member's lead).
#[utoipa::path(post, path = "/api/v1/findings/{id}/status", tag = "scan",
    responses((status = 200, description = "The finding"), (status = 400, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn set_finding_status(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
    Json(body): Json<FindingStatusBody>,
) -> ApiResult<Json<Value>> {
    let Some(f) = state.store.get_finding(id).await? else {
        return Err(ApiError::not_found(format!("finding {id} not found")));
    };
    let org: OdsCode = f
        .org_code
        .parse()
        .map_err(|_| ApiError::internal("stored finding has an invalid organisation"))?;
    if !p.can_read_org(&org) {
        return Err(ApiError::not_found(format!("finding {id} not found")));
    }
    if !p.can_manage_org(&org) {
        return Err(ApiError::forbidden(
            "only central analysts and the member's lead may do this",
        ));
    }
    if body.status == "risk_accepted" && body.accepted_until.is_some_and(|t| t <= now_ms()) {
        return Err(ApiError::bad_request(
            "invalid_expiry",
            "accepted_until must be in the future",
        ));
    }
    let f = state
        .store
        .set_finding_status(id, &body.status, body.accepted_until, &actor(&p))
        .await?;
    Ok(Json(json!(f)))
}

/// Spreadsheets run cells that start with these as formulas.
fn csv_cell(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

pub fn findings_csv(findings: &[FindingRecord]) -> String {
    let mut out = String::from(
        "id,org,scope_id,host,address,port,check,subject,severity,status,title,summary,first_seen,last_seen,fixed_at,accepted_until,incident_id\r\n",
    );
    let opt = |v: Option<i64>| v.map(|x| x.to_string()).unwrap_or_default();
    for f in findings {
        let row = [
            f.id.to_string(),
            f.org_code.clone(),
            f.scope_id.clone(),
            f.host.clone(),
            f.address.clone(),
            f.port.map(|p| p.to_string()).unwrap_or_default(),
            f.check.clone(),
            f.subject.clone(),
            f.severity.clone(),
            f.status.clone(),
            f.title.clone(),
            f.evidence["summary"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            f.first_seen.to_string(),
            f.last_seen.to_string(),
            opt(f.fixed_at),
            opt(f.accepted_until),
            opt(f.incident_id),
        ];
        let cells: Vec<String> = row.iter().map(|c| csv_cell(c)).collect();
        out.push_str(&cells.join(","));
        out.push_str("\r\n");
    }
    out
}

/// Stored findings in nmap's `nmaprun` shape: one host per address, port findings as
/// `<script id="ward-<check>">` under their port, host findings under `<hostscript>`.
pub fn findings_xml(findings: &[FindingRecord]) -> String {
    let mut by_addr: std::collections::BTreeMap<(String, String), Vec<&FindingRecord>> =
        Default::default();
    for f in findings {
        by_addr
            .entry((f.org_code.clone(), f.address.clone()))
            .or_default()
            .push(f);
    }
    let mut x = String::new();
    let _ = writeln!(
        x,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE nmaprun>"
    );
    let _ = writeln!(
        x,
        "<nmaprun scanner=\"ward\" args=\"ward findings list --xml\" start=\"{}\" version=\"{}\" xmloutputversion=\"1.05\">",
        now_ms() / 1000,
        env!("CARGO_PKG_VERSION")
    );
    for ((org, addr), fs) in &by_addr {
        let ty = if addr.contains(':') { "ipv6" } else { "ipv4" };
        let _ = writeln!(
            x,
            "<host><status state=\"up\" reason=\"user-set\" reason_ttl=\"0\"/>"
        );
        let _ = writeln!(
            x,
            "<address addr=\"{}\" addrtype=\"{ty}\"/>",
            xml_escape(addr)
        );
        let _ = writeln!(
            x,
            "<hostnames><hostname name=\"{}\" type=\"user\"/></hostnames>",
            xml_escape(&fs[0].host)
        );
        let mut ports: Vec<u16> = fs.iter().filter_map(|f| f.port).collect();
        ports.sort_unstable();
        ports.dedup();
        let _ = writeln!(x, "<ports>");
        for port in ports {
            let _ = write!(
                x,
                "<port protocol=\"tcp\" portid=\"{port}\"><state state=\"open\" reason=\"syn-ack\" reason_ttl=\"0\"/>"
            );
            for f in fs.iter().filter(|f| f.port == Some(port)) {
                let _ = write!(x, "{}", script(f));
            }
            let _ = writeln!(x, "</port>");
        }
        let _ = writeln!(x, "</ports>");
        let host_level: Vec<&&FindingRecord> = fs.iter().filter(|f| f.port.is_none()).collect();
        if !host_level.is_empty() {
            let _ = write!(x, "<hostscript>");
            for f in host_level {
                let _ = write!(x, "{}", script(f));
            }
            let _ = writeln!(x, "</hostscript>");
        }
        let _ = writeln!(
            x,
            "<!-- member {} -->\n</host>",
            xml_escape(org).replace("--", "- -")
        );
    }
    let _ = writeln!(
        x,
        "<runstats><finished time=\"{}\" exit=\"success\"/><hosts up=\"{n}\" down=\"0\" total=\"{n}\"/></runstats>\n</nmaprun>",
        now_ms() / 1000,
        n = by_addr.len()
    );
    x
}

fn script(f: &FindingRecord) -> String {
    let mut out = format!("{} [{}] status={}", f.title, f.severity, f.status);
    if !f.subject.is_empty() {
        let _ = write!(out, " {}", f.subject);
    }
    if let Some(s) = f.evidence["summary"].as_str() {
        let _ = write!(out, ": {s}");
    }
    format!(
        "<script id=\"ward-{}\" output=\"{}\"/>",
        xml_escape(&f.check),
        xml_escape(&out)
    )
}
