//! `kill -9` in the middle of a steady ingest: every acknowledged event survives, and
//! detection resumes where it stopped without duplicating detections or incidents.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{benign_event, member, wannacry_event, Ward};
use serde_json::Value;
use ward_eventlog::{EmbeddedLog, EventLog, LogOptions};

#[test]
fn kill_9_during_ingest_loses_nothing_acknowledged_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = Ward::start(dir.path(), &[("WARD_DETECTION__BATCH_EVENTS", "64")]);
    let keys: Vec<(String, String)> = ["ZA1", "ZA2", "ZA3"]
        .iter()
        .map(|c| (c.to_string(), member(&w, c, "London")))
        .collect();

    let acked: Arc<Mutex<Vec<u64>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let url = w.url.clone();
    let sender = {
        let (acked, stop, keys) = (acked.clone(), stop.clone(), keys.clone());
        std::thread::spawn(move || {
            let client = reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap();
            let mut seq = 0u64;
            let mut batch_no = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let (org, key) = &keys[batch_no % keys.len()];
                batch_no += 1;
                let mut body = String::new();
                let mut seqs = Vec::new();
                for i in 0..40 {
                    seq += 1;
                    seqs.push(seq);
                    // One event a batch trips the WannaCry rule, on one of three hosts.
                    let line = if i == 0 {
                        wannacry_event(&format!("pc{}.{org}", (batch_no / 3) % 3), seq)
                    } else {
                        benign_event(seq)
                    };
                    body.push_str(&line);
                    body.push('\n');
                }
                match client
                    .post(format!("{url}/api/v1/events"))
                    .bearer_auth(key)
                    .body(body)
                    .send()
                {
                    Ok(r) if r.status().is_success() => acked.lock().unwrap().extend(seqs),
                    // Refused or cut off by the crash: not acknowledged, so not promised.
                    _ => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        })
    };
    // Let ingest and detection run, then crash in the middle of it.
    while acked.lock().unwrap().len() < 4000 {
        std::thread::sleep(Duration::from_millis(20));
    }
    w.kill9();
    let acked_at_crash: BTreeSet<u64> = acked.lock().unwrap().iter().copied().collect();
    w.crash_and_restart();
    // Keep sending for a while after the restart, then stop.
    std::thread::sleep(Duration::from_millis(1500));
    stop.store(true, Ordering::Relaxed);
    sender.join().unwrap();
    let all_acked: BTreeSet<u64> = acked.lock().unwrap().iter().copied().collect();
    assert!(
        all_acked.len() > acked_at_crash.len(),
        "ingest resumed after the restart"
    );

    // Detection catches up with everything stored.
    let status = w.wait_for("/api/v1/status", |s| {
        s["detection_offset"].as_u64().is_some()
            && s["detection_offset"] == s["log_committed_offset"]
    });
    assert_eq!(
        status["detection_offset"], status["log_committed_offset"],
        "{status}"
    );
    let committed = status["log_committed_offset"].as_u64().unwrap();
    let dets: Value = w.get("/api/v1/detections?limit=1000", &w.token).1;
    let incidents: Value = w
        .get("/api/v1/incidents?scope=local&limit=1000", &w.token)
        .1;
    w.kill9();

    // Every acknowledged event is in the log, exactly once.
    let log = EmbeddedLog::open(&dir.path().join("eventlog"), LogOptions::default()).unwrap();
    let mut reader = log.reader(0).unwrap();
    let mut seen: HashMap<u64, u32> = HashMap::new();
    let mut malicious_offsets = BTreeSet::new();
    loop {
        let batch = reader.read_batch(1000).unwrap();
        if batch.is_empty() {
            break;
        }
        for rec in batch {
            let v: Value = serde_json::from_slice(&rec.payload).unwrap();
            if let Some(seq) = v["seq"].as_u64() {
                *seen.entry(seq).or_default() += 1;
                if v["Image"]
                    .as_str()
                    .is_some_and(|i| i.ends_with("tasksche.exe"))
                {
                    malicious_offsets.insert(rec.offset);
                }
            }
        }
    }
    assert_eq!(log.stats().committed_offset, committed);
    let missing: Vec<_> = all_acked.iter().filter(|s| !seen.contains_key(s)).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged events lost, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    assert!(seen.values().all(|&n| n == 1), "an event was stored twice");

    // One detection per malicious event, none repeated after the restart.
    let dets = dets.as_array().unwrap();
    let det_offsets: Vec<u64> = dets
        .iter()
        .map(|d| d["event_offset"].as_u64().unwrap())
        .collect();
    let unique: BTreeSet<u64> = det_offsets.iter().copied().collect();
    assert_eq!(
        unique.len(),
        det_offsets.len(),
        "a detection was recorded twice"
    );
    assert!(
        malicious_offsets.len() < 1000,
        "the API page below must hold them all"
    );
    let undetected: Vec<_> = malicious_offsets.difference(&unique).take(5).collect();
    let unexpected: Vec<_> = unique.difference(&malicious_offsets).take(5).collect();
    assert!(
        undetected.is_empty() && unexpected.is_empty(),
        "every malicious event detected exactly once: undetected {undetected:?}, unexpected {unexpected:?}"
    );

    // One local incident per (rule, organisation, host).
    let mut keys_seen = BTreeSet::new();
    for i in incidents.as_array().unwrap() {
        let k = (
            i["rule_id"].to_string(),
            i["org_code"].to_string(),
            i["host"].to_string(),
        );
        assert!(keys_seen.insert(k.clone()), "duplicate incident for {k:?}");
    }
    assert_eq!(
        keys_seen.len(),
        9,
        "three hosts at each of three organisations"
    );
}
