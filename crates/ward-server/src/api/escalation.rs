//! Incidents that reach people: escalation policies, on-call rotas, silences, triage
//! (severity, TLP, assignees), acknowledgement (API and signed link), the chase state, and
//! GOV.UK Notify's delivery-status and received-text callbacks.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use ward_model::clock::now_ms;
use ward_model::escalation::{
    Chase, EscalationPolicy, EscalationStep, OnCall, Rota, RotaOverride, RotaPeriod, Silence,
    SilenceMatcher, Triage,
};
use ward_model::records::{Contact, TimelineEntry};
use ward_model::OdsCode;
use ward_storage::NewPolicy;

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub fn routes() -> axum::Router<AppState> {
    Router::new()
        .route(
            "/api/v1/organisations/{ods}/escalation-policies",
            get(list_policies).post(create_policy),
        )
        .route("/api/v1/escalation-policies/{id}", delete(delete_policy))
        .route(
            "/api/v1/organisations/{ods}/rotas",
            get(list_rotas).post(create_rota),
        )
        .route("/api/v1/rotas/{id}/overrides", post(create_override))
        .route("/api/v1/organisations/{ods}/on-call", get(on_call))
        .route("/api/v1/silences", get(list_silences).post(create_silence))
        .route("/api/v1/silences/{id}", delete(expire_silence))
        .route(
            "/api/v1/incidents/{id}/triage",
            get(get_triage).post(set_triage),
        )
        .route("/api/v1/incidents/{id}/chases", get(list_chases))
        .route("/api/v1/incidents/{id}/acknowledge", post(acknowledge))
        .route("/ack/{token}", get(ack_page).post(ack_by_link))
        .route(
            "/api/v1/callbacks/notify/delivery-status",
            post(delivery_status_callback),
        )
        .route(
            "/api/v1/callbacks/notify/received-text",
            post(received_text_callback),
        )
}

fn parse_ods(raw: &str) -> ApiResult<OdsCode> {
    raw.parse().map_err(|e: ward_model::InvalidOdsCode| {
        ApiError::bad_request("invalid_ods_code", e.to_string())
    })
}

fn readable(p: &Principal, ods: &str) -> ApiResult<OdsCode> {
    let code = parse_ods(ods)?;
    if !p.can_read_org(&code) {
        return Err(ApiError::forbidden(format!(
            "you may not read {code}'s data"
        )));
    }
    Ok(code)
}

fn manageable(p: &Principal, ods: &str) -> ApiResult<OdsCode> {
    let code = parse_ods(ods)?;
    if !p.can_manage_org(&code) {
        return Err(ApiError::forbidden(format!("you may not change {code}")));
    }
    Ok(code)
}

fn person(p: &Principal) -> ApiResult<String> {
    match p {
        Principal::Person(u) => Ok(u.email.clone()),
        Principal::Member { .. } => Err(ApiError::forbidden(
            "this is done by people, not by API keys",
        )),
    }
}

// ---- escalation policies ----

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePolicy {
    pub name: String,
    /// 1 (low) to 4 (critical): incidents at least this severe follow this policy.
    pub min_severity: i64,
    pub steps: Vec<EscalationStep>,
    /// Seconds between the last step and the next round (default 900).
    #[serde(default = "default_repeat")]
    pub repeat_delay_secs: u64,
    /// Rounds before giving up (default 3).
    #[serde(default = "default_rounds")]
    pub max_rounds: i64,
}

fn default_repeat() -> u64 {
    900
}
fn default_rounds() -> i64 {
    3
}

/// An organisation's escalation policies, by severity.
#[utoipa::path(get, path = "/api/v1/organisations/{ods}/escalation-policies", tag = "escalation",
    params(("ods" = String, Path, description = "ODS code")),
    responses((status = 200, body = Vec<EscalationPolicy>), (status = 403, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_policies(
    State(state): State<AppState>,
    p: Principal,
    Path(ods): Path<String>,
) -> ApiResult<Json<Vec<EscalationPolicy>>> {
    let code = readable(&p, &ods)?;
    Ok(Json(state.store.list_policies(Some(&code)).await?))
}

/// Add an escalation policy: ordered steps, each reaching contacts, roles or whoever is on
/// call, on channels in order of preference, after a delay; repeated until acknowledged.
#[utoipa::path(post, path = "/api/v1/organisations/{ods}/escalation-policies", tag = "escalation",
    request_body = CreatePolicy, params(("ods" = String, Path, description = "ODS code")),
    responses((status = 201, body = EscalationPolicy), (status = 400, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_policy(
    State(state): State<AppState>,
    p: Principal,
    Path(ods): Path<String>,
    Json(req): Json<CreatePolicy>,
) -> ApiResult<(StatusCode, Json<EscalationPolicy>)> {
    let code = manageable(&p, &ods)?;
    ward_alerting::escalation::validate_steps(&req.steps)
        .map_err(|e| ApiError::bad_request("invalid_policy", e))?;
    let policy = state
        .store
        .create_policy(
            &code,
            &NewPolicy {
                name: req.name,
                min_severity: req.min_severity,
                steps: req.steps,
                repeat_delay_secs: req.repeat_delay_secs,
                max_rounds: req.max_rounds,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(policy)))
}

/// Remove an escalation policy; chases under it end at their next step.
#[utoipa::path(delete, path = "/api/v1/escalation-policies/{id}", tag = "escalation",
    params(("id" = i64, Path, description = "policy id")),
    responses((status = 204), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete_policy(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    let policy = state
        .store
        .get_policy(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("escalation policy {id} not found")))?;
    manageable(&p, policy.org_code.as_str())?;
    state.store.delete_policy(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- rotas ----

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRota {
    pub name: String,
    /// `daily` or `weekly`.
    pub period: String,
    /// Epoch ms of the first handover (default: now).
    pub starts_at: Option<i64>,
    /// Contact ids of the organisation, in turn order.
    pub members: Vec<i64>,
}

#[utoipa::path(get, path = "/api/v1/organisations/{ods}/rotas", tag = "escalation",
    params(("ods" = String, Path, description = "ODS code")),
    responses((status = 200, body = Vec<Rota>)), security(("bearer" = [])))]
pub async fn list_rotas(
    State(state): State<AppState>,
    p: Principal,
    Path(ods): Path<String>,
) -> ApiResult<Json<Vec<Rota>>> {
    let code = readable(&p, &ods)?;
    Ok(Json(state.store.list_rotas(Some(&code)).await?))
}

/// Add an on-call rota: members take turns of a day or a week from `starts_at`.
#[utoipa::path(post, path = "/api/v1/organisations/{ods}/rotas", tag = "escalation",
    request_body = CreateRota, params(("ods" = String, Path, description = "ODS code")),
    responses((status = 201, body = Rota), (status = 400, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_rota(
    State(state): State<AppState>,
    p: Principal,
    Path(ods): Path<String>,
    Json(req): Json<CreateRota>,
) -> ApiResult<(StatusCode, Json<Rota>)> {
    let code = manageable(&p, &ods)?;
    let period = RotaPeriod::parse(req.period.trim()).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_period",
            format!("period {:?}; expected daily or weekly", req.period),
        )
    })?;
    let rota = state
        .store
        .create_rota(
            &code,
            req.name.trim(),
            period,
            req.starts_at.unwrap_or_else(now_ms),
            &req.members,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(rota)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOverride {
    pub contact_id: i64,
    pub starts_at: i64,
    pub ends_at: i64,
    #[serde(default)]
    pub reason: String,
}

/// Have someone cover a rota between two instants.
#[utoipa::path(post, path = "/api/v1/rotas/{id}/overrides", tag = "escalation",
    request_body = CreateOverride, params(("id" = i64, Path, description = "rota id")),
    responses((status = 201, body = RotaOverride), (status = 400, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_override(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
    Json(req): Json<CreateOverride>,
) -> ApiResult<(StatusCode, Json<RotaOverride>)> {
    let rota = state
        .store
        .get_rota(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("rota {id} not found")))?;
    manageable(&p, rota.org_code.as_str())?;
    let o = state
        .store
        .add_rota_override(
            id,
            req.contact_id,
            req.starts_at,
            req.ends_at,
            req.reason.trim(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(o)))
}

#[derive(Deserialize, IntoParams)]
pub struct AtQuery {
    /// Epoch ms (default: now).
    pub at: Option<i64>,
}

/// Who is on call on one rota.
#[derive(Serialize, ToSchema)]
pub struct OnCallEntry {
    pub rota: Rota,
    pub on_call: Option<OnCall>,
    pub contact: Option<Contact>,
}

/// Who is on call now (or `at`) on each of the organisation's rotas.
#[utoipa::path(get, path = "/api/v1/organisations/{ods}/on-call", tag = "escalation",
    params(("ods" = String, Path, description = "ODS code"), AtQuery),
    responses((status = 200, body = Vec<OnCallEntry>)), security(("bearer" = [])))]
pub async fn on_call(
    State(state): State<AppState>,
    p: Principal,
    Path(ods): Path<String>,
    Query(q): Query<AtQuery>,
) -> ApiResult<Json<Vec<OnCallEntry>>> {
    let code = readable(&p, &ods)?;
    let at = q.at.unwrap_or_else(now_ms);
    let mut out = Vec::new();
    for rota in state.store.list_rotas(Some(&code)).await? {
        let overrides = state.store.rota_overrides(rota.id, at, at + 1).await?;
        let on_call = ward_alerting::rota::on_call_at(&rota, &overrides, at);
        let contact = match &on_call {
            Some(oc) => state.store.get_contact(oc.contact_id).await?,
            None => None,
        };
        out.push(OnCallEntry {
            rota,
            on_call,
            contact,
        });
    }
    Ok(Json(out))
}

// ---- silences ----

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSilence {
    /// The organisation it applies to; omit for a federation-wide silence (analysts only).
    pub org: Option<String>,
    /// All must hold: `rule_id`, `rule_title`, `org`, `host`, `level`, `tag` or `event.<path>`.
    pub matchers: Vec<SilenceMatcher>,
    pub reason: String,
    /// Epoch ms it ends; or give `duration_secs`.
    pub expires_at: Option<i64>,
    pub duration_secs: Option<u64>,
}

#[derive(Deserialize, IntoParams)]
pub struct SilenceQuery {
    /// Include expired silences.
    #[serde(default)]
    pub all: bool,
}

/// Silences the caller may see: their organisation's and federation-wide ones.
#[utoipa::path(get, path = "/api/v1/silences", tag = "escalation", params(SilenceQuery),
    responses((status = 200, body = Vec<Silence>)), security(("bearer" = [])))]
pub async fn list_silences(
    State(state): State<AppState>,
    p: Principal,
    Query(q): Query<SilenceQuery>,
) -> ApiResult<Json<Vec<Silence>>> {
    let active_at = (!q.all).then(now_ms);
    Ok(Json(
        state.store.list_silences(p.org_scope(), active_at).await?,
    ))
}

/// Silence detections by rule, organisation, host or any field until an expiry: they are
/// still stored, marked silenced, but open and notify nothing.
#[utoipa::path(post, path = "/api/v1/silences", tag = "escalation", request_body = CreateSilence,
    responses((status = 201, body = Silence), (status = 400, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_silence(
    State(state): State<AppState>,
    p: Principal,
    Json(req): Json<CreateSilence>,
) -> ApiResult<(StatusCode, Json<Silence>)> {
    let author = person(&p)?;
    let org = match req.org.as_deref() {
        Some(o) => Some(manageable(&p, o)?),
        None => {
            p.require_central()?;
            None
        }
    };
    ward_alerting::silence::validate_matchers(&req.matchers)
        .map_err(|e| ApiError::bad_request("invalid_silence", e))?;
    let now = now_ms();
    let expires_at = match (req.expires_at, req.duration_secs) {
        (Some(at), None) => at,
        (None, Some(secs)) => now.saturating_add(secs.min(i64::MAX as u64 / 2000) as i64 * 1000),
        _ => {
            return Err(ApiError::bad_request(
                "invalid_silence",
                "give exactly one of expires_at (epoch ms) and duration_secs",
            ))
        }
    };
    let s = state
        .store
        .create_silence(
            org.as_ref(),
            &req.matchers,
            req.reason.trim(),
            &author,
            expires_at,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(s)))
}

/// End a silence now.
#[utoipa::path(delete, path = "/api/v1/silences/{id}", tag = "escalation",
    params(("id" = i64, Path, description = "silence id")),
    responses((status = 200, body = Silence), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn expire_silence(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
) -> ApiResult<Json<Silence>> {
    let s = state
        .store
        .get_silence(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("silence {id} not found")))?;
    match &s.org_code {
        Some(o) => {
            manageable(&p, o.as_str())?;
        }
        None => p.require_central()?,
    }
    Ok(Json(state.store.expire_silence(id, now_ms()).await?))
}

// ---- triage, chases, acknowledgement ----

/// The incident if the caller may change it (central, or a lead of an organisation in it).
async fn changeable(state: &AppState, p: &Principal, id: i64) -> ApiResult<String> {
    let actor = person(p)?;
    let detail = super::incidents::incident_detail(state, p, id).await?;
    let may = p.is_central()
        || detail
            .incident
            .organisations
            .iter()
            .filter_map(|o| o.parse::<OdsCode>().ok())
            .any(|o| p.can_manage_org(&o));
    if !may {
        return Err(ApiError::forbidden(format!(
            "you may not change incident {id}"
        )));
    }
    Ok(actor)
}

#[utoipa::path(get, path = "/api/v1/incidents/{id}/triage", tag = "escalation",
    params(("id" = i64, Path, description = "incident id")),
    responses((status = 200, body = Triage), (status = 404, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn get_triage(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
) -> ApiResult<Json<Triage>> {
    super::incidents::incident_detail(&state, &p, id).await?;
    state
        .store
        .get_triage(id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("incident {id} not found")))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TriageChange {
    /// 1 (low) to 4 (critical).
    pub severity: Option<i64>,
    /// `clear`, `green`, `amber`, `amber+strict` or `red`.
    pub tlp: Option<String>,
    /// The full list of assignees (replaces the current one).
    pub assignees: Option<Vec<String>>,
}

/// Set an incident's severity, TLP or assignees; the change goes on its timeline.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/triage", tag = "escalation", request_body = TriageChange,
    params(("id" = i64, Path, description = "incident id")),
    responses((status = 200, body = Triage), (status = 400, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn set_triage(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
    Json(req): Json<TriageChange>,
) -> ApiResult<Json<Triage>> {
    let actor = changeable(&state, &p, id).await?;
    Ok(Json(
        state
            .store
            .set_triage(
                id,
                req.severity,
                req.tlp.as_deref(),
                req.assignees.as_deref(),
                &actor,
            )
            .await?,
    ))
}

/// The escalation chases of an incident, one per organisation chased.
#[utoipa::path(get, path = "/api/v1/incidents/{id}/chases", tag = "escalation",
    params(("id" = i64, Path, description = "incident id")),
    responses((status = 200, body = Vec<Chase>), (status = 404, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn list_chases(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
) -> ApiResult<Json<Vec<Chase>>> {
    super::incidents::incident_detail(&state, &p, id).await?;
    let own = p.org_scope().map(|o| o.as_str().to_string());
    Ok(Json(
        state
            .store
            .chases_of("incident", id)
            .await?
            .into_iter()
            .filter(|c| own.as_deref().is_none_or(|o| o == c.org_code))
            .collect(),
    ))
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct AckRequest {
    #[serde(default)]
    pub comment: String,
}

/// Acknowledge an incident: it becomes `acknowledged` and every chase of it stops, on
/// every channel at once.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/acknowledge", tag = "escalation", request_body = AckRequest,
    params(("id" = i64, Path, description = "incident id")),
    responses((status = 200, body = TimelineEntry), (status = 400, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn acknowledge(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
    body: axum::body::Bytes,
) -> ApiResult<Json<TimelineEntry>> {
    let actor = changeable(&state, &p, id).await?;
    // The body is optional: a bare POST acknowledges with a default comment.
    let comment = if body.iter().all(u8::is_ascii_whitespace) {
        String::new()
    } else {
        serde_json::from_slice::<AckRequest>(&body)
            .map_err(|e| ApiError::bad_request("invalid_request", format!("body: {e}")))?
            .comment
    };
    let comment = if comment.trim().is_empty() {
        "acknowledged through the API".to_string()
    } else {
        comment.trim().to_string()
    };
    let entry = state
        .store
        .set_incident_status(id, "acknowledged", &actor, &comment)
        .await?;
    state
        .store
        .acknowledge_chases("incident", id, &actor, now_ms())
        .await?;
    count(
        &state,
        "ward_acknowledgements_total",
        "Acknowledgements, by route",
        &[("route", "api")],
    );
    Ok(Json(entry))
}

fn count(state: &AppState, name: &str, help: &str, labels: &[(&str, &str)]) {
    state.registry.counter(name, help, labels).inc();
}

fn page(status: StatusCode, title: &str, text: &str, form: bool) -> Response {
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let form = if form {
        "<form method=\"post\"><button type=\"submit\">Acknowledge</button></form>"
    } else {
        ""
    };
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>{t} - ward</title></head><body><main><h1>{t}</h1><p>{x}</p>{form}</main></body></html>",
        t = esc(title),
        x = esc(text)
    );
    (status, Html(html)).into_response()
}

fn link_error(state: &AppState, e: ward_alerting::acklink::AckLinkError) -> Response {
    let reason = match e {
        ward_alerting::acklink::AckLinkError::Expired(_) => "expired",
        ward_alerting::acklink::AckLinkError::BadSignature => "bad_signature",
        ward_alerting::acklink::AckLinkError::Malformed => "malformed",
    };
    count(
        state,
        "ward_ack_links_refused_total",
        "Acknowledgement links refused, by reason",
        &[("reason", reason)],
    );
    page(
        StatusCode::FORBIDDEN,
        "Link not accepted",
        &e.to_string(),
        false,
    )
}

/// Opening the link shows what it acknowledges and a button: mail scanners that follow links
/// must not acknowledge on someone's behalf, so only the POST acts.
pub async fn ack_page(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let signer = match crate::escalation::signer(&state.cfg) {
        Ok(s) => s,
        Err(e) => return ApiError::internal(e.to_string()).into_response(),
    };
    match signer.verify(&token, now_ms()) {
        Ok(claim) => page(
            StatusCode::OK,
            &format!("Acknowledge {} {}", claim.kind, claim.target_id),
            "Acknowledging stops the escalation on every channel and tells the team you have it.",
            true,
        ),
        Err(e) => link_error(&state, e),
    }
}

/// Acknowledges by signed link.
pub async fn ack_by_link(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    match ack_by_link_inner(&state, &token).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn ack_by_link_inner(state: &AppState, token: &str) -> ApiResult<Response> {
    let signer =
        crate::escalation::signer(&state.cfg).map_err(|e| ApiError::internal(e.to_string()))?;
    let now = now_ms();
    let claim = match signer.verify(token, now) {
        Ok(c) => c,
        Err(e) => return Ok(link_error(state, e)),
    };
    let contact = state.store.get_contact(claim.contact_id).await?;
    let Some(contact) = contact else {
        return Ok(page(
            StatusCode::FORBIDDEN,
            "Link not accepted",
            "the contact this link was sent to no longer exists",
            false,
        ));
    };
    let actor = format!("link {} ({})", contact.name, contact.org_code);
    if claim.kind == "incident" {
        match state
            .store
            .set_incident_status(
                claim.target_id,
                "acknowledged",
                &actor,
                "acknowledged by signed link",
            )
            .await
        {
            Ok(_) => {}
            // Already acknowledged (by someone else, or by this link twice): the chase is over.
            Err(ward_storage::StoreError::Invalid(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    if claim.kind == "advisory" {
        // Each recipient organisation acknowledges an advisory for itself: the link ends only
        // the chase at the contact's organisation.
        for c in state.store.chases_of("advisory", claim.target_id).await? {
            if c.org_code == contact.org_code.as_str() {
                state
                    .store
                    .end_chase(c.id, "acknowledged", &actor, now)
                    .await?;
            }
        }
    } else {
        state
            .store
            .acknowledge_chases(&claim.kind, claim.target_id, &actor, now)
            .await?;
    }
    count(
        state,
        "ward_acknowledgements_total",
        "Acknowledgements, by route",
        &[("route", "link")],
    );
    Ok(page(
        StatusCode::OK,
        &format!("{} {} acknowledged", claim.kind, claim.target_id),
        &format!("Thank you, {}. The escalation has stopped.", contact.name),
        false,
    ))
}

// ---- GOV.UK Notify callbacks ----

fn callback_authorised(state: &AppState, headers: &HeaderMap, kind: &str) -> ApiResult<()> {
    let refuse = |reason: &str, msg: &str| {
        state
            .registry
            .counter(
                "ward_notify_callbacks_total",
                "GOV.UK Notify callbacks, by kind and outcome",
                &[("kind", kind), ("outcome", reason)],
            )
            .inc();
        ApiError::unauthorized(msg.to_string())
    };
    let Some(expected) = state.cfg.escalation.callback_token.as_deref() else {
        return Err(refuse(
            "not_configured",
            "callbacks are refused: escalation.callback_token is not set",
        ));
    };
    let authorization = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if !ward_channels::notify::verify_callback_bearer(authorization, expected) {
        return Err(refuse("bad_token", "the callback's bearer token is wrong"));
    }
    Ok(())
}

/// Notify's delivery-status callback body.
#[derive(Deserialize, ToSchema)]
pub struct DeliveryStatus {
    /// Notify's notification id.
    pub id: String,
    /// Our reference.
    pub reference: Option<String>,
    /// created, sending, pending, sent, delivered, permanent-failure, temporary-failure or
    /// technical-failure.
    pub status: String,
}

#[derive(Serialize, ToSchema)]
pub struct CallbackAnswer {
    pub outcome: String,
}

/// GOV.UK Notify's delivery-status callback (bearer token `escalation.callback_token`):
/// records the status on the notification; failures trigger failover to the next channel.
#[utoipa::path(post, path = "/api/v1/callbacks/notify/delivery-status", tag = "escalation", request_body = DeliveryStatus,
    responses((status = 200, body = CallbackAnswer), (status = 400, body = crate::error::ErrorBody),
        (status = 401, body = crate::error::ErrorBody)))]
pub async fn delivery_status_callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(req): Json<DeliveryStatus>,
) -> ApiResult<Json<CallbackAnswer>> {
    callback_authorised(&state, &headers, "delivery_status")?;
    let outcome = |o: &str| {
        state
            .registry
            .counter(
                "ward_notify_callbacks_total",
                "GOV.UK Notify callbacks, by kind and outcome",
                &[("kind", "delivery_status"), ("outcome", o)],
            )
            .inc();
    };
    if !ward_storage::DELIVERY_STATUSES.contains(&req.status.as_str()) {
        outcome("unknown_status");
        return Err(ApiError::bad_request(
            "invalid_status",
            format!(
                "status {:?}; expected one of {}",
                req.status,
                ward_storage::DELIVERY_STATUSES.join(", ")
            ),
        ));
    }
    let found = state
        .store
        .record_delivery_status(&req.id, req.reference.as_deref(), &req.status, now_ms())
        .await?;
    // An unknown id is answered 200: Notify retries anything else, and retrying cannot help.
    let o = if found.is_some() {
        "recorded"
    } else {
        "unknown_notification"
    };
    outcome(o);
    Ok(Json(CallbackAnswer { outcome: o.into() }))
}

/// Notify's received-text callback body.
#[derive(Deserialize, ToSchema)]
pub struct ReceivedText {
    pub id: String,
    pub source_number: String,
    pub message: String,
}

/// GOV.UK Notify's received-text callback (bearer token `escalation.callback_token`):
/// `ACK INC-42` from a contact of an organisation involved acknowledges the incident.
#[utoipa::path(post, path = "/api/v1/callbacks/notify/received-text", tag = "escalation", request_body = ReceivedText,
    responses((status = 200, body = CallbackAnswer), (status = 401, body = crate::error::ErrorBody)))]
pub async fn received_text_callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(req): Json<ReceivedText>,
) -> ApiResult<Json<CallbackAnswer>> {
    callback_authorised(&state, &headers, "received_text")?;
    let result = ward_alerting::acknowledge_text(&state.store, &req.source_number, &req.message)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, id = %req.id, "received text not processed");
            ApiError::internal("the received text could not be processed; Notify will retry")
        })?;
    let o = match result {
        Ok(()) => "acknowledged",
        Err(reason) => reason,
    };
    state
        .registry
        .counter(
            "ward_sms_replies_total",
            "Received texts, by what became of them",
            &[("outcome", o)],
        )
        .inc();
    Ok(Json(CallbackAnswer { outcome: o.into() }))
}
