//! Detections, incidents and the notifications they caused.

use axum::extract::{Path, Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use ward_model::records::{Detection, Incident, IncidentScope, Notification, TimelineEntry};
use ward_model::OdsCode;

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

#[derive(Deserialize, IntoParams)]
pub struct ListQuery {
    /// Only this organisation (ODS code).
    pub org: Option<String>,
    /// Only this incident.
    pub incident: Option<i64>,
    /// `local` or `national` (incidents only).
    pub scope: Option<String>,
    /// At most this many (default 100, at most 1000).
    pub limit: Option<i64>,
}

/// The organisation filter in force: what was asked, limited to what the caller may see.
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

fn limit(q: &ListQuery) -> i64 {
    q.limit.unwrap_or(100).clamp(1, 1000)
}

/// Rule matches, newest first.
#[utoipa::path(get, path = "/api/v1/detections", tag = "incidents", params(ListQuery),
    responses((status = 200, body = Vec<Detection>)), security(("bearer" = [])))]
pub async fn list_detections(
    State(state): State<AppState>,
    p: Principal,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Vec<Detection>>> {
    let org = org_filter(&p, q.org.as_deref())?;
    Ok(Json(
        state
            .store
            .list_detections(org.as_ref(), q.incident, limit(&q))
            .await?,
    ))
}

/// Incidents, national ones first, then the most recently active.
#[utoipa::path(get, path = "/api/v1/incidents", tag = "incidents", params(ListQuery),
    responses((status = 200, body = Vec<Incident>)), security(("bearer" = [])))]
pub async fn list_incidents(
    State(state): State<AppState>,
    p: Principal,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Vec<Incident>>> {
    let org = org_filter(&p, q.org.as_deref())?;
    let scope = match q.scope.as_deref() {
        None => None,
        Some("local") => Some(IncidentScope::Local),
        Some("national") => Some(IncidentScope::National),
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid_scope",
                format!("scope {other:?}; expected local or national"),
            ))
        }
    };
    Ok(Json(
        state
            .store
            .list_incidents(org.as_ref(), scope, limit(&q))
            .await?,
    ))
}

/// An incident with its detections and notifications.
#[derive(Serialize, ToSchema)]
pub struct IncidentDetail {
    pub incident: Incident,
    /// Local incidents that are part of this national one.
    pub children: Vec<Incident>,
    pub detections: Vec<Detection>,
    pub notifications: Vec<Notification>,
    /// Status changes: who, when, why.
    pub timeline: Vec<TimelineEntry>,
}

pub async fn incident_detail(
    state: &AppState,
    p: &Principal,
    id: i64,
) -> ApiResult<IncidentDetail> {
    let not_found = || ApiError::not_found(format!("incident {id} not found"));
    let incident = state.store.get_incident(id).await?.ok_or_else(not_found)?;
    let visible = p.is_central()
        || incident
            .organisations
            .iter()
            .filter_map(|o| o.parse::<OdsCode>().ok())
            .any(|o| p.can_read_org(&o));
    if !visible {
        return Err(not_found());
    }
    let own = p.org_scope().cloned();
    let children: Vec<Incident> = state
        .store
        .list_incidents(own.as_ref(), Some(IncidentScope::Local), 1000)
        .await?
        .into_iter()
        .filter(|c| c.parent_id == Some(id))
        .collect();
    let mut detections = state
        .store
        .list_detections(own.as_ref(), Some(id), 200)
        .await?;
    for c in &children {
        detections.extend(
            state
                .store
                .list_detections(own.as_ref(), Some(c.id), 50)
                .await?,
        );
    }
    let notifications = state
        .store
        .list_notifications(own.as_ref(), Some(id), 500)
        .await?;
    let timeline = state.store.incident_timeline(id).await?;
    Ok(IncidentDetail {
        incident,
        children,
        detections,
        notifications,
        timeline,
    })
}

/// One incident, with what it is made of and who was told.
#[utoipa::path(get, path = "/api/v1/incidents/{id}", tag = "incidents",
    params(("id" = i64, Path, description = "incident id")),
    responses((status = 200, body = IncidentDetail), (status = 404, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn get_incident(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
) -> ApiResult<Json<IncidentDetail>> {
    Ok(Json(incident_detail(&state, &p, id).await?))
}

/// Messages sent (or being sent) to contacts, with every attempt.
#[utoipa::path(get, path = "/api/v1/notifications", tag = "incidents", params(ListQuery),
    responses((status = 200, body = Vec<Notification>)), security(("bearer" = [])))]
pub async fn list_notifications(
    State(state): State<AppState>,
    p: Principal,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Vec<Notification>>> {
    let org = org_filter(&p, q.org.as_deref())?;
    Ok(Json(
        state
            .store
            .list_notifications(org.as_ref(), q.incident, limit(&q))
            .await?,
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusChange {
    /// acknowledged, investigating, contained, resolved or false_positive.
    pub status: String,
    #[serde(default)]
    pub comment: String,
}

/// Move an incident along its lifecycle (new → acknowledged → investigating → contained →
/// resolved, or false_positive). Central analysts, and leads of an organisation involved.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/status", tag = "incidents", request_body = StatusChange,
    params(("id" = i64, Path, description = "incident id")),
    responses((status = 200, body = TimelineEntry), (status = 400, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn change_status(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
    axum::Json(req): axum::Json<StatusChange>,
) -> ApiResult<Json<TimelineEntry>> {
    let detail = incident_detail(&state, &p, id).await?;
    let actor = match &p {
        Principal::Person(u) => u.email.clone(),
        Principal::Member { .. } => {
            return Err(ApiError::forbidden(
                "incidents are changed by people, not by API keys",
            ))
        }
    };
    let may_change = p.is_central()
        || detail
            .incident
            .organisations
            .iter()
            .filter_map(|o| o.parse::<OdsCode>().ok())
            .any(|o| p.can_manage_org(&o));
    if !may_change {
        return Err(ApiError::forbidden(format!(
            "you may not change incident {id}"
        )));
    }
    if !ward_model::records::INCIDENT_STATUSES.contains(&req.status.as_str()) {
        return Err(ApiError::bad_request(
            "invalid_status",
            format!(
                "status {:?}; expected one of {}",
                req.status,
                ward_model::records::INCIDENT_STATUSES.join(", ")
            ),
        ));
    }
    Ok(Json(
        state
            .store
            .set_incident_status(id, &req.status, &actor, req.comment.trim())
            .await?,
    ))
}
