//! NVD CVE API 2.0: records (`vulnerabilities[].cve`), their configurations, and
//! [`NvdClient`], which pages through `lastModStartDate`/`lastModEndDate` windows of at
//! most 120 days (the API's limit) with at most 2,000 records a page, waiting between
//! requests to honour NVD's rate limit.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{IntelError, Result};

/// One CVE as the API serves it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CveRecord {
    pub id: String,
    #[serde(default)]
    pub source_identifier: Option<String>,
    #[serde(default)]
    pub published: Option<String>,
    #[serde(default)]
    pub last_modified: Option<String>,
    #[serde(default)]
    pub vuln_status: Option<String>,
    #[serde(default)]
    pub descriptions: Vec<LangString>,
    #[serde(default)]
    pub metrics: Value,
    #[serde(default)]
    pub cisa_exploit_add: Option<String>,
    #[serde(default)]
    pub cisa_action_due: Option<String>,
    #[serde(default)]
    pub configurations: Vec<Configuration>,
    #[serde(default)]
    pub references: Vec<Value>,
    #[serde(default)]
    pub weaknesses: Vec<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LangString {
    pub lang: String,
    pub value: String,
}

/// A configuration: nodes combined with `operator` (default OR).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Configuration {
    #[serde(default)]
    pub operator: Option<String>,
    #[serde(default)]
    pub negate: bool,
    #[serde(default)]
    pub nodes: Vec<Node>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Node {
    #[serde(default)]
    pub operator: Option<String>,
    #[serde(default)]
    pub negate: bool,
    #[serde(default)]
    pub cpe_match: Vec<CpeMatch>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CpeMatch {
    pub vulnerable: bool,
    pub criteria: String,
    #[serde(default)]
    pub match_criteria_id: Option<String>,
    #[serde(default)]
    pub version_start_including: Option<String>,
    #[serde(default)]
    pub version_start_excluding: Option<String>,
    #[serde(default)]
    pub version_end_including: Option<String>,
    #[serde(default)]
    pub version_end_excluding: Option<String>,
}

/// The API response envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CveResponse {
    pub results_per_page: u64,
    pub start_index: u64,
    pub total_results: u64,
    #[serde(default)]
    pub format: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub timestamp: Option<String>,
    #[serde(default)]
    pub vulnerabilities: Vec<CveItem>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CveItem {
    pub cve: CveRecord,
}

impl CveRecord {
    /// Parses one `cve` object.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        serde_json::from_slice(bytes).map_err(|e| IntelError::json("NVD CVE record", e))
    }

    /// The English description.
    pub fn description(&self) -> Option<&str> {
        self.descriptions
            .iter()
            .find(|d| d.lang == "en")
            .map(|d| d.value.as_str())
    }

    /// The CVSS v3.x (else v2) base score, preferring NVD's own (Primary) assessment.
    pub fn base_score(&self) -> Option<f64> {
        for key in ["cvssMetricV31", "cvssMetricV30", "cvssMetricV2"] {
            let Some(arr) = self.metrics.get(key).and_then(Value::as_array) else {
                continue;
            };
            let pick = arr
                .iter()
                .find(|m| m.get("type").and_then(Value::as_str) == Some("Primary"))
                .or_else(|| arr.first());
            if let Some(s) = pick
                .and_then(|m| m.pointer("/cvssData/baseScore"))
                .and_then(Value::as_f64)
            {
                return Some(s);
            }
        }
        None
    }
}

impl CveResponse {
    /// Parses an API response page.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        serde_json::from_slice(bytes).map_err(|e| IntelError::json("NVD CVE API 2.0 response", e))
    }
}

/// The largest page the API serves.
pub const MAX_PAGE: u64 = 2000;
/// The longest `lastMod` window the API accepts.
pub const MAX_WINDOW_DAYS: i64 = 120;

/// Client settings.
#[derive(Debug, Clone)]
pub struct NvdClientConfig {
    /// `https://services.nvd.nist.gov/rest/json/cves/2.0` in production.
    pub base_url: String,
    pub api_key: Option<String>,
    /// Records per page, at most [`MAX_PAGE`].
    pub page_size: u64,
    /// Minimum gap between requests: NVD allows 5 requests / 30 s without a key
    /// (6 s) and 50 / 30 s with one (0.6 s).
    pub min_interval: Duration,
    pub timeout: Duration,
}

impl Default for NvdClientConfig {
    fn default() -> Self {
        NvdClientConfig {
            base_url: "https://services.nvd.nist.gov/rest/json/cves/2.0".into(),
            api_key: None,
            page_size: MAX_PAGE,
            min_interval: Duration::from_secs(6),
            timeout: Duration::from_secs(60),
        }
    }
}

/// A paging, rate-limited NVD client.
pub struct NvdClient {
    cfg: NvdClientConfig,
    http: reqwest::Client,
    last_request: Option<tokio::time::Instant>,
    /// Requests made (for the connector's counters and tests).
    pub requests: u64,
}

/// Splits `[start, end]` into windows of at most 120 days.
pub fn windows(start: DateTime<Utc>, end: DateTime<Utc>) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let mut out = Vec::new();
    let mut s = start;
    let step = chrono::Duration::days(MAX_WINDOW_DAYS);
    while s < end {
        let e = (s + step).min(end);
        out.push((s, e));
        s = e;
    }
    out
}

impl NvdClient {
    pub fn new(cfg: NvdClientConfig) -> Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .user_agent("ward-intel")
            .build()
            .map_err(|e| IntelError::Http {
                url: cfg.base_url.clone(),
                message: e.to_string(),
            })?;
        Ok(NvdClient {
            cfg,
            http,
            last_request: None,
            requests: 0,
        })
    }

    async fn pace(&mut self) {
        if let Some(t) = self.last_request {
            let next = t + self.cfg.min_interval;
            tokio::time::sleep_until(next).await;
        }
        self.last_request = Some(tokio::time::Instant::now());
    }

    /// Fetches one page.
    pub async fn page(
        &mut self,
        params: &[(&str, String)],
        start_index: u64,
    ) -> Result<CveResponse> {
        self.pace().await;
        self.requests += 1;
        let mut q: Vec<(&str, String)> = params.to_vec();
        q.push((
            "resultsPerPage",
            self.cfg.page_size.clamp(1, MAX_PAGE).to_string(),
        ));
        q.push(("startIndex", start_index.to_string()));
        let mut req = self.http.get(&self.cfg.base_url).query(&q);
        if let Some(k) = &self.cfg.api_key {
            req = req.header("apiKey", k);
        }
        let url = self.cfg.base_url.clone();
        let resp = req.send().await.map_err(|e| IntelError::Http {
            url: url.clone(),
            message: e.to_string(),
        })?;
        let status = resp.status();
        let body = crate::http::read_body(resp, &url, crate::http::DEFAULT_MAX_BODY_BYTES).await?;
        if !status.is_success() {
            return Err(IntelError::Status {
                url,
                status: status.as_u16(),
                body: String::from_utf8_lossy(&body[..body.len().min(500)]).into_owned(),
            });
        }
        CveResponse::parse(&body)
    }

    /// Every CVE modified in `[start, end]`, window by window, page by page. A record
    /// seen in two windows is returned once (the later copy).
    pub async fn modified_between(
        &mut self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<CveRecord>> {
        let mut out: Vec<CveRecord> = Vec::new();
        let mut pos = std::collections::HashMap::new();
        let fmt = |d: DateTime<Utc>| d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        for (s, e) in windows(start, end) {
            let params = [("lastModStartDate", fmt(s)), ("lastModEndDate", fmt(e))];
            let mut index = 0;
            loop {
                let page = self.page(&params, index).await?;
                let n = page.vulnerabilities.len() as u64;
                for item in page.vulnerabilities {
                    match pos.get(&item.cve.id) {
                        Some(&i) => out[i] = item.cve,
                        None => {
                            pos.insert(item.cve.id.clone(), out.len());
                            out.push(item.cve);
                        }
                    }
                }
                index += n;
                if n == 0 || index >= page.total_results {
                    break;
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(name: &str) -> Vec<u8> {
        std::fs::read(crate::test_support::shared_data().join("nvd").join(name)).unwrap()
    }

    #[test]
    fn real_records_and_envelope() {
        let eb = CveRecord::parse(&load("CVE-2017-0144.json")).unwrap();
        assert_eq!(eb.id, "CVE-2017-0144");
        assert_eq!(eb.configurations.len(), 9);
        assert_eq!(eb.configurations[0].operator.as_deref(), Some("AND"));
        assert!(eb.configurations[0].nodes[0].cpe_match[0]
            .criteria
            .contains("server_message_block:1.0"));
        assert_eq!(eb.base_score(), Some(8.8));
        assert!(eb.description().unwrap().contains("SMBv1"));
        let cb = CveRecord::parse(&load("CVE-2023-4966.json")).unwrap();
        assert_eq!(
            cb.base_score(),
            Some(7.5),
            "NVD Primary score, not the CNA's 9.4"
        );
        let env = CveResponse::parse(&load("nvd-api2-envelope-subset.json")).unwrap();
        assert_eq!(env.total_results, 3);
        assert_eq!(env.vulnerabilities.len(), 3);
        assert!(CveResponse::parse(b"{}").is_err());
    }

    #[test]
    fn windows_are_at_most_120_days() {
        let s = DateTime::parse_from_rfc3339("2025-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let e = DateTime::parse_from_rfc3339("2025-12-31T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let w = windows(s, e);
        assert_eq!(w.len(), 4);
        assert!(w
            .iter()
            .all(|(a, b)| *b - *a <= chrono::Duration::days(120)));
        assert_eq!(w[0].0, s);
        assert_eq!(w[3].1, e);
        assert!(w.windows(2).all(|p| p[0].1 == p[1].0));
    }
}
