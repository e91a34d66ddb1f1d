//! NDJSON batches: one JSON object per line, checked line by line.

use std::io::Read;

use serde::Serialize;
use ward_eventlog::{BatchBuilder, EncodedBatch};
use ward_pseudonymise::{Counts, Pseudonymiser};

use crate::IngestError;

#[derive(Debug, Clone)]
pub struct Limits {
    pub max_event_bytes: usize,
    pub max_decompressed_bytes: u64,
    /// How many bad lines are described in a refusal (all are counted).
    pub max_reported_errors: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_event_bytes: 1024 * 1024,
            max_decompressed_bytes: 64 * 1024 * 1024,
            max_reported_errors: 20,
        }
    }
}

/// One bad line: its 1-based number, a stable code and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LineError {
    pub line: usize,
    pub code: &'static str,
    pub message: String,
}

/// A refused batch: the first bad lines and how many there were in all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BatchRejected {
    pub lines: usize,
    pub bad_lines: usize,
    pub errors: Vec<LineError>,
}

impl std::fmt::Display for BatchRejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} of {} lines are invalid; no line of this batch was stored",
            self.bad_lines, self.lines
        )?;
        if let Some(first) = self.errors.first() {
            write!(f, " (line {}: {})", first.line, first.message)?;
        }
        Ok(())
    }
}

/// Decompresses gzip, refusing to produce more than `limit` bytes.
pub fn gunzip(body: &[u8], limit: u64) -> Result<Vec<u8>, IngestError> {
    let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(limit as usize));
    let mut decoder = flate2::read::MultiGzDecoder::new(body).take(limit + 1);
    decoder
        .read_to_end(&mut out)
        .map_err(|e| IngestError::BadGzip(format!("body is not valid gzip: {e}")))?;
    if out.len() as u64 > limit {
        return Err(IngestError::BodyTooLarge {
            size: out.len() as u64,
            limit,
        });
    }
    Ok(out)
}

/// Checks every line of `data` and encodes the good ones for the log, stamped with `org`.
///
/// Blank lines are skipped. Any bad line refuses the whole batch.
pub fn encode_batch(
    data: &[u8],
    org: &str,
    received_at_ms: i64,
    limits: &Limits,
) -> Result<EncodedBatch, BatchRejected> {
    encode_batch_with(
        data,
        org,
        received_at_ms,
        limits,
        None,
        &mut Counts::default(),
    )
}

/// [`encode_batch`], with patient identifiers replaced by keyed tokens before any byte is
/// written: NHS numbers, postcodes, dates of birth, e-mail addresses and phone numbers.
pub fn encode_batch_with(
    data: &[u8],
    org: &str,
    received_at_ms: i64,
    limits: &Limits,
    pseudonymiser: Option<&Pseudonymiser>,
    counts: &mut Counts,
) -> Result<EncodedBatch, BatchRejected> {
    let mut builder = BatchBuilder::with_capacity(data.len() + data.len() / 8);
    let mut errors = Vec::new();
    let mut bad_lines = 0usize;
    let mut lines = 0usize;
    for (index, raw) in data.split(|&b| b == b'\n').enumerate() {
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        lines += 1;
        match check_line(line, limits) {
            Ok(()) => {
                if bad_lines == 0 {
                    let event = trim(line);
                    match pseudonymiser {
                        Some(p) => {
                            builder.push(org, received_at_ms, &pseudonymise(p, event, counts))
                        }
                        None => builder.push(org, received_at_ms, event),
                    }
                }
            }
            Err((code, message)) => {
                bad_lines += 1;
                if errors.len() < limits.max_reported_errors {
                    errors.push(LineError {
                        line: index + 1,
                        code,
                        message,
                    });
                }
            }
        }
    }
    if bad_lines > 0 {
        return Err(BatchRejected {
            lines,
            bad_lines,
            errors,
        });
    }
    Ok(builder.finish())
}

/// Replaces identifiers in one checked JSON object. The raw-text scan is the fast path: most
/// events hold none and pass through untouched. When one is found the event is rewritten
/// through its JSON tree, so a number like `"nhs": 9434765919` becomes a token string and the
/// line stays valid JSON.
fn pseudonymise<'a>(
    p: &Pseudonymiser,
    event: &'a [u8],
    counts: &mut Counts,
) -> std::borrow::Cow<'a, [u8]> {
    let mut probe = Counts::default();
    if let std::borrow::Cow::Borrowed(_) = p.pseudonymise_bytes(event, &mut probe) {
        return std::borrow::Cow::Borrowed(event);
    }
    match serde_json::from_slice::<serde_json::Value>(event) {
        Ok(mut value) => {
            p.pseudonymise_value(&mut value, counts);
            std::borrow::Cow::Owned(serde_json::to_vec(&value).unwrap_or_else(|_| event.to_vec()))
        }
        // Unreachable for a checked line; keep the raw-text replacement rather than the original.
        Err(_) => p.pseudonymise_bytes(event, counts),
    }
}

fn trim(line: &[u8]) -> &[u8] {
    let start = line
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(line.len());
    let end = line
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |i| i + 1);
    &line[start..end]
}

fn check_line(line: &[u8], limits: &Limits) -> Result<(), (&'static str, String)> {
    if line.len() > limits.max_event_bytes {
        return Err((
            "event_too_large",
            format!(
                "event is {} bytes; the limit is {}",
                line.len(),
                limits.max_event_bytes
            ),
        ));
    }
    let body = trim(line);
    if body.first() != Some(&b'{') {
        return Err((
            "not_an_object",
            "each line must be one JSON object ({...})".to_string(),
        ));
    }
    // serde_json skips string contents without checking their encoding when the value is
    // ignored, so UTF-8 is checked separately; every stored event is valid UTF-8.
    if let Err(e) = std::str::from_utf8(body) {
        return Err((
            "invalid_utf8",
            format!("not UTF-8 at byte {} of the line", e.valid_up_to()),
        ));
    }
    serde_json::from_slice::<serde::de::IgnoredAny>(body)
        .map(|_| ())
        .map_err(|e| ("malformed_json", format!("invalid JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            max_event_bytes: 64,
            ..Limits::default()
        }
    }

    #[test]
    fn takes_good_lines_and_skips_blank_ones() {
        let body = b"{\"a\":1}\r\n\n   \n {\"b\":[1,2]} \n{\"c\":\"\xc3\xa9\"}";
        let batch = encode_batch(body, "RJ1", 7, &limits()).unwrap();
        assert_eq!(batch.len(), 3);
    }

    #[test]
    fn one_bad_line_refuses_the_batch_and_names_every_bad_line() {
        let body = b"{\"a\":1}\n[1,2]\n{\"a\":\n{\"ok\":true}\n{\"x\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}\n";
        let err = encode_batch(body, "RJ1", 7, &limits()).unwrap_err();
        assert_eq!(err.lines, 5);
        assert_eq!(err.bad_lines, 3);
        let got: Vec<(usize, &str)> = err.errors.iter().map(|e| (e.line, e.code)).collect();
        assert_eq!(
            got,
            vec![
                (2, "not_an_object"),
                (3, "malformed_json"),
                (5, "event_too_large")
            ]
        );
        assert!(
            err.errors[1].message.contains("EOF"),
            "{}",
            err.errors[1].message
        );
        assert!(err.to_string().contains("no line of this batch was stored"));
    }

    #[test]
    fn invalid_utf8_is_refused() {
        let err = encode_batch(b"{\"a\":\"\xff\"}\n", "RJ1", 0, &limits()).unwrap_err();
        assert_eq!(err.errors[0].code, "invalid_utf8");
        assert!(
            err.errors[0].message.contains("byte 6"),
            "{}",
            err.errors[0].message
        );
    }

    #[test]
    fn reported_errors_are_capped_but_all_counted() {
        let body = "x\n".repeat(100);
        let err = encode_batch(body.as_bytes(), "RJ1", 0, &Limits::default()).unwrap_err();
        assert_eq!(err.bad_lines, 100);
        assert_eq!(err.errors.len(), 20);
    }

    #[test]
    fn patient_identifiers_never_reach_the_batch() {
        let p = Pseudonymiser::new(
            b"federation-secret-for-tests",
            &ward_pseudonymise::Config::default(),
        )
        .unwrap();
        let body = b"{\"msg\":\"patient 943 476 5919 admitted\",\"nhs\":9434765919,\"order\":\"1234567890\"}\n{\"plain\":1}\n";
        let mut counts = Counts::default();
        let batch =
            encode_batch_with(body, "RJ1", 0, &Limits::default(), Some(&p), &mut counts).unwrap();
        assert_eq!(batch.len(), 2);
        assert_eq!(counts.nhs, 2, "{counts:?}");
        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let records = rt.block_on(async {
            use ward_eventlog::EventLog;
            let log = ward_eventlog::EmbeddedLog::open(dir.path(), Default::default()).unwrap();
            log.append(batch).await.unwrap();
            log.reader(0).unwrap().read_batch(10).unwrap()
        });
        let first = String::from_utf8(records[0].payload.clone()).unwrap();
        assert!(
            !first.contains("9434765919") && !first.contains("943 476 5919"),
            "{first}"
        );
        assert!(
            first.contains("1234567890"),
            "an invalid ten-digit number is left alone: {first}"
        );
        let v: serde_json::Value = serde_json::from_str(&first).unwrap();
        assert!(v["nhs"].as_str().unwrap().starts_with("nhs:tok_"), "{v}");
        assert_eq!(
            records[1].payload, b"{\"plain\":1}",
            "events without identifiers pass untouched"
        );
    }

    #[test]
    fn gunzip_enforces_its_limit() {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&vec![b' '; 10_000]).unwrap();
        let gz = enc.finish().unwrap();
        assert_eq!(gunzip(&gz, 20_000).unwrap().len(), 10_000);
        assert!(matches!(
            gunzip(&gz, 1000),
            Err(IngestError::BodyTooLarge { limit: 1000, .. })
        ));
        assert!(matches!(
            gunzip(b"nope", 1000),
            Err(IngestError::BadGzip(_))
        ));
    }
}
