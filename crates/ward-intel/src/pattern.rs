//! The subset of STIX patterning that names values to match:
//! `[ipv4-addr:value = '…']`, `ipv6-addr`, `domain-name`, `url`, `email-addr`,
//! `email-message:from_ref.value`, `file:hashes.'SHA-256'` (and MD5, SHA-1), with `=`,
//! `IN (…)` and `ISSUBSET '…/n'` (CIDR), combined with `OR` inside and between
//! observation brackets. Anything else (AND, FOLLOWEDBY, qualifiers, other
//! operators) is rejected with the offset where the unsupported part starts, so an
//! indicator ward cannot honour is reported, never silently widened.

use crate::error::{IntelError, Result};
use crate::observable::{Observable, ObservableKind};

/// Parses a STIX pattern of the supported subset into the observables any of which
/// makes it match.
pub fn parse_pattern(pattern: &str) -> Result<Vec<Observable>> {
    let mut p = Parser {
        s: pattern.as_bytes(),
        src: pattern,
        pos: 0,
    };
    let mut out = Vec::new();
    p.ws();
    loop {
        p.expect(b'[')?;
        loop {
            p.comparison(&mut out)?;
            p.ws();
            if p.keyword("OR") {
                continue;
            }
            if p.peek_keyword("AND") {
                return Err(p.err("AND is outside the matched subset (only OR is supported)"));
            }
            break;
        }
        p.expect(b']')?;
        p.ws();
        if p.pos >= p.s.len() {
            break;
        }
        if p.keyword("OR") {
            p.ws();
            continue;
        }
        return Err(p.err(
            "only OR may join observations (AND, FOLLOWEDBY and qualifiers are unsupported)",
        ));
    }
    if out.is_empty() {
        return Err(p.err("pattern names no value"));
    }
    Ok(out)
}

struct Parser<'a> {
    s: &'a [u8],
    src: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn err(&self, m: impl Into<String>) -> IntelError {
        IntelError::Pattern {
            offset: self.pos,
            message: m.into(),
        }
    }

    fn ws(&mut self) {
        while self.pos < self.s.len() && self.s[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }

    fn expect(&mut self, c: u8) -> Result<()> {
        self.ws();
        if self.s.get(self.pos) == Some(&c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.err(format!("expected '{}'", c as char)))
        }
    }

    fn peek_keyword(&self, k: &str) -> bool {
        let end = self.pos + k.len();
        end <= self.s.len()
            && self.s[self.pos..end].eq_ignore_ascii_case(k.as_bytes())
            && self.s.get(end).is_none_or(|c| !c.is_ascii_alphanumeric())
    }

    fn keyword(&mut self, k: &str) -> bool {
        self.ws();
        if self.peek_keyword(k) {
            self.pos += k.len();
            true
        } else {
            false
        }
    }

    /// An object path: `type:prop(.prop|.'quoted')*`.
    fn path(&mut self) -> Result<String> {
        self.ws();
        let start = self.pos;
        let mut out = String::new();
        while self.pos < self.s.len() {
            let c = self.s[self.pos];
            if c.is_ascii_alphanumeric() || b"-_:.".contains(&c) {
                out.push(c as char);
                self.pos += 1;
            } else if c == b'\'' && out.ends_with('.') {
                let q = self.string()?;
                out.push('\'');
                out.push_str(&q);
                out.push('\'');
            } else {
                break;
            }
        }
        if out.is_empty() {
            self.pos = start;
            return Err(self.err("expected an object path"));
        }
        Ok(out)
    }

    /// A single-quoted string with `\'` and `\\` escapes.
    fn string(&mut self) -> Result<String> {
        self.ws();
        if self.s.get(self.pos) != Some(&b'\'') {
            return Err(self.err("expected a quoted string"));
        }
        self.pos += 1;
        let mut out = Vec::new();
        while self.pos < self.s.len() {
            match self.s[self.pos] {
                b'\\' => {
                    match self.s.get(self.pos + 1) {
                        Some(&c @ (b'\'' | b'\\')) => out.push(c),
                        _ => return Err(self.err("bad escape (only \\' and \\\\)")),
                    }
                    self.pos += 2;
                }
                b'\'' => {
                    self.pos += 1;
                    return String::from_utf8(out).map_err(|_| self.err("string is not UTF-8"));
                }
                c => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
        Err(self.err("unterminated string"))
    }

    fn comparison(&mut self, out: &mut Vec<Observable>) -> Result<()> {
        self.ws();
        let path_at = self.pos;
        let path = self.path()?;
        let kind = path_kind(&path).ok_or_else(|| IntelError::Pattern {
            offset: path_at,
            message: format!("object path {path:?} is outside the matched subset"),
        })?;
        self.ws();
        let value_at;
        if self.s.get(self.pos) == Some(&b'=') {
            self.pos += 1;
            self.ws();
            value_at = self.pos;
            let v = self.string()?;
            out.push(value(kind, &v, value_at)?);
        } else if self.keyword("IN") {
            self.expect(b'(')?;
            loop {
                self.ws();
                let at = self.pos;
                let v = self.string()?;
                out.push(value(kind, &v, at)?);
                self.ws();
                if self.s.get(self.pos) == Some(&b',') {
                    self.pos += 1;
                    continue;
                }
                break;
            }
            self.expect(b')')?;
        } else if self.keyword("ISSUBSET") {
            if !matches!(kind, ObservableKind::Ipv4 | ObservableKind::Ipv6) {
                return Err(self.err("ISSUBSET only applies to IP addresses"));
            }
            self.ws();
            value_at = self.pos;
            let v = self.string()?;
            out.push(value(kind, &v, value_at)?);
        } else {
            return Err(self.err("unsupported comparison operator (only =, IN and ISSUBSET)"));
        }
        let _ = self.src;
        Ok(())
    }
}

fn value(kind: ObservableKind, v: &str, at: usize) -> Result<Observable> {
    Observable::parse(kind, v).map_err(|e| IntelError::Pattern {
        offset: at,
        message: e.to_string(),
    })
}

fn path_kind(path: &str) -> Option<ObservableKind> {
    Some(match path {
        "ipv4-addr:value" => ObservableKind::Ipv4,
        "ipv6-addr:value" => ObservableKind::Ipv6,
        "domain-name:value" => ObservableKind::Domain,
        "url:value" => ObservableKind::Url,
        "email-addr:value" | "email-message:from_ref.value" | "email-message:sender_ref.value" => {
            ObservableKind::Email
        }
        "file:hashes.MD5" | "file:hashes.'MD5'" | "file:hashes.md5" => ObservableKind::Md5,
        "file:hashes.'SHA-1'" | "file:hashes.SHA1" | "file:hashes.'SHA1'" | "file:hashes.sha1" => {
            ObservableKind::Sha1
        }
        "file:hashes.'SHA-256'"
        | "file:hashes.SHA256"
        | "file:hashes.'SHA256'"
        | "file:hashes.sha256" => ObservableKind::Sha256,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supported_subset() {
        let v = parse_pattern(
            "[ipv4-addr:value = '198.51.100.1'] OR [domain-name:value = 'Evil.Example']",
        )
        .unwrap();
        assert_eq!(
            v,
            vec![
                Observable::ipv4("198.51.100.1").unwrap(),
                Observable::domain("evil.example").unwrap()
            ]
        );
        let v = parse_pattern("[file:hashes.'SHA-256' = 'aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f' OR file:hashes.MD5 = 'db349b97c37d22f5ea1d1841e3c89eb4']").unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].kind(), ObservableKind::Sha256);
        let v = parse_pattern("[ipv4-addr:value ISSUBSET '10.0.0.0/8']").unwrap();
        assert_eq!(v[0].value(), "10.0.0.0/8");
        let v = parse_pattern("[url:value IN ('http://a.example/x', 'http://b.example/it\\'s')]")
            .unwrap();
        assert_eq!(v[1].value(), "http://b.example/it's");
        let v = parse_pattern("[email-message:from_ref.value = 'ceo@phish.example']").unwrap();
        assert_eq!(v[0], Observable::Email("ceo@phish.example".into()));
        // Round trip of what ward writes.
        for o in &v {
            assert_eq!(
                parse_pattern(&o.to_stix_pattern()).unwrap(),
                vec![o.clone()]
            );
        }
    }

    #[test]
    fn unsupported_is_rejected_with_offset() {
        let e = parse_pattern("[ipv4-addr:value = '1.2.3.4' AND ipv4-addr:value = '1.2.3.5']")
            .unwrap_err();
        assert!(matches!(e, IntelError::Pattern { offset: 29, .. }), "{e}");
        assert!(parse_pattern("[file:name = 'x.exe']").is_err());
        assert!(parse_pattern("[ipv4-addr:value = '1.2.3.4'] WITHIN 5 SECONDS").is_err());
        assert!(parse_pattern("[ipv4-addr:value = 'not-ip']").is_err());
        assert!(parse_pattern("[ipv4-addr:value = '1.2.3.4'").is_err());
        assert!(parse_pattern("").is_err());
    }

    #[test]
    fn medallion_seed_indicator_patterns() {
        // The seed's indicators (a SHA-256 and two URLs) are all in the subset.
        let raw = std::fs::read(
            crate::test_support::shared_data().join("taxii/medallion_default_data.json"),
        )
        .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&raw).unwrap();
        let mut seen = 0;
        for c in v["trustgroup1"]["collections"].as_array().unwrap() {
            for o in c["objects"].as_array().unwrap() {
                if let Some(p) = o["pattern"].as_str() {
                    seen += 1;
                    let obs = parse_pattern(p).unwrap();
                    assert_eq!(obs.len(), 1);
                    assert!(matches!(
                        obs[0].kind(),
                        ObservableKind::Url | ObservableKind::Sha256
                    ));
                }
            }
        }
        assert!(seen > 0);
    }
}
