//! Members' log sources (what identifies a syslog sender as an organisation) and each member's
//! event retention. Central analysts register and remove sources and set retention; an
//! organisation's own people may read theirs.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use ward_model::OdsCode;
use ward_storage::{LogSource, SourceKind};

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/organisations/{ods}/sources",
            get(list_sources).post(add_source),
        )
        .route("/api/v1/sources/{id}", delete(delete_source))
        .route(
            "/api/v1/organisations/{ods}/retention",
            get(get_retention).put(set_retention),
        )
}

fn parse_ods(raw: &str) -> ApiResult<OdsCode> {
    raw.parse().map_err(|e: ward_model::InvalidOdsCode| {
        ApiError::bad_request("invalid_ods_code", e.to_string())
    })
}

/// A registered log source.
#[derive(Serialize, ToSchema)]
pub struct SourceOut {
    pub id: i64,
    #[schema(example = "RJ1")]
    pub org_code: String,
    /// `cert_fingerprint`, `cert_cn` or `network`.
    #[schema(example = "network")]
    pub kind: String,
    #[schema(example = "10.20.0.0/16")]
    pub value: String,
    pub label: String,
    /// Epoch milliseconds.
    pub created_at: i64,
}

impl From<LogSource> for SourceOut {
    fn from(s: LogSource) -> SourceOut {
        SourceOut {
            id: s.id,
            org_code: s.org_code.to_string(),
            kind: s.kind.as_str().to_string(),
            value: s.value,
            label: s.label,
            created_at: s.created_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddSource {
    /// `cert_fingerprint` (SHA-256 of the DER client certificate, hex, colons allowed),
    /// `cert_cn` (subject common name of a certificate from the configured client CA) or
    /// `network` (CIDR, for devices without certificates).
    #[schema(example = "network")]
    pub kind: String,
    #[schema(example = "10.20.0.0/16")]
    pub value: String,
    /// What the source is, e.g. "main site firewalls".
    #[serde(default)]
    pub label: String,
}

/// Checks and normalises a value so that the resolver matches it as registered.
fn normalise(kind: SourceKind, value: &str) -> ApiResult<String> {
    let v = value.trim();
    match kind {
        SourceKind::CertFingerprint => {
            let hex: String = v
                .chars()
                .filter(|c| *c != ':' && !c.is_whitespace())
                .collect::<String>()
                .to_ascii_lowercase();
            if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(ApiError::bad_request(
                    "invalid_source",
                    format!(
                        "{value:?} is not a SHA-256 fingerprint (64 hex digits, colons allowed)"
                    ),
                ));
            }
            Ok(hex)
        }
        SourceKind::CertCn => {
            if v.is_empty() || v.len() > 255 {
                return Err(ApiError::bad_request(
                    "invalid_source",
                    "a certificate common name must be 1 to 255 characters",
                ));
            }
            Ok(v.to_string())
        }
        SourceKind::Network => {
            v.parse::<ward_syslog::Cidr>()
                .map_err(|e| ApiError::bad_request("invalid_source", e.to_string()))?;
            Ok(v.to_string())
        }
    }
}

/// List an organisation's log sources (its own people, or central analysts).
#[utoipa::path(get, path = "/api/v1/organisations/{ods}/sources", tag = "members",
    params(("ods" = String, Path, description = "ODS code")),
    responses((status = 200, body = Vec<SourceOut>), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_sources(
    State(state): State<AppState>,
    p: Principal,
    Path(ods): Path<String>,
) -> ApiResult<Json<Vec<SourceOut>>> {
    let code = parse_ods(&ods)?;
    if !p.can_read_org(&code) {
        return Err(ApiError::not_found(format!(
            "organisation {code} not found"
        )));
    }
    let list = state.store.list_log_sources(Some(&code)).await?;
    Ok(Json(list.into_iter().map(SourceOut::from).collect()))
}

/// Register a log source for an organisation (central analysts only). Applies to the syslog
/// listeners within `syslog.sources_refresh_ms`, without a restart.
#[utoipa::path(post, path = "/api/v1/organisations/{ods}/sources", tag = "members", request_body = AddSource,
    params(("ods" = String, Path, description = "ODS code")),
    responses((status = 201, body = SourceOut), (status = 400, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
        (status = 409, description = "The identity is registered already (to any organisation)", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn add_source(
    State(state): State<AppState>,
    p: Principal,
    Path(ods): Path<String>,
    Json(req): Json<AddSource>,
) -> ApiResult<(StatusCode, Json<SourceOut>)> {
    p.require_central()?;
    let code = parse_ods(&ods)?;
    let kind: SourceKind = req
        .kind
        .trim()
        .parse()
        .map_err(|e: ward_storage::StoreError| {
            ApiError::bad_request("invalid_source", e.to_string())
        })?;
    let value = normalise(kind, &req.value)?;
    let s = state
        .store
        .add_log_source(&code, kind, &value, req.label.trim())
        .await?;
    state.intake.sources_changed();
    Ok((StatusCode::CREATED, Json(s.into())))
}

/// Remove a log source (central analysts only).
#[utoipa::path(delete, path = "/api/v1/sources/{id}", tag = "members",
    params(("id" = i64, Path, description = "Source id")),
    responses((status = 204), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete_source(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    p.require_central()?;
    state.store.delete_log_source(id).await?;
    state.intake.sources_changed();
    Ok(StatusCode::NO_CONTENT)
}

/// How long an organisation's events are kept.
#[derive(Serialize, ToSchema)]
pub struct Retention {
    pub org_code: String,
    /// The organisation's own setting; null when the federation default applies.
    pub retention_days: Option<u32>,
    /// The federation default (`eventlog.retention_max_age_secs`), in days; null when unlimited.
    pub default_days: Option<u64>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetRetention {
    /// Days to keep this organisation's events (at least 1); null returns to the default.
    pub retention_days: Option<u32>,
}

fn default_days(state: &AppState) -> Option<u64> {
    let secs = state.cfg.eventlog.retention_max_age_secs;
    (secs > 0).then(|| secs.div_ceil(86_400))
}

/// An organisation's event retention.
#[utoipa::path(get, path = "/api/v1/organisations/{ods}/retention", tag = "members",
    params(("ods" = String, Path, description = "ODS code")),
    responses((status = 200, body = Retention), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_retention(
    State(state): State<AppState>,
    p: Principal,
    Path(ods): Path<String>,
) -> ApiResult<Json<Retention>> {
    let code = parse_ods(&ods)?;
    if !p.can_read_org(&code) || state.store.get_org(&code).await?.is_none() {
        return Err(ApiError::not_found(format!(
            "organisation {code} not found"
        )));
    }
    Ok(Json(Retention {
        org_code: code.to_string(),
        retention_days: state.store.retention_days(&code).await?,
        default_days: default_days(&state),
    }))
}

/// Set an organisation's event retention (central analysts only).
#[utoipa::path(put, path = "/api/v1/organisations/{ods}/retention", tag = "members", request_body = SetRetention,
    params(("ods" = String, Path, description = "ODS code")),
    responses((status = 200, body = Retention), (status = 400, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn set_retention(
    State(state): State<AppState>,
    p: Principal,
    Path(ods): Path<String>,
    Json(req): Json<SetRetention>,
) -> ApiResult<Json<Retention>> {
    p.require_central()?;
    let code = parse_ods(&ods)?;
    state
        .store
        .set_retention_days(&code, req.retention_days)
        .await?;
    Ok(Json(Retention {
        org_code: code.to_string(),
        retention_days: state.store.retention_days(&code).await?,
        default_days: default_days(&state),
    }))
}
