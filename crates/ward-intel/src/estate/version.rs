//! Version comparison for ranges in NVD configurations and OSV `ECOSYSTEM`/`SEMVER`
//! ranges. Versions split into numeric and alphabetic runs; numbers compare as
//! numbers, missing trailing numbers count as 0 (`4.0` = `4.0.0`), a trailing letter
//! suffix is a later release (`4.0e` > `4.0`) except pre-release words
//! (`1.0.0-alpha` < `1.0.0`). SemVer build metadata (`+…`) is ignored.

use std::cmp::Ordering;

#[derive(Debug, PartialEq, Eq)]
enum Seg<'a> {
    Num(u64, &'a str),
    Alpha(&'a str),
}

fn segments(v: &str) -> Vec<Seg<'_>> {
    let v = v.split('+').next().unwrap_or(v).trim();
    let v = v
        .strip_prefix(['v', 'V'])
        .filter(|r| r.starts_with(|c: char| c.is_ascii_digit()))
        .unwrap_or(v);
    let b = v.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let start = i;
        if b[i].is_ascii_digit() {
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            let s = &v[start..i];
            let t = s.trim_start_matches('0');
            out.push(Seg::Num(
                if t.is_empty() {
                    0
                } else {
                    t.parse().unwrap_or(u64::MAX)
                },
                s,
            ));
        } else if b[i].is_ascii_alphabetic() {
            while i < b.len() && b[i].is_ascii_alphabetic() {
                i += 1;
            }
            out.push(Seg::Alpha(&v[start..i]));
        } else {
            i += 1;
        }
    }
    out
}

const PRE: &[&str] = &[
    "alpha",
    "a",
    "beta",
    "b",
    "rc",
    "pre",
    "preview",
    "dev",
    "snapshot",
    "m",
    "milestone",
    "cr",
];

fn is_pre(s: &str) -> bool {
    PRE.iter().any(|p| p.eq_ignore_ascii_case(s))
}

/// Compares two version strings.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    let (x, y) = (segments(a), segments(b));
    let n = x.len().max(y.len());
    for i in 0..n {
        let o = match (x.get(i), y.get(i)) {
            (Some(Seg::Num(p, _)), Some(Seg::Num(q, _))) => p.cmp(q),
            (Some(Seg::Alpha(p)), Some(Seg::Alpha(q))) => match (is_pre(p), is_pre(q)) {
                (true, false) => Ordering::Less,
                (false, true) => Ordering::Greater,
                _ => p.to_ascii_lowercase().cmp(&q.to_ascii_lowercase()),
            },
            // A number outranks a letter run at the same position (1.0.1 > 1.0a) unless
            // the letters are a pre-release word, which ranks below everything.
            (Some(Seg::Num(..)), Some(Seg::Alpha(_))) => Ordering::Greater,
            (Some(Seg::Alpha(_)), Some(Seg::Num(..))) => Ordering::Less,
            (Some(Seg::Num(p, _)), None) => p.cmp(&0),
            (None, Some(Seg::Num(q, _))) => 0.cmp(q),
            (Some(Seg::Alpha(p)), None) => {
                if is_pre(p) {
                    Ordering::Less
                } else {
                    Ordering::Greater
                }
            }
            (None, Some(Seg::Alpha(q))) => {
                if is_pre(q) {
                    Ordering::Greater
                } else {
                    Ordering::Less
                }
            }
            (None, None) => Ordering::Equal,
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    #[test]
    fn orderings() {
        for (a, b, o) in [
            ("4.0", "4.0e", Less),
            ("4.0.0", "4.0", Equal),
            ("2.5.15", "2.5.16", Less),
            ("2.5.16", "2.5.9", Greater),
            ("1.0.0-alpha", "1.0.0", Less),
            ("1.0.0-rc.1", "1.0.0-beta.2", Greater),
            ("13.1-49.15", "13.1-49.2", Greater),
            ("13.1", "13.1-49.15", Less),
            ("v1.2.3", "1.2.3", Equal),
            ("1.2.3+build5", "1.2.3", Equal),
            ("2.3.2", "2.3.10", Less),
            ("12.2(55)SE", "12.2(55)SE3", Less),
        ] {
            assert_eq!(compare_versions(a, b), o, "{a} vs {b}");
            assert_eq!(compare_versions(b, a), o.reverse(), "{b} vs {a}");
        }
    }
}
