//! ward's durable event log: the first thing every accepted event touches.
//!
//! [`EmbeddedLog`] is the single-node engine: a directory of segment files, each an append-only
//! sequence of checksummed records. It implements [`EventLog`], the trait the ingest and
//! detection stages use, so a distributed engine (NATS JetStream) can stand in its place.
//!
//! Guarantees:
//! - [`EventLog::append`] returns only after the batch is on disk (`fdatasync`). Appends from
//!   concurrent senders that arrive while a sync is under way are written and synced together
//!   (group commit), so throughput grows with concurrency instead of collapsing.
//! - Readers see only committed (synced) records, so nothing downstream ever acts on an event
//!   that a crash could take back.
//! - On open, a torn tail (a record cut short by a crash, or whose checksum fails) is truncated;
//!   everything before it is kept.
//! - Offsets are dense and never reused: record *n* of the log is offset *n* forever.
//!
//! Record layout (little-endian): `u32 body_len | u32 crc32c(body) | body`, where
//! `body = i64 received_at_ms | u8 org_len | org | payload`.
//!
//! ```
//! # tokio_test();
//! # fn tokio_test() {
//! use ward_eventlog::{BatchBuilder, EmbeddedLog, EventLog, LogOptions};
//! let rt = tokio::runtime::Runtime::new().unwrap();
//! let dir = tempfile::tempdir().unwrap();
//! rt.block_on(async {
//!     let log = EmbeddedLog::open(dir.path(), LogOptions::default()).unwrap();
//!     let mut batch = BatchBuilder::new();
//!     batch.push("RJ1", 1_700_000_000_000, br#"{"EventID":1}"#);
//!     let ack = log.append(batch.finish()).await.unwrap();
//!     assert_eq!(ack.first_offset, 0);
//!     let mut reader = log.reader(0).unwrap();
//!     let records = reader.read_batch(10).unwrap();
//!     assert_eq!(records[0].org, "RJ1");
//!     assert_eq!(records[0].payload, br#"{"EventID":1}"#);
//! });
//! # }
//! ```

mod embedded;
pub mod jetstream;
mod record;

pub use embedded::{EmbeddedLog, LogOptions};
pub use jetstream::{JetStreamLog, JetStreamOptions};
pub use record::{BatchBuilder, EncodedBatch, LogRecord, RECORD_HEADER_BYTES};

use async_trait::async_trait;

/// Where an appended batch landed: offsets `first_offset .. first_offset + count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendAck {
    pub first_offset: u64,
    pub count: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("event log I/O error on {path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("event log is closed")]
    Closed,
    #[error("event log is full: {0} batches are waiting to be written")]
    Full(usize),
    /// The scale-out engine's server refused or could not be reached.
    #[error("event log server: {0}")]
    Remote(String),
    #[error("corrupt record at offset {offset} in {path}: {reason}")]
    Corrupt {
        path: std::path::PathBuf,
        offset: u64,
        reason: String,
    },
}

/// Counters an operator needs to see that nothing is lost.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogStats {
    /// Next offset to be assigned; every offset below it is durable.
    pub committed_offset: u64,
    /// First offset still on disk (retention removes older segments).
    pub first_offset: u64,
    pub segments: u64,
    pub bytes_on_disk: u64,
    pub appended_records: u64,
    pub appended_bytes: u64,
    pub syncs: u64,
    pub append_errors: u64,
    pub truncated_on_recovery_bytes: u64,
    pub segments_deleted_by_retention: u64,
    pub records_deleted_by_retention: u64,
}

/// A durable, ordered log of events. Implemented by [`EmbeddedLog`]; the scale-out engine
/// implements the same trait.
#[async_trait]
pub trait EventLog: Send + Sync + 'static {
    /// Appends a batch and returns once it is durable.
    async fn append(&self, batch: EncodedBatch) -> Result<AppendAck, LogError>;

    /// A reader positioned at `from_offset` (clamped to what retention has kept).
    fn reader(&self, from_offset: u64) -> Result<Box<dyn LogReader>, LogError>;

    /// Changes each time records become durable; its value is the committed offset.
    fn subscribe(&self) -> tokio::sync::watch::Receiver<u64>;

    fn stats(&self) -> LogStats;
}

/// Reads committed records in order. Blocking (file I/O): call it off the async runtime.
pub trait LogReader: Send {
    /// Up to `max` records from the current position; empty when the reader has caught up.
    fn read_batch(&mut self, max: usize) -> Result<Vec<LogRecord>, LogError>;

    /// The offset of the next record this reader will return.
    fn position(&self) -> u64;

    /// Records skipped because retention deleted them before this reader got to them.
    fn skipped_by_retention(&self) -> u64;
}
