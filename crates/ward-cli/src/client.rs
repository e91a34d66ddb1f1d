//! A small client for ward's HTTP API, with errors that keep the server's code and message.

use anyhow::Context;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::Cli;

/// An error answer from the server, shown as `code: message`.
#[derive(Debug)]
pub struct ApiFailure {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    pub details: Option<Value>,
}

impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "server answered {} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )?;
        if let Some(errors) = self
            .details
            .as_ref()
            .and_then(|d| d.get("errors"))
            .and_then(|e| e.as_array())
        {
            for e in errors {
                write!(
                    f,
                    "\n  line {}: [{}] {}",
                    e.get("line").and_then(Value::as_u64).unwrap_or(0),
                    e.get("code").and_then(Value::as_str).unwrap_or("?"),
                    e.get("message").and_then(Value::as_str).unwrap_or("")
                )?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for ApiFailure {}

/// The process exit code for an error (see the crate docs).
pub fn exit_code(e: &anyhow::Error) -> u8 {
    if let Some(f) = e.downcast_ref::<ApiFailure>() {
        return if f.status.is_client_error() { 3 } else { 4 };
    }
    if e.downcast_ref::<reqwest::Error>().is_some() {
        return 4;
    }
    1
}

pub struct Api {
    pub base: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl Api {
    pub fn new(base: impl Into<String>, token: Option<String>) -> anyhow::Result<Api> {
        Ok(Api {
            base: base.into().trim_end_matches('/').to_string(),
            token,
            http: reqwest::Client::builder()
                .build()
                .context("building the HTTP client")?,
        })
    }

    pub fn from_cli(cli: &Cli) -> anyhow::Result<Api> {
        let cfg = crate::load_config(cli.config.as_deref())?;
        let base = match &cli.url {
            Some(u) => u.clone(),
            None => format!("http://{}", cfg.http.listen.replace("0.0.0.0", "127.0.0.1")),
        };
        let token = match &cli.token {
            Some(t) => Some(t.clone()),
            None => std::fs::read_to_string(cfg.data_dir.join(ward_server::ADMIN_TOKEN_FILE))
                .ok()
                .map(|t| t.trim().to_string()),
        };
        Api::new(base, token)
    }

    pub fn with_token(&self, token: &str) -> Api {
        Api {
            base: self.base.clone(),
            token: Some(token.to_string()),
            http: self.http.clone(),
        }
    }

    pub async fn request<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<T> {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.with_context(|| {
            format!(
                "cannot reach ward at {} (is `ward serve` running?)",
                self.base
            )
        })?;
        decode(resp, &method, path).await
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        self.request(Method::GET, path, None).await
    }

    pub async fn post<T: DeserializeOwned>(&self, path: &str, body: &Value) -> anyhow::Result<T> {
        self.request(Method::POST, path, Some(body)).await
    }

    /// A request whose answer is text (CSV, XML) or whose body is not JSON (a feed, a CSV
    /// file); errors are decoded like every other answer.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> anyhow::Result<String> {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        if let Some(b) = body {
            req = req.body(b);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("cannot reach ward at {}", self.base))?;
        if resp.status().is_success() {
            return resp
                .text()
                .await
                .with_context(|| format!("reading the answer to {method} {path}"));
        }
        decode::<Value>(resp, &method, path)
            .await
            .map(|v| v.to_string())
    }

    /// Posts an NDJSON body with this client's token (an organisation API key).
    pub async fn post_ndjson(&self, body: bytes::Bytes) -> anyhow::Result<Value> {
        let mut req = self
            .http
            .post(format!("{}/api/v1/events", self.base))
            .header("content-type", "application/x-ndjson")
            .body(body);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("cannot reach ward at {}", self.base))?;
        decode(resp, &Method::POST, "/api/v1/events").await
    }

    /// Posts a file body to `path` with query parameters and this client's token.
    pub async fn post_bytes(
        &self,
        path: &str,
        query: &[(&str, String)],
        body: bytes::Bytes,
    ) -> anyhow::Result<Value> {
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .query(query)
            .header("content-type", "application/octet-stream")
            .body(body);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("cannot reach ward at {}", self.base))?;
        decode(resp, &Method::POST, path).await
    }
}

async fn decode<T: DeserializeOwned>(
    resp: reqwest::Response,
    method: &Method,
    path: &str,
) -> anyhow::Result<T> {
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    if !status.is_success() {
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let err = v.get("error");
        return Err(ApiFailure {
            status,
            code: err
                .and_then(|e| e.get("code"))
                .and_then(Value::as_str)
                .unwrap_or("http_error")
                .to_string(),
            message: err
                .and_then(|e| e.get("message"))
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| text.chars().take(200).collect()),
            details: err.and_then(|e| e.get("details")).cloned(),
        }
        .into());
    }
    let text = if text.is_empty() {
        "null".to_string()
    } else {
        text
    };
    serde_json::from_str(&text).with_context(|| format!("unexpected answer to {method} {path}"))
}
