//! Small helpers shared by the parsers.

use std::net::IpAddr;

use serde_json::{Map, Value};

/// Parse an IP address, tolerating IPv6 in brackets and `-`/empty as absent.
pub(crate) fn ip(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    let s = s
        .strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .unwrap_or(s);
    s.parse().ok()
}

/// Parse a port; `0`, `-` and garbage are absent.
pub(crate) fn port(s: &str) -> Option<u16> {
    s.trim().parse().ok().filter(|p| *p != 0)
}

/// Last path component of a Windows or Unix path.
pub(crate) fn basename(p: &str) -> &str {
    p.rsplit(['\\', '/']).next().unwrap_or(p)
}

/// A present, meaningful string (not empty, not `-`).
pub(crate) fn present(s: &str) -> Option<&str> {
    let t = s.trim();
    (!t.is_empty() && t != "-" && t != "(null)").then_some(t)
}

/// String view of a JSON scalar (numbers and booleans rendered).
pub(crate) fn vstr(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => present(s).map(str::to_string),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Get a field of a JSON object as a string.
pub(crate) fn gs(m: &Map<String, Value>, k: &str) -> Option<String> {
    m.get(k).and_then(vstr)
}

/// Get a field as u64 (number or numeric string, decimal or `0x` hex).
pub(crate) fn gu(m: &Map<String, Value>, k: &str) -> Option<u64> {
    match m.get(k)? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => parse_u64(s),
        _ => None,
    }
}

/// Decimal or `0x` hexadecimal unsigned integer.
pub(crate) fn parse_u64(s: &str) -> Option<u64> {
    let s = s.trim();
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

/// Iterate `key=value` pairs separated by spaces, where a value may be
/// double-quoted (FortiGate, iptables, auditd). Returns (key, value, offset of
/// key) triples; an unterminated quote runs to the end of the input.
pub(crate) fn kv_pairs(s: &str) -> Vec<(&str, &str, usize)> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(32);
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && b[i] == b' ' {
            i += 1;
        }
        let kstart = i;
        while i < b.len() && b[i] != b'=' && b[i] != b' ' {
            i += 1;
        }
        if i >= b.len() || b[i] == b' ' {
            // A bare word (iptables flags such as `SYN`, `DF`): keep as key
            // with an empty value.
            if i > kstart {
                out.push((&s[kstart..i], "", kstart));
            }
            continue;
        }
        let key = &s[kstart..i];
        i += 1; // '='
        if i < b.len() && b[i] == b'"' {
            let vstart = i + 1;
            let vend = memchr::memchr(b'"', &b[vstart..]).map_or(b.len(), |e| vstart + e);
            out.push((key, &s[vstart..vend], kstart));
            i = (vend + 1).min(b.len());
        } else {
            let vstart = i;
            while i < b.len() && b[i] != b' ' {
                i += 1;
            }
            out.push((key, &s[vstart..i], kstart));
        }
    }
    out
}

/// True when a pair from [`kv_pairs`] over `s` was written `key=…` (not a
/// bare word).
pub(crate) fn has_eq(s: &str, p: &(&str, &str, usize)) -> bool {
    s.as_bytes().get(p.2 + p.0.len()) == Some(&b'=')
}

/// Turn key/value pairs into a JSON object of strings (last one wins).
pub(crate) fn kv_map<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Map<String, Value> {
    let mut m = Map::new();
    for (k, v) in pairs {
        if !k.is_empty() {
            m.insert(k.to_string(), Value::String(v.to_string()));
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kv() {
        let p = kv_pairs(r#"a=1 b="two words" SYN c= d"#);
        let keys: Vec<_> = p.iter().map(|x| (x.0, x.1)).collect();
        assert_eq!(
            keys,
            vec![
                ("a", "1"),
                ("b", "two words"),
                ("SYN", ""),
                ("c", ""),
                ("d", "")
            ]
        );
        let p = kv_pairs(r#"x="unterminated"#);
        assert_eq!(p[0].1, "unterminated");
    }

    #[test]
    fn ips_and_ports() {
        assert!(ip("[2001:db8::1]").is_some());
        assert!(ip("-").is_none());
        assert_eq!(port("0"), None);
        assert_eq!(port("443"), Some(443));
        assert_eq!(basename("C:\\Windows\\cmd.exe"), "cmd.exe");
        assert_eq!(parse_u64("0x1a"), Some(26));
    }
}
