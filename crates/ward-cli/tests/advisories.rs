//! Advisories end to end: the real `ward` binary sending through the Notify stand-in. The
//! centre publishes to a region from the CLI; one member's lead answers every step from the
//! CLI; the other says nothing and is chased by SMS once its (seconds-long) deadline passes;
//! compliance shows who did what when, as JSON and CSV.

mod common;

use std::time::{Duration, Instant};

use common::{member, Ward};
use serde_json::{json, Value};
use ward_notify_standin::config::defaults;

fn lead(w: &Ward, org: &str) -> (String, String) {
    let email = format!("lead@{}.example", org.to_ascii_lowercase());
    let (s, v) = w.post_json(
        "/api/v1/users",
        &w.token,
        &json!({"name": format!("{org} lead"), "email": email, "role": "org_lead", "org_code": org}),
    );
    assert_eq!(s, 201, "{v}");
    (v["token"].as_str().unwrap().to_string(), email)
}

fn cli_as(w: &Ward, token: &str, args: &[&str]) -> std::process::Output {
    let mut all = vec!["--token", token];
    all.extend_from_slice(args);
    w.cli(&all)
}

fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "ward failed ({:?}): {}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn publish_to_a_region_answer_chase_and_report_compliance() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let standin = rt
        .block_on(ward_notify_standin::bind(
            "127.0.0.1:0",
            ward_notify_standin::StandinConfig::default(),
        ))
        .unwrap();
    let api_key = standin.api_key("ward-live").unwrap();
    let base_url = standin.base_url();
    let sms_template = defaults::SMS_TEMPLATE_ID.to_string();
    let email_template = defaults::EMAIL_TEMPLATE_ID.to_string();
    let dir = tempfile::tempdir().unwrap();
    let mut w = Ward::start(
        dir.path(),
        &[
            ("WARD_NOTIFY__PROVIDER", "govuk_notify"),
            ("WARD_NOTIFY__API_KEY", api_key.as_str()),
            ("WARD_NOTIFY__BASE_URL", base_url.as_str()),
            ("WARD_NOTIFY__SMS_TEMPLATE_ID", sms_template.as_str()),
            ("WARD_NOTIFY__EMAIL_TEMPLATE_ID", email_template.as_str()),
            // Six seconds to acknowledge; updates and remediation far away.
            ("WARD_ADVISORIES__ACK_HOURS", "0.0016667"),
            ("WARD_ADVISORIES__UPDATE_DAYS", "1"),
            ("WARD_ADVISORIES__REMEDIATION_DAYS", "2"),
            ("WARD_ADVISORIES__CHASE_INTERVAL_MS", "200"),
        ],
    );
    for (code, region) in [("ZA1", "London"), ("ZA2", "London"), ("ZB1", "Midlands")] {
        member(&w, code, region);
    }
    let (za1, za1_email) = lead(&w, "ZA1");
    let (za2, _) = lead(&w, "ZA2");
    let (zb1, _) = lead(&w, "ZB1");

    // The centre publishes to London from the CLI.
    let out = ok(&w.cli(&[
        "--json",
        "advisory",
        "create",
        "--title",
        "Citrix Bleed exploited against NHS gateways",
        "--summary",
        "Session tokens leak from NetScaler ADC and Gateway.",
        "--severity",
        "critical",
        "--tlp",
        "AMBER",
        "--affected",
        "cpe:2.3:a:citrix:netscaler_gateway:*:*:*:*:*:*:*:*",
        "--action",
        "Patch to 14.1-8.50",
        "--action",
        "Kill all sessions",
        "--cve",
        "CVE-2023-4966",
        "--region",
        "London",
        "--publish",
    ]));
    let published_at = Instant::now();
    let advisory: Value = serde_json::from_str(&out).unwrap();
    let id = advisory["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("HSA-20") && id.ends_with("-0001"), "{id}");
    assert_eq!(advisory["status"], "published");

    // ZA1's lead answers every step from the CLI, well inside the deadline.
    ok(&cli_as(&w, &za1, &["advisory", "ack", &id]));
    ok(&cli_as(
        &w,
        &za1,
        &[
            "advisory",
            "respond",
            &id,
            "applies",
            "--note",
            "two gateways",
        ],
    ));
    ok(&cli_as(
        &w,
        &za1,
        &["advisory", "update", &id, "one gateway patched"],
    ));
    ok(&cli_as(
        &w,
        &za1,
        &[
            "advisory",
            "close",
            &id,
            "--note",
            "both patched, sessions killed",
        ],
    ));
    assert!(
        published_at.elapsed() < Duration::from_secs(5),
        "the test machine is too slow for a six-second deadline"
    );

    // Leads answer only for their own organisation; TLP:AMBER keeps non-recipients out.
    let refused = cli_as(&w, &za2, &["advisory", "ack", &id, "--org", "ZA1"]);
    assert_eq!(refused.status.code(), Some(3), "{refused:?}");
    let hidden = cli_as(&w, &zb1, &["advisory", "show", &id]);
    assert_eq!(hidden.status.code(), Some(3), "{hidden:?}");
    assert!(String::from_utf8_lossy(&hidden.stderr).contains("not found"));
    let (s, _) = w.get(&format!("/api/v1/advisories/{id}/compliance"), &zb1);
    assert_eq!(s, 404);
    let (s, list) = w.get("/api/v1/advisories", &zb1);
    assert_eq!((s, list.as_array().map(Vec::len)), (200, Some(0)));

    // ZA2 says nothing: once its deadline passes it is chased by SMS (and e-mail).
    let za2_lower = "za2";
    let prefix = format!("ward-{}-{za2_lower}-acknowledge-", id.to_ascii_lowercase());
    let deadline = Instant::now() + Duration::from_secs(30);
    let overdue_sms = loop {
        let found: Vec<_> = standin
            .notifications()
            .into_iter()
            .filter(|n| {
                n.reference.as_deref().is_some_and(|r| {
                    r.starts_with(&prefix) && r.contains("-overdue-") && r.ends_with("-sms")
                })
            })
            .collect();
        if !found.is_empty() || Instant::now() > deadline {
            break found;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(overdue_sms.len(), 1, "one overdue SMS to ZA2's one contact");
    assert!(
        overdue_sms[0].body.contains("OVERDUE") && overdue_sms[0].body.contains(&id),
        "{}",
        overdue_sms[0].body
    );
    // Several more chase passes, and a crash and restart (the chase starts with no memory of
    // what it queued), send nothing twice; nothing overdue went to ZA1.
    std::thread::sleep(Duration::from_millis(600));
    // Counted on /metrics (before the restart, which starts the counters afresh).
    let metrics = w
        .client()
        .get(format!("{}/metrics", w.url))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains(
            "ward_advisory_messages_total{kind=\"reminder\",stage=\"overdue\",channel=\"sms\"}"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains("ward_advisory_refusals_total{reason=\"forbidden\"} 1")
            && metrics.contains("ward_advisory_refusals_total{reason=\"tlp\"} 2"),
        "{metrics}"
    );
    let before_restart = standin.notifications().len();
    w.crash_and_restart();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        standin.notifications().len(),
        before_restart,
        "the restarted chase sent again"
    );
    let held = standin.notifications();
    for n in &held {
        let r = n.reference.clone().unwrap_or_default();
        assert_eq!(
            standin.notifications_with_reference(&r).len(),
            1,
            "sent twice: {r}"
        );
    }
    let refs: Vec<String> = held.iter().filter_map(|n| n.reference.clone()).collect();
    let lid = id.to_ascii_lowercase();
    assert!(
        refs.iter()
            .any(|r| r.starts_with(&format!("ward-{lid}-za1-published-")) && r.ends_with("-sms")),
        "ZA1 was told on publication: {refs:?}"
    );
    assert!(
        !refs
            .iter()
            .any(|r| r.starts_with(&format!("ward-{lid}-za1-")) && r.contains("-overdue-")),
        "ZA1 answered in time: {refs:?}"
    );
    assert!(
        !refs.iter().any(|r| r.contains("-zb1-")),
        "ZB1 is not in London: {refs:?}"
    );

    // Compliance: who did what when.
    let (s, c) = w.get(&format!("/api/v1/advisories/{id}/compliance"), &w.token);
    assert_eq!(s, 200, "{c}");
    assert_eq!(c["summary"]["recipients"], 2, "{c}");
    assert_eq!(c["summary"]["remediated"], 1);
    assert_eq!(c["summary"]["overdue"], 1);
    let members = c["members"].as_array().unwrap();
    let za1_row = &members[0];
    assert_eq!(za1_row["org_code"], "ZA1");
    assert_eq!(za1_row["standing"], "complete");
    assert_eq!(za1_row["acknowledged_by"], za1_email.as_str());
    assert_eq!(za1_row["ack_state"], "done_on_time");
    assert_eq!(za1_row["applicability"], "applies");
    assert_eq!(za1_row["applicability_note"], "two gateways");
    assert_eq!(za1_row["update_count"], 1);
    assert_eq!(za1_row["close_note"], "both patched, sessions killed");
    assert!(za1_row["closed_at"].as_i64().unwrap() >= za1_row["acknowledged_at"].as_i64().unwrap());
    let za2_row = &members[1];
    assert_eq!(za2_row["org_code"], "ZA2");
    assert_eq!(za2_row["standing"], "overdue");
    assert_eq!(za2_row["ack_state"], "overdue");
    assert!(za2_row["acknowledged_at"].is_null());
    assert!(za2_row["reminders"].as_i64().unwrap() >= 2, "{za2_row}");

    // The same as CSV, from the CLI and from the API.
    let csv = ok(&w.cli(&["advisory", "compliance", &id, "--csv"]));
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(lines[0].starts_with("advisory_id,org_code,org_name,standing,"));
    assert!(
        lines[1].starts_with(&format!("{id},ZA1,ZA1 Trust,complete,")),
        "{csv}"
    );
    assert!(lines[1].contains(&za1_email) && lines[1].contains("two gateways"));
    assert!(
        lines[2].starts_with(&format!("{id},ZA2,ZA2 Trust,overdue,")),
        "{csv}"
    );
    let resp = w
        .client()
        .get(format!(
            "{}/api/v1/advisories/{id}/compliance?format=csv",
            w.url
        ))
        .bearer_auth(&w.token)
        .send()
        .unwrap();
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    assert_eq!(
        resp.text().unwrap().replace("\r\n", "\n"),
        csv.replace("\r\n", "\n")
    );

    // A lead sees only its own organisation's row and its own advisories.
    let (_, mine) = w.get(&format!("/api/v1/advisories/{id}/compliance"), &za2);
    assert_eq!(mine["members"].as_array().unwrap().len(), 1);
    assert_eq!(mine["members"][0]["org_code"], "ZA2");
    let (s, theirs) = w.get("/api/v1/organisations/ZA2/advisories", &za2);
    assert_eq!(s, 200, "{theirs}");
    assert_eq!(theirs[0]["compliance"]["standing"], "overdue");
    assert_eq!(w.get("/api/v1/organisations/ZA2/advisories", &za1).0, 403);
    let listed = ok(&cli_as(
        &w,
        &za1,
        &["--json", "advisory", "list", "--org", "ZA1"],
    ));
    let listed: Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(listed[0]["compliance"]["standing"], "complete");

    // Closing the advisory stops the chase; answers are refused afterwards.
    ok(&w.cli(&["advisory", "close", &id, "--all", "--note", "campaign over"]));
    let late = cli_as(&w, &za2, &["advisory", "ack", &id]);
    assert_eq!(late.status.code(), Some(3), "{late:?}");
    // The routes are in the OpenAPI document, with their schemas.
    let (_, doc) = w.get("/api/v1/openapi.json", "");
    for path in [
        "/api/v1/advisories",
        "/api/v1/advisories/{id}/respond",
        "/api/v1/advisories/{id}/compliance",
        "/api/v1/organisations/{ods}/advisories",
    ] {
        assert!(doc["paths"].get(path).is_some(), "missing {path}");
    }
    assert!(doc["components"]["schemas"].get("Compliance").is_some());
    drop(w);
    rt.block_on(standin.shutdown());
}
