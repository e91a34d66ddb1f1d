//! Web server access logs: NCSA Common and Combined Log Format (Apache,
//! nginx, IIS in NCSA mode), with an optional leading virtual host
//! (`vhost_combined`).

use serde_json::{Map, Value};
use ward_event::{Activity, Endpoint, Event, EventClass, Outcome, Severity, Timestamp, Url};

use crate::util::{ip, parse_u64, present};
use crate::{codes, ParseError, ParseResult};

/// Cheap shape test used by auto-detection: `… [dd/Mon/yyyy:` then `] "`.
pub fn looks_like(s: &str) -> bool {
    let Some(open) = s.find(" [") else {
        return false;
    };
    if open > 300 {
        return false;
    }
    let b = s.as_bytes();
    let d = &b[open + 2..];
    d.len() > 21
        && d[0].is_ascii_digit()
        && d[1].is_ascii_digit()
        && d[2] == b'/'
        && d[6] == b'/'
        && d[11] == b':'
        && s[open..].contains("] \"")
}

struct Cur<'a> {
    s: &'a str,
    i: usize,
}

impl<'a> Cur<'a> {
    fn err(&self, what: &str) -> ParseError {
        ParseError::new(
            codes::ACCESS,
            self.i,
            format!("access log: expected {what}"),
        )
    }
    fn skip_spaces(&mut self) {
        while self.s.as_bytes().get(self.i) == Some(&b' ') {
            self.i += 1;
        }
    }
    fn word(&mut self, what: &str) -> Result<&'a str, ParseError> {
        self.skip_spaces();
        let rest = &self.s[self.i..];
        let end = rest.find(' ').unwrap_or(rest.len());
        if end == 0 {
            return Err(self.err(what));
        }
        self.i += end;
        Ok(&rest[..end])
    }
    fn delimited(&mut self, open: u8, close: u8, what: &str) -> Result<String, ParseError> {
        self.skip_spaces();
        let b = self.s.as_bytes();
        if b.get(self.i) != Some(&open) {
            return Err(self.err(what));
        }
        self.i += 1;
        let mut out = String::new();
        let mut seg = self.i;
        loop {
            match b.get(self.i) {
                None => return Err(self.err(&format!("closing {}", close as char))),
                Some(b'\\') if close == b'"' && self.i + 1 < b.len() => {
                    out.push_str(&self.s[seg..self.i]);
                    self.i += 1;
                    seg = self.i;
                    self.i += 1;
                }
                Some(c) if *c == close => {
                    out.push_str(&self.s[seg..self.i]);
                    self.i += 1;
                    return Ok(out);
                }
                Some(_) => self.i += 1,
            }
        }
    }
}

/// Parse one access-log line.
pub fn parse_access(s: &str) -> ParseResult {
    let mut c = Cur { s, i: 0 };
    let first = c.word("client address")?;
    // vhost_combined puts `host:port` first; the client address follows.
    let (vhost, client) = if ip(first).is_none()
        && s[c.i..]
            .trim_start()
            .split(' ')
            .nth(2)
            .is_some_and(|w| w.starts_with('['))
    {
        (Some(first), c.word("client address")?)
    } else {
        (None, first)
    };
    let ident = c.word("ident")?;
    let user = c.word("user")?;
    let ts_at = c.i;
    let ts = c.delimited(b'[', b']', "'[' opening the time")?;
    let time = Timestamp::parse_clf(&ts).map_err(|e| {
        ParseError::new(
            codes::ACCESS,
            ts_at + 2 + e.offset,
            format!("access log time: expected {}", e.what),
        )
    })?;
    let request = c.delimited(b'"', b'"', "quoted request line")?;
    let status = c.word("status code")?;
    let status_n: Option<u16> = status.parse().ok();
    if status_n.is_none() && status != "-" {
        return Err(ParseError::new(
            codes::ACCESS,
            c.i - status.len(),
            "access log: status must be a number",
        ));
    }
    let bytes = c.word("response size")?;
    c.skip_spaces();
    let (referrer, agent) = if c.i < s.len() {
        let r = c.delimited(b'"', b'"', "quoted referrer")?;
        let a = c.delimited(b'"', b'"', "quoted user agent")?;
        (Some(r), Some(a))
    } else {
        (None, None)
    };
    let mut parts = request.splitn(3, ' ');
    let (method, target, version) = (parts.next(), parts.next(), parts.next());
    let mut ev = Event::new(
        EventClass::HttpActivity,
        Activity::HttpRequest,
        "web.access",
        s,
    );
    ev.time = Some(time);
    ev.severity = Severity::Informational;
    if let Some(a) = ip(client) {
        ev.src = Some(Endpoint::ip(a));
    } else if let Some(h) = present(client) {
        ev.src_mut().hostname = Some(h.to_string());
    }
    let host = vhost.map(|v| v.rsplit_once(':').map_or(v, |(h, _)| h));
    if let Some(h) = host {
        ev.dst_mut().hostname = Some(h.to_string());
        if let Some(p) = vhost
            .and_then(|v| v.rsplit_once(':'))
            .and_then(|(_, p)| p.parse().ok())
        {
            ev.dst_mut().port = Some(p);
        }
    }
    if let Some(u) = present(user) {
        ev.user_mut().name = Some(u.to_string());
    }
    if let Some(t) = target.and_then(present) {
        ev.url = Some(Url::parse(t, host));
    }
    {
        let h = ev.http_mut();
        h.method = method.and_then(present).map(str::to_string);
        h.version = version.and_then(present).map(str::to_string);
        h.status = status_n;
        h.response_bytes = parse_u64(bytes);
        h.referrer = referrer.as_deref().and_then(present).map(str::to_string);
        h.user_agent = agent.as_deref().and_then(present).map(str::to_string);
    }
    ev.outcome = status_n.map(|st| {
        if st < 400 {
            Outcome::Success
        } else {
            Outcome::Failure
        }
    });
    let mut f = Map::new();
    if let Some(v) = vhost {
        f.insert("vhost".into(), Value::from(v));
    }
    for (k, v) in [
        ("clientip", client),
        ("ident", ident),
        ("auth", user),
        ("timestamp", ts.as_str()),
        ("request", request.as_str()),
        ("status", status),
        ("bytes", bytes),
    ] {
        f.insert(k.into(), Value::from(v));
    }
    if let Some(m) = method {
        f.insert("method".into(), Value::from(m));
    }
    if let Some(t) = target {
        f.insert("uri".into(), Value::from(t));
    }
    if let Some(r) = &referrer {
        f.insert("referrer".into(), Value::from(r.as_str()));
    }
    if let Some(a) = &agent {
        f.insert("agent".into(), Value::from(a.as_str()));
    }
    ev.original.fields = Some(f);
    ev.collect_observables();
    Ok(ev)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combined_and_common() {
        let s = r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)""#;
        assert!(looks_like(s));
        let ev = parse_access(s).unwrap();
        assert_eq!(ev.http.as_ref().unwrap().status, Some(200));
        assert_eq!(ev.user.as_ref().unwrap().name.as_deref(), Some("frank"));
        let s = r#"10.0.0.1 - - [10/Oct/2000:13:55:36 +0000] "POST /login HTTP/1.1" 401 -"#;
        let ev = parse_access(s).unwrap();
        assert_eq!(ev.outcome, Some(Outcome::Failure));
        assert!(ev.user.is_none());
    }

    #[test]
    fn errors_have_offsets() {
        let e = parse_access(r#"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" abc 1"#)
            .unwrap_err();
        assert_eq!(e.code, codes::ACCESS);
        assert_eq!(e.offset, 58);
        let e = parse_access(r#"1.2.3.4 - - [10/Xyz/2000:13:55:36 -0700] "GET /""#).unwrap_err();
        assert_eq!(e.offset, 16);
    }
}
