//! NotifyClient against the real stand-in: sends, polling, received texts, callbacks,
//! limits, faults, and a ten-minute outage with no lost and no duplicated texts.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::Value;
use ward_channels::notify::{
    parse_ack, verify_callback_bearer, DeliveryStatusCallback, NotifyClient, NotifyConfig,
    NotifyStatus, ReceivedTextCallback,
};
use ward_channels::ratelimit::RateLimit;
use ward_channels::{Channel, DeliveryOutcome, OutboundMessage, Recipient};
use ward_notify_standin::config::defaults;
use ward_notify_standin::{
    bind, CallbackConfig, CallbackTarget, FaultKind, RateLimitConfig, StandinConfig, StandinHandle,
};

fn client(s: &StandinHandle, key: &str, timeout: Duration) -> NotifyClient {
    NotifyClient::new(
        NotifyConfig::new(
            s.api_key(key).unwrap(),
            defaults::SMS_TEMPLATE_ID.to_string(),
            defaults::EMAIL_TEMPLATE_ID.to_string(),
        )
        .with_base_url(s.base_url())
        .with_timeout(timeout),
    )
    .unwrap()
}

fn sms(reference: &str, phone: &str) -> OutboundMessage {
    OutboundMessage::new(
        reference,
        Recipient::Phone(phone.into()),
        "INC-1",
        format!("Worm seen ({reference})"),
    )
}

#[tokio::test]
async fn send_then_poll_status_and_find_by_reference() {
    let s = bind("127.0.0.1:0", StandinConfig::default()).await.unwrap();
    let c = client(&s, "ward-test", Duration::from_secs(5));
    let DeliveryOutcome::Accepted {
        provider_id: Some(id),
        http_status: Some(201),
        ..
    } = c.send(&sms("poll-1", "07700900123")).await
    else {
        panic!("not accepted")
    };
    let temp = c.send(&sms("poll-2", "07700900003")).await;
    let email = c
        .email()
        .send(&OutboundMessage::new(
            "poll-3",
            Recipient::Email("lead@nhs.net".into()),
            "S",
            "B",
        ))
        .await;
    assert!(temp.is_accepted() && email.is_accepted());

    let first = c.get_notification(&id).await.unwrap();
    assert_eq!(first.reference.as_deref(), Some("poll-1"));
    assert_eq!(first.notification_type, "sms");
    assert!(!first.status.is_final(), "{:?}", first.status);
    s.advance(Duration::from_secs(5));
    let done = c.get_notification(&id).await.unwrap();
    assert_eq!(done.status, NotifyStatus::Delivered);
    assert!(done.completed_at.is_some());
    let found = c.find_by_reference("poll-2").await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].status, NotifyStatus::TemporaryFailure);
    assert!(found[0].status.is_failure());
    assert!(c.find_by_reference("nope").await.unwrap().is_empty());
    let err = c.get_notification(&uuid_v4_like()).await.unwrap_err();
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("NoResultFound"), "{err}");
}

fn uuid_v4_like() -> String {
    "8b6f3e0c-3b1e-4c7a-9d5e-2f1a0b9c8d7e".to_string()
}

#[tokio::test]
async fn received_texts_poll_since_last_seen_and_parse_acks() {
    let s = bind("127.0.0.1:0", StandinConfig::default()).await.unwrap();
    let c = client(&s, "ward-live", Duration::from_secs(5));
    assert!(c.received_texts_since(None, 10).await.unwrap().is_empty());
    for i in 0..3 {
        s.receive_text("07700900123", &format!("ACK INC-{i}"));
    }
    let first = c.received_texts_since(None, 10).await.unwrap();
    let acks: Vec<String> = first.iter().filter_map(|t| parse_ack(&t.content)).collect();
    assert_eq!(acks, ["INC-0", "INC-1", "INC-2"]);
    let last = first.last().unwrap().id.clone();
    s.receive_text("+447700900124", "ack: HSA-2026-0001");
    s.receive_text("07700900125", "who is this?");
    let next = c.received_texts_since(Some(&last), 10).await.unwrap();
    assert_eq!(next.len(), 2);
    assert_eq!(
        parse_ack(&next[0].content).as_deref(),
        Some("HSA-2026-0001")
    );
    assert_eq!(next[0].user_number, "447700900124");
    assert_eq!(parse_ack(&next[1].content), None);
    // Paging: 260 texts come back across two pages, oldest first.
    for i in 0..260 {
        s.receive_text("07700900123", &format!("m{i}"));
    }
    let newest_before = next.last().unwrap().id.clone();
    let all = c
        .received_texts_since(Some(&newest_before), 10)
        .await
        .unwrap();
    assert_eq!(all.len(), 260);
    assert_eq!(all[0].content, "m0");
    assert_eq!(all[259].content, "m259");
}

type Seen = Arc<Mutex<Vec<(bool, Value)>>>;

async fn callback_sink(
    State(seen): State<Seen>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> StatusCode {
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
    let ok = verify_callback_bearer(auth, "cb-secret");
    seen.lock().unwrap().push((ok, body));
    if ok {
        StatusCode::OK
    } else {
        StatusCode::UNAUTHORIZED
    }
}

#[tokio::test]
async fn callbacks_parse_for_every_status_and_bearer_is_checked() {
    let seen: Seen = Arc::default();
    let app = Router::new()
        .route("/cb", post(callback_sink))
        .with_state(seen.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/cb", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });

    let s = bind("127.0.0.1:0", StandinConfig::default()).await.unwrap();
    s.set_callbacks(CallbackConfig {
        delivery_status: Some(CallbackTarget {
            url: url.clone(),
            bearer_token: "cb-secret".into(),
        }),
        received_text: Some(CallbackTarget {
            url,
            bearer_token: "wrong-secret".into(),
        }),
        ..CallbackConfig::default()
    });
    s.set_outcome("07700900777", ward_notify_standin::Status::TechnicalFailure);
    s.set_outcome("+33612345678", ward_notify_standin::Status::Sent);
    let c = client(&s, "ward-test", Duration::from_secs(5));
    for (r, p) in [
        ("a", "07700900123"),
        ("b", "07700900003"),
        ("c", "07700900002"),
        ("d", "07700900777"),
    ] {
        assert!(c.send(&sms(r, p)).await.is_accepted(), "{r}");
    }
    s.receive_text("07700900123", "ACK INC-9");
    assert!(s.settle(Duration::from_secs(10)).await);

    let seen = seen.lock().unwrap().clone();
    let mut statuses: HashMap<String, Vec<NotifyStatus>> = HashMap::new();
    for (ok, body) in &seen {
        if body.get("source_number").is_some() {
            assert!(
                !ok,
                "inbound callback carried the wrong token and must be refused"
            );
            let cb: ReceivedTextCallback = serde_json::from_value(body.clone()).unwrap();
            assert_eq!(parse_ack(&cb.message).as_deref(), Some("INC-9"));
            continue;
        }
        assert!(ok);
        let cb: DeliveryStatusCallback = serde_json::from_value(body.clone()).unwrap();
        statuses
            .entry(cb.reference.clone().unwrap())
            .or_default()
            .push(cb.status);
    }
    use NotifyStatus::*;
    assert_eq!(statuses["a"], [Created, Sending, Pending, Delivered]);
    assert_eq!(statuses["b"], [Created, Sending, Pending, TemporaryFailure]);
    assert_eq!(statuses["c"], [Created, Sending, PermanentFailure]);
    assert_eq!(statuses["d"], [Created, TechnicalFailure]);
    assert!(!verify_callback_bearer(None, "cb-secret"));
    assert!(!verify_callback_bearer(Some("Bearer "), ""));
    assert!(verify_callback_bearer(
        Some("bearer cb-secret"),
        "cb-secret"
    ));
}

#[tokio::test]
async fn faults_map_to_retryable_and_daily_limit_waits_for_midnight() {
    let cfg = StandinConfig {
        timeout_fault_hold_ms: 2_000,
        daily_limit: 2,
        ..StandinConfig::default()
    };
    let s = bind("127.0.0.1:0", cfg).await.unwrap();
    let c = client(&s, "ward-live", Duration::from_millis(300));

    s.inject_fault(
        FaultKind::ServerError { status: 502 },
        Duration::from_secs(60),
    );
    assert!(matches!(c.send(&sms("f-1", "07700900123")).await,
        DeliveryOutcome::Retryable { reason, .. } if reason.contains("HTTP 502 Exception")));
    s.clear_faults();
    s.inject_fault(FaultKind::RateLimit, Duration::from_secs(60));
    assert!(matches!(c.send(&sms("f-2", "07700900123")).await,
        DeliveryOutcome::Retryable { reason, .. } if reason.contains("RateLimitError")));
    s.clear_faults();
    s.inject_fault(FaultKind::Timeout, Duration::from_secs(60));
    assert!(matches!(c.send(&sms("f-3", "07700900123")).await,
        DeliveryOutcome::Retryable { reason, .. } if reason.starts_with("timeout")));
    s.clear_faults();

    assert!(c.send(&sms("d-1", "07700900123")).await.is_accepted());
    assert!(c.send(&sms("d-2", "07700900123")).await.is_accepted());
    assert_eq!(c.daily_usage().sent, 2);
    let refused_before = s.stats().sends_refused;
    let out = c.send(&sms("d-3", "07700900123")).await;
    let DeliveryOutcome::Retryable {
        reason,
        retry_after: Some(wait),
    } = out
    else {
        panic!("{out:?}")
    };
    assert!(reason.contains("TooManyRequestsError"), "{reason}");
    assert!(wait <= Duration::from_secs(86_400));
    assert!(c.daily_usage().exhausted);
    // Further sends today wait without troubling Notify.
    assert!(matches!(
        c.send(&sms("d-4", "07700900123")).await,
        DeliveryOutcome::Retryable { .. }
    ));
    assert_eq!(s.stats().sends_refused, refused_before + 1);
    // Permanent errors are never retried.
    assert!(matches!(
        c.send(&sms("bad", "07700 9001234")).await,
        DeliveryOutcome::Permanent { .. }
    ));
}

#[tokio::test]
async fn sender_side_bucket_keeps_under_the_server_limit() {
    let cfg = StandinConfig {
        rate_limit: RateLimitConfig {
            per_minute: 3000,
            bucket_size: 5,
            refill_per_sec: 20.0,
        },
        ..StandinConfig::default()
    };
    let s = bind("127.0.0.1:0", cfg).await.unwrap();
    let make = || {
        NotifyClient::new(
            NotifyConfig::new(
                s.api_key("ward-test").unwrap(),
                defaults::SMS_TEMPLATE_ID.to_string(),
                defaults::EMAIL_TEMPLATE_ID.to_string(),
            )
            .with_base_url(s.base_url())
            // A little under the server's 5 and 20/s, as the default is under Notify's.
            .with_rate_limit(Some(RateLimit {
                burst: 4,
                per_second: 19.0,
                max_wait_ms: 10_000,
            })),
        )
        .unwrap()
    };
    // Two clients of the same key share one bucket.
    let (a, b) = (Arc::new(make()), Arc::new(make()));
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..15 {
        let c = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            c.send(&sms(&format!("rl-{i}"), "07700900123")).await
        }));
    }
    for t in tasks {
        assert!(t.await.unwrap().is_accepted());
    }
    // 4 at once, then 11 at 19/s: at least ~0.58 s, and the server never said 429.
    assert!(
        t0.elapsed() >= Duration::from_millis(550),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(s.stats().rate_limited, 0);
    assert_eq!(s.stats().sends_accepted, 15);
}

/// The fault test, at the channel level: Notify fails for ten minutes of simulated
/// time with 5xx, 429, timeouts and lost replies; a retry loop (as the dispatcher runs it)
/// then delivers every message exactly once.
#[tokio::test]
async fn ten_minute_outage_then_every_message_delivered_once() {
    let cfg = StandinConfig {
        timeout_fault_hold_ms: 1_000,
        ..StandinConfig::default()
    };
    let s = bind("127.0.0.1:0", cfg).await.unwrap();
    let c = client(&s, "ward-live", Duration::from_millis(200));
    let msgs: Vec<OutboundMessage> = (0..12)
        .map(|i| sms(&format!("outage-{i}"), "07700900123"))
        .collect();

    // Ten simulated minutes of trouble, in four phases.
    let phases = [
        FaultKind::ServerError { status: 500 },
        FaultKind::RateLimit,
        FaultKind::TimeoutAfterAccept,
        FaultKind::Timeout,
    ];
    let mut pending: Vec<&OutboundMessage> = msgs.iter().collect();
    let mut attempts = 0;
    for (round, kind) in phases.iter().enumerate() {
        s.clear_faults();
        s.inject_fault(*kind, Duration::from_secs(150));
        // Every pending message is attempted during each phase; none is accepted.
        for m in &pending {
            attempts += 1;
            let out = c.send(m).await;
            assert!(
                matches!(out, DeliveryOutcome::Retryable { .. }),
                "round {round}: {out:?}"
            );
        }
        s.advance(Duration::from_secs(150));
    }
    assert_eq!(attempts, 48);
    // Lost replies created some notifications during the outage.
    let created_during_outage = s.notifications().len();
    assert_eq!(created_during_outage, 12);
    // Recovered: retry until all are accepted.
    for _ in 0..5 {
        let mut still = Vec::new();
        for m in pending {
            match c.send(m).await {
                DeliveryOutcome::Accepted { .. } => {}
                DeliveryOutcome::Retryable { .. } => still.push(m),
                DeliveryOutcome::Permanent { reason } => panic!("{reason}"),
            }
        }
        pending = still;
        if pending.is_empty() {
            break;
        }
    }
    assert!(pending.is_empty());
    for m in &msgs {
        assert_eq!(
            s.notifications_with_reference(&m.reference).len(),
            1,
            "{} duplicated or lost",
            m.reference
        );
    }
    s.advance(Duration::from_secs(5));
    assert!(s
        .notifications()
        .iter()
        .all(|n| n.status == ward_notify_standin::Status::Delivered));
}

/// After a restart the dispatcher does not know whether an in-flight row reached Notify;
/// `mark_uncertain` makes the next send look it up first instead of texting twice.
#[tokio::test]
async fn restart_with_in_flight_row_does_not_send_twice() {
    let s = bind("127.0.0.1:0", StandinConfig::default()).await.unwrap();
    let before_crash = client(&s, "ward-live", Duration::from_secs(5));
    assert!(before_crash
        .send(&sms("inflight-1", "07700900123"))
        .await
        .is_accepted());
    drop(before_crash);

    let after_restart = client(&s, "ward-live", Duration::from_secs(5));
    after_restart.mark_uncertain("inflight-1");
    after_restart.mark_uncertain("inflight-2"); // never reached Notify
    let again = after_restart.send(&sms("inflight-1", "07700900123")).await;
    let DeliveryOutcome::Accepted {
        detail,
        provider_id: Some(_),
        ..
    } = again
    else {
        panic!("{again:?}")
    };
    assert!(detail.contains("not sent again"), "{detail}");
    assert!(after_restart
        .send(&sms("inflight-2", "07700900123"))
        .await
        .is_accepted());
    assert_eq!(s.notifications_with_reference("inflight-1").len(), 1);
    assert_eq!(s.notifications_with_reference("inflight-2").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_drain_delivers_each_message_once_within_the_limit() {
    let cfg = StandinConfig {
        rate_limit: RateLimitConfig {
            per_minute: 3000,
            bucket_size: 50,
            refill_per_sec: 500.0,
        },
        ..StandinConfig::default()
    };
    let s = bind("127.0.0.1:0", cfg).await.unwrap();
    let c = NotifyClient::new(
        NotifyConfig::new(
            s.api_key("ward-live").unwrap(),
            defaults::SMS_TEMPLATE_ID.to_string(),
            defaults::EMAIL_TEMPLATE_ID.to_string(),
        )
        .with_base_url(s.base_url())
        .with_rate_limit(Some(RateLimit {
            burst: 40,
            per_second: 450.0,
            max_wait_ms: 10_000,
        })),
    )
    .unwrap();
    let report = ward_channels::bench::drain(&c, 300, 8).await;
    assert_eq!(report.accepted, 300, "{report}");
    assert_eq!(report.permanent, 0);
    // 260 after the burst at 450/s cannot take less than ~0.58 s.
    assert!(report.elapsed >= Duration::from_millis(550), "{report}");
    assert_eq!(
        report.rate_limited_minimum,
        Some(Duration::from_secs_f64(260.0 / 450.0))
    );
    assert_eq!(s.stats().sends_accepted, 300);
    let mut refs: Vec<String> = s
        .notifications()
        .into_iter()
        .filter_map(|n| n.reference)
        .collect();
    refs.sort();
    refs.dedup();
    assert_eq!(refs.len(), 300);
    assert!(report
        .to_string()
        .starts_with("notify drain: 300 notifications in "));
}
