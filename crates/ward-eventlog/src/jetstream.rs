//! The scale-out engine: the event log kept in a NATS JetStream stream.
//!
//! Several ward nodes can append to and read from one stream, and JetStream replicates it
//! (`num_replicas`) and applies retention (`max_age`, `max_bytes`) itself.
//!
//! A batch is published as the very records [`crate::BatchBuilder`] encodes for the embedded
//! engine (length, CRC32C, body), packed into as few messages as the server's `max_payload`
//! allows — normally one. One message is stored atomically, so a batch that fits one message
//! is all-or-nothing exactly as on the embedded engine. Each message carries a
//! `Nats-Msg-Id`, so a publish retried after a lost acknowledgement is stored once (within the
//! stream's duplicate window).
//!
//! Offsets keep the [`EventLog`] contract (ordered, every offset below the committed one is
//! durable, a reader resumes at any offset it was given) but are positions, not counts: the
//! record at index `i` of stream message `seq` has offset `seq << 24 | i`. Subtracting two
//! offsets does not give a number of records.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::{self, stream};
use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::watch;

use crate::record::{decode_body, parse_header, verify};
use crate::RECORD_HEADER_BYTES;
use crate::{AppendAck, EncodedBatch, EventLog, LogError, LogReader, LogRecord, LogStats};

/// Bits of an offset that index a record inside one stream message.
pub const OFFSET_INDEX_BITS: u32 = 24;
const INDEX_MASK: u64 = (1 << OFFSET_INDEX_BITS) - 1;
/// Room left in a message for NATS headers.
const HEADER_ROOM: usize = 1024;
/// Stream messages fetched concurrently by a reader.
const READ_AHEAD: u64 = 32;

/// Where the stream is and how it is kept.
#[derive(Debug, Clone)]
pub struct JetStreamOptions {
    /// `nats://host:port`.
    pub url: String,
    /// Stream name (no spaces or dots).
    pub stream: String,
    /// The one subject the stream holds.
    pub subject: String,
    /// Drop messages older than this; zero keeps them until `max_bytes`.
    pub max_age: Duration,
    /// Drop the oldest messages beyond this size; -1 for no limit.
    pub max_bytes: i64,
    /// Copies kept by a JetStream cluster (1 on a single server).
    pub replicas: usize,
    /// How long the server remembers message ids to drop re-published batches.
    pub duplicate_window: Duration,
    /// How often other nodes' appends are noticed.
    pub poll_interval: Duration,
    /// How many times a failed publish is retried before the append fails.
    pub publish_retries: u32,
}

impl Default for JetStreamOptions {
    fn default() -> Self {
        JetStreamOptions {
            url: "nats://127.0.0.1:4222".into(),
            stream: "WARD_EVENTS".into(),
            subject: "ward.events".into(),
            max_age: Duration::ZERO,
            max_bytes: -1,
            replicas: 1,
            duplicate_window: Duration::from_secs(120),
            poll_interval: Duration::from_millis(200),
            publish_retries: 3,
        }
    }
}

#[derive(Default)]
struct Counters {
    appended_records: AtomicU64,
    appended_bytes: AtomicU64,
    publishes: AtomicU64,
    append_errors: AtomicU64,
}

#[derive(Default, Clone, Copy)]
struct StreamState {
    messages: u64,
    bytes: u64,
    first_seq: u64,
    last_seq: u64,
}

/// The event log on a JetStream stream. Open with [`JetStreamLog::connect`].
pub struct JetStreamLog {
    js: jetstream::Context,
    stream: stream::Stream,
    subject: String,
    max_chunk: usize,
    retries: u32,
    runtime: tokio::runtime::Handle,
    committed: Arc<watch::Sender<u64>>,
    state: Arc<Mutex<StreamState>>,
    counters: Counters,
    closed: AtomicBool,
    poller: tokio::task::JoinHandle<()>,
}

fn remote(what: &str, e: impl std::fmt::Display) -> LogError {
    LogError::Remote(format!("{what}: {e}"))
}

fn committed_of(last_seq: u64) -> u64 {
    (last_seq + 1) << OFFSET_INDEX_BITS
}

impl JetStreamLog {
    /// Connects, creates the stream when it does not exist (or brings its limits in line with
    /// `opts` when it does) and starts watching it for other nodes' appends.
    pub async fn connect(opts: JetStreamOptions) -> Result<JetStreamLog, LogError> {
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(5))
            .connect(opts.url.as_str())
            .await
            .map_err(|e| remote(&format!("cannot connect to NATS at {}", opts.url), e))?;
        let max_payload = client.server_info().max_payload;
        let js = jetstream::new(client);
        let config = stream::Config {
            name: opts.stream.clone(),
            subjects: vec![opts.subject.clone()],
            max_age: opts.max_age,
            max_bytes: opts.max_bytes,
            num_replicas: opts.replicas.max(1),
            duplicate_window: opts.duplicate_window,
            storage: stream::StorageType::File,
            ..Default::default()
        };
        js.create_or_update_stream(config).await.map_err(|e| {
            remote(
                &format!("cannot create or update JetStream stream {}", opts.stream),
                e,
            )
        })?;
        let mut stream = js
            .get_stream(&opts.stream)
            .await
            .map_err(|e| remote(&format!("cannot open stream {}", opts.stream), e))?;
        let info = stream
            .info()
            .await
            .map_err(|e| remote("cannot read the stream's state", e))?;
        let initial = StreamState {
            messages: info.state.messages,
            bytes: info.state.bytes,
            first_seq: info.state.first_sequence,
            last_seq: info.state.last_sequence,
        };
        let state = Arc::new(Mutex::new(initial));
        let (tx, _) = watch::channel(committed_of(initial.last_seq));
        let committed = Arc::new(tx);
        let poller = tokio::spawn(poll_stream(
            stream.clone(),
            state.clone(),
            committed.clone(),
            opts.poll_interval,
        ));
        Ok(JetStreamLog {
            js,
            stream,
            subject: opts.subject,
            max_chunk: max_payload.saturating_sub(HEADER_ROOM).max(64),
            retries: opts.publish_retries,
            runtime: tokio::runtime::Handle::current(),
            committed,
            state,
            counters: Counters::default(),
            closed: AtomicBool::new(false),
            poller,
        })
    }

    /// Stops watching the stream; appends fail with [`LogError::Closed`] afterwards.
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.poller.abort();
    }

    async fn publish_chunk(&self, id: &str, payload: Bytes) -> Result<u64, LogError> {
        let mut attempt = 0;
        loop {
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("Nats-Msg-Id", id);
            let sent = match self
                .js
                .publish_with_headers(self.subject.clone(), headers, payload.clone())
                .await
            {
                Ok(ack) => ack.await.map_err(|e| remote("publish not acknowledged", e)),
                Err(e) => Err(remote("publish failed", e)),
            };
            self.counters.publishes.fetch_add(1, Ordering::Relaxed);
            match sent {
                Ok(ack) => return Ok(ack.sequence),
                Err(e) if attempt >= self.retries => return Err(e),
                Err(e) => {
                    attempt += 1;
                    tracing::warn!(error = %e, attempt, "JetStream publish failed; retrying");
                    tokio::time::sleep(Duration::from_millis(100 << attempt.min(5))).await;
                }
            }
        }
    }
}

impl Drop for JetStreamLog {
    fn drop(&mut self) {
        self.poller.abort();
    }
}

async fn poll_stream(
    mut stream: stream::Stream,
    state: Arc<Mutex<StreamState>>,
    committed: Arc<watch::Sender<u64>>,
    every: Duration,
) {
    loop {
        tokio::time::sleep(every).await;
        let Ok(info) = stream.info().await else {
            continue;
        };
        let s = StreamState {
            messages: info.state.messages,
            bytes: info.state.bytes,
            first_seq: info.state.first_sequence,
            last_seq: info.state.last_sequence,
        };
        if let Ok(mut g) = state.lock() {
            g.messages = s.messages;
            g.bytes = s.bytes;
            g.first_seq = s.first_seq;
            g.last_seq = g.last_seq.max(s.last_seq);
        }
        advance(&committed, committed_of(s.last_seq));
    }
}

fn advance(committed: &watch::Sender<u64>, to: u64) {
    committed.send_if_modified(|c| {
        if to > *c {
            *c = to;
            true
        } else {
            false
        }
    });
}

/// Splits encoded records into message payloads of at most `max` bytes, at record
/// boundaries. Returns (payload, records) pairs.
fn chunks(bytes: &[u8], max: usize) -> Result<Vec<(Bytes, u64)>, LogError> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut pos = 0;
    let mut count = 0u64;
    while pos < bytes.len() {
        let (len, _) = parse_header(&bytes[pos..])
            .map_err(|e| LogError::Remote(format!("batch is malformed: {e:?}")))?;
        let size = RECORD_HEADER_BYTES + len;
        if size > max {
            return Err(LogError::Remote(format!(
                "one event of {size} bytes is larger than the NATS server's max_payload allows ({max} bytes)"
            )));
        }
        if pos + size - start > max {
            out.push((Bytes::copy_from_slice(&bytes[start..pos]), count));
            start = pos;
            count = 0;
        }
        pos += size;
        count += 1;
    }
    if pos > start {
        out.push((Bytes::copy_from_slice(&bytes[start..pos]), count));
    }
    Ok(out)
}

#[async_trait]
impl EventLog for JetStreamLog {
    async fn append(&self, batch: EncodedBatch) -> Result<AppendAck, LogError> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(LogError::Closed);
        }
        if batch.is_empty() {
            return Ok(AppendAck {
                first_offset: *self.committed.borrow(),
                count: 0,
            });
        }
        let parts = chunks(&batch.bytes, self.max_chunk)?;
        let batch_id: u128 = rand::random();
        let mut first_offset = None;
        let mut last_seq = 0;
        for (i, (payload, _)) in parts.into_iter().enumerate() {
            let id = format!("{batch_id:032x}-{i}");
            match self.publish_chunk(&id, payload).await {
                Ok(seq) => {
                    first_offset.get_or_insert(seq << OFFSET_INDEX_BITS);
                    last_seq = last_seq.max(seq);
                }
                Err(e) => {
                    self.counters.append_errors.fetch_add(1, Ordering::Relaxed);
                    return Err(e);
                }
            }
        }
        self.counters
            .appended_records
            .fetch_add(batch.count, Ordering::Relaxed);
        self.counters
            .appended_bytes
            .fetch_add(batch.bytes.len() as u64, Ordering::Relaxed);
        if let Ok(mut g) = self.state.lock() {
            g.last_seq = g.last_seq.max(last_seq);
        }
        advance(&self.committed, committed_of(last_seq));
        Ok(AppendAck {
            first_offset: first_offset.unwrap_or(0),
            count: batch.count,
        })
    }

    fn reader(&self, from_offset: u64) -> Result<Box<dyn LogReader>, LogError> {
        let first_seq = self.state.lock().map(|s| s.first_seq).unwrap_or(1).max(1);
        let mut seq = from_offset >> OFFSET_INDEX_BITS;
        let mut index = (from_offset & INDEX_MASK) as usize;
        let mut skipped = 0;
        if seq < first_seq {
            if seq > 0 {
                skipped = first_seq - seq;
            }
            seq = first_seq;
            index = 0;
        }
        Ok(Box::new(JetStreamReader {
            stream: self.stream.clone(),
            runtime: self.runtime.clone(),
            committed: self.committed.subscribe(),
            next_seq: seq,
            skip_in_next: index,
            pending: VecDeque::new(),
            skipped,
        }))
    }

    fn subscribe(&self) -> watch::Receiver<u64> {
        self.committed.subscribe()
    }

    fn stats(&self) -> LogStats {
        let s = self.state.lock().map(|g| *g).unwrap_or_default();
        LogStats {
            committed_offset: committed_of(s.last_seq),
            first_offset: s.first_seq.max(1) << OFFSET_INDEX_BITS,
            segments: s.messages,
            bytes_on_disk: s.bytes,
            appended_records: self.counters.appended_records.load(Ordering::Relaxed),
            appended_bytes: self.counters.appended_bytes.load(Ordering::Relaxed),
            syncs: self.counters.publishes.load(Ordering::Relaxed),
            append_errors: self.counters.append_errors.load(Ordering::Relaxed),
            ..LogStats::default()
        }
    }
}

struct JetStreamReader {
    stream: stream::Stream,
    runtime: tokio::runtime::Handle,
    committed: watch::Receiver<u64>,
    next_seq: u64,
    /// Records of message `next_seq` already consumed (a reader opened mid-message).
    skip_in_next: usize,
    pending: VecDeque<LogRecord>,
    skipped: u64,
}

fn decode_message(seq: u64, payload: &[u8]) -> Result<Vec<LogRecord>, LogError> {
    let corrupt = |offset: u64, reason: String| LogError::Corrupt {
        path: std::path::PathBuf::from(format!("jetstream message {seq}")),
        offset,
        reason,
    };
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < payload.len() {
        let offset = seq << OFFSET_INDEX_BITS | out.len() as u64;
        let (len, crc) =
            parse_header(&payload[pos..]).map_err(|e| corrupt(offset, format!("{e:?}")))?;
        let body = payload
            .get(pos + RECORD_HEADER_BYTES..pos + RECORD_HEADER_BYTES + len)
            .ok_or_else(|| corrupt(offset, "record runs past the message".into()))?;
        verify(body, crc).map_err(|e| corrupt(offset, format!("{e:?}")))?;
        out.push(decode_body(offset, body).map_err(|e| corrupt(offset, format!("{e:?}")))?);
        pos += RECORD_HEADER_BYTES + len;
    }
    Ok(out)
}

impl JetStreamReader {
    /// Fetches the next few stream messages, in order, into `pending`.
    fn fill(&mut self) -> Result<(), LogError> {
        let last_seq = (*self.committed.borrow() >> OFFSET_INDEX_BITS).saturating_sub(1);
        if self.next_seq > last_seq {
            return Ok(());
        }
        let until = (self.next_seq + READ_AHEAD - 1).min(last_seq);
        let stream = self.stream.clone();
        let from = self.next_seq;
        let fetched = self.runtime.block_on(async move {
            let mut tasks = Vec::new();
            for seq in from..=until {
                let s = stream.clone();
                tasks.push(tokio::spawn(
                    async move { (seq, s.get_raw_message(seq).await) },
                ));
            }
            let mut out = Vec::with_capacity(tasks.len());
            for t in tasks {
                out.push(t.await);
            }
            out
        });
        for joined in fetched {
            let (seq, got) = joined.map_err(|e| remote("reader task failed", e))?;
            match got {
                Ok(msg) => {
                    let mut records = decode_message(seq, &msg.payload)?;
                    let skip = std::mem::take(&mut self.skip_in_next).min(records.len());
                    records.drain(..skip);
                    self.pending.extend(records);
                }
                Err(e)
                    if e.kind()
                        == async_nats::jetstream::stream::LastRawMessageErrorKind::NoMessageFound =>
                {
                    // Removed by the stream's retention (or deleted) before we got to it.
                    self.skip_in_next = 0;
                    self.skipped += 1;
                }
                Err(e) => return Err(remote(&format!("cannot read stream message {seq}"), e)),
            }
            self.next_seq = seq + 1;
        }
        Ok(())
    }
}

impl LogReader for JetStreamReader {
    fn read_batch(&mut self, max: usize) -> Result<Vec<LogRecord>, LogError> {
        if self.pending.is_empty() {
            self.fill()?;
        }
        let n = max.min(self.pending.len());
        Ok(self.pending.drain(..n).collect())
    }

    fn position(&self) -> u64 {
        match self.pending.front() {
            Some(r) => r.offset,
            None => self.next_seq << OFFSET_INDEX_BITS | self.skip_in_next as u64,
        }
    }

    /// Stream messages (each holding one or more events) removed by retention before this
    /// reader reached them.
    fn skipped_by_retention(&self) -> u64 {
        self.skipped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BatchBuilder;

    #[test]
    fn chunks_split_at_record_boundaries_and_refuse_giants() {
        let mut b = BatchBuilder::new();
        for i in 0..10 {
            b.push("RJ1", i, &[b'x'; 100]);
        }
        let batch = b.finish();
        let record = batch.bytes.len() / 10;
        let parts = chunks(&batch.bytes, record * 3 + 5).unwrap();
        assert_eq!(
            parts.iter().map(|p| p.1).collect::<Vec<_>>(),
            vec![3, 3, 3, 1]
        );
        let decoded: Vec<LogRecord> = parts
            .iter()
            .enumerate()
            .flat_map(|(i, (p, _))| decode_message(i as u64 + 1, p).unwrap())
            .collect();
        assert_eq!(decoded.len(), 10);
        assert_eq!(decoded[9].received_at_ms, 9);
        assert_eq!(decoded[4].offset, 2 << OFFSET_INDEX_BITS | 1);
        let err = chunks(&batch.bytes, record - 1).unwrap_err();
        assert!(err.to_string().contains("max_payload"), "{err}");
    }
}
