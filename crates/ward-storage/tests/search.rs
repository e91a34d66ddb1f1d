//! The SQL search index, on SQLite and on PostgreSQL.

use std::collections::HashMap;

use ward_storage::{EventIndex, IndexedEvent, ObservableQuery, SearchQuery, Store, StoreError};
use ward_testkit::PgDatabase;

#[macro_use]
mod common;

const DAY: i64 = 86_400_000;
const NOW: i64 = 1_780_000_000_000;
const MD5: &str = "44d88612fea8a8f36de82e1278abb02f";

fn ev(offset: u64, org: &str, days_ago: i64, host: &str, obs: &[(&str, &str)]) -> IndexedEvent {
    let record = serde_json::json!({
        "seq": offset, "host": host, "msg": format!("event number {offset} from {org}"),
        "observables": obs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(),
    })
    .to_string();
    IndexedEvent {
        offset,
        org: org.to_string(),
        time_ms: NOW - days_ago * DAY + offset as i64,
        received_at_ms: NOW,
        host: Some(host.to_string()),
        class: if obs.is_empty() {
            "process_activity".into()
        } else {
            "network_activity".into()
        },
        format: "test.json".into(),
        parsed: true,
        record: record.into_bytes(),
        observables: obs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

/// Ten events: RJ1 and B82005, spread over 40 days.
fn corpus() -> Vec<IndexedEvent> {
    vec![
        ev(0, "RJ1", 40, "ws-1", &[("ip", "203.0.113.9")]),
        ev(
            1,
            "RJ1",
            20,
            "ws-1",
            &[("ip", "203.0.113.9"), ("domain", "evil.example")],
        ),
        ev(2, "B82005", 10, "gp-1", &[("ip", "203.0.113.9")]),
        ev(3, "B82005", 5, "gp-1", &[("hash", MD5)]),
        ev(
            4,
            "RJ1",
            3,
            "ws-2",
            &[("ip", "198.51.100.7"), ("user", "alice")],
        ),
        ev(5, "RJ1", 2, "ws-2", &[]),
        ev(6, "RJ1", 1, "ws-1", &[("domain", "good.example")]),
        ev(7, "B82005", 1, "gp-2", &[("ip", "198.51.100.200")]),
        ev(8, "RJ1", 0, "ws-3", &[("email", "alice@rj1.example")]),
        ev(
            9,
            "B82005",
            0,
            "gp-1",
            &[("hash", MD5), ("ip", "2001:db8::1")],
        ),
    ]
}

fn last_30_days() -> SearchQuery {
    SearchQuery::between(NOW - 30 * DAY, NOW + DAY)
}

fn by(kind: Option<&str>, value: &str) -> SearchQuery {
    SearchQuery {
        observable: Some(ObservableQuery {
            kind: kind.map(str::to_string),
            value: value.to_string(),
        }),
        ..last_30_days()
    }
}

fn offsets(page: &ward_storage::SearchPage) -> Vec<u64> {
    page.hits.iter().map(|h| h.offset).collect()
}

async fn loaded(store: &Store) {
    let events = corpus();
    store.index_batch("search", &events[..6], 6).await.unwrap();
    assert_eq!(store.indexed_offset("search").await.unwrap(), 6);
    // A replayed batch (crash between the log read and the commit) changes nothing.
    store.index_batch("search", &events[4..], 10).await.unwrap();
    assert_eq!(store.indexed_offset("search").await.unwrap(), 10);
    assert_eq!(store.indexed_event_count().await.unwrap(), 10);
}

on_both_engines!(observable_lookups, |store| {
    loaded(&store).await;
    // The IP in the last 30 days: not the 40-day-old event, newest first, both orgs.
    let page = store.search(&by(Some("ip"), "203.0.113.9")).await.unwrap();
    assert_eq!(offsets(&page), vec![2, 1]);
    assert_eq!(
        page.hits[0].matched,
        Some(("ip".to_string(), "203.0.113.9".to_string()))
    );
    assert_eq!(page.hits[0].org, "B82005");
    assert!(page.hits[0].record.contains("event number 2"));
    // Any kind, upper-case hash, IPv6 in another spelling, domain with a trailing dot.
    let page = store
        .search(&by(None, &MD5.to_ascii_uppercase()))
        .await
        .unwrap();
    assert_eq!(offsets(&page), vec![9, 3]);
    let page = store.search(&by(None, "2001:DB8:0::1")).await.unwrap();
    assert_eq!(offsets(&page), vec![9]);
    let page = store.search(&by(None, "Evil.Example.")).await.unwrap();
    assert_eq!(offsets(&page), vec![1]);
    let page = store.search(&by(None, "alice@RJ1.example")).await.unwrap();
    assert_eq!(offsets(&page), vec![8]);
    // A CIDR block.
    let page = store.search(&by(None, "198.51.100.0/24")).await.unwrap();
    assert_eq!(offsets(&page), vec![7, 4]);
    let too_big = store.search(&by(Some("ip"), "10.0.0.0/8")).await;
    assert!(
        matches!(too_big, Err(StoreError::Invalid(_))),
        "{too_big:?}"
    );
    // Absent value, bad kind, bad value.
    assert!(store
        .search(&by(None, "192.0.2.1"))
        .await
        .unwrap()
        .hits
        .is_empty());
    assert!(matches!(
        store.search(&by(Some("colour"), "red")).await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        store.search(&by(Some("ip"), "not-an-ip")).await,
        Err(StoreError::Invalid(_))
    ));
});

on_both_engines!(filters_and_paging, |store| {
    loaded(&store).await;
    // One organisation only.
    let q = SearchQuery {
        orgs: vec!["RJ1".into()],
        ..by(Some("ip"), "203.0.113.9")
    };
    assert_eq!(offsets(&store.search(&q).await.unwrap()), vec![1]);
    let q = SearchQuery {
        orgs: vec!["B82005".into()],
        ..last_30_days()
    };
    assert_eq!(offsets(&store.search(&q).await.unwrap()), vec![9, 7, 3, 2]);
    // Host and class.
    let q = SearchQuery {
        host: Some("ws-2".into()),
        ..last_30_days()
    };
    assert_eq!(offsets(&store.search(&q).await.unwrap()), vec![5, 4]);
    let q = SearchQuery {
        class: Some("process_activity".into()),
        ..last_30_days()
    };
    assert_eq!(offsets(&store.search(&q).await.unwrap()), vec![5]);
    // Time range: the last 2 days.
    let q = SearchQuery::between(NOW - 2 * DAY + 100, NOW + DAY);
    assert_eq!(offsets(&store.search(&q).await.unwrap()), vec![9, 8, 7, 6]);
    // An empty range is refused.
    assert!(store.search(&SearchQuery::between(NOW, NOW)).await.is_err());
    // Paging: 3 at a time covers the 9 events of the last 30 days exactly once, in order.
    let mut seen = Vec::new();
    let mut q = SearchQuery {
        limit: 3,
        ..last_30_days()
    };
    loop {
        let page = store.search(&q).await.unwrap();
        assert!(page.hits.len() <= 3);
        seen.extend(offsets(&page));
        match page.next_cursor {
            Some(c) => q.cursor = Some(c.to_string().parse().unwrap()),
            None => break,
        }
    }
    assert_eq!(seen, vec![9, 8, 7, 6, 5, 4, 3, 2, 1]);
});

on_both_engines!(free_text, |store| {
    loaded(&store).await;
    let q = SearchQuery {
        text: Some("EVENT NUMBER 4 ".into()),
        ..last_30_days()
    };
    let page = store.search(&q).await.unwrap();
    assert_eq!(offsets(&page), vec![4]);
    assert_eq!(page.scanned, 9);
    assert!(!page.scan_limited);
    // Text within an org: only that org's records are read.
    let q = SearchQuery {
        text: Some("from b82005".into()),
        orgs: vec!["B82005".into()],
        ..last_30_days()
    };
    let page = store.search(&q).await.unwrap();
    assert_eq!(offsets(&page), vec![9, 7, 3, 2]);
    assert_eq!(page.scanned, 4);
    // A scan budget smaller than the candidates stops early and says so, with a cursor that
    // carries on where it stopped.
    let q = SearchQuery {
        text: Some("from rj1".into()),
        text_scan_limit: 3,
        ..last_30_days()
    };
    // Reads 9, 8 and 7 (newest first); only 8 is RJ1's.
    let page = store.search(&q).await.unwrap();
    assert_eq!(offsets(&page), vec![8]);
    assert_eq!(page.scanned, 3);
    assert!(page.scan_limited);
    let q2 = SearchQuery {
        cursor: page.next_cursor,
        ..q
    };
    let page = store.search(&q2).await.unwrap();
    assert_eq!(offsets(&page), vec![6, 5, 4]);
});

on_both_engines!(retro_hunt, |store| {
    loaded(&store).await;
    let iocs = vec![
        ("ip".to_string(), "203.0.113.9".to_string()),
        ("hash".to_string(), MD5.to_ascii_uppercase()),
        ("domain".to_string(), "nothing.example".to_string()),
        ("ip".to_string(), "garbage".to_string()),
    ];
    let hits = store
        .retro_search(&iocs, 30, NOW + 1000, 100)
        .await
        .unwrap();
    let got: Vec<(u64, &str, &str)> = hits
        .iter()
        .map(|h| (h.offset, h.org.as_str(), h.kind.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            (9, "B82005", "hash"),
            (3, "B82005", "hash"),
            (2, "B82005", "ip"),
            (1, "RJ1", "ip")
        ]
    );
    assert_eq!(hits[0].value, MD5);
    // A longer lookback reaches the 40-day-old event; the cap is respected.
    assert_eq!(
        store
            .retro_search(&iocs, 45, NOW + 1000, 100)
            .await
            .unwrap()
            .len(),
        5
    );
    assert_eq!(
        store
            .retro_search(&iocs, 45, NOW + 1000, 2)
            .await
            .unwrap()
            .len(),
        2
    );
});

on_both_engines!(retention_per_member, |store| {
    loaded(&store).await;
    // Default 30 days; RJ1 keeps 2 days, B82005 keeps 7.
    let per_org: HashMap<String, u32> = [("RJ1".to_string(), 2), ("B82005".to_string(), 7)]
        .into_iter()
        .collect();
    let removed = store.prune(30, &per_org, NOW).await.unwrap();
    // RJ1 loses events 0, 1 and 4 (older than 2 days); B82005 loses 2 (older than 7).
    let left = offsets(
        &store
            .search(&SearchQuery::between(0, NOW + DAY))
            .await
            .unwrap(),
    );
    assert_eq!(left, vec![9, 8, 7, 6, 5, 3]);
    assert_eq!(removed, 4);
    // Observables went with their events: the IP of event 1 and 2 is gone.
    assert!(store
        .search(&by(Some("ip"), "203.0.113.9"))
        .await
        .unwrap()
        .hits
        .is_empty());
    // An organisation without its own setting falls back to the default.
    store
        .index_batch(
            "search",
            &[ev(10, "RXX", 31, "x", &[("ip", "192.0.2.1")])],
            11,
        )
        .await
        .unwrap();
    assert_eq!(store.prune(30, &per_org, NOW).await.unwrap(), 1);
});
