//! Reading Windows `.evtx` files into evtx_dump-style JSON events
//! (`{"Event":{"System":{…},"EventData":{…}}}`), the layout
//! [`Engine::evaluate`](crate::Engine::evaluate) understands.
//!
//! The reader is streaming: it holds one 64 KiB chunk's records at a time, so
//! memory stays flat whatever the file size.

use std::collections::VecDeque;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use evtx::{EvtxParser, IntoIterChunks, ParserSettings};
use serde_json::Value;

/// An EVTX file or record could not be read.
#[derive(Debug, thiserror::Error)]
pub enum EvtxReadError {
    #[error("{path}: [evtx-open] cannot open EVTX file: {message}")]
    Open { path: PathBuf, message: String },
    #[error("{path}: [evtx-chunk] chunk {chunk}: {message}")]
    Chunk {
        path: PathBuf,
        chunk: usize,
        message: String,
    },
    #[error("{path}: [evtx-record] chunk {chunk}: {message}")]
    Record {
        path: PathBuf,
        chunk: usize,
        message: String,
    },
}

impl EvtxReadError {
    /// Stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            EvtxReadError::Open { .. } => "evtx-open",
            EvtxReadError::Chunk { .. } => "evtx-chunk",
            EvtxReadError::Record { .. } => "evtx-record",
        }
    }
}

/// Streaming iterator over the records of one EVTX file.
pub struct EvtxReader {
    path: PathBuf,
    chunks: Option<IntoIterChunks<File>>,
    settings: Arc<ParserSettings>,
    buf: VecDeque<Result<Value, EvtxReadError>>,
    chunk_no: usize,
    open_error: Option<EvtxReadError>,
}

impl std::fmt::Debug for EvtxReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EvtxReader")
            .field("path", &self.path)
            .field("chunk_no", &self.chunk_no)
            .finish()
    }
}

/// Read every record of an EVTX file as JSON. Errors (an unreadable file, a
/// corrupt chunk or record) are yielded in place and reading goes on with
/// the next chunk.
pub fn read_evtx(path: &Path) -> EvtxReader {
    let settings = ParserSettings::new().num_threads(1);
    let (chunks, open_error) = match EvtxParser::from_path(path) {
        Ok(p) => (
            Some(p.with_configuration(settings.clone()).into_chunks()),
            None,
        ),
        Err(e) => (
            None,
            Some(EvtxReadError::Open {
                path: path.to_path_buf(),
                message: e.to_string(),
            }),
        ),
    };
    EvtxReader {
        path: path.to_path_buf(),
        chunks,
        settings: Arc::new(settings),
        buf: VecDeque::new(),
        chunk_no: 0,
        open_error,
    }
}

impl Iterator for EvtxReader {
    type Item = Result<Value, EvtxReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(e) = self.open_error.take() {
            return Some(Err(e));
        }
        loop {
            if let Some(r) = self.buf.pop_front() {
                return Some(r);
            }
            let chunks = self.chunks.as_mut()?;
            let chunk = chunks.next()?;
            let n = self.chunk_no;
            self.chunk_no += 1;
            let mut data = match chunk {
                Ok(d) => d,
                Err(e) => {
                    return Some(Err(EvtxReadError::Chunk {
                        path: self.path.clone(),
                        chunk: n,
                        message: e.to_string(),
                    }))
                }
            };
            let mut parsed = match data.parse(Arc::clone(&self.settings)) {
                Ok(c) => c,
                Err(e) => {
                    return Some(Err(EvtxReadError::Chunk {
                        path: self.path.clone(),
                        chunk: n,
                        message: e.to_string(),
                    }))
                }
            };
            for rec in parsed.iter() {
                let item = rec
                    .and_then(|r| r.into_json_value())
                    .map(|r| r.data)
                    .map_err(|e| EvtxReadError::Record {
                        path: self.path.clone(),
                        chunk: n,
                        message: e.to_string(),
                    });
                self.buf.push_back(item);
            }
        }
    }
}
