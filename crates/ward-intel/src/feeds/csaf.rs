//! CSAF 2.0 advisories: the product tree (with CPE / purl identification helpers) and
//! each vulnerability's product status.

use std::collections::HashMap;

use serde_json::Value;

use crate::error::{IntelError, Result};

/// A product named by an advisory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsafProduct {
    pub product_id: String,
    pub name: String,
    pub cpe: Option<String>,
    pub purl: Option<String>,
}

/// One vulnerability and the products it touches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsafVulnerability {
    pub cve: Option<String>,
    pub title: Option<String>,
    /// `known_affected`, `first_affected`, `last_affected`.
    pub affected: Vec<String>,
    /// `fixed`, `first_fixed`.
    pub fixed: Vec<String>,
    pub known_not_affected: Vec<String>,
}

/// A parsed advisory.
#[derive(Debug, Clone, PartialEq)]
pub struct CsafAdvisory {
    pub tracking_id: String,
    pub title: String,
    pub publisher: String,
    pub products: HashMap<String, CsafProduct>,
    pub vulnerabilities: Vec<CsafVulnerability>,
}

fn strs(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

fn product(p: &Value) -> Option<CsafProduct> {
    let id = p.get("product_id")?.as_str()?.to_string();
    let helper = p.get("product_identification_helper");
    Some(CsafProduct {
        product_id: id,
        name: p
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        cpe: helper
            .and_then(|h| h.get("cpe"))
            .and_then(Value::as_str)
            .map(String::from),
        purl: helper
            .and_then(|h| h.get("purl"))
            .and_then(Value::as_str)
            .map(String::from),
    })
}

fn walk(branches: &Value, out: &mut HashMap<String, CsafProduct>, depth: usize) {
    // The schema allows deep trees; 30 levels is far beyond any real advisory and
    // keeps hostile input from exhausting the stack.
    if depth > 30 {
        return;
    }
    for b in branches.as_array().into_iter().flatten() {
        if let Some(p) = b.get("product").and_then(product) {
            out.insert(p.product_id.clone(), p);
        }
        if let Some(sub) = b.get("branches") {
            walk(sub, out, depth + 1);
        }
    }
}

impl CsafAdvisory {
    /// Parses a CSAF 2.0 document.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let v: Value =
            serde_json::from_slice(bytes).map_err(|e| IntelError::json("CSAF advisory", e))?;
        let doc = v
            .get("document")
            .ok_or_else(|| IntelError::field("CSAF advisory", "document", "missing"))?;
        let version = doc
            .get("csaf_version")
            .and_then(Value::as_str)
            .unwrap_or("");
        if !version.starts_with("2.") {
            return Err(IntelError::field(
                "CSAF advisory",
                "document.csaf_version",
                format!("{version:?} is not 2.x"),
            ));
        }
        let tracking_id = doc
            .pointer("/tracking/id")
            .and_then(Value::as_str)
            .ok_or_else(|| IntelError::field("CSAF advisory", "document.tracking.id", "missing"))?
            .to_string();
        let mut products = HashMap::new();
        if let Some(tree) = v.get("product_tree") {
            if let Some(b) = tree.get("branches") {
                walk(b, &mut products, 0);
            }
            for p in tree
                .get("full_product_names")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(p) = product(p) {
                    products.insert(p.product_id.clone(), p);
                }
            }
            for r in tree
                .get("relationships")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(p) = r.get("full_product_name").and_then(product) {
                    // A relationship product ("X installed on Y") inherits X's identifiers.
                    let base = r
                        .get("product_reference")
                        .and_then(Value::as_str)
                        .and_then(|id| products.get(id))
                        .cloned();
                    let p = CsafProduct {
                        cpe: p.cpe.or_else(|| base.as_ref().and_then(|b| b.cpe.clone())),
                        purl: p
                            .purl
                            .or_else(|| base.as_ref().and_then(|b| b.purl.clone())),
                        ..p
                    };
                    products.insert(p.product_id.clone(), p);
                }
            }
        }
        let mut vulnerabilities = Vec::new();
        for vu in v
            .get("vulnerabilities")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let ps = vu.get("product_status");
            let g = |k: &str| strs(ps.and_then(|p| p.get(k)));
            let mut affected = g("known_affected");
            affected.extend(g("first_affected"));
            affected.extend(g("last_affected"));
            let mut fixed = g("fixed");
            fixed.extend(g("first_fixed"));
            affected.sort();
            affected.dedup();
            fixed.sort();
            fixed.dedup();
            vulnerabilities.push(CsafVulnerability {
                cve: vu.get("cve").and_then(Value::as_str).map(String::from),
                title: vu.get("title").and_then(Value::as_str).map(String::from),
                affected,
                fixed,
                known_not_affected: g("known_not_affected"),
            });
        }
        Ok(CsafAdvisory {
            tracking_id,
            title: doc
                .get("title")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            publisher: doc
                .pointer("/publisher/name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            products,
            vulnerabilities,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(name: &str) -> CsafAdvisory {
        CsafAdvisory::parse(
            &std::fs::read(
                crate::test_support::shared_data()
                    .join("csaf/examples")
                    .join(name),
            )
            .unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn real_examples() {
        let bsi = load("bsi-2022-0001.json");
        assert_eq!(bsi.tracking_id, "BSI-2022-0001");
        let v = &bsi.vulnerabilities[0];
        assert_eq!(v.affected.len(), 5);
        assert_eq!(v.fixed, ["CSAFPID-0006"]);
        assert_eq!(
            bsi.products["CSAFPID-0001"].cpe.as_deref(),
            Some("cpe:/a:csaf-tools:cvrf-csaf-converter:1.0.0-alpha")
        );
        let cisco = load("cisco-sa-20180328-smi2.json");
        assert_eq!(
            cisco.vulnerabilities[0].cve.as_deref(),
            Some("CVE-2018-0171")
        );
        assert!(cisco.products.len() > 100, "{}", cisco.products.len());
        assert!(cisco.vulnerabilities[0]
            .affected
            .iter()
            .all(|id| cisco.products.contains_key(id)));
        for f in [
            "2022-evd-uc-01-na-001.json",
            "2022-evd-uc-01-f-001.json",
            "2022-evd-uc-01-a-001.json",
            "rhsa-2021_5217.json",
        ] {
            let a = load(f);
            assert!(!a.vulnerabilities.is_empty(), "{f}");
        }
        assert!(CsafAdvisory::parse(br#"{"document":{"csaf_version":"1.2"}}"#).is_err());
    }
}
