//! Incidents that reach people, end to end with the real `ward` binary and the Notify
//! stand-in: escalation policies step by step, signed acknowledgement links, Notify's
//! delivery-status and received-text callbacks, failover, rotas, silences and triage.

mod common;
mod escalation_rig;

use std::time::Duration;

use common::{member, wannacry_event};
use escalation_rig::*;
use serde_json::json;
use ward_notify_standin::{CallbackConfig, CallbackTarget, StandinConfig, Status};

#[test]
fn a_policy_escalates_step_by_step_until_a_signed_link_acknowledges() {
    let rig = Rig::start(StandinConfig::default(), &[]);
    let w = &rig.w;
    let key = member(w, "ZA1", "London");
    let lead = contacts(w, "ZA1")[0]["id"].as_i64().unwrap();
    let deputy = contact(
        w,
        "ZA1",
        "Dee Puty",
        Some("07700900456"),
        Some("deputy@za1.example"),
        "deputy",
    );
    // A bad policy is refused with the reason.
    let (s, v) = w.post_json(
        "/api/v1/organisations/ZA1/escalation-policies",
        &w.token,
        &json!({"name": "bad", "min_severity": 1, "steps": [{"delay_secs": 0, "targets": [{"kind": "role", "role": "x"}], "channels": ["pigeon"]}]}),
    );
    assert_eq!(s, 400, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("steps[0].channels"),
        "{v}"
    );
    policy(
        w,
        "ZA1",
        json!({"name": "out of hours", "min_severity": 1, "repeat_delay_secs": 4, "max_rounds": 3, "steps": [
            {"delay_secs": 0, "targets": [{"kind": "role", "role": "security_lead"}], "channels": ["sms"]},
            {"delay_secs": 2, "targets": [{"kind": "contact", "contact_id": deputy}], "channels": ["sms", "email"]}
        ]}),
    );
    assert_eq!(w.post_events(&key, wannacry_event("pc1", 1)).0, 200);
    let inc = first_incident(w);

    let notes = eventually(30, "two escalation steps", || {
        let n = chase_notes(w, inc);
        (n.len() >= 2).then_some(n)
    });
    let chase = &chases(w, inc)[0];
    let cid = chase["id"].as_i64().unwrap();
    assert_eq!(
        notes[0]["reference"],
        format!("ward-chase{cid}-s0-c{lead}-sms")
    );
    assert_eq!(
        notes[1]["reference"],
        format!("ward-chase{cid}-s1-c{deputy}-sms")
    );
    let gap = notes[1]["created_at"].as_i64().unwrap() - notes[0]["created_at"].as_i64().unwrap();
    assert!(
        gap >= 1900,
        "the deputy is reached after the step's delay, not at once: {gap} ms"
    );

    // Each message goes out once, through Notify.
    eventually(30, "the steps sent", || {
        chase_notes(w, inc)
            .iter()
            .take(2)
            .all(|n| n["status"] == "sent")
            .then_some(())
    });
    for n in chase_notes(w, inc).iter().filter(|n| n["status"] == "sent") {
        let reference = n["reference"].as_str().unwrap();
        assert_eq!(
            rig.standin.notifications_with_reference(reference).len(),
            1,
            "{reference}"
        );
    }

    // The deputy's link: a tampered one is refused; opening it acknowledges nothing; the
    // button does.
    let link = ack_link(notes[1]["body"].as_str().unwrap());
    let client = w.client();
    let tampered = link.replacen(
        &format!("incident.{inc}."),
        &format!("incident.{}.", inc + 1),
        1,
    );
    assert_ne!(tampered, link);
    assert_eq!(client.post(&tampered).send().unwrap().status(), 403);
    let page = client.get(&link).send().unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().unwrap().contains("<form method=\"post\">"));
    let (_, detail) = w.get(&format!("/api/v1/incidents/{inc}"), &w.token);
    assert_eq!(
        detail["incident"]["status"], "new",
        "a GET must not acknowledge"
    );
    let done = client.post(&link).send().unwrap();
    assert_eq!(done.status(), 200);
    assert!(done.text().unwrap().contains("Dee Puty"));

    let (_, detail) = w.get(&format!("/api/v1/incidents/{inc}"), &w.token);
    assert_eq!(detail["incident"]["status"], "acknowledged");
    let timeline = detail["timeline"].as_array().unwrap();
    assert!(
        timeline.last().unwrap()["actor"]
            .as_str()
            .unwrap()
            .starts_with("link Dee Puty"),
        "{timeline:?}"
    );
    let chase = &chases(w, inc)[0];
    assert_eq!(chase["state"], "acknowledged", "{chase}");
    assert_eq!(chase["ended_by"], "link Dee Puty (ZA1)");

    // Nothing more is written or sent after the acknowledgement, on any channel.
    let after_ack = chase_notes(w, inc);
    std::thread::sleep(Duration::from_secs(6));
    let later = chase_notes(w, inc);
    assert_eq!(later.len(), after_ack.len(), "the chase stopped: {later:?}");
    assert!(later.iter().all(|n| n["status"] != "pending"), "{later:?}");
    let m = metrics(w);
    assert!(
        m.contains("ward_acknowledgements_total{route=\"link\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("ward_ack_links_refused_total{reason=\"bad_signature\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("ward_escalation_chases_total{event=\"started\"} 1"),
        "{m}"
    );
    rig.finish();
}

#[test]
fn notify_callbacks_record_delivery_fail_over_and_acknowledge() {
    let rig = Rig::start(
        StandinConfig::default(),
        &[("WARD_ESCALATION__DELIVERY_DEADLINE_SECS", "0")],
    );
    let w = &rig.w;
    rig.standin.set_callbacks(CallbackConfig {
        delivery_status: Some(CallbackTarget {
            url: format!("{}/api/v1/callbacks/notify/delivery-status", w.url),
            bearer_token: CALLBACK_TOKEN.into(),
        }),
        received_text: Some(CallbackTarget {
            url: format!("{}/api/v1/callbacks/notify/received-text", w.url),
            bearer_token: CALLBACK_TOKEN.into(),
        }),
        ..CallbackConfig::default()
    });
    // The lead's phone is switched off for good: SMS fails permanently.
    rig.standin
        .set_outcome("07700900123", Status::PermanentFailure);
    let key = member(w, "ZA1", "London");
    let lead = contacts(w, "ZA1")[0]["id"].as_i64().unwrap();
    policy(
        w,
        "ZA1",
        json!({"name": "lead", "min_severity": 1, "repeat_delay_secs": 600, "max_rounds": 1, "steps": [
            {"delay_secs": 0, "targets": [{"kind": "contact", "contact_id": lead}], "channels": ["sms", "email"]}
        ]}),
    );
    assert_eq!(w.post_events(&key, wannacry_event("pc1", 1)).0, 200);
    let inc = first_incident(w);
    let notes = eventually(30, "failover to e-mail", || {
        let n = chase_notes(w, inc);
        (n.len() >= 2 && n[1]["status"] == "sent").then_some(n)
    });
    let sms = &notes[0];
    let statuses: Vec<&str> = sms["attempt_log"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["outcome"] == "status_callback")
        .map(|a| a["detail"].as_str().unwrap())
        .collect();
    assert!(statuses.contains(&"permanent-failure"), "{sms}");
    assert_eq!(sms["channel"], "sms");
    assert_eq!(notes[1]["channel"], "email");
    assert_eq!(notes[1]["destination"], "lead@ZA1.example");
    assert!(notes[1]["reference"]
        .as_str()
        .unwrap()
        .ends_with(&format!("-c{lead}-email")));
    assert_eq!(notes.len(), 2, "one failover, once: {notes:?}");

    // Callbacks without the token are refused; unknown statuses are refused.
    let client = w.client();
    let cb = format!("{}/api/v1/callbacks/notify/delivery-status", w.url);
    let r = client
        .post(&cb)
        .bearer_auth("wrong")
        .json(&json!({"id": "x", "status": "delivered"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = client
        .post(&cb)
        .bearer_auth(CALLBACK_TOKEN)
        .json(&json!({"id": "x", "status": "lost"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);

    // The lead answers by text; Notify pushes it to the received-text callback.
    rig.standin
        .receive_text("07700900123", &format!("ACK INC-{inc}"));
    eventually(30, "acknowledged by SMS callback", || {
        let (_, d) = w.get(&format!("/api/v1/incidents/{inc}"), &w.token);
        (d["incident"]["status"] == "acknowledged").then_some(())
    });
    let chase = &chases(w, inc)[0];
    assert_eq!(chase["state"], "acknowledged", "{chase}");
    assert!(
        chase["ended_by"]
            .as_str()
            .unwrap()
            .starts_with("sms +447700900123"),
        "{chase}"
    );
    let m = metrics(w);
    assert!(
        m.contains("ward_notify_callbacks_total{kind=\"delivery_status\",outcome=\"bad_token\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("ward_escalation_failovers_total{outcome=\"next_channel\"} 1"),
        "{m}"
    );
    rig.finish();
}

#[test]
fn rotas_say_who_is_on_call_and_steps_reach_them() {
    let rig = Rig::start(StandinConfig::default(), &[]);
    let w = &rig.w;
    let key = member(w, "ZA1", "London");
    let lead = contacts(w, "ZA1")[0]["id"].as_i64().unwrap();
    let deputy = contact(w, "ZA1", "Dee Puty", Some("07700900456"), None, "deputy");
    let now = ward_model::clock::now_ms();
    let week = 7 * 86_400_000;
    let (s, rota) = w.post_json(
        "/api/v1/organisations/ZA1/rotas",
        &w.token,
        &json!({"name": "security", "period": "weekly", "starts_at": now - week - 1000, "members": [lead, deputy]}),
    );
    assert_eq!(s, 201, "{rota}");
    let rota_id = rota["id"].as_i64().unwrap();
    let (_, on) = w.get("/api/v1/organisations/ZA1/on-call", &w.token);
    assert_eq!(
        on[0]["contact"]["id"], deputy,
        "second week: the second member: {on}"
    );
    let (_, on) = w.get(
        &format!("/api/v1/organisations/ZA1/on-call?at={}", now - 5000),
        &w.token,
    );
    assert_eq!(on[0]["contact"]["id"], lead, "{on}");
    // The deputy is ill: the lead covers for an hour.
    let (s, o) = w.post_json(
        &format!("/api/v1/rotas/{rota_id}/overrides"),
        &w.token,
        &json!({"contact_id": lead, "starts_at": now - 1000, "ends_at": now + 3_600_000, "reason": "sick"}),
    );
    assert_eq!(s, 201, "{o}");
    let out = w.cli(&["--json", "escalation", "on-call", "ZA1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cli: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(cli[0]["contact"]["id"], lead, "{cli}");
    assert_eq!(cli[0]["on_call"]["override_id"], o["id"]);
    let table = w.cli(&["escalation", "on-call", "ZA1"]);
    assert!(String::from_utf8_lossy(&table.stdout).contains("ZA1 lead"));
    // A step aimed at the rota reaches whoever is on call.
    policy(
        w,
        "ZA1",
        json!({"name": "rota", "min_severity": 1, "max_rounds": 1, "steps": [
            {"delay_secs": 0, "targets": [{"kind": "rota", "rota_id": rota_id}], "channels": ["sms"]}
        ]}),
    );
    assert_eq!(w.post_events(&key, wannacry_event("pc1", 1)).0, 200);
    let inc = first_incident(w);
    let notes = eventually(30, "the rota step", || {
        let n = chase_notes(w, inc);
        (!n.is_empty()).then_some(n)
    });
    assert_eq!(notes[0]["contact_id"], lead);
    // The policy had one round: the chase is over.
    eventually(10, "the chase exhausted", || {
        chases(w, inc)
            .first()
            .is_some_and(|c| c["state"] == "exhausted")
            .then_some(())
    });
    // Other organisations' rotas are not readable by a member of another.
    member(w, "ZA2", "London");
    let (s, v) = w.post_json(
        "/api/v1/users",
        &w.token,
        &json!({"name": "Viewer", "email": "v@za2", "role": "org_viewer", "org_code": "ZA2"}),
    );
    assert_eq!(s, 201, "{v}");
    let viewer = v["token"].as_str().unwrap().to_string();
    assert_eq!(w.get("/api/v1/organisations/ZA1/on-call", &viewer).0, 403);
    assert_eq!(w.get("/api/v1/organisations/ZA2/on-call", &viewer).0, 200);
    rig.finish();
}

#[test]
fn silenced_detections_are_kept_but_open_and_tell_nothing() {
    let rig = Rig::start(StandinConfig::default(), &[]);
    let w = &rig.w;
    let key = member(w, "ZA1", "London");
    let out = w.cli(&[
        "--json",
        "escalation",
        "silence",
        "add",
        "--org",
        "ZA1",
        "--match",
        "host=PC9",
        "--reason",
        "pen test this week",
        "--for-secs",
        "3600",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let silence: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let bad = w.cli(&[
        "escalation",
        "silence",
        "add",
        "--match",
        "colour=red",
        "--reason",
        "x",
        "--for-secs",
        "60",
    ]);
    assert_eq!(bad.status.code(), Some(3), "refused by the server");
    assert_eq!(w.post_events(&key, wannacry_event("pc9", 1)).0, 200);
    let dets = w.wait_for("/api/v1/detections", |v| {
        v.as_array().is_some_and(|a| !a.is_empty())
    });
    assert_eq!(
        dets[0]["incident_id"], 0,
        "stored, attached to no incident: {dets}"
    );
    let (_, incidents) = w.get("/api/v1/incidents", &w.token);
    assert_eq!(incidents.as_array().unwrap().len(), 0, "{incidents}");
    let (_, notes) = w.get("/api/v1/notifications", &w.token);
    assert_eq!(notes.as_array().unwrap().len(), 0, "{notes}");
    // Expired, it silences no more.
    let id = silence["id"].as_i64().unwrap().to_string();
    assert!(w
        .cli(&["escalation", "silence", "expire", &id])
        .status
        .success());
    assert_eq!(w.post_events(&key, wannacry_event("pc9", 2)).0, 200);
    first_incident(w);
    let (_, list) = w.get("/api/v1/silences?all=true", &w.token);
    assert_eq!(list.as_array().unwrap().len(), 1);
    let (_, active) = w.get("/api/v1/silences", &w.token);
    assert_eq!(active.as_array().unwrap().len(), 0);
    rig.finish();
}

#[test]
fn triage_sets_severity_tlp_and_assignees() {
    let rig = Rig::start(StandinConfig::default(), &[]);
    let w = &rig.w;
    let key = member(w, "ZA1", "London");
    assert_eq!(w.post_events(&key, wannacry_event("pc1", 1)).0, 200);
    let inc = first_incident(w);
    let out = w.cli(&[
        "--json",
        "escalation",
        "triage",
        &inc.to_string(),
        "--severity",
        "4",
        "--tlp",
        "amber+strict",
        "--assignee",
        "ana@soc",
        "--assignee",
        "bob@za1",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (s, t) = w.get(&format!("/api/v1/incidents/{inc}/triage"), &w.token);
    assert_eq!(s, 200);
    assert_eq!(t["severity"], 4);
    assert_eq!(t["tlp"], "amber+strict");
    assert_eq!(t["assignees"], json!(["ana@soc", "bob@za1"]));
    let (s, v) = w.post_json(
        &format!("/api/v1/incidents/{inc}/triage"),
        &w.token,
        &json!({"tlp": "purple"}),
    );
    assert_eq!(s, 400, "{v}");
    // API keys do not triage.
    assert_eq!(
        w.post_json(
            &format!("/api/v1/incidents/{inc}/triage"),
            &key,
            &json!({"severity": 1})
        )
        .0,
        403
    );
    let ack = w.cli(&["escalation", "ack", &inc.to_string(), "--comment", "on it"]);
    assert!(
        ack.status.success(),
        "{}",
        String::from_utf8_lossy(&ack.stderr)
    );
    let (_, d) = w.get(&format!("/api/v1/incidents/{inc}"), &w.token);
    assert_eq!(d["incident"]["status"], "acknowledged");
    let spec = w.get("/api/v1/openapi.json", &w.token).1;
    assert!(spec["paths"]["/api/v1/incidents/{id}/triage"].is_object());
    assert!(spec["paths"]["/api/v1/organisations/{ods}/on-call"].is_object());
    rig.finish();
}
