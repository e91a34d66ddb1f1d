//! Parsers for every log format ward ingests, each producing a
//! [`ward_event::Event`].
//!
//! * [`Format`] names a format; [`detect`] guesses it from one record;
//!   [`parse`] parses with an explicit format, [`parse_auto`] detects first.
//! * [`parse_or_raw`] never fails: a record that does not parse becomes a raw
//!   event tagged with the [`ParseError`]'s code and reason — a parse failure
//!   is never a dropped event.
//! * [`framing::Decoder`] splits a TCP syslog byte stream (RFC 6587 octet
//!   counting or LF-terminated) incrementally, with a maximum message size.
//! * [`syslog`] parses RFC 5424 and RFC 3164 headers; the payload is handed
//!   to the CEF, LEEF, firewall and auditd parsers when it is one of those.
//! * [`records::split_records`] splits an uploaded file (JSON array, JSON
//!   Lines, pretty-printed evtx_dump output, text lines) into records.
//! * [`evtx::parse_evtx_file`] reads a binary `.evtx` file for back-filling.
//! * [`bench::bench_parse`] measures messages/s and MB/s per format.
//!
//! Every error has a stable code (`WF0101` …, see [`codes`]) and a byte
//! offset into the record.
//!
//! ```
//! use ward_formats::{detect, parse_auto, parse_or_raw, Format};
//!
//! let line = r#"<34>1 2024-05-01T10:00:00Z fw01 sshd 4711 - - Failed password for root from 192.0.2.9"#;
//! assert_eq!(detect(line), Some(Format::Syslog5424));
//! let ev = parse_auto(line).unwrap();
//! assert_eq!(ev.host.as_ref().unwrap().hostname.as_deref(), Some("fw01"));
//!
//! let broken = parse_or_raw(Format::Cef, "CEF:0|only|three");
//! assert!(!broken.is_parsed());
//! assert_eq!(broken.original.raw, "CEF:0|only|three");
//! ```

use std::fmt;

use ward_event::{Event, Timestamp};

pub mod access;
pub mod auditd;
pub mod bench;
pub mod cef;
pub mod evtx;
pub mod firewall;
pub mod framing;
pub mod records;
pub mod suricata;
pub mod syslog;
mod util;
pub mod windows;
pub mod zeek;

pub use bench::{bench_parse, BenchReport, FormatFigures};

/// Stable error codes. The first two digits after `WF` name the parser.
pub mod codes {
    /// The record is empty.
    pub const EMPTY: &str = "WF0001";
    /// No parser recognised the record (auto-detection failed).
    pub const UNKNOWN_FORMAT: &str = "WF0002";
    /// The record is not valid UTF-8 text.
    pub const NOT_UTF8: &str = "WF0003";
    /// RFC 5424: malformed PRI.
    pub const SYSLOG_PRI: &str = "WF0101";
    /// RFC 5424: malformed version, header field or timestamp.
    pub const SYSLOG5424_HEADER: &str = "WF0102";
    /// RFC 5424: malformed structured data.
    pub const SYSLOG5424_SD: &str = "WF0103";
    /// RFC 3164: malformed header.
    pub const SYSLOG3164_HEADER: &str = "WF0201";
    /// RFC 6587: bad octet count.
    pub const FRAME_COUNT: &str = "WF0301";
    /// RFC 6587: frame larger than the maximum message size.
    pub const FRAME_TOO_LARGE: &str = "WF0302";
    /// CEF: header has too few fields or no `CEF:` prefix.
    pub const CEF_HEADER: &str = "WF0401";
    /// CEF: bad extension.
    pub const CEF_EXTENSION: &str = "WF0402";
    /// LEEF: header malformed.
    pub const LEEF_HEADER: &str = "WF0501";
    /// Windows: not JSON / not an object.
    pub const WIN_JSON: &str = "WF0601";
    /// Windows: required field (EventID, System) missing.
    pub const WIN_FIELD: &str = "WF0602";
    /// Sysmon: the event is not from Sysmon.
    pub const WIN_NOT_SYSMON: &str = "WF0603";
    /// EVTX: the file is not an EVTX file.
    pub const EVTX_FILE: &str = "WF0604";
    /// EVTX: one record could not be rendered (kept raw).
    pub const EVTX_RECORD: &str = "WF0605";
    /// Suricata: not valid EVE JSON.
    pub const EVE_JSON: &str = "WF0701";
    /// Suricata: required field missing or invalid.
    pub const EVE_FIELD: &str = "WF0702";
    /// Zeek: not valid JSON.
    pub const ZEEK_JSON: &str = "WF0801";
    /// Zeek: log type not recognised or field invalid.
    pub const ZEEK_FIELD: &str = "WF0802";
    /// Cisco ASA/FTD: no `%ASA-` tag or bad message.
    pub const ASA: &str = "WF0901";
    /// FortiGate: not a FortiGate key=value record.
    pub const FORTIGATE: &str = "WF0902";
    /// Palo Alto: not a PAN-OS CSV TRAFFIC/THREAT record.
    pub const PANOS: &str = "WF0903";
    /// iptables/nftables: no `SRC=`/`DST=` packet log.
    pub const IPTABLES: &str = "WF0904";
    /// auditd: malformed record.
    pub const AUDITD: &str = "WF1001";
    /// Access log: malformed line.
    pub const ACCESS: &str = "WF1101";
}

/// A record that could not be parsed: stable code, what was wrong, where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message} (at byte {offset})")]
pub struct ParseError {
    /// Stable code from [`codes`].
    pub code: &'static str,
    /// What was wrong.
    pub message: String,
    /// Byte offset into the record where the problem was found.
    pub offset: usize,
}

impl ParseError {
    pub(crate) fn new(code: &'static str, offset: usize, message: impl Into<String>) -> Self {
        ParseError {
            code,
            message: message.into(),
            offset,
        }
    }
}

/// Result of a parser.
pub type ParseResult = Result<Event, ParseError>;

/// A format ward can parse, for explicit selection or as detected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// RFC 5424 syslog.
    Syslog5424,
    /// RFC 3164 (BSD) syslog.
    Syslog3164,
    /// ArcSight CEF (bare or inside syslog).
    Cef,
    /// IBM QRadar LEEF 1.0/2.0 (bare or inside syslog).
    Leef,
    /// evtx_dump JSON (`{"Event":{"System":…,"EventData":…}}`).
    WindowsEvtxJson,
    /// Flattened Windows JSON from Winlogbeat or NXLog.
    WindowsFlatJson,
    /// Sysmon events in either Windows JSON shape (rejects non-Sysmon).
    Sysmon,
    /// Suricata EVE JSON.
    SuricataEve,
    /// Zeek JSON logs.
    ZeekJson,
    /// Cisco ASA / FTD syslog.
    CiscoAsa,
    /// Fortinet FortiGate key=value syslog.
    FortiGate,
    /// Palo Alto PAN-OS CSV traffic/threat syslog.
    PaloAlto,
    /// Linux netfilter packet log (iptables LOG / nftables log).
    Iptables,
    /// Linux auditd records.
    Auditd,
    /// Web server access log, combined or common.
    AccessLog,
}

impl Format {
    /// Every format, in detection order.
    pub const ALL: [Format; 15] = [
        Format::Syslog5424,
        Format::Syslog3164,
        Format::Cef,
        Format::Leef,
        Format::WindowsEvtxJson,
        Format::WindowsFlatJson,
        Format::Sysmon,
        Format::SuricataEve,
        Format::ZeekJson,
        Format::CiscoAsa,
        Format::FortiGate,
        Format::PaloAlto,
        Format::Iptables,
        Format::Auditd,
        Format::AccessLog,
    ];

    /// Stable id, used in configuration and as [`ward_event::Original::format`].
    pub fn id(self) -> &'static str {
        match self {
            Format::Syslog5424 => "syslog.rfc5424",
            Format::Syslog3164 => "syslog.rfc3164",
            Format::Cef => "cef",
            Format::Leef => "leef",
            Format::WindowsEvtxJson => "windows.evtx_json",
            Format::WindowsFlatJson => "windows.flat_json",
            Format::Sysmon => "windows.sysmon",
            Format::SuricataEve => "suricata.eve",
            Format::ZeekJson => "zeek.json",
            Format::CiscoAsa => "cisco.asa",
            Format::FortiGate => "fortinet.fortigate",
            Format::PaloAlto => "paloalto.panos",
            Format::Iptables => "linux.netfilter",
            Format::Auditd => "linux.auditd",
            Format::AccessLog => "web.access",
        }
    }

    /// Parse an id or a short alias (`syslog5424`, `rfc3164`, `eve`, `zeek`,
    /// `asa`, `fortigate`, `panos`, `iptables`, `nftables`, `auditd`,
    /// `access`, `evtx_json`, `winlogbeat`, `nxlog`, `sysmon`, `cef`, `leef`).
    pub fn from_name(s: &str) -> Option<Format> {
        let s = s.trim().to_ascii_lowercase();
        if let Some(f) = Format::ALL.into_iter().find(|f| f.id() == s) {
            return Some(f);
        }
        Some(match s.as_str() {
            "syslog5424" | "rfc5424" | "syslog" => Format::Syslog5424,
            "syslog3164" | "rfc3164" | "bsd" => Format::Syslog3164,
            "cef" => Format::Cef,
            "leef" => Format::Leef,
            "evtx_json" | "evtx" | "windows" => Format::WindowsEvtxJson,
            "winlogbeat" | "nxlog" | "windows_flat" => Format::WindowsFlatJson,
            "sysmon" => Format::Sysmon,
            "eve" | "suricata" => Format::SuricataEve,
            "zeek" | "bro" => Format::ZeekJson,
            "asa" | "cisco_asa" | "ftd" => Format::CiscoAsa,
            "fortigate" | "fortinet" => Format::FortiGate,
            "panos" | "paloalto" | "palo_alto" => Format::PaloAlto,
            "iptables" | "nftables" | "netfilter" => Format::Iptables,
            "auditd" | "audit" => Format::Auditd,
            "access" | "access_log" | "combined" | "common" | "clf" => Format::AccessLog,
            _ => return None,
        })
    }
}

impl serde::Serialize for Format {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.id())
    }
}

impl<'de> serde::Deserialize<'de> for Format {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Format, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Format::from_name(&s).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown log format {s:?} (e.g. \"suricata.eve\", \"syslog5424\")"
            ))
        })
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// Parser options.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// "Now" for formats whose timestamps lack a year (RFC 3164, ASA): the
    /// year is chosen so the time is not more than a day after this. `None`
    /// means the system clock; tests fix it so output is reproducible.
    pub reference_time: Option<Timestamp>,
}

impl Options {
    /// The reference time in force.
    pub fn reference_time(&self) -> Timestamp {
        self.reference_time.unwrap_or_else(Timestamp::now)
    }
}

/// Parse one record with an explicitly selected format.
///
/// A record is one line, or for JSON formats one JSON document (which may
/// span lines, as evtx_dump prints them).
pub fn parse(format: Format, record: &str) -> ParseResult {
    parse_with(format, record, &Options::default())
}

/// [`parse`] with options.
pub fn parse_with(format: Format, record: &str, opts: &Options) -> ParseResult {
    if record.trim().is_empty() {
        return Err(ParseError::new(codes::EMPTY, 0, "empty record"));
    }
    let record = record.trim_end_matches(['\r', '\n']);
    match format {
        Format::Syslog5424 => syslog::parse_rfc5424(record, opts),
        Format::Syslog3164 => syslog::parse_rfc3164(record, opts),
        Format::Cef => cef::parse_cef(record, opts),
        Format::Leef => cef::parse_leef(record, opts),
        Format::WindowsEvtxJson => windows::parse_evtx_json(record),
        Format::WindowsFlatJson => windows::parse_flat_json(record),
        Format::Sysmon => windows::parse_sysmon(record),
        Format::SuricataEve => suricata::parse_eve(record),
        Format::ZeekJson => zeek::parse_zeek(record),
        Format::CiscoAsa => firewall::parse_asa(record, opts),
        Format::FortiGate => firewall::parse_fortigate(record, opts),
        Format::PaloAlto => firewall::parse_panos(record, opts),
        Format::Iptables => firewall::parse_netfilter(record, opts),
        Format::Auditd => auditd::parse_auditd(record, opts),
        Format::AccessLog => access::parse_access(record),
    }
}

/// Detect the format of one record, then parse it.
pub fn parse_auto(record: &str) -> ParseResult {
    parse_auto_with(record, &Options::default())
}

/// [`parse_auto`] with options.
pub fn parse_auto_with(record: &str, opts: &Options) -> ParseResult {
    match detect(record) {
        Some(f) => parse_with(f, record, opts),
        None if record.trim().is_empty() => Err(ParseError::new(codes::EMPTY, 0, "empty record")),
        None => Err(ParseError::new(
            codes::UNKNOWN_FORMAT,
            0,
            "no parser recognises this record",
        )),
    }
}

/// Parse with `format` (or auto-detect when `None`); never fails. A record
/// that does not parse becomes a raw [`Event`] with the error's code and
/// reason in its parse status.
pub fn parse_or_raw_with(format: Option<Format>, record: &str, opts: &Options) -> Event {
    let res = match format {
        Some(f) => parse_with(f, record, opts),
        None => parse_auto_with(record, opts),
    };
    res.unwrap_or_else(|e| {
        let fmt = format.map_or("raw", Format::id);
        Event::raw(
            fmt,
            record,
            e.code,
            format!("{} (at byte {})", e.message, e.offset),
        )
    })
}

/// [`parse_or_raw_with`] with an explicit format.
pub fn parse_or_raw(format: Format, record: &str) -> Event {
    parse_or_raw_with(Some(format), record, &Options::default())
}

/// Parse bytes: invalid UTF-8 is kept (lossily decoded) as a raw event
/// rather than dropped.
pub fn parse_bytes_or_raw(format: Option<Format>, record: &[u8], opts: &Options) -> Event {
    match std::str::from_utf8(record) {
        Ok(s) => parse_or_raw_with(format, s, opts),
        Err(e) => {
            let text = String::from_utf8_lossy(record);
            // Syslog bodies from old devices are often Latin-1: still try the
            // parser on the lossy text, but record that bytes were replaced.
            let mut ev = parse_or_raw_with(format, &text, opts);
            if ev.is_parsed() {
                ev.original.raw = text.into_owned();
                ev
            } else {
                Event::raw(
                    format.map_or("raw", Format::id),
                    text,
                    codes::NOT_UTF8,
                    format!("invalid UTF-8 at byte {}", e.valid_up_to()),
                )
            }
        }
    }
}

/// Guess the format of one record from its shape. Syslog records are
/// classified by their payload when it is CEF, LEEF, a firewall log or
/// auditd, so the most specific parser runs.
pub fn detect(record: &str) -> Option<Format> {
    let t = record.trim_start();
    let b = t.as_bytes();
    if b.first() == Some(&b'{') {
        return detect_json(t);
    }
    if t.starts_with("CEF:") {
        return Some(Format::Cef);
    }
    if t.starts_with("LEEF:") {
        return Some(Format::Leef);
    }
    if t.starts_with("type=") && t.contains("msg=audit(") {
        return Some(Format::Auditd);
    }
    if access::looks_like(t) {
        return Some(Format::AccessLog);
    }
    let (header, body) = syslog::split_header(t);
    if let Some(f) = detect_payload(body) {
        return Some(f);
    }
    match header {
        syslog::HeaderKind::Rfc5424 => Some(Format::Syslog5424),
        syslog::HeaderKind::Rfc3164 => Some(Format::Syslog3164),
        syslog::HeaderKind::None => None,
    }
}

/// Classify a syslog payload (the MSG part).
fn detect_payload(body: &str) -> Option<Format> {
    let body = body.trim_start();
    if body.starts_with("CEF:") || body.contains("|CEF:") || body.contains(" CEF:") {
        return Some(Format::Cef);
    }
    if body.starts_with("LEEF:") || body.contains(" LEEF:") {
        return Some(Format::Leef);
    }
    if body.contains("%ASA-") || body.contains("%FTD-") {
        return Some(Format::CiscoAsa);
    }
    if body.contains("logid=") && (body.contains("devname=") || body.contains("devid=")) {
        return Some(Format::FortiGate);
    }
    if firewall::looks_like_panos(body) {
        return Some(Format::PaloAlto);
    }
    if body.contains("SRC=") && body.contains("DST=") && body.contains("PROTO=") {
        return Some(Format::Iptables);
    }
    if body.contains("type=") && body.contains("msg=audit(") {
        return Some(Format::Auditd);
    }
    None
}

fn detect_json(t: &str) -> Option<Format> {
    // Look only at a prefix: keys that identify a shape come early, and a
    // full scan of a large record would cost as much as parsing it.
    let head = &t.as_bytes()[..t.len().min(4096)];
    let has = |needle: &str| memchr::memmem::find(head, needle.as_bytes()).is_some();
    if has("\"Event\"") && has("\"System\"") {
        if has("Microsoft-Windows-Sysmon") {
            return Some(Format::Sysmon);
        }
        return Some(Format::WindowsEvtxJson);
    }
    if has("\"event_type\"") && (has("\"timestamp\"") || has("\"flow_id\"")) {
        return Some(Format::SuricataEve);
    }
    if has("\"id.orig_h\"") || (has("\"ts\"") && (has("\"uid\"") || has("\"_path\""))) {
        return Some(Format::ZeekJson);
    }
    if has("\"EventID\"") || has("\"event_id\"") || has("\"winlog\"") {
        if has("Microsoft-Windows-Sysmon") {
            return Some(Format::Sysmon);
        }
        return Some(Format::WindowsFlatJson);
    }
    if has("\"ts\"") && has("\"note\"") {
        return Some(Format::ZeekJson);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for f in Format::ALL {
            assert_eq!(Format::from_name(f.id()), Some(f));
        }
        assert_eq!(Format::from_name("nftables"), Some(Format::Iptables));
        assert_eq!(Format::from_name("nope"), None);
        let f: Format = serde_json::from_str("\"eve\"").unwrap();
        assert_eq!(serde_json::to_string(&f).unwrap(), "\"suricata.eve\"");
        assert!(serde_json::from_str::<Format>("\"nope\"").is_err());
    }

    #[test]
    fn never_drops() {
        let o = Options::default();
        let ev = parse_or_raw_with(None, "complete gibberish", &o);
        assert!(!ev.is_parsed());
        assert_eq!(ev.original.raw, "complete gibberish");
        let ev = parse_bytes_or_raw(
            Some(Format::Syslog3164),
            b"<13>Oct 11 22:14:15 h a: \xff\xfe",
            &o,
        );
        assert!(ev.is_parsed());
        let ev = parse_bytes_or_raw(Some(Format::Cef), b"CEF:\xff", &o);
        match ev.parse_status {
            ward_event::ParseStatus::Raw { code, .. } => assert_eq!(code, codes::NOT_UTF8),
            ward_event::ParseStatus::Parsed => panic!("parsed garbage"),
        }
    }
}
