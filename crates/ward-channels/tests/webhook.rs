//! The webhook channel against a receiver that verifies the HMAC signature.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use ward_channels::webhook::{
    verify_signature, WebhookChannel, WebhookConfig, SIGNATURE_HEADER, TIMESTAMP_HEADER,
};
use ward_channels::{
    Channel, ChannelKind, DeliveryOutcome, OutboundMessage, Recipient, WebhookFormat,
};

const SECRET: &str = "whsec-test-7c1f";

#[derive(Default)]
struct Received {
    bodies: Vec<Value>,
    verified: Vec<bool>,
}

type Shared = Arc<Mutex<Received>>;

/// Checks the signature twice: with ward's verifier and with an independent HMAC here.
async fn hook(
    State(rx): State<Shared>,
    Path(mode): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let ts = headers.get(TIMESTAMP_HEADER).and_then(|v| v.to_str().ok());
    let sig = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let ours = verify_signature(SECRET, ts, sig, &body, now, Duration::from_secs(300)).is_ok();
    let independent = match (ts, sig) {
        (Some(ts), Some(sig)) => {
            let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
            mac.update(format!("{ts}.").as_bytes());
            mac.update(&body);
            let hex: String = mac
                .finalize()
                .into_bytes()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            sig == format!("sha256={hex}")
        }
        _ => false,
    };
    {
        let mut r = rx.lock().unwrap();
        r.bodies
            .push(serde_json::from_slice(&body).unwrap_or(Value::Null));
        r.verified.push(ours && independent);
    }
    match mode.as_str() {
        "busy" => (StatusCode::SERVICE_UNAVAILABLE, "try later".into()),
        "gone" => (StatusCode::GONE, "no such hook".into()),
        "slow" => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            (StatusCode::OK, "late".into())
        }
        _ if !(ours && independent) => (StatusCode::UNAUTHORIZED, "bad signature".into()),
        _ => (StatusCode::OK, "ok".into()),
    }
}

#[tokio::test]
async fn signed_json_slack_and_teams_with_outcomes() {
    let rx: Shared = Arc::default();
    let app = Router::new()
        .route("/hook/{mode}", post(hook))
        .with_state(rx.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/hook", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });

    let ch = WebhookChannel::new(WebhookConfig {
        secret: Some(SECRET.into()),
        timeout_ms: 500,
    })
    .unwrap();
    assert_eq!(ch.kind(), ChannelKind::Webhook);
    let msg = |format, mode: &str| {
        let mut m = OutboundMessage::new(
            "INC-7",
            Recipient::Webhook {
                url: format!("{base}/{mode}"),
                format,
            },
            "National incident: SMBv1 worm",
            "Five trusts affected. Acknowledge: https://ward.example/ack/abc",
        );
        m.personalisation.insert("severity".into(), "1".into());
        m
    };
    for f in [
        WebhookFormat::Json,
        WebhookFormat::Slack,
        WebhookFormat::Teams,
    ] {
        let out = ch.send(&msg(f, "ok")).await;
        assert_eq!(
            out,
            DeliveryOutcome::Accepted {
                provider_id: None,
                http_status: Some(200),
                detail: "webhook answered 200".into()
            },
            "{f:?}"
        );
    }
    {
        let r = rx.lock().unwrap();
        assert_eq!(r.verified, [true, true, true]);
        assert_eq!(r.bodies[0]["reference"], "INC-7");
        assert_eq!(r.bodies[0]["personalisation"]["severity"], "1");
        assert!(r.bodies[1]["text"]
            .as_str()
            .unwrap()
            .starts_with("*National incident"));
        assert_eq!(r.bodies[2]["type"], "message");
        assert_eq!(
            r.bodies[2]["attachments"][0]["content"]["type"],
            "AdaptiveCard"
        );
    }
    assert!(matches!(ch.send(&msg(WebhookFormat::Json, "busy")).await,
        DeliveryOutcome::Retryable { reason, .. } if reason.starts_with("HTTP 503")));
    assert!(matches!(ch.send(&msg(WebhookFormat::Json, "gone")).await,
        DeliveryOutcome::Permanent { reason } if reason.starts_with("HTTP 410")));
    assert!(matches!(ch.send(&msg(WebhookFormat::Json, "slow")).await,
        DeliveryOutcome::Retryable { reason, .. } if reason.starts_with("timeout")));

    // A wrong secret is refused by the receiver (401 → Permanent).
    let wrong = WebhookChannel::new(WebhookConfig {
        secret: Some("other".into()),
        timeout_ms: 500,
    })
    .unwrap();
    assert!(matches!(wrong.send(&msg(WebhookFormat::Json, "ok")).await,
        DeliveryOutcome::Permanent { reason } if reason.starts_with("HTTP 401")));
    assert_eq!(rx.lock().unwrap().verified.last(), Some(&false));

    // Not a webhook recipient, not an http URL, nothing listening.
    let phone = OutboundMessage::new("x", Recipient::Phone("07700900123".into()), "", "");
    assert!(matches!(
        ch.send(&phone).await,
        DeliveryOutcome::Permanent { .. }
    ));
    let ftp = OutboundMessage::new(
        "x",
        Recipient::Webhook {
            url: "ftp://x".into(),
            format: WebhookFormat::Json,
        },
        "",
        "",
    );
    assert!(matches!(
        ch.send(&ftp).await,
        DeliveryOutcome::Permanent { .. }
    ));
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}/", l.local_addr().unwrap());
    drop(l);
    let refused = OutboundMessage::new(
        "x",
        Recipient::Webhook {
            url: dead,
            format: WebhookFormat::Json,
        },
        "",
        "",
    );
    assert!(matches!(
        ch.send(&refused).await,
        DeliveryOutcome::Retryable { .. }
    ));
    assert!(WebhookChannel::new(WebhookConfig {
        secret: Some(String::new()),
        timeout_ms: 1
    })
    .is_err());
}
