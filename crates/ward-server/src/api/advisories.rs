//! Advisories (High Severity Alerts): the centre writes and publishes them; each recipient's
//! lead acknowledges, says whether it applies, posts updates and closes it when remediated;
//! compliance per advisory and per member, as JSON or CSV. TLP decides who reads what.

use std::sync::{Arc, OnceLock};

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};
use ward_alerting::advisories::{
    self as rules, check_action, may_read, resolve_recipients, standing, steps, Action,
    AdvisoryError, ExposureList, ExposureSource, Reader, Standing, StepState,
};
use ward_model::advisory::{
    Advisory, AdvisoryContent, AdvisoryDeadlines, AdvisoryLogEntry, AdvisoryRecipient,
    AdvisoryStatus, AdvisoryTarget, Applicability,
};
use ward_model::clock::{now_ms, rfc3339};
use ward_model::{OdsCode, Role};
use ward_storage::RecipientAction;

use crate::advisory_chase::{deadlines, AdvisoryChase};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

static EXPOSURE: OnceLock<Arc<dyn ExposureSource>> = OnceLock::new();

/// Plugs in what says which members are exposed to a CVE (the intelligence stage), for
/// advisories targeted by CVE. Only the first call counts; returns whether it did.
pub fn set_exposure_source(source: Arc<dyn ExposureSource>) -> bool {
    EXPOSURE.set(source).is_ok()
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/advisories",
            get(list_advisories).post(create_advisory),
        )
        .route("/api/v1/advisories/{id}", get(get_advisory))
        .route("/api/v1/advisories/{id}/publish", post(publish_advisory))
        .route("/api/v1/advisories/{id}/close", post(close_advisory))
        .route("/api/v1/advisories/{id}/ack", post(acknowledge))
        .route("/api/v1/advisories/{id}/respond", post(respond))
        .route("/api/v1/advisories/{id}/updates", post(post_update))
        .route("/api/v1/advisories/{id}/remediated", post(remediated))
        .route("/api/v1/advisories/{id}/compliance", get(compliance))
        .route(
            "/api/v1/advisories/{id}/compliance.csv",
            get(compliance_csv),
        )
        .route(
            "/api/v1/organisations/{ods}/advisories",
            get(org_advisories),
        )
}

/// The OpenAPI paths of this module, merged into the API's document.
#[derive(OpenApi)]
#[openapi(
    paths(
        list_advisories, create_advisory, get_advisory, publish_advisory, close_advisory,
        acknowledge, respond, post_update, remediated, compliance, compliance_csv,
        org_advisories,
    ),
    tags((name = "advisories", description = "High Severity Alerts: publication, members' responses, compliance")),
)]
pub struct AdvisoriesDoc;

fn advisory_error(state: &AppState, e: AdvisoryError) -> ApiError {
    refused(state, e.code());
    let status = match e {
        AdvisoryError::WrongStatus { .. } | AdvisoryError::AlreadyDone { .. } => {
            StatusCode::CONFLICT
        }
        AdvisoryError::Exposure { .. } => StatusCode::BAD_GATEWAY,
        _ => StatusCode::BAD_REQUEST,
    };
    ApiError::new(status, e.code(), e.to_string())
}

fn refused(state: &AppState, reason: &str) {
    state
        .registry
        .counter(
            "ward_advisory_refusals_total",
            "Advisory requests refused, by reason",
            &[("reason", reason)],
        )
        .inc();
}

fn reader(p: &Principal) -> Reader {
    match p {
        Principal::Person(u) if u.role.is_central() => Reader::Central,
        Principal::Person(u) => Reader::Person(u.role),
        Principal::Member { .. } => Reader::System,
    }
}

fn actor(p: &Principal) -> String {
    match p {
        Principal::Person(u) => u.email.clone(),
        Principal::Member { key_id, .. } => format!("key {key_id}"),
    }
}

/// The advisory if the caller may read it, with the caller's own organisation's answers when
/// it is a recipient. Unknown and unreadable look the same (404), so TLP leaks nothing.
async fn readable(
    state: &AppState,
    p: &Principal,
    id: &str,
) -> ApiResult<(Advisory, Option<AdvisoryRecipient>)> {
    let id = id.trim().to_ascii_uppercase();
    let not_found = || ApiError::not_found(format!("advisory {id} not found"));
    let advisory = state.store.get_advisory(&id).await?.ok_or_else(not_found)?;
    let own = match p.org_scope() {
        Some(org) => state.store.advisory_recipient(&id, org).await?,
        None => None,
    };
    if !may_read(
        advisory.content.tlp,
        advisory.status,
        reader(p),
        own.is_some(),
    ) {
        refused(state, "tlp");
        return Err(not_found());
    }
    Ok((advisory, own))
}

#[derive(Deserialize, IntoParams)]
pub struct ListQuery {
    /// draft, published or closed.
    pub status: Option<String>,
}

/// An advisory as listed: with the caller's own organisation's answers, if it received it.
#[derive(Serialize, ToSchema)]
pub struct AdvisorySummary {
    #[serde(flatten)]
    pub advisory: Advisory,
    pub recipient_count: usize,
    /// The caller's organisation's answers (members only).
    pub mine: Option<AdvisoryRecipient>,
}

/// Advisories the caller may read, newest first.
#[utoipa::path(get, path = "/api/v1/advisories", tag = "advisories", params(ListQuery),
    responses((status = 200, body = Vec<AdvisorySummary>)), security(("bearer" = [])))]
pub async fn list_advisories(
    State(state): State<AppState>,
    p: Principal,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Vec<AdvisorySummary>>> {
    let status = q
        .status
        .as_deref()
        .map(|s| {
            AdvisoryStatus::parse(s).ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_status",
                    format!("status {s:?}; expected draft, published or closed"),
                )
            })
        })
        .transpose()?;
    let mut out = Vec::new();
    for a in state.store.list_advisories(status).await? {
        let recipients = state.store.advisory_recipients(&a.id).await?;
        let mine = p
            .org_scope()
            .and_then(|org| recipients.iter().find(|r| &r.org_code == org).cloned());
        if may_read(a.content.tlp, a.status, reader(&p), mine.is_some()) {
            out.push(AdvisorySummary {
                recipient_count: recipients.len(),
                advisory: a,
                mine,
            });
        }
    }
    Ok(Json(out))
}

/// A new advisory: its content, and whether to publish it at once.
#[derive(Deserialize, ToSchema)]
pub struct NewAdvisory {
    #[serde(flatten)]
    pub content: AdvisoryContent,
    /// Publish now rather than keep a draft.
    #[serde(default)]
    pub publish: bool,
    /// For a CVE target: the exposed organisations, when the caller already knows them.
    #[serde(default)]
    pub exposed: Option<Vec<OdsCode>>,
}

/// Write an advisory (a draft, or published at once). Central analysts only.
#[utoipa::path(post, path = "/api/v1/advisories", tag = "advisories", request_body = NewAdvisory,
    responses((status = 201, body = Advisory), (status = 400, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn create_advisory(
    State(state): State<AppState>,
    p: Principal,
    Json(req): Json<NewAdvisory>,
) -> ApiResult<(StatusCode, Json<Advisory>)> {
    if let Err(e) = p.require_central() {
        refused(&state, "forbidden");
        return Err(e);
    }
    rules::validate_content(&req.content).map_err(|e| advisory_error(&state, e))?;
    let now = now_ms();
    let advisory = state
        .store
        .create_advisory(
            &req.content,
            rules::year_of(now),
            "manual",
            None,
            &actor(&p),
            now,
        )
        .await?;
    if !req.publish {
        return Ok((StatusCode::CREATED, Json(advisory)));
    }
    let published = publish(&state, &p, &advisory, req.exposed).await?;
    Ok((StatusCode::CREATED, Json(published)))
}

/// One advisory: content, recipients' answers (central analysts see all; members their own)
/// and what happened.
#[derive(Serialize, ToSchema)]
pub struct AdvisoryDetail {
    pub advisory: Advisory,
    pub recipients: Vec<AdvisoryRecipient>,
    pub log: Vec<AdvisoryLogEntry>,
}

/// One advisory, as far as the caller may read it.
#[utoipa::path(get, path = "/api/v1/advisories/{id}", tag = "advisories",
    params(("id" = String, Path, description = "advisory id, e.g. HSA-2026-0001")),
    responses((status = 200, body = AdvisoryDetail), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_advisory(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<AdvisoryDetail>> {
    let (advisory, own) = readable(&state, &p, &id).await?;
    let (recipients, log) = if p.is_central() {
        (
            state.store.advisory_recipients(&advisory.id).await?,
            state.store.advisory_log(&advisory.id).await?,
        )
    } else {
        let org = p.org_scope().cloned();
        let log = state
            .store
            .advisory_log(&advisory.id)
            .await?
            .into_iter()
            .filter(|e| e.org_code.is_none() || e.org_code == org)
            // Members see that it was published, not to whom.
            .map(|mut e| {
                if e.org_code.is_none() && e.action == "published" {
                    e.note.clear();
                }
                e
            })
            .collect();
        (own.into_iter().collect(), log)
    };
    Ok(Json(AdvisoryDetail {
        advisory,
        recipients,
        log,
    }))
}

#[derive(Deserialize, ToSchema, Default)]
pub struct PublishRequest {
    /// For a CVE target: the exposed organisations, when the caller already knows them.
    #[serde(default)]
    pub exposed: Option<Vec<OdsCode>>,
}

async fn publish(
    state: &AppState,
    p: &Principal,
    advisory: &Advisory,
    exposed: Option<Vec<OdsCode>>,
) -> ApiResult<Advisory> {
    if advisory.status != AdvisoryStatus::Draft {
        return Err(advisory_error(
            state,
            AdvisoryError::WrongStatus {
                id: advisory.id.clone(),
                status: advisory.status.as_str(),
                what: "only a draft can be published".into(),
            },
        ));
    }
    let members = state.store.list_orgs().await?;
    let given = match (&advisory.content.target, exposed) {
        (AdvisoryTarget::Cve { cve }, Some(orgs)) => Some(ExposureList(vec![(cve.clone(), orgs)])),
        // Who is exposed, from the members' estates as the vulnerability feeds see them now.
        (AdvisoryTarget::Cve { cve }, None) if EXPOSURE.get().is_none() => {
            let all = state.scan.vulns.exposures(None).await?;
            let orgs: Vec<OdsCode> = all
                .iter()
                .filter(|(_, list)| list.iter().any(|e| e.cve.eq_ignore_ascii_case(cve)))
                .filter_map(|(org, _)| org.parse().ok())
                .collect();
            Some(ExposureList(vec![(cve.clone(), orgs)]))
        }
        _ => None,
    };
    let source: Option<&dyn ExposureSource> = match &given {
        Some(list) => Some(list),
        None => EXPOSURE.get().map(|s| s.as_ref()),
    };
    let target = advisory.content.target.clone();
    let recipients =
        resolve_recipients(&target, &members, source).map_err(|e| advisory_error(state, e))?;
    let now = now_ms();
    let published = state
        .store
        .publish_advisory(
            &advisory.id,
            &recipients,
            deadlines(&state.cfg.advisories),
            &actor(p),
            now,
        )
        .await?;
    // Announce now rather than at the next chase pass; the chase repeats it harmlessly.
    let mut chase = AdvisoryChase::new(
        &state.cfg.advisories,
        state.store.clone(),
        state.registry.clone(),
        state.public_url.clone(),
    );
    if let Err(e) = chase.pass(now).await {
        tracing::error!(error = %e, advisory = %advisory.id, "publication notices not queued yet; the chase will retry");
    }
    Ok(published)
}

/// Publish a draft: fixes its recipients and deadlines and tells their contacts. Central
/// analysts only.
#[utoipa::path(post, path = "/api/v1/advisories/{id}/publish", tag = "advisories", request_body = PublishRequest,
    params(("id" = String, Path, description = "advisory id")),
    responses((status = 200, body = Advisory), (status = 400, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn publish_advisory(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    body: Option<Json<PublishRequest>>,
) -> ApiResult<Json<Advisory>> {
    if let Err(e) = p.require_central() {
        refused(&state, "forbidden");
        return Err(e);
    }
    let (advisory, _) = readable(&state, &p, &id).await?;
    let exposed = body.and_then(|Json(b)| b.exposed);
    Ok(Json(publish(&state, &p, &advisory, exposed).await?))
}

#[derive(Deserialize, ToSchema, Default)]
pub struct Note {
    /// The organisation answering (central analysts answering on a member's behalf; a lead's
    /// own organisation otherwise).
    #[serde(default)]
    pub org: Option<OdsCode>,
    #[serde(default)]
    pub note: String,
}

/// Close an advisory for everyone: no more answers, no more chasing. Central analysts only.
#[utoipa::path(post, path = "/api/v1/advisories/{id}/close", tag = "advisories", request_body = Note,
    params(("id" = String, Path, description = "advisory id")),
    responses((status = 200, body = Advisory), (status = 409, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn close_advisory(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    body: Option<Json<Note>>,
) -> ApiResult<Json<Advisory>> {
    if let Err(e) = p.require_central() {
        refused(&state, "forbidden");
        return Err(e);
    }
    let (advisory, _) = readable(&state, &p, &id).await?;
    if !rules::status_transition_allowed(advisory.status, AdvisoryStatus::Closed) {
        return Err(advisory_error(
            &state,
            AdvisoryError::WrongStatus {
                id: advisory.id,
                status: advisory.status.as_str(),
                what: "it is already closed".into(),
            },
        ));
    }
    let note = body.map(|Json(b)| b.note).unwrap_or_default();
    Ok(Json(
        state
            .store
            .close_advisory(&advisory.id, &actor(&p), note.trim(), now_ms())
            .await?,
    ))
}

/// Checks who answers for which organisation, and that the answer fits the state; then
/// records it.
async fn answer(
    state: &AppState,
    p: &Principal,
    id: &str,
    org: Option<OdsCode>,
    action: Action,
    note: &str,
) -> ApiResult<AdvisoryRecipient> {
    let org = match (org, p.org_scope()) {
        (Some(o), _) => o,
        (None, Some(own)) => own.clone(),
        (None, None) => {
            refused(state, "no_org");
            return Err(ApiError::bad_request(
                "org_required",
                "say which organisation you answer for (`org`)",
            ));
        }
    };
    let may_answer = match p {
        Principal::Person(u) if u.role.is_central() => true,
        Principal::Person(u) => u.role == Role::OrgLead && u.org_code.as_ref() == Some(&org),
        Principal::Member { .. } => false,
    };
    if !may_answer {
        refused(state, "forbidden");
        return Err(ApiError::forbidden(format!(
            "only {org}'s leads (or a central analyst) may answer for {org}"
        )));
    }
    let (advisory, _) = readable(state, p, id).await?;
    let Some(recipient) = state.store.advisory_recipient(&advisory.id, &org).await? else {
        refused(state, "not_a_recipient");
        return Err(ApiError::not_found(format!(
            "{org} is not a recipient of advisory {}",
            advisory.id
        )));
    };
    check_action(advisory.status, &recipient, action).map_err(|e| advisory_error(state, e))?;
    let stored = match action {
        Action::Acknowledge => RecipientAction::Acknowledge,
        Action::Respond(a) => RecipientAction::Respond(a),
        Action::Update => RecipientAction::Update,
        Action::Close => RecipientAction::Close,
    };
    Ok(state
        .store
        .record_advisory_action(&advisory.id, &org, stored, &actor(p), note.trim(), now_ms())
        .await?)
}

/// Acknowledge an advisory for your organisation.
#[utoipa::path(post, path = "/api/v1/advisories/{id}/ack", tag = "advisories", request_body = Note,
    params(("id" = String, Path, description = "advisory id")),
    responses((status = 200, body = AdvisoryRecipient), (status = 403, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn acknowledge(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    body: Option<Json<Note>>,
) -> ApiResult<Json<AdvisoryRecipient>> {
    let b = body.map(|Json(b)| b).unwrap_or_default();
    Ok(Json(
        answer(&state, &p, &id, b.org, Action::Acknowledge, &b.note).await?,
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct ApplicabilityAnswer {
    #[serde(default)]
    pub org: Option<OdsCode>,
    /// `applies` or `does_not_apply`.
    pub applicability: String,
    #[serde(default)]
    pub note: String,
}

/// Say whether an advisory applies to your organisation (this acknowledges it too).
#[utoipa::path(post, path = "/api/v1/advisories/{id}/respond", tag = "advisories", request_body = ApplicabilityAnswer,
    params(("id" = String, Path, description = "advisory id")),
    responses((status = 200, body = AdvisoryRecipient), (status = 400, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn respond(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    Json(b): Json<ApplicabilityAnswer>,
) -> ApiResult<Json<AdvisoryRecipient>> {
    let Some(a) = Applicability::parse(&b.applicability) else {
        refused(&state, "invalid_applicability");
        return Err(ApiError::bad_request(
            "invalid_applicability",
            format!(
                "applicability {:?}; expected applies or does_not_apply",
                b.applicability
            ),
        ));
    };
    Ok(Json(
        answer(&state, &p, &id, b.org, Action::Respond(a), &b.note).await?,
    ))
}

/// Post a progress update (the next one is due `update_days` later).
#[utoipa::path(post, path = "/api/v1/advisories/{id}/updates", tag = "advisories", request_body = Note,
    params(("id" = String, Path, description = "advisory id")),
    responses((status = 200, body = AdvisoryRecipient), (status = 400, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn post_update(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    body: Option<Json<Note>>,
) -> ApiResult<Json<AdvisoryRecipient>> {
    let b = body.map(|Json(b)| b).unwrap_or_default();
    if b.note.trim().is_empty() {
        refused(&state, "empty_update");
        return Err(ApiError::bad_request(
            "empty_update",
            "an update needs a note saying where remediation stands",
        ));
    }
    Ok(Json(
        answer(&state, &p, &id, b.org, Action::Update, &b.note).await?,
    ))
}

/// Close the advisory for your organisation: remediated.
#[utoipa::path(post, path = "/api/v1/advisories/{id}/remediated", tag = "advisories", request_body = Note,
    params(("id" = String, Path, description = "advisory id")),
    responses((status = 200, body = AdvisoryRecipient), (status = 400, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn remediated(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    body: Option<Json<Note>>,
) -> ApiResult<Json<AdvisoryRecipient>> {
    let b = body.map(|Json(b)| b).unwrap_or_default();
    Ok(Json(
        answer(&state, &p, &id, b.org, Action::Close, &b.note).await?,
    ))
}

/// One member's compliance with one advisory.
#[derive(Serialize, ToSchema, Clone)]
pub struct MemberCompliance {
    pub advisory_id: String,
    pub org_code: OdsCode,
    pub org_name: String,
    /// `complete`, `on_track` or `overdue`.
    pub standing: String,
    pub notified_at: i64,
    pub ack_due_at: i64,
    pub acknowledged_at: Option<i64>,
    pub acknowledged_by: Option<String>,
    /// `done_on_time`, `done_late`, `pending` or `overdue`.
    pub ack_state: String,
    pub applicability: Option<Applicability>,
    pub applicability_note: Option<String>,
    pub responded_at: Option<i64>,
    pub responded_by: Option<String>,
    pub respond_state: String,
    pub update_count: i64,
    pub last_update_at: Option<i64>,
    pub next_update_due_at: Option<i64>,
    pub update_state: String,
    pub remediation_due_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub closed_by: Option<String>,
    pub close_note: Option<String>,
    pub remediation_state: String,
    pub reminders: i64,
}

fn state_name(s: StepState) -> &'static str {
    match s {
        StepState::DoneOnTime => "done_on_time",
        StepState::DoneLate => "done_late",
        StepState::Pending => "pending",
        StepState::Overdue => "overdue",
        StepState::NotRequired => "not_required",
    }
}

fn member_compliance(
    r: &AdvisoryRecipient,
    d: &AdvisoryDeadlines,
    org_name: String,
    now: i64,
) -> MemberCompliance {
    let s = steps(r, d, now);
    let st = |i: usize| {
        s.get(i)
            .map(|x| state_name(x.state))
            .unwrap_or("")
            .to_string()
    };
    let due = |i: usize| s.get(i).and_then(|x| x.due_at);
    MemberCompliance {
        advisory_id: r.advisory_id.clone(),
        org_code: r.org_code.clone(),
        org_name,
        standing: match standing(r, d, now) {
            Standing::Complete => "complete",
            Standing::OnTrack => "on_track",
            Standing::Overdue => "overdue",
        }
        .into(),
        notified_at: r.notified_at,
        ack_due_at: r.notified_at + d.ack_ms,
        acknowledged_at: r.acknowledged_at.or(r.responded_at),
        acknowledged_by: r.acknowledged_by.clone().or(r.responded_by.clone()),
        ack_state: st(0),
        applicability: r.applicability,
        applicability_note: r.applicability_note.clone(),
        responded_at: r.responded_at,
        responded_by: r.responded_by.clone(),
        respond_state: st(1),
        update_count: r.update_count,
        last_update_at: r.last_update_at,
        next_update_due_at: due(2),
        update_state: st(2),
        remediation_due_at: due(3),
        closed_at: r.closed_at,
        closed_by: r.closed_by.clone(),
        close_note: r.close_note.clone(),
        remediation_state: st(3),
        reminders: r.reminders,
    }
}

/// Counts over all the members shown.
#[derive(Serialize, ToSchema, Default)]
pub struct ComplianceSummary {
    pub recipients: usize,
    pub acknowledged: usize,
    pub applies: usize,
    pub does_not_apply: usize,
    pub remediated: usize,
    pub complete: usize,
    pub overdue: usize,
}

#[derive(Serialize, ToSchema)]
pub struct Compliance {
    pub advisory: Advisory,
    pub as_of: i64,
    pub summary: ComplianceSummary,
    pub members: Vec<MemberCompliance>,
}

#[derive(Deserialize, IntoParams)]
pub struct ComplianceQuery {
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

async fn build_compliance(state: &AppState, p: &Principal, id: &str) -> ApiResult<Compliance> {
    let (advisory, own) = readable(state, p, id).await?;
    let recipients = if p.is_central() {
        state.store.advisory_recipients(&advisory.id).await?
    } else {
        own.into_iter().collect()
    };
    let d = advisory.deadlines.unwrap_or_default();
    // Once an advisory is closed, its record stands as it was then.
    let now = advisory.closed_at.unwrap_or_else(now_ms);
    let names: std::collections::HashMap<OdsCode, String> = state
        .store
        .list_orgs()
        .await?
        .into_iter()
        .map(|o| (o.ods_code, o.name))
        .collect();
    let members: Vec<MemberCompliance> = recipients
        .iter()
        .map(|r| {
            let name = names.get(&r.org_code).cloned().unwrap_or_default();
            member_compliance(r, &d, name, now)
        })
        .collect();
    let summary = ComplianceSummary {
        recipients: members.len(),
        acknowledged: members
            .iter()
            .filter(|m| m.acknowledged_at.is_some())
            .count(),
        applies: members
            .iter()
            .filter(|m| m.applicability == Some(Applicability::Applies))
            .count(),
        does_not_apply: members
            .iter()
            .filter(|m| m.applicability == Some(Applicability::DoesNotApply))
            .count(),
        remediated: members.iter().filter(|m| m.closed_at.is_some()).count(),
        complete: members.iter().filter(|m| m.standing == "complete").count(),
        overdue: members.iter().filter(|m| m.standing == "overdue").count(),
    };
    Ok(Compliance {
        advisory,
        as_of: now,
        summary,
        members,
    })
}

const CSV_COLUMNS: &[&str] = &[
    "advisory_id",
    "org_code",
    "org_name",
    "standing",
    "notified_at",
    "ack_due_at",
    "acknowledged_at",
    "acknowledged_by",
    "ack_state",
    "applicability",
    "applicability_note",
    "responded_at",
    "responded_by",
    "update_count",
    "last_update_at",
    "next_update_due_at",
    "update_state",
    "remediation_due_at",
    "closed_at",
    "closed_by",
    "close_note",
    "remediation_state",
    "reminders",
];

fn csv_field(s: &str) -> String {
    // A leading = + - @ makes spreadsheets run the cell as a formula; quote it as text.
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

/// RFC 4180 CSV, times in RFC 3339 UTC.
pub fn compliance_to_csv(c: &Compliance) -> String {
    let mut out = CSV_COLUMNS.join(",");
    out.push_str("\r\n");
    let t = |v: Option<i64>| v.map(rfc3339).unwrap_or_default();
    for m in &c.members {
        let row = [
            m.advisory_id.clone(),
            m.org_code.to_string(),
            m.org_name.clone(),
            m.standing.clone(),
            rfc3339(m.notified_at),
            rfc3339(m.ack_due_at),
            t(m.acknowledged_at),
            m.acknowledged_by.clone().unwrap_or_default(),
            m.ack_state.clone(),
            m.applicability
                .map(|a| a.as_str().to_string())
                .unwrap_or_default(),
            m.applicability_note.clone().unwrap_or_default(),
            t(m.responded_at),
            m.responded_by.clone().unwrap_or_default(),
            m.update_count.to_string(),
            t(m.last_update_at),
            t(m.next_update_due_at),
            m.update_state.clone(),
            t(m.remediation_due_at),
            t(m.closed_at),
            m.closed_by.clone().unwrap_or_default(),
            m.close_note.clone().unwrap_or_default(),
            m.remediation_state.clone(),
            m.reminders.to_string(),
        ];
        let cells: Vec<String> = row.iter().map(|c| csv_field(c)).collect();
        out.push_str(&cells.join(","));
        out.push_str("\r\n");
    }
    out
}

fn csv_response(c: &Compliance) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"{}-compliance.csv\"",
                    c.advisory.id.to_ascii_lowercase()
                ),
            ),
        ],
        compliance_to_csv(c),
    )
        .into_response()
}

/// Who did what when: each recipient's deadlines, answers and standing. Central analysts see
/// every recipient; a member its own row. `?format=csv` for a spreadsheet.
#[utoipa::path(get, path = "/api/v1/advisories/{id}/compliance", tag = "advisories",
    params(("id" = String, Path, description = "advisory id"), ComplianceQuery),
    responses((status = 200, body = Compliance), (status = 200, content_type = "text/csv", body = String),
        (status = 404, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn compliance(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    Query(q): Query<ComplianceQuery>,
) -> ApiResult<Response> {
    let c = build_compliance(&state, &p, &id).await?;
    match q.format.as_deref() {
        None | Some("json") => Ok(Json(c).into_response()),
        Some("csv") => Ok(csv_response(&c)),
        Some(other) => Err(ApiError::bad_request(
            "invalid_format",
            format!("format {other:?}; expected json or csv"),
        )),
    }
}

/// The compliance table as CSV.
#[utoipa::path(get, path = "/api/v1/advisories/{id}/compliance.csv", tag = "advisories",
    params(("id" = String, Path, description = "advisory id")),
    responses((status = 200, content_type = "text/csv", body = String), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn compliance_csv(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(csv_response(&build_compliance(&state, &p, &id).await?))
}

/// One advisory a member received, with its standing.
#[derive(Serialize, ToSchema)]
pub struct OrgAdvisory {
    pub advisory: Advisory,
    pub compliance: MemberCompliance,
}

/// Every advisory an organisation received (newest first) and how it stands on each.
#[utoipa::path(get, path = "/api/v1/organisations/{ods}/advisories", tag = "advisories",
    params(("ods" = String, Path, description = "ODS code")),
    responses((status = 200, body = Vec<OrgAdvisory>), (status = 403, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn org_advisories(
    State(state): State<AppState>,
    p: Principal,
    Path(ods): Path<String>,
) -> ApiResult<Json<Vec<OrgAdvisory>>> {
    let org: OdsCode = ods.parse().map_err(|e: ward_model::InvalidOdsCode| {
        ApiError::bad_request("invalid_ods_code", e.to_string())
    })?;
    if !p.can_read_org(&org) {
        refused(&state, "forbidden");
        return Err(ApiError::forbidden(format!(
            "you may not read {org}'s data"
        )));
    }
    let name = state
        .store
        .get_org(&org)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("organisation {org} not found")))?
        .name;
    let now = now_ms();
    let mut out = Vec::new();
    for (advisory, r) in state.store.advisories_for_org(&org).await? {
        // The organisation's own people read what was sent to it, within TLP.
        if !may_read(advisory.content.tlp, advisory.status, reader(&p), true) {
            continue;
        }
        let d = advisory.deadlines.unwrap_or_default();
        let at = advisory.closed_at.unwrap_or(now);
        let compliance = member_compliance(&r, &d, name.clone(), at);
        out.push(OrgAdvisory {
            advisory,
            compliance,
        });
    }
    Ok(Json(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_and_defuses_formulas() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
    }
}
