//! Golden tests: every `tests/golden/<format>/NAME.in` is parsed with the
//! format its directory names, and must equal `NAME.json` (the event, its
//! ECS view and OCSF ids). Auto-detection must pick the same format.
//!
//! Regenerate after an intended change with `WARD_BLESS=1 cargo test -p ward-formats --test golden`.

use std::path::{Path, PathBuf};

use serde_json::json;
use ward_event::Timestamp;
use ward_formats::{detect, parse_with, Format, Options};

fn dir_format(dir: &str) -> Format {
    match dir {
        "syslog5424" => Format::Syslog5424,
        "syslog3164" => Format::Syslog3164,
        "cef" => Format::Cef,
        "leef" => Format::Leef,
        "windows_evtx" => Format::WindowsEvtxJson,
        "windows_flat" => Format::WindowsFlatJson,
        "sysmon" => Format::Sysmon,
        "suricata" => Format::SuricataEve,
        "zeek" => Format::ZeekJson,
        "asa" => Format::CiscoAsa,
        "fortigate" => Format::FortiGate,
        "panos" => Format::PaloAlto,
        "netfilter" => Format::Iptables,
        "auditd" => Format::Auditd,
        "access" => Format::AccessLog,
        other => panic!("golden directory {other} names no format"),
    }
}

fn inputs() -> Vec<(Format, PathBuf)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut out = Vec::new();
    for d in std::fs::read_dir(&root).unwrap() {
        let d = d.unwrap().path();
        let fmt = dir_format(d.file_name().unwrap().to_str().unwrap());
        for f in std::fs::read_dir(&d).unwrap() {
            let f = f.unwrap().path();
            if f.extension().is_some_and(|e| e == "in") {
                out.push((fmt, f));
            }
        }
    }
    out.sort_by(|a, b| a.1.cmp(&b.1));
    out
}

#[test]
fn golden_files() {
    let bless = std::env::var_os("WARD_BLESS").is_some();
    let opts = Options {
        reference_time: Timestamp::parse_iso8601("2024-06-01T00:00:00Z", true).ok(),
    };
    let mut failures = Vec::new();
    let all = inputs();
    assert!(
        all.len() >= 40,
        "expected the full golden corpus, found {}",
        all.len()
    );
    let mut per_format = std::collections::HashMap::new();
    for (fmt, path) in &all {
        *per_format.entry(*fmt).or_insert(0) += 1;
        let input = std::fs::read_to_string(path).unwrap();
        let record = input.trim_end_matches('\n');
        let detected = detect(record);
        if detected != Some(*fmt) {
            failures.push(format!(
                "{}: detected {:?}, want {:?}",
                path.display(),
                detected,
                fmt
            ));
        }
        let ev = match parse_with(*fmt, record, &opts) {
            Ok(ev) => ev,
            Err(e) => {
                failures.push(format!("{}: {e}", path.display()));
                continue;
            }
        };
        assert_eq!(ev.original.raw, record, "raw record kept verbatim");
        let got = json!({
            "format": fmt.id(),
            "ocsf": ev.ocsf_ids(),
            "event": ev,
            "ecs": ev.to_ecs(),
        });
        let text = serde_json::to_string_pretty(&got).unwrap() + "\n";
        let out = path.with_extension("json");
        if bless {
            std::fs::write(&out, &text).unwrap();
            continue;
        }
        // Compare as JSON values: key order depends on serde_json's
        // `preserve_order` feature, which other crates may switch on.
        let want = std::fs::read_to_string(&out)
            .ok()
            .map(|w| serde_json::from_str::<serde_json::Value>(&w).unwrap());
        let got: serde_json::Value = serde_json::from_str(&text).unwrap();
        match want {
            Some(want) if want == got => {}
            Some(_) => failures.push(format!(
                "{}: output differs from {} (WARD_BLESS=1 to regenerate)\n{text}",
                path.display(),
                out.display()
            )),
            None => failures.push(format!(
                "{}: missing (WARD_BLESS=1 to create)",
                out.display()
            )),
        }
    }
    for f in Format::ALL {
        assert!(
            per_format.get(&f).copied().unwrap_or(0) >= 2,
            "format {f} needs at least two golden samples"
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
