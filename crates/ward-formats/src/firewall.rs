//! Firewall syslog: Cisco ASA/FTD, Fortinet FortiGate, Palo Alto PAN-OS
//! (CSV TRAFFIC/THREAT) and Linux netfilter (iptables `LOG`, nftables `log`).
//!
//! Each parser accepts the record with or without its syslog header; the
//! header's host and time fill in what the payload lacks.

use std::net::IpAddr;

use serde_json::{Map, Value};
use ward_event::{
    Activity, Disposition, Endpoint, Event, EventClass, File, FileHash, Finding, Outcome, Severity,
    Timestamp, Url,
};

use crate::cef::disposition;
use crate::util::{has_eq, ip, kv_map, kv_pairs, parse_u64, port, present};
use crate::{codes, syslog, Options, ParseError, ParseResult};

fn transport(p: &str) -> Option<String> {
    Some(
        match p.to_ascii_lowercase().as_str() {
            "6" | "tcp" => "tcp",
            "17" | "udp" => "udp",
            "1" | "icmp" => "icmp",
            "58" | "icmpv6" | "ipv6-icmp" => "icmpv6",
            "47" | "gre" => "gre",
            "50" | "esp" => "esp",
            _ => return None,
        }
        .to_string(),
    )
}

fn finish(
    mut ev: Event,
    fields: Map<String, Value>,
    h: Option<&syslog::SyslogHeader<'_>>,
) -> Event {
    ev.original.fields = Some(fields);
    if let Some(h) = h {
        syslog::apply_header(&mut ev, h);
    }
    ev.collect_observables();
    ev
}

fn outcome_of(d: Option<Disposition>) -> Option<Outcome> {
    d.map(|d| {
        if d == Disposition::Allowed {
            Outcome::Success
        } else {
            Outcome::Failure
        }
    })
}

// ---------------------------------------------------------------- Cisco ASA

/// `[iface:]ip/port` or `iface/ip(port)` → (iface, ip, port).
fn asa_addr(tok: &str) -> Option<(Option<&str>, IpAddr, Option<u16>)> {
    let tok = tok.trim_matches(|c| c == ',' || c == '(' || c == ')' || c == ' ');
    // access-list style `inside/10.0.0.5(445)`
    if let Some(open) = tok.find('(') {
        let (left, p) = tok.split_at(open);
        let p = p.trim_matches(|c| c == '(' || c == ')');
        let (iface, addr) = left
            .rsplit_once('/')
            .map_or((None, left), |(i, a)| (Some(i), a));
        return Some((iface, ip(addr)?, port(p)));
    }
    // `outside:198.51.100.5/4455` (IPv6 addresses contain ':' too: the
    // interface is the part before the first ':' only if the rest parses).
    let (iface, rest) = match tok.split_once(':') {
        Some((i, r)) if ip(r.split('/').next().unwrap_or(r)).is_some() => (Some(i), r),
        _ => (None, tok),
    };
    let (addr, p) = rest
        .rsplit_once('/')
        .map_or((rest, None), |(a, p)| (a, port(p)));
    Some((iface, ip(addr)?, p))
}

fn set_ep(ep: &mut Endpoint, a: (Option<&str>, IpAddr, Option<u16>)) {
    ep.interface = a.0.map(str::to_string);
    ep.ip = Some(a.1);
    ep.port = a.2;
}

/// Word after `key` in `msg` (e.g. `from X`).
fn after<'a>(msg: &'a str, key: &str) -> Option<&'a str> {
    let i = msg.find(key)? + key.len();
    msg[i..].split_whitespace().next()
}

/// `key = value` inside ASA's ` : `-separated AAA messages.
fn colon_field<'a>(msg: &'a str, key: &str) -> Option<&'a str> {
    msg.split(" : ")
        .filter_map(|p| p.split_once(" = "))
        .find(|(k, _)| k.trim() == key)
        .map(|(_, v)| v.trim())
}

/// Parse a Cisco ASA / FTD message (`%ASA-6-302013: …`).
pub fn parse_asa(s: &str, opts: &Options) -> ParseResult {
    let at = s
        .find("%ASA-")
        .or_else(|| s.find("%FTD-"))
        .ok_or_else(|| ParseError::new(codes::ASA, 0, "no %ASA- or %FTD- message tag"))?;
    let header = (at > 0)
        .then(|| syslog::strip_header(&s[..at], opts.reference_time()).1)
        .flatten();
    let tag_end = s[at..]
        .find(": ")
        .map(|i| at + i)
        .or_else(|| s[at..].find(':').map(|i| at + i))
        .ok_or_else(|| ParseError::new(codes::ASA, at, "message tag must end with ':'"))?;
    let tag = &s[at + 1..tag_end]; // ASA-6-302013
    let mut parts = tag.splitn(3, '-');
    let (_, sev, id) = (parts.next(), parts.next(), parts.next());
    let sev: u8 = sev
        .and_then(|v| v.parse().ok())
        .filter(|v| *v <= 7)
        .ok_or_else(|| ParseError::new(codes::ASA, at + 5, "severity digit 0-7 after %ASA-"))?;
    let id = id
        .filter(|i| i.len() == 6 && i.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| ParseError::new(codes::ASA, at + 7, "six-digit message id"))?;
    let msg = s[tag_end + 1..].trim_start();
    let mut ev = Event::new(EventClass::BaseEvent, Activity::Other, "cisco.asa", s);
    ev.severity = Severity::from_syslog(sev);
    ev.type_name = Some(id.to_string());
    ev.message = Some(msg.to_string());
    ev.host_mut().product = Some("Cisco ASA".into());
    let mut fields = Map::new();
    fields.insert("message_id".into(), Value::from(id));
    fields.insert("severity".into(), Value::from(sev));
    fields.insert("message".into(), Value::from(msg));
    let words: Vec<&str> = msg.split_whitespace().collect();
    let proto_word = |i: usize| words.get(i).and_then(|w| transport(w));
    match id {
        // Built / Teardown connection.
        "302013" | "302014" | "302015" | "302016" | "302020" | "302021" => {
            ev.class = EventClass::NetworkActivity;
            let built = msg.starts_with("Built");
            ev.activity = if built {
                Activity::Open
            } else {
                Activity::Close
            };
            ev.disposition = Some(Disposition::Allowed);
            let inbound = !msg.contains(" outbound ");
            let a = after(msg, " for ").and_then(asa_addr);
            let b = after(msg, " to ").and_then(asa_addr);
            let (src, dst) = if built && !inbound { (b, a) } else { (a, b) };
            if let Some(x) = src {
                set_ep(ev.src_mut(), x);
            }
            if let Some(x) = dst {
                set_ep(ev.dst_mut(), x);
            }
            let pi = if built { 2 } else { 1 };
            ev.network_mut().transport = proto_word(pi);
            ev.network_mut().flow_id = words
                .iter()
                .position(|w| *w == "connection")
                .and_then(|i| words.get(i + 1))
                .map(|w| w.to_string());
            if let Some(bytes) = after(msg, " bytes ").and_then(parse_u64) {
                ev.network_mut().bytes_out = Some(bytes);
            }
        }
        // Deny tcp src outside:1.2.3.4/4455 dst inside:10.0.0.5/445 by access-group "X"
        "106023" => {
            ev.class = EventClass::NetworkActivity;
            ev.activity = Activity::Refuse;
            ev.disposition = Some(Disposition::Blocked);
            ev.network_mut().transport = proto_word(1);
            if let Some(x) = after(msg, " src ").and_then(asa_addr) {
                set_ep(ev.src_mut(), x);
            }
            if let Some(x) = after(msg, " dst ").and_then(asa_addr) {
                set_ep(ev.dst_mut(), x);
            }
            ev.network_mut().rule =
                after(msg, "access-group ").map(|r| r.trim_matches('"').to_string());
        }
        // access-list NAME permitted|denied tcp in/1.2.3.4(1) -> out/5.6.7.8(2)
        "106100" => {
            ev.class = EventClass::NetworkActivity;
            let act = words.get(2).copied().unwrap_or("");
            ev.disposition = disposition(act);
            ev.activity = if ev.disposition == Some(Disposition::Allowed) {
                Activity::Open
            } else {
                Activity::Refuse
            };
            ev.network_mut().rule = words.get(1).map(|r| r.to_string());
            ev.network_mut().transport = proto_word(3);
            if let Some(x) = words.get(4).and_then(|w| asa_addr(w)) {
                set_ep(ev.src_mut(), x);
            }
            if let Some(x) = words.get(6).and_then(|w| asa_addr(w)) {
                set_ep(ev.dst_mut(), x);
            }
        }
        // Inbound TCP connection denied from A/p to B/p flags … on interface X
        // Deny inbound UDP from A/p to B/p due to DNS Query / on interface X
        // Deny TCP (no connection) from A/p to B/p flags … on interface X
        "106001" | "106006" | "106007" | "106014" | "106015" | "106021" | "710003" => {
            ev.class = EventClass::NetworkActivity;
            ev.activity = Activity::Refuse;
            ev.disposition = Some(Disposition::Blocked);
            ev.network_mut().transport = words.iter().take(3).find_map(|w| transport(w));
            if let Some(x) = after(msg, " from ").and_then(asa_addr) {
                set_ep(ev.src_mut(), x);
            }
            if let Some(x) = after(msg, " to ").and_then(asa_addr) {
                set_ep(ev.dst_mut(), x);
            }
            if let Some(i) = after(msg, "on interface ") {
                ev.src_mut().interface = Some(i.to_string());
            }
        }
        // AAA user authentication Successful/Rejected : … : user = X : user IP = Y
        "113004" | "113005" | "113012" | "113015" | "611101" | "611102" => {
            ev.class = EventClass::Authentication;
            ev.activity = Activity::Logon;
            let ok = msg.contains("Successful") || msg.contains("succeeded");
            ev.outcome = Some(if ok {
                Outcome::Success
            } else {
                Outcome::Failure
            });
            if let Some(u) = colon_field(msg, "user").or_else(|| colon_field(msg, "Username")) {
                ev.user_mut().name = Some(u.to_string());
            }
            if let Some(a) = colon_field(msg, "user IP").and_then(ip) {
                ev.src = Some(Endpoint::ip(a));
            }
            if let Some(a) = colon_field(msg, "server").and_then(ip) {
                ev.dst = Some(Endpoint::ip(a));
            }
        }
        // Login permitted|denied from A/p to iface:B/service for user "X"
        "605004" | "605005" => {
            ev.class = EventClass::Authentication;
            ev.activity = Activity::Logon;
            ev.outcome = Some(if id == "605005" {
                Outcome::Success
            } else {
                Outcome::Failure
            });
            if let Some(x) = after(msg, " from ").and_then(asa_addr) {
                set_ep(ev.src_mut(), x);
            }
            if let Some(t) = after(msg, " to ") {
                if let Some((iface, rest)) = t.split_once(':') {
                    let (addr, svc) = rest.split_once('/').unwrap_or((rest, ""));
                    if let Some(a) = ip(addr) {
                        let d = ev.dst_mut();
                        d.ip = Some(a);
                        d.interface = Some(iface.to_string());
                    }
                    ev.network_mut().protocol = present(svc).map(str::to_string);
                }
            }
            if let Some(u) = msg.split("for user ").nth(1) {
                ev.user_mut().name = Some(u.trim().trim_matches('"').to_string());
            }
        }
        // Shun added / threat detection / IPS.
        "401004" | "733100" | "733101" | "400013" | "400032" | "338001" | "338002" | "338003"
        | "338004" => {
            ev.class = EventClass::DetectionFinding;
            ev.activity = Activity::Create;
            ev.finding = Some(Finding {
                title: msg.to_string(),
                uid: Some(id.to_string()),
                category: Some("threat-detection".into()),
            });
            let addrs: Vec<IpAddr> = msg
                .split(|c: char| c.is_whitespace() || c == ',' || c == '(' || c == ')')
                .filter_map(|w| asa_addr(w).map(|x| x.1))
                .collect();
            if let Some(a) = addrs.first() {
                ev.src = Some(Endpoint::ip(*a));
            }
            if let Some(a) = addrs.get(1) {
                ev.dst = Some(Endpoint::ip(*a));
            }
        }
        _ => {
            // Unknown ids still yield every address as an observable.
            for w in msg.split(|c: char| c.is_whitespace() || c == ',' || c == '(' || c == ')') {
                if let Some((_, a, _)) = asa_addr(w) {
                    ev.observables.add_ip(a);
                }
            }
        }
    }
    if ev.outcome.is_none() {
        ev.outcome = outcome_of(ev.disposition);
    }
    Ok(finish(ev, fields, header.as_ref()))
}

// ------------------------------------------------------------- FortiGate

fn forti_time(f: &Map<String, Value>) -> Option<Timestamp> {
    let g = |k: &str| f.get(k).and_then(Value::as_str);
    if let (Some(d), Some(t)) = (g("date"), g("time")) {
        let tz = g("tz").unwrap_or("Z");
        let tz = if tz.starts_with(['+', '-']) { tz } else { "Z" };
        if let Ok(ts) = Timestamp::parse_iso8601(&format!("{d}T{t}{tz}"), false) {
            return Some(ts);
        }
    }
    // eventtime: seconds, micro- or nanoseconds depending on firmware.
    let e: i64 = g("eventtime")?.parse().ok()?;
    Some(Timestamp(match e {
        e if e > 1_000_000_000_000_000_000 / 10 => e,
        e if e > 1_000_000_000_000_000 / 10 => e * 1000,
        e if e > 1_000_000_000_000 / 10 => e * 1_000_000,
        e => e * 1_000_000_000,
    }))
}

/// Parse a FortiGate key=value log record.
pub fn parse_fortigate(s: &str, opts: &Options) -> ParseResult {
    let (_, header) = syslog::strip_header(s, opts.reference_time());
    let body_at = header.as_ref().map_or(0, |h| h.msg_offset);
    let body = &s[body_at..];
    let pairs = kv_pairs(body);
    let f = kv_map(pairs.iter().filter(|p| has_eq(body, p)).map(|p| (p.0, p.1)));
    let g = |k: &str| f.get(k).and_then(Value::as_str).and_then(present);
    if g("logid").is_none() || g("type").is_none() {
        return Err(ParseError::new(
            codes::FORTIGATE,
            body_at,
            "FortiGate record needs logid= and type=",
        ));
    }
    let ty = g("type").unwrap_or("");
    let subtype = g("subtype").unwrap_or("");
    let action = g("action");
    let (class, activity) = match (ty, subtype) {
        ("traffic", _) => (EventClass::NetworkActivity, Activity::Traffic),
        ("utm", "webfilter") => (EventClass::HttpActivity, Activity::HttpRequest),
        ("utm", _) | ("anomaly", _) | ("ips", _) | ("virus", _) => {
            (EventClass::DetectionFinding, Activity::Create)
        }
        ("event", "user") | ("event", "vpn") if g("user").is_some() => {
            (EventClass::Authentication, Activity::Logon)
        }
        ("event", "system") if action.is_some_and(|a| a.contains("login")) => {
            (EventClass::Authentication, Activity::Logon)
        }
        _ => (EventClass::BaseEvent, Activity::Other),
    };
    let mut ev = Event::new(class, activity, "fortinet.fortigate", s);
    ev.time = forti_time(&f);
    ev.type_name = g("logid").map(str::to_string);
    ev.host_mut().hostname = g("devname").map(str::to_string);
    ev.host_mut().product = Some("FortiGate".into());
    ev.severity = match g("level") {
        Some("emergency") => Severity::Fatal,
        Some("alert") | Some("critical") => Severity::Critical,
        Some("error") => Severity::High,
        Some("warning") => Severity::Medium,
        Some("notice") => Severity::Low,
        _ => Severity::Informational,
    };
    ev.message = g("msg").or(g("logdesc")).map(str::to_string);
    if let Some(a) = g("srcip").and_then(ip) {
        let e = ev.src_mut();
        e.ip = Some(a);
        e.port = g("srcport").and_then(port);
        e.interface = g("srcintf").map(str::to_string);
        e.nat_ip = g("transip").and_then(ip);
        e.nat_port = g("transport").and_then(port);
        e.hostname = g("srcname").map(str::to_string);
    }
    if let Some(a) = g("dstip").and_then(ip) {
        let e = ev.dst_mut();
        e.ip = Some(a);
        e.port = g("dstport").and_then(port);
        e.interface = g("dstintf").map(str::to_string);
        e.hostname = g("hostname").map(str::to_string);
    }
    {
        let n = ev.network_mut();
        n.transport = g("proto").and_then(transport);
        n.protocol = g("service").map(str::to_ascii_lowercase);
        n.bytes_out = g("sentbyte").and_then(parse_u64);
        n.bytes_in = g("rcvdbyte").and_then(parse_u64);
        n.packets = match (
            g("sentpkt").and_then(parse_u64),
            g("rcvdpkt").and_then(parse_u64),
        ) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
        };
        n.flow_id = g("sessionid").map(str::to_string);
        n.rule = g("policyname").or(g("policyid")).map(str::to_string);
    }
    if let Some(a) = action {
        ev.disposition = match a {
            "accept" | "close" | "timeout" | "passthrough" | "start" | "client-rst"
            | "server-rst" => Some(Disposition::Allowed),
            "deny" | "blocked" | "block" => Some(Disposition::Blocked),
            "dropped" | "drop" => Some(Disposition::Dropped),
            "detected" | "monitored" | "pass_session" => Some(Disposition::Detected),
            other => disposition(other),
        };
        if class == EventClass::NetworkActivity
            && matches!(
                ev.disposition,
                Some(Disposition::Blocked | Disposition::Dropped)
            )
        {
            ev.activity = Activity::Refuse;
        }
    }
    ev.outcome = match g("status") {
        Some("success") => Some(Outcome::Success),
        Some("failed") | Some("failure") => Some(Outcome::Failure),
        _ => outcome_of(ev.disposition),
    };
    if let Some(u) = g("user").or(g("unauthuser")).or(g("srcuser")) {
        ev.user_mut().name = Some(u.to_string());
    }
    if let Some(u) = g("url") {
        let full = match g("hostname") {
            Some(h) if u.starts_with('/') => format!("http://{h}{u}"),
            _ => u.to_string(),
        };
        ev.url = Some(Url::parse(&full, g("hostname")));
    }
    if class == EventClass::DetectionFinding {
        let title = g("attack")
            .or(g("virus"))
            .or(g("msg"))
            .unwrap_or(subtype)
            .to_string();
        ev.finding = Some(Finding {
            title,
            uid: g("attackid").or(g("virusid")).map(str::to_string),
            category: Some(subtype.to_string()).filter(|s| !s.is_empty()),
        });
        if let Some(sev) = g("crlevel").or(g("severity")) {
            ev.severity = match sev {
                "critical" => Severity::Critical,
                "high" => Severity::High,
                "medium" => Severity::Medium,
                "low" => Severity::Low,
                _ => ev.severity,
            };
        }
    }
    if let Some(fname) = g("filename") {
        ev.file = Some(File {
            name: Some(fname.to_string()),
            path: Some(fname.to_string()),
            size: g("filesize").and_then(parse_u64),
            hashes: g("analyticscksum")
                .and_then(FileHash::from_hex)
                .into_iter()
                .collect(),
        });
    }
    Ok(finish(ev, f, header.as_ref()))
}

// ------------------------------------------------------------- Palo Alto

/// Split a CSV line honouring `"…"` quoting with `""` escapes.
fn csv_split(s: &str) -> Vec<String> {
    let mut out = Vec::with_capacity(64);
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// True when `body` looks like a PAN-OS CSV log record.
pub fn looks_like_panos(body: &str) -> bool {
    let mut it = body.splitn(6, ',');
    let (Some(_), Some(recv), Some(_serial), Some(ty)) =
        (it.next(), it.next(), it.next(), it.next())
    else {
        return false;
    };
    recv.len() == 19
        && recv.as_bytes().get(4) == Some(&b'/')
        && matches!(
            ty,
            "TRAFFIC"
                | "THREAT"
                | "SYSTEM"
                | "CONFIG"
                | "GLOBALPROTECT"
                | "USERID"
                | "AUTHENTICATION"
        )
}

fn pan_time(v: &str) -> Option<Timestamp> {
    // `2024/05/01 10:00:00`, firewall local time without zone: read as UTC.
    let iso = v.replacen('/', "-", 2);
    Timestamp::parse_iso8601(&iso, false).ok()
}

/// Parse a PAN-OS TRAFFIC or THREAT CSV record.
pub fn parse_panos(s: &str, opts: &Options) -> ParseResult {
    let (_, header) = syslog::strip_header(s, opts.reference_time());
    let mut body_at = header.as_ref().map_or(0, |h| h.msg_offset);
    if !looks_like_panos(&s[body_at..]) {
        // Some forwarders put the CSV after a token the header parser did
        // not eat; find the `1,yyyy/` start instead.
        body_at = s
            .find("1,20")
            .filter(|i| looks_like_panos(&s[*i..]))
            .ok_or_else(|| {
                ParseError::new(
                    codes::PANOS,
                    body_at,
                    "not a PAN-OS CSV record (FUTURE_USE,receive time,serial,type,…)",
                )
            })?;
    }
    let c = csv_split(&s[body_at..]);
    let g = |i: usize| c.get(i).map(String::as_str).and_then(present);
    let ty = g(3).unwrap_or("");
    if !matches!(ty, "TRAFFIC" | "THREAT") {
        return Err(ParseError::new(
            codes::PANOS,
            body_at,
            format!("PAN-OS log type {ty} is not TRAFFIC or THREAT"),
        ));
    }
    if c.len() < 31 {
        return Err(ParseError::new(
            codes::PANOS,
            s.len(),
            format!(
                "PAN-OS {ty} record has {} fields, needs at least 31",
                c.len()
            ),
        ));
    }
    const NAMES: [&str; 31] = [
        "future_use1",
        "receive_time",
        "serial",
        "type",
        "subtype",
        "future_use2",
        "generated_time",
        "src",
        "dst",
        "natsrc",
        "natdst",
        "rule",
        "srcuser",
        "dstuser",
        "app",
        "vsys",
        "from",
        "to",
        "inbound_if",
        "outbound_if",
        "logset",
        "future_use3",
        "sessionid",
        "repeatcnt",
        "sport",
        "dport",
        "natsport",
        "natdport",
        "flags",
        "proto",
        "action",
    ];
    let mut f = Map::new();
    for (i, n) in NAMES.iter().enumerate() {
        f.insert((*n).into(), Value::from(c[i].as_str()));
    }
    let threat = ty == "THREAT";
    let extra: &[&str] = if threat {
        &["misc", "threatid", "category", "severity", "direction"]
    } else {
        &[
            "bytes",
            "bytes_sent",
            "bytes_received",
            "packets",
            "start",
            "elapsed",
            "category",
        ]
    };
    for (k, n) in extra.iter().enumerate() {
        if let Some(v) = c.get(31 + k) {
            f.insert((*n).into(), Value::from(v.as_str()));
        }
    }
    let action = g(30).unwrap_or("");
    let disp = match action {
        "allow" | "alert" => Some(if threat {
            Disposition::Detected
        } else {
            Disposition::Allowed
        }),
        "deny" | "reset-client" | "reset-server" | "reset-both" | "block-url" | "block-ip"
        | "sinkhole" | "block" => Some(Disposition::Blocked),
        "drop" | "drop-icmp" | "drop-all-packets" => Some(Disposition::Dropped),
        other => disposition(other),
    };
    let (class, activity) = if threat {
        (EventClass::DetectionFinding, Activity::Create)
    } else if matches!(disp, Some(Disposition::Blocked | Disposition::Dropped)) {
        (EventClass::NetworkActivity, Activity::Refuse)
    } else {
        (
            EventClass::NetworkActivity,
            match g(4) {
                Some("start") => Activity::Open,
                Some("end") => Activity::Close,
                _ => Activity::Traffic,
            },
        )
    };
    let mut ev = Event::new(class, activity, "paloalto.panos", s);
    ev.time = g(6).or(g(1)).and_then(pan_time);
    ev.type_name = Some(format!("{ty}/{}", g(4).unwrap_or("")));
    ev.host_mut().product = Some("PAN-OS".into());
    ev.disposition = disp;
    ev.outcome = outcome_of(disp);
    ev.severity = Severity::Informational;
    if let Some(a) = g(7).and_then(ip) {
        let e = ev.src_mut();
        e.ip = Some(a);
        e.port = g(24).and_then(port);
        e.interface = g(16).map(str::to_string);
        e.nat_ip = g(9).and_then(ip).filter(|x| !x.is_unspecified());
        e.nat_port = g(26).and_then(port);
    }
    if let Some(a) = g(8).and_then(ip) {
        let e = ev.dst_mut();
        e.ip = Some(a);
        e.port = g(25).and_then(port);
        e.interface = g(17).map(str::to_string);
        e.nat_ip = g(10).and_then(ip).filter(|x| !x.is_unspecified());
        e.nat_port = g(27).and_then(port);
    }
    if let Some(u) = g(12).or(g(13)) {
        let (d, n) = u.split_once('\\').map_or((None, u), |(d, n)| (Some(d), n));
        let um = ev.user_mut();
        um.name = Some(n.to_string());
        um.domain = d.map(str::to_string);
    }
    {
        let n = ev.network_mut();
        n.transport = g(29).and_then(transport);
        n.protocol = g(14).map(str::to_string);
        n.rule = g(11).map(str::to_string);
        n.flow_id = g(22).map(str::to_string);
        if !threat {
            n.bytes_out = g(32).and_then(parse_u64);
            n.bytes_in = g(33).and_then(parse_u64);
            n.packets = g(34).and_then(parse_u64);
        }
    }
    if threat {
        let tid = g(32).unwrap_or("");
        // `Name(12345)` → title `Name`, uid `12345`.
        let (title, uid) = match tid.rsplit_once('(') {
            Some((t, id)) => (t.trim(), Some(id.trim_end_matches(')').to_string())),
            None => (tid, None),
        };
        ev.finding = Some(Finding {
            title: title.to_string(),
            uid,
            category: g(33).map(str::to_string),
        });
        ev.message = present(title).map(str::to_string);
        ev.severity = match g(34) {
            Some("critical") => Severity::Critical,
            Some("high") => Severity::High,
            Some("medium") => Severity::Medium,
            Some("low") => Severity::Low,
            _ => Severity::Informational,
        };
        if let Some(misc) = g(31) {
            match g(4) {
                Some("url") => ev.url = Some(Url::parse(misc, None)),
                Some("file") | Some("virus") | Some("wildfire") => {
                    ev.file = Some(File {
                        name: Some(misc.to_string()),
                        ..File::default()
                    })
                }
                _ => {}
            }
        }
    }
    Ok(finish(ev, f, header.as_ref()))
}

// ------------------------------------------------------------- netfilter

/// Parse a Linux netfilter packet log (iptables `LOG` target, nftables
/// `log`), e.g. `kernel: [ 12.3] DROP-IN: IN=eth0 OUT= SRC=… DST=… PROTO=TCP SPT=… DPT=…`.
pub fn parse_netfilter(s: &str, opts: &Options) -> ParseResult {
    let (_, header) = syslog::strip_header(s, opts.reference_time());
    let body_at = header.as_ref().map_or(0, |h| h.msg_offset);
    let body = &s[body_at..];
    let in_at = body
        .find("IN=")
        .filter(|_| body.contains("SRC=") && body.contains("DST="))
        .ok_or_else(|| ParseError::new(codes::IPTABLES, body_at, "no IN=/SRC=/DST= packet log"))?;
    // The log prefix is whatever the rule put before IN=, after the kernel
    // timestamp (`[12345.678]`).
    let mut prefix = body[..in_at].trim();
    if let Some(close) = prefix.find("] ").filter(|_| prefix.starts_with('[')) {
        prefix = prefix[close + 2..].trim();
    } else if prefix.starts_with('[') && prefix.ends_with(']') {
        prefix = "";
    }
    let prefix = prefix.trim_end_matches(':').trim();
    let pairs = kv_pairs(&body[in_at..]);
    let mut f = Map::new();
    let mut flags = Vec::new();
    let kv_body = &body[in_at..];
    for p in &pairs {
        let (k, v, _) = p;
        if !has_eq(kv_body, p) {
            flags.push(*k);
        } else {
            // Fields repeat for ICMP errors (the quoted packet): keep the first.
            f.entry(k.to_string()).or_insert_with(|| Value::from(*v));
        }
    }
    if !flags.is_empty() {
        f.insert("flags".into(), Value::from(flags.join(" ")));
    }
    if !prefix.is_empty() {
        f.insert("prefix".into(), Value::from(prefix));
    }
    let g = |k: &str| f.get(k).and_then(Value::as_str).and_then(present);
    let up = prefix.to_ascii_uppercase();
    let disp = if ["DROP", "DENY", "BLOCK"].iter().any(|w| up.contains(w)) {
        Some(Disposition::Dropped)
    } else if up.contains("REJECT") {
        Some(Disposition::Blocked)
    } else if ["ACCEPT", "ALLOW", "PERMIT"].iter().any(|w| up.contains(w)) {
        Some(Disposition::Allowed)
    } else {
        None
    };
    let activity = match disp {
        Some(Disposition::Allowed) => Activity::Open,
        Some(_) => Activity::Refuse,
        None => Activity::Traffic,
    };
    let mut ev = Event::new(EventClass::NetworkActivity, activity, "linux.netfilter", s);
    ev.disposition = disp;
    ev.outcome = outcome_of(disp);
    ev.type_name = present(prefix).map(str::to_string);
    ev.severity = Severity::Informational;
    ev.host_mut().product = Some("netfilter".into());
    if let Some(a) = g("SRC").and_then(ip) {
        let e = ev.src_mut();
        e.ip = Some(a);
        e.port = g("SPT").and_then(port);
        e.interface = g("IN").map(str::to_string);
    }
    if let Some(a) = g("DST").and_then(ip) {
        let e = ev.dst_mut();
        e.ip = Some(a);
        e.port = g("DPT").and_then(port);
        e.interface = g("OUT").map(str::to_string);
    }
    ev.network_mut().transport = g("PROTO").and_then(transport);
    ev.network_mut().bytes_out = g("LEN").and_then(parse_u64);
    ev.network_mut().rule = present(prefix).map(str::to_string);
    Ok(finish(ev, f, header.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o() -> Options {
        Options {
            reference_time: Timestamp::parse_iso8601("2024-06-01T00:00:00Z", true).ok(),
        }
    }

    #[test]
    fn asa_built_outbound_swaps_sides() {
        let s = "<166>Mar 14 2024 10:00:00 asa01 : %ASA-6-302013: Built outbound TCP connection 7731 for outside:93.184.216.34/443 (93.184.216.34/443) to inside:10.1.1.20/51514 (203.0.113.5/51514)";
        let ev = parse_asa(s, &o()).unwrap();
        assert_eq!(ev.src.as_ref().unwrap().ip, "10.1.1.20".parse().ok());
        assert_eq!(ev.dst.as_ref().unwrap().port, Some(443));
        assert_eq!(ev.time.unwrap().to_string(), "2024-03-14T10:00:00Z");
        assert_eq!(ev.host.as_ref().unwrap().hostname.as_deref(), Some("asa01"));
        let e = parse_asa("%ASA-9-1: x", &o()).unwrap_err();
        assert_eq!(e.code, codes::ASA);
    }

    #[test]
    fn csv_quotes() {
        assert_eq!(csv_split("a,\"b,c\",\"d\"\"\""), vec!["a", "b,c", "d\""]);
    }

    #[test]
    fn netfilter_prefix() {
        let s = "Jun  1 10:00:00 gw kernel: [81234.567] NFT-DROP IN=eth0 OUT= MAC=00:11 SRC=198.51.100.7 DST=10.0.0.2 LEN=60 PROTO=TCP SPT=40000 DPT=3389 SYN URGP=0";
        let ev = parse_netfilter(s, &o()).unwrap();
        assert_eq!(ev.disposition, Some(Disposition::Dropped));
        assert_eq!(ev.dst.as_ref().unwrap().port, Some(3389));
        let f = ev.original.fields.as_ref().unwrap();
        assert_eq!(f["flags"], "SYN");
        assert_eq!(f["OUT"], "");
    }
}
