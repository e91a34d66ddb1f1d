//! ArcSight CEF and IBM QRadar LEEF (1.0 and 2.0), bare or after a syslog
//! header.

use serde_json::{Map, Value};
use ward_event::{
    Activity, Disposition, Event, EventClass, File, FileHash, Finding, Outcome, Severity,
    Timestamp, Url,
};

use crate::util::{basename, ip, parse_u64, port, present};
use crate::{codes, syslog, Options, ParseError, ParseResult};

/// Find `tag` (`CEF:` / `LEEF:`) at the start of the payload, after an
/// optional syslog header. Returns (header, offset of tag).
fn locate<'a>(
    s: &'a str,
    tag: &str,
    opts: &Options,
) -> Option<(Option<syslog::SyslogHeader<'a>>, usize)> {
    if s.starts_with(tag) {
        return Some((None, 0));
    }
    let (_, h) = syslog::strip_header(s, opts.reference_time());
    if let Some(h) = h {
        let body = &s[h.msg_offset..];
        if let Some(i) = body.find(tag) {
            // Some senders put a host or tag before CEF inside MSG; accept it
            // only when it is short, so a CEF string quoted deep inside a
            // message is not mistaken for the record.
            if i < 64 {
                let at = h.msg_offset + i;
                return Some((Some(h), at));
            }
        }
    }
    s.find(tag).filter(|i| *i < 256).map(|i| (None, i))
}

/// Split the pipe-delimited header into `n` fields (honouring `\|` and
/// `\\`), returning the fields and the offset of the remainder.
fn split_header(s: &str, base: usize, n: usize) -> Result<(Vec<String>, usize), usize> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(n);
    let mut cur = String::new();
    let mut i = 0;
    let mut seg = 0;
    while out.len() < n {
        match b.get(i) {
            None => return Err(base + i),
            Some(b'\\') if matches!(b.get(i + 1), Some(b'|' | b'\\')) => {
                cur.push_str(&s[seg..i]);
                seg = i + 1;
                i += 2;
            }
            Some(b'|') => {
                cur.push_str(&s[seg..i]);
                out.push(std::mem::take(&mut cur));
                i += 1;
                seg = i;
            }
            Some(_) => i += 1,
        }
    }
    Ok((out, i))
}

/// Is `b[i..]` the start of a CEF extension key followed by `=`?
fn key_at(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i;
    while j < b.len() && (b[j].is_ascii_alphanumeric() || matches!(b[j], b'_' | b'.' | b'[' | b']'))
    {
        j += 1;
    }
    (j > i && b.get(j) == Some(&b'=')).then_some(j)
}

/// Parse CEF extension `k=v k2=v two words k3=…` with escapes `\=`, `\\`,
/// `\n`, `\r`. A value runs until the next ` key=`.
fn parse_extension(s: &str, base: usize) -> Result<Vec<(String, String)>, ParseError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(24);
    let mut i = 0;
    while i < b.len() && b[i] == b' ' {
        i += 1;
    }
    while i < b.len() {
        let Some(keq) = key_at(b, i) else {
            return Err(ParseError::new(
                codes::CEF_EXTENSION,
                base + i,
                "CEF extension: expected key=value",
            ));
        };
        let key = s[i..keq].to_string();
        let mut j = keq + 1;
        let mut val = String::new();
        let mut seg = j;
        loop {
            match b.get(j) {
                None => {
                    val.push_str(&s[seg..j]);
                    break;
                }
                Some(b'\\') if j + 1 < b.len() => {
                    val.push_str(&s[seg..j]);
                    match b[j + 1] {
                        b'n' => val.push('\n'),
                        b'r' => val.push('\r'),
                        b'=' => val.push('='),
                        b'\\' => val.push('\\'),
                        b'|' => val.push('|'),
                        _ => val.push('\\'),
                    }
                    // Unknown escapes keep the backslash and the next char.
                    j += if matches!(b[j + 1], b'n' | b'r' | b'=' | b'\\' | b'|') {
                        2
                    } else {
                        1
                    };
                    seg = j;
                }
                Some(b' ') if key_at(b, j + 1).is_some() => {
                    val.push_str(&s[seg..j]);
                    j += 1;
                    break;
                }
                Some(_) => j += 1,
            }
        }
        out.push((key, val.trim_end().to_string()));
        i = j;
    }
    Ok(out)
}

fn cef_severity(s: &str) -> Severity {
    match s.trim().parse::<u8>() {
        Ok(0..=3) => Severity::Low,
        Ok(4..=6) => Severity::Medium,
        Ok(7..=8) => Severity::High,
        Ok(9..=10) => Severity::Critical,
        _ => match s.trim().to_ascii_lowercase().as_str() {
            "low" => Severity::Low,
            "medium" => Severity::Medium,
            "high" => Severity::High,
            "very-high" | "very high" | "critical" => Severity::Critical,
            _ => Severity::Unknown,
        },
    }
}

/// Map a device action word to a disposition.
pub(crate) fn disposition(act: &str) -> Option<Disposition> {
    let a = act.to_ascii_lowercase();
    if [
        "allow", "accept", "permit", "pass", "alert", "close", "start", "built",
    ]
    .iter()
    .any(|w| a.starts_with(w))
    {
        Some(Disposition::Allowed)
    } else if [
        "deny",
        "denied",
        "block",
        "reject",
        "refuse",
        "prevent",
        "quarantine",
    ]
    .iter()
    .any(|w| a.contains(w))
    {
        Some(Disposition::Blocked)
    } else if a.contains("drop") || a.contains("discard") {
        Some(Disposition::Dropped)
    } else if a.contains("reset") {
        Some(Disposition::Reset)
    } else {
        None
    }
}

fn looks_like_detection(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    [
        "alert",
        "attack",
        "malware",
        "virus",
        "intrusion",
        "exploit",
        "threat",
        "trojan",
        "ransom",
        "ids",
        "ips",
        "signature",
        "botnet",
        "worm",
    ]
    .iter()
    .any(|w| t.contains(w))
}

/// Key names for common fields, so CEF and LEEF share one mapping.
struct Keys {
    src: &'static [&'static str],
    dst: &'static [&'static str],
    spt: &'static [&'static str],
    dpt: &'static [&'static str],
    suser: &'static [&'static str],
    duser: &'static [&'static str],
    proto: &'static [&'static str],
    act: &'static [&'static str],
    url: &'static [&'static str],
    cat: &'static [&'static str],
}

const CEF_KEYS: Keys = Keys {
    src: &["src", "sourceTranslatedAddress"],
    dst: &["dst", "destinationTranslatedAddress"],
    spt: &["spt"],
    dpt: &["dpt"],
    suser: &["suser"],
    duser: &["duser"],
    proto: &["proto", "app"],
    act: &["act", "outcome"],
    url: &["request"],
    cat: &["cat"],
};

const LEEF_KEYS: Keys = Keys {
    src: &["src", "srcPreNAT"],
    dst: &["dst", "dstPreNAT"],
    spt: &["srcPort"],
    dpt: &["dstPort"],
    suser: &["usrName", "accountName"],
    duser: &["dstUserName"],
    proto: &["proto"],
    act: &["action", "act"],
    url: &["url"],
    cat: &["cat"],
};

fn first<'a>(m: &'a Map<String, Value>, keys: &[&str]) -> Option<&'a str> {
    keys.iter()
        .filter_map(|k| m.get(*k).and_then(Value::as_str))
        .find_map(present)
}

fn gstr<'a>(m: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    m.get(k).and_then(Value::as_str).and_then(present)
}

/// Time from `rt`/`devTime`/`start`: epoch ms, or a date in one of the
/// formats devices use (`MMM dd yyyy HH:mm:ss`, ISO 8601).
fn device_time(v: &str) -> Option<Timestamp> {
    let v = v.trim();
    if let Ok(ms) = v.parse::<i64>() {
        return if ms > 100_000_000_000 {
            Timestamp::from_epoch_millis(ms)
        } else {
            Timestamp::from_epoch_secs(ms)
        };
    }
    if let Ok(t) = Timestamp::parse_iso8601(v, false) {
        return Some(t);
    }
    // `Mar 14 2024 10:00:00` (ArcSight).
    if let Some((t, _)) = syslog::parse_cisco_time(v.as_bytes()) {
        return Some(t);
    }
    None
}

#[allow(clippy::too_many_arguments)]
fn build(
    s: &str,
    format: &str,
    keys: &Keys,
    vendor: &str,
    product: &str,
    sig_id: &str,
    name: Option<&str>,
    severity: Severity,
    fields: Map<String, Value>,
    header: Option<&syslog::SyslogHeader<'_>>,
) -> Event {
    let url = first(&fields, keys.url);
    let act = first(&fields, keys.act);
    let cat = first(&fields, keys.cat);
    let text = format!("{} {} {}", name.unwrap_or(""), cat.unwrap_or(""), sig_id);
    let src_ip = first(&fields, keys.src).and_then(ip);
    let dst_ip = first(&fields, keys.dst).and_then(ip);
    let auth = {
        let t = text.to_ascii_lowercase();
        t.contains("logon") || t.contains("login") || t.contains("authentica")
    };
    let class = if looks_like_detection(&text) {
        EventClass::DetectionFinding
    } else if url.is_some() {
        EventClass::HttpActivity
    } else if auth {
        EventClass::Authentication
    } else if src_ip.is_some() || dst_ip.is_some() {
        EventClass::NetworkActivity
    } else {
        EventClass::BaseEvent
    };
    let activity = match class {
        EventClass::DetectionFinding => Activity::Create,
        EventClass::HttpActivity => Activity::HttpRequest,
        EventClass::Authentication => Activity::Logon,
        EventClass::NetworkActivity => match act.and_then(disposition) {
            Some(Disposition::Blocked | Disposition::Dropped | Disposition::Reset) => {
                Activity::Refuse
            }
            _ => Activity::Traffic,
        },
        _ => Activity::Other,
    };
    let mut ev = Event::new(class, activity, format, s);
    ev.severity = severity;
    ev.type_name = present(sig_id).map(str::to_string);
    ev.message = gstr(&fields, "msg").or(name).map(str::to_string);
    ev.host_mut().product = Some(format!("{vendor} {product}").trim().to_string());
    if let Some(h) = gstr(&fields, "dvchost").or_else(|| gstr(&fields, "deviceHostName")) {
        ev.host_mut().hostname = Some(h.to_string());
    }
    if let Some(a) = gstr(&fields, "dvc").and_then(ip) {
        ev.host_mut().ip = Some(a);
    }
    for k in ["rt", "devTime", "start", "end"] {
        if let Some(t) = gstr(&fields, k).and_then(device_time) {
            ev.time = Some(t);
            break;
        }
    }
    if src_ip.is_some() || first(&fields, keys.spt).is_some() || gstr(&fields, "shost").is_some() {
        let e = ev.src_mut();
        e.ip = src_ip;
        e.port = first(&fields, keys.spt).and_then(port);
        e.hostname = gstr(&fields, "shost").map(str::to_string);
    }
    if dst_ip.is_some() || first(&fields, keys.dpt).is_some() || gstr(&fields, "dhost").is_some() {
        let e = ev.dst_mut();
        e.ip = dst_ip;
        e.port = first(&fields, keys.dpt).and_then(port);
        e.hostname = gstr(&fields, "dhost").map(str::to_string);
    }
    if let Some(u) = first(&fields, keys.duser).or_else(|| first(&fields, keys.suser)) {
        let (d, n) = u.split_once('\\').map_or((None, u), |(d, n)| (Some(d), n));
        let um = ev.user_mut();
        um.name = Some(n.to_string());
        um.domain = d.map(str::to_string);
    }
    if let Some(d) = gstr(&fields, "sntdom").or_else(|| gstr(&fields, "dntdom")) {
        ev.user_mut().domain = Some(d.to_string());
    }
    if let Some(p) = first(&fields, keys.proto) {
        let p = p.to_ascii_lowercase();
        if matches!(p.as_str(), "tcp" | "udp" | "icmp" | "6" | "17" | "1") {
            ev.network_mut().transport = Some(
                match p.as_str() {
                    "6" => "tcp",
                    "17" => "udp",
                    "1" => "icmp",
                    x => x,
                }
                .to_string(),
            );
        } else {
            ev.network_mut().protocol = Some(p);
        }
    }
    if let Some(b) = gstr(&fields, "out").and_then(parse_u64) {
        ev.network_mut().bytes_out = Some(b);
    }
    if let Some(b) = gstr(&fields, "in").and_then(parse_u64) {
        ev.network_mut().bytes_in = Some(b);
    }
    if let Some(r) = gstr(&fields, "cs1")
        .filter(|_| gstr(&fields, "cs1Label").is_some_and(|l| l.eq_ignore_ascii_case("rule")))
        .or_else(|| gstr(&fields, "policy"))
    {
        ev.network_mut().rule = Some(r.to_string());
    }
    if let Some(a) = act {
        ev.disposition = disposition(a);
        if let Some(d) = ev.disposition {
            ev.outcome = Some(if d == Disposition::Allowed {
                Outcome::Success
            } else {
                Outcome::Failure
            });
        }
    }
    if let Some(o) = gstr(&fields, "outcome") {
        let o = o.to_ascii_lowercase();
        if o.starts_with("succ") {
            ev.outcome = Some(Outcome::Success);
        } else if o.starts_with("fail") {
            ev.outcome = Some(Outcome::Failure);
        }
    }
    if let Some(u) = url {
        ev.url = Some(Url::parse(
            u,
            ev.dst.as_ref().and_then(|d| d.hostname.as_deref()),
        ));
        if let Some(m) = gstr(&fields, "requestMethod") {
            ev.http_mut().method = Some(m.to_string());
        }
        if let Some(ua) = gstr(&fields, "requestClientApplication") {
            ev.http_mut().user_agent = Some(ua.to_string());
        }
    }
    let fpath = gstr(&fields, "filePath");
    let fname = gstr(&fields, "fname");
    let fhash = gstr(&fields, "fileHash").and_then(FileHash::from_hex);
    if fpath.is_some() || fname.is_some() || fhash.is_some() {
        ev.file = Some(File {
            path: fpath.map(str::to_string),
            name: fname.or(fpath.map(basename)).map(str::to_string),
            size: gstr(&fields, "fsize").and_then(parse_u64),
            hashes: fhash.into_iter().collect(),
        });
    }
    if let Some(p) = gstr(&fields, "sproc").or_else(|| gstr(&fields, "dproc")) {
        ev.process_mut().name = Some(basename(p).to_string());
        ev.process_mut().path = Some(p.to_string());
        ev.process_mut().pid = gstr(&fields, "spid")
            .or_else(|| gstr(&fields, "dpid"))
            .and_then(parse_u64);
    }
    if class == EventClass::DetectionFinding {
        ev.finding = Some(Finding {
            title: name.unwrap_or(sig_id).to_string(),
            uid: present(sig_id).map(str::to_string),
            category: cat.map(str::to_string),
        });
    }
    for k in ["suser", "duser", "usrName"] {
        if let Some(u) = gstr(&fields, k) {
            ev.observables.add_user(u);
        }
    }
    ev.original.fields = Some(fields);
    if let Some(h) = header {
        syslog::apply_header(&mut ev, h);
    }
    ev.collect_observables();
    ev
}

/// Parse a CEF record (optionally after a syslog header).
pub fn parse_cef(s: &str, opts: &Options) -> ParseResult {
    let Some((header, at)) = locate(s, "CEF:", opts) else {
        return Err(ParseError::new(codes::CEF_HEADER, 0, "no 'CEF:' prefix"));
    };
    let body = &s[at + 4..];
    let (h, used) = split_header(body, at + 4, 7).map_err(|off| {
        ParseError::new(
            codes::CEF_HEADER,
            off,
            "CEF header needs 7 '|'-separated fields (version|vendor|product|version|id|name|severity|)",
        )
    })?;
    if h[0].trim().parse::<u8>().is_err() {
        return Err(ParseError::new(
            codes::CEF_HEADER,
            at + 4,
            "CEF version must be a number",
        ));
    }
    let ext = parse_extension(&body[used..], at + 4 + used)?;
    let mut fields = Map::new();
    for (k, name) in [
        ("cefVersion", 0),
        ("deviceVendor", 1),
        ("deviceProduct", 2),
        ("deviceVersion", 3),
        ("deviceEventClassId", 4),
        ("name", 5),
        ("severity", 6),
    ] {
        fields.insert(k.into(), Value::String(h[name].clone()));
    }
    // Custom string labels become extra keys (`cs1Label=Rule cs1=x` → `Rule: x`)
    // so a reader sees the meaning; the numbered keys stay for Sigma.
    let labels: Vec<(String, String)> = ext
        .iter()
        .filter_map(|(k, v)| {
            k.strip_suffix("Label")
                .map(|base| (base.to_string(), v.clone()))
        })
        .collect();
    for (k, v) in ext {
        fields.insert(k, Value::String(v));
    }
    for (base, label) in labels {
        if let Some(v) = fields.get(&base).cloned() {
            fields.entry(label).or_insert(v);
        }
    }
    Ok(build(
        s,
        "cef",
        &CEF_KEYS,
        &h[1],
        &h[2],
        &h[4],
        present(&h[5]),
        cef_severity(&h[6]),
        fields,
        header.as_ref(),
    ))
}

/// Parse a LEEF 1.0 / 2.0 record (optionally after a syslog header).
pub fn parse_leef(s: &str, opts: &Options) -> ParseResult {
    let Some((header, at)) = locate(s, "LEEF:", opts) else {
        return Err(ParseError::new(codes::LEEF_HEADER, 0, "no 'LEEF:' prefix"));
    };
    let body = &s[at + 5..];
    let err = |off: usize, what: &str| ParseError::new(codes::LEEF_HEADER, off, what.to_string());
    let (h, mut used) = split_header(body, at + 5, 5).map_err(|off| {
        err(
            off,
            "LEEF header needs version|vendor|product|version|eventID|",
        )
    })?;
    let version = h[0].trim();
    let delim: String = if version.starts_with('2') {
        // LEEF 2.0 names the attribute delimiter: one character, or hex `x09`/`0x09`.
        let rest = &body[used..];
        let end = rest
            .find('|')
            .ok_or_else(|| err(at + 5 + used, "LEEF 2.0 delimiter field"))?;
        let d = &rest[..end];
        used += end + 1;
        let hex = d.strip_prefix("0x").or_else(|| d.strip_prefix('x'));
        match hex {
            Some(hx) if !hx.is_empty() => u8::from_str_radix(hx, 16)
                .map(|c| char::from(c).to_string())
                .map_err(|_| err(at + 5 + used, "LEEF 2.0 hex delimiter"))?,
            _ if d.is_empty() => "\t".to_string(),
            _ => d.to_string(),
        }
    } else if version.starts_with('1') {
        "\t".to_string()
    } else {
        return Err(err(at + 5, "LEEF version must be 1.0 or 2.0"));
    };
    let attrs = &body[used..];
    let mut fields = Map::new();
    fields.insert("leefVersion".into(), Value::String(h[0].clone()));
    fields.insert("vendor".into(), Value::String(h[1].clone()));
    fields.insert("product".into(), Value::String(h[2].clone()));
    fields.insert("version".into(), Value::String(h[3].clone()));
    fields.insert("eventId".into(), Value::String(h[4].clone()));
    // Some senders replace the tab by spaces in transit: fall back to
    // CEF-style `key=value` scanning when no delimiter occurs.
    if attrs.contains(delim.as_str()) || !attrs.contains(' ') {
        for part in attrs.split(delim.as_str()) {
            if let Some((k, v)) = part.split_once('=') {
                fields.insert(k.trim().to_string(), Value::String(v.to_string()));
            }
        }
    } else {
        for (k, v) in parse_extension(attrs, at + 5 + used)? {
            fields.insert(k, Value::String(v));
        }
    }
    let sev = gstr(&fields, "sev").map_or(Severity::Unknown, cef_severity);
    let name = gstr(&fields, "msg")
        .or_else(|| gstr(&fields, "cat"))
        .map(str::to_string);
    let (vendor, product, id) = (h[1].clone(), h[2].clone(), h[4].clone());
    Ok(build(
        s,
        "leef",
        &LEEF_KEYS,
        &vendor,
        &product,
        &id,
        name.as_deref(),
        sev,
        fields,
        header.as_ref(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cef_spec_example() {
        let s = r"CEF:0|security|threatmanager|1.0|100|worm successfully stopped|10|src=10.0.0.1 dst=2.1.2.2 spt=1232";
        let ev = parse_cef(s, &Options::default()).unwrap();
        assert_eq!(ev.class, EventClass::DetectionFinding);
        assert_eq!(ev.severity, Severity::Critical);
        assert_eq!(ev.src.as_ref().unwrap().port, Some(1232));
        assert_eq!(ev.dst.as_ref().unwrap().ip, "2.1.2.2".parse().ok());
    }

    #[test]
    fn cef_escapes() {
        let s = r"CEF:0|a\|b|p|1|sig|n|3|msg=x\=y two words cs1Label=Rule cs1=r 1 fname=c:\\x.exe";
        let ev = parse_cef(s, &Options::default()).unwrap();
        let f = ev.original.fields.as_ref().unwrap();
        assert_eq!(f["deviceVendor"], "a|b");
        assert_eq!(f["msg"], "x=y two words");
        assert_eq!(f["Rule"], "r 1");
        assert_eq!(f["fname"], r"c:\x.exe");
    }

    #[test]
    fn cef_errors() {
        let e = parse_cef("CEF:0|a|b|c", &Options::default()).unwrap_err();
        assert_eq!(e.code, codes::CEF_HEADER);
        let e = parse_cef("CEF:0|a|b|c|d|e|1| =x", &Options::default()).unwrap_err();
        assert_eq!(e.code, codes::CEF_EXTENSION);
        assert_eq!(e.offset, 19);
    }

    #[test]
    fn leef_versions() {
        let s = "LEEF:1.0|Microsoft|MSExchange|4.0 SP1|15345|src=192.0.2.0\tdst=172.50.123.1\tsev=5\tcat=anomaly\tmsg=this is a message";
        let ev = parse_leef(s, &Options::default()).unwrap();
        assert_eq!(ev.dst.as_ref().unwrap().ip, "172.50.123.1".parse().ok());
        let s = "LEEF:2.0|Lancope|StealthWatch|1.0|41|^|src=10.0.1.8^dst=10.0.0.5^sev=5^srcPort=81^dstPort=21^usrName=joe";
        let ev = parse_leef(s, &Options::default()).unwrap();
        assert_eq!(ev.src.as_ref().unwrap().port, Some(81));
        assert_eq!(ev.user.as_ref().unwrap().name.as_deref(), Some("joe"));
        let s = "LEEF:2.0|V|P|1|E|x09|src=10.0.1.8\tdst=10.0.0.5";
        assert!(parse_leef(s, &Options::default()).unwrap().src.is_some());
    }
}
