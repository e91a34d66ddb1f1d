//! ward's front door for events sent over HTTP.
//!
//! [`ndjson::encode_batch`] turns a request body (NDJSON, optionally gzip) into an encoded log
//! batch, checking every line; [`Ingestor`] adds admission control and writes the batch to the
//! durable [`ward_eventlog::EventLog`], answering only once it is on disk.
//!
//! Batches are all-or-nothing: if any line is bad, no line of the batch is stored and the
//! error lists the bad lines, so a sender can fix and resend the whole batch without creating
//! duplicates.
//!
//! ```
//! use ward_ingest::ndjson::{encode_batch, Limits};
//! let body = b"{\"EventID\":1}\n{\"EventID\":2}\n";
//! let batch = encode_batch(body, "RJ1", 0, &Limits::default()).unwrap();
//! assert_eq!(batch.len(), 2);
//! let err = encode_batch(b"{\"a\":1}\nnot json\n", "RJ1", 0, &Limits::default()).unwrap_err();
//! assert_eq!(err.errors[0].line, 2);
//! ```

pub mod ndjson;

use std::sync::Arc;

use tokio::sync::Semaphore;
use ward_eventlog::{AppendAck, EventLog, LogError};
use ward_telemetry::{Counter, Registry};

pub use ndjson::{BatchRejected, Limits, LineError};

/// How the body is compressed (`Content-Encoding`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Identity,
    Gzip,
}

/// Why a batch was not taken. Each has a stable code; the server maps them to HTTP statuses.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("request body is {size} bytes; the limit is {limit}")]
    BodyTooLarge { size: u64, limit: u64 },
    #[error("{0}")]
    BadGzip(String),
    #[error("batch refused: {0}")]
    InvalidBatch(BatchRejected),
    #[error("the server is holding {limit_bytes} bytes of batches not yet durable; retry shortly")]
    Overloaded { limit_bytes: u64 },
    #[error("the event log cannot take more now: {0}")]
    LogUnavailable(String),
}

impl IngestError {
    /// The stable, documented code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            IngestError::BodyTooLarge { .. } => "body_too_large",
            IngestError::BadGzip(_) => "bad_gzip",
            IngestError::InvalidBatch(_) => "invalid_batch",
            IngestError::Overloaded { .. } => "overloaded",
            IngestError::LogUnavailable(_) => "log_unavailable",
        }
    }
}

/// What the sender is told on success.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Receipt {
    pub accepted: u64,
    pub first_offset: u64,
}

struct Metrics {
    registry: Arc<Registry>,
}

impl Metrics {
    fn refused(&self, source: &str, code: &str) -> Counter {
        self.registry.counter(
            "ward_ingest_batches_refused_total",
            "Batches refused at ingest, by reason",
            &[("source", source), ("reason", code)],
        )
    }

    /// Counters are per source (`http`, `syslog`, `upload`) so each door's figures add up.
    fn accepted(&self, source: &str, batches: u64, events: u64, bytes: u64) {
        let labels = [("source", source)];
        self.registry
            .counter(
                "ward_ingest_batches_accepted_total",
                "Batches made durable",
                &labels,
            )
            .add(batches);
        self.registry
            .counter(
                "ward_ingest_events_accepted_total",
                "Events made durable",
                &labels,
            )
            .add(events);
        self.registry
            .counter(
                "ward_ingest_bytes_accepted_total",
                "Event bytes made durable",
                &labels,
            )
            .add(bytes);
    }
}

/// Validates, admits and durably writes batches.
pub struct Ingestor {
    log: Arc<dyn EventLog>,
    pseudonymiser: Option<Arc<ward_pseudonymise::Pseudonymiser>>,
    pseudonymised: Counter,
    limits: Limits,
    max_body_bytes: u64,
    in_flight: Arc<Semaphore>,
    in_flight_limit: u64,
    metrics: Metrics,
}

/// Bodies above this are checked on a blocking thread, off the async runtime.
const BLOCKING_THRESHOLD: usize = 128 * 1024;
/// Semaphore permits are KiB so that the permit count fits a u32 for any sane limit.
const PERMIT_BYTES: u64 = 1024;

impl Ingestor {
    pub fn new(
        log: Arc<dyn EventLog>,
        limits: Limits,
        max_body_bytes: u64,
        max_in_flight_bytes: u64,
        registry: Arc<Registry>,
    ) -> Ingestor {
        let permits = (max_in_flight_bytes / PERMIT_BYTES).clamp(1, u32::MAX as u64 / 2);
        let metrics = Metrics { registry };
        // Registered up front so /metrics shows the HTTP door at zero before any traffic.
        metrics.accepted("http", 0, 0, 0);
        Ingestor {
            log,
            pseudonymiser: None,
            pseudonymised: metrics.registry.counter(
                "ward_ingest_identifiers_pseudonymised_total",
                "Patient identifiers replaced by keyed tokens before storage",
                &[],
            ),
            limits,
            max_body_bytes,
            in_flight: Arc::new(Semaphore::new(permits as usize)),
            in_flight_limit: max_in_flight_bytes,
            metrics,
        }
    }

    /// Replace patient identifiers in every event before it is written.
    pub fn with_pseudonymiser(mut self, p: Arc<ward_pseudonymise::Pseudonymiser>) -> Self {
        self.pseudonymiser = Some(p);
        self
    }

    pub fn max_body_bytes(&self) -> u64 {
        self.max_body_bytes
    }

    /// Takes one request body from `org`. Returns after the events are durable.
    pub async fn ingest(
        &self,
        org: &str,
        received_at_ms: i64,
        body: Vec<u8>,
        encoding: Encoding,
    ) -> Result<Receipt, IngestError> {
        self.ingest_from("http", org, received_at_ms, body, encoding)
            .await
    }

    /// [`Ingestor::ingest`] for another door (`syslog`, `upload`): the same checks,
    /// pseudonymisation and admission, counted under `source`.
    pub async fn ingest_from(
        &self,
        source: &str,
        org: &str,
        received_at_ms: i64,
        body: Vec<u8>,
        encoding: Encoding,
    ) -> Result<Receipt, IngestError> {
        let result = self
            .ingest_inner(source, org, received_at_ms, body, encoding)
            .await;
        if let Err(e) = &result {
            self.metrics.refused(source, e.code()).inc();
        }
        result
    }

    async fn ingest_inner(
        &self,
        source: &str,
        org: &str,
        received_at_ms: i64,
        body: Vec<u8>,
        encoding: Encoding,
    ) -> Result<Receipt, IngestError> {
        if body.len() as u64 > self.max_body_bytes {
            return Err(IngestError::BodyTooLarge {
                size: body.len() as u64,
                limit: self.max_body_bytes,
            });
        }
        // Admission is decided on the compressed size first (cheap), then held for the
        // decoded size, so memory stays bounded however the senders behave.
        let want = (body.len() as u64).div_ceil(PERMIT_BYTES).max(1) as u32;
        let permit = self
            .in_flight
            .clone()
            .try_acquire_many_owned(want)
            .map_err(|_| IngestError::Overloaded {
                limit_bytes: self.in_flight_limit,
            })?;
        let limits = self.limits.clone();
        let org_owned = org.to_string();
        let pseudonymiser = self.pseudonymiser.clone();
        let replaced = self.pseudonymised.clone();
        let decode = move || -> Result<ward_eventlog::EncodedBatch, IngestError> {
            let plain = match encoding {
                Encoding::Identity => std::borrow::Cow::Borrowed(body.as_slice()),
                Encoding::Gzip => {
                    std::borrow::Cow::Owned(ndjson::gunzip(&body, limits.max_decompressed_bytes)?)
                }
            };
            let mut counts = ward_pseudonymise::Counts::default();
            let batch = ndjson::encode_batch_with(
                &plain,
                &org_owned,
                received_at_ms,
                &limits,
                pseudonymiser.as_deref(),
                &mut counts,
            )
            .map_err(IngestError::InvalidBatch)?;
            replaced.add(counts.total());
            Ok(batch)
        };
        let batch = if self.body_needs_thread(encoding, &permit) {
            tokio::task::spawn_blocking(decode)
                .await
                .map_err(|e| IngestError::LogUnavailable(format!("decoder task failed: {e}")))??
        } else {
            decode()?
        };
        let extra = (batch.byte_len() as u64)
            .div_ceil(PERMIT_BYTES)
            .saturating_sub(want as u64) as u32;
        let _extra_permit = if extra > 0 {
            Some(
                self.in_flight
                    .clone()
                    .try_acquire_many_owned(extra)
                    .map_err(|_| IngestError::Overloaded {
                        limit_bytes: self.in_flight_limit,
                    })?,
            )
        } else {
            None
        };
        let events = batch.len();
        let bytes = batch.byte_len() as u64;
        let AppendAck {
            first_offset,
            count,
        } = self.log.append(batch).await.map_err(|e| match e {
            LogError::Full(_) | LogError::Closed => IngestError::LogUnavailable(e.to_string()),
            other => IngestError::LogUnavailable(other.to_string()),
        })?;
        drop(permit);
        self.metrics.accepted(source, 1, events, bytes);
        Ok(Receipt {
            accepted: count,
            first_offset,
        })
    }

    fn body_needs_thread(
        &self,
        encoding: Encoding,
        permit: &tokio::sync::OwnedSemaphorePermit,
    ) -> bool {
        encoding == Encoding::Gzip
            || permit.num_permits() as u64 * PERMIT_BYTES >= BLOCKING_THRESHOLD as u64
    }
}
