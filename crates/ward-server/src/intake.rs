//! What syslog listeners and file uploads write into the event log, and the intake counters the
//! web page shows.
//!
//! Every record becomes one JSON object, the same shape the HTTP door stores, so the detection
//! consumer reads all three alike:
//!
//! * a record that is itself a JSON object (a JSON Lines line, an element of a JSON array, an
//!   EVTX record rendered as evtx_dump JSON) is stored as the sender wrote it;
//! * a text record (syslog, CEF, LEEF, firewall, auditd…) is stored as its original field names
//!   and values (`hostname`, `appname`, `message`, CEF extension keys…) plus a `ward` object
//!   with the parser's format id, the OCSF class and the record exactly as received;
//! * a record that did not parse is still stored: `message` holds the text and
//!   `ward.parse` says which parser refused it and why (`{"status":"raw","code":…}`).
//!
//! The organisation is never part of the record: the log stamps it beside the record from the
//! connection (certificate or registered network) or the API key, exactly as for HTTP.

use std::fmt::Write as _;

use serde_json::{Map, Value};
use ward_event::Event;

use crate::state::AppState;

/// The stored JSON of one parsed (or raw) event.
pub fn record_json(ev: &Event) -> Value {
    if let Ok(Value::Object(mut doc)) = serde_json::from_str::<Value>(&ev.original.raw) {
        if !ev.is_parsed() {
            doc.insert(
                "ward_parse".into(),
                serde_json::to_value(&ev.parse_status).unwrap_or(Value::Null),
            );
        }
        return Value::Object(doc);
    }
    let mut doc: Map<String, Value> = ev.original.fields.clone().unwrap_or_default();
    if !doc.contains_key("message") {
        let text = ev.message.as_deref().unwrap_or(&ev.original.raw);
        doc.insert("message".into(), Value::from(text));
    }
    if let Some(t) = ev.time {
        doc.entry("@timestamp")
            .or_insert_with(|| Value::from(t.to_string()));
    }
    let mut meta = Map::new();
    meta.insert("format".into(), Value::from(ev.original.format.as_str()));
    meta.insert("class".into(), Value::from(ev.class.name()));
    meta.insert(
        "parse".into(),
        serde_json::to_value(&ev.parse_status).unwrap_or(Value::Null),
    );
    meta.insert("raw".into(), Value::from(ev.original.raw.as_str()));
    doc.insert("ward".into(), Value::Object(meta));
    Value::Object(doc)
}

/// NDJSON bodies of at most `max_body` bytes (a single larger record gets a body of its own),
/// each with how many records it holds, in order.
pub fn ndjson_bodies(records: &[Vec<u8>], max_body: usize) -> Vec<(Vec<u8>, usize)> {
    let mut out = Vec::new();
    let mut body = Vec::new();
    let mut n = 0usize;
    for r in records {
        if n > 0 && body.len() + r.len() + 1 > max_body {
            out.push((std::mem::take(&mut body), n));
            n = 0;
        }
        body.extend_from_slice(r);
        body.push(b'\n');
        n += 1;
    }
    if n > 0 {
        out.push((body, n));
    }
    out
}

/// Encodes events for the log; `serde_json` cannot fail on a `Value`.
pub fn encode_events(events: &[Event]) -> Vec<Vec<u8>> {
    events
        .iter()
        .map(|e| serde_json::to_vec(&record_json(e)).unwrap_or_default())
        .collect()
}

/// Ingest counters read back from the registry's exposition.
#[derive(Default)]
pub struct IngestFigures {
    /// `(source, events accepted)`.
    pub accepted: Vec<(String, u64)>,
    /// `(source, reason, count)` of batches refused at ingest and upload records refused.
    pub refused: Vec<(String, String, u64)>,
}

impl IngestFigures {
    pub fn read(state: &AppState) -> IngestFigures {
        let mut out = IngestFigures::default();
        for line in state.registry.render().lines() {
            let Some((series, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let Ok(v) = value.parse::<f64>() else {
                continue;
            };
            let label = |name: &str| {
                series
                    .split(&format!("{name}=\""))
                    .nth(1)
                    .and_then(|r| r.split('"').next())
                    .unwrap_or("")
                    .to_string()
            };
            if series.starts_with("ward_ingest_events_accepted_total{") {
                out.accepted.push((label("source"), v as u64));
            } else if series.starts_with("ward_ingest_batches_refused_total{")
                || series.starts_with("ward_ingest_records_refused_total{")
            {
                out.refused
                    .push((label("source"), label("reason"), v as u64));
            }
        }
        out
    }
}

/// The "Intake" section of the web page: what each door received, accepted and refused.
pub fn web_section(state: &AppState) -> String {
    let mut b = String::from("<h2>Intake</h2><table><tr><th>Door</th><th>Received</th><th>Accepted</th><th>Dropped or refused, by reason</th></tr>");
    let IngestFigures { accepted, refused } = IngestFigures::read(state);
    for (source, n) in &accepted {
        let reasons: Vec<String> = refused
            .iter()
            .filter(|(s, _, c)| s == source && *c > 0)
            .map(|(_, r, c)| format!("{} batches {}", c, crate::web::escape(r)))
            .collect();
        let _ = write!(
            b,
            "<tr><td>{} (events)</td><td></td><td>{n}</td><td>{}</td></tr>",
            crate::web::escape(source),
            if reasons.is_empty() {
                "none".to_string()
            } else {
                reasons.join(", ")
            }
        );
    }
    if let Some(l) = state.intake.listening() {
        use ward_syslog::{DropReason, Transport};
        let m = &l.metrics;
        let received: u64 = [Transport::Udp, Transport::Tcp, Transport::Tls]
            .iter()
            .map(|t| m.received_total(*t))
            .sum();
        let mut reasons: Vec<String> = DropReason::ALL
            .iter()
            .filter(|r| m.dropped_total(**r) > 0)
            .map(|r| format!("{} {}", m.dropped_total(*r), r.as_str()))
            .collect();
        reasons.extend(
            ward_syslog::ConnRefusal::ALL
                .iter()
                .filter(|r| m.refused_total(**r) > 0)
                .map(|r| format!("{} connections {}", m.refused_total(*r), r.as_str())),
        );
        let _ = write!(
            b,
            "<tr><td>syslog (messages; {} kept raw)</td><td>{received}</td><td>{}</td><td>{}</td></tr>",
            m.unparsed_total(),
            m.accepted_total(),
            if reasons.is_empty() {
                "none".to_string()
            } else {
                reasons.join(", ")
            }
        );
    }
    b.push_str("</table>");
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syslog_keeps_original_fields_and_the_raw_text() {
        let line = "<34>1 2024-05-01T10:00:00Z fw01 sshd 4711 - - Failed password for root from 192.0.2.9 port 5000 ssh2";
        let ev = ward_formats::parse_or_raw_with(None, line, &ward_formats::Options::default());
        let v = record_json(&ev);
        assert_eq!(v["hostname"], "fw01");
        assert_eq!(v["appname"], "sshd");
        assert!(v["message"]
            .as_str()
            .unwrap()
            .starts_with("Failed password"));
        assert_eq!(v["ward"]["raw"], line);
        assert_eq!(v["ward"]["parse"]["status"], "parsed");
        assert_eq!(v["ward"]["format"], "syslog.rfc5424");
        assert_eq!(crate::pipeline::event_host(&v).as_deref(), Some("fw01"));
    }

    #[test]
    fn unparsed_text_is_stored_raw_and_tagged() {
        let ev = ward_formats::parse_or_raw_with(
            None,
            "just some words",
            &ward_formats::Options::default(),
        );
        let v = record_json(&ev);
        assert_eq!(v["message"], "just some words");
        assert_eq!(v["ward"]["parse"]["status"], "raw");
        assert!(v["ward"]["parse"]["code"]
            .as_str()
            .unwrap()
            .starts_with("WF"));
    }

    #[test]
    fn json_documents_are_stored_as_sent() {
        let raw = r#"{"Event":{"System":{"EventID":4688,"Channel":"Security"}}}"#;
        let ev = ward_formats::parse_or_raw_with(None, raw, &ward_formats::Options::default());
        let v = record_json(&ev);
        assert_eq!(v, serde_json::from_str::<Value>(raw).unwrap());
    }

    #[test]
    fn bodies_respect_the_size_bound() {
        let recs: Vec<Vec<u8>> = (0..10)
            .map(|i| format!("{{\"i\":{i}}}").into_bytes())
            .collect();
        let bodies = ndjson_bodies(&recs, 20);
        assert_eq!(bodies.iter().map(|b| b.1).sum::<usize>(), 10);
        assert!(bodies.iter().all(|(b, n)| b.len() <= 20 || *n == 1));
        let all: Vec<u8> = bodies.into_iter().flat_map(|b| b.0).collect();
        assert_eq!(all.iter().filter(|b| **b == b'\n').count(), 10);
    }
}
