//! Incident grouping and dispatch against both storage engines.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ward_alerting::{
    ChannelSet, Dispatcher, DispatcherConfig, IncidentGrouper, IncidentPolicy, RuleHit,
};
use ward_channels::{Channel, ChannelKind, DeliveryOutcome, OutboundMessage};
use ward_model::records::IncidentScope;
use ward_model::{Level, OdsCode, OrgKind};
use ward_storage::{NewContact, Store};
use ward_telemetry::Registry;

macro_rules! on_both_engines {
    ($name:ident, $f:ident) => {
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
                super::$f(ward_storage::Store::connect(&url, 4).await.unwrap()).await;
            }
            #[tokio::test]
            async fn postgres() {
                let db = ward_testkit::PgDatabase::create().await;
                let store = ward_storage::Store::connect(&db.url, 4).await.unwrap();
                super::$f(store.clone()).await;
                store.close().await;
            }
        }
    };
}

const ORGS: [&str; 4] = ["RJ1", "RX2", "RY3", "RZ4"];

async fn federation(store: &Store) {
    for code in ORGS {
        let ods: OdsCode = code.parse().unwrap();
        store
            .create_org(
                &ods,
                &format!("{code} Trust"),
                OrgKind::AcuteTrust,
                "London",
            )
            .await
            .unwrap();
        store
            .add_contact(
                &ods,
                NewContact {
                    name: format!("{code} lead"),
                    phone: Some("+447700900111".into()),
                    email: Some(format!("lead@{code}.example")),
                    role: "security_lead".into(),
                },
            )
            .await
            .unwrap();
    }
}

fn hit(org: &str, host: &str, offset: u64) -> RuleHit {
    RuleHit {
        event_offset: offset,
        org: org.into(),
        received_at_ms: 1,
        host: Some(host.into()),
        event_json: "{\"Image\":\"C:\\\\Windows\\\\tasksche.exe\"}".into(),
        rule_id: "wannacry".into(),
        rule_title: "WannaCry ransomware".into(),
        rule_author: Some("ward".into()),
        level: Level::Critical,
        tags: vec!["attack.t1486".into()],
        matched_fields: serde_json::json!({"Image": "C:\\Windows\\tasksche.exe"}),
    }
}

async fn apply(
    store: &Store,
    g: &IncidentGrouper,
    h: RuleHit,
    now: i64,
) -> ward_alerting::GroupOutcome {
    let mut tx = store.begin_detection_tx().await.unwrap();
    let out = g.apply(&mut tx, &h, now).await.unwrap();
    tx.commit().await.unwrap();
    out
}

async fn grouping_scenario(store: Store) {
    federation(&store).await;
    let g = IncidentGrouper::new(IncidentPolicy::default());
    let t0 = 1_000_000;
    let first = apply(&store, &g, hit("RJ1", "pc1", 0), t0).await;
    assert!(first.opened_local && first.national_incident.is_none());
    assert_eq!(
        first.messages_queued, 2,
        "one SMS and one e-mail to RJ1's lead"
    );
    let again = apply(&store, &g, hit("RJ1", "pc1", 1), t0 + 1000).await;
    assert_eq!(again.local_incident, first.local_incident);
    assert!(!again.opened_local);
    assert_eq!(again.messages_queued, 0);
    let other_host = apply(&store, &g, hit("RJ1", "pc2", 2), t0 + 2000).await;
    assert_ne!(other_host.local_incident, first.local_incident);
    let second_org = apply(&store, &g, hit("RX2", "ws9", 3), t0 + 3000).await;
    assert!(
        second_org.national_incident.is_none(),
        "two organisations are not yet national"
    );
    let third_org = apply(&store, &g, hit("RY3", "srv", 4), t0 + 4000).await;
    let national = third_org
        .national_incident
        .expect("three organisations make it national");
    assert!(third_org.opened_national);
    assert_eq!(
        third_org.messages_queued, 6,
        "the national incident is announced to all three"
    );
    // The fourth organisation joins the same national incident and is told; its own local
    // incident is inhibited.
    let fourth = apply(&store, &g, hit("RZ4", "x", 5), t0 + 5000).await;
    assert_eq!(fourth.national_incident, Some(national));
    assert!(!fourth.opened_national);
    assert_eq!(fourth.messages_queued, 2);
    // A second rule firing at the same organisations is the same outbreak: it joins the
    // national incident, and nobody is told twice.
    for (i, org) in ["RJ1", "RX2", "RY3"].iter().enumerate() {
        let mut h = hit(org, "pc1", 100 + i as u64);
        h.rule_id = "shadow-copies".into();
        h.rule_title = "Volume Shadow Copies Deleted".into();
        h.level = Level::High;
        let out = apply(&store, &g, h, t0 + 5100 + i as i64).await;
        if i < 2 {
            assert!(out.national_incident.is_none());
        } else {
            assert_eq!(
                out.national_incident,
                Some(national),
                "merged into the outbreak"
            );
            assert!(!out.opened_national);
            assert_eq!(out.messages_queued, 0);
        }
    }
    // Outside the national window a new national incident would be needed.
    let later = apply(&store, &g, hit("RJ1", "pc1", 6), t0 + 5000 + 3_600_000).await;
    assert!(later.opened_local);

    let nationals = store
        .list_incidents(None, Some(IncidentScope::National), 10)
        .await
        .unwrap();
    assert_eq!(nationals.len(), 1);
    assert_eq!(nationals[0].organisations, vec!["RJ1", "RX2", "RY3", "RZ4"]);
    assert_eq!(nationals[0].severity, 4);
    assert_eq!(nationals[0].rules, vec!["shadow-copies", "wannacry"]);
    let locals = store
        .list_incidents(None, Some(IncidentScope::Local), 10)
        .await
        .unwrap();
    assert_eq!(
        locals
            .iter()
            .filter(|i| i.parent_id == Some(national))
            .count(),
        8
    );
    assert_eq!(store.count_detections().await.unwrap(), 10);
    let for_rz4 = store
        .list_notifications(Some(&"RZ4".parse().unwrap()), None, 10)
        .await
        .unwrap();
    assert_eq!(for_rz4.len(), 2);
    assert!(for_rz4.iter().all(|n| n.incident_id == national));
    assert!(for_rz4
        .iter()
        .any(|n| n.channel == "sms" && n.body.contains("NATIONAL")));
    let total = store.list_notifications(None, None, 100).await.unwrap();
    // RJ1 pc1, RJ1 pc2, RX2 (local); national to three; RZ4 joining; RJ1 an hour later.
    // The two shadow-copy locals that opened before the merge (RJ1, RX2) were each announced.
    assert_eq!(total.len(), 2 + 2 + 2 + 6 + 2 + 2 + 2 + 2);
    let refs: std::collections::HashSet<_> = total.iter().map(|n| n.reference.clone()).collect();
    assert_eq!(
        refs.len(),
        total.len(),
        "every message has its own reference"
    );
}
on_both_engines!(grouping, grouping_scenario);

/// Fails the first `failures` sends with a retryable outcome, then accepts. A scripted channel
/// is the point here: the dispatcher's retry bookkeeping is under test, not a provider.
struct Flaky {
    failures: usize,
    calls: AtomicUsize,
}

#[async_trait::async_trait]
impl Channel for Flaky {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Sms
    }
    async fn send(&self, _msg: &OutboundMessage) -> DeliveryOutcome {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        if n < self.failures {
            DeliveryOutcome::Retryable {
                reason: "503 from provider".into(),
                retry_after: Some(Duration::ZERO),
            }
        } else {
            DeliveryOutcome::Accepted {
                provider_id: Some(format!("p{n}")),
                http_status: Some(201),
                detail: "ok".into(),
            }
        }
    }
}

async fn dispatch_scenario(store: Store) {
    federation(&store).await;
    let g = IncidentGrouper::new(IncidentPolicy::default());
    apply(
        &store,
        &g,
        hit("RJ1", "pc1", 0),
        ward_model::clock::now_ms(),
    )
    .await;
    let flaky = Arc::new(Flaky {
        failures: 2,
        calls: AtomicUsize::new(0),
    });
    let registry = Arc::new(Registry::default());
    let channels = ChannelSet {
        sms: flaky.clone(),
        email: Arc::new(ward_channels::LogChannel),
        webhook: None,
        mark_uncertain: None,
    };
    let d = Dispatcher::new(
        store.clone(),
        channels,
        DispatcherConfig::default(),
        registry.clone(),
    );
    // First pass: SMS fails (retryable, due again at once), e-mail is logged; the loop picks
    // the SMS up again until it is accepted.
    d.run_once().await.unwrap();
    let all = store.list_notifications(None, None, 10).await.unwrap();
    let sms = all.iter().find(|n| n.channel == "sms").unwrap();
    assert_eq!(sms.status, "sent");
    assert_eq!(sms.attempts, 3);
    assert_eq!(
        sms.attempt_log
            .iter()
            .map(|a| a.outcome.as_str())
            .collect::<Vec<_>>(),
        ["retryable", "retryable", "accepted"]
    );
    assert_eq!(sms.provider_id.as_deref(), Some("p2"));
    let email = all.iter().find(|n| n.channel == "email").unwrap();
    assert_eq!(email.status, "sent");
    assert_eq!(
        registry.counter_value(
            "ward_notifications_attempts_total",
            &[("channel", "sms"), ("outcome", "retryable")]
        ),
        Some(2)
    );
    assert_eq!(d.run_once().await.unwrap(), 0, "nothing left to send");
}
on_both_engines!(dispatch, dispatch_scenario);
