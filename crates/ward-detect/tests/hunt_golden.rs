//! Golden tests of `hunt` over the shared EVTX corpus.
//!
//! Regenerate the golden file with
//! `WARD_BLESS=1 cargo test -p ward-detect --test hunt_golden`.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use ward_detect::{hunt, Engine, EngineConfig, HuntFormat};

fn rules_engine() -> Engine {
    let r = Engine::load_dir(
        &common::shared_data().join("sigma/rules"),
        &EngineConfig::default(),
    );
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    r.engine
}

fn ms17_010() -> PathBuf {
    common::shared_data().join(
        "evtx/EVTX-to-MITRE-Attack/EVTX_full_APT_attack_steps/ID4624,4688,5140,5145-Eternal Romance - MS17_010_psexec (GLOBAL).evtx",
    )
}

#[test]
fn ms17_010_sample_is_detected_in_every_format() {
    let engine = rules_engine();
    let file = ms17_010();
    let run = |format| {
        let mut out = Vec::new();
        let mut calls = 0;
        let s = hunt(
            &engine,
            std::slice::from_ref(&file),
            format,
            &mut out,
            &mut |_| calls += 1,
        )
        .unwrap();
        assert!(calls >= 1);
        assert!(s.errors.is_empty(), "{:?}", s.errors);
        (s, String::from_utf8(out).unwrap())
    };
    let (s, jsonl) = run(HuntFormat::Jsonl);
    assert_eq!(s.events, 46);
    let hits: Vec<serde_json::Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(hits.len() as u64, s.detections);
    // The SMB logon of the exploit (Security 4624, NTLM, random workstation).
    let smb = hits
        .iter()
        .find(|h| h["rule_id"] == "72124974-a68b-4366-b990-d30e0b2a190d")
        .expect("Metasploit SMB Authentication detection");
    assert_eq!(smb["level"], "high");
    assert_eq!(smb["computer"], "fs03vuln.offsec.lan");
    assert!(smb["event"]["Event"]["System"]["EventID"] == 4624);
    assert!(hits
        .iter()
        .all(|h| h["rule_id"].as_str().is_some_and(|s| !s.is_empty())));

    let (_, json) = run(HuntFormat::Json);
    let arr: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap();
    assert_eq!(arr.len(), hits.len());
    let (_, csv) = run(HuntFormat::Csv);
    assert_eq!(csv.lines().count(), hits.len() + 1);
    assert!(csv.starts_with("timestamp,computer,level,rule_id,"));
    let (_, table) = run(HuntFormat::Table);
    assert_eq!(table.lines().count(), hits.len() + 1);
    assert!(table.contains("Metasploit SMB Authentication"));
}

#[test]
fn golden_detections_over_the_evtx_corpus() {
    let engine = rules_engine();
    let root = common::shared_data().join("evtx");
    let mut out = Vec::new();
    let s = hunt(
        &engine,
        std::slice::from_ref(&root),
        HuntFormat::Jsonl,
        &mut out,
        &mut |_| {},
    )
    .unwrap();
    assert!(s.events > 10_000);
    let mut counts: BTreeMap<(String, String), usize> = BTreeMap::new();
    for line in String::from_utf8(out).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let file = PathBuf::from(v["file"].as_str().unwrap());
        let rel = file.strip_prefix(&root).unwrap().display().to_string();
        *counts
            .entry((rel, v["rule_id"].as_str().unwrap().to_string()))
            .or_default() += 1;
    }
    let mut text = format!(
        "# file\trule_id\tdetections — {} events, {} detections\n",
        s.events, s.detections
    );
    for ((f, r), n) in &counts {
        text.push_str(&format!("{f}\t{r}\t{n}\n"));
    }
    let golden = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/evtx_detections.tsv");
    if std::env::var_os("WARD_BLESS").is_some() {
        std::fs::write(&golden, &text).unwrap();
    }
    let want = std::fs::read_to_string(&golden).expect("golden file (run with WARD_BLESS=1)");
    if want != text {
        let w: Vec<&str> = want.lines().collect();
        let g: Vec<&str> = text.lines().collect();
        let missing: Vec<_> = w.iter().filter(|l| !g.contains(l)).take(10).collect();
        let extra: Vec<_> = g.iter().filter(|l| !w.contains(l)).take(10).collect();
        panic!("detections differ from the golden file\nmissing: {missing:#?}\nnew: {extra:#?}");
    }
}

#[test]
fn json_and_jsonl_inputs_in_every_layout() {
    let rule = "title: Whoami\nid: whoami-test\nlogsource: {product: windows, category: process_creation}\ndetection:\n  sel: {Image|endswith: '\\whoami.exe'}\n  condition: sel\nlevel: low\n";
    let engine =
        Engine::from_sources(&[("w.yml".into(), rule.into())], &EngineConfig::default()).engine;
    let dir = std::env::temp_dir().join(format!("ward-detect-hunt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Winlogbeat lines, one broken line in the middle.
    std::fs::write(
        dir.join("a.jsonl"),
        "{\"winlog\":{\"channel\":\"Microsoft-Windows-Sysmon/Operational\",\"event_id\":1,\"event_data\":{\"Image\":\"C:\\\\w\\\\whoami.exe\"}}}\n\
         not json\n\
         {\"winlog\":{\"channel\":\"Security\",\"event_id\":4688,\"event_data\":{\"NewProcessName\":\"C:\\\\w\\\\whoami.exe\"}}}\n",
    )
    .unwrap();
    // A JSON array of flat events.
    std::fs::write(
        dir.join("b.json"),
        "[{\"Channel\":\"Microsoft-Windows-Sysmon/Operational\",\"EventID\":1,\"Image\":\"x\\\\WHOAMI.EXE\"},\
          {\"Channel\":\"Microsoft-Windows-Sysmon/Operational\",\"EventID\":3,\"Image\":\"x\\\\whoami.exe\"}]",
    )
    .unwrap();
    let mut out = Vec::new();
    let s = hunt(
        &engine,
        std::slice::from_ref(&dir),
        HuntFormat::Jsonl,
        &mut out,
        &mut |_| {},
    )
    .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(s.files, 2);
    assert_eq!(s.events, 4);
    assert_eq!(s.detections, 3, "{}", String::from_utf8_lossy(&out));
    assert_eq!(s.errors.len(), 1);
    assert!(
        s.errors[0].contains("a.jsonl:2: [hunt-json]"),
        "{:?}",
        s.errors
    );
    let records: Vec<u64> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["record"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(records, vec![1, 2, 1]);
}
