//! A Sigma correlation rule running in the server: its sliding window survives `kill -9`.

mod common;

use common::{member, wannacry_event, Ward};
use serde_json::Value;

const CORRELATION: &str = r#"title: WannaCry Run Three Times On One Host
id: 3c1f6a53-7d0e-4b8e-9f2a-8b1d2c3e4f50
author: ward tests
correlation:
    type: event_count
    rules:
        - 7f0e7b2e-0c5a-4f55-9e52-6a2d7c1b0001
    group-by:
        - Computer
    timespan: 10m
    condition:
        gte: 3
    generate: true
level: critical
"#;

fn correlation_hits(w: &Ward) -> usize {
    let (_, dets) = w.get("/api/v1/detections?limit=1000", &w.token);
    dets.as_array()
        .map(|a| {
            a.iter()
                .filter(|d| d["rule_id"] == "3c1f6a53-7d0e-4b8e-9f2a-8b1d2c3e4f50")
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn correlation_window_survives_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(rules.join("corr.yml"), CORRELATION).unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let mut w = Ward::start(
        &data,
        &[("WARD_DETECTION__RULES_DIR", rules.to_str().unwrap())],
    );
    let (_, status) = w.get("/api/v1/status", &w.token);
    assert_eq!(status["rule_errors"], serde_json::json!([]), "{status}");
    let key = member(&w, "ZA1", "London");
    for seq in 0..2 {
        assert_eq!(w.post_events(&key, wannacry_event("pc-corr", seq)).0, 200);
    }
    let caught_up = |s: &Value| s["detection_offset"] == 2;
    assert!(caught_up(&w.wait_for("/api/v1/status", caught_up)));
    assert_eq!(correlation_hits(&w), 0, "two of three: not yet");
    let metrics = w
        .client()
        .get(format!("{}/metrics", w.url))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(metrics.contains("ward_correlation_groups 1\n"), "{metrics}");
    assert!(
        metrics.contains("ward_correlation_entries 2\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("ward_correlation_evicted_groups 0\n"),
        "{metrics}"
    );
    w.crash_and_restart();
    assert_eq!(w.post_events(&key, wannacry_event("pc-corr", 2)).0, 200);
    let caught_up = |s: &Value| s["detection_offset"] == 3;
    assert!(caught_up(&w.wait_for("/api/v1/status", caught_up)));
    assert_eq!(
        correlation_hits(&w),
        1,
        "the third event after the restart completes the window"
    );
    // The base rule still raises its own detections (generate: true).
    let (_, dets) = w.get("/api/v1/detections?limit=1000", &w.token);
    assert_eq!(dets.as_array().unwrap().len(), 4);
}
