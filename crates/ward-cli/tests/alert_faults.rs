//! Fault tests of the alerting path with the real `ward` binary and the Notify stand-in:
//! a ten-minute (simulated) Notify outage, and `kill -9` in the middle of an escalation.
//! Afterwards every message is delivered, none twice, and the escalation has advanced.

mod common;
mod escalation_rig;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{member, wannacry_event};
use escalation_rig::*;
use serde_json::{json, Value};
use ward_notify_standin::{FaultKind, StandinConfig};

fn all_notes(rig: &Rig) -> Vec<Value> {
    let (s, v) = rig.w.get("/api/v1/notifications?limit=1000", &rig.w.token);
    assert_eq!(s, 200, "{v}");
    v.as_array().unwrap().clone()
}

fn retryable_attempts(notes: &[Value]) -> usize {
    notes
        .iter()
        .flat_map(|n| n["attempt_log"].as_array().cloned().unwrap_or_default())
        .filter(|a| a["outcome"] == "retryable")
        .count()
}

/// Every message ward sent is held by Notify exactly once, and nothing else is.
fn assert_each_sent_once(rig: &Rig, notes: &[Value]) {
    for n in notes {
        assert_eq!(n["status"], "sent", "{n}");
        let reference = n["reference"].as_str().unwrap();
        let held = rig.standin.notifications_with_reference(reference);
        assert_eq!(held.len(), 1, "sent exactly once: {reference}");
        assert_eq!(n["provider_id"].as_str().unwrap(), held[0].id.to_string());
    }
    assert_eq!(
        rig.standin.notifications().len(),
        notes.len(),
        "nothing sent that ward does not know of"
    );
}

#[test]
fn a_ten_minute_notify_outage_delays_but_neither_loses_nor_repeats_and_escalation_advances() {
    let rig = Rig::start(
        StandinConfig {
            timeout_fault_hold_ms: 1500,
            ..StandinConfig::default()
        },
        &[],
    );
    let w = &rig.w;
    let key = member(w, "ZA1", "London");
    let deputy = contact(w, "ZA1", "Dee Puty", Some("07700900456"), None, "deputy");
    policy(
        w,
        "ZA1",
        json!({"name": "p", "min_severity": 1, "max_rounds": 1, "steps": [
            {"delay_secs": 0, "targets": [{"kind": "role", "role": "security_lead"}], "channels": ["sms"]},
            {"delay_secs": 1, "targets": [{"kind": "contact", "contact_id": deputy}], "channels": ["sms"]}
        ]}),
    );
    // Notify is down for ten simulated minutes: 5xx for three, then 429 until six, then
    // requests that hang and time out until ten (the newest fault in force wins).
    let s = &rig.standin;
    s.inject_fault(FaultKind::Timeout, Duration::from_secs(600));
    s.inject_fault(FaultKind::RateLimit, Duration::from_secs(360));
    s.inject_fault(
        FaultKind::ServerError { status: 503 },
        Duration::from_secs(180),
    );

    assert_eq!(w.post_events(&key, wannacry_event("pc1", 1)).0, 200);
    let inc = first_incident(w);
    // The escalation does not wait for the provider: both steps are written meanwhile.
    eventually(30, "both steps fired during the outage", || {
        chases(w, inc)
            .first()
            .is_some_and(|c| c["steps_fired"] == 2)
            .then_some(())
    });
    let mut seen = eventually(30, "attempts refused with 503", || {
        let n = retryable_attempts(&all_notes(&rig));
        (n > 0).then_some(n)
    });
    // Into the 429 phase: wait until an attempt has actually met it (a retry already in flight
    // when the clock moved may still report the 503 phase, so a count alone is not enough).
    s.advance(Duration::from_secs(181));
    eventually(60, "an attempt refused with 429", || {
        attempt_details(&all_notes(&rig))
            .iter()
            .any(|d| d.contains("RateLimitError"))
            .then_some(())
    });
    seen = retryable_attempts(&all_notes(&rig)).max(seen);
    s.advance(Duration::from_secs(181));
    eventually(60, "timeout", || {
        let n = retryable_attempts(&all_notes(&rig));
        (n > seen).then_some(n)
    });
    assert!(
        all_notes(&rig).iter().all(|n| n["status"] != "sent"),
        "nothing got through during the outage"
    );
    s.advance(Duration::from_secs(240));
    let notes = eventually(90, "everything delivered after recovery", || {
        let n = all_notes(&rig);
        n.iter().all(|x| x["status"] == "sent").then_some(n)
    });
    // The announcement to every contact (the lead's SMS and e-mail, the deputy's SMS) and
    // the two escalation steps.
    assert_eq!(notes.len(), 5, "{notes:?}");
    assert_each_sent_once(&rig, &notes);
    let details = attempt_details(&notes);
    for needle in ["503", "RateLimitError"] {
        assert!(
            details.iter().any(|d| d.contains(needle)),
            "an attempt saw {needle}: {details:?}"
        );
    }
    let stats = rig.standin.stats();
    assert!(stats.faulted > 0, "{stats:?}");
    assert_eq!(chases(w, inc)[0]["state"], "exhausted");
    rig.finish();
}

#[test]
fn kill_9_during_an_escalation_loses_no_step_and_sends_none_twice() {
    let mut rig = Rig::start(StandinConfig::default(), &[]);
    let key = member(&rig.w, "ZA1", "London");
    let deputy = contact(
        &rig.w,
        "ZA1",
        "Dee Puty",
        Some("07700900456"),
        None,
        "deputy",
    );
    let director = contact(
        &rig.w,
        "ZA1",
        "Di Rector",
        Some("07700900789"),
        None,
        "director",
    );
    policy(
        &rig.w,
        "ZA1",
        json!({"name": "p", "min_severity": 1, "max_rounds": 2, "repeat_delay_secs": 1, "steps": [
            {"delay_secs": 0, "targets": [{"kind": "role", "role": "security_lead"}], "channels": ["sms"]},
            {"delay_secs": 1, "targets": [{"kind": "contact", "contact_id": deputy}], "channels": ["sms"]},
            {"delay_secs": 1, "targets": [{"kind": "contact", "contact_id": director}], "channels": ["sms"]}
        ]}),
    );
    assert_eq!(rig.w.post_events(&key, wannacry_event("pc1", 1)).0, 200);
    let inc = first_incident(&rig.w);
    for fired in [2, 4] {
        eventually(30, "steps fired before the crash", || {
            chases(&rig.w, inc)
                .first()
                .is_some_and(|c| c["steps_fired"].as_i64() >= Some(fired))
                .then_some(())
        });
        // Killed while the dispatcher is sending the step just written; steps fall due while
        // ward is down.
        rig.w.kill9();
        std::thread::sleep(Duration::from_millis(1500));
        rig.w.crash_and_restart();
    }
    let w = &rig.w;
    eventually(60, "the chase completes after the restarts", || {
        (chases(w, inc)[0]["state"] == "exhausted").then_some(())
    });
    let notes = eventually(60, "every step delivered", || {
        let n = all_notes(&rig);
        n.iter().all(|x| x["status"] == "sent").then_some(n)
    });
    let chase = &chases(w, inc)[0];
    let cid = chase["id"].as_i64().unwrap();
    assert_eq!(
        chase["steps_fired"], 6,
        "two rounds of three steps: {chase}"
    );
    let refs: BTreeSet<String> = chase_notes(w, inc)
        .iter()
        .map(|n| n["reference"].as_str().unwrap().to_string())
        .collect();
    let lead = contacts(w, "ZA1")[0]["id"].as_i64().unwrap();
    let expected: BTreeSet<String> = [lead, deputy, director, lead, deputy, director]
        .iter()
        .enumerate()
        .map(|(i, c)| format!("ward-chase{cid}-s{i}-c{c}-sms"))
        .collect();
    assert_eq!(refs, expected, "each step once, none lost");
    assert_eq!(chase_notes(w, inc).len(), 6);
    assert_each_sent_once(&rig, &notes);
    rig.finish();
}

fn attempt_details(notes: &[serde_json::Value]) -> Vec<String> {
    notes
        .iter()
        .flat_map(|n| n["attempt_log"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| a["detail"].as_str().map(str::to_string))
        .collect()
}
