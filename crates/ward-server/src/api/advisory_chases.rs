//! The escalation chases of an advisory (one per recipient organisation with a policy).

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use utoipa::OpenApi;
use ward_model::escalation::Chase;

use crate::advisory_escalation::target_id;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(paths(list_advisory_chases))]
pub struct AdvisoryChasesDoc;

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/advisories/{id}/chases", get(list_advisory_chases))
}

/// The escalation chases of an advisory; a member sees only its own.
#[utoipa::path(get, path = "/api/v1/advisories/{id}/chases", tag = "advisories",
    params(("id" = String, Path, description = "advisory id")),
    responses((status = 200, body = Vec<Chase>), (status = 404, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn list_advisory_chases(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<Chase>>> {
    let (Some(tid), Some(_)) = (target_id(&id), state.store.get_advisory(&id).await?) else {
        return Err(ApiError::not_found(format!("advisory {id} not found")));
    };
    let own = p.org_scope().map(|o| o.as_str().to_string());
    Ok(Json(
        state
            .store
            .chases_of("advisory", tid)
            .await?
            .into_iter()
            .filter(|c| own.as_deref().is_none_or(|o| o == c.org_code))
            .collect(),
    ))
}
