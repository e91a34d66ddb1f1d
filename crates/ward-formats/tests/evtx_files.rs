//! Binary EVTX files from the shared data set (EVTX-to-MITRE-Attack, CC0;
//! SigmaHQ regression data): every record of every file becomes an event,
//! and the SigmaHQ evtx_dump JSON copies parse to the same model.

use std::path::{Path, PathBuf};

use ward_event::{EventClass, Outcome};
use ward_formats::evtx::parse_evtx_file;

fn shared() -> PathBuf {
    std::env::var_os("WARD_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"))
}

fn files(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e} (set WARD_SHARED_DATA)", dir.display()))
    {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, ext, out);
        } else if p.extension().is_some_and(|x| x == ext) {
            out.push(p);
        }
    }
}

#[test]
fn every_attack_evtx_record_becomes_an_event() {
    let mut all = Vec::new();
    files(
        &shared().join("evtx/EVTX-to-MITRE-Attack"),
        "evtx",
        &mut all,
    );
    assert!(
        all.len() > 200,
        "expected the EVTX-to-MITRE-Attack set, found {}",
        all.len()
    );
    let (mut records, mut parsed, mut logons, mut procs) = (0, 0, 0, 0);
    for f in &all {
        let evs = parse_evtx_file(std::fs::read(f).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        for ev in evs {
            records += 1;
            if ev.is_parsed() {
                parsed += 1;
                assert!(ev.time.is_some(), "{}: record without time", f.display());
                assert!(ev.original.fields.as_ref().unwrap().contains_key("EventID"));
            }
            if ev.class == EventClass::Authentication && ev.outcome == Some(Outcome::Success) {
                logons += 1;
            }
            if ev.class == EventClass::ProcessActivity
                && ev.process.as_ref().is_some_and(|p| p.cmd_line.is_some())
            {
                procs += 1;
            }
        }
    }
    // PROVENANCE: 10,015 records in 281 files.
    assert!(records >= 10_000, "records {records}");
    assert!(
        parsed as f64 >= records as f64 * 0.99,
        "parsed {parsed} of {records}"
    );
    assert!(
        logons > 50 && procs > 200,
        "logons {logons}, processes with command lines {procs}"
    );
}

#[test]
fn ms17_010_sample_has_smb_and_logon_events() {
    let mut all = Vec::new();
    files(
        &shared().join("evtx/EVTX-to-MITRE-Attack"),
        "evtx",
        &mut all,
    );
    let f = all
        .iter()
        .find(|p| p.to_string_lossy().contains("MS17_010"))
        .expect("the MS17-010 sample named in PROVENANCE");
    let evs = parse_evtx_file(std::fs::read(f).unwrap()).unwrap();
    assert!(!evs.is_empty());
    assert!(evs.iter().all(|e| e.is_parsed()));
    assert!(
        evs.iter().any(|e| e.class == EventClass::SmbActivity),
        "5140/5145 share access"
    );
    assert!(
        evs.iter().any(|e| e.class == EventClass::Authentication),
        "4624 logon"
    );
}

#[test]
fn regression_json_matches_binary() {
    let mut evtx = Vec::new();
    files(
        &shared().join("sigma-regression/regression_data"),
        "evtx",
        &mut evtx,
    );
    assert!(evtx.len() > 150);
    let mut compared = 0;
    for f in evtx.iter().take(60) {
        let json = f.with_extension("json");
        let Ok(text) = std::fs::read_to_string(&json) else {
            continue;
        };
        let from_bin = parse_evtx_file(std::fs::read(f).unwrap()).unwrap();
        // The .json holds the first record (a single object) or several.
        let Ok(from_json) = ward_formats::parse(ward_formats::Format::WindowsEvtxJson, &text)
            .or_else(|_| ward_formats::parse(ward_formats::Format::Sysmon, &text))
        else {
            continue;
        };
        let same = from_bin.iter().any(|b| {
            b.class == from_json.class
                && b.type_name == from_json.type_name
                && b.process.as_ref().and_then(|p| p.cmd_line.clone())
                    == from_json.process.as_ref().and_then(|p| p.cmd_line.clone())
                // evtx renders FILETIME's 100 ns ticks (7 digits); the
                // .json copies were written with 6.
                && match (b.time, from_json.time) {
                    (Some(x), Some(y)) => (x.0 - y.0).abs() < 1000,
                    (x, y) => x == y,
                }
        });
        assert!(
            same,
            "{}: JSON and binary disagree\njson: {:?} {:?} {:?} {:?}\nbinary: {:?}",
            f.display(),
            from_json.class,
            from_json.type_name,
            from_json.time,
            from_json.process.as_ref().and_then(|p| p.cmd_line.clone()),
            from_bin
                .iter()
                .map(|b| (
                    b.class,
                    b.type_name.clone(),
                    b.time,
                    b.process.as_ref().and_then(|p| p.cmd_line.clone())
                ))
                .collect::<Vec<_>>()
        );
        compared += 1;
    }
    assert!(compared >= 30, "compared {compared}");
}

#[test]
fn not_evtx_is_an_error() {
    let e = parse_evtx_file(b"MZ\x90\x00not an event log".to_vec()).unwrap_err();
    assert_eq!(e.code, ward_formats::codes::EVTX_FILE);
}

#[test]
fn uploaded_evtx_dump_json_files_split_into_parsed_records() {
    let mut json = Vec::new();
    files(
        &shared().join("sigma-regression/regression_data"),
        "json",
        &mut json,
    );
    assert!(json.len() > 150);
    let mut text = String::new();
    for f in json.iter().take(40) {
        text.push_str(&std::fs::read_to_string(f).unwrap());
        text.push('\n');
    }
    // Forty pretty-printed evtx_dump documents concatenated, as a bulk upload.
    let records = ward_formats::records::split_records(&text);
    assert!(records.len() >= 40, "records {}", records.len());
    let parsed = records
        .iter()
        .filter(|r| ward_formats::parse_auto(r).is_ok_and(|e| e.is_parsed()))
        .count();
    assert_eq!(parsed, records.len());
}
