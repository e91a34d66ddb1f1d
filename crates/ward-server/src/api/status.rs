use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::error::ApiResult;
use crate::pipeline::DETECTION_CONSUMER;
use crate::state::AppState;

/// The pipeline at a glance.
#[derive(Serialize, ToSchema)]
pub struct Status {
    pub version: String,
    pub database: String,
    pub started_at: i64,
    /// Next offset of the durable event log: events stored so far.
    pub log_committed_offset: u64,
    pub log_first_offset: u64,
    pub log_segments: u64,
    pub log_bytes: u64,
    /// Next event detection will read; `log_committed_offset - detection_offset` is its lag.
    pub detection_offset: u64,
    pub detection_enabled: bool,
    pub rules_loaded: usize,
    /// Rules that did not load, with file, line and reason.
    pub rule_errors: Vec<String>,
    pub detections: i64,
    /// Outbox messages by status.
    pub notifications: Vec<(String, i64)>,
}

/// Pipeline status (central analysts only).
#[utoipa::path(get, path = "/api/v1/status", tag = "status",
    responses((status = 200, body = Status)), security(("bearer" = [])))]
pub async fn status(State(state): State<AppState>, p: Principal) -> ApiResult<Json<Status>> {
    p.require_central()?;
    let log = state.log.stats();
    Ok(Json(Status {
        version: env!("CARGO_PKG_VERSION").to_string(),
        database: state.store.backend_name().to_string(),
        started_at: state.started_at_ms,
        log_committed_offset: log.committed_offset,
        log_first_offset: log.first_offset,
        log_segments: log.segments,
        log_bytes: log.bytes_on_disk,
        detection_offset: state.store.consumer_offset(DETECTION_CONSUMER).await?,
        detection_enabled: state.cfg.detection.enabled,
        rules_loaded: state.engine.rule_count(),
        rule_errors: state.rule_errors.clone(),
        detections: state.store.count_detections().await?,
        notifications: state.store.outbox_counts().await?,
    }))
}
