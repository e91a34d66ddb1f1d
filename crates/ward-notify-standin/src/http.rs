//! HTTP routes: Notify's public `/v2` API and the stand-in's `/_standin` admin API.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::auth::{authenticate, KeyView};
use crate::clock::format_dt;
use crate::config::{CallbackConfig, KeyType, TemplateType};
use crate::state::{parse_list_query, rate_limit_error, ApiError, FaultKind, Status};
use crate::Inner;

pub(crate) fn router(inner: Arc<Inner>) -> Router {
    Router::new()
        .route("/v2/notifications/sms", post(send_sms))
        .route("/v2/notifications/email", post(send_email))
        .route("/v2/notifications", get(list_notifications))
        .route("/v2/notifications/{id}", get(get_notification))
        .route("/v2/received-text-messages", get(received_texts))
        .route("/_standin/clock", get(admin_clock))
        .route("/_standin/clock/advance", post(admin_advance))
        .route(
            "/_standin/faults",
            post(admin_fault).delete(admin_clear_faults),
        )
        .route("/_standin/received-text-messages", post(admin_receive))
        .route("/_standin/outcomes", post(admin_outcome))
        .route("/_standin/callbacks", axum::routing::put(admin_callbacks))
        .route("/_standin/callbacks/log", get(admin_callback_log))
        .route("/_standin/notifications", get(admin_notifications))
        .route("/_standin/stats", get(admin_stats))
        .fallback(not_found)
        .with_state(inner)
}

fn api_error(e: &ApiError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(e.body())).into_response()
}

fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}")
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(
            json!({"result": "error", "message": "The requested URL was not found on the server."}),
        ),
    )
        .into_response()
}

fn gateway_timeout() -> Response {
    (
        StatusCode::GATEWAY_TIMEOUT,
        [(header::CONTENT_TYPE, "text/html")],
        "<html><body><h1>504 Gateway Time-out</h1></body></html>",
    )
        .into_response()
}

/// What the guard decided before the handler runs.
enum Guard {
    Proceed {
        key: usize,
        key_type: KeyType,
        hold_after: bool,
    },
    Answer(Response),
}

/// Faults that strike before authentication (an outage), then auth, then a 429 fault.
async fn guard(inner: &Inner, headers: &HeaderMap) -> Guard {
    let fault = {
        let now = inner.clock.now();
        inner.state().active_fault(now)
    };
    match fault {
        Some(FaultKind::ServerError { status }) => {
            inner.state().stats.faulted += 1;
            let e = ApiError::one(status, "Exception", "Internal server error");
            return Guard::Answer(api_error(&e));
        }
        Some(FaultKind::Timeout) => {
            inner.state().stats.faulted += 1;
            tokio::time::sleep(inner.hold).await;
            return Guard::Answer(gateway_timeout());
        }
        _ => {}
    }
    let header = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok());
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let auth = {
        let st = inner.state();
        let keys: Vec<KeyView<'_>> = st
            .config
            .keys
            .iter()
            .map(|k| KeyView {
                secret: &k.secret,
                revoked: k.revoked,
            })
            .collect();
        authenticate(header, st.config.service_id, &keys, wall)
            .map(|i| (i, st.config.keys[i].key_type))
    };
    let (key, key_type) = match auth {
        Ok(k) => k,
        Err(f) => {
            let e = ApiError::one(f.status, "AuthError", f.message);
            return Guard::Answer(api_error(&e));
        }
    };
    match fault {
        Some(FaultKind::RateLimit) => {
            let mut st = inner.state();
            st.stats.faulted += 1;
            let per_minute = st.config.rate_limit.per_minute;
            Guard::Answer(api_error(&rate_limit_error(key_type, per_minute)))
        }
        Some(FaultKind::TimeoutAfterAccept) => Guard::Proceed {
            key,
            key_type,
            hold_after: true,
        },
        _ => Guard::Proceed {
            key,
            key_type,
            hold_after: false,
        },
    }
}

async fn send_sms(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    send(inner, headers, body, TemplateType::Sms).await
}

async fn send_email(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    send(inner, headers, body, TemplateType::Email).await
}

async fn send(inner: Arc<Inner>, headers: HeaderMap, body: Bytes, kind: TemplateType) -> Response {
    let (key, hold_after) = match guard(&inner, &headers).await {
        Guard::Answer(r) => return r,
        Guard::Proceed {
            key, hold_after, ..
        } => (key, hold_after),
    };
    let Ok(json_body) = serde_json::from_slice::<Value>(&body) else {
        let e = ApiError::one(400, "BadRequestError", "Invalid JSON supplied in POST data");
        return api_error(&e);
    };
    let now = inner.clock.now();
    let secs = inner.clock.elapsed_secs();
    let (result, sms_sender, from_email, service_id) = {
        let mut st = inner.state();
        let r = st.send(kind, &json_body, key, now, secs);
        (
            r,
            st.config.sms_sender.clone(),
            st.config.from_email.clone(),
            st.config.service_id,
        )
    };
    let accepted = match result {
        Ok(a) => a,
        Err(e) => return api_error(&e),
    };
    let hook = inner
        .on_accept
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    if let Some(hook) = hook {
        hook(&accepted);
    }
    if hold_after {
        // The notification exists; the reply is lost, as when a gateway times out.
        tokio::time::sleep(inner.hold).await;
        return gateway_timeout();
    }
    let base = base_url(&headers);
    let content = match kind {
        TemplateType::Sms => json!({"body": accepted.body, "from_number": sms_sender}),
        TemplateType::Email => json!({
            "subject": accepted.subject,
            "body": accepted.body,
            "from_email": from_email,
            "one_click_unsubscribe_url": json_body.get("one_click_unsubscribe_url").cloned().unwrap_or(Value::Null),
        }),
    };
    let reply = json!({
        "id": accepted.id,
        "reference": accepted.reference,
        "content": content,
        "uri": format!("{base}/v2/notifications/{}", accepted.id),
        "template": {
            "id": accepted.template_id,
            "version": accepted.template_version,
            "uri": format!("{base}/services/{service_id}/templates/{}", accepted.template_id),
        },
        "scheduled_for": null,
    });
    (StatusCode::CREATED, Json(reply)).into_response()
}

async fn get_notification(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Guard::Answer(r) = guard(&inner, &headers).await {
        return r;
    }
    let Ok(id) = Uuid::parse_str(&id) else {
        return api_error(&ApiError::one(
            400,
            "ValidationError",
            "id is not a valid UUID",
        ));
    };
    let base = base_url(&headers);
    let st = inner.state();
    match st.by_id.get(&id) {
        Some(&i) => Json(st.notifications[i].to_api_json(&base)).into_response(),
        None => api_error(&ApiError::one(404, "NoResultFound", "No result found")),
    }
}

async fn list_notifications(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    let key_type = match guard(&inner, &headers).await {
        Guard::Answer(r) => return r,
        Guard::Proceed { key_type, .. } => key_type,
    };
    let q = match parse_list_query(&pairs) {
        Ok(q) => q,
        Err(e) => return api_error(&e),
    };
    let base = base_url(&headers);
    let st = inner.state();
    let page = st.list(key_type, &q);
    let notifications: Vec<Value> = page.iter().map(|n| n.to_api_json(&base)).collect();
    let others: Vec<(String, String)> = pairs
        .iter()
        .filter(|(k, _)| k != "older_than")
        .cloned()
        .collect();
    let qs = |extra: Option<(String, String)>| {
        let mut all = others.clone();
        all.extend(extra);
        let s: Vec<String> = all
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
            .collect();
        if s.is_empty() {
            String::new()
        } else {
            format!("?{}", s.join("&"))
        }
    };
    let mut links = json!({ "current": format!("{base}/v2/notifications{}", qs(q.older_than.map(|o| ("older_than".to_string(), o.to_string())))) });
    if let Some(last) = page.last() {
        links["next"] = json!(format!(
            "{base}/v2/notifications{}",
            qs(Some(("older_than".to_string(), last.id.to_string())))
        ));
    }
    Json(json!({"notifications": notifications, "links": links})).into_response()
}

fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

async fn received_texts(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    if let Guard::Answer(r) = guard(&inner, &headers).await {
        return r;
    }
    let mut older_than = None;
    for (k, v) in &pairs {
        match k.as_str() {
            "older_than" => match Uuid::parse_str(v) {
                Ok(id) => older_than = Some(id),
                Err(_) => {
                    return api_error(&ApiError::one(
                        400,
                        "ValidationError",
                        "older_than is not a valid UUID",
                    ))
                }
            },
            other => {
                return api_error(&ApiError::one(
                    400,
                    "ValidationError",
                    format!("Additional properties are not allowed ({other} was unexpected)"),
                ))
            }
        }
    }
    let base = base_url(&headers);
    let st = inner.state();
    let service_id = st.config.service_id;
    let page = st.list_received(older_than);
    let items: Vec<Value> = page
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "user_number": r.user_number,
                "notify_number": r.notify_number,
                "created_at": format_dt(&r.created_at),
                "service_id": service_id,
                "content": r.content,
            })
        })
        .collect();
    let mut links = json!({"current": format!("{base}/v2/received-text-messages")});
    if let Some(last) = page.last() {
        links["next"] = json!(format!(
            "{base}/v2/received-text-messages?older_than={}",
            last.id
        ));
    }
    Json(json!({"received_text_messages": items, "links": links})).into_response()
}

// ---- admin ----------------------------------------------------------------------------

async fn admin_clock(State(inner): State<Arc<Inner>>) -> Response {
    Json(json!({
        "now": format_dt(&inner.clock.now()),
        "offset_secs": inner.clock.offset().as_secs_f64(),
    }))
    .into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AdvanceBody {
    seconds: f64,
}

async fn admin_advance(State(inner): State<Arc<Inner>>, Json(b): Json<AdvanceBody>) -> Response {
    if !(b.seconds.is_finite() && b.seconds >= 0.0) {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "seconds must be a non-negative number"})),
        )
            .into_response();
    }
    inner.advance(Duration::from_secs_f64(b.seconds));
    admin_clock(State(inner)).await
}

// `deny_unknown_fields` does not combine with `flatten`.
#[derive(Deserialize)]
struct FaultBody {
    #[serde(flatten)]
    kind: FaultKind,
    duration_secs: f64,
}

async fn admin_fault(State(inner): State<Arc<Inner>>, Json(b): Json<FaultBody>) -> Response {
    if let FaultKind::ServerError { status } = b.kind {
        if !(500..=599).contains(&status) {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": "status must be 5xx"})),
            )
                .into_response();
        }
    }
    if !(b.duration_secs.is_finite() && b.duration_secs > 0.0) {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "duration_secs must be positive"})),
        )
            .into_response();
    }
    let f = inner.inject_fault(b.kind, Duration::from_secs_f64(b.duration_secs));
    Json(json!({"kind": f.kind, "until": format_dt(&f.until)})).into_response()
}

async fn admin_clear_faults(State(inner): State<Arc<Inner>>) -> Response {
    inner.state().faults.clear();
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReceiveBody {
    user_number: String,
    content: String,
}

async fn admin_receive(State(inner): State<Arc<Inner>>, Json(b): Json<ReceiveBody>) -> Response {
    let now = inner.clock.now();
    let rt = inner.state().receive_text(&b.user_number, &b.content, now);
    (StatusCode::CREATED, Json(json!({"id": rt.id, "user_number": rt.user_number, "created_at": format_dt(&rt.created_at)})))
        .into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OutcomeBody {
    recipient: String,
    status: String,
}

async fn admin_outcome(State(inner): State<Arc<Inner>>, Json(b): Json<OutcomeBody>) -> Response {
    let Some(status) = Status::parse(&b.status).filter(|s| s.is_final()) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "status must be a final status: sent, delivered, permanent-failure, temporary-failure or technical-failure"})),
        )
            .into_response();
    };
    inner.set_outcome(&b.recipient, status);
    StatusCode::NO_CONTENT.into_response()
}

async fn admin_callbacks(
    State(inner): State<Arc<Inner>>,
    Json(c): Json<CallbackConfig>,
) -> Response {
    inner.state().callbacks = c;
    StatusCode::NO_CONTENT.into_response()
}

async fn admin_callback_log(State(inner): State<Arc<Inner>>) -> Response {
    Json(json!(inner.state().callback_log)).into_response()
}

async fn admin_notifications(State(inner): State<Arc<Inner>>) -> Response {
    Json(json!(inner.state().notifications)).into_response()
}

async fn admin_stats(State(inner): State<Arc<Inner>>) -> Response {
    let now = inner.clock.now();
    Json(json!(inner.state().stats(now))).into_response()
}
