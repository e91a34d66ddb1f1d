//! Every storage behaviour, run against SQLite and against PostgreSQL.

use ward_model::records::IncidentScope;
use ward_model::{OdsCode, OrgKind, Role};
use ward_storage::{
    NewContact, NewDetection, NewIncident, NewOutbox, OutboxUpdate, Store, StoreError,
};
use ward_testkit::PgDatabase;

#[macro_use]
mod common;

fn ods(s: &str) -> OdsCode {
    s.parse().unwrap()
}

async fn two_orgs(store: &Store) {
    store
        .create_org(
            &ods("RJ1"),
            "Guy's and St Thomas'",
            OrgKind::AcuteTrust,
            "London",
        )
        .await
        .unwrap();
    store
        .create_org(
            &ods("B82005"),
            "Riverside Surgery",
            OrgKind::GpPractice,
            "North East and Yorkshire",
        )
        .await
        .unwrap();
}

on_both_engines!(organisations, |store| {
    two_orgs(&store).await;
    let orgs = store.list_orgs().await.unwrap();
    assert_eq!(orgs.len(), 2);
    assert_eq!(orgs[0].ods_code.as_str(), "RJ1"); // ordered by region: London first
    assert_eq!(orgs[1].kind, OrgKind::GpPractice);
    let again = store
        .create_org(&ods("RJ1"), "dup", OrgKind::AcuteTrust, "London")
        .await;
    assert!(
        matches!(again, Err(StoreError::Conflict(ref w)) if w.contains("RJ1")),
        "{again:?}"
    );
    assert!(store.get_org(&ods("ZZZ")).await.unwrap().is_none());
});

on_both_engines!(users_and_roles, |store| {
    two_orgs(&store).await;
    let (analyst, token) = store
        .create_user("Ana Lyst", "ana@soc.example", Role::CentralAnalyst, None)
        .await
        .unwrap();
    assert_eq!(analyst.role, Role::CentralAnalyst);
    let (lead, lead_token) = store
        .create_user("Lee", "lee@rj1.example", Role::OrgLead, Some(&ods("RJ1")))
        .await
        .unwrap();
    assert_eq!(
        store.authenticate_user(&token).await.unwrap().unwrap().id,
        analyst.id
    );
    assert_eq!(
        store
            .authenticate_user(&lead_token)
            .await
            .unwrap()
            .unwrap()
            .org_code,
        Some(ods("RJ1"))
    );
    assert!(store.authenticate_user("wu_nope").await.unwrap().is_none());
    // A lead needs an organisation, an analyst must not have one, and it must exist.
    assert!(store
        .create_user("x", "x@x", Role::OrgLead, None)
        .await
        .is_err());
    assert!(store
        .create_user("y", "y@y", Role::CentralAnalyst, Some(&ods("RJ1")))
        .await
        .is_err());
    assert!(matches!(
        store
            .create_user("z", "z@z", Role::OrgViewer, Some(&ods("NOPE1")))
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store
            .create_user("dup", "lee@rj1.example", Role::OrgViewer, Some(&ods("RJ1")))
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.count_users().await.unwrap(), 2);
    assert_eq!(lead.org_code, Some(ods("RJ1")));
});

on_both_engines!(api_keys, |store| {
    two_orgs(&store).await;
    let (key, secret) = store.create_api_key(&ods("RJ1"), "firewall").await.unwrap();
    assert!(secret.len() > 43);
    let (org, id) = store.authenticate_key(&secret).await.unwrap().unwrap();
    assert_eq!((org.as_str(), id.as_str()), ("RJ1", key.id.as_str()));
    assert!(store.authenticate_key("wk_x_y").await.unwrap().is_none());
    let revoked = store.revoke_api_key(&key.id).await.unwrap();
    assert!(revoked.revoked_at.is_some());
    assert!(store.authenticate_key(&secret).await.unwrap().is_none());
    assert!(matches!(
        store.revoke_api_key("knope").await,
        Err(StoreError::NotFound(_))
    ));
    let listed = store.list_api_keys(&ods("RJ1")).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(store
        .list_api_keys(&ods("B82005"))
        .await
        .unwrap()
        .is_empty());
    assert!(matches!(
        store.create_api_key(&ods("NOPE1"), "x").await,
        Err(StoreError::NotFound(_))
    ));
});

on_both_engines!(contacts, |store| {
    two_orgs(&store).await;
    let c = store
        .add_contact(
            &ods("RJ1"),
            NewContact {
                name: "On-call lead".into(),
                phone: Some("+447700900123".into()),
                email: None,
                role: "security_lead".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        store.list_contacts(&ods("RJ1")).await.unwrap(),
        vec![c.clone()]
    );
    let none = store
        .add_contact(
            &ods("RJ1"),
            NewContact {
                name: "x".into(),
                phone: None,
                email: None,
                role: "deputy".into(),
            },
        )
        .await;
    assert!(matches!(none, Err(StoreError::Invalid(_))));
    store.delete_contact(c.id).await.unwrap();
    assert!(store.list_contacts(&ods("RJ1")).await.unwrap().is_empty());
    assert!(matches!(
        store.delete_contact(c.id).await,
        Err(StoreError::NotFound(_))
    ));
});

async fn one_detection(store: &Store, offset: i64, commit: bool) -> i64 {
    let mut tx = store.begin_detection_tx().await.unwrap();
    let incident = tx
        .insert_incident(&NewIncident {
            scope: "local",
            rule_id: "r1",
            title: "t",
            severity: 4,
            org_code: Some("RJ1"),
            host: Some("pc1"),
            parent_id: None,
            at: 1000 + offset,
        })
        .await
        .unwrap();
    tx.add_incident_org(incident, "RJ1", 1000).await.unwrap();
    tx.touch_incident(incident, 1000 + offset).await.unwrap();
    tx.insert_detection(&NewDetection {
        event_offset: offset,
        org_code: "RJ1",
        rule_id: "r1",
        rule_title: "t",
        rule_author: Some("ward"),
        level: "critical",
        tags_json: "[\"attack.t1486\"]",
        matched_fields_json: "{\"Image\":\"x\"}",
        host: Some("pc1"),
        event_json: "{\"Image\":\"x\"}",
        received_at: 999,
        detected_at: 1000,
        incident_id: incident,
    })
    .await
    .unwrap();
    tx.insert_outbox(&NewOutbox {
        incident_id: incident,
        org_code: "RJ1",
        contact_id: None,
        contact_name: "lead",
        channel: "sms",
        destination: "+447700900123",
        subject: "s",
        body: "b",
        reference: &format!("ref-{offset}-{commit}"),
        at: 1000,
    })
    .await
    .unwrap();
    tx.set_consumer_offset("detection", offset as u64 + 1, 1000)
        .await
        .unwrap();
    if commit {
        tx.commit().await.unwrap();
    }
    incident
}

on_both_engines!(detection_batches_commit_atomically, |store| {
    two_orgs(&store).await;
    // Dropped without commit: nothing of it may be visible.
    one_detection(&store, 5, false).await;
    assert_eq!(store.consumer_offset("detection").await.unwrap(), 0);
    assert_eq!(store.count_detections().await.unwrap(), 0);
    assert!(store
        .list_notifications(None, None, 10)
        .await
        .unwrap()
        .is_empty());
    let id = one_detection(&store, 6, true).await;
    assert_eq!(store.consumer_offset("detection").await.unwrap(), 7);
    assert_eq!(store.consumer_state("detection").await.unwrap(), None);
    let mut tx = store.begin_detection_tx().await.unwrap();
    tx.set_consumer_state("detection", "{\"v\":1}", 1)
        .await
        .unwrap();
    tx.set_consumer_state("detection", "{\"v\":2}", 2)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        store.consumer_state("detection").await.unwrap().as_deref(),
        Some("{\"v\":2}")
    );
    let incidents = store
        .list_incidents(Some(&ods("RJ1")), None, 10)
        .await
        .unwrap();
    assert_eq!(incidents.len(), 1);
    assert_eq!(incidents[0].id, id);
    assert_eq!(incidents[0].organisations, vec!["RJ1".to_string()]);
    assert_eq!(incidents[0].detection_count, 1);
    assert!(store
        .list_incidents(Some(&ods("B82005")), None, 10)
        .await
        .unwrap()
        .is_empty());
    let dets = store.list_detections(None, Some(id), 10).await.unwrap();
    assert_eq!(dets[0].tags, vec!["attack.t1486".to_string()]);
    assert_eq!(dets[0].matched_fields["Image"], "x");
    // Grouping lookups inside a transaction.
    let mut tx = store.begin_detection_tx().await.unwrap();
    let open = tx
        .find_open_local("r1", "RJ1", Some("pc1"), 0)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(open.id, id);
    assert!(tx
        .find_open_local("r1", "RJ1", Some("pc2"), 0)
        .await
        .unwrap()
        .is_none());
    assert!(tx
        .find_open_local("r1", "RJ1", Some("pc1"), 5000)
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        tx.orgs_with_local("r1", 0).await.unwrap(),
        vec!["RJ1".to_string()]
    );
    let national = tx
        .insert_incident(&NewIncident {
            scope: "national",
            rule_id: "r1",
            title: "n",
            severity: 4,
            org_code: None,
            host: None,
            parent_id: None,
            at: 2000,
        })
        .await
        .unwrap();
    assert_eq!(
        tx.find_open_national("r1", 0).await.unwrap(),
        None,
        "found through its rules"
    );
    tx.add_incident_rule(national, "r1").await.unwrap();
    tx.add_incident_rule(national, "r1").await.unwrap();
    assert_eq!(tx.link_locals(national, "r1", "RJ1", 0).await.unwrap(), 1);
    assert!(tx.add_incident_org(national, "RJ1", 2000).await.unwrap());
    assert!(!tx.add_incident_org(national, "RJ1", 2000).await.unwrap());
    assert_eq!(
        tx.find_open_national("r1", 0).await.unwrap(),
        Some(national)
    );
    let orgs = vec!["RJ1".to_string(), "B82005".to_string()];
    assert_eq!(
        tx.find_overlapping_national(&orgs, 0, 1).await.unwrap(),
        Some(national)
    );
    assert_eq!(
        tx.find_overlapping_national(&orgs, 0, 2).await.unwrap(),
        None
    );
    tx.raise_severity(national, 2).await.unwrap();
    tx.commit().await.unwrap();
    let all = store.list_incidents(None, None, 10).await.unwrap();
    assert_eq!(
        all[0].scope,
        IncidentScope::National,
        "national incidents list first"
    );
    assert_eq!(all[1].parent_id, Some(national));
    assert_eq!(all[0].rules, vec!["r1".to_string()]);
    assert_eq!(all[0].severity, 4, "severity is only ever raised");
});

on_both_engines!(outbox_attempts, |store| {
    two_orgs(&store).await;
    one_detection(&store, 1, true).await;
    let due = store.due_outbox(2000, 10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert!(
        store.due_outbox(500, 10).await.unwrap().is_empty(),
        "not due before created"
    );
    let id = due[0].id;
    store
        .record_attempt(&OutboxUpdate {
            outbox_id: id,
            attempted_at: 2000,
            duration_ms: 5,
            outcome: "retryable".into(),
            http_status: Some(503),
            detail: "Notify unavailable".into(),
            provider_id: None,
            new_status: "pending".into(),
            next_attempt_at: 3000,
        })
        .await
        .unwrap();
    assert!(store.due_outbox(2500, 10).await.unwrap().is_empty());
    store
        .record_attempt(&OutboxUpdate {
            outbox_id: id,
            attempted_at: 3000,
            duration_ms: 7,
            outcome: "accepted".into(),
            http_status: Some(201),
            detail: "ok".into(),
            provider_id: Some("abc".into()),
            new_status: "sent".into(),
            next_attempt_at: 3000,
        })
        .await
        .unwrap();
    let n = &store
        .list_notifications(Some(&ods("RJ1")), None, 10)
        .await
        .unwrap()[0];
    assert_eq!(n.status, "sent");
    assert_eq!(n.attempts, 2);
    assert_eq!(n.sent_at, Some(3007));
    assert_eq!(n.provider_id.as_deref(), Some("abc"));
    assert_eq!(n.attempt_log.len(), 2);
    assert_eq!(n.attempt_log[0].http_status, Some(503));
    assert_eq!(
        store.outbox_counts().await.unwrap(),
        vec![("sent".to_string(), 1)]
    );
});

on_both_engines!(meta_filters, |store| {
    two_orgs(&store).await;
    let v0 = store.filters_version().await.unwrap();
    let f = store
        .add_filter(&ods("RJ1"), "backup", "title: x")
        .await
        .unwrap();
    store
        .add_filter(&ods("B82005"), "other", "title: y")
        .await
        .unwrap();
    assert_ne!(store.filters_version().await.unwrap(), v0);
    assert_eq!(
        store.list_filters(Some(&ods("RJ1"))).await.unwrap(),
        vec![f.clone()]
    );
    assert_eq!(store.list_filters(None).await.unwrap().len(), 2);
    let v1 = store.filters_version().await.unwrap();
    store.delete_filter(f.id).await.unwrap();
    assert_ne!(store.filters_version().await.unwrap(), v1);
    assert!(matches!(
        store.delete_filter(f.id).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.add_filter(&ods("NOPE1"), "x", "y").await,
        Err(StoreError::NotFound(_))
    ));
});

on_both_engines!(incident_lifecycle, |store| {
    two_orgs(&store).await;
    let id = one_detection(&store, 1, true).await;
    let e = store
        .set_incident_status(id, "acknowledged", "lee@rj1.example", "on it")
        .await
        .unwrap();
    assert_eq!(
        (e.from_status.as_str(), e.to_status.as_str()),
        ("new", "acknowledged")
    );
    assert!(matches!(
        store.set_incident_status(id, "new", "x", "").await,
        Err(StoreError::Invalid(ref m)) if m.contains("is acknowledged")
    ));
    assert!(matches!(
        store.set_incident_status(999, "resolved", "x", "").await,
        Err(StoreError::NotFound(_))
    ));
    store
        .set_incident_status(id, "resolved", "ana@soc.example", "patched")
        .await
        .unwrap();
    let t = store.incident_timeline(id).await.unwrap();
    assert_eq!(t.len(), 2);
    assert_eq!(t[1].actor, "ana@soc.example");
    assert_eq!(
        store.get_incident(id).await.unwrap().unwrap().status,
        "resolved"
    );
    let mut tx = store.begin_detection_tx().await.unwrap();
    assert!(
        tx.find_open_local("r1", "RJ1", Some("pc1"), 0)
            .await
            .unwrap()
            .is_none(),
        "resolved incidents collect nothing"
    );
});
