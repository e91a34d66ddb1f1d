//! The CISA Known Exploited Vulnerabilities catalogue.

use serde::{Deserialize, Serialize};

use crate::error::{IntelError, Result};

/// The catalogue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KevCatalog {
    pub title: String,
    pub catalog_version: String,
    pub date_released: String,
    pub count: u64,
    pub vulnerabilities: Vec<KevEntry>,
}

/// One exploited vulnerability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KevEntry {
    #[serde(rename = "cveID")]
    pub cve_id: String,
    pub vendor_project: String,
    pub product: String,
    pub vulnerability_name: String,
    pub date_added: String,
    pub short_description: String,
    pub required_action: String,
    pub due_date: String,
    /// `Known` or `Unknown`.
    pub known_ransomware_campaign_use: String,
    #[serde(default)]
    pub notes: String,
    #[serde(default)]
    pub cwes: Vec<String>,
}

impl KevEntry {
    /// CISA knows this vulnerability to be used in ransomware campaigns.
    pub fn ransomware_known(&self) -> bool {
        self.known_ransomware_campaign_use
            .eq_ignore_ascii_case("known")
    }
}

impl KevCatalog {
    /// Parses the catalogue JSON; checks `count` against the entries.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let c: KevCatalog =
            serde_json::from_slice(bytes).map_err(|e| IntelError::json("CISA KEV catalogue", e))?;
        if c.count as usize != c.vulnerabilities.len() {
            return Err(IntelError::field(
                "CISA KEV catalogue",
                "count",
                format!(
                    "says {} but there are {} entries",
                    c.count,
                    c.vulnerabilities.len()
                ),
            ));
        }
        Ok(c)
    }

    /// The entry for a CVE.
    pub fn get(&self, cve: &str) -> Option<&KevEntry> {
        self.vulnerabilities
            .iter()
            .find(|e| e.cve_id.eq_ignore_ascii_case(cve))
    }

    /// Entries in `self` that `previous` did not have: what a pull must alert on.
    pub fn added_since<'a>(&'a self, previous: &KevCatalog) -> Vec<&'a KevEntry> {
        let old: std::collections::HashSet<&str> = previous
            .vulnerabilities
            .iter()
            .map(|e| e.cve_id.as_str())
            .collect();
        self.vulnerabilities
            .iter()
            .filter(|e| !old.contains(e.cve_id.as_str()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_catalogue() {
        let raw = std::fs::read(
            crate::test_support::shared_data().join("kev/known_exploited_vulnerabilities.json"),
        )
        .unwrap();
        let c = KevCatalog::parse(&raw).unwrap();
        assert_eq!(c.vulnerabilities.len(), 1404);
        assert_eq!(c.catalog_version, "2025.08.25");
        let eb = c.get("CVE-2017-0144").unwrap();
        assert_eq!(eb.vendor_project, "Microsoft");
        assert!(eb.ransomware_known());
        let n_ransom = c
            .vulnerabilities
            .iter()
            .filter(|e| e.ransomware_known())
            .count();
        assert!(n_ransom > 100 && n_ransom < 1404, "{n_ransom}");
        let mut older = c.clone();
        older
            .vulnerabilities
            .retain(|e| e.cve_id != "CVE-2025-48384");
        let added: Vec<&str> = c
            .added_since(&older)
            .iter()
            .map(|e| e.cve_id.as_str())
            .collect();
        assert_eq!(added, ["CVE-2025-48384"]);
        let mut bad = serde_json::to_value(&c).unwrap();
        bad["count"] = 3.into();
        assert_eq!(
            KevCatalog::parse(bad.to_string().as_bytes())
                .unwrap_err()
                .code(),
            "I007"
        );
    }
}
