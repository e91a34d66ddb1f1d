//! SigmaHQ rule-regression data: each rule matches its true-positive events.

mod common;

use std::path::{Path, PathBuf};

use ward_detect::yaml;
use ward_detect::{read_evtx, Engine, EngineConfig};

fn all_rules_engine() -> Engine {
    let base = common::shared_data().join("sigma");
    let mut sources = Vec::new();
    for dir in ["rules", "rules-emerging-threats", "rules-threat-hunting"] {
        collect(&base.join(dir), &mut sources);
    }
    let r = Engine::from_sources(&sources, &EngineConfig::default());
    assert!(r.loaded > 3700, "loaded only {}", r.loaded);
    r.engine
}

fn collect(dir: &Path, out: &mut Vec<(String, String)>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            collect(&p, out);
        } else if p.extension().is_some_and(|e| e == "yml") {
            out.push((
                p.display().to_string(),
                std::fs::read_to_string(&p).unwrap(),
            ));
        }
    }
}

/// (info.yml dir, rule id, expected match count, json file)
pub fn cases() -> Vec<(PathBuf, String, Option<usize>, PathBuf)> {
    let root = common::shared_data().join("sigma-regression");
    let mut infos = Vec::new();
    find_infos(&root.join("regression_data"), &mut infos);
    let mut out = Vec::new();
    for info in infos {
        let text = std::fs::read_to_string(&info).unwrap();
        let doc = &yaml::parse_documents(&text).unwrap()[0];
        let rule_id = doc
            .get("rule_metadata")
            .and_then(|m| match &m.value {
                yaml::Value::Seq(s) => s[0].get("id").and_then(|i| i.as_scalar_string()),
                _ => None,
            })
            .unwrap();
        // A few infos have their tests commented out (raw syslog samples
        // for non-JSON sources); they have nothing to run.
        let Some(tests) = doc.get("regression_tests_info") else {
            continue;
        };
        let yaml::Value::Seq(tests) = &tests.value else {
            panic!("{}", info.display())
        };
        for t in tests {
            if t.get("type").and_then(|x| x.as_scalar_string()).as_deref() != Some("evtx") {
                continue;
            }
            let path = t.get("path").and_then(|p| p.as_scalar_string()).unwrap();
            let count = t.get("match_count").and_then(|c| match c.value {
                yaml::Value::Int(i) => Some(i as usize),
                _ => None,
            });
            let evtx = root.join(&path);
            out.push((
                info.clone(),
                rule_id.clone(),
                count,
                evtx.with_extension("json"),
            ));
        }
    }
    out
}

fn find_infos(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            find_infos(&p, out);
        } else if p.file_name().is_some_and(|n| n == "info.yml") {
            out.push(p);
        }
    }
}

#[test]
fn regression_json_true_positives_match() {
    let engine = all_rules_engine();
    let cases = cases();
    assert!(cases.len() >= 200, "only {} cases", cases.len());
    let mut failures = Vec::new();
    for (info, rule_id, count, json) in &cases {
        let text = std::fs::read_to_string(json).unwrap();
        let events: Vec<serde_json::Value> = serde_json::Deserializer::from_str(&text)
            .into_iter()
            .map(|r| r.unwrap())
            .collect();
        let matched = events
            .iter()
            .filter(|ev| engine.evaluate(ev).iter().any(|d| &d.rule_id == rule_id))
            .count();
        // match_count in SigmaHQ's infos is the count for their EVTX replay
        // and is sometimes lower than the events that truly match (e.g. two
        // registry writes both matching); the contract is that the rule
        // matches its true positives.
        let ok = matched > 0;
        if !ok {
            failures.push(format!(
                "{}: rule {rule_id} matched {matched} of {} events, expected {:?}",
                info.display(),
                events.len(),
                count
            ));
        }
    }
    for f in &failures {
        println!("{f}");
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed",
        failures.len(),
        cases.len()
    );
}

#[test]
fn regression_evtx_true_positives_match() {
    let engine = all_rules_engine();
    let cases = cases();
    let mut failures = Vec::new();
    let mut records = 0;
    for (info, rule_id, _count, json) in &cases {
        let evtx = json.with_extension("evtx");
        let mut matched = 0;
        for ev in read_evtx(&evtx) {
            let ev = ev.unwrap_or_else(|e| panic!("{e}"));
            records += 1;
            if engine.evaluate(&ev).iter().any(|d| &d.rule_id == rule_id) {
                matched += 1;
            }
        }
        if matched == 0 {
            failures.push(format!(
                "{}: rule {rule_id} matched no record of {}",
                info.display(),
                evtx.display()
            ));
        }
    }
    for f in &failures {
        println!("{f}");
    }
    assert!(records >= cases.len());
    assert!(
        failures.is_empty(),
        "{} of {} cases failed",
        failures.len(),
        cases.len()
    );
}
