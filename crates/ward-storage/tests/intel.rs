//! Threat intelligence storage, on SQLite and PostgreSQL.

use ward_storage::intel::{
    IndicatorQuery, IntelAccess, IntelCollection, IntelReader, NewIntelObject, ObjectOutcome,
    ObjectQuery, StoredFeed, StoredIndicator, VersionSel, DIST_ALL, DIST_COMMUNITY, DIST_OWN_ORG,
};
use ward_storage::Store;
use ward_testkit::PgDatabase;

#[macro_use]
mod common;

fn access(owner: &str, tlp: i64, dist: i64) -> IntelAccess {
    IntelAccess {
        owner_org: owner.into(),
        tlp,
        distribution: dist,
        sharing_group: None,
        eff_distribution: dist,
        community: "London".into(),
        connected: vec!["South East".into()],
    }
}

fn reader(org: &str, community: &str, lead: bool, machine: bool) -> IntelReader {
    IntelReader {
        central: false,
        org: org.into(),
        lead,
        machine,
        communities: vec![community.into()],
        sharing_groups: vec![],
    }
}

fn central() -> IntelReader {
    IntelReader {
        central: true,
        org: String::new(),
        lead: false,
        machine: false,
        communities: vec![],
        sharing_groups: vec![],
    }
}

fn obj(id: u32, version_ms: i64, a: IntelAccess) -> NewIntelObject {
    let stix_id = format!("indicator--00000000-0000-4000-8000-{id:012}");
    NewIntelObject {
        object: format!("{{\"id\":\"{stix_id}\",\"v\":{version_ms}}}"),
        stix_id,
        stix_type: "indicator".into(),
        spec_version: "2.1".into(),
        version: format!("v{version_ms}"),
        version_ms,
        access: a,
    }
}

async fn coll(store: &Store) {
    store
        .upsert_intel_collection(&IntelCollection {
            id: "c1".into(),
            api_root: "api".into(),
            title: "Indicators".into(),
            description: None,
            alias: Some("indicators".into()),
            write_roles: vec!["central_analyst".into(), "org_lead".into()],
        })
        .await
        .unwrap();
}

fn q(limit: usize) -> ObjectQuery {
    ObjectQuery {
        collection_id: "c1".into(),
        added_after_us: None,
        ids: vec![],
        types: vec![],
        versions: vec![],
        spec_versions: vec![],
        limit,
    }
}

on_both_engines!(objects_versions_and_paging, |store| {
    coll(&store).await;
    let cs = store.list_intel_collections("api").await.unwrap();
    assert_eq!(cs.len(), 1);
    assert_eq!(cs[0].write_roles, vec!["central_analyst", "org_lead"]);
    // 2,500 objects in one call, then a second version of object 7 and a repeat.
    let objs: Vec<_> = (0..2500)
        .map(|i| obj(i, 1000, access("RJ1", 0, DIST_ALL)))
        .collect();
    let out = store.add_intel_objects("c1", &objs).await.unwrap();
    assert!(out.iter().all(|o| *o == ObjectOutcome::Added));
    let out = store
        .add_intel_objects(
            "c1",
            &[
                obj(7, 2000, access("RJ1", 0, DIST_ALL)),
                obj(8, 1000, access("RJ1", 0, DIST_ALL)),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        out,
        vec![ObjectOutcome::Added, ObjectOutcome::AlreadyStored]
    );

    // Pages of 1,000 by the date_added cursor: every latest version exactly once.
    let mut seen = Vec::new();
    let mut after = None;
    let mut pages = 0;
    loop {
        let mut query = q(1000);
        query.added_after_us = after;
        let (items, more) = store.query_intel_objects(&central(), &query).await.unwrap();
        pages += 1;
        assert!(items.windows(2).all(|w| w[0].date_added < w[1].date_added));
        after = items.last().map(|o| o.date_added);
        seen.extend(items);
        if !more {
            break;
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 2500);
    let seven: Vec<_> = seen
        .iter()
        .filter(|o| o.stix_id.ends_with("000000000007"))
        .collect();
    assert_eq!(seven.len(), 1);
    assert_eq!(seven[0].version_ms, 2000);

    // Versions: all, first, a given one.
    let mut query = q(10);
    query.ids = vec![seven[0].stix_id.clone()];
    query.versions = vec![VersionSel::All];
    let (all, _) = store.query_intel_objects(&central(), &query).await.unwrap();
    assert_eq!(
        all.iter().map(|o| o.version_ms).collect::<Vec<_>>(),
        vec![1000, 2000]
    );
    query.versions = vec![VersionSel::First];
    let (first, _) = store.query_intel_objects(&central(), &query).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].version_ms, 1000);
    query.versions = vec![VersionSel::At(2000)];
    let (at, _) = store.query_intel_objects(&central(), &query).await.unwrap();
    assert_eq!(at.len(), 1);
    query.types = vec!["malware".into()];
    let (none, _) = store.query_intel_objects(&central(), &query).await.unwrap();
    assert!(none.is_empty());
});

on_both_engines!(visibility_is_part_of_the_query, |store| {
    coll(&store).await;
    let objs = vec![
        obj(1, 1, access("RJ1", 0, DIST_ALL)),       // CLEAR, all
        obj(2, 1, access("RJ1", 2, DIST_COMMUNITY)), // AMBER, London only
        obj(3, 1, access("RJ1", 4, DIST_OWN_ORG)),   // RED, owner only
        obj(4, 1, access("RJ1", 1, DIST_OWN_ORG)),   // GREEN, owner only
    ];
    store.add_intel_objects("c1", &objs).await.unwrap();
    let ids = |items: Vec<ward_storage::intel::StoredIntelObject>| {
        items
            .iter()
            .map(|o| o.stix_id.chars().last().unwrap())
            .collect::<String>()
    };
    let page = |r: IntelReader| {
        let store = store.clone();
        async move { ids(store.query_intel_objects(&r, &q(100)).await.unwrap().0) }
    };
    assert_eq!(page(central()).await, "1234");
    assert_eq!(page(reader("RJ1", "London", true, false)).await, "1234");
    // The owner's own API key: everything but RED.
    assert_eq!(page(reader("RJ1", "London", false, true)).await, "124");
    // Another London organisation: the community post, not the owner-only ones.
    assert_eq!(page(reader("RYY", "London", true, false)).await, "12");
    // Elsewhere: only what is for everyone.
    assert_eq!(page(reader("RSS", "North", true, false)).await, "1");
    // Connected community (South East) sees the connected-distribution AMBER only when
    // the row says connected; the community one stays in London.
    assert_eq!(page(reader("RZZ", "South East", false, false)).await, "1");
});

fn indicator(id: &str, value: &str, tlp: i64) -> StoredIndicator {
    StoredIndicator {
        indicator_id: id.into(),
        kind: "domain".into(),
        value: value.into(),
        name: Some("phish".into()),
        description: None,
        labels: vec!["phishing".into()],
        access: access("RJ1", tlp, DIST_ALL),
        confidence: 80,
        valid_from: 1_000,
        valid_until: None,
        source: "api".into(),
        last_seen: None,
        sightings: 0,
        false_positives: 0,
        date_added: 0,
        updated_at: 0,
    }
}

on_both_engines!(indicators_reports_and_feeds, |store| {
    let a = indicator("indicator--a", "evil.example", 0);
    let b = indicator("indicator--b", "bad.example", 4);
    let c = store
        .upsert_indicators(&[a.clone(), b.clone()])
        .await
        .unwrap();
    assert_eq!((c.added, c.updated, c.unchanged), (2, 0, 0));
    let c = store
        .upsert_indicators(std::slice::from_ref(&a))
        .await
        .unwrap();
    assert_eq!((c.added, c.updated, c.unchanged), (0, 0, 1));
    let mut a2 = a.clone();
    a2.confidence = 90;
    let c = store.upsert_indicators(&[a2]).await.unwrap();
    assert_eq!((c.added, c.updated, c.unchanged), (0, 1, 0));

    let all = IndicatorQuery {
        limit: 100,
        ..Default::default()
    };
    let (items, more) = store.query_indicators(&central(), &all).await.unwrap();
    assert!(!more);
    assert_eq!(items.len(), 2);
    // The update moved `a` after `b`.
    assert_eq!(items[1].indicator_id, "indicator--a");
    assert_eq!(items[1].confidence, 90);
    assert_eq!(items[1].labels, vec!["phishing"]);
    let (items, _) = store
        .query_indicators(&reader("RSS", "North", false, true), &all)
        .await
        .unwrap();
    assert_eq!(items.len(), 1, "RED is not for a stranger's machine");
    let (items, _) = store
        .query_indicators(
            &central(),
            &IndicatorQuery {
                value_contains: Some("bad".into()),
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(items.len(), 1);

    let before = store.indicators_changed_since(0, 100).await.unwrap();
    let mark = before.iter().map(|i| i.date_added).max().unwrap();
    assert_eq!(
        store
            .report_indicator("indicator--a", false, Some("RJ1"), 3, None, 5_000)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .report_indicator(
                "indicator--a",
                true,
                Some("RJ1"),
                1,
                Some("our test site"),
                6_000
            )
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .report_indicator("indicator--zzz", true, None, 1, None, 0)
            .await
            .unwrap(),
        0
    );
    let changed = store.indicators_changed_since(mark, 100).await.unwrap();
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0].sightings, 3);
    assert_eq!(changed[0].false_positives, 1);
    assert_eq!(changed[0].last_seen, Some(5_000));

    let feed = StoredFeed {
        name: "medallion".into(),
        kind: "taxii".into(),
        url: "http://127.0.0.1:1/taxii2/".into(),
        config: "{}".into(),
        interval_secs: 3600,
        enabled: true,
        state: "{}".into(),
        created_at: 1,
        updated_at: 1,
    };
    store.create_feed(&feed).await.unwrap();
    assert!(store.create_feed(&feed).await.is_err());
    store
        .set_feed_state("medallion", "{\"runs\":1}")
        .await
        .unwrap();
    let got = store.get_feed("medallion").await.unwrap().unwrap();
    assert_eq!(got.state, "{\"runs\":1}");
    assert_eq!(store.list_feeds().await.unwrap().len(), 1);
    assert!(store.set_feed_state("nope", "{}").await.is_err());

    store
        .put_taxii_status("s1", "api", "RJ1", "{\"id\":\"s1\"}")
        .await
        .unwrap();
    assert_eq!(
        store.get_taxii_status("api", "s1").await.unwrap(),
        Some(("RJ1".into(), "{\"id\":\"s1\"}".into()))
    );
    assert_eq!(store.get_taxii_status("api", "s2").await.unwrap(), None);
});
