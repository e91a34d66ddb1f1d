//! Zeek JSON logs: `conn`, `dns`, `http`, `ssl`, `smb_files`, `smb_mapping`,
//! `notice` (others become generic network events).
//!
//! The log type comes from `_path` when Zeek wrote it (JSON streaming, most
//! shippers), otherwise from the fields present.

use serde_json::{Map, Value};
use ward_event::{
    Activity, Endpoint, Event, EventClass, File, Finding, Outcome, Severity, Timestamp, Url,
};

use crate::util::{basename, gs, gu, ip};
use crate::windows::line_col_offset;
use crate::{codes, ParseError, ParseResult};

/// The Zeek log a record belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZeekLog {
    /// conn.log
    Conn,
    /// dns.log
    Dns,
    /// http.log
    Http,
    /// ssl.log
    Ssl,
    /// smb_files.log
    SmbFiles,
    /// smb_mapping.log
    SmbMapping,
    /// notice.log
    Notice,
    /// Any other log.
    Other,
}

/// Decide the log type of a Zeek record.
pub fn log_type(m: &Map<String, Value>) -> ZeekLog {
    if let Some(p) = m.get("_path").and_then(Value::as_str) {
        return match p {
            "conn" => ZeekLog::Conn,
            "dns" => ZeekLog::Dns,
            "http" => ZeekLog::Http,
            "ssl" => ZeekLog::Ssl,
            "smb_files" => ZeekLog::SmbFiles,
            "smb_mapping" => ZeekLog::SmbMapping,
            "notice" => ZeekLog::Notice,
            _ => ZeekLog::Other,
        };
    }
    let has = |k: &str| m.contains_key(k);
    if has("note") {
        ZeekLog::Notice
    } else if has("conn_state") || (has("proto") && has("history")) {
        ZeekLog::Conn
    } else if has("qtype_name") || has("query") && has("trans_id") {
        ZeekLog::Dns
    } else if has("method") && has("uri") || has("trans_depth") {
        ZeekLog::Http
    } else if has("share_type") {
        ZeekLog::SmbMapping
    } else if m
        .get("action")
        .and_then(Value::as_str)
        .is_some_and(|a| a.starts_with("SMB::FILE_"))
    {
        ZeekLog::SmbFiles
    } else if has("cipher") || has("server_name") && has("version") {
        ZeekLog::Ssl
    } else {
        ZeekLog::Other
    }
}

fn endpoints(ev: &mut Event, m: &Map<String, Value>) {
    if let Some(a) = gs(m, "id.orig_h").and_then(|v| ip(&v)) {
        ev.src = Some(Endpoint::ip(a));
        ev.src_mut().port = gu(m, "id.orig_p").and_then(|p| u16::try_from(p).ok());
    }
    if let Some(a) = gs(m, "id.resp_h").and_then(|v| ip(&v)) {
        ev.dst = Some(Endpoint::ip(a));
        ev.dst_mut().port = gu(m, "id.resp_p").and_then(|p| u16::try_from(p).ok());
    }
}

fn ts(m: &Map<String, Value>, s: &str) -> Result<Option<Timestamp>, ParseError> {
    match m.get("ts") {
        Some(Value::Number(n)) => Ok(Timestamp::from_epoch_decimal(&n.to_string())),
        Some(Value::String(t)) => Timestamp::parse_iso8601(t, false).map(Some).map_err(|e| {
            ParseError::new(
                codes::ZEEK_FIELD,
                s.find(t.as_str()).unwrap_or(0) + e.offset,
                format!("\"ts\": expected {}", e.what),
            )
        }),
        None => Ok(None),
        Some(_) => Err(ParseError::new(
            codes::ZEEK_FIELD,
            s.find("\"ts\"").unwrap_or(0),
            "\"ts\" must be epoch seconds or an ISO 8601 string",
        )),
    }
}

fn strings(m: &Map<String, Value>, k: &str) -> Vec<String> {
    match m.get(k) {
        Some(Value::Array(a)) => a.iter().filter_map(crate::util::vstr).collect(),
        Some(v) => crate::util::vstr(v).into_iter().collect(),
        None => Vec::new(),
    }
}

/// Parse one Zeek JSON record.
pub fn parse_zeek(s: &str) -> ParseResult {
    let m = match serde_json::from_str::<Value>(s) {
        Ok(Value::Object(m)) => m,
        Ok(_) => {
            return Err(ParseError::new(
                codes::ZEEK_JSON,
                0,
                "expected a JSON object",
            ))
        }
        Err(e) => {
            return Err(ParseError::new(
                codes::ZEEK_JSON,
                line_col_offset(s, e.line(), e.column()),
                format!("invalid JSON: {e}"),
            ))
        }
    };
    let log = log_type(&m);
    let time = ts(&m, s)?;
    if time.is_none() {
        return Err(ParseError::new(codes::ZEEK_FIELD, 0, "missing \"ts\""));
    }
    let (class, activity) = match log {
        ZeekLog::Conn => (EventClass::NetworkActivity, Activity::Traffic),
        ZeekLog::Dns => (EventClass::DnsActivity, Activity::Response),
        ZeekLog::Http => (EventClass::HttpActivity, Activity::HttpRequest),
        ZeekLog::Ssl => (EventClass::NetworkActivity, Activity::Open),
        ZeekLog::SmbFiles => (EventClass::SmbActivity, Activity::Other),
        ZeekLog::SmbMapping => (EventClass::SmbActivity, Activity::Open),
        ZeekLog::Notice => (EventClass::DetectionFinding, Activity::Create),
        ZeekLog::Other => (EventClass::NetworkActivity, Activity::Other),
    };
    let mut ev = Event::new(class, activity, "zeek.json", s);
    ev.time = time;
    ev.severity = Severity::Informational;
    ev.type_name = Some(
        m.get("_path")
            .and_then(Value::as_str)
            .unwrap_or(match log {
                ZeekLog::Conn => "conn",
                ZeekLog::Dns => "dns",
                ZeekLog::Http => "http",
                ZeekLog::Ssl => "ssl",
                ZeekLog::SmbFiles => "smb_files",
                ZeekLog::SmbMapping => "smb_mapping",
                ZeekLog::Notice => "notice",
                ZeekLog::Other => "unknown",
            })
            .to_string(),
    );
    endpoints(&mut ev, &m);
    if let Some(uid) = gs(&m, "uid") {
        ev.network_mut().flow_id = Some(uid);
    }
    if let Some(p) = gs(&m, "proto") {
        ev.network_mut().transport = Some(p.to_ascii_lowercase());
    }
    match log {
        ZeekLog::Conn => {
            let n = ev.network_mut();
            n.protocol = gs(&m, "service");
            n.bytes_out = gu(&m, "orig_bytes");
            n.bytes_in = gu(&m, "resp_bytes");
            n.packets = match (gu(&m, "orig_pkts"), gu(&m, "resp_pkts")) {
                (None, None) => None,
                (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
            };
            n.direction = match m.get("local_orig").and_then(Value::as_bool) {
                Some(true) => Some("outbound".into()),
                Some(false) => Some("inbound".into()),
                None => None,
            };
            let state = gs(&m, "conn_state");
            // REJ: refused; S0: no answer; SF: normal close.
            ev.activity = match state.as_deref() {
                Some("REJ") | Some("RSTO") | Some("RSTR") | Some("RSTOS0") => Activity::Refuse,
                Some("SF") => Activity::Close,
                _ => Activity::Traffic,
            };
            ev.outcome = match state.as_deref() {
                Some("REJ") | Some("S0") => Some(Outcome::Failure),
                Some("SF") => Some(Outcome::Success),
                _ => None,
            };
        }
        ZeekLog::Dns => {
            let d = ev.dns_mut();
            d.query = gs(&m, "query");
            d.qtype = gs(&m, "qtype_name");
            d.rcode = gs(&m, "rcode_name");
            d.answers = strings(&m, "answers");
            ev.network_mut().protocol = Some("dns".into());
        }
        ZeekLog::Http => {
            let host = gs(&m, "host");
            if let Some(u) = gs(&m, "uri") {
                ev.url = Some(Url::parse(&u, host.as_deref()));
            }
            if let Some(h) = host {
                ev.dst_mut().hostname = Some(h);
            }
            let h = ev.http_mut();
            h.method = gs(&m, "method");
            h.status = gu(&m, "status_code").and_then(|v| u16::try_from(v).ok());
            h.user_agent = gs(&m, "user_agent");
            h.referrer = gs(&m, "referrer");
            h.response_bytes = gu(&m, "response_body_len");
            h.version = gs(&m, "version");
            if let Some(st) = h.status {
                ev.outcome = Some(if st < 400 {
                    Outcome::Success
                } else {
                    Outcome::Failure
                });
            }
            if let Some(u) = gs(&m, "username") {
                ev.user_mut().name = Some(u);
            }
            ev.network_mut().protocol = Some("http".into());
        }
        ZeekLog::Ssl => {
            let n = ev.network_mut();
            n.protocol = Some("tls".into());
            n.tls_sni = gs(&m, "server_name");
            n.tls_version = gs(&m, "version");
            n.tls_subject = gs(&m, "subject");
            n.ja3 = gs(&m, "ja3");
            ev.outcome = match m.get("established").and_then(Value::as_bool) {
                Some(true) => Some(Outcome::Success),
                Some(false) => Some(Outcome::Failure),
                None => None,
            };
        }
        ZeekLog::SmbFiles => {
            let action = gs(&m, "action").unwrap_or_default();
            ev.activity = match action.as_str() {
                "SMB::FILE_OPEN" => Activity::Open,
                "SMB::FILE_READ" => Activity::Read,
                "SMB::FILE_WRITE" => Activity::Update,
                "SMB::FILE_DELETE" => Activity::Delete,
                "SMB::FILE_RENAME" => Activity::Update,
                _ => Activity::Other,
            };
            let name = gs(&m, "name");
            let path = gs(&m, "path");
            let full = match (&path, &name) {
                (Some(p), Some(n)) => Some(format!("{p}\\{n}")),
                (p, n) => p.clone().or(n.clone()),
            };
            ev.file = Some(File {
                name: name.as_deref().map(basename).map(str::to_string),
                path: full,
                size: gu(&m, "size"),
                hashes: Vec::new(),
            });
            ev.network_mut().protocol = Some("smb".into());
        }
        ZeekLog::SmbMapping => {
            ev.file = gs(&m, "path").map(|p| File {
                path: Some(p),
                ..File::default()
            });
            ev.network_mut().protocol = Some("smb".into());
            if let Some(t) = gs(&m, "share_type") {
                ev.message = Some(format!("share type {t}"));
            }
        }
        ZeekLog::Notice => {
            let note = gs(&m, "note").unwrap_or_default();
            ev.severity = Severity::Medium;
            ev.message = gs(&m, "msg");
            ev.finding = Some(Finding {
                title: ev.message.clone().unwrap_or_else(|| note.clone()),
                uid: Some(note.clone()),
                category: note.split("::").next().map(str::to_string),
            });
            // notice.log repeats the endpoints as src/dst/p when there is no conn.
            if ev.src.is_none() {
                if let Some(a) = gs(&m, "src").and_then(|v| ip(&v)) {
                    ev.src = Some(Endpoint::ip(a));
                }
            }
            if ev.dst.is_none() {
                if let Some(a) = gs(&m, "dst").and_then(|v| ip(&v)) {
                    ev.dst = Some(Endpoint::ip(a));
                    ev.dst_mut().port = gu(&m, "p").and_then(|p| u16::try_from(p).ok());
                }
            }
            if let Some(sub) = gs(&m, "sub") {
                // Certificate notices put the subject's CN here; SSH
                // brute-force notices put a count. Keep it readable.
                ev.message = Some(match ev.message.take() {
                    Some(msg) => format!("{msg} ({sub})"),
                    None => sub,
                });
            }
        }
        ZeekLog::Other => {}
    }
    ev.collect_observables();
    Ok(ev)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conn_without_path() {
        let s = r#"{"ts":1715000000.5,"uid":"CHhAvVGS1DHFjwGM9","id.orig_h":"10.0.0.5","id.orig_p":49152,"id.resp_h":"10.0.0.9","id.resp_p":445,"proto":"tcp","service":"smb","conn_state":"SF","orig_bytes":100,"resp_bytes":200,"history":"ShADadFf"}"#;
        let ev = parse_zeek(s).unwrap();
        assert_eq!(ev.type_name.as_deref(), Some("conn"));
        assert_eq!(ev.time.unwrap().to_string(), "2024-05-06T12:53:20.500Z");
        assert_eq!(ev.dst.unwrap().port, Some(445));
    }

    #[test]
    fn errors() {
        assert_eq!(parse_zeek("[1]").unwrap_err().code, codes::ZEEK_JSON);
        assert_eq!(
            parse_zeek("{\"uid\":\"x\"}").unwrap_err().code,
            codes::ZEEK_FIELD
        );
        assert_eq!(
            parse_zeek("{\"ts\":true}").unwrap_err().code,
            codes::ZEEK_FIELD
        );
    }
}
