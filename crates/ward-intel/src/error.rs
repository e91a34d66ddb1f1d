//! The one error type of ward-intel. Every variant carries a stable code
//! (`I001`…) users can search for, and says what was wrong and where.

use thiserror::Error;

/// Errors from parsing, matching and talking to feeds.
#[derive(Debug, Error)]
pub enum IntelError {
    /// Input was not valid JSON or did not fit the expected shape.
    #[error("I001 invalid JSON in {what}: {source}")]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    /// A STIX pattern outside the supported subset or malformed.
    #[error("I002 STIX pattern error at offset {offset}: {message}")]
    Pattern { offset: usize, message: String },
    /// A value (IP, hash, domain, …) that is not valid for its type.
    #[error("I003 invalid {kind} value {value:?}: {message}")]
    Value {
        kind: &'static str,
        value: String,
        message: String,
    },
    /// A CPE 2.3 formatted string that does not parse.
    #[error("I004 invalid CPE 2.3 name {cpe:?}: {message}")]
    Cpe { cpe: String, message: String },
    /// A package URL that does not parse.
    #[error("I005 invalid purl {purl:?}: {message}")]
    Purl { purl: String, message: String },
    /// A CSV feed line that does not parse.
    #[error("I006 CSV error at line {line}: {message}")]
    Csv { line: u64, message: String },
    /// A required field was missing or had the wrong type.
    #[error("I007 {what}: field {field:?} {message}")]
    Field {
        what: String,
        field: String,
        message: String,
    },
    /// An HTTP exchange with a feed or TAXII server failed.
    #[error("I008 HTTP error talking to {url}: {message}")]
    Http { url: String, message: String },
    /// The peer answered with an unexpected status.
    #[error("I009 {url} answered HTTP {status}: {body}")]
    Status {
        url: String,
        status: u16,
        body: String,
    },
    /// A warninglist regex that does not compile.
    #[error("I010 warninglist {list:?}: bad regex {pattern:?}: {message}")]
    Regex {
        list: String,
        pattern: String,
        message: String,
    },
    /// I/O on a local file.
    #[error("I011 I/O error on {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl IntelError {
    /// The stable code (`I001`…).
    pub fn code(&self) -> &'static str {
        match self {
            IntelError::Json { .. } => "I001",
            IntelError::Pattern { .. } => "I002",
            IntelError::Value { .. } => "I003",
            IntelError::Cpe { .. } => "I004",
            IntelError::Purl { .. } => "I005",
            IntelError::Csv { .. } => "I006",
            IntelError::Field { .. } => "I007",
            IntelError::Http { .. } => "I008",
            IntelError::Status { .. } => "I009",
            IntelError::Regex { .. } => "I010",
            IntelError::Io { .. } => "I011",
        }
    }

    pub(crate) fn json(what: impl Into<String>, source: serde_json::Error) -> Self {
        IntelError::Json {
            what: what.into(),
            source,
        }
    }

    pub(crate) fn field(
        what: impl Into<String>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        IntelError::Field {
            what: what.into(),
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Result alias for this crate.
pub type Result<T, E = IntelError> = std::result::Result<T, E>;
