//! Escalation state on both engines: policies, rotas, silences, triage, chases (a step is
//! fired once however often it is attempted), failover and delivery statuses.

use ward_model::escalation::{EscalationStep, RotaPeriod, SilenceMatcher, StepTarget};
use ward_model::{OdsCode, OrgKind};
use ward_storage::{ChaseMessage, NewChase, NewContact, NewIncident, NewPolicy, Store, StoreError};
use ward_testkit::PgDatabase;

#[macro_use]
mod common;

fn ods(s: &str) -> OdsCode {
    s.parse().unwrap()
}

async fn org_with_contacts(store: &Store) -> (i64, i64) {
    store
        .create_org(&ods("RJ1"), "Trust", OrgKind::AcuteTrust, "London")
        .await
        .unwrap();
    let lead = store
        .add_contact(
            &ods("RJ1"),
            NewContact {
                name: "Lead".into(),
                phone: Some("+447700900123".into()),
                email: Some("lead@rj1.example".into()),
                role: "security_lead".into(),
            },
        )
        .await
        .unwrap();
    let deputy = store
        .add_contact(
            &ods("RJ1"),
            NewContact {
                name: "Deputy".into(),
                phone: None,
                email: Some("deputy@rj1.example".into()),
                role: "deputy".into(),
            },
        )
        .await
        .unwrap();
    (lead.id, deputy.id)
}

async fn incident(store: &Store, severity: i64, at: i64) -> i64 {
    let mut tx = store.begin_detection_tx().await.unwrap();
    let id = tx
        .insert_incident(&NewIncident {
            scope: "local",
            rule_id: "r1",
            title: "WannaCry on pc1",
            severity,
            org_code: Some("RJ1"),
            host: Some("pc1"),
            parent_id: None,
            at,
        })
        .await
        .unwrap();
    tx.add_incident_org(id, "RJ1", at).await.unwrap();
    tx.commit().await.unwrap();
    id
}

fn step(delay: u64, target: StepTarget) -> EscalationStep {
    EscalationStep {
        delay_secs: delay,
        targets: vec![target],
        channels: vec!["sms".into(), "email".into()],
    }
}

fn message(incident: i64, contact: i64, reference: &str) -> ChaseMessage {
    ChaseMessage {
        incident_id: incident,
        org_code: "RJ1".into(),
        contact_id: contact,
        contact_name: "Lead".into(),
        channel: "sms".into(),
        destination: "+447700900123".into(),
        subject: "s".into(),
        body: "b".into(),
        reference: reference.into(),
        failover_channels: "email".into(),
    }
}

on_both_engines!(policies_pick_the_most_specific_severity, |store| {
    let (lead, _) = org_with_contacts(&store).await;
    let mk = |sev: i64, name: &str| NewPolicy {
        name: name.into(),
        min_severity: sev,
        steps: vec![step(0, StepTarget::Contact { contact_id: lead })],
        repeat_delay_secs: 60,
        max_rounds: 2,
    };
    store
        .create_policy(&ods("RJ1"), &mk(1, "all"))
        .await
        .unwrap();
    let high = store
        .create_policy(&ods("RJ1"), &mk(3, "high"))
        .await
        .unwrap();
    assert!(matches!(
        store.create_policy(&ods("RJ1"), &mk(3, "again")).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store.create_policy(&ods("RJ1"), &mk(5, "bad")).await,
        Err(StoreError::Invalid(_))
    ));
    assert_eq!(
        store.policy_for("RJ1", 2).await.unwrap().unwrap().name,
        "all"
    );
    assert_eq!(
        store.policy_for("RJ1", 4).await.unwrap().unwrap().id,
        high.id
    );
    assert!(store.policy_for("ZZ9", 4).await.unwrap().is_none());
    let listed = store.list_policies(Some(&ods("RJ1"))).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[1].steps, high.steps, "steps survive the round trip");
    store.delete_policy(high.id).await.unwrap();
    assert_eq!(
        store.policy_for("RJ1", 4).await.unwrap().unwrap().name,
        "all"
    );
});

on_both_engines!(rotas_and_overrides, |store| {
    let (lead, deputy) = org_with_contacts(&store).await;
    let rota = store
        .create_rota(
            &ods("RJ1"),
            "security",
            RotaPeriod::Weekly,
            1000,
            &[lead, deputy],
        )
        .await
        .unwrap();
    assert_eq!(store.get_rota(rota.id).await.unwrap().unwrap(), rota);
    assert!(matches!(
        store
            .create_rota(&ods("RJ1"), "x", RotaPeriod::Daily, 0, &[9999])
            .await,
        Err(StoreError::NotFound(_))
    ));
    let o = store
        .add_rota_override(rota.id, deputy, 5000, 9000, "swap")
        .await
        .unwrap();
    assert_eq!(
        store.rota_overrides(rota.id, 6000, 6001).await.unwrap(),
        vec![o]
    );
    assert!(store
        .rota_overrides(rota.id, 9000, 9001)
        .await
        .unwrap()
        .is_empty());
    assert!(matches!(
        store
            .add_rota_override(rota.id, deputy, 9000, 5000, "backwards")
            .await,
        Err(StoreError::Invalid(_))
    ));
});

on_both_engines!(silences_expire_and_catch_detections, |store| {
    org_with_contacts(&store).await;
    let m = vec![SilenceMatcher {
        field: "host".into(),
        value: "pc1".into(),
    }];
    let far = ward_model::clock::now_ms() + 3_600_000;
    let s = store
        .create_silence(Some(&ods("RJ1")), &m, "patching", "ana@soc", far)
        .await
        .unwrap();
    let g = store
        .create_silence(None, &m, "federation-wide", "ana@soc", far)
        .await
        .unwrap();
    assert!(matches!(
        store.create_silence(None, &m, "past", "a", 1).await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        store.create_silence(None, &[], "nothing", "a", far).await,
        Err(StoreError::Invalid(_))
    ));
    let now = ward_model::clock::now_ms();
    assert_eq!(
        store
            .list_silences(Some(&ods("RJ1")), Some(now))
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        store
            .list_silences(Some(&ods("RJ2")), Some(now))
            .await
            .unwrap()
            .len(),
        1,
        "only the federation-wide one"
    );
    let mut tx = store.begin_detection_tx().await.unwrap();
    assert_eq!(tx.active_silences(now).await.unwrap().len(), 2);
    tx.commit().await.unwrap();
    store.expire_silence(s.id, now).await.unwrap();
    assert_eq!(store.list_silences(None, Some(now)).await.unwrap(), vec![g]);
    assert_eq!(
        store.list_silences(None, None).await.unwrap().len(),
        2,
        "expired ones stay listed"
    );
});

on_both_engines!(triage_changes_go_on_the_timeline, |store| {
    org_with_contacts(&store).await;
    let id = incident(&store, 2, 1000).await;
    let t = store.get_triage(id).await.unwrap().unwrap();
    assert_eq!(
        (t.severity, t.tlp.as_str(), t.assignees.len()),
        (2, "amber", 0)
    );
    let who = vec![
        "bob@rj1".to_string(),
        "ana@soc".to_string(),
        "bob@rj1".to_string(),
    ];
    let t = store
        .set_triage(id, Some(4), Some("TLP:RED"), Some(&who), "ana@soc")
        .await
        .unwrap();
    assert_eq!(t.severity, 4);
    assert_eq!(t.tlp, "red");
    assert_eq!(
        t.assignees,
        vec!["ana@soc".to_string(), "bob@rj1".to_string()]
    );
    assert!(matches!(
        store.set_triage(id, Some(0), None, None, "a").await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        store.set_triage(id, None, Some("purple"), None, "a").await,
        Err(StoreError::Invalid(_))
    ));
    // Same values again: nothing changes, nothing is recorded.
    store
        .set_triage(id, Some(4), Some("red"), None, "a")
        .await
        .unwrap();
    let timeline = store.incident_timeline(id).await.unwrap();
    assert_eq!(timeline.len(), 1, "{timeline:?}");
    assert!(
        timeline[0].comment.contains("severity 2 → 4"),
        "{timeline:?}"
    );
    assert!(timeline[0].comment.contains("TLP:RED"), "{timeline:?}");
    assert_eq!(timeline[0].from_status, "new");
});

on_both_engines!(a_chase_step_fires_once, |store| {
    let (lead, _) = org_with_contacts(&store).await;
    let now = ward_model::clock::now_ms();
    let inc = incident(&store, 4, now).await;
    assert!(
        store
            .incidents_to_chase(now - 1000, 10)
            .await
            .unwrap()
            .is_empty(),
        "no policy, no chase"
    );
    let policy = store
        .create_policy(
            &ods("RJ1"),
            &NewPolicy {
                name: "p".into(),
                min_severity: 1,
                steps: vec![step(0, StepTarget::Contact { contact_id: lead })],
                repeat_delay_secs: 60,
                max_rounds: 1,
            },
        )
        .await
        .unwrap();
    let cands = store.incidents_to_chase(now - 1000, 10).await.unwrap();
    assert_eq!(cands.len(), 1);
    assert_eq!(
        (cands[0].incident_id, cands[0].org_code.as_str()),
        (inc, "RJ1")
    );
    let new = NewChase {
        target_kind: "incident",
        target_id: inc,
        org_code: "RJ1",
        policy_id: policy.id,
        subject: "s",
        body: "b",
        first_due_at: now,
        at: now,
    };
    let chase = store.start_chase(&new).await.unwrap().unwrap();
    assert_eq!(
        store.start_chase(&new).await.unwrap(),
        None,
        "one chase per target and organisation"
    );
    assert!(store
        .incidents_to_chase(now - 1000, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.due_chases(now, 10).await.unwrap().len(), 1);
    let msgs = [message(inc, lead, "ward-chase-test-s0-sms")];
    assert!(store
        .fire_chase_step(chase, 0, &msgs, Some(now + 60_000), now)
        .await
        .unwrap());
    // The same step again (a restart, a second runner) writes nothing.
    assert!(!store
        .fire_chase_step(chase, 0, &msgs, Some(now + 60_000), now)
        .await
        .unwrap());
    let notes = store.list_notifications(None, Some(inc), 10).await.unwrap();
    assert_eq!(notes.len(), 1);
    assert!(store.due_chases(now, 10).await.unwrap().is_empty());
    assert_eq!(store.due_chases(now + 60_000, 10).await.unwrap().len(), 1);
    // Acknowledged in ward: the chase settles, and its unsent message is cancelled.
    store
        .set_incident_status(inc, "acknowledged", "bob@rj1", "mine")
        .await
        .unwrap();
    let settle = store.chases_to_settle().await.unwrap();
    assert_eq!(settle.len(), 1);
    assert_eq!(
        (settle[0].state, settle[0].by.as_str()),
        ("acknowledged", "bob@rj1")
    );
    assert!(store
        .end_chase(chase, settle[0].state, &settle[0].by, now)
        .await
        .unwrap());
    assert!(!store
        .end_chase(chase, "acknowledged", "again", now)
        .await
        .unwrap());
    let c = store.get_chase(chase).await.unwrap().unwrap();
    assert_eq!((c.state.as_str(), c.steps_fired), ("acknowledged", 1));
    let notes = store.list_notifications(None, Some(inc), 10).await.unwrap();
    assert_eq!(notes[0].status, "cancelled");
    assert!(store.chases_to_settle().await.unwrap().is_empty());
});

on_both_engines!(failover_and_delivery_status, |store| {
    let (lead, _) = org_with_contacts(&store).await;
    let now = ward_model::clock::now_ms();
    let inc = incident(&store, 4, now).await;
    let policy = store
        .create_policy(
            &ods("RJ1"),
            &NewPolicy {
                name: "p".into(),
                min_severity: 1,
                steps: vec![step(0, StepTarget::Contact { contact_id: lead })],
                repeat_delay_secs: 60,
                max_rounds: 3,
            },
        )
        .await
        .unwrap();
    let chase = store
        .start_chase(&NewChase {
            target_kind: "incident",
            target_id: inc,
            org_code: "RJ1",
            policy_id: policy.id,
            subject: "s",
            body: "b",
            first_due_at: now,
            at: now,
        })
        .await
        .unwrap()
        .unwrap();
    store
        .fire_chase_step(
            chase,
            0,
            &[message(inc, lead, "ref-sms")],
            Some(now + 60_000),
            now,
        )
        .await
        .unwrap();
    assert!(
        store.failover_due(now - 1).await.unwrap().is_empty(),
        "nothing failed, nothing late"
    );
    let row = store.due_outbox(now, 10).await.unwrap().remove(0);
    store
        .record_attempt(&ward_storage::OutboxUpdate {
            outbox_id: row.id,
            attempted_at: now,
            duration_ms: 3,
            outcome: "accepted".into(),
            http_status: Some(201),
            detail: String::new(),
            provider_id: Some("notify-1".into()),
            new_status: "sent".into(),
            next_attempt_at: now,
        })
        .await
        .unwrap();
    for s in [
        "created",
        "sending",
        "sending",
        "permanent-failure",
        "pending",
    ] {
        assert_eq!(
            store
                .record_delivery_status("notify-1", None, s, now)
                .await
                .unwrap(),
            Some(row.id)
        );
    }
    assert_eq!(
        store.delivery_status(row.id).await.unwrap().as_deref(),
        Some("permanent-failure"),
        "a late non-final status does not replace a final one"
    );
    assert_eq!(
        store
            .record_delivery_status("nobody", None, "sent", now)
            .await
            .unwrap(),
        None
    );
    let n = store
        .list_notifications(None, Some(inc), 10)
        .await
        .unwrap()
        .remove(0);
    let callbacks: Vec<&str> = n
        .attempt_log
        .iter()
        .filter(|a| a.outcome == "status_callback")
        .map(|a| a.detail.as_str())
        .collect();
    assert_eq!(
        callbacks,
        ["created", "sending", "permanent-failure", "pending"],
        "repeats recorded once"
    );
    let due = store.failover_due(now - 1).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].failover_channels, vec!["email".to_string()]);
    let mut email = message(inc, lead, "ref-email");
    email.channel = "email".into();
    email.destination = "lead@rj1.example".into();
    email.failover_channels = String::new();
    assert!(store
        .record_failover(due[0].outbox_id, chase, Some(&email), now)
        .await
        .unwrap());
    assert!(!store
        .record_failover(due[0].outbox_id, chase, Some(&email), now)
        .await
        .unwrap());
    assert!(
        store.failover_due(now - 1).await.unwrap().is_empty(),
        "failed over once"
    );
    let notes = store.list_notifications(None, Some(inc), 10).await.unwrap();
    assert_eq!(notes.len(), 2);
    assert_eq!(notes[0].channel, "email");
});
