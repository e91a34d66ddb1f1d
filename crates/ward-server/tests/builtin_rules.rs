//! ward's built-in rules against the outbreak scenario the demo replays.

use ward_detect::{Engine, EngineConfig};

#[test]
fn builtin_rules_all_load() {
    let sources: Vec<(String, String)> = ward_server::BUILTIN_RULES
        .iter()
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect();
    let report = Engine::from_sources(&sources, &EngineConfig::default());
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.loaded, ward_server::BUILTIN_RULES.len());
}

#[test]
fn the_outbreak_is_detected_and_ordinary_activity_is_not() {
    let sources: Vec<(String, String)> = ward_server::BUILTIN_RULES
        .iter()
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect();
    let engine = Engine::from_sources(&sources, &EngineConfig::default()).engine;
    let orgs = ward_scenario::federation();
    let mut rules_seen = std::collections::BTreeSet::new();
    for ev in ward_scenario::outbreak(&orgs, 1) {
        let hits = engine.evaluate(&ev.event);
        if ev.malicious {
            assert!(
                !hits.is_empty(),
                "missed attack event from {}: {}",
                ev.org,
                ev.event
            );
            rules_seen.extend(hits.iter().map(|h| h.title.clone()));
        } else {
            assert!(hits.is_empty(), "false positive {:?} on {}", hits, ev.event);
        }
    }
    assert_eq!(
        rules_seen.len(),
        5,
        "every built-in rule fires on the outbreak: {rules_seen:?}"
    );
}
