//! The NVD client against a loopback server that serves the real records the way the
//! CVE API 2.0 does (lastMod window filter, startIndex/resultsPerPage paging) and
//! enforces the API's limits (≤ 2,000 per page, ≤ 120-day windows).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{json, Value};
use ward_intel::feeds::nvd::{NvdClient, NvdClientConfig};

type RequestLog = Arc<Mutex<Vec<(Instant, std::collections::HashMap<String, String>)>>>;

#[derive(Clone)]
struct Srv {
    records: Arc<Vec<Value>>,
    log: RequestLog,
}

async fn cves(
    State(s): State<Srv>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> axum::response::Response {
    s.log.lock().unwrap().push((Instant::now(), q.clone()));
    let per: usize = q
        .get("resultsPerPage")
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let start: usize = q
        .get("startIndex")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if per > 2000 {
        return (StatusCode::NOT_FOUND, "resultsPerPage > 2000").into_response();
    }
    let parse = |k: &str| {
        q.get(k)
            .and_then(|v| DateTime::parse_from_rfc3339(v).ok())
            .map(|d| d.with_timezone(&Utc))
    };
    let (Some(a), Some(b)) = (parse("lastModStartDate"), parse("lastModEndDate")) else {
        return (StatusCode::NOT_FOUND, "both lastMod dates required").into_response();
    };
    if b - a > chrono::Duration::days(120) {
        return (StatusCode::NOT_FOUND, "range > 120 days").into_response();
    }
    let matching: Vec<&Value> = s
        .records
        .iter()
        .filter(|r| {
            let lm = NaiveDateTime::parse_from_str(
                r["lastModified"].as_str().unwrap(),
                "%Y-%m-%dT%H:%M:%S%.f",
            )
            .unwrap()
            .and_utc();
            lm >= a && lm <= b
        })
        .collect();
    let page: Vec<Value> = matching
        .iter()
        .skip(start)
        .take(per)
        .map(|c| json!({ "cve": c }))
        .collect();
    Json(json!({
        "resultsPerPage": page.len(), "startIndex": start, "totalResults": matching.len(),
        "format": "NVD_CVE", "version": "2.0", "timestamp": "2025-10-24T13:42:55.550",
        "vulnerabilities": page
    }))
    .into_response()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_windows_and_rate_limit_against_loopback_server() {
    let root = std::env::var_os("WARD_SHARED_DATA")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data")
        });
    let env: Value = serde_json::from_slice(
        &std::fs::read(root.join("nvd/nvd-api2-envelope-subset.json")).unwrap(),
    )
    .unwrap();
    let records: Vec<Value> = env["vulnerabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["cve"].clone())
        .collect();
    let srv = Srv {
        records: Arc::new(records),
        log: Arc::default(),
    };
    let app = Router::new()
        .route("/rest/json/cves/2.0", get(cves))
        .with_state(srv.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let mut client = NvdClient::new(NvdClientConfig {
        base_url: format!("http://{addr}/rest/json/cves/2.0"),
        api_key: Some("test-key".into()),
        page_size: 2,
        min_interval: Duration::from_millis(150),
        timeout: Duration::from_secs(10),
    })
    .unwrap();
    let start = DateTime::parse_from_rfc3339("2025-07-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    let end = DateTime::parse_from_rfc3339("2025-11-30T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    let got = client.modified_between(start, end).await.unwrap();
    let mut ids: Vec<&str> = got.iter().map(|r| r.id.as_str()).collect();
    ids.sort();
    assert_eq!(ids, ["CVE-2017-0144", "CVE-2019-0708", "CVE-2023-4966"]);
    assert!(got.iter().any(|r| r.configurations.len() == 9));

    let log = srv.log.lock().unwrap().clone();
    // Window 1 (120 days): two pages of 2 + 1; window 2: one empty page.
    assert_eq!(
        log.len(),
        3,
        "{:?}",
        log.iter().map(|l| &l.1).collect::<Vec<_>>()
    );
    assert_eq!(client.requests, 3);
    assert_eq!(log[0].1["startIndex"], "0");
    assert_eq!(log[1].1["startIndex"], "2");
    assert_eq!(log[2].1["lastModStartDate"], "2025-10-29T00:00:00.000Z");
    assert!(log.iter().all(|l| l.1["resultsPerPage"] == "2"));
    for w in log.windows(2) {
        assert!(
            w[1].0 - w[0].0 >= Duration::from_millis(140),
            "rate limit not honoured"
        );
    }

    // An oversized page request is refused by the server; the client clamps to 2,000.
    let mut big = NvdClient::new(NvdClientConfig {
        base_url: format!("http://{addr}/rest/json/cves/2.0"),
        page_size: 10_000,
        min_interval: Duration::ZERO,
        ..NvdClientConfig::default()
    })
    .unwrap();
    assert_eq!(big.modified_between(start, end).await.unwrap().len(), 3);
    assert!(srv
        .log
        .lock()
        .unwrap()
        .iter()
        .skip(3)
        .all(|l| l.1["resultsPerPage"] == "2000"));

    // Server errors surface with status and body.
    let mut bad = NvdClient::new(NvdClientConfig {
        base_url: format!("http://{addr}/nope"),
        min_interval: Duration::ZERO,
        ..NvdClientConfig::default()
    })
    .unwrap();
    let e = bad.modified_between(start, end).await.unwrap_err();
    assert_eq!(e.code(), "I009");
}
