//! Bulk upload of one file per request for back-filling (`.evtx`, `.json`, `.jsonl`/`.ndjson`,
//! text logs, any of them gzip), and the intake counters of every door.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};
use ward_ingest::{Encoding, IngestError};
use ward_model::clock::now_ms;
use ward_model::OdsCode;

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::intake::{ndjson_bodies, record_json};
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/uploads", post(upload))
        .route("/api/v1/intake", get(intake))
}

/// Largest NDJSON body written to the log at once; files are cut into bodies this size.
const CHUNK_BYTES: usize = 4 * 1024 * 1024;
/// How long an upload waits for a full pipeline before giving up with 503.
const OVERLOAD_WAIT: Duration = Duration::from_secs(30);

#[derive(Deserialize, IntoParams)]
pub struct UploadQuery {
    /// `evtx`, `json`, `jsonl`, `ndjson` or `text`; default from the Content-Type, the file
    /// name, then the content itself. Gzip is recognised by its signature.
    pub format: Option<String>,
    /// The file's name, for the receipt and to infer the format (`x.evtx`, `x.jsonl.gz`).
    pub name: Option<String>,
    /// Organisation to file the events under; central analysts only (an API key uploads as
    /// its own organisation).
    pub org: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Evtx,
    /// JSON array, JSON Lines, concatenated JSON documents or text lines: split by
    /// `ward_formats::records::split_records`.
    Records,
}

/// What an upload stored.
#[derive(Serialize, ToSchema, Default)]
pub struct UploadReceipt {
    pub org: String,
    pub name: Option<String>,
    /// `evtx` or `records` (JSON, JSON Lines or text lines).
    pub format: String,
    pub gzip: bool,
    /// Bytes of the file as stored in it (after gzip).
    pub bytes: u64,
    /// Records found in the file.
    pub records: u64,
    /// Records durably stored.
    pub accepted: u64,
    /// Of those, kept raw because no parser understood them (tagged with why).
    pub stored_raw: u64,
    /// Records not stored, by reason (e.g. `event_too_large`).
    #[schema(value_type = Object)]
    pub refused: BTreeMap<String, u64>,
    /// Log offset of the first stored record.
    pub first_offset: Option<u64>,
    /// Writes to the log (bodies of at most 4 MiB).
    pub chunks: u64,
}

fn declared_kind(q: &UploadQuery, headers: &HeaderMap) -> ApiResult<Option<Kind>> {
    if let Some(f) = q.format.as_deref() {
        return match f.trim().to_ascii_lowercase().trim_end_matches(".gz") {
            "evtx" => Ok(Some(Kind::Evtx)),
            "json" | "jsonl" | "ndjson" | "text" | "log" => Ok(Some(Kind::Records)),
            other => Err(ApiError::bad_request(
                "invalid_format",
                format!("format {other:?} is not one of evtx, json, jsonl, ndjson, text"),
            )),
        };
    }
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if ct.contains("evtx") {
        return Ok(Some(Kind::Evtx));
    }
    if ct.contains("json") || ct.starts_with("text/") {
        return Ok(Some(Kind::Records));
    }
    let name = q.name.as_deref().unwrap_or("").to_ascii_lowercase();
    let name = name.trim_end_matches(".gz");
    if name.ends_with(".evtx") {
        return Ok(Some(Kind::Evtx));
    }
    if [".json", ".jsonl", ".ndjson", ".log", ".txt"]
        .iter()
        .any(|e| name.ends_with(e))
    {
        return Ok(Some(Kind::Records));
    }
    Ok(None)
}

fn upload_org(p: &Principal, q: &UploadQuery) -> ApiResult<OdsCode> {
    let wanted = q
        .org
        .as_deref()
        .map(|o| {
            o.parse::<OdsCode>()
                .map_err(|e: ward_model::InvalidOdsCode| {
                    ApiError::bad_request("invalid_ods_code", e.to_string())
                })
        })
        .transpose()?;
    match (p, wanted) {
        (Principal::Member { org, .. }, None) => Ok(org.clone()),
        (Principal::Member { org, .. }, Some(w)) if &w == org => Ok(w),
        (Principal::Member { .. }, Some(w)) => Err(ApiError::forbidden(format!(
            "an organisation's API key uploads only as that organisation, not {w}"
        ))),
        (p, Some(w)) if p.is_central() => Ok(w),
        (p, None) if p.is_central() => Err(ApiError::bad_request(
            "missing_org",
            "central analysts name the organisation: ?org=<ODS code>",
        )),
        _ => Err(ApiError::forbidden(
            "files are uploaded with an organisation's API key or by a central analyst",
        )),
    }
}

/// Turns the file into log records. CPU-bound: runs on a blocking thread.
fn records_of(
    kind: Kind,
    data: Vec<u8>,
    max_event_bytes: usize,
    receipt: &mut UploadReceipt,
) -> Result<Vec<Vec<u8>>, ApiError> {
    let mut out = Vec::new();
    let mut keep = |rec: Vec<u8>, parsed: bool, receipt: &mut UploadReceipt| {
        receipt.records += 1;
        if rec.len() > max_event_bytes {
            *receipt.refused.entry("event_too_large".into()).or_default() += 1;
            return;
        }
        if !parsed {
            receipt.stored_raw += 1;
        }
        out.push(rec);
    };
    match kind {
        Kind::Evtx => {
            let events = ward_formats::evtx::parse_evtx_file(data)
                .map_err(|e| ApiError::bad_request("invalid_file", e.to_string()))?;
            for ev in &events {
                let rec = serde_json::to_vec(&record_json(ev)).unwrap_or_default();
                keep(rec, ev.is_parsed(), &mut *receipt);
            }
        }
        Kind::Records => {
            let text = String::from_utf8_lossy(&data);
            let opts = ward_formats::Options::default();
            for r in ward_formats::records::split_records(&text) {
                let t = r.trim();
                // A JSON object is the sender's document: stored as sent (on one line), as
                // the HTTP door stores it.
                if t.starts_with('{') {
                    if let Ok(v @ Value::Object(_)) = serde_json::from_str::<Value>(t) {
                        let rec = if t.contains(['\n', '\r']) {
                            serde_json::to_vec(&v).unwrap_or_default()
                        } else {
                            t.as_bytes().to_vec()
                        };
                        keep(rec, true, &mut *receipt);
                        continue;
                    }
                }
                let ev = ward_formats::parse_or_raw_with(None, t, &opts);
                let rec = serde_json::to_vec(&record_json(&ev)).unwrap_or_default();
                keep(rec, ev.is_parsed(), &mut *receipt);
            }
        }
    }
    Ok(out)
}

/// Upload one file of events for back-filling.
///
/// The body is the file itself (`.evtx`, a JSON array or object, JSON Lines, text log lines;
/// gzip recognised by its signature), at most `ingest.max_decompressed_bytes` before and after
/// decompression. Records are parsed like syslog records (JSON objects stored as sent, text
/// records as their fields plus the raw text, unparseable records stored raw and tagged),
/// stamped with the organisation, pseudonymised and written to the log in chunks of at most
/// 4 MiB. The receipt counts records, stored, stored raw and refused by reason.
#[utoipa::path(
    post, path = "/api/v1/uploads", tag = "events",
    params(UploadQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The file"),
    responses(
        (status = 200, description = "File stored", body = UploadReceipt),
        (status = 400, description = "Not a file of the named format (invalid_file, invalid_format, bad_gzip)", body = crate::error::ErrorBody),
        (status = 403, description = "Not allowed to upload for that organisation", body = crate::error::ErrorBody),
        (status = 413, description = "File too large (body_too_large)", body = crate::error::ErrorBody),
        (status = 503, description = "The log stayed full; details.accepted records were stored", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn upload(
    State(state): State<AppState>,
    p: Principal,
    Query(q): Query<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<UploadReceipt>> {
    let org = upload_org(&p, &q)?;
    if state.store.get_org(&org).await?.is_none() {
        return Err(ApiError::not_found(format!("organisation {org} not found")));
    }
    let declared = declared_kind(&q, &headers)?;
    let limit = state.cfg.ingest.max_decompressed_bytes;
    let too_large = |size| ApiError::from(IngestError::BodyTooLarge { size, limit });
    let bytes = axum::body::to_bytes(body, limit as usize)
        .await
        .map_err(|_| too_large(limit + 1))?;
    let gzip = bytes.starts_with(&[0x1f, 0x8b]);
    let max_event = state.cfg.ingest.max_event_bytes as usize;
    let name = q.name.clone();
    let work = move || -> ApiResult<(Vec<Vec<u8>>, UploadReceipt)> {
        let data = if gzip {
            ward_ingest::ndjson::gunzip(&bytes, limit)?
        } else {
            bytes.to_vec()
        };
        let sniffed_evtx = data.starts_with(ward_formats::evtx::EVTX_MAGIC);
        let kind = match (declared, sniffed_evtx) {
            (_, true) => Kind::Evtx,
            (Some(Kind::Evtx), false) => {
                return Err(ApiError::bad_request(
                    "invalid_file",
                    "declared EVTX, but the file has no ElfFile signature",
                ))
            }
            _ => Kind::Records,
        };
        let mut receipt = UploadReceipt {
            name,
            gzip,
            bytes: data.len() as u64,
            format: match kind {
                Kind::Evtx => "evtx".into(),
                Kind::Records => "records".into(),
            },
            ..UploadReceipt::default()
        };
        let records = records_of(kind, data, max_event, &mut receipt)?;
        Ok((records, receipt))
    };
    let (records, mut receipt) = tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::internal(format!("upload decoding failed: {e}")))??;
    receipt.org = org.to_string();
    let refused = state.registry.counter(
        "ward_ingest_records_refused_total",
        "Records not stored, by door and reason",
        &[("source", "upload"), ("reason", "event_too_large")],
    );
    refused.add(receipt.refused.get("event_too_large").copied().unwrap_or(0));
    let mut stored_raw_left = receipt.stored_raw;
    for (chunk, n) in ndjson_bodies(
        &records,
        CHUNK_BYTES.min(state.ingestor.max_body_bytes() as usize),
    ) {
        let deadline = tokio::time::Instant::now() + OVERLOAD_WAIT;
        let mut wait = Duration::from_millis(20);
        loop {
            match state
                .ingestor
                .ingest_from(
                    "upload",
                    org.as_str(),
                    now_ms(),
                    chunk.clone(),
                    Encoding::Identity,
                )
                .await
            {
                Ok(r) => {
                    receipt.accepted += r.accepted;
                    receipt.first_offset.get_or_insert(r.first_offset);
                    receipt.chunks += 1;
                    break;
                }
                Err(IngestError::Overloaded { .. } | IngestError::LogUnavailable(_))
                    if tokio::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_millis(500));
                }
                Err(e @ (IngestError::Overloaded { .. } | IngestError::LogUnavailable(_))) => {
                    let mut err = ApiError::from(e);
                    err.details = Some(Box::new(json!({
                        "accepted": receipt.accepted,
                        "first_offset": receipt.first_offset,
                        "records": receipt.records,
                    })));
                    return Err(err);
                }
                Err(e) => {
                    // Counted by the ingestor (source="upload", the error's code).
                    *receipt.refused.entry(e.code().to_string()).or_default() += n as u64;
                    stored_raw_left = stored_raw_left.saturating_sub(n as u64);
                    break;
                }
            }
        }
    }
    receipt.stored_raw = receipt.stored_raw.min(stored_raw_left);
    Ok(Json(receipt))
}

/// Intake counters of every door: syslog messages received, accepted, kept raw and dropped by
/// reason; events accepted and batches refused per source (http, syslog, upload).
#[utoipa::path(get, path = "/api/v1/intake", tag = "status",
    responses((status = 200, description = "Intake counters (a JSON object)"),
        (status = 403, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn intake(State(state): State<AppState>, p: Principal) -> ApiResult<Json<Value>> {
    p.require_central()?;
    let figures = crate::intake::IngestFigures::read(&state);
    let accepted: serde_json::Map<String, Value> = figures
        .accepted
        .into_iter()
        .map(|(s, n)| (s, json!(n)))
        .collect();
    let mut refused = serde_json::Map::new();
    for (source, reason, n) in figures.refused {
        let entry = refused.entry(source).or_insert_with(|| json!({}));
        if let Some(m) = entry.as_object_mut() {
            let prev = m.get(&reason).and_then(Value::as_u64).unwrap_or(0);
            m.insert(reason, json!(prev + n));
        }
    }
    let syslog = state.intake.listening().map(|l| {
        use ward_syslog::{ConnRefusal, DropReason, Transport};
        let m = &l.metrics;
        let ts = [Transport::Udp, Transport::Tcp, Transport::Tls];
        let streams = [Transport::Tcp, Transport::Tls];
        json!({
            "listening": {"udp": l.udp, "tcp": l.tcp, "tls": l.tls},
            "received": ts.iter().map(|t| (t.as_str().to_string(), json!(m.received_total(*t)))).collect::<serde_json::Map<_, _>>(),
            "accepted": m.accepted_total(),
            "unparsed": m.unparsed_total(),
            "dropped": DropReason::ALL.iter().map(|r| (r.as_str().to_string(), json!(m.dropped_total(*r)))).collect::<serde_json::Map<_, _>>(),
            "connections": streams.iter().map(|t| (t.as_str().to_string(), json!(m.connections_total(*t)))).collect::<serde_json::Map<_, _>>(),
            "connections_refused": ConnRefusal::ALL.iter().map(|r| (r.as_str().to_string(), json!(m.refused_total(*r)))).collect::<serde_json::Map<_, _>>(),
        })
    });
    Ok(Json(json!({
        "events_accepted": accepted,
        "refused": refused,
        "syslog": syslog,
    })))
}
