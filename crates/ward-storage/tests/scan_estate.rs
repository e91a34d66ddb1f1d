//! Scan scopes with their audit, runs and refusals, the findings lifecycle, assets,
//! vulnerability records, feed state and draft advisory requests — on both engines.

use serde_json::json;
use ward_model::{OdsCode, OrgKind};
use ward_storage::{
    FindingFilter, FindingIdentity, NewRefusal, ObservedFinding, Store, StoreError,
};
use ward_testkit::PgDatabase;

#[macro_use]
mod common;

fn ods(s: &str) -> OdsCode {
    s.parse().unwrap()
}

async fn org(store: &Store, code: &str) {
    store
        .create_org(&ods(code), "Trust", OrgKind::AcuteTrust, "London")
        .await
        .unwrap();
}

fn spec(id: &str, member: &str, cidr: &str) -> serde_json::Value {
    json!({"id": id, "member": member, "cidrs": [cidr], "windows": [], "allowed_checks": ["smb"],
           "max_rate_per_sec": 10, "authorised_by": "Head of IT", "authorised_at": "2026-11-01T00:00:00Z"})
}

fn seen(addr: &str, port: Option<u16>, check: &str, at: i64) -> ObservedFinding {
    ObservedFinding {
        scope_id: "s1".into(),
        host: addr.into(),
        identity: FindingIdentity {
            address: addr.into(),
            port,
            check: check.into(),
            subject: String::new(),
        },
        title: check.into(),
        severity: "high".into(),
        evidence: json!({"summary": format!("{check} at {at}")}),
        observed_at: at,
    }
}

on_both_engines!(scopes_are_audited, |store| {
    org(&store, "RXH").await;
    let s = store
        .create_scan_scope(
            "s1",
            &ods("RXH"),
            &spec("s1", "RXH", "10.0.0.0/24"),
            Some(&json!({"every_secs": 60})),
            Some(1_000),
            "ana",
            100,
        )
        .await
        .unwrap();
    assert_eq!(s.next_run_at, Some(1_000));
    let dup = store
        .create_scan_scope(
            "s1",
            &ods("RXH"),
            &spec("s1", "RXH", "10.0.0.0/24"),
            None,
            None,
            "ana",
            101,
        )
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
    let missing = store
        .create_scan_scope(
            "s2",
            &ods("ZZZ"),
            &spec("s2", "ZZZ", "10.0.0.0/24"),
            None,
            None,
            "ana",
            101,
        )
        .await;
    assert!(
        matches!(missing, Err(StoreError::NotFound(_))),
        "{missing:?}"
    );
    store
        .update_scan_scope(
            "s1",
            &spec("s1", "RXH", "10.0.1.0/24"),
            None,
            None,
            "bob",
            200,
        )
        .await
        .unwrap();
    assert_eq!(
        store.get_scan_scope("s1").await.unwrap().unwrap().spec["cidrs"][0],
        "10.0.1.0/24"
    );
    assert!(
        store.due_scan_scopes(5_000).await.unwrap().is_empty(),
        "the update removed the schedule"
    );
    store.set_scope_next_run("s1", Some(4_000)).await.unwrap();
    assert_eq!(store.due_scan_scopes(5_000).await.unwrap().len(), 1);
    assert!(store.due_scan_scopes(3_999).await.unwrap().is_empty());
    store.delete_scan_scope("s1", "carol", 300).await.unwrap();
    assert!(store.get_scan_scope("s1").await.unwrap().is_none());
    let audit = store.scan_scope_audit("s1").await.unwrap();
    let actions: Vec<(&str, &str)> = audit
        .iter()
        .map(|a| (a.action.as_str(), a.actor.as_str()))
        .collect();
    assert_eq!(
        actions,
        [("create", "ana"), ("update", "bob"), ("delete", "carol")]
    );
    assert!(audit[0].before.is_none());
    assert_eq!(
        audit[1].before.as_ref().unwrap()["spec"]["cidrs"][0],
        "10.0.0.0/24"
    );
    assert_eq!(
        audit[1].after.as_ref().unwrap()["spec"]["cidrs"][0],
        "10.0.1.0/24"
    );
    assert!(audit[2].after.is_none());
    assert!(matches!(
        store.delete_scan_scope("s1", "x", 1).await,
        Err(StoreError::NotFound(_))
    ));
});

on_both_engines!(runs_refusals_and_findings_lifecycle, |store| {
    org(&store, "RXH").await;
    let scope = store
        .create_scan_scope(
            "s1",
            &ods("RXH"),
            &spec("s1", "RXH", "10.0.0.0/24"),
            None,
            None,
            "ana",
            1,
        )
        .await
        .unwrap();
    let run = store
        .create_scan_run(&scope, "manual", "ana", &json!({"targets": []}), 10)
        .await
        .unwrap();
    assert_eq!(run.status, "queued");
    store.mark_scan_run_running(run.id, 11).await.unwrap();
    store
        .record_scan_refusals(
            &run,
            &[NewRefusal {
                target: "10.9.9.9".into(),
                code: "SCAN-R005".into(),
                reason: "outside".into(),
                at: 12,
            }],
        )
        .await
        .unwrap();
    assert_eq!(
        store.list_scan_refusals(run.id).await.unwrap()[0].code,
        "SCAN-R005"
    );

    // First scan: two findings open.
    let a = store
        .apply_scan_findings(
            "RXH",
            run.id,
            20,
            &[
                seen("10.0.0.1", Some(445), "smb.v1", 20),
                seen("10.0.0.1", None, "eol.os", 20),
            ],
            &[],
            &[],
        )
        .await
        .unwrap();
    assert_eq!(a.opened.len(), 2);
    assert_eq!(a.opened[0].port, Some(445));
    assert_eq!(a.opened[1].port, None);
    store
        .set_finding_incident(a.opened[0].id, 77)
        .await
        .unwrap();
    let keys = store.unfixed_finding_identities("RXH").await.unwrap();
    assert_eq!(keys.len(), 2);

    // Second scan: SMBv1 seen again, the EOL finding gone → fixed.
    let b = store
        .apply_scan_findings(
            "RXH",
            run.id,
            30,
            &[],
            &[seen("10.0.0.1", Some(445), "smb.v1", 30)],
            &[keys[1].clone()],
        )
        .await
        .unwrap();
    assert_eq!((b.opened.len(), b.seen_again, b.fixed), (0, 1, 1));
    let f = store.get_finding(a.opened[0].id).await.unwrap().unwrap();
    assert_eq!(
        (f.first_seen, f.last_seen, f.status.as_str(), f.incident_id),
        (20, 30, "open", Some(77))
    );
    let fixed = store
        .list_findings(&FindingFilter {
            status: Some("fixed".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(fixed.len(), 1);
    assert_eq!(
        (fixed[0].check.as_str(), fixed[0].fixed_at),
        ("eol.os", Some(30))
    );
    assert_eq!(
        store.unfixed_finding_identities("RXH").await.unwrap().len(),
        1
    );

    // Risk acceptance needs an expiry, and expires.
    assert!(store
        .set_finding_status(f.id, "risk_accepted", None, "lee")
        .await
        .is_err());
    let acc = store
        .set_finding_status(f.id, "risk_accepted", Some(1_000), "lee")
        .await
        .unwrap();
    assert_eq!(
        (acc.status.as_str(), acc.accepted_by.as_deref()),
        ("risk_accepted", Some("lee"))
    );
    assert_eq!(store.expire_risk_acceptances(999).await.unwrap(), 0);
    assert_eq!(store.expire_risk_acceptances(1_001).await.unwrap(), 1);
    assert_eq!(
        store.get_finding(f.id).await.unwrap().unwrap().status,
        "open"
    );
    assert!(
        store
            .set_finding_status(fixed[0].id, "open", None, "lee")
            .await
            .is_err(),
        "a fixed finding is reopened only by a scan"
    );

    // The fixed one seen again is reopened as new.
    let c = store
        .apply_scan_findings(
            "RXH",
            run.id,
            40,
            &[seen("10.0.0.1", None, "eol.os", 40)],
            &[],
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        (c.opened.len(), c.opened[0].id, c.opened[0].status.as_str()),
        (1, fixed[0].id, "open")
    );
    assert_eq!(c.opened[0].fixed_at, None);

    store
        .finish_scan_run(
            run.id,
            "done",
            50,
            Some(&json!({"ports_done": 3})),
            Some(&json!({"hosts": 1})),
            None,
        )
        .await
        .unwrap();
    let r = store.get_scan_run(run.id).await.unwrap().unwrap();
    assert_eq!(
        (r.status.as_str(), r.started_at, r.finished_at),
        ("done", Some(11), Some(50))
    );
    assert_eq!(r.progress.unwrap()["ports_done"], 3);
    let queued = store
        .create_scan_run(&scope, "schedule", "scheduler", &json!({}), 60)
        .await
        .unwrap();
    assert_eq!(store.interrupt_unfinished_scan_runs(70).await.unwrap(), 1);
    assert_eq!(
        store.get_scan_run(queued.id).await.unwrap().unwrap().status,
        "interrupted"
    );
    assert_eq!(
        store
            .list_scan_runs(Some(&ods("RXH")), Some("s1"), 10)
            .await
            .unwrap()
            .len(),
        2
    );
    assert!(store
        .list_scan_runs(Some(&ods("RXA")), None, 10)
        .await
        .unwrap()
        .is_empty());
});

on_both_engines!(estate_vulns_feeds_and_drafts, |store| {
    org(&store, "RXA").await;
    store
        .upsert_asset(
            "RXA",
            "pc-1",
            &json!({"org": "RXA", "asset_id": "pc-1"}),
            "csv",
            1,
        )
        .await
        .unwrap();
    store
        .upsert_asset(
            "RXA",
            "pc-1",
            &json!({"org": "RXA", "asset_id": "pc-1", "os_name": "Windows 7"}),
            "api",
            2,
        )
        .await
        .unwrap();
    let missing = store
        .upsert_asset("ZZZ", "pc-1", &json!({}), "api", 2)
        .await;
    assert!(missing.is_err(), "an asset needs a registered organisation");
    let assets = store.list_assets(Some("RXA")).await.unwrap();
    assert_eq!(assets.len(), 1);
    assert_eq!(
        (
            assets[0].source.as_str(),
            assets[0].body["os_name"].as_str()
        ),
        ("api", Some("Windows 7"))
    );
    store.delete_asset("RXA", "pc-1").await.unwrap();
    assert!(store.list_assets(None).await.unwrap().is_empty());

    let recs = vec![
        ("CVE-1".to_string(), "{\"a\":1}".to_string()),
        ("CVE-2".to_string(), "{}".to_string()),
    ];
    assert_eq!(
        store.put_vuln_records("nvd", &recs, 1).await.unwrap(),
        (2, 0)
    );
    let again = vec![
        ("CVE-1".to_string(), "{\"a\":2}".to_string()),
        ("CVE-2".to_string(), "{}".to_string()),
    ];
    assert_eq!(
        store.put_vuln_records("nvd", &again, 2).await.unwrap(),
        (0, 1)
    );
    assert_eq!(
        store
            .get_vuln_record("nvd", "CVE-1")
            .await
            .unwrap()
            .as_deref(),
        Some("{\"a\":2}")
    );
    assert_eq!(store.all_vuln_records().await.unwrap().len(), 2);

    store
        .put_feed_state("kev", &json!({"runs": 1}), 1)
        .await
        .unwrap();
    store
        .put_feed_state("kev", &json!({"runs": 2}), 2)
        .await
        .unwrap();
    assert_eq!(
        store.feed_states().await.unwrap(),
        vec![("kev".to_string(), json!({"runs": 2}))]
    );

    let d = store
        .insert_advisory_draft(
            "CVE-2017-0144",
            "EternalBlue",
            &["RXA".to_string()],
            &json!({"k": 1}),
            5,
        )
        .await
        .unwrap();
    assert!(d.is_some());
    assert!(store
        .insert_advisory_draft("CVE-2017-0144", "again", &[], &json!({}), 6)
        .await
        .unwrap()
        .is_none());
    let all = store.list_advisory_drafts().await.unwrap();
    assert_eq!(
        (all.len(), all[0].members.clone(), all[0].status.as_str()),
        (1, vec!["RXA".to_string()], "draft")
    );
});
