//! Search end to end: real Suricata, Zeek and Sysmon records sent by two organisations to the
//! real `ward` binary, then found by IP, domain, hash and text through the API, the search
//! page and `ward search --json`; an organisation's viewer sees only its own events.

mod common;

use common::*;
use serde_json::Value;

const IP: &str = "10.44.2.17";
const DOMAIN: &str = "www.iuqerfsodp9ifjaposdfjhgosurijfaewrwergwea.com";
const MD5: &str = "7353f60b1739074eb17c5f4dddefe239";

fn golden(path: &str) -> String {
    let p = ward_testkit::repo_root()
        .join("crates/ward-formats/tests/golden")
        .join(path);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn hits(v: &Value) -> Vec<Value> {
    v["hits"].as_array().cloned().unwrap_or_default()
}

fn orgs_of(v: &Value) -> Vec<String> {
    hits(v)
        .iter()
        .map(|h| h["org"].as_str().unwrap_or("").to_string())
        .collect()
}

#[test]
fn events_are_found_by_observable_and_text_within_what_the_caller_may_see() {
    let dir = tempfile::tempdir().unwrap();
    let w = Ward::start(dir.path(), &[]);
    let rj1 = member(&w, "RJ1", "London");
    let gp = member(&w, "B82005", "North East and Yorkshire");
    let body = [
        golden("suricata/dns.in"),
        golden("suricata/alert.in"),
        golden("sysmon/process_create.in"),
    ]
    .join("\n");
    let (s, v) = w.post_events(&rj1, body);
    assert_eq!(s, 200, "{v}");
    let (s, v) = w.post_events(&gp, golden("zeek/conn.in"));
    assert_eq!(s, 200, "{v}");

    // The records are from 2017 and 2024: search from the epoch.
    let by_ip = format!("/api/v1/search?ioc={IP}&from=0");
    let v = w.wait_for(&by_ip, |v| hits(v).len() >= 3);
    let mut orgs = orgs_of(&v);
    orgs.sort();
    assert_eq!(orgs, vec!["B82005", "RJ1", "RJ1"], "{v}");
    for h in hits(&v) {
        assert_eq!(h["matched"]["kind"], "ip", "{h}");
        assert_eq!(h["matched"]["value"], IP, "{h}");
    }
    // Newest first: the Zeek connection (11:43:20.110) and the Suricata alert (11:43:20.114)
    // come before the DNS answer of 11:01.
    let times: Vec<i64> = hits(&v)
        .iter()
        .map(|h| h["time"].as_i64().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "{times:?}");
    assert_eq!(hits(&v)[2]["class"], "dns_activity", "{v}");

    // A domain, in capitals, as a value of any kind.
    let (s, v) = w.get(
        &format!("/api/v1/search?ioc={}&from=0", DOMAIN.to_uppercase()),
        &w.token,
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(orgs_of(&v), vec!["RJ1"], "{v}");
    assert_eq!(hits(&v)[0]["event"]["event_type"], "dns", "{v}");

    // A file hash from Sysmon, and the same event by free text and by class.
    let (_, v) = w.get(
        &format!("/api/v1/search?ioc={MD5}&kind=hash&from=0"),
        &w.token,
    );
    assert_eq!(hits(&v).len(), 1, "{v}");
    assert_eq!(hits(&v)[0]["class"], "process_activity", "{v}");
    assert_eq!(hits(&v)[0]["host"], "WS-0142.trust.nhs.uk", "{v}");
    let (_, v) = w.get("/api/v1/search?text=invoice_0501&from=0", &w.token);
    assert_eq!(hits(&v).len(), 1, "{v}");
    assert_eq!(hits(&v)[0]["format"], "windows.sysmon", "{v}");
    assert!(v["scanned"].as_u64().unwrap() >= 4, "{v}");
    let (_, v) = w.get(
        "/api/v1/search?class=process_activity&org=RJ1&from=0",
        &w.token,
    );
    assert_eq!(hits(&v).len(), 1, "{v}");
    // A CIDR block covers both addresses of the SMB connection.
    let (_, v) = w.get("/api/v1/search?ioc=10.44.9.0/24&from=0", &w.token);
    assert_eq!(hits(&v).len(), 2, "{v}");
    // Nothing in the last 30 days (the default range).
    let (_, v) = w.get(&format!("/api/v1/search?ioc={IP}"), &w.token);
    assert!(hits(&v).is_empty(), "{v}");
    // Bad input says what was wrong.
    let (s, v) = w.get("/api/v1/search?ioc=10.0.0.0/8&from=0", &w.token);
    assert_eq!(s, 400, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("addresses"),
        "{v}"
    );
    let (s, v) = w.get("/api/v1/search?since=forever", &w.token);
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (400, Some("invalid_since")),
        "{v}"
    );

    // Retro-hunt: central analysts only.
    let retro = serde_json::json!({"observables": [
        {"kind": "hash", "value": MD5.to_uppercase()}, {"kind": "ip", "value": "10.44.9.5"}
    ], "days": 20000});
    let (s, v) = w.post_json("/api/v1/search/retro", &w.token, &retro);
    assert_eq!(s, 200, "{v}");
    assert_eq!(v.as_array().map(Vec::len), Some(3), "{v}");

    // The CLI.
    let out = w.cli(&["search", "--ioc", IP, "--since", "20000d", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(hits(&v).len(), 3, "{v}");
    let out = w.cli(&[
        "search", "--text", "WINWORD", "--org", "RJ1", "--since", "20000d",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("1 events") && text.contains("WS-0142"),
        "{text}"
    );

    // The search page.
    let page = w
        .client()
        .get(format!("{}/search?ioc={IP}&since=20000d", w.url))
        .bearer_auth(&w.token)
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        page.contains("3 events") && page.contains("B82005"),
        "{page}"
    );

    // A viewer of B82005 sees B82005's connection and nothing of RJ1's.
    let (s, v) = w.post_json(
        "/api/v1/users",
        &w.token,
        &serde_json::json!({"name": "Viv", "email": "viv@b82005.example", "role": "org_viewer", "org_code": "B82005"}),
    );
    assert_eq!(s, 201, "{v}");
    let viewer = v["token"].as_str().expect("token").to_string();
    let (s, v) = w.get(&by_ip, &viewer);
    assert_eq!(s, 200, "{v}");
    assert_eq!(orgs_of(&v), vec!["B82005"], "{v}");
    let (s, v) = w.get(&format!("{by_ip}&org=RJ1"), &viewer);
    assert_eq!(s, 403, "{v}");
    let (_, v) = w.get(&format!("/api/v1/search?ioc={MD5}&from=0"), &viewer);
    assert!(hits(&v).is_empty(), "{v}");
    let (s, _) = w.post_json("/api/v1/search/retro", &viewer, &retro);
    assert_eq!(s, 403);
    let out = w.cli(&[
        "search", "--ioc", IP, "--org", "RJ1", "--since", "20000d", "--token", &viewer,
    ]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The index's own counters.
    let metrics = w
        .client()
        .get(format!("{}/metrics", w.url))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains("ward_search_indexed_events_total 4"),
        "{metrics}"
    );
}
