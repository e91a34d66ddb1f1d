//! Linux auditd records (`type=… msg=audit(<epoch>:<serial>): key=value …`),
//! raw or ENRICHED (`\x1d`-separated translated names), bare or via syslog
//! (audisp-syslog).

use serde_json::{Map, Value};
use ward_event::{Activity, Endpoint, Event, EventClass, File, Outcome, Severity, Timestamp};

use crate::util::{basename, ip, present};
use crate::{codes, syslog, Options, ParseError, ParseResult};

/// Decode auditd's hex encoding of values that contain spaces or quotes
/// (`a1=2F746D702F78`); values that are not even-length hex are returned as is.
pub fn decode_hex(v: &str) -> String {
    if v.len() < 2 || v.len() % 2 != 0 || !v.bytes().all(|b| b.is_ascii_hexdigit()) {
        return v.to_string();
    }
    let bytes: Option<Vec<u8>> = (0..v.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&v[i..i + 2], 16).ok())
        .collect();
    match bytes {
        // Arguments are NUL-separated inside a single proctitle value.
        Some(b) => String::from_utf8_lossy(&b).replace('\0', " "),
        None => v.to_string(),
    }
}

/// Parse `k=v k="v" k='nested k=v'` into `out`; nested single-quoted
/// `msg='…'` content is flattened into the same map.
fn parse_fields(s: &str, out: &mut Map<String, Value>, quoted_raw: &mut Vec<String>) {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && (b[i] == b' ' || b[i] == 0x1d) {
            i += 1;
        }
        let ks = i;
        while i < b.len() && !matches!(b[i], b'=' | b' ' | 0x1d) {
            i += 1;
        }
        if i >= b.len() || b[i] != b'=' {
            continue;
        }
        let key = &s[ks..i];
        i += 1;
        let (val, quoted) = match b.get(i) {
            Some(q @ (b'"' | b'\'')) => {
                let vs = i + 1;
                let ve = memchr::memchr(*q, &b[vs..]).map_or(b.len(), |e| vs + e);
                i = (ve + 1).min(b.len());
                if *q == b'\'' {
                    parse_fields(&s[vs..ve], out, quoted_raw);
                    continue;
                }
                (&s[vs..ve], true)
            }
            _ => {
                let vs = i;
                while i < b.len() && !matches!(b[i], b' ' | 0x1d) {
                    i += 1;
                }
                (&s[vs..i], false)
            }
        };
        if quoted {
            quoted_raw.push(key.to_string());
        }
        // Repeated keys (e.g. `uid` in both parts) keep the first.
        out.entry(key.to_string())
            .or_insert_with(|| Value::from(val));
    }
}

/// Parse one auditd record.
pub fn parse_auditd(s: &str, opts: &Options) -> ParseResult {
    let start = if s.starts_with("type=") {
        0
    } else {
        let (_, h) = syslog::strip_header(s, opts.reference_time());
        let body_at = h.map_or(0, |h| h.msg_offset);
        s[body_at..]
            .find("type=")
            .map(|i| body_at + i)
            .ok_or_else(|| ParseError::new(codes::AUDITD, body_at, "no type= field"))?
    };
    let rec = &s[start..];
    let ty_end = rec.find(' ').unwrap_or(rec.len());
    let ty = &rec[5..ty_end];
    let m_at = rec
        .find("msg=audit(")
        .ok_or_else(|| ParseError::new(codes::AUDITD, start + ty_end, "missing msg=audit(…)"))?;
    let stamp_start = m_at + 10;
    let stamp_end = rec[stamp_start..]
        .find(')')
        .map(|e| stamp_start + e)
        .ok_or_else(|| {
            ParseError::new(codes::AUDITD, start + stamp_start, "unterminated audit(…)")
        })?;
    let stamp = &rec[stamp_start..stamp_end];
    let (secs, serial) = stamp.split_once(':').ok_or_else(|| {
        ParseError::new(
            codes::AUDITD,
            start + stamp_start,
            "audit(<seconds>:<serial>)",
        )
    })?;
    let time = Timestamp::from_epoch_decimal(secs).ok_or_else(|| {
        ParseError::new(
            codes::AUDITD,
            start + stamp_start,
            "audit timestamp must be seconds.millis",
        )
    })?;
    let rest = rec[stamp_end + 1..].trim_start_matches(':');
    let mut f = Map::new();
    f.insert("type".into(), Value::from(ty));
    f.insert("serial".into(), Value::from(serial));
    let mut quoted = Vec::new();
    parse_fields(rest, &mut f, &mut quoted);
    let g = |k: &str| {
        f.get(k)
            .and_then(Value::as_str)
            .and_then(present)
            .filter(|v| *v != "?")
    };
    let (class, activity) = match ty {
        "EXECVE" | "USER_CMD" => (EventClass::ProcessActivity, Activity::Launch),
        "SYSCALL" => {
            let execve = g("SYSCALL") == Some("execve")
                || (g("arch") == Some("c000003e") && g("syscall") == Some("59"))
                || (g("arch") == Some("c00000b7") && g("syscall") == Some("221"));
            if execve {
                (EventClass::ProcessActivity, Activity::Launch)
            } else {
                (EventClass::KernelActivity, Activity::Other)
            }
        }
        "USER_LOGIN" | "USER_AUTH" | "USER_ACCT" | "USER_START" | "CRED_ACQ" | "USER_ERR" => {
            (EventClass::Authentication, Activity::Logon)
        }
        "USER_LOGOUT" | "USER_END" | "CRED_DISP" => (EventClass::Authentication, Activity::Logoff),
        "ADD_USER" | "ADD_GROUP" => (EventClass::AccountChange, Activity::Create),
        "DEL_USER" | "DEL_GROUP" => (EventClass::AccountChange, Activity::Delete),
        "USER_CHAUTHTOK" | "USER_MGMT" | "GRP_MGMT" | "ACCT_LOCK" | "ACCT_UNLOCK" => (
            EventClass::AccountChange,
            if ty == "USER_CHAUTHTOK" {
                Activity::PasswordChange
            } else {
                Activity::Update
            },
        ),
        "PATH" => (EventClass::FileSystemActivity, Activity::Other),
        _ => (EventClass::KernelActivity, Activity::Other),
    };
    let mut ev = Event::new(class, activity, "linux.auditd", s);
    ev.time = Some(time);
    ev.type_name = Some(ty.to_string());
    ev.severity = Severity::Informational;
    ev.network_mut().flow_id = Some(serial.to_string());
    ev.outcome = match g("res").or(g("success")) {
        Some("success") | Some("yes") => Some(Outcome::Success),
        Some("failed") | Some("no") => Some(Outcome::Failure),
        _ => None,
    };
    if let Some(exe) = g("exe") {
        let p = ev.process_mut();
        p.path = Some(exe.to_string());
        p.name = g("comm").or(Some(basename(exe))).map(str::to_string);
    } else if let Some(comm) = g("comm") {
        ev.process_mut().name = Some(comm.to_string());
    }
    if let Some(pid) = g("pid").and_then(|p| p.parse().ok()) {
        ev.process_mut().pid = Some(pid);
    }
    if let Some(pid) = g("ppid").and_then(|p| p.parse().ok()) {
        ev.process_mut().parent_pid = Some(pid);
    }
    let decode = |k: &str| -> Option<String> {
        let v = g(k)?;
        Some(if quoted.iter().any(|q| q == k) {
            v.to_string()
        } else {
            decode_hex(v)
        })
    };
    match ty {
        "EXECVE" => {
            let argc: usize = g("argc").and_then(|a| a.parse().ok()).unwrap_or(0);
            let args: Vec<String> = (0..argc.min(1024))
                .filter_map(|n| decode(&format!("a{n}")))
                .collect();
            if !args.is_empty() {
                ev.process_mut().name = Some(basename(&args[0]).to_string());
                ev.process_mut().cmd_line = Some(args.join(" "));
            }
        }
        "USER_CMD" => {
            if let Some(c) = decode("cmd") {
                ev.process_mut().cmd_line = Some(c);
            }
        }
        "PATH" => {
            if let Some(n) = decode("name") {
                ev.file = Some(File {
                    name: Some(basename(&n).to_string()),
                    path: Some(n),
                    ..File::default()
                });
            }
            ev.activity = match g("nametype") {
                Some("CREATE") => Activity::Create,
                Some("DELETE") => Activity::Delete,
                _ => Activity::Read,
            };
        }
        _ => {}
    }
    if let Some(t) = decode("proctitle").filter(|_| ty == "PROCTITLE") {
        ev.process_mut().cmd_line = Some(t);
    }
    // The account acted on (acct/id) outranks the numeric uid; ENRICHED
    // records give names in upper-case keys (AUID, UID).
    let user = g("acct")
        .map(|a| {
            if quoted.iter().any(|q| q == "acct") {
                a.to_string()
            } else {
                decode_hex(a)
            }
        })
        .or_else(|| g("UID").map(str::to_string))
        .or_else(|| g("AUID").map(str::to_string));
    if let Some(u) = user {
        ev.user_mut().name = Some(u);
    }
    if let Some(uid) = g("uid").or(g("auid")).filter(|u| *u != "4294967295") {
        ev.user_mut().uid = Some(uid.to_string());
    }
    if let Some(a) = g("addr").and_then(ip) {
        ev.src = Some(Endpoint::ip(a));
    }
    if let Some(h) = g("hostname").filter(|h| ip(h).is_none()) {
        ev.src_mut().hostname = Some(h.to_string());
    }
    if let Some(node) = g("node") {
        ev.host_mut().hostname = Some(node.to_string());
    }
    if start > 0 {
        let (_, h) = syslog::strip_header(s, opts.reference_time());
        if let Some(h) = h {
            syslog::apply_header(&mut ev, &h);
        }
    }
    ev.original.fields = Some(f);
    ev.collect_observables();
    Ok(ev)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_login_failed() {
        let s = "type=USER_LOGIN msg=audit(1717236000.123:2345): pid=4242 uid=0 auid=4294967295 ses=4294967295 msg='op=login acct=\"root\" exe=\"/usr/sbin/sshd\" hostname=? addr=198.51.100.7 terminal=sshd res=failed'";
        let ev = parse_auditd(s, &Options::default()).unwrap();
        assert_eq!(ev.class, EventClass::Authentication);
        assert_eq!(ev.outcome, Some(Outcome::Failure));
        assert_eq!(ev.user.as_ref().unwrap().name.as_deref(), Some("root"));
        assert_eq!(ev.src.as_ref().unwrap().ip, "198.51.100.7".parse().ok());
        assert_eq!(ev.time.unwrap().to_string(), "2024-06-01T10:00:00.123Z");
    }

    #[test]
    fn execve_hex() {
        let s = "type=EXECVE msg=audit(1717236000.5:99): argc=3 a0=\"cat\" a1=2F6574632F736861646F77 a2=\"x\"";
        let ev = parse_auditd(s, &Options::default()).unwrap();
        assert_eq!(
            ev.process.unwrap().cmd_line.as_deref(),
            Some("cat /etc/shadow x")
        );
    }

    #[test]
    fn errors() {
        let e = parse_auditd("type=SYSCALL arch=1", &Options::default()).unwrap_err();
        assert_eq!(e.code, codes::AUDITD);
        let e =
            parse_auditd("type=SYSCALL msg=audit(abc:1): x=1", &Options::default()).unwrap_err();
        assert_eq!(e.offset, 23);
    }
}
