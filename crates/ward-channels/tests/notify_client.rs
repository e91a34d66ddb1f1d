//! NotifyClient against the official Python client's JWT check and a minimal HTTP peer.

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use ward_channels::jwt::ApiKey;
use ward_channels::notify::{NotifyClient, NotifyConfig};
use ward_channels::{Channel, ChannelKind, DeliveryOutcome, OutboundMessage, Recipient};

const SERVICE: &str = "26785a09-ab16-4eb0-8407-a37497a57506";
const SECRET: &str = "3d844edf-8d35-48ac-975b-e847b4f122b0";
const SMS_TEMPLATE: &str = "f33517ff-2a88-4f6e-b855-c550268ce08a";
const EMAIL_TEMPLATE: &str = "a6a9f3d4-5d8f-4a4b-9f4e-0b7c2b4c9e11";

fn api_key() -> String {
    format!("ward-test-{SERVICE}-{SECRET}")
}

#[test]
fn jwt_is_accepted_by_official_decode_jwt_token() {
    let py = ward_testkit::require_python_module(
        "notifications_python_client",
        "scripts/deps/channels.sh",
    );
    let key = ApiKey::parse(&api_key()).unwrap();
    let token = key.token_now();
    let script = r#"
import sys
from notifications_python_client.authentication import decode_jwt_token, get_token_issuer
token, secret, service = sys.argv[1], sys.argv[2], sys.argv[3]
assert get_token_issuer(token) == service, get_token_issuer(token)
assert decode_jwt_token(token, secret) is True
try:
    decode_jwt_token(token, "wrong-secret")
except Exception as e:
    print("wrong-secret-refused", type(e).__name__)
print("ok")
"#;
    let out = Command::new(&py)
        .args(["-c", script, &token, SECRET, SERVICE])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "python failed: {}\n{}",
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("wrong-secret-refused TokenDecodeError"),
        "{stdout}"
    );
    assert!(stdout.trim_end().ends_with("ok"), "{stdout}");

    // A token issued 60 s ago is outside Notify's 30 s bound and must be refused.
    let old = key.token_at(ward_channels::jwt::epoch_seconds() - 60);
    let out = Command::new(&py)
        .args(["-c", script, &old, SECRET, SERVICE])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("TokenExpiredError"));
}

#[derive(Default)]
struct Seen {
    requests: Vec<(String, Value, String)>,
}

async fn minimal_notify(
    State(seen): State<Arc<Mutex<Seen>>>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    seen.lock()
        .unwrap()
        .requests
        .push((uri.path().to_string(), body.clone(), auth));
    if body["reference"] == "fail-500" {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(
                json!({"status_code":500,"errors":[{"error":"Exception","message":"Internal server error"}]}),
            ),
        );
    }
    if body["reference"] == "fail-400" {
        return (
            StatusCode::BAD_REQUEST,
            Json(
                json!({"status_code":400,"errors":[{"error":"BadRequestError","message":"Missing personalisation: name"}]}),
            ),
        );
    }
    if body["reference"] == "slow" {
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    (
        StatusCode::CREATED,
        Json(json!({
            "id": "740e5834-3a29-46b4-9a6f-16142fde533a",
            "reference": body["reference"],
            "content": {"body": body["personalisation"]["body"], "from_number": "GOVUK"},
            "uri": "http://x/v2/notifications/740e5834-3a29-46b4-9a6f-16142fde533a",
            "template": {"id": body["template_id"], "version": 1, "uri": "http://x/t"}
        })),
    )
}

#[tokio::test]
async fn sends_sms_and_email_and_maps_errors() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let app = Router::new()
        .route("/v2/notifications/sms", post(minimal_notify))
        .route("/v2/notifications/email", post(minimal_notify))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let client = NotifyClient::new(
        NotifyConfig::new(api_key(), SMS_TEMPLATE, EMAIL_TEMPLATE)
            .with_base_url(format!("http://{addr}/"))
            .with_timeout(Duration::from_millis(500)),
    )
    .unwrap();
    assert_eq!(client.kind(), ChannelKind::Sms);
    assert_eq!(client.email().kind(), ChannelKind::Email);

    let mut msg = OutboundMessage::new(
        "outbox-1",
        Recipient::Phone("07700 900123".into()),
        "INC-1",
        "Worm seen",
    );
    msg.personalisation.insert("org".into(), "RXX".into());
    let out = client.send(&msg).await;
    assert_eq!(
        out,
        DeliveryOutcome::Accepted {
            provider_id: Some("740e5834-3a29-46b4-9a6f-16142fde533a".into()),
            http_status: Some(201),
            detail: "notify accepted notification 740e5834-3a29-46b4-9a6f-16142fde533a".into()
        }
    );
    {
        let s = seen.lock().unwrap();
        let (path, body, auth) = &s.requests[0];
        assert_eq!(path, "/v2/notifications/sms");
        assert_eq!(body["phone_number"], "+447700900123");
        assert_eq!(body["template_id"], SMS_TEMPLATE);
        assert_eq!(body["reference"], "outbox-1");
        assert_eq!(body["personalisation"]["org"], "RXX");
        assert_eq!(body["personalisation"]["body"], "Worm seen");
        assert!(auth.starts_with("Bearer ey"), "{auth}");
    }

    let email = OutboundMessage::new(
        "outbox-2",
        Recipient::Email("lead@nhs.net".into()),
        "S",
        "B",
    );
    assert!(client.email().send(&email).await.is_accepted());
    assert_eq!(
        seen.lock().unwrap().requests[1].1["email_address"],
        "lead@nhs.net"
    );

    // Invalid number: Permanent with no request made.
    let before = seen.lock().unwrap().requests.len();
    let bad = OutboundMessage::new("outbox-3", Recipient::Phone("020 7946 0000".into()), "", "");
    assert!(matches!(
        client.send(&bad).await,
        DeliveryOutcome::Permanent { reason } if reason.contains("Not a UK mobile number")
    ));
    assert_eq!(seen.lock().unwrap().requests.len(), before);

    let m = |r: &str| OutboundMessage::new(r, Recipient::Phone("07700900123".into()), "", "x");
    assert!(matches!(
        client.send(&m("fail-500")).await,
        DeliveryOutcome::Retryable { reason, .. } if reason.contains("HTTP 500 Exception")
    ));
    assert!(matches!(
        client.send(&m("fail-400")).await,
        DeliveryOutcome::Permanent { reason } if reason.contains("Missing personalisation")
    ));
    assert!(matches!(
        client.send(&m("slow")).await,
        DeliveryOutcome::Retryable { reason, .. } if reason.starts_with("timeout")
    ));
    // Webhook recipients are not Notify's.
    let wh = OutboundMessage::new(
        "w",
        Recipient::Webhook {
            url: "http://x".into(),
            format: Default::default(),
        },
        "",
        "",
    );
    assert!(matches!(
        client.send(&wh).await,
        DeliveryOutcome::Permanent { .. }
    ));
}

#[tokio::test]
async fn connection_refused_is_retryable() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    let client = NotifyClient::new(
        NotifyConfig::new(api_key(), SMS_TEMPLATE, EMAIL_TEMPLATE)
            .with_base_url(format!("http://{addr}")),
    )
    .unwrap();
    let m = OutboundMessage::new("r", Recipient::Phone("07700900123".into()), "", "x");
    assert!(matches!(
        client.send(&m).await,
        DeliveryOutcome::Retryable { .. }
    ));
}

#[test]
fn config_errors_name_the_field() {
    let e = NotifyClient::new(NotifyConfig::new(api_key(), "nope", EMAIL_TEMPLATE)).unwrap_err();
    assert!(e.to_string().contains("sms_template_id"), "{e}");
    let e = NotifyClient::new(
        NotifyConfig::new(api_key(), SMS_TEMPLATE, EMAIL_TEMPLATE).with_base_url("ftp://x"),
    )
    .unwrap_err();
    assert!(e.to_string().contains("base_url"), "{e}");
    let e = NotifyClient::new(NotifyConfig::new("bad", SMS_TEMPLATE, EMAIL_TEMPLATE)).unwrap_err();
    assert!(e.to_string().starts_with("CH001"), "{e}");
}
