//! MISP warninglists (the JSON format of github.com/MISP/misp-warninglists): lists of
//! known-benign values — special-use address ranges, public resolvers, reserved
//! domains — that must never become indicators. Types `cidr`, `hostname`, `string`,
//! `substring` and `regex` are supported, and `matching_attributes` is honoured.

use std::collections::HashSet;
use std::path::Path;

use regex::RegexSet;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{IntelError, Result};
use crate::index::{DomainRule, IndexEntry, IndicatorIndex, IndicatorMeta};
use crate::observable::{Observable, ObservableKind};

/// One list as MISP writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WarninglistFile {
    pub name: String,
    #[serde(default)]
    pub version: u64,
    #[serde(default)]
    pub description: String,
    #[serde(rename = "type")]
    pub type_: String,
    pub list: Vec<String>,
    #[serde(default)]
    pub matching_attributes: Vec<String>,
}

impl WarninglistFile {
    /// Parses a list's `list.json`.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        serde_json::from_slice(bytes).map_err(|e| IntelError::json("MISP warninglist", e))
    }
}

/// The lists ward ships (built from RFC registries and operators' published addresses).
pub const BUILTIN: [(&str, &str); 4] = [
    (
        "ward-special-use-ipv4",
        include_str!("../warninglists/ward-special-use-ipv4.json"),
    ),
    (
        "ward-special-use-ipv6",
        include_str!("../warninglists/ward-special-use-ipv6.json"),
    ),
    (
        "ward-public-dns-resolvers",
        include_str!("../warninglists/ward-public-dns-resolvers.json"),
    ),
    (
        "ward-special-use-domains",
        include_str!("../warninglists/ward-special-use-domains.json"),
    ),
];

fn misp_types(kind: ObservableKind) -> &'static [&'static str] {
    match kind {
        ObservableKind::Ipv4 | ObservableKind::Ipv6 => &[
            "ip-src",
            "ip-dst",
            "ip-src|port",
            "ip-dst|port",
            "domain|ip",
            "ip",
        ],
        ObservableKind::Domain => &["domain", "hostname", "domain|ip"],
        ObservableKind::Url => &["url", "uri", "link"],
        ObservableKind::Md5 => &["md5", "filename|md5"],
        ObservableKind::Sha1 => &["sha1", "filename|sha1"],
        ObservableKind::Sha256 => &["sha256", "filename|sha256"],
        ObservableKind::Email => &[
            "email",
            "email-src",
            "email-dst",
            "target-email",
            "whois-registrant-email",
        ],
    }
}

enum Matcher {
    Cidr(IndicatorIndex),
    Hostname(IndicatorIndex),
    Strings(HashSet<String>),
    Substrings(Vec<String>),
    Regex(RegexSet),
}

struct Compiled {
    name: String,
    applies_to: Vec<String>,
    matcher: Matcher,
}

/// A compiled set of warninglists.
#[derive(Default)]
pub struct Warninglists {
    lists: Vec<Compiled>,
}

impl Warninglists {
    /// No lists.
    pub fn new() -> Self {
        Self::default()
    }

    /// The lists ward ships.
    pub fn builtin() -> Result<Self> {
        let mut w = Warninglists::new();
        for (_, json) in BUILTIN {
            w.add(WarninglistFile::parse(json.as_bytes())?)?;
        }
        Ok(w)
    }

    /// Loads every `list.json` under a directory tree (e.g. a checkout of
    /// MISP/misp-warninglists, whose lists sit at `lists/<name>/list.json`).
    pub fn load_dir(&mut self, dir: &Path) -> Result<usize> {
        let mut n = 0;
        let rd = std::fs::read_dir(dir).map_err(|e| IntelError::Io {
            path: dir.display().to_string(),
            source: e,
        })?;
        let mut paths: Vec<_> = rd.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        paths.sort();
        for p in paths {
            if p.is_dir() {
                n += self.load_dir(&p)?;
            } else if p.extension().is_some_and(|x| x == "json") {
                let bytes = std::fs::read(&p).map_err(|e| IntelError::Io {
                    path: p.display().to_string(),
                    source: e,
                })?;
                let f = WarninglistFile::parse(&bytes).map_err(|e| IntelError::Field {
                    what: p.display().to_string(),
                    field: "(file)".into(),
                    message: e.to_string(),
                })?;
                self.add(f)?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Adds one list.
    pub fn add(&mut self, f: WarninglistFile) -> Result<()> {
        let meta = IndicatorMeta::new(Uuid::nil(), i64::MIN);
        let matcher = match f.type_.as_str() {
            "cidr" => {
                let mut ix = IndicatorIndex::new();
                for v in &f.list {
                    // MISP's cidr lists also carry bare addresses; skip junk rather than
                    // reject the whole list, as MISP does.
                    if let Ok(o) = Observable::ip(v) {
                        ix.insert(IndexEntry {
                            observable: o,
                            meta,
                        });
                    }
                }
                Matcher::Cidr(ix)
            }
            "hostname" => {
                let mut ix = IndicatorIndex::new();
                for v in &f.list {
                    if let Ok(o) = Observable::domain(v.trim_start_matches('.')) {
                        ix.insert(IndexEntry {
                            observable: o,
                            meta: IndicatorMeta {
                                rule: DomainRule::WithSubdomains,
                                ..meta
                            },
                        });
                    }
                }
                Matcher::Hostname(ix)
            }
            "string" => Matcher::Strings(f.list.iter().map(|s| s.to_ascii_lowercase()).collect()),
            "substring" => {
                Matcher::Substrings(f.list.iter().map(|s| s.to_ascii_lowercase()).collect())
            }
            "regex" => Matcher::Regex(RegexSet::new(&f.list).map_err(|e| IntelError::Regex {
                list: f.name.clone(),
                pattern: f.list.join(" | ").chars().take(200).collect(),
                message: e.to_string(),
            })?),
            other => {
                return Err(IntelError::field(
                    format!("warninglist {:?}", f.name),
                    "type",
                    format!("unsupported type {other:?}"),
                ))
            }
        };
        self.lists.push(Compiled {
            name: f.name,
            applies_to: f.matching_attributes,
            matcher,
        });
        Ok(())
    }

    /// Number of lists.
    pub fn len(&self) -> usize {
        self.lists.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lists.is_empty()
    }

    /// The name of the first list that says this value is benign.
    pub fn check(&self, o: &Observable) -> Option<&str> {
        let kind = o.kind();
        let types = misp_types(kind);
        let value = o.value().to_ascii_lowercase();
        // The host part of URLs and e-mail addresses is checked against hostname lists.
        let host: Option<Observable> = match o {
            Observable::Url(u) => u
                .split_once("://")
                .and_then(|(_, r)| r.split(['/', '?', ':']).next())
                .and_then(|h| {
                    Observable::ip(h)
                        .ok()
                        .or_else(|| Observable::domain(h).ok())
                }),
            Observable::Email(e) => e
                .split_once('@')
                .and_then(|(_, d)| Observable::domain(d).ok()),
            _ => None,
        };
        for l in &self.lists {
            if !l.applies_to.is_empty() && !l.applies_to.iter().any(|a| types.contains(&a.as_str()))
            {
                continue;
            }
            let hit = match &l.matcher {
                Matcher::Cidr(ix) => match (o, &host) {
                    (Observable::Ipv4 { .. } | Observable::Ipv6 { .. }, _) => {
                        ix.check(o, 0).is_some()
                    }
                    (_, Some(h @ (Observable::Ipv4 { .. } | Observable::Ipv6 { .. }))) => {
                        ix.check(h, 0).is_some()
                    }
                    _ => false,
                },
                Matcher::Hostname(ix) => match (o, &host) {
                    (Observable::Domain(_), _) => ix.check(o, 0).is_some(),
                    (_, Some(h @ Observable::Domain(_))) => ix.check(h, 0).is_some(),
                    _ => false,
                },
                Matcher::Strings(s) => s.contains(&value),
                Matcher::Substrings(v) => v.iter().any(|s| value.contains(s.as_str())),
                Matcher::Regex(r) => r.is_match(&value),
            };
            if hit {
                return Some(&l.name);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_lists_stop_benign_values() {
        let w = Warninglists::builtin().unwrap();
        assert_eq!(w.len(), 4);
        let chk = |s: &str| w.check(&Observable::guess(s).unwrap()).map(str::to_string);
        assert_eq!(
            chk("10.20.30.40").as_deref(),
            Some("ward special-use IPv4 ranges (RFC 6890, RFC 1918, RFC 5737)")
        );
        assert!(chk("192.0.2.1").is_some());
        assert!(chk("fe80::1").is_some());
        assert!(chk("8.8.8.8").is_some());
        assert!(chk("2606:4700:4700::1111").is_some());
        assert!(chk("www.example.com").is_some());
        assert!(chk("http://localhost/x").is_some());
        assert!(chk("http://127.0.0.1:8080/x").is_some());
        assert_eq!(chk("81.2.69.142"), None);
        assert_eq!(chk("evil-nhs-login.co.uk"), None);
    }

    #[test]
    fn misp_types_string_substring_regex_and_matching_attributes() {
        let mut w = Warninglists::new();
        let f = |t: &str, list: &[&str], attrs: &[&str]| WarninglistFile {
            name: format!("t-{t}"),
            version: 1,
            description: String::new(),
            type_: t.into(),
            list: list.iter().map(|s| s.to_string()).collect(),
            matching_attributes: attrs.iter().map(|s| s.to_string()).collect(),
        };
        w.add(f("string", &["d41d8cd98f00b204e9800998ecf8427e"], &["md5"]))
            .unwrap();
        w.add(f("substring", &["windowsupdate"], &["hostname", "domain"]))
            .unwrap();
        w.add(f("regex", &[r"^https://[a-z]+\.nhs\.uk/"], &["url"]))
            .unwrap();
        let chk = |s: &str| w.check(&Observable::guess(s).unwrap()).map(str::to_string);
        assert_eq!(
            chk("D41D8CD98F00B204E9800998ECF8427E").as_deref(),
            Some("t-string")
        );
        assert_eq!(
            chk("download.windowsupdate.com").as_deref(),
            Some("t-substring")
        );
        assert_eq!(chk("https://digital.nhs.uk/x").as_deref(), Some("t-regex"));
        assert_eq!(chk("https://digital.nhs.uk.evil.example/x"), None);
        assert!(w.add(f("regex", &["("], &[])).is_err());
        assert!(w.add(f("bogus", &[], &[])).is_err());
    }

    #[test]
    fn live_index_respects_warninglists() {
        let w = Warninglists::builtin().unwrap();
        let live = crate::index::LiveIndex::default();
        let e = |s: &str| IndexEntry {
            observable: Observable::guess(s).unwrap(),
            meta: IndicatorMeta::new(Uuid::from_u128(1), 0),
        };
        let r = live.upsert(vec![e("8.8.8.8"), e("81.2.69.142")], Some(&w));
        assert_eq!(r.added, 1);
        assert_eq!(r.suppressed.len(), 1);
        assert!(live
            .check(&Observable::guess("8.8.8.8").unwrap(), 1)
            .is_none());
        assert!(live
            .check(&Observable::guess("81.2.69.142").unwrap(), 1)
            .is_some());
    }
}
