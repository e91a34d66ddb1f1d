//! Every SigmaHQ rule loads, or is refused with a reason.

mod common;

use std::collections::BTreeMap;

use ward_detect::{Engine, EngineConfig};

#[test]
fn sigmahq_rules_load() {
    let base = common::shared_data().join("sigma");
    let mut loaded = BTreeMap::new();
    let mut errors = Vec::new();
    for dir in [
        "rules",
        "rules-emerging-threats",
        "rules-threat-hunting",
        "correlation-examples",
    ] {
        let r = Engine::load_dir(&base.join(dir), &EngineConfig::default());
        assert_eq!(r.loaded, r.engine.rule_count());
        loaded.insert(dir, r.loaded);
        errors.extend(r.errors);
    }
    for e in &errors {
        println!("{e}");
    }
    assert_eq!(loaded["rules"], 3141);
    assert_eq!(loaded["rules-emerging-threats"], 471);
    assert_eq!(loaded["rules-threat-hunting"], 140);
    // The only refusals: rules whose placeholders are not configured, named.
    let placeholder: Vec<_> = errors
        .iter()
        .filter(|e| e.code == "unconfigured-placeholder")
        .collect();
    assert_eq!(placeholder.len(), 2);
    assert!(placeholder
        .iter()
        .all(|e| e.message.contains("%known_cdcs%")));
    // Correlation rules: not yet supported, refused loudly.
    let other: Vec<_> = errors
        .iter()
        .filter(|e| e.code != "unconfigured-placeholder" && e.code != "correlation-unsupported")
        .collect();
    assert!(other.is_empty(), "{other:?}");
}
