//! The single-node engine: segment files in one directory and one writer thread.

use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot, watch};

use crate::record::{decode_body, parse_header, verify, RECORD_HEADER_BYTES};
use crate::{AppendAck, EncodedBatch, EventLog, LogError, LogReader, LogRecord, LogStats};

const SEGMENT_SUFFIX: &str = ".seg";
/// Upper bound on bytes written between two syncs; keeps one group commit from holding
/// early senders hostage to a flood of later ones.
const MAX_GROUP_BYTES: usize = 64 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct LogOptions {
    pub segment_bytes: u64,
    /// Appends waiting for the writer; beyond it `append` fails with [`LogError::Full`].
    pub queue_batches: usize,
    /// Skip fsync. Only for benchmarks that measure everything but the disk.
    pub unsafe_no_sync: bool,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            segment_bytes: 128 * 1024 * 1024,
            queue_batches: 4096,
            unsafe_no_sync: false,
        }
    }
}

#[derive(Debug, Clone)]
struct Segment {
    base: u64,
    path: PathBuf,
}

struct Shared {
    dir: PathBuf,
    segments: Mutex<Vec<Segment>>,
    committed: watch::Sender<u64>,
    appended_records: AtomicU64,
    appended_bytes: AtomicU64,
    syncs: AtomicU64,
    append_errors: AtomicU64,
    truncated_on_recovery_bytes: AtomicU64,
    segments_deleted: AtomicU64,
    records_deleted: AtomicU64,
}

impl Shared {
    fn committed(&self) -> u64 {
        *self.committed.borrow()
    }

    fn segments(&self) -> Vec<Segment> {
        match self.segments.lock() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn with_segments<R>(&self, f: impl FnOnce(&mut Vec<Segment>) -> R) -> R {
        match self.segments.lock() {
            Ok(mut g) => f(&mut g),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }
}

struct AppendRequest {
    batch: EncodedBatch,
    reply: oneshot::Sender<Result<AppendAck, LogError>>,
}

/// The embedded, single-node [`EventLog`].
pub struct EmbeddedLog {
    shared: Arc<Shared>,
    tx: mpsc::Sender<AppendRequest>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> LogError + '_ {
    move |source| LogError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn segment_path(dir: &Path, base: u64) -> PathBuf {
    dir.join(format!("{base:020}{SEGMENT_SUFFIX}"))
}

fn sync_dir(dir: &Path) -> Result<(), LogError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

/// Scans a segment from its start and returns (valid bytes, records). Stops at the first record
/// that is short or fails its checksum: that is the torn tail.
fn scan_valid_prefix(path: &Path) -> Result<(u64, u64), LogError> {
    let mut data = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut data))
        .map_err(io_err(path))?;
    let mut pos = 0usize;
    let mut records = 0u64;
    while let Ok((len, crc)) = parse_header(&data[pos..]) {
        let start = pos + RECORD_HEADER_BYTES;
        let Some(body) = data.get(start..start + len) else {
            break;
        };
        if verify(body, crc).is_err() || decode_body(0, body).is_err() {
            break;
        }
        pos = start + len;
        records += 1;
    }
    Ok((pos as u64, records))
}

impl EmbeddedLog {
    /// Opens (or creates) the log in `dir`, truncating a torn tail, and starts the writer.
    pub fn open(dir: &Path, opts: LogOptions) -> Result<EmbeddedLog, LogError> {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let mut bases: Vec<u64> = fs::read_dir(dir)
            .map_err(io_err(dir))?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                name.strip_suffix(SEGMENT_SUFFIX)?.parse::<u64>().ok()
            })
            .collect();
        bases.sort_unstable();
        if bases.is_empty() {
            let path = segment_path(dir, 0);
            File::create(&path).map_err(io_err(&path))?;
            sync_dir(dir)?;
            bases.push(0);
        }
        let segments: Vec<Segment> = bases
            .iter()
            .map(|&base| Segment {
                base,
                path: segment_path(dir, base),
            })
            .collect();
        let active = segments[segments.len() - 1].clone();
        let (valid_bytes, records) = scan_valid_prefix(&active.path)?;
        let file_len = fs::metadata(&active.path)
            .map_err(io_err(&active.path))?
            .len();
        let mut truncated = 0;
        if file_len > valid_bytes {
            truncated = file_len - valid_bytes;
            tracing::warn!(
                segment = %active.path.display(),
                truncated_bytes = truncated,
                "event log: truncating torn tail left by a crash"
            );
            let f = OpenOptions::new()
                .write(true)
                .open(&active.path)
                .map_err(io_err(&active.path))?;
            f.set_len(valid_bytes).map_err(io_err(&active.path))?;
            f.sync_all().map_err(io_err(&active.path))?;
        }
        let next_offset = active.base + records;
        let (committed, _) = watch::channel(next_offset);
        let shared = Arc::new(Shared {
            dir: dir.to_path_buf(),
            segments: Mutex::new(segments),
            committed,
            appended_records: AtomicU64::new(0),
            appended_bytes: AtomicU64::new(0),
            syncs: AtomicU64::new(0),
            append_errors: AtomicU64::new(0),
            truncated_on_recovery_bytes: AtomicU64::new(truncated),
            segments_deleted: AtomicU64::new(0),
            records_deleted: AtomicU64::new(0),
        });
        let file = OpenOptions::new()
            .append(true)
            .open(&active.path)
            .map_err(io_err(&active.path))?;
        let (tx, rx) = mpsc::channel(opts.queue_batches.max(1));
        let writer = Writer {
            shared: shared.clone(),
            opts,
            file,
            file_path: active.path,
            file_len: valid_bytes,
            next_offset,
        };
        let handle = std::thread::Builder::new()
            .name("ward-eventlog-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(io_err(dir))?;
        Ok(EmbeddedLog {
            shared,
            tx,
            writer: Mutex::new(Some(handle)),
        })
    }

    /// Deletes closed segments that retention no longer keeps. Never touches the active one.
    /// `max_age` of zero and `max_bytes` of zero disable each rule. Returns segments deleted.
    pub fn apply_retention(&self, max_age: Duration, max_bytes: u64) -> Result<u64, LogError> {
        let segments = self.shared.segments();
        if segments.len() < 2 {
            return Ok(0);
        }
        let now = SystemTime::now();
        let mut sizes = Vec::with_capacity(segments.len());
        for s in &segments {
            let meta = fs::metadata(&s.path).map_err(io_err(&s.path))?;
            let age = meta
                .modified()
                .ok()
                .and_then(|m| now.duration_since(m).ok())
                .unwrap_or_default();
            sizes.push((meta.len(), age));
        }
        let mut total: u64 = sizes.iter().map(|(len, _)| len).sum();
        let mut delete = 0usize;
        // Closed segments only: the last one is being written.
        for (i, (len, age)) in sizes.iter().enumerate().take(segments.len() - 1) {
            let too_old = !max_age.is_zero() && *age > max_age;
            let too_big = max_bytes > 0 && total > max_bytes;
            if !(too_old || too_big) {
                break;
            }
            total -= len;
            delete = i + 1;
        }
        if delete == 0 {
            return Ok(0);
        }
        let doomed: Vec<Segment> = self
            .shared
            .with_segments(|segs| segs.drain(..delete).collect());
        let first_kept = self.shared.segments().first().map(|s| s.base).unwrap_or(0);
        for s in &doomed {
            fs::remove_file(&s.path).map_err(io_err(&s.path))?;
        }
        sync_dir(&self.shared.dir)?;
        let records = first_kept - doomed[0].base;
        self.shared
            .segments_deleted
            .fetch_add(doomed.len() as u64, Ordering::Relaxed);
        self.shared
            .records_deleted
            .fetch_add(records, Ordering::Relaxed);
        tracing::info!(
            segments = doomed.len(),
            records,
            "event log: retention deleted old segments"
        );
        Ok(doomed.len() as u64)
    }

    /// Stops the writer after it has finished what was queued.
    pub fn close(&self) {
        let handle = match self.writer.lock() {
            Ok(mut g) => g.take(),
            Err(p) => p.into_inner().take(),
        };
        // Dropping our sender is not enough while clones live in other tasks, so the writer is
        // asked to stop by a zero-record sentinel.
        let (reply, _rx) = oneshot::channel();
        let _ = self.tx.try_send(AppendRequest {
            batch: EncodedBatch {
                bytes: Vec::new(),
                count: u64::MAX,
            },
            reply,
        });
        if let Some(h) = handle {
            let _ = h.join();
        }
    }
}

impl Drop for EmbeddedLog {
    fn drop(&mut self) {
        self.close();
    }
}

#[async_trait]
impl EventLog for EmbeddedLog {
    async fn append(&self, batch: EncodedBatch) -> Result<AppendAck, LogError> {
        if batch.is_empty() {
            return Ok(AppendAck {
                first_offset: self.shared.committed(),
                count: 0,
            });
        }
        let (reply, rx) = oneshot::channel();
        self.tx
            .try_send(AppendRequest { batch, reply })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => LogError::Full(self.tx.max_capacity()),
                mpsc::error::TrySendError::Closed(_) => LogError::Closed,
            })?;
        rx.await.map_err(|_| LogError::Closed)?
    }

    fn reader(&self, from_offset: u64) -> Result<Box<dyn LogReader>, LogError> {
        Ok(Box::new(EmbeddedReader {
            shared: self.shared.clone(),
            next_offset: from_offset,
            open: None,
            skipped: 0,
        }))
    }

    fn subscribe(&self) -> watch::Receiver<u64> {
        self.shared.committed.subscribe()
    }

    fn stats(&self) -> LogStats {
        let segments = self.shared.segments();
        let bytes_on_disk = segments
            .iter()
            .filter_map(|s| fs::metadata(&s.path).ok())
            .map(|m| m.len())
            .sum();
        LogStats {
            committed_offset: self.shared.committed(),
            first_offset: segments.first().map(|s| s.base).unwrap_or(0),
            segments: segments.len() as u64,
            bytes_on_disk,
            appended_records: self.shared.appended_records.load(Ordering::Relaxed),
            appended_bytes: self.shared.appended_bytes.load(Ordering::Relaxed),
            syncs: self.shared.syncs.load(Ordering::Relaxed),
            append_errors: self.shared.append_errors.load(Ordering::Relaxed),
            truncated_on_recovery_bytes: self
                .shared
                .truncated_on_recovery_bytes
                .load(Ordering::Relaxed),
            segments_deleted_by_retention: self.shared.segments_deleted.load(Ordering::Relaxed),
            records_deleted_by_retention: self.shared.records_deleted.load(Ordering::Relaxed),
        }
    }
}

struct Writer {
    shared: Arc<Shared>,
    opts: LogOptions,
    file: File,
    file_path: PathBuf,
    file_len: u64,
    next_offset: u64,
}

impl Writer {
    fn run(mut self, mut rx: mpsc::Receiver<AppendRequest>) {
        let mut group: Vec<AppendRequest> = Vec::new();
        while let Some(first) = rx.blocking_recv() {
            let mut stop = first.batch.count == u64::MAX;
            let mut group_bytes = first.batch.bytes.len();
            if !stop {
                group.push(first);
            }
            while !stop && group_bytes < MAX_GROUP_BYTES {
                match rx.try_recv() {
                    Ok(req) if req.batch.count == u64::MAX => stop = true,
                    Ok(req) => {
                        group_bytes += req.batch.bytes.len();
                        group.push(req);
                    }
                    Err(_) => break,
                }
            }
            if !group.is_empty() {
                self.commit_group(&mut group);
            }
            if stop {
                break;
            }
        }
        let _ = self.file.sync_data();
    }

    fn commit_group(&mut self, group: &mut Vec<AppendRequest>) {
        let start = (self.file_path.clone(), self.file_len, self.next_offset);
        let mut created: Vec<PathBuf> = Vec::new();
        let mut acks = Vec::with_capacity(group.len());
        let mut result: Result<(), LogError> = Ok(());
        for req in group.iter() {
            if self.file_len > 0
                && self.file_len + req.batch.bytes.len() as u64 > self.opts.segment_bytes
            {
                // The segment being closed must be durable before the next one exists.
                if let Err(e) = self.sync().and_then(|()| self.roll()) {
                    result = Err(e);
                    break;
                }
                created.push(self.file_path.clone());
            }
            if let Err(source) = self.file.write_all(&req.batch.bytes) {
                result = Err(LogError::Io {
                    path: self.file_path.clone(),
                    source,
                });
                break;
            }
            acks.push(AppendAck {
                first_offset: self.next_offset,
                count: req.batch.count,
            });
            self.file_len += req.batch.bytes.len() as u64;
            self.next_offset += req.batch.count;
        }
        if result.is_ok() {
            result = self.sync();
        }
        match result {
            Ok(()) => {
                let bytes: usize = group.iter().map(|r| r.batch.bytes.len()).sum();
                self.shared
                    .appended_records
                    .fetch_add(self.next_offset - start.2, Ordering::Relaxed);
                self.shared
                    .appended_bytes
                    .fetch_add(bytes as u64, Ordering::Relaxed);
                self.shared.committed.send_replace(self.next_offset);
                for (req, ack) in group.drain(..).zip(acks) {
                    let _ = req.reply.send(Ok(ack));
                }
            }
            Err(err) => {
                tracing::error!(error = %err, "event log: append failed; refusing the whole group");
                self.shared.append_errors.fetch_add(1, Ordering::Relaxed);
                self.undo_group(start, &created);
                let msg = err.to_string();
                for req in group.drain(..) {
                    let _ = req.reply.send(Err(LogError::Io {
                        path: self.file_path.clone(),
                        source: std::io::Error::other(msg.clone()),
                    }));
                }
            }
        }
    }

    /// Nothing of a failed group was acknowledged, so nothing of it may stay on disk, or a
    /// sender's retry would store it twice: cut the segment back and drop segments it created.
    fn undo_group(&mut self, (path, len, offset): (PathBuf, u64, u64), created: &[PathBuf]) {
        for p in created {
            let _ = fs::remove_file(p);
        }
        if !created.is_empty() {
            self.shared
                .with_segments(|segs| segs.retain(|s| !created.contains(&s.path)));
        }
        match OpenOptions::new().append(true).open(&path) {
            Ok(f) => {
                let _ = f.set_len(len);
                let _ = f.sync_all();
                self.file = f;
            }
            Err(e) => {
                tracing::error!(error = %e, "event log: cannot reopen segment after a failed append")
            }
        }
        self.file_path = path;
        self.file_len = len;
        self.next_offset = offset;
    }

    fn sync(&mut self) -> Result<(), LogError> {
        if self.opts.unsafe_no_sync {
            return Ok(());
        }
        self.shared.syncs.fetch_add(1, Ordering::Relaxed);
        self.file.sync_data().map_err(io_err(&self.file_path))
    }

    fn roll(&mut self) -> Result<(), LogError> {
        let path = segment_path(&self.shared.dir, self.next_offset);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_err(&path))?;
        sync_dir(&self.shared.dir)?;
        self.shared.with_segments(|segs| {
            segs.push(Segment {
                base: self.next_offset,
                path: path.clone(),
            })
        });
        self.file = file;
        self.file_path = path;
        self.file_len = 0;
        Ok(())
    }
}

struct OpenSegment {
    base: u64,
    path: PathBuf,
    reader: BufReader<File>,
    /// Offset of the record the reader is positioned at.
    offset: u64,
}

struct EmbeddedReader {
    shared: Arc<Shared>,
    next_offset: u64,
    open: Option<OpenSegment>,
    skipped: u64,
}

impl EmbeddedReader {
    /// Opens the segment holding `next_offset` and skips to it.
    fn open_segment(&mut self) -> Result<(), LogError> {
        let segments = self.shared.segments();
        let Some(first) = segments.first() else {
            return Ok(());
        };
        if self.next_offset < first.base {
            self.skipped += first.base - self.next_offset;
            self.next_offset = first.base;
        }
        let seg = segments
            .iter()
            .rev()
            .find(|s| s.base <= self.next_offset)
            .unwrap_or(first)
            .clone();
        let file = File::open(&seg.path).map_err(io_err(&seg.path))?;
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let mut offset = seg.base;
        let mut header = [0u8; RECORD_HEADER_BYTES];
        while offset < self.next_offset {
            reader.read_exact(&mut header).map_err(io_err(&seg.path))?;
            let (len, _) = parse_header(&header).map_err(|_| LogError::Corrupt {
                path: seg.path.clone(),
                offset,
                reason: "short header".into(),
            })?;
            reader
                .seek_relative(len as i64)
                .map_err(io_err(&seg.path))?;
            offset += 1;
        }
        self.open = Some(OpenSegment {
            base: seg.base,
            path: seg.path,
            reader,
            offset,
        });
        Ok(())
    }
}

/// The base of the segment after the one starting at `base`, if it exists.
fn next_segment_base(shared: &Shared, base: u64) -> Option<u64> {
    shared.segments().iter().map(|s| s.base).find(|&b| b > base)
}

impl LogReader for EmbeddedReader {
    fn read_batch(&mut self, max: usize) -> Result<Vec<LogRecord>, LogError> {
        let committed = self.shared.committed();
        let mut out = Vec::new();
        let mut header = [0u8; RECORD_HEADER_BYTES];
        let mut body = Vec::new();
        while out.len() < max && self.next_offset < committed {
            if self.open.is_none() {
                self.open_segment()?;
            }
            let Some(seg) = self.open.as_mut() else {
                break;
            };
            if let Some(next_base) = next_segment_base(&self.shared, seg.base) {
                if seg.offset >= next_base {
                    self.open = None;
                    continue;
                }
            }
            match seg.reader.read_exact(&mut header) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    // Committed records past this point live in the next segment.
                    if next_segment_base(&self.shared, seg.base).is_some() {
                        self.open = None;
                        continue;
                    }
                    return Err(LogError::Corrupt {
                        path: seg.path.clone(),
                        offset: seg.offset,
                        reason: "committed record missing from the active segment".into(),
                    });
                }
                Err(source) => {
                    return Err(LogError::Io {
                        path: seg.path.clone(),
                        source,
                    })
                }
            }
            let corrupt = |reason: String| LogError::Corrupt {
                path: seg.path.clone(),
                offset: seg.offset,
                reason,
            };
            let (len, crc) = parse_header(&header).map_err(|e| corrupt(format!("{e:?}")))?;
            body.resize(len, 0);
            seg.reader
                .read_exact(&mut body)
                .map_err(|e| corrupt(format!("record body: {e}")))?;
            verify(&body, crc).map_err(|_| corrupt("checksum mismatch".into()))?;
            let record = decode_body(seg.offset, &body).map_err(|e| corrupt(format!("{e:?}")))?;
            seg.offset += 1;
            self.next_offset = seg.offset;
            out.push(record);
        }
        Ok(out)
    }

    fn position(&self) -> u64 {
        self.next_offset
    }

    fn skipped_by_retention(&self) -> u64 {
        self.skipped
    }
}
