//! `ward rules check`, `ward hunt` and `ward import evtx` on the shared SigmaHQ rules and EVTX
//! corpus.

mod common;

use std::process::Command;

use common::{member, Ward, WARD};
use serde_json::Value;

fn shared() -> std::path::PathBuf {
    ward_testkit::shared_data()
}

const MS17_010: &str = "evtx/EVTX-to-MITRE-Attack/EVTX_full_APT_attack_steps/ID4624,4688,5140,5145-Eternal Romance - MS17_010_psexec (GLOBAL).evtx";

#[test]
fn rules_check_names_each_refused_rule_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("good.yml"), ward_server::BUILTIN_RULES[0].1).unwrap();
    std::fs::write(
        dir.path().join("bad.yml"),
        "title: Bad\nlogsource:\n    product: windows\ndetection:\n    sel:\n        Image|nosuchmodifier: x\n    condition: sel\n",
    )
    .unwrap();
    let out = Command::new(WARD)
        .args(["rules", "check"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("bad.yml:6: [unknown-modifier]"), "{stdout}");
    assert!(stdout.contains("1 rules loaded, 1 refused"), "{stdout}");
    std::fs::remove_file(dir.path().join("bad.yml")).unwrap();
    let out = Command::new(WARD)
        .args(["rules", "check", "--json"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["loaded"], 1);
}

#[test]
fn hunt_finds_the_ms17_010_sample_with_sigmahq_rules() {
    let out = Command::new(WARD)
        .args(["hunt", "--format", "jsonl", "--rules"])
        .arg(shared().join("sigma/rules/windows"))
        .arg(shared().join(MS17_010))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hits: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!hits.is_empty(), "no detection on the MS17-010 sample");
    assert!(hits
        .iter()
        .all(|h| h["rule_id"].as_str().is_some_and(|id| !id.is_empty())));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("1 files"), "{stderr}");
}

#[test]
fn import_evtx_sends_every_record_of_the_sample_to_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let w = Ward::start(dir.path(), &[]);
    let key = member(&w, "ZA1", "London");
    let out = Command::new(WARD)
        .args(["import", "evtx", "--json"])
        .arg(shared().join(MS17_010))
        .env("WARD_URL", &w.url)
        .env("WARD_TOKEN", &key)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    let sent = summary["events_sent"].as_u64().unwrap();
    assert!(sent > 0);
    let records = ward_detect::read_evtx(&shared().join(MS17_010))
        .filter(|r| r.is_ok())
        .count() as u64;
    assert_eq!(sent, records, "every readable record sent");
    let (_, status) = w.get("/api/v1/status", &w.token);
    assert_eq!(status["log_committed_offset"].as_u64(), Some(sent));
}
