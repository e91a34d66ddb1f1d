//! Suricata EVE JSON: `alert`, `flow`, `netflow`, `dns`, `http`, `tls`,
//! `smb`, `fileinfo` (and any other `event_type` as a generic network event).
//!
//! Deserialised into borrowed structs that name only the fields the model
//! uses; everything else is skipped by the JSON parser without building
//! values. The original record stays as text ([`ward_event::Original::raw`]),
//! so Sigma and analysts still see every field.

use std::borrow::Cow;

use serde::Deserialize;
use ward_event::{
    Activity, Disposition, Event, EventClass, File, FileHash, Finding, Outcome, Severity,
    Timestamp, Url,
};

use crate::util::{basename, ip, present};
use crate::windows::line_col_offset;
use crate::{codes, ParseError, ParseResult};

type S<'a> = Option<Cow<'a, str>>;

#[derive(Deserialize)]
struct Eve<'a> {
    #[serde(borrow)]
    timestamp: S<'a>,
    flow_id: Option<u64>,
    #[serde(borrow)]
    event_type: S<'a>,
    #[serde(borrow)]
    src_ip: S<'a>,
    src_port: Option<u16>,
    #[serde(borrow)]
    dest_ip: S<'a>,
    dest_port: Option<u16>,
    #[serde(borrow)]
    proto: S<'a>,
    #[serde(borrow)]
    app_proto: S<'a>,
    #[serde(borrow)]
    host: S<'a>,
    #[serde(borrow)]
    direction: S<'a>,
    #[serde(borrow)]
    alert: Option<Alert<'a>>,
    flow: Option<Flow>,
    #[serde(borrow)]
    dns: Option<Dns<'a>>,
    #[serde(borrow)]
    http: Option<Http<'a>>,
    #[serde(borrow)]
    tls: Option<Tls<'a>>,
    #[serde(borrow)]
    smb: Option<Smb<'a>>,
    #[serde(borrow)]
    fileinfo: Option<FileInfo<'a>>,
}

#[derive(Deserialize)]
struct Alert<'a> {
    #[serde(borrow)]
    action: S<'a>,
    signature_id: Option<u64>,
    #[serde(borrow)]
    signature: S<'a>,
    #[serde(borrow)]
    category: S<'a>,
    severity: Option<u8>,
}

#[derive(Deserialize)]
struct Flow {
    pkts_toserver: Option<u64>,
    pkts_toclient: Option<u64>,
    bytes_toserver: Option<u64>,
    bytes_toclient: Option<u64>,
}

#[derive(Deserialize)]
struct DnsAnswer<'a> {
    #[serde(borrow)]
    rdata: S<'a>,
}

#[derive(Deserialize)]
struct DnsQuery<'a> {
    #[serde(borrow)]
    rrname: S<'a>,
    #[serde(borrow)]
    rrtype: S<'a>,
}

#[derive(Deserialize)]
struct Dns<'a> {
    #[serde(borrow, rename = "type")]
    kind: S<'a>,
    #[serde(borrow)]
    rrname: S<'a>,
    #[serde(borrow)]
    rrtype: S<'a>,
    #[serde(borrow)]
    rcode: S<'a>,
    #[serde(borrow)]
    rdata: S<'a>,
    #[serde(borrow)]
    answers: Option<Vec<DnsAnswer<'a>>>,
    #[serde(borrow)]
    queries: Option<Vec<DnsQuery<'a>>>,
}

#[derive(Deserialize)]
struct Http<'a> {
    #[serde(borrow)]
    hostname: S<'a>,
    #[serde(borrow)]
    url: S<'a>,
    #[serde(borrow)]
    http_user_agent: S<'a>,
    #[serde(borrow)]
    http_method: S<'a>,
    #[serde(borrow)]
    http_refer: S<'a>,
    #[serde(borrow)]
    protocol: S<'a>,
    status: Option<Status<'a>>,
    length: Option<u64>,
}

/// HTTP status: a number in current Suricata, a string in old versions.
#[derive(Deserialize)]
#[serde(untagged)]
enum Status<'a> {
    Num(u64),
    #[serde(borrow)]
    Text(Cow<'a, str>),
}

#[derive(Deserialize)]
struct Ja3<'a> {
    #[serde(borrow)]
    hash: S<'a>,
}

#[derive(Deserialize)]
struct Tls<'a> {
    #[serde(borrow)]
    subject: S<'a>,
    #[serde(borrow)]
    sni: S<'a>,
    #[serde(borrow)]
    version: S<'a>,
    #[serde(borrow)]
    ja3: Option<Ja3<'a>>,
}

#[derive(Deserialize)]
struct Ntlm<'a> {
    #[serde(borrow)]
    domain: S<'a>,
    #[serde(borrow)]
    user: S<'a>,
    #[serde(borrow)]
    host: S<'a>,
}

#[derive(Deserialize)]
struct Smb<'a> {
    #[serde(borrow)]
    command: S<'a>,
    #[serde(borrow)]
    status: S<'a>,
    #[serde(borrow)]
    filename: S<'a>,
    #[serde(borrow)]
    share: S<'a>,
    #[serde(borrow)]
    ntlmssp: Option<Ntlm<'a>>,
}

#[derive(Deserialize)]
struct FileInfo<'a> {
    #[serde(borrow)]
    filename: S<'a>,
    #[serde(borrow)]
    md5: S<'a>,
    #[serde(borrow)]
    sha1: S<'a>,
    #[serde(borrow)]
    sha256: S<'a>,
    size: Option<u64>,
}

fn own(s: &S<'_>) -> Option<String> {
    s.as_deref().and_then(present).map(str::to_string)
}

/// Parse one EVE JSON record.
pub fn parse_eve(s: &str) -> ParseResult {
    let eve: Eve<'_> = serde_json::from_str(s).map_err(|e| {
        ParseError::new(
            codes::EVE_JSON,
            line_col_offset(s, e.line(), e.column()),
            format!("invalid EVE JSON: {e}"),
        )
    })?;
    let Some(event_type) = eve.event_type.as_deref() else {
        return Err(ParseError::new(
            codes::EVE_FIELD,
            0,
            "missing \"event_type\"",
        ));
    };
    let time = match eve.timestamp.as_deref() {
        Some(t) => Some(Timestamp::parse_iso8601(t, false).map_err(|e| {
            let at = s.find(t).unwrap_or(0) + e.offset;
            ParseError::new(
                codes::EVE_FIELD,
                at,
                format!("\"timestamp\": expected {}", e.what),
            )
        })?),
        None => None,
    };
    let (class, activity) = match event_type {
        "alert" | "anomaly" => (EventClass::DetectionFinding, Activity::Create),
        "flow" | "netflow" => (EventClass::NetworkActivity, Activity::Traffic),
        "dns" => match eve.dns.as_ref().and_then(|d| d.kind.as_deref()) {
            Some("answer") => (EventClass::DnsActivity, Activity::Response),
            _ => (EventClass::DnsActivity, Activity::Query),
        },
        "http" => (EventClass::HttpActivity, Activity::HttpRequest),
        "smb" => (EventClass::SmbActivity, Activity::Traffic),
        "tls" => (EventClass::NetworkActivity, Activity::Open),
        "fileinfo" => (EventClass::FileSystemActivity, Activity::Read),
        _ => (EventClass::NetworkActivity, Activity::Other),
    };
    let mut ev = Event::new(class, activity, "suricata.eve", s);
    ev.time = time;
    ev.type_name = Some(event_type.to_string());
    ev.severity = Severity::Informational;
    if let Some(h) = own(&eve.host) {
        ev.host_mut().hostname = Some(h);
    }
    if let Some(a) = eve.src_ip.as_deref().and_then(ip) {
        let e = ev.src_mut();
        e.ip = Some(a);
        e.port = eve.src_port;
    }
    if let Some(a) = eve.dest_ip.as_deref().and_then(ip) {
        let e = ev.dst_mut();
        e.ip = Some(a);
        e.port = eve.dest_port;
    }
    {
        let n = ev.network_mut();
        n.transport = eve.proto.as_deref().map(str::to_ascii_lowercase);
        n.protocol = own(&eve.app_proto).filter(|p| p != "failed");
        n.flow_id = eve.flow_id.map(|f| f.to_string());
        n.direction = own(&eve.direction);
        if let Some(fl) = &eve.flow {
            n.bytes_out = fl.bytes_toserver;
            n.bytes_in = fl.bytes_toclient;
            n.packets = match (fl.pkts_toserver, fl.pkts_toclient) {
                (None, None) => None,
                (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
            };
        }
    }
    if let Some(a) = &eve.alert {
        ev.severity = match a.severity {
            Some(1) => Severity::High,
            Some(2) => Severity::Medium,
            Some(3) => Severity::Low,
            _ => Severity::Informational,
        };
        ev.disposition = match a.action.as_deref() {
            Some("blocked") => Some(Disposition::Blocked),
            Some("allowed") => Some(Disposition::Detected),
            _ => None,
        };
        ev.finding = Some(Finding {
            title: own(&a.signature).unwrap_or_default(),
            uid: a.signature_id.map(|i| i.to_string()),
            category: own(&a.category),
        });
        ev.message = own(&a.signature);
    }
    if let Some(d) = &eve.dns {
        let first_q = d.queries.as_ref().and_then(|q| q.first());
        let dm = ev.dns_mut();
        dm.query = own(&d.rrname).or_else(|| first_q.and_then(|q| own(&q.rrname)));
        dm.qtype = own(&d.rrtype).or_else(|| first_q.and_then(|q| own(&q.rrtype)));
        dm.rcode = own(&d.rcode);
        if let Some(r) = own(&d.rdata) {
            dm.answers.push(r);
        }
        for a in d.answers.iter().flatten() {
            if let Some(r) = own(&a.rdata) {
                dm.answers.push(r);
            }
        }
    }
    if let Some(h) = &eve.http {
        if let Some(u) = h.url.as_deref() {
            ev.url = Some(Url::parse(u, h.hostname.as_deref()));
        }
        if let Some(host) = own(&h.hostname) {
            ev.dst_mut().hostname = Some(host);
        }
        let hm = ev.http_mut();
        hm.method = own(&h.http_method);
        hm.user_agent = own(&h.http_user_agent);
        hm.referrer = own(&h.http_refer);
        hm.version = own(&h.protocol);
        hm.response_bytes = h.length;
        hm.status = match &h.status {
            Some(Status::Num(n)) => u16::try_from(*n).ok(),
            Some(Status::Text(s)) => s.parse().ok(),
            None => None,
        };
        if let Some(st) = hm.status {
            ev.outcome = Some(if st < 400 {
                Outcome::Success
            } else {
                Outcome::Failure
            });
        }
    }
    if let Some(t) = &eve.tls {
        let n = ev.network_mut();
        n.tls_sni = own(&t.sni);
        n.tls_version = own(&t.version);
        n.tls_subject = own(&t.subject);
        n.ja3 = t.ja3.as_ref().and_then(|j| own(&j.hash));
        if n.protocol.is_none() {
            n.protocol = Some("tls".into());
        }
    }
    if let Some(smb) = &eve.smb {
        if event_type == "smb" {
            ev.activity = match smb.command.as_deref() {
                Some("SMB2_COMMAND_CREATE") => Activity::Open,
                Some("SMB2_COMMAND_READ") => Activity::Read,
                Some("SMB2_COMMAND_WRITE") => Activity::Update,
                _ => Activity::Traffic,
            };
            ev.outcome = match smb.status.as_deref() {
                Some("STATUS_SUCCESS") => Some(Outcome::Success),
                Some(_) => Some(Outcome::Failure),
                None => None,
            };
        }
        if event_type == "smb" {
            ev.type_name = own(&smb.command).or(ev.type_name.take());
        }
        let share = own(&smb.share);
        let fname = own(&smb.filename);
        if share.is_some() || fname.is_some() {
            let path = match (&share, &fname) {
                (Some(s), Some(f)) => Some(format!("{s}\\{f}")),
                (s, f) => s.clone().or(f.clone()),
            };
            ev.file = Some(File {
                name: fname.as_deref().map(basename).map(str::to_string),
                path,
                ..File::default()
            });
        }
        if let Some(n) = &smb.ntlmssp {
            if let Some(u) = own(&n.user) {
                let um = ev.user_mut();
                um.name = Some(u);
                um.domain = own(&n.domain);
            }
            if let Some(h) = own(&n.host) {
                ev.src_mut().hostname = Some(h);
            }
        }
        ev.network_mut().protocol = Some("smb".into());
    }
    if let Some(fi) = &eve.fileinfo {
        let hashes: Vec<FileHash> = [&fi.md5, &fi.sha1, &fi.sha256]
            .into_iter()
            .filter_map(|h| h.as_deref().and_then(FileHash::from_hex))
            .collect();
        let path = own(&fi.filename);
        ev.file = Some(File {
            name: path.as_deref().map(basename).map(str::to_string),
            path,
            size: fi.size,
            hashes,
        });
    }
    ev.collect_observables();
    Ok(ev)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert() {
        let s = r#"{"timestamp":"2017-05-12T14:02:11.123456+0000","flow_id":1,"event_type":"alert","src_ip":"10.0.0.5","src_port":49200,"dest_ip":"10.0.0.9","dest_port":445,"proto":"TCP","alert":{"action":"allowed","gid":1,"signature_id":2024218,"rev":3,"signature":"ET EXPLOIT Possible ETERNALBLUE MS17-010 Echo Request","category":"Attempted Administrator Privilege Gain","severity":1}}"#;
        let ev = parse_eve(s).unwrap();
        assert_eq!(ev.class, EventClass::DetectionFinding);
        assert_eq!(ev.severity, Severity::High);
        assert_eq!(ev.finding.as_ref().unwrap().uid.as_deref(), Some("2024218"));
        assert_eq!(ev.observables.ips.len(), 2);
        assert_eq!(ev.time.unwrap().to_string(), "2017-05-12T14:02:11.123456Z");
    }

    #[test]
    fn errors() {
        let e = parse_eve("{\"event_type\":").unwrap_err();
        assert_eq!(e.code, codes::EVE_JSON);
        let e = parse_eve("{\"timestamp\":\"x\"}").unwrap_err();
        assert_eq!(e.code, codes::EVE_FIELD);
        let e = parse_eve("{\"timestamp\":\"2024-13-01T00:00:00Z\",\"event_type\":\"flow\"}")
            .unwrap_err();
        assert_eq!(e.code, codes::EVE_FIELD);
    }

    #[test]
    fn escaped_strings_are_decoded() {
        let s = r#"{"event_type":"http","http":{"hostname":"a.example","url":"\/x?q=\"1\"","http_method":"GET","status":"200"}}"#;
        let ev = parse_eve(s).unwrap();
        assert_eq!(ev.url.unwrap().full, "/x?q=\"1\"");
        assert_eq!(ev.http.unwrap().status, Some(200));
    }
}
