//! A TAXII 2.1 client: discovery, API roots, collections, objects with `added_after`
//! and `next` paging, manifest, add objects and status.

use reqwest::header::{ACCEPT, CONTENT_TYPE};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{
    ApiRoot, Collection, Collections, Discovery, Envelope, Manifest, Status, TAXII_MEDIA_TYPE,
};
use crate::error::{IntelError, Result};

/// Credentials.
#[derive(Debug, Clone)]
pub enum TaxiiAuth {
    None,
    Basic { user: String, password: String },
    Bearer(String),
}

/// Filters for the objects and manifest endpoints.
#[derive(Debug, Clone, Default)]
pub struct ObjectsQuery {
    pub added_after: Option<String>,
    pub limit: Option<u64>,
    pub next: Option<String>,
    /// `match[id]`, `match[type]`, `match[version]`, `match[spec_version]` values.
    pub match_id: Vec<String>,
    pub match_type: Vec<String>,
    pub match_version: Option<String>,
}

impl ObjectsQuery {
    fn params(&self) -> Vec<(String, String)> {
        let mut q = Vec::new();
        if let Some(a) = &self.added_after {
            q.push(("added_after".into(), a.clone()));
        }
        if let Some(l) = self.limit {
            q.push(("limit".into(), l.to_string()));
        }
        if let Some(n) = &self.next {
            q.push(("next".into(), n.clone()));
        }
        if !self.match_id.is_empty() {
            q.push(("match[id]".into(), self.match_id.join(",")));
        }
        if !self.match_type.is_empty() {
            q.push(("match[type]".into(), self.match_type.join(",")));
        }
        if let Some(v) = &self.match_version {
            q.push(("match[version]".into(), v.clone()));
        }
        q
    }
}

/// One page of objects with the date headers.
#[derive(Debug, Clone, Default)]
pub struct ObjectsPage {
    pub envelope: Envelope,
    /// `X-TAXII-Date-Added-First`.
    pub date_added_first: Option<String>,
    /// `X-TAXII-Date-Added-Last`: the cursor for the next poll's `added_after`.
    pub date_added_last: Option<String>,
}

/// The result of polling a collection to the end.
#[derive(Debug, Clone, Default)]
pub struct PollResult {
    pub objects: Vec<Value>,
    pub pages: u64,
    /// The newest `date_added` seen: store it as the connector's cursor.
    pub cursor: Option<String>,
}

/// The client.
#[derive(Clone)]
pub struct TaxiiClient {
    http: reqwest::Client,
    auth: TaxiiAuth,
}

fn join(base: &str, rest: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        rest.trim_start_matches('/')
    )
}

impl TaxiiClient {
    pub fn new(auth: TaxiiAuth) -> Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(60))
            .user_agent("ward-intel")
            .build()
            .map_err(|e| IntelError::Http {
                url: String::new(),
                message: e.to_string(),
            })?;
        Ok(TaxiiClient { http, auth })
    }

    fn auth(&self, r: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.auth {
            TaxiiAuth::None => r,
            TaxiiAuth::Basic { user, password } => r.basic_auth(user, Some(password)),
            TaxiiAuth::Bearer(t) => r.bearer_auth(t),
        }
    }

    async fn send(&self, r: reqwest::RequestBuilder, url: &str) -> Result<reqwest::Response> {
        let resp = self
            .auth(r)
            .header(ACCEPT, TAXII_MEDIA_TYPE)
            .send()
            .await
            .map_err(|e| IntelError::Http {
                url: url.to_string(),
                message: e.to_string(),
            })?;
        if !resp.status().is_success() {
            let status = resp.status().as_u16();
            let body = crate::http::read_body(resp, url, 64 * 1024)
                .await
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            return Err(IntelError::Status {
                url: url.to_string(),
                status,
                body: body.chars().take(500).collect(),
            });
        }
        Ok(resp)
    }

    async fn get_json<T: DeserializeOwned>(
        &self,
        url: &str,
        q: &[(String, String)],
    ) -> Result<(T, reqwest::header::HeaderMap)> {
        let resp = self.send(self.http.get(url).query(q), url).await?;
        let headers = resp.headers().clone();
        let bytes = crate::http::read_body(resp, url, crate::http::DEFAULT_MAX_BODY_BYTES).await?;
        let v = serde_json::from_slice(&bytes)
            .map_err(|e| IntelError::json(format!("TAXII response from {url}"), e))?;
        Ok((v, headers))
    }

    /// `GET {server}/taxii2/`.
    pub async fn discovery(&self, discovery_url: &str) -> Result<Discovery> {
        Ok(self.get_json(discovery_url, &[]).await?.0)
    }

    /// `GET {api_root}/`.
    pub async fn api_root(&self, api_root: &str) -> Result<ApiRoot> {
        Ok(self.get_json(&join(api_root, "/"), &[]).await?.0)
    }

    /// `GET {api_root}/collections/`.
    pub async fn collections(&self, api_root: &str) -> Result<Vec<Collection>> {
        let c: Collections = self.get_json(&join(api_root, "collections/"), &[]).await?.0;
        Ok(c.collections)
    }

    /// One page of `GET {api_root}/collections/{id}/objects/`.
    pub async fn objects_page(
        &self,
        api_root: &str,
        collection: &str,
        q: &ObjectsQuery,
    ) -> Result<ObjectsPage> {
        let url = join(api_root, &format!("collections/{collection}/objects/"));
        let (envelope, h): (Envelope, _) = self.get_json(&url, &q.params()).await?;
        let hv = |k: &str| h.get(k).and_then(|v| v.to_str().ok()).map(String::from);
        Ok(ObjectsPage {
            envelope,
            date_added_first: hv("x-taxii-date-added-first"),
            date_added_last: hv("x-taxii-date-added-last"),
        })
    }

    /// `GET …/manifest/`.
    pub async fn manifest(
        &self,
        api_root: &str,
        collection: &str,
        q: &ObjectsQuery,
    ) -> Result<Manifest> {
        let url = join(api_root, &format!("collections/{collection}/manifest/"));
        Ok(self.get_json(&url, &q.params()).await?.0)
    }

    /// Polls a collection from `added_after` to the end, following `next`.
    pub async fn poll(
        &self,
        api_root: &str,
        collection: &str,
        added_after: Option<&str>,
        limit: u64,
    ) -> Result<PollResult> {
        let mut q = ObjectsQuery {
            added_after: added_after.map(String::from),
            limit: Some(limit),
            ..Default::default()
        };
        let mut out = PollResult {
            cursor: added_after.map(String::from),
            ..Default::default()
        };
        // `next` may legitimately repeat (medallion keeps one token per paging session),
        // so the guard against a server that says "more" forever is a page cap.
        for _ in 0..100_000 {
            let page = self.objects_page(api_root, collection, &q).await?;
            out.pages += 1;
            if let Some(last) = page.date_added_last {
                out.cursor = Some(last);
            }
            let n = page.envelope.objects.len();
            out.objects.extend(page.envelope.objects);
            match (page.envelope.more, page.envelope.next) {
                (true, Some(next)) if n > 0 => q.next = Some(next),
                _ => break,
            }
        }
        Ok(out)
    }

    /// `POST …/objects/` with an envelope; returns the status resource (202).
    pub async fn add_objects(
        &self,
        api_root: &str,
        collection: &str,
        objects: Vec<Value>,
    ) -> Result<Status> {
        let url = join(api_root, &format!("collections/{collection}/objects/"));
        let body = serde_json::json!({ "objects": objects }).to_string();
        let resp = self
            .send(
                self.http
                    .post(&url)
                    .header(CONTENT_TYPE, TAXII_MEDIA_TYPE)
                    .body(body),
                &url,
            )
            .await?;
        let bytes = crate::http::read_body(resp, &url, crate::http::DEFAULT_MAX_BODY_BYTES).await?;
        serde_json::from_slice(&bytes).map_err(|e| IntelError::json("TAXII status", e))
    }

    /// `GET {api_root}/status/{id}/`.
    pub async fn status(&self, api_root: &str, id: &str) -> Result<Status> {
        Ok(self
            .get_json(&join(api_root, &format!("status/{id}/")), &[])
            .await?
            .0)
    }
}
