//! The rule index never changes results: every EVTX record of the shared
//! corpus gets the same detections with and without it.

mod common;

use std::path::{Path, PathBuf};

use ward_detect::{read_evtx, Engine, EngineConfig};

fn evtx_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            evtx_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "evtx") {
            out.push(p);
        }
    }
}

#[test]
fn index_gives_the_same_detections_as_brute_force() {
    let base = common::shared_data().join("sigma");
    let mut engines = Vec::new();
    for index in [true, false] {
        let cfg = EngineConfig {
            index,
            ..EngineConfig::default()
        };
        let mut sources = Vec::new();
        for d in ["rules", "rules-emerging-threats", "rules-threat-hunting"] {
            collect(&base.join(d), &mut sources);
        }
        engines.push(Engine::from_sources(&sources, &cfg).engine);
    }
    let mut files = Vec::new();
    evtx_files(&common::shared_data().join("evtx"), &mut files);
    let mut events = 0;
    let mut detections = 0;
    for f in &files {
        for ev in read_evtx(f) {
            let ev = ev.unwrap();
            events += 1;
            let a: Vec<String> = engines[0]
                .evaluate(&ev)
                .into_iter()
                .map(|d| d.rule_id)
                .collect();
            let b: Vec<String> = engines[1]
                .evaluate(&ev)
                .into_iter()
                .map(|d| d.rule_id)
                .collect();
            assert_eq!(a, b, "{}: {ev}", f.display());
            detections += a.len();
        }
    }
    assert!(events > 10_000, "{events}");
    assert!(detections > 1_000, "{detections}");
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
