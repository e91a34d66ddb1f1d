//! OSV advisories (the schema at ossf.github.io/osv-schema) and range evaluation.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{IntelError, Result};
use crate::estate::version::compare_versions;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OsvRecord {
    pub id: String,
    #[serde(default)]
    pub schema_version: Option<String>,
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub modified: Option<String>,
    #[serde(default)]
    pub published: Option<String>,
    #[serde(default)]
    pub withdrawn: Option<String>,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub details: Option<String>,
    #[serde(default)]
    pub affected: Vec<Affected>,
    #[serde(default)]
    pub references: Vec<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Package {
    pub ecosystem: String,
    pub name: String,
    #[serde(default)]
    pub purl: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Affected {
    #[serde(default)]
    pub package: Option<Package>,
    #[serde(default)]
    pub ranges: Vec<Range>,
    #[serde(default)]
    pub versions: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Range {
    /// `SEMVER`, `ECOSYSTEM` or `GIT`.
    #[serde(rename = "type")]
    pub type_: String,
    #[serde(default)]
    pub repo: Option<String>,
    #[serde(default)]
    pub events: Vec<RangeEvent>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RangeEvent {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introduced: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_affected: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<String>,
}

impl OsvRecord {
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        serde_json::from_slice(bytes).map_err(|e| IntelError::json("OSV record", e))
    }

    /// CVE ids among the id and aliases.
    pub fn cves(&self) -> Vec<&str> {
        std::iter::once(self.id.as_str())
            .chain(self.aliases.iter().map(String::as_str))
            .filter(|a| a.starts_with("CVE-"))
            .collect()
    }
}

impl Range {
    /// Does `version` fall in this range? Evaluated as the OSV spec's algorithm does:
    /// events in version order, `introduced` opens, `fixed`/`last_affected` close.
    /// `GIT` ranges need commit graphs and are never matched here.
    pub fn contains(&self, version: &str) -> bool {
        if self.type_ == "GIT" {
            return false;
        }
        let mut evs: Vec<(&str, u8)> = Vec::new();
        for e in &self.events {
            if let Some(v) = &e.introduced {
                evs.push((v, 0));
            }
            if let Some(v) = &e.fixed {
                evs.push((v, 1));
            }
            if let Some(v) = &e.last_affected {
                evs.push((v, 2));
            }
            if let Some(v) = &e.limit {
                evs.push((v, 3));
            }
        }
        let key = |v: &str| if v == "0" { None } else { Some(v.to_string()) };
        evs.sort_by(|a, b| match (key(a.0), key(b.0)) {
            (None, None) => a.1.cmp(&b.1),
            (None, Some(_)) => std::cmp::Ordering::Less,
            (Some(_), None) => std::cmp::Ordering::Greater,
            (Some(x), Some(y)) => compare_versions(&x, &y).then(a.1.cmp(&b.1)),
        });
        let mut affected = false;
        for (v, kind) in evs {
            let cmp = if v == "0" {
                std::cmp::Ordering::Greater
            } else {
                compare_versions(version, v)
            };
            match kind {
                0 if cmp != std::cmp::Ordering::Less => affected = true,
                1 if cmp != std::cmp::Ordering::Less => affected = false,
                2 if cmp == std::cmp::Ordering::Greater => affected = false,
                3 if cmp != std::cmp::Ordering::Less => return false,
                _ => {}
            }
        }
        affected
    }
}

impl Affected {
    /// Is `version` of this package affected (explicit `versions` list or a range)?
    pub fn affects(&self, version: &str) -> bool {
        self.versions.iter().any(|v| v == version)
            || self.ranges.iter().any(|r| r.contains(version))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(name: &str) -> OsvRecord {
        OsvRecord::parse(
            &std::fs::read(crate::test_support::shared_data().join("osv").join(name)).unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn real_examples_and_ranges() {
        let r = load("full_ranges.osv.json");
        assert_eq!(r.cves(), ["CVE-2018-16115"]);
        let a = &r.affected[0];
        assert_eq!(a.package.as_ref().unwrap().ecosystem, "Maven");
        assert!(a.affects("2.5.0"));
        assert!(a.affects("2.5.15"));
        assert!(!a.affects("2.5.16"));
        assert!(!a.affects("2.4.20"));
        for f in [
            "equals_with_patch.osv.json",
            "equals_no_patch.osv.json",
            "greater_than_equals_no_patch.osv.json",
        ] {
            let r = load(f);
            assert!(!r.affected.is_empty(), "{f}");
        }
        let mixin = load("equals_with_patch.osv.json");
        assert_eq!(mixin.cves(), ["CVE-2019-10746"]);
        // introduced 0 / fixed 1.3.2 / introduced 2.0.0 / fixed 2.0.1: two affected spans.
        let a = &mixin.affected[0];
        assert!(a.affects("1.3.1"));
        assert!(!a.affects("1.3.2"));
        assert!(!a.affects("1.9.0"));
        assert!(a.affects("2.0.0"));
        assert!(!a.affects("2.0.1"));
        let paranoid = load("equals_no_patch.osv.json");
        assert!(paranoid.affected[0].affects("1.1.6"));
        assert!(!paranoid.affected[0].affects("1.1.7"));
    }

    #[test]
    fn last_affected_and_introduced_zero() {
        let r = Range {
            type_: "SEMVER".into(),
            repo: None,
            events: vec![
                RangeEvent {
                    introduced: Some("0".into()),
                    fixed: None,
                    last_affected: None,
                    limit: None,
                },
                RangeEvent {
                    introduced: None,
                    fixed: None,
                    last_affected: Some("1.4.2".into()),
                    limit: None,
                },
            ],
        };
        assert!(r.contains("0.0.1"));
        assert!(r.contains("1.4.2"));
        assert!(!r.contains("1.4.3"));
    }
}
