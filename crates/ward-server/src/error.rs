//! One error shape for the whole API: `{"error": {"code", "message", "details"}}`, with a
//! stable code per failure and the HTTP status decided here, in one place.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use ward_ingest::IngestError;
use ward_storage::StoreError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Boxed: errors travel in every `Result` of the API, so they are kept small.
    pub details: Option<Box<serde_json::Value>>,
    pub retry_after_secs: Option<u64>,
}

/// The body of every error response.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, documented identifier of the failure, e.g. `invalid_batch`.
    pub code: String,
    pub message: String,
    #[schema(value_type = Object)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            details: None,
            retry_after_secs: None,
        }
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
                details: self.details.map(|d| *d),
            },
        };
        let mut resp = (self.status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after_secs {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        resp
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                format!("{what} already exists"),
            ),
            StoreError::NotFound(what) => ApiError::not_found(format!("{what} not found")),
            StoreError::Invalid(why) => ApiError::bad_request("invalid_request", why),
            other => {
                tracing::error!(error = %other, "storage error");
                ApiError::internal("the state store failed; the request was not applied")
            }
        }
    }
}

impl From<IngestError> for ApiError {
    fn from(e: IngestError) -> Self {
        let code = e.code();
        let message = e.to_string();
        match e {
            IngestError::BodyTooLarge { .. } => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, code, message)
            }
            IngestError::BadGzip(_) => ApiError::bad_request(code, message),
            IngestError::InvalidBatch(rejected) => ApiError {
                details: serde_json::to_value(&rejected).ok().map(Box::new),
                ..ApiError::bad_request(code, message)
            },
            IngestError::Overloaded { .. } => ApiError {
                retry_after_secs: Some(1),
                ..ApiError::new(StatusCode::TOO_MANY_REQUESTS, code, message)
            },
            IngestError::LogUnavailable(_) => ApiError {
                retry_after_secs: Some(2),
                ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, message)
            },
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
