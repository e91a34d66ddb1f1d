//! Syslog headers: RFC 5424 and RFC 3164 (BSD).
//!
//! [`parse_5424_header`] and [`parse_3164_header`] give a borrowed
//! [`SyslogHeader`]; [`strip_header`] removes whichever header a line has so
//! the payload parsers (CEF, firewalls, auditd) accept records with or without
//! one. [`parse_rfc5424`] / [`parse_rfc3164`] make a generic event, and
//! recognise OpenSSH authentication messages.

use serde_json::{Map, Value};
use ward_event::{Activity, Endpoint, Event, EventClass, Outcome, Severity, Timestamp};

use crate::util::{ip, port, present};
use crate::{codes, Options, ParseError, ParseResult};

/// One RFC 5424 structured-data element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdElement<'a> {
    /// SD-ID, e.g. `timeQuality` or `origin@32473`.
    pub id: &'a str,
    /// Parameters with escapes (`\"`, `\\`, `\]`) removed.
    pub params: Vec<(&'a str, String)>,
}

/// A parsed syslog header, borrowing from the line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyslogHeader<'a> {
    /// Facility (PRI / 8), when a PRI was present.
    pub facility: Option<u8>,
    /// Severity (PRI % 8), when a PRI was present.
    pub severity: Option<u8>,
    /// Timestamp, if the header had one.
    pub timestamp: Option<Timestamp>,
    /// HOSTNAME.
    pub hostname: Option<&'a str>,
    /// APP-NAME / TAG.
    pub app_name: Option<&'a str>,
    /// PROCID / `[pid]`.
    pub procid: Option<&'a str>,
    /// MSGID (RFC 5424 only).
    pub msgid: Option<&'a str>,
    /// STRUCTURED-DATA (RFC 5424 only).
    pub sd: Vec<SdElement<'a>>,
    /// Byte offset of MSG in the line.
    pub msg_offset: usize,
}

/// Which header a line carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderKind {
    /// RFC 5424.
    Rfc5424,
    /// RFC 3164 (or at least a PRI / BSD timestamp).
    Rfc3164,
    /// No syslog header.
    None,
}

/// Parse `<PRI>`; returns (facility, severity, bytes used).
fn parse_pri(b: &[u8]) -> Result<(u8, u8, usize), ParseError> {
    if b.first() != Some(&b'<') {
        return Err(ParseError::new(
            codes::SYSLOG_PRI,
            0,
            "expected '<' opening PRI",
        ));
    }
    let mut v: u32 = 0;
    let mut i = 1;
    while i < b.len() && i <= 4 && b[i].is_ascii_digit() {
        v = v * 10 + u32::from(b[i] - b'0');
        i += 1;
    }
    if i == 1 || b.get(i) != Some(&b'>') || v > 191 {
        return Err(ParseError::new(
            codes::SYSLOG_PRI,
            i,
            "PRI must be 1-3 digits 0-191 closed by '>'",
        ));
    }
    Ok(((v / 8) as u8, (v % 8) as u8, i + 1))
}

/// Take a space-terminated token from `s[i..]`; returns (token, next index).
fn token(s: &str, i: usize) -> Option<(&str, usize)> {
    let rest = s.get(i..)?;
    let end = rest.find(' ').unwrap_or(rest.len());
    if end == 0 {
        return None;
    }
    Some((&rest[..end], (i + end + 1).min(s.len())))
}

fn nil(t: &str) -> Option<&str> {
    (t != "-").then_some(t)
}

/// Parse an RFC 5424 header.
pub fn parse_5424_header(s: &str) -> Result<SyslogHeader<'_>, ParseError> {
    let b = s.as_bytes();
    let (facility, severity, mut i) = parse_pri(b)?;
    let hdr_err = |at: usize, what: &str| {
        ParseError::new(codes::SYSLOG5424_HEADER, at, format!("RFC 5424: {what}"))
    };
    if !(b.get(i).is_some_and(|c| (b'1'..=b'9').contains(c))) {
        return Err(hdr_err(i, "expected VERSION digit after PRI"));
    }
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    if b.get(i) != Some(&b' ') {
        return Err(hdr_err(i, "expected space after VERSION"));
    }
    i += 1;
    let (ts, next) = token(s, i).ok_or_else(|| hdr_err(i, "missing TIMESTAMP"))?;
    let timestamp = if ts == "-" {
        None
    } else {
        Some(
            Timestamp::parse_iso8601(ts, true)
                .map_err(|e| hdr_err(i + e.offset, &format!("TIMESTAMP: expected {}", e.what)))?,
        )
    };
    i = next;
    let mut fields = [None; 4];
    for (n, name) in ["HOSTNAME", "APP-NAME", "PROCID", "MSGID"]
        .iter()
        .enumerate()
    {
        let (t, next) = token(s, i).ok_or_else(|| hdr_err(i, &format!("missing {name}")))?;
        fields[n] = nil(t);
        i = next;
    }
    let (sd, after_sd) = parse_sd(s, i)?;
    i = after_sd;
    if b.get(i) == Some(&b' ') {
        i += 1;
    }
    // A UTF-8 BOM announces the MSG encoding; it is not part of the text.
    if s[i..].starts_with('\u{feff}') {
        i += 3;
    }
    Ok(SyslogHeader {
        facility: Some(facility),
        severity: Some(severity),
        timestamp,
        hostname: fields[0],
        app_name: fields[1],
        procid: fields[2],
        msgid: fields[3],
        sd,
        msg_offset: i.min(s.len()),
    })
}

/// Parse STRUCTURED-DATA at `i`: `-` or one or more `[ID k="v" …]`.
fn parse_sd(s: &str, mut i: usize) -> Result<(Vec<SdElement<'_>>, usize), ParseError> {
    let b = s.as_bytes();
    let sd_err = |at: usize, what: &str| {
        ParseError::new(codes::SYSLOG5424_SD, at, format!("structured data: {what}"))
    };
    match b.get(i) {
        Some(b'-') => return Ok((Vec::new(), i + 1)),
        Some(b'[') => {}
        None => return Ok((Vec::new(), i)),
        Some(_) => return Err(sd_err(i, "expected '-' or '['")),
    }
    let mut out = Vec::new();
    while b.get(i) == Some(&b'[') {
        i += 1;
        let start = i;
        while i < b.len() && !matches!(b[i], b' ' | b']' | b'=' | b'"') {
            i += 1;
        }
        if i == start {
            return Err(sd_err(i, "empty SD-ID"));
        }
        let id = &s[start..i];
        let mut params = Vec::new();
        loop {
            match b.get(i) {
                Some(b']') => {
                    i += 1;
                    break;
                }
                Some(b' ') => i += 1,
                None => return Err(sd_err(i, "unterminated element (missing ']')")),
                Some(_) => {}
            }
            if b.get(i) == Some(&b']') {
                continue;
            }
            let ns = i;
            while i < b.len() && !matches!(b[i], b'=' | b' ' | b']' | b'"') {
                i += 1;
            }
            if i == ns || b.get(i) != Some(&b'=') {
                return Err(sd_err(i, "expected PARAM-NAME="));
            }
            let name = &s[ns..i];
            i += 1;
            if b.get(i) != Some(&b'"') {
                return Err(sd_err(i, "PARAM-VALUE must be double-quoted"));
            }
            i += 1;
            let mut val = String::new();
            let mut seg = i;
            loop {
                match b.get(i) {
                    None => return Err(sd_err(i, "unterminated PARAM-VALUE")),
                    Some(b'\\') if matches!(b.get(i + 1), Some(b'"' | b'\\' | b']')) => {
                        val.push_str(&s[seg..i]);
                        i += 1;
                        seg = i;
                        i += 1;
                    }
                    Some(b'"') => {
                        val.push_str(&s[seg..i]);
                        i += 1;
                        break;
                    }
                    Some(_) => i += 1,
                }
            }
            params.push((name, val));
        }
        out.push(SdElement { id, params });
    }
    Ok((out, i))
}

/// Cisco's `Mmm dd yyyy hh:mm:ss[.mmm]` (ASA `logging timestamp`), which
/// carries a year and no zone.
pub fn parse_cisco_time(b: &[u8]) -> Option<(Timestamp, usize)> {
    if b.len() < 20 || b[3] != b' ' || b[6] != b' ' || b[11] != b' ' {
        return None;
    }
    let year: i64 = std::str::from_utf8(&b[7..11]).ok()?.parse().ok()?;
    let mut bsd = Vec::with_capacity(24);
    bsd.extend_from_slice(&b[..7]);
    let time_end = b[12..]
        .iter()
        .position(|c| !(c.is_ascii_digit() || *c == b':' || *c == b'.'))
        .map_or(b.len(), |p| p + 12);
    bsd.extend_from_slice(&b[12..time_end]);
    let reference = Timestamp::from_ymd_hms(year, 12, 31, 23, 59, 59, 0)?;
    let (t, used) = Timestamp::parse_bsd(&bsd, reference).ok()?;
    (used == bsd.len()).then_some((t, time_end))
}

/// CEF and LEEF records start with `CEF:`/`LEEF:`, which would otherwise
/// read as a TAG.
fn is_cef_leef(s: &str) -> bool {
    s.starts_with("CEF:") || s.starts_with("LEEF:")
}

fn is_tag_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'/' | b'(' | b')')
}

/// Parse an RFC 3164 header. The PRI is optional (file-sourced lines lack
/// it), the timestamp may be BSD (`Oct 11 22:14:15`) or ISO 8601 (rsyslog
/// high-precision), and everything after it is best effort, as RFC 3164 says.
pub fn parse_3164_header(s: &str, reference: Timestamp) -> Result<SyslogHeader<'_>, ParseError> {
    let b = s.as_bytes();
    let mut h = SyslogHeader::default();
    let mut i = 0;
    if b.first() == Some(&b'<') {
        let (f, sev, used) = parse_pri(b)?;
        h.facility = Some(f);
        h.severity = Some(sev);
        i = used;
    }
    let pri_end = i;
    if let Ok((t, used)) = Timestamp::parse_bsd(&b[i..], reference) {
        h.timestamp = Some(t);
        i += used;
        // Cisco-style `Mmm dd yyyy hh:mm:ss` is handled by parse_bsd failing;
        // some devices append a year after the time: skip it.
        if b.get(i) == Some(&b' ')
            && b.get(i + 1..i + 5)
                .is_some_and(|y| y.iter().all(u8::is_ascii_digit))
            && b.get(i + 5) == Some(&b' ')
        {
            i += 5;
        }
    } else if let Some((t, used)) = parse_cisco_time(&b[i..]) {
        h.timestamp = Some(t);
        i += used;
    } else if let Ok((t, used)) = Timestamp::parse_iso8601_prefix(&b[i..], false) {
        h.timestamp = Some(t);
        i += used;
    } else if pri_end == 0 {
        return Err(ParseError::new(
            codes::SYSLOG3164_HEADER,
            0,
            "RFC 3164: neither PRI nor timestamp at start of line",
        ));
    } else {
        // PRI then MSG only (e.g. `<166>%ASA-6-…`).
        h.msg_offset = i;
        return Ok(h);
    }
    if b.get(i) == Some(&b':') {
        i += 1; // Cisco puts a colon after the timestamp
    }
    while b.get(i) == Some(&b' ') {
        i += 1;
    }
    // HOSTNAME, unless the next token is already the TAG (`sshd[12]:`).
    if let Some((tok, next)) = token(s, i) {
        let is_tag = tok.ends_with(':') || (tok.contains('[') && tok.ends_with("]:"));
        if !is_tag && !tok.starts_with('%') && !is_cef_leef(tok) {
            h.hostname = Some(tok);
            i = next;
        }
    }
    // TAG: app[pid]: — only when it looks like one; otherwise all is MSG.
    let rest = &b[i.min(b.len())..];
    if is_cef_leef(&s[i.min(s.len())..]) {
        h.msg_offset = i.min(s.len());
        return Ok(h);
    }
    let mut j = 0;
    while j < rest.len() && j < 48 && is_tag_byte(rest[j]) {
        j += 1;
    }
    if j > 0 {
        let app = &s[i..i + j];
        match rest.get(j) {
            Some(b'[') => {
                if let Some(close) = rest[j..].iter().position(|&c| c == b']') {
                    let pid = &s[i + j + 1..i + j + close];
                    if rest.get(j + close + 1) == Some(&b':') {
                        h.app_name = Some(app);
                        h.procid = Some(pid);
                        i += j + close + 2;
                    }
                }
            }
            Some(b':') => {
                h.app_name = Some(app);
                i += j + 1;
            }
            // RFC 3164 §4.1.3: any non-alphanumeric character ends the TAG;
            // rsyslog's forward format sends `host app msg` for messages
            // that arrived as RFC 5424. Only a short TAG followed by more
            // text counts, so a lone word stays the message.
            Some(b' ') if j <= 32 && rest.len() > j + 1 => {
                h.app_name = Some(app);
                i += j + 1;
            }
            _ => {}
        }
    }
    while b.get(i) == Some(&b' ') {
        i += 1;
    }
    h.msg_offset = i.min(s.len());
    Ok(h)
}

/// Decide which header a line has and return its payload. Never fails: a line
/// without a header is all payload.
pub fn split_header(s: &str) -> (HeaderKind, &str) {
    let (kind, h) = strip_header(s, Timestamp::now());
    (kind, &s[h.map_or(0, |h| h.msg_offset)..])
}

/// Parse whichever syslog header `s` has (RFC 5424 first, then RFC 3164).
pub fn strip_header(s: &str, reference: Timestamp) -> (HeaderKind, Option<SyslogHeader<'_>>) {
    let b = s.as_bytes();
    if b.first() == Some(&b'<') {
        if let Ok(h) = parse_5424_header(s) {
            return (HeaderKind::Rfc5424, Some(h));
        }
    }
    match parse_3164_header(s, reference) {
        Ok(h) => (HeaderKind::Rfc3164, Some(h)),
        Err(_) => (HeaderKind::None, None),
    }
}

/// Copy syslog header facts onto an event parsed from the payload: host and
/// time when the payload did not give them, and header fields into the
/// original field map under `syslog_*` names.
pub(crate) fn apply_header(ev: &mut Event, h: &SyslogHeader<'_>) {
    if ev.time.is_none() {
        ev.time = h.timestamp;
    }
    if let Some(host) = h.hostname {
        let hm = ev.host_mut();
        if hm.hostname.is_none() {
            if let Some(addr) = ip(host) {
                if hm.ip.is_none() {
                    hm.ip = Some(addr);
                }
            } else {
                hm.hostname = Some(host.to_string());
            }
        }
    }
    let fields = ev.original.fields.get_or_insert_with(Map::new);
    if let Some(f) = h.facility {
        fields.insert("syslog_facility".into(), Value::from(f));
    }
    if let Some(sev) = h.severity {
        fields.insert("syslog_severity".into(), Value::from(sev));
    }
    if let Some(host) = h.hostname {
        fields.insert("syslog_hostname".into(), Value::from(host));
    }
    if let Some(app) = h.app_name {
        fields.insert("syslog_appname".into(), Value::from(app));
    }
}

fn generic_event(s: &str, format: &str, h: &SyslogHeader<'_>) -> Event {
    let msg = &s[h.msg_offset..];
    let mut ev = Event::new(EventClass::BaseEvent, Activity::Other, format, s);
    ev.time = h.timestamp;
    ev.severity = h.severity.map_or(Severity::Unknown, Severity::from_syslog);
    if let Some(host) = h.hostname {
        match ip(host) {
            Some(a) => ev.host_mut().ip = Some(a),
            None => ev.host_mut().hostname = Some(host.to_string()),
        }
    }
    if let Some(app) = h.app_name {
        ev.process_mut().name = Some(app.to_string());
    }
    if let Some(pid) = h.procid.and_then(|p| p.parse().ok()) {
        ev.process_mut().pid = Some(pid);
    }
    ev.type_name = h.msgid.map(str::to_string);
    if let Some(m) = present(msg) {
        ev.message = Some(m.to_string());
    }
    let mut f = Map::new();
    if let Some(x) = h.facility {
        f.insert("facility".into(), Value::from(x));
    }
    if let Some(x) = h.severity {
        f.insert("severity".into(), Value::from(x));
    }
    for (k, v) in [
        ("hostname", h.hostname),
        ("appname", h.app_name),
        ("procid", h.procid),
        ("msgid", h.msgid),
    ] {
        if let Some(v) = v {
            f.insert(k.into(), Value::from(v));
        }
    }
    for el in &h.sd {
        for (k, v) in &el.params {
            f.insert(format!("{}.{}", el.id, k), Value::from(v.as_str()));
        }
    }
    f.insert("message".into(), Value::from(msg));
    ev.original.fields = Some(f);
    sshd_auth(&mut ev, h.app_name, msg);
    ev.collect_observables();
    ev
}

/// OpenSSH `Accepted …`/`Failed …`/`Invalid user …` lines become
/// Authentication events: they are the single most useful Linux signal.
fn sshd_auth(ev: &mut Event, app: Option<&str>, msg: &str) {
    if app != Some("sshd") {
        return;
    }
    let (outcome, rest) = if let Some(r) = msg.strip_prefix("Accepted ") {
        (Outcome::Success, r)
    } else if let Some(r) = msg.strip_prefix("Failed ") {
        (Outcome::Failure, r)
    } else if let Some(r) = msg.strip_prefix("Invalid user ") {
        (Outcome::Failure, r)
    } else {
        return;
    };
    // `<method> for [invalid user ]<user> from <ip> port <port> ssh2`
    let rest = rest.split_once(" for ").map_or(rest, |(_, r)| r);
    let rest = rest.strip_prefix("invalid user ").unwrap_or(rest);
    let Some((user, tail)) = rest.split_once(" from ") else {
        return;
    };
    ev.class = EventClass::Authentication;
    ev.activity = Activity::Logon;
    ev.outcome = Some(outcome);
    ev.user_mut().name = Some(user.to_string());
    let mut parts = tail.split(' ');
    let src_ip = parts.next().and_then(ip);
    let src_port = match (parts.next(), parts.next()) {
        (Some("port"), Some(p)) => port(p),
        _ => None,
    };
    if let Some(a) = src_ip {
        ev.src = Some(Endpoint {
            ip: Some(a),
            port: src_port,
            ..Endpoint::default()
        });
    }
    ev.dst_mut().port = Some(22);
    ev.network_mut().protocol = Some("ssh".into());
}

/// Parse an RFC 5424 line into a generic event.
pub fn parse_rfc5424(s: &str, _opts: &Options) -> ParseResult {
    let h = parse_5424_header(s)?;
    Ok(generic_event(s, "syslog.rfc5424", &h))
}

/// Parse an RFC 3164 line into a generic event.
pub fn parse_rfc3164(s: &str, opts: &Options) -> ParseResult {
    let h = parse_3164_header(s, opts.reference_time())?;
    Ok(generic_event(s, "syslog.rfc3164", &h))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference() -> Timestamp {
        Timestamp::parse_iso8601("2024-06-01T00:00:00Z", true).unwrap()
    }

    #[test]
    fn rfc5424_examples() {
        // RFC 5424 §6.5 example 3 (SD with two elements).
        let s = r#"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high"] BOMAn application event log entry..."#;
        let h = parse_5424_header(s).unwrap();
        assert_eq!(h.facility, Some(20));
        assert_eq!(h.severity, Some(5));
        assert_eq!(h.hostname, Some("mymachine.example.com"));
        assert_eq!(h.procid, None);
        assert_eq!(h.msgid, Some("ID47"));
        assert_eq!(h.sd.len(), 2);
        assert_eq!(
            h.sd[0].params[1],
            ("eventSource", "Application".to_string())
        );
        assert_eq!(&s[h.msg_offset..], "BOMAn application event log entry...");
    }

    #[test]
    fn rfc5424_escapes_and_errors() {
        let s = r#"<13>1 - - - - - [a b="x\"y\]z\\"] m"#;
        let h = parse_5424_header(s).unwrap();
        assert_eq!(h.sd[0].params[0].1, r#"x"y]z\"#);
        let e = parse_5424_header("<13>1 2003-13-11T22:14:15Z h a p m - x").unwrap_err();
        assert_eq!(e.code, codes::SYSLOG5424_HEADER);
        let e = parse_5424_header("<13>1 - h a p m [x y=\"z] msg").unwrap_err();
        assert_eq!(e.code, codes::SYSLOG5424_SD);
        let e = parse_5424_header("<999>1 - h a p m -").unwrap_err();
        assert_eq!(e.code, codes::SYSLOG_PRI);
    }

    #[test]
    fn rfc3164_variants() {
        let r = reference();
        let s = "<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8";
        let h = parse_3164_header(s, r).unwrap();
        assert_eq!(h.hostname, Some("mymachine"));
        assert_eq!(h.app_name, Some("su"));
        assert_eq!(
            &s[h.msg_offset..],
            "'su root' failed for lonvick on /dev/pts/8"
        );
        assert_eq!(h.timestamp.unwrap().to_string(), "2023-10-11T22:14:15Z");

        let s = "<13>Feb  5 17:32:18 10.0.0.99 sshd[4242]: hello";
        let h = parse_3164_header(s, r).unwrap();
        assert_eq!(h.procid, Some("4242"));
        assert_eq!(h.hostname, Some("10.0.0.99"));

        let s = "<166>%ASA-6-302013: Built outbound";
        let h = parse_3164_header(s, r).unwrap();
        assert_eq!(&s[h.msg_offset..], "%ASA-6-302013: Built outbound");

        let s = "<13>2024-05-01T10:00:00.123+00:00 vm gpfw ward e2e rs-0";
        let h = parse_3164_header(s, r).unwrap();
        assert_eq!((h.hostname, h.app_name), (Some("vm"), Some("gpfw")));
        assert_eq!(&s[h.msg_offset..], "ward e2e rs-0");

        let s = "<30>2024-05-01T10:00:00.123+01:00 host app[1]: x";
        let h = parse_3164_header(s, r).unwrap();
        assert_eq!(h.timestamp.unwrap().to_string(), "2024-05-01T09:00:00.123Z");
        assert!(parse_3164_header("hello world", r).is_err());
    }

    #[test]
    fn sshd_failed_password() {
        let o = Options {
            reference_time: Some(reference()),
        };
        let ev = parse_rfc3164(
            "<38>May 30 10:00:01 gp-fw sshd[811]: Failed password for invalid user admin from 198.51.100.23 port 50122 ssh2",
            &o,
        )
        .unwrap();
        assert_eq!(ev.class, EventClass::Authentication);
        assert_eq!(ev.outcome, Some(Outcome::Failure));
        assert_eq!(ev.user.unwrap().name.as_deref(), Some("admin"));
        assert_eq!(ev.src.unwrap().port, Some(50122));
    }
}
