//! Per-organisation Sigma meta filters, managed through the CLI and the API, applied by the
//! detection pipeline to that organisation only.

mod common;

use common::{member, wannacry_event, Ward};
use serde_json::{json, Value};

const FILTER: &str = r#"title: Our backup host runs the vendor's tasksche tool
id: 6f1c7e0a-1b2c-4d3e-8f40-aa00bb11cc22
logsource:
    product: windows
    category: process_creation
filter:
    rules:
        - 7f0e7b2e-0c5a-4f55-9e52-6a2d7c1b0001
    selection:
        Computer: pc-backup
    condition: not selection
"#;

fn hosts_detected(w: &Ward, org: &str) -> Vec<String> {
    let (_, dets) = w.get(&format!("/api/v1/detections?org={org}&limit=100"), &w.token);
    let mut hosts: Vec<String> = dets
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["host"].as_str().unwrap_or("").to_string())
        .collect();
    hosts.sort();
    hosts
}

#[test]
fn an_organisations_filter_tunes_only_its_own_detections() {
    let dir = tempfile::tempdir().unwrap();
    let w = Ward::start(dir.path(), &[]);
    let key_a = member(&w, "ZA1", "London");
    let key_b = member(&w, "ZA2", "London");
    let (_, lead) = w.post_json(
        "/api/v1/users",
        &w.token,
        &json!({"name": "Lee", "email": "lee@za1.example", "role": "org_lead", "org_code": "ZA1"}),
    );
    let lead_token = lead["token"].as_str().unwrap().to_string();

    // A filter that does not compile is refused with where and why.
    let (s, v) = w.post_json("/api/v1/organisations/ZA1/filters", &lead_token, &json!({"name": "broken", "yaml": "title: x\nfilter:\n    rules: [nope]\n    selection: {a: 1}\n    condition: not selection\n"}));
    assert_eq!(s, 400, "{v}");
    assert_eq!(v["error"]["code"], "invalid_filter");
    // A lead may not tune another organisation.
    let (s, _) = w.post_json(
        "/api/v1/organisations/ZA2/filters",
        &lead_token,
        &json!({"name": "x", "yaml": FILTER}),
    );
    assert_eq!(s, 403);

    let file = dir.path().join("mf_backup.yml");
    std::fs::write(&file, FILTER).unwrap();
    let out = std::process::Command::new(common::WARD)
        .args(["filter", "add", "ZA1", file.to_str().unwrap(), "--json"])
        .env("WARD_URL", &w.url)
        .env("WARD_TOKEN", &lead_token)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let added: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(added["name"], "mf_backup.yml");

    for (key, host, seq) in [
        (&key_a, "pc-backup", 1),
        (&key_a, "pc-other", 2),
        (&key_b, "pc-backup", 3),
    ] {
        assert_eq!(w.post_events(key, wannacry_event(host, seq)).0, 200);
    }
    let caught_up = |s: &Value| s["detection_offset"] == 3;
    assert!(caught_up(&w.wait_for("/api/v1/status", caught_up)));
    assert_eq!(
        hosts_detected(&w, "ZA1"),
        vec!["pc-other"],
        "ZA1's filter tunes out its backup host"
    );
    assert_eq!(
        hosts_detected(&w, "ZA2"),
        vec!["pc-backup"],
        "ZA2 has no such filter"
    );
    let metrics = w
        .client()
        .get(format!("{}/metrics", w.url))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains("ward_detection_suppressed_total 1"),
        "{metrics}"
    );

    // Removing the filter brings the detections back.
    let out = w.cli(&["filter", "list", "ZA1", "--json"]);
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let id = listed[0]["id"].as_i64().unwrap().to_string();
    assert!(w.cli(&["filter", "remove", &id]).status.success());
    assert_eq!(w.post_events(&key_a, wannacry_event("pc-backup", 4)).0, 200);
    let caught_up = |s: &Value| s["detection_offset"] == 4;
    assert!(caught_up(&w.wait_for("/api/v1/status", caught_up)));
    assert_eq!(hosts_detected(&w, "ZA1"), vec!["pc-backup", "pc-other"]);
}
