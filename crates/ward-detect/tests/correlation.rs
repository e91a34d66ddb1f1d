//! Correlation rules: every type, sliding windows, group-by, aliases,
//! chaining, generate, organisation scope, memory bound and restart.

mod common;

use std::sync::Arc;

use serde_json::{json, Value};
use ward_detect::{
    CorrelationType, Correlator, CorrelatorLimits, CorrelatorState, Engine, EngineConfig,
};

const BASE: &str = r#"
title: Failed logon
id: failed-logon
name: failed_login
logsource: {product: windows, service: security}
detection:
  sel: {EventID: 4625}
  condition: sel
level: low
---
title: Successful logon
id: ok-logon
name: successful_login
logsource: {product: windows, service: security}
detection:
  sel: {EventID: 4624}
  condition: sel
---
title: Web access
id: web
name: website_access
logsource: {category: proxy}
detection:
  sel: {cs-method: '*'}
  condition: sel
"#;

fn engine(correlation: &str) -> Engine {
    let r = Engine::from_sources(
        &[
            ("base.yml".into(), BASE.into()),
            ("corr.yml".into(), correlation.into()),
        ],
        &EngineConfig::default(),
    );
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    r.engine
}

fn logon(id: u32, user: &str, ip: &str) -> Value {
    json!({"Channel": "Security", "EventID": id, "TargetUserName": user, "IpAddress": ip, "Computer": "dc01"})
}

/// Feed one event; return the fired correlation ids.
fn feed(e: &Engine, c: &mut Correlator, org: &str, t_ms: i64, ev: &Value) -> Vec<String> {
    let d = e.evaluate(ev);
    c.process(org, t_ms, ev, &d)
        .into_iter()
        .map(|a| a.detection.rule_id)
        .collect()
}

const COUNT: &str = r#"
title: Brute force
id: brute
correlation:
  type: event_count
  rules: [failed_login]
  group-by: [TargetUserName]
  timespan: 10m
  condition: {gte: 5}
level: high
"#;

#[test]
fn event_count_slides_and_groups() {
    let e = Arc::new(engine(COUNT));
    let mut c = Correlator::new(e.clone(), CorrelatorLimits::default());
    // Four failures for bob, one for alice: nothing.
    for i in 0..4 {
        assert!(feed(&e, &mut c, "RXX", i * 1000, &logon(4625, "bob", "1.1.1.1")).is_empty());
    }
    assert!(feed(&e, &mut c, "RXX", 5000, &logon(4625, "alice", "1.1.1.1")).is_empty());
    // The fifth for bob within 10 minutes fires, once.
    assert_eq!(
        feed(&e, &mut c, "RXX", 6000, &logon(4625, "bob", "1.1.1.1")),
        vec!["brute"]
    );
    assert!(feed(&e, &mut c, "RXX", 7000, &logon(4625, "bob", "1.1.1.1")).is_empty());

    // Sliding window: one failure every 3 minutes never has 5 within 10.
    let mut c = Correlator::new(e.clone(), CorrelatorLimits::default());
    for i in 0..20 {
        let t = i * 3 * 60_000;
        assert!(
            feed(&e, &mut c, "RXX", t, &logon(4625, "carol", "x")).is_empty(),
            "{i}"
        );
    }
    // ... but it slides, not buckets: 5 events straddling a 10-minute
    // boundary (minutes 8..12) fire.
    let mut c = Correlator::new(e.clone(), CorrelatorLimits::default());
    let mut fired = Vec::new();
    for m in [8, 9, 10, 11, 12] {
        fired.extend(feed(
            &e,
            &mut c,
            "RXX",
            m * 60_000,
            &logon(4625, "dave", "x"),
        ));
    }
    assert_eq!(fired, vec!["brute"]);
}

#[test]
fn organisations_are_separate_by_default_and_joined_in_federation_scope() {
    let e = Arc::new(engine(COUNT));
    let mut c = Correlator::new(e.clone(), CorrelatorLimits::default());
    for (i, org) in ["A", "B", "C", "D", "E"].iter().enumerate() {
        assert!(feed(&e, &mut c, org, i as i64, &logon(4625, "admin", "x")).is_empty());
    }
    let fed = r#"
title: Same source at many organisations
id: campaign
scope: federation
correlation:
  type: value_count
  rules: [failed_login]
  group-by: [IpAddress]
  timespan: 10m
  condition: {field: ward.org, gte: 3}
level: critical
"#;
    let e = Arc::new(engine(fed));
    let mut c = Correlator::new(e.clone(), CorrelatorLimits::default());
    assert!(feed(&e, &mut c, "RA1", 0, &logon(4625, "a", "203.0.113.9")).is_empty());
    assert!(feed(&e, &mut c, "RA1", 1, &logon(4625, "b", "203.0.113.9")).is_empty());
    assert!(feed(&e, &mut c, "RB2", 2, &logon(4625, "c", "203.0.113.9")).is_empty());
    let d = e.evaluate(&logon(4625, "d", "203.0.113.9"));
    let alerts = c.process("RC3", 3, &logon(4625, "d", "203.0.113.9"), &d);
    assert_eq!(alerts.len(), 1);
    let a = &alerts[0];
    assert_eq!(a.org, None);
    assert_eq!(a.orgs, vec!["RA1", "RB2", "RC3"]);
    assert_eq!(a.value, 3.0);
    assert_eq!(a.detection.matched_fields[0].field, "IpAddress");
    assert_eq!(a.detection.matched_fields[0].value, "203.0.113.9");
}

#[test]
fn value_count_sum_avg_percentile() {
    let vc = r#"
title: Password spray
id: spray
correlation:
  type: value_count
  rules: [failed_login]
  group-by: [IpAddress]
  timespan: 5m
  condition: {field: TargetUserName, gte: 3}
"#;
    let e = Arc::new(engine(vc));
    let mut c = Correlator::new(e.clone(), CorrelatorLimits::default());
    assert!(feed(&e, &mut c, "O", 0, &logon(4625, "a", "ip")).is_empty());
    assert!(feed(&e, &mut c, "O", 1, &logon(4625, "a", "ip")).is_empty());
    assert!(feed(&e, &mut c, "O", 2, &logon(4625, "b", "ip")).is_empty());
    assert_eq!(
        feed(&e, &mut c, "O", 3, &logon(4625, "c", "ip")),
        vec!["spray"]
    );

    let web = |bytes: u64| json!({"cs-method": "POST", "c-uri": "/u", "cs-host": "x.example", "c-ip": "10.0.0.1", "bytes": bytes});
    for (kind, cond, series, fire_at) in [
        (
            "value_sum",
            "{field: bytes, gt: 1000}",
            vec![400, 400, 400],
            Some(2),
        ),
        (
            "value_avg",
            "{field: bytes, gte: 500}",
            vec![100, 900, 600],
            Some(2),
        ),
        (
            "value_avg",
            "{field: bytes, gte: 500}",
            vec![100, 100, 100],
            None,
        ),
    ] {
        let text = format!(
            "title: T\nid: vs\ncorrelation:\n  type: {kind}\n  rules: [website_access]\n  group-by: [c-ip]\n  timespan: 1h\n  condition: {cond}\n"
        );
        let e = Arc::new(engine(&text));
        let mut c = Correlator::new(e.clone(), CorrelatorLimits::default());
        let mut fired = None;
        for (i, b) in series.iter().enumerate() {
            if !feed(&e, &mut c, "O", i as i64, &web(*b)).is_empty() {
                fired = Some(i);
            }
        }
        assert_eq!(fired, fire_at, "{kind} {series:?}");
    }

    // value_percentile: this host's value is rarer than 25% of its window.
    let pct = r#"
title: Rare logon account
id: rare
correlation:
  type: value_percentile
  rules: [successful_login]
  group-by: [Computer]
  timespan: 1d
  condition: {field: TargetUserName, lte: 20}
"#;
    let e = Arc::new(engine(pct));
    let mut c = Correlator::new(e.clone(), CorrelatorLimits::default());
    let mut fired = Vec::new();
    for i in 0..9 {
        fired.extend(feed(&e, &mut c, "O", i, &logon(4624, "svc", "x")));
    }
    assert!(fired.is_empty());
    assert_eq!(
        feed(&e, &mut c, "O", 10, &logon(4624, "intruder", "x")),
        vec!["rare"]
    );
}

#[test]
fn temporal_and_ordered_with_aliases() {
    let t = r#"
title: Fail then success, any order
id: temporal
correlation:
  type: temporal
  rules: [failed_login, successful_login]
  group-by: [user]
  aliases:
    user:
      failed_login: TargetUserName
      successful_login: TargetUserName
  timespan: 5m
"#;
    let e = Arc::new(engine(t));
    let mut c = Correlator::new(e.clone(), CorrelatorLimits::default());
    assert!(feed(&e, &mut c, "O", 0, &logon(4624, "eve", "x")).is_empty());
    assert!(feed(&e, &mut c, "O", 1, &logon(4625, "mallory", "x")).is_empty());
    assert_eq!(
        feed(&e, &mut c, "O", 2, &logon(4625, "eve", "x")),
        vec!["temporal"]
    );

    let o = t
        .replace("type: temporal", "type: temporal_ordered")
        .replace("id: temporal", "id: ordered");
    let e = Arc::new(engine(&o));
    let mut c = Correlator::new(e.clone(), CorrelatorLimits::default());
    // Success before failure: wrong order.
    assert!(feed(&e, &mut c, "O", 0, &logon(4624, "eve", "x")).is_empty());
    assert!(feed(&e, &mut c, "O", 1, &logon(4625, "eve", "x")).is_empty());
    // Now a success after the failure.
    assert_eq!(
        feed(&e, &mut c, "O", 2, &logon(4624, "eve", "x")),
        vec!["ordered"]
    );
    // Outside the timespan: no.
    let mut c = Correlator::new(e.clone(), CorrelatorLimits::default());
    assert!(feed(&e, &mut c, "O", 0, &logon(4625, "eve", "x")).is_empty());
    assert!(feed(&e, &mut c, "O", 6 * 60_000, &logon(4624, "eve", "x")).is_empty());
}

#[test]
fn spec_chained_example_and_generate() {
    let path = common::shared_data()
        .join("sigma/correlation-examples/sigma-specification/spec_example_failed_logins_then_success.yml");
    let r = Engine::load_dir(&path, &EngineConfig::default());
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(r.loaded, 4);
    let e = Arc::new(r.engine);
    assert_eq!(e.correlations().len(), 2);
    assert_eq!(e.correlations()[0].kind, CorrelationType::TemporalOrdered);
    // Referenced rules do not alert on their own (generate defaults to false).
    assert!(!e.generates("53ba33fd-3a50-4468-a5ef-c583635cfa92"));
    let mut c = Correlator::new(e.clone(), CorrelatorLimits::default());
    let ev = |id: u32| json!({"Channel": "Security", "EventID": id, "User": "bob"});
    let mut fired = Vec::new();
    for i in 0..10 {
        fired.extend(feed(&e, &mut c, "O", i * 1000, &ev(4625)));
    }
    // The tenth failure fires the event_count correlation.
    assert_eq!(fired, vec!["a8418a5a-5fc4-46b5-b23b-6c73beb19d41"]);
    // A success then completes the chained temporal_ordered correlation.
    assert_eq!(
        feed(&e, &mut c, "O", 20_000, &ev(4624)),
        vec!["b180ead8-d58f-40b2-ae54-c8940995b9b6"]
    );
    // With generate: true the referenced rule alerts too.
    let g = COUNT.replace(
        "  condition: {gte: 5}",
        "  condition: {gte: 5}\n  generate: true",
    );
    let e = Arc::new(engine(&g));
    assert!(e.generates("failed-logon"));
    assert!(engine(COUNT).generates("ok-logon"));
    assert!(!engine(COUNT).generates("failed-logon"));
}

#[test]
fn memory_is_bounded_and_evictions_counted() {
    let e = Arc::new(engine(COUNT));
    let limits = CorrelatorLimits {
        max_groups: 100,
        max_entries: 150,
        max_entries_per_group: 3,
    };
    let mut c = Correlator::new(e.clone(), limits);
    for i in 0..10_000 {
        let user = format!("user{i}");
        feed(&e, &mut c, "O", i, &logon(4625, &user, "x"));
        let s = c.stats();
        assert!(s.groups <= 100 && s.entries <= 150, "{s:?}");
    }
    let s = c.stats();
    assert_eq!(s.evicted_groups, 9_900);
    // One group over its per-group bound: oldest entries dropped, counted.
    let limits = CorrelatorLimits {
        max_entries_per_group: 3,
        ..CorrelatorLimits::default()
    };
    let mut c = Correlator::new(e.clone(), limits);
    for i in 0..10 {
        assert!(feed(&e, &mut c, "O", i, &logon(4625, "bob", "x")).is_empty());
    }
    assert_eq!(c.stats().evicted_entries, 7);
}

#[test]
fn state_survives_a_restart() {
    let e = Arc::new(engine(COUNT));
    let mut c = Correlator::new(e.clone(), CorrelatorLimits::default());
    for i in 0..4 {
        assert!(feed(&e, &mut c, "O", i, &logon(4625, "bob", "x")).is_empty());
    }
    let saved = serde_json::to_string(&c.snapshot()).unwrap();
    drop(c);
    // A new process: new engine, state restored from disk.
    let e2 = Arc::new(engine(COUNT));
    let state: CorrelatorState = serde_json::from_str(&saved).unwrap();
    let mut c2 = Correlator::restore(e2.clone(), CorrelatorLimits::default(), state).unwrap();
    assert_eq!(c2.stats().entries, 4);
    assert_eq!(
        feed(&e2, &mut c2, "O", 5, &logon(4625, "bob", "x")),
        vec!["brute"]
    );
}

#[test]
fn hayabusa_correlations_load_and_fire() {
    let dir = common::shared_data().join("sigma/correlation-examples/hayabusa-rules");
    let r = Engine::load_dir(&dir, &EngineConfig::default());
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(r.engine.correlations().len(), 3);
    let e = Arc::new(r.engine);
    let mut c = Correlator::new(e.clone(), CorrelatorLimits::default());
    let mut fired = Vec::new();
    for (i, user) in ["a", "b", "c", "d", "e"].iter().enumerate() {
        let ev = json!({"Event": {"System": {"Channel": "Security", "EventID": 4648, "Computer": "ws1"},
            "EventData": {"IpAddress": "10.1.1.1", "TargetUserName": user}}});
        fired.extend(feed(&e, &mut c, "O", i as i64 * 1000, &ev));
    }
    assert_eq!(fired, vec!["49d15187-4203-4e11-8acd-8736f25b6608"]);
}
