//! The stand-in's limits, faults, clock, callbacks and admin API, driven over HTTP.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use ward_notify_standin::auth::sign;
use ward_notify_standin::config::defaults;
use ward_notify_standin::{
    bind, CallbackConfig, CallbackStatuses, CallbackTarget, FaultKind, StandinConfig,
    StandinHandle, Status,
};

fn token(secret: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    sign(
        &json!({"iss": defaults::SERVICE_ID.to_string(), "iat": now}),
        secret,
        "HS256",
    )
}

struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    fn new(s: &StandinHandle) -> Self {
        Api {
            http: reqwest::Client::new(),
            base: s.base_url(),
        }
    }
    async fn sms(&self, secret: &str, phone: &str, reference: &str) -> (u16, Value) {
        self.post(
            secret,
            "/v2/notifications/sms",
            json!({"phone_number": phone, "template_id": defaults::SMS_TEMPLATE_ID,
                   "personalisation": {"body": "hello"}, "reference": reference}),
        )
        .await
    }
    async fn post(&self, secret: &str, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(token(secret))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
    async fn get(&self, secret: &str, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(token(secret))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }
}

fn error_of(v: &Value) -> (&str, &str) {
    (
        v["errors"][0]["error"].as_str().unwrap_or(""),
        v["errors"][0]["message"].as_str().unwrap_or(""),
    )
}

#[tokio::test]
async fn rate_limit_is_a_token_bucket_of_1000_then_50_per_second() {
    let s = bind("127.0.0.1:0", StandinConfig::default()).await.unwrap();
    let api = Arc::new(Api::new(&s));
    // 1,000 as fast as we can (8 at a time), then the 1,001st is refused.
    let ok = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for w in 0..8 {
        let (api, ok) = (api.clone(), ok.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..125 {
                let (st, _) = api
                    .sms(defaults::TEST_SECRET, "07700900123", &format!("b{w}-{i}"))
                    .await;
                if st == 201 {
                    ok.fetch_add(1, Ordering::SeqCst);
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    // Real time passed while sending refilled a few tokens; spend them, then expect 429.
    let mut extra = 0;
    let refused = loop {
        let (st, body) = api.sms(defaults::TEST_SECRET, "07700900123", "over").await;
        if st == 429 {
            break body;
        }
        extra += 1;
        assert!(extra < 1000, "bucket never emptied");
    };
    assert_eq!(ok.load(Ordering::SeqCst), 1000);
    assert_eq!(
        error_of(&refused),
        (
            "RateLimitError",
            "Exceeded rate limit for key type TEST of 3000 requests per 60 seconds"
        )
    );
    assert_eq!(refused["status_code"], 429);
    // Another key type has its own bucket.
    assert_eq!(
        api.sms(defaults::LIVE_SECRET, "07700900123", "live")
            .await
            .0,
        201
    );
    // One simulated second refills 50 tokens.
    s.advance(Duration::from_secs(1));
    let mut n = 0;
    while api
        .sms(defaults::TEST_SECRET, "07700900123", "refill")
        .await
        .0
        == 201
    {
        n += 1;
        assert!(n < 200);
    }
    // 50 from the simulated second, plus what real time refilled while we sent them.
    assert!((50..=65).contains(&n), "refilled {n}");
    assert!(s.stats().rate_limited >= 2);
}

#[tokio::test]
async fn daily_limit_counts_live_and_team_but_not_test_and_resets_at_midnight() {
    let cfg = StandinConfig {
        daily_limit: 3,
        team_members: vec!["07700 900777".into()],
        ..StandinConfig::default()
    };
    let s = bind("127.0.0.1:0", cfg).await.unwrap();
    let api = Api::new(&s);
    for i in 0..2 {
        assert_eq!(
            api.sms(defaults::LIVE_SECRET, "07700900123", &format!("l{i}"))
                .await
                .0,
            201
        );
    }
    // Team key: only team members.
    let (st, body) = api.sms(defaults::TEAM_SECRET, "07700900123", "t0").await;
    assert_eq!(st, 400);
    assert_eq!(
        error_of(&body),
        (
            "BadRequestError",
            "Can't send to this recipient using a team-only API key"
        )
    );
    assert_eq!(
        api.sms(defaults::TEAM_SECRET, "+447700900777", "t1")
            .await
            .0,
        201
    );
    let (st, body) = api.sms(defaults::LIVE_SECRET, "07700900123", "l3").await;
    assert_eq!(st, 429);
    assert_eq!(
        error_of(&body),
        ("TooManyRequestsError", "Exceeded send limits (3) for today")
    );
    assert_eq!(s.stats().daily_count, 3);
    assert_eq!(
        api.sms(defaults::TEST_SECRET, "07700900123", "test")
            .await
            .0,
        201
    );
    s.advance(Duration::from_secs(24 * 3600));
    assert_eq!(s.stats().daily_count, 0);
    assert_eq!(
        api.sms(defaults::LIVE_SECRET, "07700900123", "l4").await.0,
        201
    );
}

#[tokio::test]
async fn faults_last_for_simulated_time() {
    let cfg = StandinConfig {
        timeout_fault_hold_ms: 300,
        ..StandinConfig::default()
    };
    let s = bind("127.0.0.1:0", cfg).await.unwrap();
    let api = Api::new(&s);

    s.inject_fault(
        FaultKind::ServerError { status: 503 },
        Duration::from_secs(600),
    );
    let (st, body) = api.sms(defaults::LIVE_SECRET, "07700900123", "f1").await;
    assert_eq!(st, 503);
    assert_eq!(error_of(&body), ("Exception", "Internal server error"));
    assert_eq!(
        api.get(defaults::LIVE_SECRET, "/v2/notifications").await.0,
        503
    );
    s.advance(Duration::from_secs(599));
    assert_eq!(
        api.sms(defaults::LIVE_SECRET, "07700900123", "f1").await.0,
        503
    );
    s.advance(Duration::from_secs(2));
    assert_eq!(
        api.sms(defaults::LIVE_SECRET, "07700900123", "f1").await.0,
        201
    );

    s.inject_fault(FaultKind::RateLimit, Duration::from_secs(60));
    let (st, body) = api.sms(defaults::LIVE_SECRET, "07700900123", "f2").await;
    assert_eq!(st, 429);
    assert_eq!(error_of(&body).0, "RateLimitError");
    s.clear_faults();

    // A timeout creates nothing; a lost reply creates the notification.
    s.inject_fault(FaultKind::Timeout, Duration::from_secs(60));
    let t0 = std::time::Instant::now();
    let (st, _) = api.sms(defaults::LIVE_SECRET, "07700900123", "f3").await;
    assert_eq!(st, 504);
    assert!(t0.elapsed() >= Duration::from_millis(300));
    assert!(s.notifications_with_reference("f3").is_empty());
    s.clear_faults();
    s.inject_fault(FaultKind::TimeoutAfterAccept, Duration::from_secs(60));
    assert_eq!(
        api.sms(defaults::LIVE_SECRET, "07700900123", "f4").await.0,
        504
    );
    assert_eq!(s.notifications_with_reference("f4").len(), 1);
    s.clear_faults();
    assert_eq!(s.notifications_with_reference("f1").len(), 1);
    assert!(s.stats().faulted >= 5);
}

#[tokio::test]
async fn smoke_numbers_outcomes_and_validation() {
    let s = bind("127.0.0.1:0", StandinConfig::default()).await.unwrap();
    let api = Api::new(&s);
    // Smoke-test number: a real-looking reply, nothing stored.
    let (st, body) = api.sms(defaults::LIVE_SECRET, "07700900000", "smoke").await;
    assert_eq!(st, 201);
    assert!(body["id"].is_string());
    assert!(s.notifications_with_reference("smoke").is_empty());
    // Forced technical failure.
    s.set_outcome("07700 900555", Status::TechnicalFailure);
    assert_eq!(
        api.sms(defaults::LIVE_SECRET, "07700900555", "tf").await.0,
        201
    );
    // The test numbers only fail with a test key.
    assert_eq!(
        api.sms(defaults::LIVE_SECRET, "07700900003", "live-3")
            .await
            .0,
        201
    );
    s.advance(Duration::from_secs(1));
    assert_eq!(
        s.notifications_with_reference("tf")[0].status,
        Status::TechnicalFailure
    );
    let hist: Vec<Status> = s.notifications_with_reference("tf")[0]
        .history
        .iter()
        .map(|h| h.0)
        .collect();
    assert_eq!(hist, [Status::Created, Status::TechnicalFailure]);
    assert_eq!(
        s.notifications_with_reference("live-3")[0].status,
        Status::Delivered
    );

    let (st, body) = api
        .post(
            defaults::LIVE_SECRET,
            "/v2/notifications/sms",
            json!({"phone_number": "07700900123", "template_id": "nope", "colour": "red"}),
        )
        .await;
    assert_eq!(st, 400);
    let msgs: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert_eq!(
        msgs,
        [
            "Additional properties are not allowed (colour was unexpected)",
            "template_id is not a valid UUID"
        ]
    );
    let r = reqwest::Client::new()
        .post(format!("{}/v2/notifications/sms", s.base_url()))
        .bearer_auth(token(defaults::LIVE_SECRET))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        error_of(&v),
        ("BadRequestError", "Invalid JSON supplied in POST data")
    );
    // No token at all.
    let r = reqwest::get(format!("{}/v2/received-text-messages", s.base_url()))
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Status filter "failed" expands to the three failures.
    assert_eq!(
        api.sms(defaults::TEST_SECRET, "07700900002", "pf").await.0,
        201
    );
    assert_eq!(
        api.sms(defaults::TEST_SECRET, "07700900123", "ok").await.0,
        201
    );
    s.advance(Duration::from_secs(1));
    let (_, list) = api
        .get(defaults::TEST_SECRET, "/v2/notifications?status=failed")
        .await;
    let refs: Vec<&str> = list["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["reference"].as_str().unwrap())
        .collect();
    assert_eq!(refs, ["pf"]);
    let (_, list) = api
        .get(defaults::TEST_SECRET, "/v2/notifications?status=accepted")
        .await;
    assert!(list["notifications"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn list_pages_by_250_with_older_than() {
    let s = bind("127.0.0.1:0", StandinConfig::default()).await.unwrap();
    let api = Api::new(&s);
    for i in 0..260 {
        assert_eq!(
            api.sms(defaults::TEST_SECRET, "07700900123", &format!("p{i}"))
                .await
                .0,
            201
        );
    }
    let (_, page1) = api.get(defaults::TEST_SECRET, "/v2/notifications").await;
    let n1 = page1["notifications"].as_array().unwrap();
    assert_eq!(n1.len(), 250);
    assert_eq!(n1[0]["reference"], "p259");
    let next = page1["links"]["next"].as_str().unwrap();
    let path = next.strip_prefix(&s.base_url()).unwrap();
    let (_, page2) = api.get(defaults::TEST_SECRET, path).await;
    let n2 = page2["notifications"].as_array().unwrap();
    assert_eq!(n2.len(), 10);
    assert_eq!(n2[9]["reference"], "p0");
    // The live key sees none of the test key's notifications.
    let (_, live) = api.get(defaults::LIVE_SECRET, "/v2/notifications").await;
    assert!(live["notifications"].as_array().unwrap().is_empty());
    assert!(live["links"].get("next").is_none());
}

#[derive(Clone, Default)]
struct Flaky {
    calls: Arc<Mutex<Vec<Value>>>,
    fail_first: usize,
    status: u16,
}

async fn flaky(State(f): State<Flaky>, Json(body): Json<Value>) -> StatusCode {
    let mut calls = f.calls.lock().unwrap();
    calls.push(body);
    if calls.len() <= f.fail_first {
        StatusCode::from_u16(f.status).unwrap()
    } else {
        StatusCode::OK
    }
}

async fn receiver(f: Flaky) -> String {
    let app = Router::new().route("/cb", post(flaky)).with_state(f);
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/cb", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    url
}

#[tokio::test]
async fn callbacks_retry_every_five_simulated_minutes_on_5xx_only() {
    let s = bind("127.0.0.1:0", StandinConfig::default()).await.unwrap();
    let api = Api::new(&s);
    let flaky5 = Flaky {
        fail_first: 2,
        status: 503,
        ..Flaky::default()
    };
    let url = receiver(flaky5.clone()).await;
    s.set_callbacks(CallbackConfig {
        delivery_status: Some(CallbackTarget {
            url,
            bearer_token: "t".into(),
        }),
        statuses: CallbackStatuses::FinalOnly,
        ..CallbackConfig::default()
    });
    assert_eq!(
        api.sms(defaults::LIVE_SECRET, "07700900123", "cb").await.0,
        201
    );
    s.advance(Duration::from_secs(1));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(flaky5.calls.lock().unwrap().len(), 1);
    assert_eq!(s.pending_callbacks(), 1);
    s.advance(Duration::from_secs(299));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(flaky5.calls.lock().unwrap().len(), 1, "retried too early");
    s.advance(Duration::from_secs(2));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(flaky5.calls.lock().unwrap().len(), 2);
    s.advance(Duration::from_secs(301));
    assert!(s.settle(Duration::from_secs(5)).await);
    let calls = flaky5.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 3);
    assert!(calls.iter().all(|c| c["status"] == "delivered"));
    let log = s.callback_log();
    assert_eq!(
        log.iter().map(|r| r.result.clone()).collect::<Vec<_>>(),
        [Ok(503), Ok(503), Ok(200)]
    );

    // A 4xx answer is not retried.
    let flaky4 = Flaky {
        fail_first: 10,
        status: 400,
        ..Flaky::default()
    };
    let url = receiver(flaky4.clone()).await;
    s.set_callbacks(CallbackConfig {
        delivery_status: Some(CallbackTarget {
            url,
            bearer_token: "t".into(),
        }),
        statuses: CallbackStatuses::FinalOnly,
        ..CallbackConfig::default()
    });
    assert_eq!(
        api.sms(defaults::LIVE_SECRET, "07700900123", "cb4").await.0,
        201
    );
    s.advance(Duration::from_secs(1));
    assert!(s.settle(Duration::from_secs(5)).await);
    s.advance(Duration::from_secs(3600));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(flaky4.calls.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn admin_http_api_controls_clock_faults_and_texts() {
    let s = bind("127.0.0.1:0", StandinConfig::default()).await.unwrap();
    let api = Api::new(&s);
    let http = reqwest::Client::new();
    let admin = |p: &str| format!("{}/_standin/{p}", s.base_url());

    let before = s.now();
    let r = http
        .post(admin("clock/advance"))
        .json(&json!({"seconds": 3600}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(s.now() - before >= chrono::Duration::seconds(3600));

    let r = http
        .post(admin("faults"))
        .json(&json!({"kind": "server_error", "status": 502, "duration_secs": 60}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        api.sms(defaults::LIVE_SECRET, "07700900123", "x").await.0,
        502
    );
    let r = http.delete(admin("faults")).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(
        api.sms(defaults::LIVE_SECRET, "07700900123", "x").await.0,
        201
    );
    let r = http
        .post(admin("faults"))
        .json(&json!({"kind": "server_error", "status": 404, "duration_secs": 60}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    let r = http
        .post(admin("received-text-messages"))
        .json(&json!({"user_number": "07700900123", "content": "ACK HSA-2026-0001"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let (_, rx) = api
        .get(defaults::LIVE_SECRET, "/v2/received-text-messages")
        .await;
    assert_eq!(
        rx["received_text_messages"][0]["content"],
        "ACK HSA-2026-0001"
    );

    let r = http
        .post(admin("outcomes"))
        .json(&json!({"recipient": "07700900321", "status": "permanent-failure"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(
        api.sms(defaults::LIVE_SECRET, "07700900321", "o").await.0,
        201
    );
    s.advance(Duration::from_secs(1));
    assert_eq!(
        s.notifications_with_reference("o")[0].status,
        Status::PermanentFailure
    );

    let stats: Value = http
        .get(admin("stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["sends_accepted"], 2);
    let all: Value = http
        .get(admin("notifications"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(all.as_array().unwrap().len(), 2);
}
