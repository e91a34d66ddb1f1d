//! The JetStream engine against a real NATS server with JetStream (`scripts/deps/nats.sh`
//! installs and starts one; `WARD_TEST_NATS_URL` says where it is). The contract tests run on
//! both engines.

use std::sync::Arc;
use std::time::Duration;

use ward_eventlog::{
    BatchBuilder, EmbeddedLog, EncodedBatch, EventLog, JetStreamLog, JetStreamOptions, LogOptions,
    LogRecord,
};

fn nats_url() -> String {
    std::env::var("WARD_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

/// A stream of its own for each test, deleted when the test ends.
struct TestStream {
    opts: JetStreamOptions,
}

impl TestStream {
    fn new(tag: &str) -> TestStream {
        let n: u64 = rand_u64();
        TestStream {
            opts: JetStreamOptions {
                url: nats_url(),
                stream: format!("WARD_TEST_{tag}_{n:x}"),
                subject: format!("ward.test.{tag}.{n:x}"),
                poll_interval: Duration::from_millis(50),
                ..JetStreamOptions::default()
            },
        }
    }

    async fn open(&self) -> JetStreamLog {
        JetStreamLog::connect(self.opts.clone())
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "{e}: NATS with JetStream is needed at {} (scripts/deps/nats.sh)",
                    self.opts.url
                )
            })
    }

    async fn delete(self) {
        let client = async_nats::connect(self.opts.url.as_str()).await.unwrap();
        let js = async_nats::jetstream::new(client);
        let _ = js.delete_stream(&self.opts.stream).await;
    }
}

fn rand_u64() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    t ^ (std::process::id() as u64) << 32
}

fn batch(org: &str, from: u64, n: u64) -> EncodedBatch {
    let mut b = BatchBuilder::new();
    for i in from..from + n {
        b.push(org, i as i64, format!("{{\"n\":{i}}}").as_bytes());
    }
    b.finish()
}

async fn read_all(log: Arc<dyn EventLog>, from: u64) -> Vec<LogRecord> {
    tokio::task::spawn_blocking(move || {
        let mut r = log.reader(from).unwrap();
        let mut out = Vec::new();
        loop {
            let got = r.read_batch(7).unwrap();
            if got.is_empty() {
                return out;
            }
            out.extend(got);
        }
    })
    .await
    .unwrap()
}

fn numbers(records: &[LogRecord]) -> Vec<i64> {
    records.iter().map(|r| r.received_at_ms).collect()
}

/// What every engine must do.
async fn contract(log: Arc<dyn EventLog>) {
    let empty = read_all(log.clone(), 0).await;
    assert!(empty.is_empty());
    let a = log.append(batch("RJ1", 0, 3)).await.unwrap();
    let b = log.append(batch("B82005", 3, 4)).await.unwrap();
    assert_eq!((a.count, b.count), (3, 4));
    assert!(b.first_offset > a.first_offset);
    let all = read_all(log.clone(), 0).await;
    assert_eq!(numbers(&all), (0..7).collect::<Vec<_>>());
    assert_eq!(all[0].org, "RJ1");
    assert_eq!(all[3].org, "B82005");
    assert_eq!(all[4].payload, br#"{"n":4}"#);
    // Offsets increase and a reader resumes exactly where it is told, even mid-batch.
    assert!(all.windows(2).all(|w| w[0].offset < w[1].offset));
    let resumed = read_all(log.clone(), all[4].offset).await;
    assert_eq!(numbers(&resumed), vec![4, 5, 6]);
    // Position after reading everything is the committed offset.
    let committed = log.stats().committed_offset;
    let l = log.clone();
    let pos = tokio::task::spawn_blocking(move || {
        let mut r = l.reader(0).unwrap();
        while !r.read_batch(100).unwrap().is_empty() {}
        r.position()
    })
    .await
    .unwrap();
    assert_eq!(pos, committed);
    assert_eq!(log.stats().appended_records, 7);
    // Nothing new: a reader at the end reads nothing, and an append wakes subscribers.
    assert!(read_all(log.clone(), committed).await.is_empty());
    let mut sub = log.subscribe();
    sub.borrow_and_update();
    log.append(batch("RJ1", 7, 1)).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), sub.changed())
        .await
        .expect("subscribers are woken by an append")
        .unwrap();
    assert_eq!(numbers(&read_all(log.clone(), committed).await), vec![7]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_on_the_embedded_engine() {
    let dir = tempfile::tempdir().unwrap();
    let log = EmbeddedLog::open(dir.path(), LogOptions::default()).unwrap();
    contract(Arc::new(log)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_on_jetstream() {
    let s = TestStream::new("contract");
    let log = s.open().await;
    contract(Arc::new(log)).await;
    s.delete().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_survive_reconnect_and_a_second_node_sees_them() {
    let s = TestStream::new("nodes");
    let first = Arc::new(s.open().await);
    first.append(batch("RJ1", 0, 5)).await.unwrap();
    first.close();
    drop(first);

    let reader_node: Arc<dyn EventLog> = Arc::new(s.open().await);
    assert_eq!(
        numbers(&read_all(reader_node.clone(), 0).await),
        vec![0, 1, 2, 3, 4]
    );
    let mut sub = reader_node.subscribe();
    sub.borrow_and_update();

    // Another node appends; the first notices through the stream, not through a local call.
    let writer_node = s.open().await;
    writer_node.append(batch("A81001", 5, 2)).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), sub.changed())
        .await
        .expect("a reader node is woken by another node's append")
        .unwrap();
    let all = read_all(reader_node.clone(), 0).await;
    assert_eq!(numbers(&all), vec![0, 1, 2, 3, 4, 5, 6]);
    assert_eq!(all[6].org, "A81001");
    s.delete().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_get_distinct_offsets_and_nothing_is_lost() {
    let s = TestStream::new("concurrent");
    let log: Arc<dyn EventLog> = Arc::new(s.open().await);
    let mut tasks = Vec::new();
    for t in 0..8u64 {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            let mut acks = Vec::new();
            for i in 0..25u64 {
                acks.push(log.append(batch("RJ1", t * 1000 + i * 2, 2)).await.unwrap());
            }
            acks
        }));
    }
    let mut firsts = Vec::new();
    for t in tasks {
        firsts.extend(t.await.unwrap().into_iter().map(|a| a.first_offset));
    }
    firsts.sort();
    firsts.dedup();
    assert_eq!(firsts.len(), 200, "every batch has its own place");
    let mut seen = numbers(&read_all(log.clone(), 0).await);
    assert_eq!(seen.len(), 400);
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 400, "no record read twice");
    s.delete().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_larger_than_a_message_is_split_and_read_back_whole() {
    let s = TestStream::new("large");
    let log: Arc<dyn EventLog> = Arc::new(s.open().await);
    // 3,000 events of 1 KiB: more than the server's default 1 MiB message limit.
    let mut b = BatchBuilder::new();
    let body = vec![b'x'; 1024];
    for i in 0..3000 {
        b.push("RJ1", i, &body);
    }
    let ack = log.append(b.finish()).await.unwrap();
    assert_eq!(ack.count, 3000);
    assert!(log.stats().syncs >= 3, "published as several messages");
    let all = read_all(log.clone(), 0).await;
    assert_eq!(numbers(&all), (0..3000).collect::<Vec<_>>());
    assert!(all.iter().all(|r| r.payload.len() == 1024));
    s.delete().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_by_size_drops_old_messages_and_readers_count_the_gap() {
    let mut s = TestStream::new("retention");
    s.opts.max_bytes = 16 * 1024;
    let log: Arc<dyn EventLog> = Arc::new(s.open().await);
    let first = log.append(batch("RJ1", 0, 1)).await.unwrap().first_offset;
    let mut b = BatchBuilder::new();
    let body = vec![b'y'; 2000];
    for round in 0..20 {
        b.push("RJ1", 100 + round, &body);
        log.append(std::mem::take(&mut b).finish()).await.unwrap();
    }
    // Let the poller see the stream's new first sequence.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        log.stats().first_offset > first,
        "the oldest messages are gone"
    );
    let l = log.clone();
    let (records, skipped) = tokio::task::spawn_blocking(move || {
        let mut r = l.reader(first).unwrap();
        let mut n = Vec::new();
        loop {
            let got = r.read_batch(100).unwrap();
            if got.is_empty() {
                return (n, r.skipped_by_retention());
            }
            n.extend(got);
        }
    })
    .await
    .unwrap();
    assert!(skipped > 0, "the gap is counted");
    assert!(records.len() < 21 && !records.is_empty());
    assert_eq!(
        records.last().unwrap().received_at_ms,
        119,
        "the newest is kept"
    );
    s.delete().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_is_a_clear_error() {
    let opts = JetStreamOptions {
        url: "nats://127.0.0.1:1".into(),
        ..JetStreamOptions::default()
    };
    let err = match JetStreamLog::connect(opts).await {
        Ok(_) => panic!("connected to nothing"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("cannot connect to NATS at nats://127.0.0.1:1"),
        "{err}"
    );
}
