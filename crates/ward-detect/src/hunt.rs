//! Offline hunting (`ward hunt`): run an [`Engine`] over EVTX, JSON and
//! JSONL files and write the detections as a table, JSON, JSONL or CSV.
//!
//! Input is streamed file by file (EVTX chunk by chunk, JSONL line by line),
//! so memory stays flat however large the input.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::{read_evtx, Detection, Engine, Level};

/// Output format of [`hunt`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HuntFormat {
    /// Aligned text for a terminal.
    Table,
    /// One JSON array of detections.
    Json,
    /// One JSON object per line per detection.
    Jsonl,
    /// RFC 4180 CSV with a header line.
    Csv,
}

impl std::str::FromStr for HuntFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "table" => Ok(HuntFormat::Table),
            "json" => Ok(HuntFormat::Json),
            "jsonl" | "ndjson" => Ok(HuntFormat::Jsonl),
            "csv" => Ok(HuntFormat::Csv),
            other => Err(format!(
                "unknown format {other:?} (table, json, jsonl, csv)"
            )),
        }
    }
}

/// One detection with where it was found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HuntHit {
    pub rule_id: String,
    pub title: String,
    pub level: Level,
    pub author: Option<String>,
    pub tags: Vec<String>,
    pub timestamp: Option<String>,
    pub computer: Option<String>,
    pub file: PathBuf,
    /// 1-based record number within the file.
    pub record: usize,
    pub matched_fields: Vec<crate::MatchedField>,
    pub event: Value,
}

/// Progress reported to the caller's callback.
#[derive(Debug, Clone)]
pub struct HuntProgress<'a> {
    pub file: &'a Path,
    pub files_done: usize,
    pub files_total: usize,
    pub events: u64,
    pub detections: u64,
}

/// Totals of a hunt.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct HuntSummary {
    pub files: usize,
    pub events: u64,
    pub detections: u64,
    /// Unreadable files or records, each with its place and reason; reading
    /// went on past them.
    pub errors: Vec<String>,
}

/// Hunting failed outright (writing the output).
#[derive(Debug, thiserror::Error)]
pub enum HuntError {
    #[error("[hunt-output] cannot write output: {0}")]
    Output(#[from] std::io::Error),
}

/// The input files under the given paths: `.evtx`, `.json`, `.jsonl`,
/// `.ndjson`, directories searched recursively, in name order.
pub fn input_files(paths: &[PathBuf]) -> Vec<PathBuf> {
    fn walk(p: &Path, out: &mut Vec<PathBuf>) {
        if p.is_dir() {
            let Ok(rd) = std::fs::read_dir(p) else {
                return;
            };
            let mut v: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
            v.sort();
            for c in v {
                if c.is_dir() {
                    walk(&c, out);
                } else if kind(&c).is_some() {
                    out.push(c);
                }
            }
        } else {
            out.push(p.to_path_buf());
        }
    }
    let mut out = Vec::new();
    for p in paths {
        walk(p, &mut out);
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Evtx,
    Json,
    Jsonl,
}

fn kind(p: &Path) -> Option<Kind> {
    match p
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("evtx") => Some(Kind::Evtx),
        Some("json") => Some(Kind::Json),
        Some("jsonl" | "ndjson") => Some(Kind::Jsonl),
        _ => None,
    }
}

/// Stream the events of one file to `f`; errors go to `errors`.
pub fn for_each_event(path: &Path, errors: &mut Vec<String>, mut f: impl FnMut(Value)) {
    match kind(path) {
        Some(Kind::Evtx) => {
            for r in read_evtx(path) {
                match r {
                    Ok(v) => f(v),
                    Err(e) => errors.push(e.to_string()),
                }
            }
        }
        Some(Kind::Jsonl) => {
            let file = match std::fs::File::open(path) {
                Ok(f) => f,
                Err(e) => {
                    errors.push(format!("{}: [hunt-open] {e}", path.display()));
                    return;
                }
            };
            for (i, line) in BufReader::new(file).lines().enumerate() {
                let line = match line {
                    Ok(l) => l,
                    Err(e) => {
                        errors.push(format!("{}:{}: [hunt-read] {e}", path.display(), i + 1));
                        break;
                    }
                };
                if line.trim().is_empty() {
                    continue;
                }
                match serde_json::from_str(&line) {
                    Ok(v) => f(v),
                    Err(e) => errors.push(format!("{}:{}: [hunt-json] {e}", path.display(), i + 1)),
                }
            }
        }
        Some(Kind::Json) => {
            let file = match std::fs::File::open(path) {
                Ok(f) => f,
                Err(e) => {
                    errors.push(format!("{}: [hunt-open] {e}", path.display()));
                    return;
                }
            };
            // One document, an array of documents, or concatenated documents.
            let stream = serde_json::Deserializer::from_reader(BufReader::new(file)).into_iter();
            for v in stream {
                match v {
                    Ok(Value::Array(items)) => items.into_iter().for_each(&mut f),
                    Ok(v) => f(v),
                    Err(e) => {
                        errors.push(format!("{}:{}: [hunt-json] {e}", path.display(), e.line()));
                        break;
                    }
                }
            }
        }
        None => errors.push(format!(
            "{}: [hunt-format] not an .evtx, .json, .jsonl or .ndjson file",
            path.display()
        )),
    }
}

fn first_str(flat: &crate::event::Flat<'_>, names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| {
        flat.get(n).and_then(|v| match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
    })
}

fn make_hit(path: &Path, record: usize, d: Detection, event: &Value) -> HuntHit {
    let flat = crate::event::flatten(event);
    HuntHit {
        timestamp: first_str(
            &flat,
            &[
                "TimeCreated_SystemTime",
                "@timestamp",
                "timestamp",
                "UtcTime",
                "ts",
            ],
        ),
        computer: first_str(&flat, &["Computer", "host.name", "hostname"]),
        rule_id: d.rule_id,
        title: d.title,
        level: d.level,
        author: d.author,
        tags: d.tags,
        file: path.to_path_buf(),
        record,
        matched_fields: d.matched_fields,
        event: event.clone(),
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

fn write_hit(
    out: &mut dyn Write,
    format: HuntFormat,
    hit: &HuntHit,
    first: bool,
) -> std::io::Result<()> {
    match format {
        HuntFormat::Jsonl => {
            serde_json::to_writer(&mut *out, hit)?;
            out.write_all(b"\n")
        }
        HuntFormat::Json => {
            out.write_all(if first { b"\n  " } else { b",\n  " })?;
            serde_json::to_writer(&mut *out, hit).map_err(std::io::Error::other)
        }
        HuntFormat::Csv => {
            let matched: Vec<String> = hit
                .matched_fields
                .iter()
                .map(|m| format!("{}={}", m.field, m.value))
                .collect();
            let row = [
                hit.timestamp.clone().unwrap_or_default(),
                hit.computer.clone().unwrap_or_default(),
                hit.level.to_string(),
                hit.rule_id.clone(),
                hit.title.clone(),
                hit.file.display().to_string(),
                hit.record.to_string(),
                matched.join("; "),
            ];
            let line: Vec<String> = row.iter().map(|s| csv_field(s)).collect();
            writeln!(out, "{}", line.join(","))
        }
        HuntFormat::Table => {
            let matched: Vec<String> = hit
                .matched_fields
                .iter()
                .map(|m| format!("{}={}", m.field, truncate(&m.value, 60)))
                .collect();
            writeln!(
                out,
                "{:<27} {:<20} {:<13} {:<36} {} | {}",
                truncate(hit.timestamp.as_deref().unwrap_or("-"), 27),
                truncate(hit.computer.as_deref().unwrap_or("-"), 20),
                hit.level.to_string(),
                hit.rule_id,
                hit.title,
                matched.join("  ")
            )
        }
    }
}

/// Hunt through `files` (see [`input_files`]) with `engine`, writing every
/// detection to `out` in `format` and calling `progress` after each file
/// and every 10,000 events.
pub fn hunt(
    engine: &Engine,
    files: &[PathBuf],
    format: HuntFormat,
    out: &mut dyn Write,
    progress: &mut dyn FnMut(HuntProgress<'_>),
) -> Result<HuntSummary, HuntError> {
    let files = input_files(files);
    let mut summary = HuntSummary::default();
    match format {
        HuntFormat::Json => out.write_all(b"[")?,
        HuntFormat::Csv => writeln!(
            out,
            "timestamp,computer,level,rule_id,title,file,record,matched_fields"
        )?,
        HuntFormat::Table => writeln!(
            out,
            "{:<27} {:<20} {:<13} {:<36} title | matched",
            "timestamp", "computer", "level", "rule id"
        )?,
        HuntFormat::Jsonl => {}
    }
    let mut first = true;
    let mut write_err: Option<std::io::Error> = None;
    for (i, f) in files.iter().enumerate() {
        let mut record = 0usize;
        let mut errors = Vec::new();
        for_each_event(f, &mut errors, |ev| {
            record += 1;
            summary.events += 1;
            for d in engine.evaluate(&ev) {
                summary.detections += 1;
                if write_err.is_none() {
                    let hit = make_hit(f, record, d, &ev);
                    if let Err(e) = write_hit(out, format, &hit, first) {
                        write_err = Some(e);
                    }
                    first = false;
                }
            }
            if summary.events % 10_000 == 0 {
                progress(HuntProgress {
                    file: f,
                    files_done: i,
                    files_total: files.len(),
                    events: summary.events,
                    detections: summary.detections,
                });
            }
        });
        if let Some(e) = write_err.take() {
            return Err(HuntError::Output(e));
        }
        summary.errors.extend(errors);
        summary.files += 1;
        progress(HuntProgress {
            file: f,
            files_done: i + 1,
            files_total: files.len(),
            events: summary.events,
            detections: summary.detections,
        });
    }
    if format == HuntFormat::Json {
        out.write_all(if first { b"]\n" } else { b"\n]\n" })?;
    }
    out.flush()?;
    Ok(summary)
}
