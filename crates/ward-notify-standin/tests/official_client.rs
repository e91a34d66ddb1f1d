//! Fidelity: the official `notifications-python-client` drives the stand-in.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::Value;
use ward_notify_standin::config::defaults;
use ward_notify_standin::{
    bind, CallbackConfig, CallbackTarget, RateLimitConfig, StandinConfig, Status,
};

const SCRIPT: &str = r#"
import json, sys, uuid
from notifications_python_client.notifications import NotificationsAPIClient
from notifications_python_client.errors import HTTPError
import notifications_python_client.authentication as auth

base, test_key, live_key, sms_t, email_t = sys.argv[1:6]
out = {}
c = NotificationsAPIClient(test_key, base_url=base)

def err(f):
    try:
        f()
        return None
    except HTTPError as e:
        return {"status": e.status_code, "message": e.message}

out["sms"] = c.send_sms_notification(phone_number="07700 900123", template_id=sms_t,
                                     personalisation={"body": "Worm at RXX"}, reference="ref-sms")
out["email"] = c.send_email_notification(email_address="lead@nhs.net", template_id=email_t,
                                         personalisation={"subject": "INC-1", "body": "Act now"},
                                         reference="ref-email")
out["temp"] = c.send_sms_notification("07700900003", sms_t, {"body": "t"}, reference="ref-temp")
out["perm"] = c.send_sms_notification("07700900002", sms_t, {"body": "p"}, reference="ref-perm")
out["get"] = c.get_notification_by_id(out["sms"]["id"])
out["all"] = c.get_all_notifications()
out["all_email"] = c.get_all_notifications(template_type="email")
out["by_ref"] = c.get_all_notifications(reference="ref-temp")
out["older"] = c.get_all_notifications(older_than=out["temp"]["id"])
out["iter_ids"] = [n["id"] for n in c.get_all_notifications_iterator()]
out["received"] = c.get_received_texts()
out["received_iter"] = [r["content"] for r in c.get_received_texts_iterator()]

out["err_bad_phone"] = err(lambda: c.send_sms_notification("020 7946 0000", sms_t, {"body": "x"}))
out["err_letters"] = err(lambda: c.send_sms_notification("07700 9OO123", sms_t, {"body": "x"}))
out["err_missing_personalisation"] = err(lambda: c.send_sms_notification("07700900123", sms_t))
out["err_bad_email"] = err(lambda: c.send_email_notification("lead@nhs", email_t, {"subject": "s", "body": "b"}))
out["err_template_not_found"] = err(lambda: c.send_sms_notification("07700900123", str(uuid.uuid4()), {"body": "x"}))
out["err_wrong_template_type"] = err(lambda: c.send_sms_notification("07700900123", email_t, {"subject": "s", "body": "b"}))
out["err_bad_status"] = err(lambda: c.get_all_notifications(status="elephant"))
out["err_not_found"] = err(lambda: c.get_notification_by_id(str(uuid.uuid4())))
out["err_bad_id"] = err(lambda: c.get_notification_by_id("not-a-uuid"))

wrong_secret = test_key[:-36] + str(uuid.uuid4())
out["err_bad_jwt"] = err(lambda: NotificationsAPIClient(wrong_secret, base_url=base).get_all_notifications())
real_epoch = auth.epoch_seconds
auth.epoch_seconds = lambda: real_epoch() - 120
out["err_clock"] = err(lambda: c.get_all_notifications())
auth.epoch_seconds = real_epoch

live = NotificationsAPIClient(live_key, base_url=base)
out["live_ok"] = 0
out["err_rate_limit"] = None
for i in range(40):
    e = err(lambda: live.send_sms_notification("07700900456", sms_t, {"body": "b"}, reference="rl-%d" % i))
    if e is None:
        out["live_ok"] += 1
    else:
        out["err_rate_limit"] = e
        break
print(json.dumps(out))
"#;

type Seen = Arc<Mutex<Vec<(String, String, Value)>>>;

async fn receiver(State(seen): State<Seen>, headers: HeaderMap, Json(body): Json<Value>) {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let kind = if body.get("source_number").is_some() {
        "inbound"
    } else {
        "status"
    };
    seen.lock().unwrap().push((kind.to_string(), auth, body));
}

fn err_of(out: &Value, name: &str) -> (u64, String, String) {
    let e = &out[name];
    assert!(e.is_object(), "{name} should have failed: {out:#}");
    (
        e["status"].as_u64().unwrap(),
        e["message"][0]["error"].as_str().unwrap_or("").to_string(),
        e["message"][0]["message"]
            .as_str()
            .unwrap_or("")
            .to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_python_client_against_standin() {
    let py = ward_testkit::require_python_module(
        "notifications_python_client",
        "scripts/deps/channels.sh",
    );

    // A receiver for callbacks, checking the bearer token.
    let seen: Seen = Arc::default();
    let app = Router::new()
        .route("/cb", post(receiver))
        .with_state(seen.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let cb_url = format!("http://{}/cb", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });

    let config = StandinConfig {
        // A small bucket so the official client meets the rate limit quickly; the message
        // still reports Notify's 3,000 per minute.
        rate_limit: RateLimitConfig {
            per_minute: 3000,
            bucket_size: 30,
            refill_per_sec: 0.001,
        },
        callbacks: CallbackConfig {
            delivery_status: Some(CallbackTarget {
                url: cb_url.clone(),
                bearer_token: "status-token-123".into(),
            }),
            received_text: Some(CallbackTarget {
                url: cb_url,
                bearer_token: "inbound-token-456".into(),
            }),
            ..CallbackConfig::default()
        },
        ..StandinConfig::default()
    };
    let standin = bind("127.0.0.1:0", config).await.unwrap();
    standin.receive_text("07700900123", "ACK INC-1");
    standin.receive_text("+447700900124", "ACK INC-2");

    let args = vec![
        standin.base_url(),
        standin.api_key("ward-test").unwrap(),
        standin.api_key("ward-live").unwrap(),
        defaults::SMS_TEMPLATE_ID.to_string(),
        defaults::EMAIL_TEMPLATE_ID.to_string(),
    ];
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(py)
            .arg("-c")
            .arg(SCRIPT)
            .args(args)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "python failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let out: Value = serde_json::from_slice(&output.stdout).unwrap();

    // Sends.
    let sms = &out["sms"];
    assert_eq!(sms["reference"], "ref-sms");
    assert_eq!(sms["content"]["body"], "Worm at RXX");
    assert_eq!(sms["content"]["from_number"], "GOVUK");
    assert_eq!(sms["template"]["id"], defaults::SMS_TEMPLATE_ID.to_string());
    assert_eq!(sms["template"]["version"], 1);
    let sms_id = sms["id"].as_str().unwrap().to_string();
    assert!(sms["uri"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/v2/notifications/{sms_id}")));
    assert_eq!(out["email"]["content"]["subject"], "INC-1");
    assert_eq!(out["email"]["content"]["body"], "Act now");

    // Get by id.
    let got = &out["get"];
    assert_eq!(got["id"], sms_id.as_str());
    assert_eq!(got["type"], "sms");
    assert_eq!(got["phone_number"], "07700 900123");
    assert_eq!(got["reference"], "ref-sms");
    assert_eq!(got["body"], "Worm at RXX");
    assert!(got["created_at"].as_str().unwrap().ends_with('Z'));

    // Lists: test-key notifications only (the live sends happen later), newest first.
    let all = out["all"]["notifications"].as_array().unwrap();
    let refs: Vec<&str> = all
        .iter()
        .map(|n| n["reference"].as_str().unwrap())
        .collect();
    assert_eq!(refs, ["ref-perm", "ref-temp", "ref-email", "ref-sms"]);
    assert!(out["all"]["links"]["next"]
        .as_str()
        .unwrap()
        .contains("older_than="));
    assert_eq!(
        out["all_email"]["notifications"].as_array().unwrap().len(),
        1
    );
    assert_eq!(out["by_ref"]["notifications"][0]["reference"], "ref-temp");
    let older: Vec<&str> = out["older"]["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["reference"].as_str().unwrap())
        .collect();
    assert_eq!(older, ["ref-email", "ref-sms"]);
    assert_eq!(out["iter_ids"].as_array().unwrap().len(), 4);

    // Received texts, newest first, through both the page and the iterator.
    let rx = out["received"]["received_text_messages"]
        .as_array()
        .unwrap();
    assert_eq!(rx.len(), 2);
    assert_eq!(rx[0]["content"], "ACK INC-2");
    assert_eq!(rx[0]["user_number"], "447700900124");
    assert_eq!(rx[0]["notify_number"], "07700900999");
    assert_eq!(
        rx[0]["service_id"],
        defaults::SERVICE_ID.to_string().as_str()
    );
    assert_eq!(
        out["received_iter"],
        serde_json::json!(["ACK INC-2", "ACK INC-1"])
    );

    // Errors, matched on status and error type, with Notify's messages.
    let cases: &[(&str, u64, &str, &str)] = &[
        (
            "err_bad_phone",
            400,
            "ValidationError",
            "phone_number Not a UK mobile number",
        ),
        (
            "err_letters",
            400,
            "ValidationError",
            "phone_number Must not contain letters or symbols",
        ),
        (
            "err_missing_personalisation",
            400,
            "BadRequestError",
            "Missing personalisation: body",
        ),
        (
            "err_bad_email",
            400,
            "ValidationError",
            "email_address Not a valid email address",
        ),
        (
            "err_template_not_found",
            400,
            "BadRequestError",
            "Template not found",
        ),
        (
            "err_wrong_template_type",
            400,
            "BadRequestError",
            "email template is not suitable for sms notification",
        ),
        ("err_not_found", 404, "NoResultFound", "No result found"),
        (
            "err_bad_id",
            400,
            "ValidationError",
            "id is not a valid UUID",
        ),
        (
            "err_bad_jwt",
            403,
            "AuthError",
            "Invalid token: API key not found",
        ),
        (
            "err_clock",
            403,
            "AuthError",
            "Error: Your system clock must be accurate to within 30 seconds",
        ),
        (
            "err_rate_limit",
            429,
            "RateLimitError",
            "Exceeded rate limit for key type LIVE of 3000 requests per 60 seconds",
        ),
    ];
    for (name, status, error, message) in cases {
        assert_eq!(
            err_of(&out, name),
            (*status, error.to_string(), message.to_string()),
            "{name}"
        );
    }
    let (_, _, m) = err_of(&out, "err_bad_status");
    assert!(
        m.starts_with("status elephant is not one of [cancelled, created"),
        "{m}"
    );
    assert_eq!(out["live_ok"], 30);

    // Status progression and callbacks for every status, with the bearer token.
    assert!(
        standin.settle(Duration::from_secs(10)).await,
        "did not settle"
    );
    let final_of = |r: &str| standin.notifications_with_reference(r)[0].status;
    assert_eq!(final_of("ref-sms"), Status::Delivered);
    assert_eq!(final_of("ref-email"), Status::Delivered);
    assert_eq!(final_of("ref-temp"), Status::TemporaryFailure);
    assert_eq!(final_of("ref-perm"), Status::PermanentFailure);
    let seen = seen.lock().unwrap().clone();
    let mut by_ref: HashMap<String, Vec<String>> = HashMap::new();
    for (kind, auth, body) in &seen {
        if kind == "status" {
            assert_eq!(auth, "Bearer status-token-123");
            by_ref
                .entry(body["reference"].as_str().unwrap_or("").to_string())
                .or_default()
                .push(body["status"].as_str().unwrap().to_string());
        } else {
            assert_eq!(auth, "Bearer inbound-token-456");
            assert_eq!(body["destination_number"], "07700900999");
        }
    }
    assert_eq!(
        by_ref["ref-sms"],
        ["created", "sending", "pending", "delivered"]
    );
    assert_eq!(by_ref["ref-email"], ["created", "sending", "delivered"]);
    assert_eq!(
        by_ref["ref-temp"],
        ["created", "sending", "pending", "temporary-failure"]
    );
    assert_eq!(
        by_ref["ref-perm"],
        ["created", "sending", "permanent-failure"]
    );
    let inbound: Vec<&Value> = seen
        .iter()
        .filter(|s| s.0 == "inbound")
        .map(|s| &s.2)
        .collect();
    assert_eq!(inbound.len(), 2);
    assert_eq!(inbound[0]["message"], "ACK INC-1");
    assert_eq!(inbound[0]["source_number"], "447700900123");
    let sms_cb = seen
        .iter()
        .find(|s| s.2["reference"] == "ref-sms" && s.2["status"] == "delivered")
        .unwrap();
    assert_eq!(sms_cb.2["id"], sms_id.as_str());
    assert_eq!(sms_cb.2["to"], "07700 900123");
    assert_eq!(sms_cb.2["notification_type"], "sms");
    assert!(sms_cb.2["completed_at"].as_str().unwrap().ends_with('Z'));
    assert!(sms_cb.2["sent_at"].as_str().is_some());
    standin.shutdown().await;
}
