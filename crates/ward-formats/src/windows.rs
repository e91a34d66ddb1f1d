//! Windows event logs and Sysmon, from evtx_dump JSON or flattened
//! Winlogbeat / NXLog JSON.
//!
//! Both shapes are first flattened to the field names Sigma rules use
//! (`EventID`, `Channel`, `Computer`, `Provider_Name`, and every `EventData`
//! item at top level, e.g. `Image`, `CommandLine`, `TargetUserName`); that map
//! is kept as [`ward_event::Original::fields`]. The model is then filled from
//! the flat map by event id: Security logons, process creation, account
//! changes, share access, service installs, and every Sysmon event type.

use serde_json::{Map, Value};
use ward_event::{
    Activity, Endpoint, Event, EventClass, File, FileHash, HashAlgorithm, Outcome, Severity,
    Timestamp,
};

use crate::util::{basename, gs, gu, ip, parse_u64, port, present, vstr};
use crate::{codes, ParseError, ParseResult};

const SYSMON_PROVIDER: &str = "Microsoft-Windows-Sysmon";
const SYSMON_CHANNEL: &str = "Microsoft-Windows-Sysmon/Operational";

fn json_object(s: &str) -> Result<Map<String, Value>, ParseError> {
    match serde_json::from_str::<Value>(s) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(ParseError::new(
            codes::WIN_JSON,
            0,
            "expected a JSON object",
        )),
        Err(e) => Err(ParseError::new(
            codes::WIN_JSON,
            line_col_offset(s, e.line(), e.column()),
            format!("invalid JSON: {e}"),
        )),
    }
}

/// Byte offset of a serde_json (line, column) position.
pub(crate) fn line_col_offset(s: &str, line: usize, col: usize) -> usize {
    let mut off = 0;
    for (n, l) in s.split_inclusive('\n').enumerate() {
        if n + 1 == line {
            return (off + col.saturating_sub(1)).min(s.len());
        }
        off += l.len();
    }
    s.len()
}

/// Value of an evtx_dump node that may be `{"#text": v, "#attributes": …}`.
fn text(v: &Value) -> Option<&Value> {
    match v {
        Value::Object(m) => m.get("#text"),
        Value::Null => None,
        other => Some(other),
    }
}

fn attr<'a>(v: Option<&'a Value>, name: &str) -> Option<&'a Value> {
    v?.get("#attributes")?.get(name)
}

/// Insert the children of an EventData/UserData node into `out`.
fn flatten_data(node: &Value, out: &mut Map<String, Value>) {
    let Value::Object(m) = node else { return };
    for (k, v) in m {
        if k == "#attributes" {
            continue;
        }
        match (k.as_str(), v) {
            // `<Data>` without names: a list of values, kept as Data.
            ("Data", Value::Array(_)) | ("#text", _) => {
                out.insert(k.clone(), v.clone());
            }
            // UserData wraps its fields in one named element.
            (_, Value::Object(inner)) if !inner.contains_key("#text") => {
                flatten_data(v, out);
            }
            _ => {
                let val = text(v).cloned().unwrap_or(Value::Null);
                out.insert(k.clone(), val);
            }
        }
    }
}

/// Flatten evtx_dump JSON (`{"Event": {"System": …, "EventData": …}}`).
pub fn flatten_evtx_json(s: &str) -> Result<Map<String, Value>, ParseError> {
    let root = json_object(s)?;
    let ev = root
        .get("Event")
        .ok_or_else(|| ParseError::new(codes::WIN_FIELD, 0, "missing \"Event\" object"))?;
    let sys = ev
        .get("System")
        .ok_or_else(|| ParseError::new(codes::WIN_FIELD, 0, "missing \"Event.System\""))?;
    let mut out = Map::new();
    let eid = sys
        .get("EventID")
        .and_then(text)
        .ok_or_else(|| ParseError::new(codes::WIN_FIELD, 0, "missing \"System.EventID\""))?;
    out.insert("EventID".into(), eid.clone());
    for k in [
        "Version",
        "Level",
        "Task",
        "Opcode",
        "Keywords",
        "EventRecordID",
        "Channel",
        "Computer",
    ] {
        if let Some(v) = sys.get(k).and_then(text) {
            out.insert(k.into(), v.clone());
        }
    }
    if let Some(v) = attr(sys.get("Provider"), "Name") {
        out.insert("Provider_Name".into(), v.clone());
    }
    if let Some(v) = attr(sys.get("TimeCreated"), "SystemTime") {
        out.insert("TimeCreated_SystemTime".into(), v.clone());
    }
    if let Some(v) = attr(sys.get("Security"), "UserID") {
        out.insert("UserID".into(), v.clone());
    }
    if let Some(v) = attr(sys.get("Execution"), "ProcessID") {
        out.insert("ExecutionProcessID".into(), v.clone());
    }
    for k in ["EventData", "UserData"] {
        if let Some(d) = ev.get(k) {
            flatten_data(d, &mut out);
        }
    }
    Ok(out)
}

/// Flatten Winlogbeat (`winlog.*`) or NXLog (already flat) JSON.
pub fn flatten_flat_json(s: &str) -> Result<Map<String, Value>, ParseError> {
    let root = json_object(s)?;
    let mut out = Map::new();
    if let Some(Value::Object(w)) = root.get("winlog") {
        // Winlogbeat 7/8.
        let eid = w
            .get("event_id")
            .or_else(|| root.get("event").and_then(|e| e.get("code")))
            .ok_or_else(|| ParseError::new(codes::WIN_FIELD, 0, "missing winlog.event_id"))?;
        out.insert("EventID".into(), eid.clone());
        for (from, to) in [
            ("channel", "Channel"),
            ("computer_name", "Computer"),
            ("provider_name", "Provider_Name"),
            ("record_id", "EventRecordID"),
            ("task", "Task"),
            ("opcode", "Opcode"),
        ] {
            if let Some(v) = w.get(from) {
                out.insert(to.into(), v.clone());
            }
        }
        if let Some(v) = root.get("@timestamp") {
            out.insert("TimeCreated_SystemTime".into(), v.clone());
        }
        if let Some(v) = w.get("user").and_then(|u| u.get("identifier")) {
            out.insert("UserID".into(), v.clone());
        }
        for k in ["event_data", "user_data"] {
            if let Some(Value::Object(d)) = w.get(k) {
                for (k, v) in d {
                    out.insert(k.clone(), v.clone());
                }
            }
        }
        if let Some(m) = root.get("message") {
            out.entry("Message").or_insert(m.clone());
        }
        return Ok(out);
    }
    // NXLog im_msvistalog + to_json(): flat, with its own names for System.
    let eid = root
        .get("EventID")
        .ok_or_else(|| ParseError::new(codes::WIN_FIELD, 0, "missing \"EventID\""))?;
    out.insert("EventID".into(), eid.clone());
    for (k, v) in &root {
        let name = match k.as_str() {
            "Hostname" => "Computer",
            "SourceName" | "ProviderName" => "Provider_Name",
            "EventTime" => "TimeCreated_SystemTime",
            "RecordNumber" => "EventRecordID",
            "UserID" | "UserSID" => "UserID",
            other => other,
        };
        out.entry(name.to_string()).or_insert_with(|| v.clone());
    }
    Ok(out)
}

/// Parse evtx_dump JSON.
pub fn parse_evtx_json(s: &str) -> ParseResult {
    let flat = flatten_evtx_json(s)?;
    Ok(from_flat(s, "windows.evtx_json", flat))
}

/// Parse flattened Winlogbeat / NXLog JSON.
pub fn parse_flat_json(s: &str) -> ParseResult {
    let flat = flatten_flat_json(s)?;
    Ok(from_flat(s, "windows.flat_json", flat))
}

/// Parse a Sysmon event in either JSON shape; non-Sysmon events are an error.
pub fn parse_sysmon(s: &str) -> ParseResult {
    let flat = if s.contains("\"Event\"") && s.contains("\"System\"") {
        flatten_evtx_json(s)?
    } else {
        flatten_flat_json(s)?
    };
    if !is_sysmon(&flat) {
        return Err(ParseError::new(
            codes::WIN_NOT_SYSMON,
            0,
            "not a Sysmon event (provider/channel is not Microsoft-Windows-Sysmon)",
        ));
    }
    Ok(from_flat(s, "windows.sysmon", flat))
}

fn is_sysmon(f: &Map<String, Value>) -> bool {
    gs(f, "Provider_Name").is_some_and(|p| p == SYSMON_PROVIDER)
        || gs(f, "Channel").is_some_and(|c| c == SYSMON_CHANNEL)
}

/// Parse Sysmon's `Hashes` (`SHA1=…,MD5=…,SHA256=…,IMPHASH=…`) or a bare digest.
fn hashes(v: &str) -> Vec<FileHash> {
    let mut out = Vec::new();
    for part in v.split(',') {
        let (alg, hex) = match part.split_once('=') {
            Some((a, h)) => (Some(a.trim().to_ascii_uppercase()), h),
            None => (None, part),
        };
        let Some(mut h) = FileHash::from_hex(hex) else {
            continue;
        };
        if alg.as_deref() == Some("IMPHASH") {
            h.algorithm = HashAlgorithm::Imphash;
        }
        out.push(h);
    }
    out
}

fn split_user(u: &str) -> (Option<String>, String) {
    match u.split_once('\\') {
        Some((d, n)) => (Some(d.to_string()), n.to_string()),
        None => (None, u.to_string()),
    }
}

fn set_user(ev: &mut Event, f: &Map<String, Value>, name_key: &str, dom_key: &str, sid_key: &str) {
    let Some(name) = gs(f, name_key) else { return };
    // Machine accounts (`HOST$`) and `-` are noise as users, but still the actor.
    let u = ev.user_mut();
    let (d, n) = split_user(&name);
    u.name = Some(n);
    u.domain = gs(f, dom_key).or(d);
    u.uid = gs(f, sid_key);
}

fn from_flat(s: &str, format: &str, f: Map<String, Value>) -> Event {
    let eid = gu(&f, "EventID").unwrap_or(0);
    let sysmon = is_sysmon(&f);
    let channel = gs(&f, "Channel").unwrap_or_default();
    let mut ev = Event::new(EventClass::BaseEvent, Activity::Other, format, s);
    ev.type_name = Some(eid.to_string());
    ev.time = gs(&f, "TimeCreated_SystemTime")
        .and_then(|t| Timestamp::parse_iso8601(&t, false).ok())
        .or_else(|| gs(&f, "UtcTime").and_then(|t| Timestamp::parse_iso8601(&t, false).ok()));
    if let Some(c) = gs(&f, "Computer") {
        ev.host_mut().hostname = Some(c);
    }
    ev.host_mut().product = gs(&f, "Provider_Name");
    ev.severity = match gu(&f, "Level") {
        Some(1) => Severity::Critical,
        Some(2) => Severity::High,
        Some(3) => Severity::Medium,
        _ => Severity::Informational,
    };
    ev.message = gs(&f, "Message");
    if sysmon {
        sysmon_event(&mut ev, eid, &f);
    } else if channel.eq_ignore_ascii_case("Security") || (4600..5200).contains(&eid) {
        security_event(&mut ev, eid, &f);
    } else if eid == 7045 {
        service_install(&mut ev, &f);
    } else if eid == 4104 {
        ev.class = EventClass::ProcessActivity;
        ev.activity = Activity::Other;
        ev.message = gs(&f, "ScriptBlockText").or(ev.message.take());
    }
    ev.original.fields = Some(f);
    ev.collect_observables();
    ev
}

fn service_install(ev: &mut Event, f: &Map<String, Value>) {
    ev.class = EventClass::ScheduledJobActivity;
    ev.activity = Activity::Create;
    let img = gs(f, "ImagePath").or_else(|| gs(f, "ServiceFileName"));
    let p = ev.process_mut();
    p.name = gs(f, "ServiceName");
    p.cmd_line = img;
    set_user(ev, f, "AccountName", "", "");
}

fn security_event(ev: &mut Event, eid: u64, f: &Map<String, Value>) {
    let src = |ev: &mut Event, ip_key: &str, port_key: &str| {
        if let Some(a) = gs(f, ip_key).and_then(|v| ip(&v)) {
            ev.src = Some(Endpoint {
                ip: Some(a),
                port: gs(f, port_key).and_then(|p| port(&p)),
                hostname: gs(f, "WorkstationName"),
                ..Endpoint::default()
            });
        }
    };
    match eid {
        4624 | 4625 | 4648 | 4776 | 4768 | 4769 | 4771 | 4634 | 4647 => {
            ev.class = EventClass::Authentication;
            ev.activity = match eid {
                4634 | 4647 => Activity::Logoff,
                4768 | 4769 => Activity::AuthenticationTicket,
                _ => Activity::Logon,
            };
            ev.outcome = match eid {
                4625 | 4771 => Some(Outcome::Failure),
                4768 | 4769 | 4776 => match gs(f, "Status").as_deref() {
                    Some("0x0") | Some("0") | None => Some(Outcome::Success),
                    Some(_) => Some(Outcome::Failure),
                },
                _ => Some(Outcome::Success),
            };
            if eid == 4776 {
                set_user(ev, f, "TargetUserName", "", "");
            } else {
                set_user(ev, f, "TargetUserName", "TargetDomainName", "TargetUserSid");
            }
            src(ev, "IpAddress", "IpPort");
            if let Some(w) = gs(f, "Workstation").filter(|_| ev.src.is_none()) {
                ev.src_mut().hostname = Some(w);
            }
            if let Some(p) = gs(f, "ProcessName") {
                let pr = ev.process_mut();
                pr.name = Some(basename(&p).to_string());
                pr.path = Some(p);
                pr.pid = gs(f, "ProcessId").and_then(|v| parse_u64(&v));
            }
            if eid == 4648 {
                if let Some(t) = gs(f, "TargetServerName") {
                    ev.dst_mut().hostname = Some(t);
                }
            }
        }
        4688 | 4689 => {
            ev.class = EventClass::ProcessActivity;
            ev.activity = if eid == 4688 {
                Activity::Launch
            } else {
                Activity::Terminate
            };
            let path = gs(f, "NewProcessName").or_else(|| gs(f, "ProcessName"));
            let p = ev.process_mut();
            p.name = path.as_deref().map(basename).map(str::to_string);
            p.path = path;
            p.cmd_line = gs(f, "CommandLine");
            if eid == 4688 {
                p.pid = gs(f, "NewProcessId").and_then(|v| parse_u64(&v));
                p.parent_pid = gs(f, "ProcessId").and_then(|v| parse_u64(&v));
                p.parent_path = gs(f, "ParentProcessName");
            } else {
                p.pid = gs(f, "ProcessId").and_then(|v| parse_u64(&v));
            }
            set_user(
                ev,
                f,
                "SubjectUserName",
                "SubjectDomainName",
                "SubjectUserSid",
            );
        }
        4720 | 4722 | 4723 | 4724 | 4725 | 4726 | 4728 | 4732 | 4738 | 4740 | 4756 => {
            ev.class = EventClass::AccountChange;
            ev.activity = match eid {
                4720 => Activity::Create,
                4722 => Activity::Enable,
                4723 | 4724 => Activity::PasswordChange,
                4725 | 4740 => Activity::Disable,
                4726 => Activity::Delete,
                _ => Activity::Other,
            };
            // Group changes name the member, not the group, as the user.
            let name_key = if matches!(eid, 4728 | 4732 | 4756) && gs(f, "MemberName").is_some() {
                "MemberName"
            } else {
                "TargetUserName"
            };
            set_user(ev, f, name_key, "TargetDomainName", "TargetSid");
            if name_key == "MemberName" {
                if let Some(g) = gs(f, "TargetUserName") {
                    ev.message
                        .get_or_insert(format!("member added to group {g}"));
                }
            }
        }
        4697 => service_install(ev, f),
        4698..=4702 => {
            ev.class = EventClass::ScheduledJobActivity;
            ev.activity = match eid {
                4698 => Activity::Create,
                4699 => Activity::Delete,
                4700 => Activity::Enable,
                4701 => Activity::Disable,
                _ => Activity::Update,
            };
            ev.process_mut().name = gs(f, "TaskName");
            set_user(
                ev,
                f,
                "SubjectUserName",
                "SubjectDomainName",
                "SubjectUserSid",
            );
        }
        5140 | 5145 => {
            ev.class = EventClass::SmbActivity;
            ev.activity = if eid == 5140 {
                Activity::Open
            } else {
                Activity::Read
            };
            set_user(
                ev,
                f,
                "SubjectUserName",
                "SubjectDomainName",
                "SubjectUserSid",
            );
            src(ev, "IpAddress", "IpPort");
            let share = gs(f, "ShareName").unwrap_or_default();
            let rel = gs(f, "RelativeTargetName");
            let path = match &rel {
                Some(r) => format!("{share}\\{r}"),
                None => share,
            };
            ev.file = Some(File {
                name: rel.as_deref().map(basename).map(str::to_string),
                path: present(&path).map(str::to_string),
                ..File::default()
            });
            ev.network_mut().protocol = Some("smb".into());
            ev.dst_mut().port = Some(445);
        }
        5156..=5158 => {
            ev.class = EventClass::NetworkActivity;
            ev.activity = if eid == 5157 {
                Activity::Refuse
            } else {
                Activity::Open
            };
            if let Some(a) = gs(f, "SourceAddress").and_then(|v| ip(&v)) {
                ev.src = Some(Endpoint::ip(a));
                ev.src_mut().port = gs(f, "SourcePort").and_then(|p| port(&p));
            }
            if let Some(a) = gs(f, "DestAddress").and_then(|v| ip(&v)) {
                ev.dst = Some(Endpoint::ip(a));
                ev.dst_mut().port = gs(f, "DestPort").and_then(|p| port(&p));
            }
            ev.network_mut().transport = match gu(f, "Protocol") {
                Some(6) => Some("tcp".into()),
                Some(17) => Some("udp".into()),
                Some(1) => Some("icmp".into()),
                _ => None,
            };
            if let Some(app) = gs(f, "Application") {
                ev.process_mut().name = Some(basename(&app).to_string());
                ev.process_mut().path = Some(app);
            }
        }
        1102 | 4719 => {
            ev.class = EventClass::BaseEvent;
            ev.activity = Activity::Delete;
            set_user(
                ev,
                f,
                "SubjectUserName",
                "SubjectDomainName",
                "SubjectUserSid",
            );
        }
        _ => {
            set_user(
                ev,
                f,
                "SubjectUserName",
                "SubjectDomainName",
                "SubjectUserSid",
            );
        }
    }
}

fn sysmon_event(ev: &mut Event, eid: u64, f: &Map<String, Value>) {
    let image = gs(f, "Image");
    let set_image = |ev: &mut Event| {
        let p = ev.process_mut();
        p.name = image.as_deref().map(basename).map(str::to_string);
        p.path.clone_from(&image);
        p.pid = gu(f, "ProcessId");
        p.uid = gs(f, "ProcessGuid");
    };
    let file_of = |key: &str| -> Option<File> {
        let path = gs(f, key)?;
        Some(File {
            name: Some(basename(&path).to_string()),
            path: Some(path),
            size: None,
            hashes: gs(f, "Hashes")
                .or_else(|| gs(f, "Hash"))
                .map(|h| hashes(&h))
                .unwrap_or_default(),
        })
    };
    if let Some(u) = gs(f, "User") {
        let (d, n) = split_user(&u);
        let um = ev.user_mut();
        um.name = Some(n);
        um.domain = d;
    }
    match eid {
        1 | 5 => {
            ev.class = EventClass::ProcessActivity;
            ev.activity = if eid == 1 {
                Activity::Launch
            } else {
                Activity::Terminate
            };
            set_image(ev);
            let p = ev.process_mut();
            p.cmd_line = gs(f, "CommandLine");
            p.parent_pid = gu(f, "ParentProcessId");
            p.parent_path = gs(f, "ParentImage");
            p.parent_cmd_line = gs(f, "ParentCommandLine");
            if let Some(h) = gs(f, "Hashes") {
                let path = image.clone();
                ev.file = Some(File {
                    name: path.as_deref().map(basename).map(str::to_string),
                    path,
                    size: None,
                    hashes: hashes(&h),
                });
            }
        }
        3 => {
            ev.class = EventClass::NetworkActivity;
            ev.activity = Activity::Open;
            set_image(ev);
            ev.src = Some(Endpoint {
                ip: gs(f, "SourceIp").and_then(|v| ip(&v)),
                port: gs(f, "SourcePort").and_then(|p| port(&p)),
                hostname: gs(f, "SourceHostname"),
                ..Endpoint::default()
            });
            ev.dst = Some(Endpoint {
                ip: gs(f, "DestinationIp").and_then(|v| ip(&v)),
                port: gs(f, "DestinationPort").and_then(|p| port(&p)),
                hostname: gs(f, "DestinationHostname"),
                ..Endpoint::default()
            });
            ev.network_mut().transport = gs(f, "Protocol").map(|p| p.to_ascii_lowercase());
            ev.network_mut().protocol = gs(f, "DestinationPortName");
            ev.network_mut().direction = match gs(f, "Initiated").as_deref() {
                Some("true") => Some("outbound".into()),
                Some("false") => Some("inbound".into()),
                _ => None,
            };
        }
        6 | 7 => {
            ev.class = EventClass::ModuleActivity;
            ev.activity = Activity::Load;
            set_image(ev);
            ev.file = file_of("ImageLoaded");
        }
        8 | 10 => {
            ev.class = EventClass::ProcessActivity;
            ev.activity = if eid == 8 {
                Activity::Inject
            } else {
                Activity::Read
            };
            let src = gs(f, "SourceImage");
            let p = ev.process_mut();
            p.name = src.as_deref().map(basename).map(str::to_string);
            p.path = src;
            p.pid = gu(f, "SourceProcessId");
            p.uid = gs(f, "SourceProcessGuid");
            // The target is a process too; the model has one process slot,
            // so the target image is carried as the file acted on.
            ev.file = file_of("TargetImage");
            if let Some(u) = gs(f, "SourceUser") {
                let (d, n) = split_user(&u);
                ev.user_mut().name = Some(n);
                ev.user_mut().domain = d;
            }
        }
        2 | 11 | 15 | 23 | 26 | 29 => {
            ev.class = EventClass::FileSystemActivity;
            ev.activity = match eid {
                23 | 26 => Activity::Delete,
                2 => Activity::Update,
                _ => Activity::Create,
            };
            set_image(ev);
            ev.file = file_of("TargetFilename");
        }
        12..=14 => {
            ev.class = EventClass::RegistryKeyActivity;
            ev.activity = match gs(f, "EventType").as_deref() {
                Some("CreateKey") => Activity::Create,
                Some("DeleteKey") | Some("DeleteValue") => Activity::Delete,
                Some("RenameKey") => Activity::Rename,
                _ if eid == 13 => Activity::Update,
                _ if eid == 14 => Activity::Rename,
                _ => Activity::Other,
            };
            set_image(ev);
            ev.file = file_of("TargetObject");
            if let Some(d) = gs(f, "Details") {
                ev.message.get_or_insert(d);
            }
        }
        17 | 18 => {
            ev.class = EventClass::FileSystemActivity;
            ev.activity = if eid == 17 {
                Activity::Create
            } else {
                Activity::Read
            };
            set_image(ev);
            ev.file = file_of("PipeName");
        }
        22 => {
            ev.class = EventClass::DnsActivity;
            ev.activity = Activity::Query;
            set_image(ev);
            let d = ev.dns_mut();
            d.query = gs(f, "QueryName");
            d.rcode = gs(f, "QueryStatus").map(|s| if s == "0" { "NOERROR".into() } else { s });
            // QueryResults: `type:  5 cname.example;::ffff:1.2.3.4;10.0.0.1;`
            d.answers = gs(f, "QueryResults")
                .map(|r| {
                    r.split(';')
                        .filter_map(|a| {
                            let a = a.trim();
                            let a = a.strip_prefix("::ffff:").unwrap_or(a);
                            let a = a.rsplit(' ').next().unwrap_or(a);
                            present(a).map(str::to_string)
                        })
                        .collect()
                })
                .unwrap_or_default();
        }
        25 => {
            ev.class = EventClass::ProcessActivity;
            ev.activity = Activity::Other;
            set_image(ev);
        }
        _ => {
            if image.is_some() {
                set_image(ev);
            }
        }
    }
    if let Some(r) = f.get("RuleName").and_then(vstr).filter(|r| r != "-") {
        ev.network_mut().rule = Some(r);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_parse() {
        let h = hashes("SHA1=5E4F2C531C549BB72A658ED9DD16D491EDDBB286,MD5=FAB4B30C1C4F0A9202A7B42DCF1729DC,IMPHASH=C324AAAC01F0F75C811E1F80C41B860C");
        assert_eq!(h.len(), 3);
        assert_eq!(h[2].algorithm, HashAlgorithm::Imphash);
    }

    #[test]
    fn winlogbeat_logon() {
        let s = r#"{"@timestamp":"2024-05-01T10:00:00.000Z","winlog":{"event_id":4625,"channel":"Security","computer_name":"DC01.trust.nhs.uk","provider_name":"Microsoft-Windows-Security-Auditing","event_data":{"TargetUserName":"jsmith","TargetDomainName":"TRUST","IpAddress":"10.1.2.3","IpPort":"51234","LogonType":"3"}}}"#;
        let ev = parse_flat_json(s).unwrap();
        assert_eq!(ev.class, EventClass::Authentication);
        assert_eq!(ev.outcome, Some(Outcome::Failure));
        assert_eq!(ev.src.as_ref().unwrap().port, Some(51234));
        let f = ev.original.fields.unwrap();
        assert_eq!(f["EventID"], 4625);
        assert_eq!(f["LogonType"], "3");
    }

    #[test]
    fn errors_have_codes() {
        assert_eq!(parse_evtx_json("{").unwrap_err().code, codes::WIN_JSON);
        assert_eq!(
            parse_evtx_json("{\"a\":1}").unwrap_err().code,
            codes::WIN_FIELD
        );
        let e = parse_sysmon(r#"{"EventID":4624,"Channel":"Security"}"#).unwrap_err();
        assert_eq!(e.code, codes::WIN_NOT_SYSMON);
        let e = parse_evtx_json("{\n \"Event\": x}").unwrap_err();
        assert_eq!(e.offset, 12);
    }
}
