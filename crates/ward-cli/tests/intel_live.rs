//! Indicators matched live and retro-hunted, end to end through the real `ward serve`:
//! an indicator (domain, IP CIDR, SHA-256) posted to the API, then events containing its
//! values become detections `ioc:<id>` and incidents; an event sent BEFORE its indicator
//! is found by the retro-hunt and opens an incident marked "seen before publication".
//! Also: a false-positive report stops matching, and exports carry the values.

mod common;

use std::time::{Duration, Instant};

use common::{member, Ward};
use serde_json::{json, Value};

const SHA: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

fn submit(w: &Ward, token: &str, ct: &str, body: String, query: &str) -> Value {
    let resp = w
        .client()
        .post(format!("{}/api/v1/intel/indicators?{query}", w.url))
        .bearer_auth(token)
        .header("content-type", ct)
        .body(body)
        .send()
        .unwrap();
    let status = resp.status().as_u16();
    let v: Value = resp.json().unwrap_or(Value::Null);
    assert_eq!(status, 200, "{v}");
    v
}

fn detections(w: &Ward) -> Vec<Value> {
    let (s, v) = w.get("/api/v1/detections?limit=500", &w.token);
    assert_eq!(s, 200, "{v}");
    v.as_array().cloned().unwrap_or_default()
}

fn wait_detection(w: &Ward, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(d) = detections(w).into_iter().find(|d| pred(d)) {
            return d;
        }
        assert!(
            Instant::now() < deadline,
            "no detection {what}: {:?}",
            detections(w)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until detection has read every stored event.
fn wait_consumed(w: &Ward) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, v) = w.get("/api/v1/status", &w.token);
        if v["detection_offset"] == v["log_committed_offset"]
            && v["detection_offset"].as_u64() > Some(0)
        {
            return;
        }
        assert!(Instant::now() < deadline, "detection lagging: {v}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn live_match_and_retro_hunt() {
    let dir = tempfile::tempdir().unwrap();
    let w = Ward::start(dir.path(), &[]);
    let key = member(&w, "RJ1", "London");

    // Before any indicator exists: an event talking to the old C2 server.
    let (s, v) = w.post_events(
        &key,
        json!({"event": {"kind": "dns"}, "host": {"name": "WS-OLD"}, "dns": {"question": {"name": "old-c2.ward-fixture.org"}}})
            .to_string(),
    );
    assert_eq!(s, 200, "{v}");
    // A domain that is on no list and never published must stay quiet.
    let (s, _) = w.post_events(
        &key,
        json!({"host": {"name": "WS-1"}, "dns": {"question": {"name": "harmless.example.org"}}})
            .to_string(),
    );
    assert_eq!(s, 200);
    wait_consumed(&w);
    assert!(detections(&w)
        .iter()
        .all(|d| !d["rule_id"].as_str().unwrap_or("").starts_with("ioc:")));

    // The national centre publishes one indicator with three values (valid from now:
    // addresses decay within weeks). Test values avoid the RFC test ranges and names,
    // which the shipped warninglists keep out of matching.
    let now = ward_intel::stix::Timestamp::now().to_stix();
    let bundle = json!({"type": "bundle", "id": "bundle--4b7e8a52-7c9d-4e43-9d55-3a8e0c7b2f10", "objects": [{
        "type": "indicator", "spec_version": "2.1", "id": "indicator--1c8d2f0a-8a2b-4f6e-9c1d-7e3b5a9f0d21",
        "created": now, "modified": now,
        "name": "Payroll phishing kit", "indicator_types": ["malicious-activity"], "confidence": 85,
        "pattern": format!("[domain-name:value = 'evil-payroll.ward-fixture.org'] OR [ipv4-addr:value = '185.220.101.0/24'] OR [file:hashes.'SHA-256' = '{SHA}']"),
        "pattern_type": "stix", "valid_from": now,
        "object_marking_refs": ["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"]
    }]});
    let r = submit(
        &w,
        &w.token,
        "application/stix+json",
        bundle.to_string(),
        "distribution=all",
    );
    assert_eq!(r["indicators_added"], 3, "{r}");
    let ioc = "ioc:indicator--1c8d2f0a-8a2b-4f6e-9c1d-7e3b5a9f0d21";

    // Live: a subdomain, an address inside the CIDR, the hash in a Sysmon Hashes field.
    for (host, ev) in [
        (
            "WS-2",
            json!({"host": {"name": "WS-2"}, "url": {"full": "https://login.evil-payroll.ward-fixture.org/pay"}}),
        ),
        (
            "WS-3",
            json!({"host": {"name": "WS-3"}, "destination": {"ip": "185.220.101.77", "port": 443}}),
        ),
        (
            "WS-4",
            json!({"Computer": "WS-4", "EventID": 1, "Hashes": format!("MD5=D41D8CD98F00B204E9800998ECF8427E,SHA256={}", SHA.to_uppercase())}),
        ),
    ] {
        let (s, v) = w.post_events(&key, ev.to_string());
        assert_eq!(s, 200, "{v}");
        let d = wait_detection(&w, host, |d| d["rule_id"] == ioc && d["host"] == host);
        assert_eq!(d["level"], "high");
        assert_eq!(d["org_code"], "RJ1");
        assert_eq!(
            d["matched_fields"]["indicator"],
            "indicator--1c8d2f0a-8a2b-4f6e-9c1d-7e3b5a9f0d21"
        );
        assert!(d["tags"].as_array().unwrap().iter().any(|t| t == "ioc"));
        assert!(d["incident_id"].as_i64().unwrap() > 0);
    }
    // The hit follows the alerting path: RJ1's contact is notified about the incident.
    let ioc_incident = detections(&w)
        .into_iter()
        .find(|d| d["rule_id"] == ioc)
        .map(|d| d["incident_id"].clone())
        .unwrap();
    let n = w.wait_for("/api/v1/notifications", |v| {
        v.as_array()
            .is_some_and(|a| a.iter().any(|n| n["incident_id"] == ioc_incident))
    });
    assert!(
        n.as_array()
            .unwrap()
            .iter()
            .any(|x| x["incident_id"] == ioc_incident && x["org_code"] == "RJ1"),
        "{n}"
    );
    let (s, incidents) = w.get("/api/v1/incidents", &w.token);
    assert_eq!(s, 200);
    assert!(
        incidents
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["rule_id"] == ioc),
        "{incidents}"
    );
    // The harmless domain still did not match.
    assert!(detections(&w).iter().all(|d| d["host"] != "WS-1"));

    // Retro-hunt: the old event is found when its indicator arrives, as a member posts it.
    let lead_resp = w.post_json(
        "/api/v1/users",
        &w.token,
        &json!({"name": "Lee", "email": "lee@rj1.example", "role": "org_lead", "org_code": "RJ1"}),
    );
    assert_eq!(lead_resp.0, 201, "{}", lead_resp.1);
    let lead = lead_resp.1["token"].as_str().unwrap().to_string();
    let r = submit(
        &w,
        &lead,
        "text/plain",
        "C2 seen in our logs: old-c2[.]ward-fixture[.]org".into(),
        "tlp=AMBER",
    );
    assert_eq!(r["indicators_added"], 1, "{r}");
    assert_eq!(r["retro_hunt_hits"], 1, "{r}");
    let d = wait_detection(&w, "retro", |d| {
        d["host"] == "WS-OLD" && d["rule_id"].as_str().unwrap_or("").starts_with("ioc:")
    });
    assert!(
        d["tags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t == "seen_before_publication"),
        "{d}"
    );
    assert_eq!(d["matched_fields"]["seen_before_publication"], true);
    assert!(d["rule_title"]
        .as_str()
        .unwrap()
        .contains("seen before publication"));

    // A false-positive report takes the indicator out of matching at once.
    let id = d["matched_fields"]["indicator"]
        .as_str()
        .unwrap()
        .to_string();
    let (s, v) = w.post_json(
        &format!("/api/v1/intel/indicators/{id}/false-positives"),
        &lead,
        &json!({"note": "our own test domain"}),
    );
    assert_eq!(s, 200, "{v}");
    let before = detections(&w).len();
    let (s, _) = w.post_events(
        &key,
        json!({"host": {"name": "WS-5"}, "dns": {"question": {"name": "old-c2.ward-fixture.org"}}})
            .to_string(),
    );
    assert_eq!(s, 200);
    wait_consumed(&w);
    assert_eq!(
        detections(&w).len(),
        before,
        "a false positive still matched"
    );

    // Sightings are recorded; exports carry the values to firewalls and DNS.
    let (s, v) = w.post_json(
        "/api/v1/intel/indicators/indicator--1c8d2f0a-8a2b-4f6e-9c1d-7e3b5a9f0d21/sightings",
        &key,
        &json!({"count": 2}),
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["values"], 3);
    let list = w
        .client()
        .get(format!("{}/api/v1/intel/export/list?kind=ipv4", w.url))
        .bearer_auth(&key)
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(list, "185.220.101.0/24\n");
    let dns = w
        .client()
        .get(format!("{}/api/v1/intel/export/list?kind=domain", w.url))
        .bearer_auth(&key)
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(dns.contains("evil-payroll.ward-fixture.org"), "{dns}");
    assert!(
        !dns.contains("old-c2.ward-fixture.org"),
        "false positives are not exported: {dns}"
    );

    // The STIX export as served passes the OASIS validator in strict mode.
    let stix = w
        .client()
        .get(format!("{}/api/v1/intel/export/stix", w.url))
        .bearer_auth(&w.token)
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(stix.contains("evil-payroll.ward-fixture.org"));
    let f = dir.path().join("export.json");
    std::fs::write(&f, &stix).unwrap();
    let py = ward_testkit::require_python_module("stix2validator", "scripts/deps/intel.sh");
    let out = std::process::Command::new(py)
        .args([
            "-c",
            "import sys\nfrom stix2validator import validate_file, ValidationOptions, print_results\n\
             r = validate_file(sys.argv[1], ValidationOptions(strict=True, version='2.1'))\n\
             print_results(r)\nsys.exit(0 if r.is_valid else 1)",
        ])
        .arg(&f)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "stix2-validator --strict refused the export:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // Warninglisted values are stored but never matched.
    let r = submit(
        &w,
        &w.token,
        "text/plain",
        "10.1.2.3 and example.com".into(),
        "",
    );
    assert_eq!(r["warninglisted"].as_array().map(Vec::len), Some(2), "{r}");

    // /metrics shows the matches.
    let m = reqwest::blocking::get(format!("{}/metrics", w.url))
        .unwrap()
        .text()
        .unwrap();
    assert!(m.contains("ward_intel_matches_total"), "{m}");
}
