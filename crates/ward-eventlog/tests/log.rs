use std::fs::OpenOptions;
use std::io::Write;
use std::time::Duration;

use ward_eventlog::{BatchBuilder, EmbeddedLog, EventLog, LogError, LogOptions};

fn small_segments() -> LogOptions {
    LogOptions {
        segment_bytes: 4096,
        ..LogOptions::default()
    }
}

fn batch(org: &str, from: u64, n: u64) -> ward_eventlog::EncodedBatch {
    let mut b = BatchBuilder::new();
    for i in from..from + n {
        b.push(
            org,
            i as i64,
            format!("{{\"n\":{i},\"pad\":\"{}\"}}", "x".repeat(100)).as_bytes(),
        );
    }
    b.finish()
}

fn read_all(log: &EmbeddedLog, from: u64) -> Vec<ward_eventlog::LogRecord> {
    let mut r = log.reader(from).unwrap();
    let mut out = Vec::new();
    loop {
        let b = r.read_batch(37).unwrap();
        if b.is_empty() {
            return out;
        }
        out.extend(b);
    }
}

#[tokio::test]
async fn records_survive_reopen_across_many_segments() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = EmbeddedLog::open(dir.path(), small_segments()).unwrap();
        for i in 0..20 {
            let ack = log.append(batch("RJ1", i * 10, 10)).await.unwrap();
            assert_eq!(ack.first_offset, i * 10);
            assert_eq!(ack.count, 10);
        }
        assert!(log.stats().segments > 5, "{:?}", log.stats());
    }
    let log = EmbeddedLog::open(dir.path(), small_segments()).unwrap();
    assert_eq!(log.stats().committed_offset, 200);
    let all = read_all(&log, 0);
    assert_eq!(all.len(), 200);
    for (i, r) in all.iter().enumerate() {
        assert_eq!(r.offset, i as u64);
        assert_eq!(r.received_at_ms, i as i64);
        assert!(r.payload.starts_with(format!("{{\"n\":{i},").as_bytes()));
    }
    // A reader started mid-log begins exactly there, even inside a segment.
    let tail = read_all(&log, 123);
    assert_eq!(tail.first().unwrap().offset, 123);
    assert_eq!(tail.len(), 77);
}

#[tokio::test]
async fn a_torn_tail_is_truncated_and_the_rest_kept() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = EmbeddedLog::open(dir.path(), LogOptions::default()).unwrap();
        log.append(batch("RJ1", 0, 5)).await.unwrap();
    }
    // Simulate a crash in the middle of a write: half a record at the end of the segment.
    let seg = dir.path().join(format!("{:020}.seg", 0));
    let whole = batch("RJ1", 5, 1);
    let half = &encoded(whole).await[..40];
    OpenOptions::new()
        .append(true)
        .open(&seg)
        .unwrap()
        .write_all(half)
        .unwrap();
    let log = EmbeddedLog::open(dir.path(), LogOptions::default()).unwrap();
    let stats = log.stats();
    assert_eq!(stats.committed_offset, 5);
    assert_eq!(stats.truncated_on_recovery_bytes, 40);
    let ack = log.append(batch("RJ1", 5, 3)).await.unwrap();
    assert_eq!(ack.first_offset, 5);
    let all = read_all(&log, 0);
    assert_eq!(all.len(), 8);
    assert_eq!(all[5].received_at_ms, 5);
}

async fn encoded(b: ward_eventlog::EncodedBatch) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let log = EmbeddedLog::open(dir.path(), LogOptions::default()).unwrap();
    log.append(b).await.unwrap();
    std::fs::read(dir.path().join(format!("{:020}.seg", 0))).unwrap()
}
#[tokio::test]
async fn a_corrupt_record_in_the_middle_is_reported_not_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let log = EmbeddedLog::open(dir.path(), LogOptions::default()).unwrap();
    log.append(batch("RJ1", 0, 3)).await.unwrap();
    let seg = dir.path().join(format!("{:020}.seg", 0));
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[20] ^= 0xff;
    std::fs::write(&seg, &bytes).unwrap();
    let mut r = log.reader(0).unwrap();
    match r.read_batch(10) {
        Err(LogError::Corrupt { offset, .. }) => assert_eq!(offset, 0),
        other => panic!("expected a corruption error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_are_group_committed_with_distinct_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let log = std::sync::Arc::new(EmbeddedLog::open(dir.path(), small_segments()).unwrap());
    let mut tasks = Vec::new();
    for t in 0..8u64 {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            let mut acks = Vec::new();
            for i in 0..50 {
                acks.push(log.append(batch("A81001", t * 1000 + i, 2)).await.unwrap());
            }
            acks
        }));
    }
    let mut offsets = Vec::new();
    for t in tasks {
        for a in t.await.unwrap() {
            offsets.push(a.first_offset);
            offsets.push(a.first_offset + 1);
        }
    }
    offsets.sort_unstable();
    assert_eq!(offsets, (0..800).collect::<Vec<u64>>());
    let stats = log.stats();
    assert_eq!(stats.appended_records, 800);
    assert!(stats.syncs >= 1);
    assert_eq!(read_all(&log, 0).len(), 800);
}

#[tokio::test]
async fn retention_deletes_old_segments_and_readers_count_the_gap() {
    let dir = tempfile::tempdir().unwrap();
    let log = EmbeddedLog::open(dir.path(), small_segments()).unwrap();
    for i in 0..30 {
        log.append(batch("RJ1", i * 10, 10)).await.unwrap();
    }
    let before = log.stats();
    let deleted = log.apply_retention(Duration::ZERO, 3 * 4096).unwrap();
    assert!(deleted > 0);
    let after = log.stats();
    assert_eq!(after.segments, before.segments - deleted);
    assert!(after.bytes_on_disk <= 3 * 4096 + 4096, "{after:?}");
    assert_eq!(after.records_deleted_by_retention, after.first_offset);
    let mut r = log.reader(0).unwrap();
    let first = r.read_batch(1).unwrap();
    assert_eq!(first[0].offset, after.first_offset);
    assert_eq!(r.skipped_by_retention(), after.first_offset);
    // Age rule: nothing here is a day old.
    assert_eq!(
        log.apply_retention(Duration::from_secs(86_400), 0).unwrap(),
        0
    );
    // The log keeps working afterwards.
    let ack = log.append(batch("RJ1", 300, 1)).await.unwrap();
    assert_eq!(ack.first_offset, 300);
}

#[tokio::test]
async fn readers_only_see_committed_records_and_are_woken() {
    let dir = tempfile::tempdir().unwrap();
    let log = EmbeddedLog::open(dir.path(), LogOptions::default()).unwrap();
    let mut rx = log.subscribe();
    let mut r = log.reader(0).unwrap();
    assert!(r.read_batch(10).unwrap().is_empty());
    log.append(batch("RJ1", 0, 4)).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), rx.changed())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(*rx.borrow(), 4);
    assert_eq!(r.read_batch(10).unwrap().len(), 4);
    assert_eq!(r.position(), 4);
}
