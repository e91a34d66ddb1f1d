use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use ward_ingest::{Encoding, Receipt};
use ward_model::clock::now_ms;

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// What the sender is told once its batch is durable.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct IngestReceipt {
    /// Events stored (every non-blank line).
    pub accepted: u64,
    /// Offset of the first event in the durable log.
    pub first_offset: u64,
    /// The organisation every event was stamped with (the key's, never the body's).
    pub org: String,
}

/// Send events.
///
/// The body is NDJSON: one JSON object per line, blank lines ignored, optionally gzip
/// (`Content-Encoding: gzip`). Authenticate with the organisation's API key.
///
/// **All or nothing:** if any line is invalid, no line of the batch is stored and the 400
/// reply lists the bad lines (`details.errors[].line`, `.code`, `.message`); fix them and
/// resend the whole batch. A 200 reply comes only after every event is durably written, so
/// an acknowledged batch survives a crash. Under overload the reply is 429 or 503 with
/// `Retry-After`; resend the same batch later.
#[utoipa::path(
    post, path = "/api/v1/events", tag = "events",
    request_body(content = String, content_type = "application/x-ndjson", description = "NDJSON events"),
    responses(
        (status = 200, description = "Batch durably stored", body = IngestReceipt),
        (status = 400, description = "Invalid batch (invalid_batch, bad_gzip); nothing stored", body = crate::error::ErrorBody),
        (status = 401, description = "Missing or unknown key", body = crate::error::ErrorBody),
        (status = 403, description = "Not an organisation API key", body = crate::error::ErrorBody),
        (status = 413, description = "Body too large (body_too_large)", body = crate::error::ErrorBody),
        (status = 415, description = "Unsupported Content-Encoding", body = crate::error::ErrorBody),
        (status = 429, description = "Overloaded; Retry-After given", body = crate::error::ErrorBody),
        (status = 503, description = "Event log unavailable; Retry-After given", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn post_events(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<IngestReceipt>)> {
    let Principal::Member { org, .. } = principal else {
        return Err(ApiError::forbidden(
            "events are sent with an organisation's API key, not a personal token",
        ));
    };
    let encoding = match headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("") | Some("identity") => Encoding::Identity,
        Some("gzip") | Some("x-gzip") => Encoding::Gzip,
        Some(other) => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_encoding",
                format!("Content-Encoding {other:?} is not supported; send identity or gzip"),
            ))
        }
    };
    let limit = state.ingestor.max_body_bytes();
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        if len > limit {
            return Err(ApiError::from(ward_ingest::IngestError::BodyTooLarge {
                size: len,
                limit,
            }));
        }
    }
    let bytes = axum::body::to_bytes(body, limit as usize)
        .await
        .map_err(|_| {
            ApiError::from(ward_ingest::IngestError::BodyTooLarge {
                size: limit + 1,
                limit,
            })
        })?;
    let Receipt {
        accepted,
        first_offset,
    } = state
        .ingestor
        .ingest(org.as_str(), now_ms(), Vec::from(bytes), encoding)
        .await?;
    Ok((
        StatusCode::OK,
        Json(IngestReceipt {
            accepted,
            first_offset,
            org: org.to_string(),
        }),
    ))
}
