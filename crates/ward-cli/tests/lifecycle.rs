//! Incident lifecycle over the API and the CLI: who changed what, when and why.

mod common;

use common::{member, wannacry_event, Ward};
use serde_json::{json, Value};

#[test]
fn leads_acknowledge_and_close_their_incidents_with_a_timeline() {
    let dir = tempfile::tempdir().unwrap();
    let w = Ward::start(dir.path(), &[]);
    let key = member(&w, "ZA1", "London");
    member(&w, "ZA2", "London");
    let user = |email: &str, role: &str, org: &str| -> String {
        let (s, v) = w.post_json(
            "/api/v1/users",
            &w.token,
            &json!({"name": email, "email": email, "role": role, "org_code": org}),
        );
        assert_eq!(s, 201, "{v}");
        v["token"].as_str().unwrap().to_string()
    };
    let lead = user("lead@za1.example", "org_lead", "ZA1");
    let viewer = user("viewer@za1.example", "org_viewer", "ZA1");
    let other_lead = user("lead@za2.example", "org_lead", "ZA2");
    assert_eq!(w.post_events(&key, wannacry_event("pc1", 1)).0, 200);
    let incidents = w.wait_for("/api/v1/incidents", |v| {
        v.as_array().is_some_and(|a| !a.is_empty())
    });
    let id = incidents[0]["id"].as_i64().unwrap();
    let path = format!("/api/v1/incidents/{id}/status");

    // Viewers, other organisations' leads and API keys may not change it.
    assert_eq!(
        w.post_json(&path, &viewer, &json!({"status": "acknowledged"}))
            .0,
        403
    );
    assert_eq!(
        w.post_json(&path, &other_lead, &json!({"status": "acknowledged"}))
            .0,
        404
    );
    assert_eq!(
        w.post_json(&path, &key, &json!({"status": "acknowledged"}))
            .0,
        403
    );

    // The lead acknowledges from the CLI.
    let out = std::process::Command::new(common::WARD)
        .args([
            "incidents",
            "ack",
            &id.to_string(),
            "--comment",
            "on it",
            "--json",
        ])
        .env("WARD_URL", &w.url)
        .env("WARD_TOKEN", &lead)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let entry: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (entry["from_status"].as_str(), entry["to_status"].as_str()),
        (Some("new"), Some("acknowledged"))
    );

    // No going back, and unknown statuses are named.
    let (s, v) = w.post_json(&path, &lead, &json!({"status": "new"}));
    assert_eq!(s, 400, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("is acknowledged"),
        "{v}"
    );
    let (s, v) = w.post_json(&path, &lead, &json!({"status": "closed"}));
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (400, Some("invalid_status"))
    );

    let (s, _) = w.post_json(
        &path,
        &lead,
        &json!({"status": "false_positive", "comment": "pen test"}),
    );
    assert_eq!(s, 200);
    let (_, detail) = w.get(&format!("/api/v1/incidents/{id}"), &w.token);
    assert_eq!(detail["incident"]["status"], "false_positive");
    let timeline = detail["timeline"].as_array().unwrap();
    assert_eq!(timeline.len(), 2);
    assert_eq!(timeline[0]["actor"], "lead@za1.example");
    assert_eq!(timeline[0]["comment"], "on it");
    assert_eq!(timeline[1]["to_status"], "false_positive");

    // A closed incident collects nothing more: the next detection opens a new one.
    assert_eq!(w.post_events(&key, wannacry_event("pc1", 2)).0, 200);
    let incidents = w.wait_for("/api/v1/incidents", |v| {
        v.as_array().is_some_and(|a| a.len() == 2)
    });
    assert_eq!(incidents.as_array().unwrap().len(), 2);
    assert!(incidents
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i["status"] == "new"));
}
