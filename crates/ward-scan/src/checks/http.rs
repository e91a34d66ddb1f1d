//! HTTP: the server banner and exposed admin interfaces.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::net::{Connector, ProbeError};
use crate::proto::http::{self, HttpResponse};

/// One admin interface to look for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminPath {
    /// Path to request, e.g. `/manager/html`.
    pub path: String,
    /// What it is, e.g. `Apache Tomcat manager`.
    pub name: String,
    /// If set, the body or title must contain this (case-insensitive) for a
    /// 200 to count, which keeps catch-all servers from matching everything.
    #[serde(default)]
    pub body_contains: Option<String>,
}

/// The editable list of admin interfaces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminPaths {
    /// Format version; 1.
    pub version: u32,
    /// Entries.
    pub paths: Vec<AdminPath>,
}

/// Error loading an admin path list.
#[derive(Debug, thiserror::Error)]
#[error("SCAN-E020 admin path list: {0}")]
pub struct AdminPathsError(String);

impl AdminPaths {
    /// The list shipped with ward (`data/admin_paths.json`).
    pub fn builtin() -> Self {
        // The shipped file is tested to parse; fall back to empty rather than
        // panic should an edit break it.
        Self::from_json(include_str!("../../data/admin_paths.json")).unwrap_or(AdminPaths {
            version: 1,
            paths: Vec::new(),
        })
    }

    /// Parses a JSON list.
    pub fn from_json(s: &str) -> Result<Self, AdminPathsError> {
        let p: AdminPaths = serde_json::from_str(s).map_err(|e| {
            AdminPathsError(format!("line {} column {}: {e}", e.line(), e.column()))
        })?;
        if p.version != 1 {
            return Err(AdminPathsError(format!(
                "unsupported version {}",
                p.version
            )));
        }
        if let Some(bad) = p.paths.iter().find(|a| !a.path.starts_with('/')) {
            return Err(AdminPathsError(format!(
                "path {:?} must start with '/'",
                bad.path
            )));
        }
        Ok(p)
    }
}

/// An admin interface found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExposedAdmin {
    /// Path.
    pub path: String,
    /// Name from the list.
    pub name: String,
    /// Status code.
    pub status: u16,
    /// Page title.
    pub title: Option<String>,
}

/// What the HTTP check learned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HttpReport {
    /// Status of `GET /`.
    pub status: u16,
    /// `Server` header.
    pub server: Option<String>,
    /// `X-Powered-By` header.
    pub powered_by: Option<String>,
    /// Title of `/`.
    pub title: Option<String>,
    /// Admin interfaces answering 200 (matching the body check) or 401.
    pub admin: Vec<ExposedAdmin>,
}

/// Fetches `path` and returns the parsed response head and body prefix.
pub async fn get(
    conn: &Connector,
    addr: SocketAddr,
    host: &str,
    path: &str,
) -> Result<HttpResponse, ProbeError> {
    let mut s = conn.connect(addr).await?;
    conn.send(&mut s, addr, &http::get_request(host, path), "http request")
        .await?;
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 8192];
    // The whole response gets a deadline, so a server trickling bytes cannot
    // hold a probe for long.
    let deadline = tokio::time::Instant::now() + conn.io_timeout * 2;
    while buf.len() < 64 * 1024 {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let n = match conn
            .recv_some(&mut s, addr, &mut chunk, left, "http response")
            .await
        {
            Ok(n) => n,
            Err(ProbeError::Timeout { .. }) if !buf.is_empty() => 0,
            Err(e) => return Err(e),
        };
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    http::parse_response(&buf).map_err(|source| ProbeError::Parse {
        address: addr,
        source,
    })
}

/// `GET /` for the banner, then every admin path.
pub async fn check_http(
    conn: &Connector,
    addr: SocketAddr,
    host: &str,
    paths: &AdminPaths,
) -> Result<HttpReport, ProbeError> {
    let root = get(conn, addr, host, "/").await?;
    let mut rep = HttpReport {
        status: root.status,
        server: root.header("server").map(str::to_string),
        powered_by: root.header("x-powered-by").map(str::to_string),
        title: root.title(),
        admin: Vec::new(),
    };
    for a in &paths.paths {
        let r = match get(conn, addr, host, &a.path).await {
            Ok(r) => r,
            Err(ProbeError::Cancelled) => return Err(ProbeError::Cancelled),
            Err(ProbeError::WindowEnded { end }) => return Err(ProbeError::WindowEnded { end }),
            Err(_) => continue,
        };
        let body_ok = match &a.body_contains {
            None => true,
            Some(needle) => String::from_utf8_lossy(&r.body)
                .to_ascii_lowercase()
                .contains(&needle.to_ascii_lowercase()),
        };
        if (r.status == 200 && body_ok) || r.status == 401 {
            rep.admin.push(ExposedAdmin {
                path: a.path.clone(),
                name: a.name.clone(),
                status: r.status,
                title: r.title(),
            });
        }
    }
    Ok(rep)
}
