//! CPE 2.3 names (formatted-string binding, and the 2.2 URI binding CSAF still uses)
//! and name matching as NVD applies it.

use std::fmt;

use crate::error::{IntelError, Result};

/// One attribute value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Av {
    /// `*`: any value.
    Any,
    /// `-`: not applicable.
    Na,
    /// A value, unescaped and lower-cased; may hold `*`/`?` wildcards in criteria.
    Val(String),
}

impl Av {
    fn fs(&self) -> String {
        match self {
            Av::Any => "*".into(),
            Av::Na => "-".into(),
            // A literal "*" or "-" value must not read back as ANY / NA.
            Av::Val(s) if s == "*" || s == "-" => format!("\\{s}"),
            Av::Val(s) => {
                let mut o = String::new();
                for c in s.chars() {
                    if !(c.is_ascii_alphanumeric() || matches!(c, '_' | '*' | '?' | '.' | '-')) {
                        o.push('\\');
                    }
                    o.push(c);
                }
                o
            }
        }
    }

    /// The value, if concrete.
    pub fn value(&self) -> Option<&str> {
        match self {
            Av::Val(s) => Some(s),
            _ => None,
        }
    }
}

/// A CPE name: part, vendor, product, version, update, edition, language,
/// sw_edition, target_sw, target_hw, other.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Cpe {
    pub attrs: [Av; 11],
}

impl Cpe {
    pub fn part(&self) -> &Av {
        &self.attrs[0]
    }
    pub fn vendor(&self) -> &Av {
        &self.attrs[1]
    }
    pub fn product(&self) -> &Av {
        &self.attrs[2]
    }
    pub fn version(&self) -> &Av {
        &self.attrs[3]
    }
    pub fn update(&self) -> &Av {
        &self.attrs[4]
    }

    /// Parses a 2.3 formatted string (`cpe:2.3:a:vendor:product:…`) or a 2.2 URI
    /// (`cpe:/a:vendor:product:version`).
    pub fn parse(s: &str) -> Result<Self> {
        let err = |m: &str| IntelError::Cpe {
            cpe: s.chars().take(300).collect(),
            message: m.into(),
        };
        if let Some(rest) = s.strip_prefix("cpe:2.3:") {
            let mut parts = Vec::with_capacity(11);
            let mut cur = String::new();
            let mut raw = String::new();
            let mut chars = rest.chars();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        let n = chars.next().ok_or_else(|| err("dangling backslash"))?;
                        cur.push(n);
                        raw.push('\\');
                        raw.push(n);
                    }
                    ':' => {
                        parts.push(av(&cur, &raw));
                        cur.clear();
                        raw.clear();
                    }
                    c => {
                        cur.push(c);
                        raw.push(c);
                    }
                }
            }
            parts.push(av(&cur, &raw));
            if parts.len() != 11 {
                return Err(err(&format!(
                    "expected 11 attributes after cpe:2.3:, got {}",
                    parts.len()
                )));
            }
            check_part(&parts[0]).map_err(|m| err(&m))?;
            let attrs: [Av; 11] = parts.try_into().map_err(|_| err("attribute count"))?;
            Ok(Cpe { attrs })
        } else if let Some(rest) = s.strip_prefix("cpe:/") {
            let mut attrs: [Av; 11] = std::array::from_fn(|_| Av::Any);
            for (i, p) in rest.split(':').enumerate() {
                if i >= 7 {
                    return Err(err("too many components in CPE 2.2 URI"));
                }
                let dec = percent_decode(p);
                attrs[i] = if p.is_empty() {
                    Av::Any
                } else if p == "-" {
                    Av::Na
                } else {
                    Av::Val(dec.to_ascii_lowercase())
                };
            }
            check_part(&attrs[0]).map_err(|m| err(&m))?;
            Ok(Cpe { attrs })
        } else {
            Err(err("does not start with cpe:2.3: or cpe:/"))
        }
    }

    /// A concrete application/OS name with vendor, product, version.
    pub fn new(part: char, vendor: &str, product: &str, version: &str) -> Self {
        let mut attrs: [Av; 11] = std::array::from_fn(|_| Av::Any);
        attrs[0] = Av::Val(part.to_string());
        attrs[1] = Av::Val(vendor.to_ascii_lowercase());
        attrs[2] = Av::Val(product.to_ascii_lowercase());
        attrs[3] = match version {
            "" | "*" => Av::Any,
            "-" => Av::Na,
            v => Av::Val(v.to_ascii_lowercase()),
        };
        Cpe { attrs }
    }

    /// Does this name (as a criterion, possibly with wildcards and `*`) match `target`
    /// (an asset's name)? Returns whether every attribute matched exactly (no `*` on
    /// the target side was needed) as the second value.
    pub fn matches(&self, target: &Cpe) -> Option<bool> {
        let mut exact = true;
        for (c, t) in self.attrs.iter().zip(&target.attrs) {
            match (c, t) {
                (Av::Any, _) => {}
                // The asset did not say: possible, but not certain.
                (_, Av::Any) => exact = false,
                (Av::Na, Av::Na) => {}
                (Av::Na, _) | (_, Av::Na) => return None,
                (Av::Val(p), Av::Val(v)) => {
                    if !glob(p, v) {
                        return None;
                    }
                }
            }
        }
        Some(exact)
    }
}

fn check_part(a: &Av) -> std::result::Result<(), String> {
    match a {
        Av::Val(p) if matches!(p.as_str(), "a" | "o" | "h") => Ok(()),
        Av::Any => Ok(()),
        other => Err(format!("part must be a, o or h, got {other:?}")),
    }
}

fn av(unescaped: &str, raw: &str) -> Av {
    match raw {
        "*" | "" => Av::Any,
        "-" => Av::Na,
        _ => Av::Val(unescaped.to_ascii_lowercase()),
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 3 <= b.len()
            && b[i + 1].is_ascii_hexdigit()
            && b[i + 2].is_ascii_hexdigit()
        {
            if let Ok(x) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(x);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `*` (any run) and `?` (one character) wildcards, as CPE 2.3 allows in values.
fn glob(p: &str, v: &str) -> bool {
    if !p.contains(['*', '?']) {
        return p == v;
    }
    let (p, v) = (p.as_bytes(), v.as_bytes());
    let (mut i, mut j, mut star, mut mark) = (0, 0, None, 0);
    while j < v.len() {
        if i < p.len() && (p[i] == b'?' || p[i] == v[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == b'*' {
            star = Some(i);
            mark = j;
            i += 1;
        } else if let Some(s) = star {
            i = s + 1;
            mark += 1;
            j = mark;
        } else {
            return false;
        }
    }
    while i < p.len() && p[i] == b'*' {
        i += 1;
    }
    i == p.len()
}

impl fmt::Display for Cpe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cpe:2.3")?;
        for a in &self.attrs {
            write!(f, ":{}", a.fs())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_match() {
        let c = Cpe::parse("cpe:2.3:o:microsoft:windows_7:-:sp1:*:*:*:*:*:*").unwrap();
        assert_eq!(c.product(), &Av::Val("windows_7".into()));
        assert_eq!(c.version(), &Av::Na);
        assert_eq!(
            c.to_string(),
            "cpe:2.3:o:microsoft:windows_7:-:sp1:*:*:*:*:*:*"
        );
        let t = Cpe::parse("cpe:2.3:o:microsoft:windows_7:-:sp1:*:*:*:*:x64:*").unwrap();
        assert_eq!(c.matches(&t), Some(true));
        let rtm = Cpe::parse("cpe:2.3:o:microsoft:windows_7:-:-:*:*:*:*:*:*").unwrap();
        assert_eq!(c.matches(&rtm), None);
        let esc = Cpe::parse(r"cpe:2.3:a:citrix:netscaler\:adc:13.1:*:*:*:fips:*:*:*").unwrap();
        assert_eq!(esc.product().value(), Some("netscaler:adc"));
        assert_eq!(
            esc.to_string(),
            r"cpe:2.3:a:citrix:netscaler\:adc:13.1:*:*:*:fips:*:*:*"
        );
        let uri = Cpe::parse("cpe:/a:csaf-tools:cvrf-csaf-converter:1.0.0-alpha").unwrap();
        assert_eq!(uri.version().value(), Some("1.0.0-alpha"));
        let wild = Cpe::parse("cpe:2.3:a:apache:http_server:2.4.*:*:*:*:*:*:*:*").unwrap();
        assert_eq!(
            wild.matches(&Cpe::new('a', "apache", "http_server", "2.4.49")),
            Some(true)
        );
        assert_eq!(
            wild.matches(&Cpe::new('a', "apache", "http_server", "2.2.1")),
            None
        );
        // An asset that did not say its version or service pack is a partial match.
        assert_eq!(
            c.matches(&Cpe::new('o', "microsoft", "windows_7", "*")),
            Some(false)
        );
        assert!(Cpe::parse("cpe:2.3:x:a:b:c:d:e:f:g:h:i:j").is_err());
        assert!(Cpe::parse("cpe:2.3:a:b").is_err());
        assert!(Cpe::parse("foo").is_err());
        assert!(glob("a*c?e", "abbbcde"));
        let lit = Cpe::parse(r"cpe:2.3:a:v:p:\*:*:*:*:*:*:*:*").unwrap();
        assert_eq!(lit.version(), &Av::Val("*".into()));
        assert_eq!(Cpe::parse(&lit.to_string()).unwrap(), lit);
        assert!(!glob("a*c?e", "abbbce"));
    }
}
