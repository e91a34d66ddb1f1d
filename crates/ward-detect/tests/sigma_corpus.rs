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
    // The specification's correlation fragments reference rules that exist
    // nowhere; they are refused, named, for exactly that reason.
    let unresolved: Vec<_> = errors
        .iter()
        .filter(|e| e.code == "unresolved-rule-reference")
        .collect();
    assert_eq!(unresolved.len(), 8, "{unresolved:#?}");
    assert!(unresolved
        .iter()
        .all(|e| e.file.to_string_lossy().contains("sigma-specification")));
    let other: Vec<_> = errors
        .iter()
        .filter(|e| e.code != "unconfigured-placeholder" && e.code != "unresolved-rule-reference")
        .collect();
    assert!(other.is_empty(), "{other:?}");
    assert_eq!(loaded["correlation-examples"], 4 + 6);
}

/// Each specification fragment loads once the rules it names exist.
#[test]
fn spec_correlation_fragments_load_with_their_rules() {
    let dir = common::shared_data().join("sigma/correlation-examples/sigma-specification");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "yml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let first =
            Engine::from_sources(&[("f.yml".into(), text.clone())], &EngineConfig::default());
        let missing: Vec<String> = first
            .errors
            .iter()
            .filter(|e| e.code == "unresolved-rule-reference")
            .flat_map(|e| {
                e.message
                    .rsplit(": ")
                    .next()
                    .unwrap()
                    .split(", ")
                    .map(String::from)
                    .collect::<Vec<_>>()
            })
            .collect();
        let mut stubs = String::new();
        for (i, m) in missing.iter().enumerate() {
            stubs.push_str(&format!(
                "---\ntitle: stub {i}\nid: {m}\nname: {m}\nlogsource: {{product: windows}}\ndetection:\n  sel: {{EventID: {i}}}\n  condition: sel\n"
            ));
        }
        let r = Engine::from_sources(
            &[("f.yml".into(), text), ("stubs.yml".into(), stubs)],
            &EngineConfig::default(),
        );
        assert!(r.errors.is_empty(), "{}: {:?}", path.display(), r.errors);
        assert!(!r.engine.correlations().is_empty());
        n += 1;
    }
    assert_eq!(n, 9);
}

/// Legacy `| count()` aggregations in unsupported/ are translated into
/// correlations where that is exact, and otherwise refused, saying so.
#[test]
fn legacy_aggregations_are_translated_or_refused_with_reason() {
    let dir = common::shared_data().join("sigma/unsupported");
    let r = Engine::load_dir(&dir, &EngineConfig::default());
    let mut codes: BTreeMap<&str, usize> = BTreeMap::new();
    for e in &r.errors {
        *codes.entry(e.code).or_default() += 1;
        if e.code == "legacy-aggregation" {
            assert!(e.message.contains("correlation rule"), "{e}");
        }
    }
    println!("loaded {} {codes:?}", r.loaded);
    let translated = r.engine.correlations().len();
    assert_eq!(translated, 35);
    assert_eq!(codes.get("legacy-aggregation"), Some(&19), "{codes:?}");
    assert_eq!(codes.get("pseudo-condition"), Some(&3), "{codes:?}");
    assert_eq!(codes.get("rule-collection"), Some(&3), "{codes:?}");
    assert_eq!(codes.len(), 3, "{codes:?}");
    // Every file is accounted for: 27 plain rules, 35 translated (a base
    // rule and a correlation each), the rest refused with their reason.
    assert_eq!(r.loaded, 27 + 2 * translated);
    assert_eq!(27 + translated + r.errors.len(), 87);
}

#[test]
fn a_translated_legacy_count_fires_as_a_correlation() {
    use std::sync::Arc;
    use ward_detect::{CorrelationType, Correlator, CorrelatorLimits};
    let rule = "title: Many failed logons\nid: legacy-1\nlogsource: {product: windows, service: security}\ndetection:\n  selection: {EventID: 4625}\n  timeframe: 5m\n  condition: selection | count() by TargetUserName > 3\nlevel: high\n";
    let r = Engine::from_sources(&[("l.yml".into(), rule.into())], &EngineConfig::default());
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    let e = Arc::new(r.engine);
    assert_eq!(e.correlations()[0].kind, CorrelationType::EventCount);
    assert!(!e.generates("legacy-1-base"));
    let mut c = Correlator::new(e.clone(), CorrelatorLimits::default());
    let ev = serde_json::json!({"Channel": "Security", "EventID": 4625, "TargetUserName": "bob"});
    let mut fired = Vec::new();
    for t in 0..4 {
        let d = e.evaluate(&ev);
        fired.extend(
            c.process("O", t * 1000, &ev, &d)
                .into_iter()
                .map(|a| a.detection.rule_id),
        );
    }
    assert_eq!(fired, vec!["legacy-1"]);
    // A "fewer than" threshold is refused with the reason.
    let lt = rule.replace("> 3", "< 3");
    let r = Engine::from_sources(&[("l.yml".into(), lt)], &EngineConfig::default());
    assert_eq!(r.errors[0].code, "legacy-aggregation");
    assert_eq!(r.errors[0].line, Some(7));
    assert!(r.errors[0].message.contains("closed window"));
}
