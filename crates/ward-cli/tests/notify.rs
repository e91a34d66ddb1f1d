//! The real `ward` binary sending through the GOV.UK Notify API to the project's stand-in,
//! which checks every JWT as Notify does.

mod common;

use common::{member, wannacry_event, Ward};
use serde_json::Value;
use ward_notify_standin::config::defaults;

/// A Notify stand-in, and `ward serve` sending through it with the live key.
fn ward_with_standin(
    extra_env: &[(&str, &str)],
) -> (
    tokio::runtime::Runtime,
    ward_notify_standin::StandinHandle,
    tempfile::TempDir,
    Ward,
) {
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
    let mut env = vec![
        ("WARD_NOTIFY__PROVIDER", "govuk_notify"),
        ("WARD_NOTIFY__API_KEY", api_key.as_str()),
        ("WARD_NOTIFY__BASE_URL", base_url.as_str()),
        ("WARD_NOTIFY__SMS_TEMPLATE_ID", sms_template.as_str()),
        ("WARD_NOTIFY__EMAIL_TEMPLATE_ID", email_template.as_str()),
    ];
    env.extend_from_slice(extra_env);
    let dir = tempfile::tempdir().unwrap();
    let w = Ward::start(dir.path(), &env);
    (rt, standin, dir, w)
}

#[test]
fn national_incident_texts_and_emails_go_through_the_notify_api_once_each() {
    let (rt, standin, _dir, w) = ward_with_standin(&[]);
    for (i, code) in ["ZA1", "ZA2", "ZA3"].iter().enumerate() {
        let key = member(&w, code, "London");
        let (s, v) = w.post_events(&key, wannacry_event(&format!("pc{i}"), i as u64));
        assert_eq!(s, 200, "{v}");
    }
    let national = w.wait_for("/api/v1/incidents?scope=national", |v| {
        v.as_array().is_some_and(|a| !a.is_empty())
    });
    let nid = national[0]["id"].as_i64().unwrap();
    let notes = w.wait_for("/api/v1/notifications?limit=100", |v| {
        v.as_array()
            .is_some_and(|a| a.len() >= 6 && a.iter().all(|n| n["status"] != "pending"))
    });
    let notes = notes.as_array().unwrap();
    let national_notes: Vec<&Value> = notes.iter().filter(|n| n["incident_id"] == nid).collect();
    assert_eq!(national_notes.len(), 6, "SMS and e-mail to three leads");
    for n in notes {
        assert_eq!(n["status"], "sent", "{n}");
        let attempt = &n["attempt_log"][0];
        assert_eq!(attempt["outcome"], "accepted", "{n}");
        assert_eq!(attempt["http_status"], 201, "{n}");
        // The stand-in holds exactly one message per outbox reference, with Notify's id.
        let reference = n["reference"].as_str().unwrap();
        let held = standin.notifications_with_reference(reference);
        assert_eq!(held.len(), 1, "one send per reference: {reference}");
        assert_eq!(n["provider_id"].as_str().unwrap(), held[0].id.to_string());
    }
    let stats = standin.stats();
    assert_eq!(
        stats.sends_refused, 0,
        "every JWT and request was accepted: {stats:?}"
    );
    assert_eq!(stats.sends_accepted as usize, notes.len());
    drop(w);
    rt.block_on(standin.shutdown());
}

#[test]
fn the_on_call_lead_acknowledges_by_replying_to_the_text() {
    let (rt, standin, _dir, w) = ward_with_standin(&[("WARD_NOTIFY__INBOUND_POLL_MS", "200")]);
    let key = member(&w, "ZA1", "London");
    assert_eq!(w.post_events(&key, wannacry_event("pc1", 1)).0, 200);
    let incidents = w.wait_for("/api/v1/incidents", |v| {
        v.as_array().is_some_and(|a| !a.is_empty())
    });
    let id = incidents[0]["id"].as_i64().unwrap();
    // A stranger's ACK and small talk change nothing; the lead's reply acknowledges.
    standin.receive_text("07700900999", &format!("ACK INC-{id}"));
    standin.receive_text("07700900123", "thanks, looking");
    standin.receive_text("07700900123", &format!("ack INC-{id}"));
    let detail = w.wait_for(&format!("/api/v1/incidents/{id}"), |v| {
        v["incident"]["status"] == "acknowledged"
    });
    assert_eq!(detail["incident"]["status"], "acknowledged", "{detail}");
    let timeline = detail["timeline"].as_array().unwrap();
    assert_eq!(timeline.len(), 1);
    assert!(
        timeline[0]["actor"]
            .as_str()
            .unwrap()
            .starts_with("sms +447700900123"),
        "{timeline:?}"
    );
    let metrics = w
        .client()
        .get(format!("{}/metrics", w.url))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains("ward_sms_replies_total{outcome=\"sender_not_involved\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("ward_sms_replies_total{outcome=\"not_an_ack\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("ward_sms_replies_total{outcome=\"acknowledged\"} 1"),
        "{metrics}"
    );
    drop(w);
    rt.block_on(standin.shutdown());
}
