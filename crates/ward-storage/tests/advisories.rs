//! Advisories on SQLite and on PostgreSQL: numbering, publication, answers, reminders.

use ward_model::advisory::{
    AdvisoryContent, AdvisoryDeadlines, AdvisoryStatus, AdvisoryTarget, Applicability, Tlp,
};
use ward_model::{OdsCode, OrgKind};
use ward_storage::{AdvisoryMessage, NewContact, RecipientAction, Store, StoreError};
use ward_testkit::PgDatabase;

#[macro_use]
mod common;

fn ods(s: &str) -> OdsCode {
    s.parse().unwrap()
}

fn content(title: &str) -> AdvisoryContent {
    AdvisoryContent {
        title: title.into(),
        summary: "Actively exploited remote code execution.".into(),
        severity: "critical".into(),
        tlp: Tlp::Amber,
        affected: vec!["cpe:2.3:a:citrix:netscaler:*:*:*:*:*:*:*:*".into()],
        actions: vec!["Patch to 14.1-12.35".into(), "Hunt for web shells".into()],
        references: vec!["https://support.citrix.com/article/CTX579459".into()],
        cves: vec!["CVE-2023-4966".into()],
        target: AdvisoryTarget::Region {
            region: "London".into(),
        },
    }
}

async fn members(store: &Store) {
    for (code, region) in [("RJ1", "London"), ("RRV", "London"), ("RX9", "Midlands")] {
        store
            .create_org(&ods(code), code, OrgKind::AcuteTrust, region)
            .await
            .unwrap();
    }
}

on_both_engines!(advisory_ids_are_sequential_per_year, |store| {
    let a = store
        .create_advisory(&content("one"), 2026, "manual", None, "ana", 1)
        .await
        .unwrap();
    let b = store
        .create_advisory(&content("two"), 2026, "manual", None, "ana", 2)
        .await
        .unwrap();
    let c = store
        .create_advisory(&content("three"), 2027, "manual", None, "ana", 3)
        .await
        .unwrap();
    assert_eq!(
        (a.id.as_str(), b.id.as_str(), c.id.as_str()),
        ("HSA-2026-0001", "HSA-2026-0002", "HSA-2027-0001")
    );
    assert_eq!(a.status, AdvisoryStatus::Draft);
    assert_eq!(a.content, content("one"), "content round-trips");
    // A feed's draft is made once per source key.
    let kev = store
        .create_advisory(
            &content("kev"),
            2026,
            "kev:CVE-2023-4966",
            Some("kev:CVE-2023-4966"),
            "kev",
            4,
        )
        .await
        .unwrap();
    assert_eq!(kev.id, "HSA-2026-0003");
    let again = store
        .create_advisory(
            &content("kev"),
            2026,
            "kev:CVE-2023-4966",
            Some("kev:CVE-2023-4966"),
            "kev",
            5,
        )
        .await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    assert_eq!(
        store
            .advisory_by_source_key("kev:CVE-2023-4966")
            .await
            .unwrap()
            .unwrap()
            .id,
        kev.id
    );
    let list = store.list_advisories(None).await.unwrap();
    assert_eq!(list[0].id, "HSA-2027-0001", "newest first");
    assert_eq!(list.len(), 4);
});

on_both_engines!(publication_answers_and_log, |store| {
    members(&store).await;
    let a = store
        .create_advisory(&content("Citrix Bleed"), 2026, "manual", None, "ana", 10)
        .await
        .unwrap();
    let d = AdvisoryDeadlines::default();
    let p = store
        .publish_advisory(&a.id, &[ods("RJ1"), ods("RRV")], d, "ana", 100)
        .await
        .unwrap();
    assert_eq!(p.status, AdvisoryStatus::Published);
    assert_eq!(p.published_at, Some(100));
    assert_eq!(p.deadlines, Some(d));
    let twice = store
        .publish_advisory(&a.id, &[ods("RJ1")], d, "ana", 101)
        .await;
    assert!(
        matches!(twice, Err(StoreError::Invalid(ref m)) if m.contains("published")),
        "{twice:?}"
    );

    let r = store
        .record_advisory_action(
            &a.id,
            &ods("RJ1"),
            RecipientAction::Acknowledge,
            "lee",
            "",
            200,
        )
        .await
        .unwrap();
    assert_eq!(r.acknowledged_at, Some(200));
    assert_eq!(r.acknowledged_by.as_deref(), Some("lee"));
    let again = store
        .record_advisory_action(
            &a.id,
            &ods("RJ1"),
            RecipientAction::Acknowledge,
            "lee",
            "",
            201,
        )
        .await;
    assert!(matches!(again, Err(StoreError::Invalid(_))), "{again:?}");
    let r = store
        .record_advisory_action(
            &a.id,
            &ods("RJ1"),
            RecipientAction::Respond(Applicability::Applies),
            "lee",
            "two gateways",
            300,
        )
        .await
        .unwrap();
    assert_eq!(r.applicability, Some(Applicability::Applies));
    assert_eq!(r.applicability_note.as_deref(), Some("two gateways"));
    assert_eq!(r.acknowledged_at, Some(200), "first acknowledgement kept");
    let r = store
        .record_advisory_action(
            &a.id,
            &ods("RJ1"),
            RecipientAction::Update,
            "lee",
            "one patched",
            400,
        )
        .await
        .unwrap();
    assert_eq!((r.last_update_at, r.update_count), (Some(400), 1));
    let r = store
        .record_advisory_action(
            &a.id,
            &ods("RJ1"),
            RecipientAction::Close,
            "lee",
            "both patched",
            500,
        )
        .await
        .unwrap();
    assert_eq!(r.closed_at, Some(500));
    let late = store
        .record_advisory_action(&a.id, &ods("RJ1"), RecipientAction::Update, "lee", "", 600)
        .await;
    assert!(
        matches!(late, Err(StoreError::Invalid(ref m)) if m.contains("closed")),
        "{late:?}"
    );
    // RRV responded without acknowledging first: that acknowledges too.
    let r = store
        .record_advisory_action(
            &a.id,
            &ods("RRV"),
            RecipientAction::Respond(Applicability::DoesNotApply),
            "rae",
            "no NetScaler",
            250,
        )
        .await
        .unwrap();
    assert_eq!(r.acknowledged_at, Some(250));
    // RX9 is not a recipient.
    let stranger = store
        .record_advisory_action(
            &a.id,
            &ods("RX9"),
            RecipientAction::Acknowledge,
            "x",
            "",
            260,
        )
        .await;
    assert!(
        matches!(stranger, Err(StoreError::NotFound(_))),
        "{stranger:?}"
    );

    let open = store.open_advisory_recipients().await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].1.len(), 1, "RJ1 closed; RRV still open");
    assert_eq!(open[0].1[0].org_code, ods("RRV"));
    let mine = store.advisories_for_org(&ods("RJ1")).await.unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].1.close_note.as_deref(), Some("both patched"));
    assert!(store
        .advisories_for_org(&ods("RX9"))
        .await
        .unwrap()
        .is_empty());

    let log = store.advisory_log(&a.id).await.unwrap();
    let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        vec![
            "created",
            "published",
            "acknowledged",
            "responded",
            "update",
            "remediated",
            "responded"
        ]
    );
    assert_eq!(log[2].org_code, Some(ods("RJ1")));
    assert_eq!(log[2].actor, "lee");
    assert_eq!(log[2].at, 200);
    assert!(log
        .iter()
        .any(|e| e.action == "responded" && e.note == "does_not_apply: no NetScaler"));

    let closed = store
        .close_advisory(&a.id, "ana", "all done", 900)
        .await
        .unwrap();
    assert_eq!(closed.status, AdvisoryStatus::Closed);
    assert!(store.close_advisory(&a.id, "ana", "", 901).await.is_err());
    assert!(store.open_advisory_recipients().await.unwrap().is_empty());
    let after = store
        .record_advisory_action(&a.id, &ods("RRV"), RecipientAction::Update, "rae", "", 950)
        .await;
    assert!(
        matches!(after, Err(StoreError::Invalid(ref m)) if m.contains("closed")),
        "{after:?}"
    );
});

on_both_engines!(reminders_are_queued_once_per_reference, |store| {
    members(&store).await;
    let contact = store
        .add_contact(
            &ods("RRV"),
            NewContact {
                name: "Rae".into(),
                phone: Some("+447700900123".into()),
                email: None,
                role: "security_lead".into(),
            },
        )
        .await
        .unwrap();
    let a = store
        .create_advisory(&content("x"), 2026, "manual", None, "ana", 1)
        .await
        .unwrap();
    store
        .publish_advisory(&a.id, &[ods("RRV")], AdvisoryDeadlines::default(), "ana", 2)
        .await
        .unwrap();
    let msg = |reference: &'static str, at: i64| AdvisoryMessage {
        advisory_id: "HSA-2026-0001",
        org_code: &contact.org_code,
        contact_id: contact.id,
        contact_name: "Rae",
        channel: "sms",
        destination: "+447700900123",
        subject: "[ward] HSA-2026-0001 OVERDUE",
        body: "acknowledge now",
        reference,
        is_reminder: true,
        at,
    };
    let org = ods("RRV");
    let m = AdvisoryMessage {
        org_code: &org,
        ..msg("ward-hsa-2026-0001-rrv-acknowledge-9-overdue-c1-sms", 10)
    };
    assert!(store.queue_advisory_message(&m).await.unwrap());
    assert!(
        !store.queue_advisory_message(&m).await.unwrap(),
        "the same reference is queued once"
    );
    let due = store.due_outbox(i64::MAX, 100).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].incident_id, 0);
    assert_eq!(due[0].destination, "+447700900123");
    let r = store
        .advisory_recipient(&a.id, &org)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.reminders, 1);
    let log = store.advisory_log(&a.id).await.unwrap();
    assert_eq!(log.iter().filter(|e| e.action == "reminder").count(), 1);
});
