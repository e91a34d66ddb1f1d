//! Value matchers: Sigma wildcards and escaping, value modifiers, and the
//! compiled form a field value is tested against.
//!
//! Escaping follows the Sigma specification: `*` matches any run of
//! characters, `?` one character; `\*`, `\?` and `\\` are a literal `*`, `?`
//! and `\`; a backslash before any other character is a plain backslash.
//! Matching is case-insensitive unless the `cased` modifier is used
//! (regular expressions are case-sensitive unless they carry the `i` flag).

use std::net::IpAddr;

use base64::Engine as _;
use memchr::memmem;

/// One token of a Sigma wildcard string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GTok {
    Lit(String),
    Star,
    One,
}

/// Split a Sigma string into literal runs and wildcards, applying escapes.
pub fn tokenize(s: &str) -> Vec<GTok> {
    let mut out: Vec<GTok> = Vec::new();
    let mut lit = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.peek() {
                Some(&n @ ('*' | '?' | '\\')) => {
                    lit.push(n);
                    chars.next();
                }
                _ => lit.push('\\'),
            },
            '*' | '?' => {
                if !lit.is_empty() {
                    out.push(GTok::Lit(std::mem::take(&mut lit)));
                }
                let t = if c == '*' { GTok::Star } else { GTok::One };
                // Collapse runs of `*`: `**` is the same as `*`.
                if !(t == GTok::Star && out.last() == Some(&GTok::Star)) {
                    out.push(t);
                }
            }
            _ => lit.push(c),
        }
    }
    if !lit.is_empty() {
        out.push(GTok::Lit(lit));
    }
    out
}

/// The literal text of a token list with wildcards dropped (for encodings).
pub fn literal_text(toks: &[GTok]) -> String {
    let mut s = String::new();
    for t in toks {
        match t {
            GTok::Lit(l) => s.push_str(l),
            GTok::Star => s.push('*'),
            GTok::One => s.push('?'),
        }
    }
    s
}

/// Does `name` match a pattern where only `*` is special (identifiers).
pub fn simple_glob(pat: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0usize, 0usize);
    let (mut star, mut mark) = (None::<usize>, 0usize);
    while n < name.len() {
        if p < pat.len() && pat[p] == b'*' {
            star = Some(p);
            p += 1;
            mark = n;
        } else if p < pat.len() && pat[p] == name[n] {
            p += 1;
            n += 1;
        } else if let Some(s) = star {
            p = s + 1;
            mark += 1;
            n = mark;
        } else {
            return false;
        }
    }
    while p < pat.len() && pat[p] == b'*' {
        p += 1;
    }
    p == pat.len()
}

/// A compiled string test.
#[derive(Debug, Clone)]
pub enum StrTest {
    Exact(String),
    Prefix(String),
    Suffix(String),
    Contains(String, Box<memmem::Finder<'static>>),
    /// `*` alone: any value.
    Any,
    /// `prefix*m1*m2*…*suffix` (only `*` wildcards): prefix and suffix
    /// anchored (empty = none), middle literals found in order.
    Segments {
        prefix: String,
        middle: Vec<(String, memmem::Finder<'static>)>,
        suffix: String,
    },
    /// General wildcard pattern (with `?`), compiled to an anchored regex.
    Glob(regex::Regex),
    Regex(regex::Regex),
    Fancy(Box<fancy_regex::Regex>),
}

impl StrTest {
    /// Build from wildcard tokens; literals must already be case-folded when
    /// the test is case-insensitive.
    pub fn from_tokens(toks: &[GTok]) -> Result<StrTest, String> {
        use GTok::*;
        Ok(match toks {
            [] => StrTest::Exact(String::new()),
            [Lit(l)] => StrTest::Exact(l.clone()),
            [Star] => StrTest::Any,
            [Star, Lit(l)] => StrTest::Suffix(l.clone()),
            [Lit(l), Star] => StrTest::Prefix(l.clone()),
            [Star, Lit(l), Star] => StrTest::Contains(
                l.clone(),
                Box::new(memmem::Finder::new(l.as_bytes()).into_owned()),
            ),
            _ if !toks.contains(&One) => {
                let mut it = toks.iter().peekable();
                let mut prefix = String::new();
                if let Some(Lit(l)) = it.peek() {
                    prefix = l.clone();
                    it.next();
                }
                let rest: Vec<&GTok> = it.collect();
                let mut suffix = String::new();
                let mut body = &rest[..];
                if let Some((Lit(l), head)) = rest.split_last().map(|(a, b)| (*a, b)) {
                    suffix = l.clone();
                    body = head;
                }
                let middle = body
                    .iter()
                    .filter_map(|t| match t {
                        Lit(l) => Some((l.clone(), memmem::Finder::new(l.as_bytes()).into_owned())),
                        _ => None,
                    })
                    .collect();
                StrTest::Segments {
                    prefix,
                    middle,
                    suffix,
                }
            }
            _ => {
                let mut re = String::from("(?s)^");
                for t in toks {
                    match t {
                        Lit(l) => re.push_str(&regex::escape(l)),
                        Star => re.push_str(".*"),
                        One => re.push('.'),
                    }
                }
                re.push('$');
                StrTest::Glob(regex::Regex::new(&re).map_err(|e| e.to_string())?)
            }
        })
    }

    pub fn is_match(&self, v: &str) -> bool {
        match self {
            StrTest::Exact(l) => v == l,
            StrTest::Prefix(l) => v.starts_with(l.as_str()),
            StrTest::Suffix(l) => v.ends_with(l.as_str()),
            StrTest::Contains(_, f) => f.find(v.as_bytes()).is_some(),
            StrTest::Any => true,
            StrTest::Segments {
                prefix,
                middle,
                suffix,
            } => {
                if v.len() < prefix.len() + suffix.len()
                    || !v.starts_with(prefix.as_str())
                    || !v.ends_with(suffix.as_str())
                {
                    return false;
                }
                // Leftmost-first greedy placement is exact for `*`-only
                // patterns: any match can be shifted to the leftmost one.
                let mut hay = &v.as_bytes()[prefix.len()..v.len() - suffix.len()];
                for (_, f) in middle {
                    match f.find(hay) {
                        Some(i) => hay = &hay[i + f.needle().len()..],
                        None => return false,
                    }
                }
                true
            }
            StrTest::Glob(r) | StrTest::Regex(r) => r.is_match(v),
            // A regex that exceeds its backtrack limit does not match; the
            // engine counts nothing here because it cannot know which event.
            StrTest::Fancy(r) => r.is_match(v).unwrap_or(false),
        }
    }

    /// The literal the value must contain for this test to match, if any
    /// (used by the rule index).
    pub fn required_literal(&self) -> Option<&str> {
        match self {
            StrTest::Exact(l)
            | StrTest::Prefix(l)
            | StrTest::Suffix(l)
            | StrTest::Contains(l, _) => Some(l),
            StrTest::Segments {
                prefix,
                middle,
                suffix,
            } => std::iter::once(prefix)
                .chain(middle.iter().map(|(l, _)| l))
                .chain(std::iter::once(suffix))
                .max_by_key(|l| l.len())
                .map(String::as_str),
            _ => None,
        }
    }
}

/// Comparison for the `lt`, `lte`, `gt`, `gte` modifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Lt,
    Lte,
    Gt,
    Gte,
}

/// Parts of a timestamp for the `minute` … `year` modifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimePart {
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Year,
}

/// An IP network for the `cidr` modifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Option<Cidr> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a.trim().parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) => p.trim().parse::<u8>().ok()?,
            None => max,
        };
        if prefix > max {
            return None;
        }
        Some(Cidr { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u32::MAX << (32 - self.prefix as u32)
                };
                (u32::from(n) & mask) == (u32::from(a) & mask)
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u128::MAX << (128 - self.prefix as u32)
                };
                (u128::from(n) & mask) == (u128::from(a) & mask)
            }
            // IPv4-mapped IPv6 addresses match IPv4 networks.
            (IpAddr::V4(_), IpAddr::V6(a)) => a
                .to_ipv4_mapped()
                .is_some_and(|v4| self.contains(IpAddr::V4(v4))),
            _ => false,
        }
    }
}

/// A test applied to one field value.
#[derive(Debug, Clone)]
pub enum ValueTest {
    /// String test; `cased == false` means it runs on the lower-cased value.
    Str {
        test: StrTest,
        cased: bool,
    },
    Num(CmpOp, f64),
    Cidr(Cidr),
    Time(TimePart, i64),
}

impl ValueTest {
    /// `orig` is the value as text, `lower` its lower-cased form.
    pub fn is_match(&self, orig: &str, lower: &str) -> bool {
        match self {
            ValueTest::Str { test, cased } => test.is_match(if *cased { orig } else { lower }),
            ValueTest::Num(op, n) => match orig.trim().parse::<f64>() {
                Ok(v) => match op {
                    CmpOp::Lt => v < *n,
                    CmpOp::Lte => v <= *n,
                    CmpOp::Gt => v > *n,
                    CmpOp::Gte => v >= *n,
                },
                Err(_) => false,
            },
            ValueTest::Cidr(c) => orig.trim().parse::<IpAddr>().is_ok_and(|ip| c.contains(ip)),
            ValueTest::Time(part, want) => {
                crate::timeparts::extract(orig, *part).is_some_and(|v| v == *want)
            }
        }
    }
}

// ---- encodings -----------------------------------------------------------

/// The `windash` variants of a string: each `-` or `/` that starts a
/// command-line flag (not preceded by a word character, followed by one) is
/// replaced by every one of `-`, `/`, en dash, em dash and horizontal bar.
pub fn windash_variants(s: &str) -> Vec<String> {
    const DASHES: [char; 5] = ['-', '/', '\u{2013}', '\u{2014}', '\u{2015}'];
    let chars: Vec<char> = s.chars().collect();
    let mut positions = Vec::new();
    for (i, &c) in chars.iter().enumerate() {
        if c == '-' || c == '/' {
            let prev_word = i > 0 && is_word(chars[i - 1]);
            let next_word = chars.get(i + 1).is_some_and(|&n| is_word(n));
            if !prev_word && next_word {
                positions.push(i);
            }
        }
    }
    // Bound the blow-up: 5^4 = 625 variants at most; beyond that only the
    // first four flag positions are permuted.
    positions.truncate(4);
    let mut out = vec![chars.clone()];
    for &p in &positions {
        let mut next = Vec::with_capacity(out.len() * DASHES.len());
        for v in &out {
            for d in DASHES {
                let mut v2 = v.clone();
                v2[p] = d;
                next.push(v2);
            }
        }
        out = next;
    }
    out.into_iter().map(|v| v.into_iter().collect()).collect()
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

pub fn utf16le(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(|u| u.to_le_bytes()).collect()
}

pub fn utf16be(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(|u| u.to_be_bytes()).collect()
}

/// `utf16` modifier: UTF-16 with a little-endian byte-order mark.
pub fn utf16_bom(s: &str) -> Vec<u8> {
    let mut v = vec![0xFF, 0xFE];
    v.extend(utf16le(s));
    v
}

pub fn base64_plain(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// The three `base64offset` variants: the value encoded at byte offsets
/// 0, 1 and 2 of a longer stream, with the characters that depend on the
/// unknown neighbouring bytes cut off.
pub fn base64_offsets(b: &[u8]) -> Vec<String> {
    const START: [usize; 3] = [0, 2, 3];
    const END: [usize; 3] = [0, 3, 2];
    let mut out = Vec::with_capacity(3);
    for i in 0..3 {
        let mut buf = vec![b' '; i];
        buf.extend_from_slice(b);
        let enc = base64_plain(&buf);
        let trim_end = END[(b.len() + i) % 3];
        let end = enc.len().saturating_sub(trim_end);
        let start = START[i].min(end);
        out.push(enc[start..end].to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pat: &str, v: &str) -> bool {
        StrTest::from_tokens(&tokenize(pat)).unwrap().is_match(v)
    }

    #[test]
    fn spec_escaping_examples() {
        // Plain backslash, single or doubled.
        assert!(m(r"C:\Windows\x", r"C:\Windows\x"));
        assert!(m(r"C:\\Windows", r"C:\Windows"));
        // Escaped wildcard is literal.
        assert!(m(r"a\*b", "a*b"));
        assert!(!m(r"a\*b", "axxb"));
        assert!(m(r"a\?b", "a?b"));
        assert!(!m(r"a\?b", "axb"));
        // Backslash followed by wildcard: \\* = literal backslash then wildcard.
        assert!(m(r"dir\\*", r"dir\anything"));
        assert!(!m(r"dir\\*", "dir"));
        // Literal backslash followed by literal star: \\\*
        assert!(m(r"dir\\\*", r"dir\*"));
        assert!(!m(r"dir\\\*", r"dir\x"));
        // UNC paths are written with four backslashes.
        assert!(m(r"\\\\server*", r"\\server\share"));
    }

    #[test]
    fn star_only_segments() {
        assert!(matches!(
            StrTest::from_tokens(&tokenize("a*b*c")).unwrap(),
            StrTest::Segments { .. }
        ));
        assert!(m(r"*\temp\\*.exe", r"c:\temp\x.exe"));
        assert!(!m(r"*\temp\\*.exe", r"c:\temp\x.dll"));
        assert!(!m("ab*ba", "aba"));
        assert!(m("ab*ba", "abba"));
        assert!(m("*a*a*", "xaya"));
        assert!(!m("*a*a*", "xay"));
        assert!(m("pre*mid*", "pre-mid"));
        assert!(!m("pre*mid*", "premi"));
    }

    #[test]
    fn wildcards() {
        assert!(m("*.exe", "a.exe"));
        assert!(m("a?c", "abc"));
        assert!(!m("a?c", "ac"));
        assert!(m("a*c*e", "abcde"));
        assert!(m("*", ""));
        assert!(m("é?", "éx"));
        assert!(m("a?", "aé"));
    }

    #[test]
    fn windash() {
        let v = windash_variants("-enc x");
        assert_eq!(v.len(), 5);
        assert!(v.contains(&"/enc x".to_string()));
        assert!(v.contains(&"\u{2013}enc x".to_string()));
        // A dash inside a word is not a flag.
        assert_eq!(windash_variants("a-b").len(), 1);
    }

    #[test]
    fn base64offset_matches_pysigma() {
        // Values published in the Sigma specification for "/bin/bash".
        let v = base64_offsets(b"/bin/bash");
        assert_eq!(v, vec!["L2Jpbi9iYXNo", "9iaW4vYmFza", "vYmluL2Jhc2"]);
        assert_eq!(base64_plain(&utf16le("ab")), "YQBiAA==");
    }

    #[test]
    fn cidr() {
        let c = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(c.contains("10.2.3.4".parse().unwrap()));
        assert!(!c.contains("11.2.3.4".parse().unwrap()));
        assert!(c.contains("::ffff:10.1.1.1".parse().unwrap()));
        let c6 = Cidr::parse("fe80::/10").unwrap();
        assert!(c6.contains("fe80::1".parse().unwrap()));
        assert!(Cidr::parse("10.0.0.0/33").is_none());
        assert!(Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains("1.1.1.1".parse().unwrap()));
    }

    #[test]
    fn simple_glob_identifiers() {
        assert!(simple_glob(b"sel*", b"selection"));
        assert!(simple_glob(b"*", b""));
        assert!(!simple_glob(b"sel*", b"filter"));
        assert!(simple_glob(b"a*b*c", b"aXbYc"));
    }
}
