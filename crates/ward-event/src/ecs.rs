//! The ECS-named view of an [`Event`](crate::Event).

use serde_json::{json, Map, Value};

use crate::{Activity, Disposition, Endpoint, Event, EventClass, Outcome, ParseStatus};

/// Insert `v` at a dotted path, creating objects on the way.
fn put(root: &mut Map<String, Value>, path: &str, v: Value) {
    let mut cur = root;
    let mut parts = path.split('.').peekable();
    while let Some(p) = parts.next() {
        if parts.peek().is_none() {
            cur.insert(p.to_string(), v);
            return;
        }
        let slot = cur
            .entry(p.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        let Value::Object(next) = slot else { return };
        cur = next;
    }
}

fn put_opt<T: Into<Value> + Clone>(root: &mut Map<String, Value>, path: &str, v: &Option<T>) {
    if let Some(v) = v {
        put(root, path, v.clone().into());
    }
}

fn endpoint(root: &mut Map<String, Value>, side: &str, ep: &Endpoint) {
    if let Some(ip) = ep.ip {
        put(root, &format!("{side}.ip"), json!(ip.to_string()));
    }
    put_opt(root, &format!("{side}.port"), &ep.port);
    put_opt(root, &format!("{side}.domain"), &ep.hostname);
    if let Some(ip) = ep.nat_ip {
        put(root, &format!("{side}.nat.ip"), json!(ip.to_string()));
    }
    put_opt(root, &format!("{side}.nat.port"), &ep.nat_port);
    if let Some(i) = &ep.interface {
        let dir = if side == "source" {
            "observer.ingress.interface.name"
        } else {
            "observer.egress.interface.name"
        };
        put(root, dir, json!(i));
    }
}

fn categories(ev: &Event) -> (&'static str, Vec<&'static str>, Vec<&'static str>) {
    let kind = match ev.class {
        EventClass::DetectionFinding => "alert",
        _ => "event",
    };
    let category = match ev.class {
        EventClass::BaseEvent => vec![],
        EventClass::FileSystemActivity => vec!["file"],
        EventClass::KernelActivity => vec!["host"],
        EventClass::ModuleActivity => vec!["library", "process"],
        EventClass::ScheduledJobActivity => vec!["configuration", "process"],
        EventClass::ProcessActivity => vec!["process"],
        EventClass::RegistryKeyActivity => vec!["registry", "configuration"],
        EventClass::DetectionFinding => vec!["intrusion_detection"],
        EventClass::AccountChange => vec!["iam"],
        EventClass::Authentication => vec!["authentication"],
        EventClass::NetworkActivity | EventClass::DnsActivity | EventClass::SmbActivity => {
            vec!["network"]
        }
        EventClass::HttpActivity => vec!["network", "web"],
    };
    let ty = match (ev.class, ev.activity) {
        (EventClass::DetectionFinding, _) => vec!["info"],
        (_, Activity::Create) => vec!["creation"],
        (_, Activity::Delete) => vec!["deletion"],
        (_, Activity::Update | Activity::Rename | Activity::PasswordChange) => vec!["change"],
        (_, Activity::Read) => vec!["access"],
        (_, Activity::Launch) => vec!["start"],
        (_, Activity::Terminate) => vec!["end"],
        (_, Activity::Logon) => vec!["start"],
        (_, Activity::Logoff) => vec!["end"],
        (_, Activity::Open) => vec!["connection", "start"],
        (_, Activity::Close) => vec!["connection", "end"],
        (_, Activity::Refuse) => vec!["connection", "denied"],
        (_, Activity::Traffic) => vec!["connection"],
        (_, Activity::Query | Activity::Response) => vec!["protocol"],
        (_, Activity::HttpRequest) => vec!["access"],
        _ => vec!["info"],
    };
    (kind, category, ty)
}

pub(crate) fn to_ecs(ev: &Event) -> Value {
    let mut r = Map::new();
    if let Some(t) = ev.time {
        put(&mut r, "@timestamp", json!(t.to_string()));
    }
    let (kind, category, ty) = categories(ev);
    put(&mut r, "event.kind", json!(kind));
    put(&mut r, "event.category", json!(category));
    put(&mut r, "event.type", json!(ty));
    put(&mut r, "event.module", json!(ev.original.format));
    put(&mut r, "event.severity", json!(ev.severity.id()));
    put_opt(&mut r, "event.code", &ev.type_name);
    if let Some(o) = ev.outcome {
        let o = match o {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
        };
        put(&mut r, "event.outcome", json!(o));
    }
    if let Some(d) = ev.disposition {
        let d = match d {
            Disposition::Allowed => "allowed",
            Disposition::Blocked => "denied",
            Disposition::Dropped => "dropped",
            Disposition::Reset => "reset",
            Disposition::Detected => "detected",
        };
        put(&mut r, "event.action", json!(d));
    }
    put(&mut r, "event.original", json!(ev.original.raw));
    put_opt(&mut r, "organization.id", &ev.org);
    put_opt(&mut r, "message", &ev.message);
    if let Some(h) = &ev.host {
        put_opt(&mut r, "host.name", &h.hostname);
        if let Some(ip) = h.ip {
            put(&mut r, "host.ip", json!([ip.to_string()]));
        }
        put_opt(&mut r, "observer.product", &h.product);
    }
    if let Some(u) = &ev.user {
        put_opt(&mut r, "user.name", &u.name);
        put_opt(&mut r, "user.domain", &u.domain);
        put_opt(&mut r, "user.id", &u.uid);
    }
    if let Some(s) = &ev.src {
        endpoint(&mut r, "source", s);
    }
    if let Some(d) = &ev.dst {
        endpoint(&mut r, "destination", d);
    }
    if let Some(n) = &ev.network {
        put_opt(&mut r, "network.transport", &n.transport);
        put_opt(&mut r, "network.protocol", &n.protocol);
        put_opt(&mut r, "network.packets", &n.packets);
        put_opt(&mut r, "network.direction", &n.direction);
        put_opt(&mut r, "source.bytes", &n.bytes_out);
        put_opt(&mut r, "destination.bytes", &n.bytes_in);
        if let (Some(a), Some(b)) = (n.bytes_out, n.bytes_in) {
            put(&mut r, "network.bytes", json!(a + b));
        }
        put_opt(&mut r, "event.id", &n.flow_id);
        put_opt(&mut r, "tls.client.server_name", &n.tls_sni);
        put_opt(&mut r, "tls.version", &n.tls_version);
        put_opt(&mut r, "tls.server.subject", &n.tls_subject);
        put_opt(&mut r, "tls.client.ja3", &n.ja3);
        put_opt(&mut r, "rule.name", &n.rule);
    }
    if let Some(p) = &ev.process {
        put_opt(&mut r, "process.pid", &p.pid);
        put_opt(&mut r, "process.executable", &p.path);
        put_opt(&mut r, "process.name", &p.name);
        put_opt(&mut r, "process.command_line", &p.cmd_line);
        put_opt(&mut r, "process.entity_id", &p.uid);
        put_opt(&mut r, "process.parent.pid", &p.parent_pid);
        put_opt(&mut r, "process.parent.executable", &p.parent_path);
        put_opt(&mut r, "process.parent.command_line", &p.parent_cmd_line);
    }
    if let Some(f) = &ev.file {
        let base = if ev.class == EventClass::RegistryKeyActivity {
            "registry"
        } else {
            "file"
        };
        put_opt(&mut r, &format!("{base}.path"), &f.path);
        put_opt(&mut r, &format!("{base}.name"), &f.name);
        put_opt(&mut r, &format!("{base}.size"), &f.size);
        for h in &f.hashes {
            put(
                &mut r,
                &format!("{base}.hash.{}", h.algorithm.as_str()),
                json!(h.value),
            );
        }
    }
    if let Some(u) = &ev.url {
        put(&mut r, "url.original", json!(u.full));
        put_opt(&mut r, "url.domain", &u.hostname);
        put_opt(&mut r, "url.path", &u.path);
        put_opt(&mut r, "url.query", &u.query);
    }
    if let Some(h) = &ev.http {
        put_opt(&mut r, "http.request.method", &h.method);
        put_opt(&mut r, "http.response.status_code", &h.status);
        put_opt(&mut r, "user_agent.original", &h.user_agent);
        put_opt(&mut r, "http.request.referrer", &h.referrer);
        put_opt(&mut r, "http.response.body.bytes", &h.response_bytes);
        put_opt(&mut r, "http.version", &h.version);
    }
    if let Some(d) = &ev.dns {
        put_opt(&mut r, "dns.question.name", &d.query);
        put_opt(&mut r, "dns.question.type", &d.qtype);
        put_opt(&mut r, "dns.response_code", &d.rcode);
        if !d.answers.is_empty() {
            let a: Vec<Value> = d.answers.iter().map(|a| json!({ "data": a })).collect();
            put(&mut r, "dns.answers", Value::Array(a));
        }
    }
    if let Some(f) = &ev.finding {
        put(&mut r, "rule.name", json!(f.title));
        put_opt(&mut r, "rule.id", &f.uid);
        put_opt(&mut r, "rule.category", &f.category);
    }
    let o = &ev.observables;
    if !o.ips.is_empty() {
        let ips: Vec<String> = o.ips.iter().map(ToString::to_string).collect();
        put(&mut r, "related.ip", json!(ips));
    }
    if !o.domains.is_empty() {
        put(&mut r, "related.hosts", json!(o.domains));
    }
    if !o.hashes.is_empty() {
        let h: Vec<&str> = o.hashes.iter().map(|h| h.value.as_str()).collect();
        put(&mut r, "related.hash", json!(h));
    }
    if !o.users.is_empty() {
        put(&mut r, "related.user", json!(o.users));
    }
    match &ev.parse_status {
        ParseStatus::Parsed => put(&mut r, "ward.parse_status", json!("parsed")),
        ParseStatus::Raw { code, reason } => {
            put(&mut r, "ward.parse_status", json!("raw"));
            put(&mut r, "error.code", json!(code));
            put(&mut r, "error.message", json!(reason));
        }
    }
    Value::Object(r)
}
