//! The search page: a form over `GET /api/v1/search` for people signed in to the web page.
//! It shares the API's query code, so what a person may see is decided in one place.

use std::fmt::Write;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use ward_model::clock::rfc3339;

use crate::api::search::{run_search, SearchParams};
use crate::state::AppState;
use crate::web::{escape, login_form, page, principal};

/// The link the main page shows (the main page refreshes itself, so the form lives here).
pub const SEARCH_LINK: &str =
    "<p><a href=\"/search\">Search events</a> by IP, domain, hash, host or text</p>";

fn field(name: &str, label: &str, value: Option<&str>, size: usize) -> String {
    format!(
        "<label>{label} <input name=\"{name}\" value=\"{}\" size=\"{size}\"></label> ",
        escape(value.unwrap_or(""))
    )
}

pub async fn search_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<SearchParams>,
) -> Response {
    let Some(p) = principal(&state, &headers).await else {
        return login_form("Sign in with your personal token to search.");
    };
    let mut b = String::from("<h1>ward — search</h1><p><a href=\"/\">← incidents</a></p>");
    b.push_str("<form method=\"get\" action=\"/search\">");
    b.push_str(&field(
        "ioc",
        "IP, CIDR, domain, hash, user or e-mail",
        params.ioc.as_deref(),
        40,
    ));
    b.push_str(&field("text", "Text", params.text.as_deref(), 24));
    b.push_str("<br>");
    b.push_str(&field("org", "Organisations", params.org.as_deref(), 12));
    b.push_str(&field("host", "Host", params.host.as_deref(), 16));
    b.push_str(&field("class", "Class", params.class.as_deref(), 16));
    b.push_str(&field(
        "since",
        "Since",
        Some(params.since.as_deref().unwrap_or("30d")),
        5,
    ));
    b.push_str("<button>Search</button></form>");
    let asked = [
        &params.ioc,
        &params.text,
        &params.host,
        &params.class,
        &params.org,
    ]
    .iter()
    .any(|v| v.as_deref().is_some_and(|s| !s.trim().is_empty()));
    if asked {
        match run_search(&state, &p, &params).await {
            Ok(r) => {
                let _ = write!(
                    b,
                    "<p class=\"muted\">{} events{}</p>",
                    r.hits.len(),
                    if r.scan_limited {
                        format!(" (free text read {} records and stopped; search further with the next page)", r.scanned)
                    } else {
                        String::new()
                    }
                );
                b.push_str("<table><tr><th>Time</th><th>Organisation</th><th>Host</th><th>Class</th><th>Matched</th><th>Record</th></tr>");
                for h in &r.hits {
                    let record = match &h.event {
                        serde_json::Value::String(s) => s.clone(),
                        v => v.to_string(),
                    };
                    let shown: String = record.chars().take(400).collect();
                    let _ = write!(
                        b,
                        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
                        rfc3339(h.time),
                        escape(&h.org),
                        escape(h.host.as_deref().unwrap_or("")),
                        escape(&h.class),
                        h.matched
                            .as_ref()
                            .map(|m| format!("{} {}", escape(&m.kind), escape(&m.value)))
                            .unwrap_or_default(),
                        escape(&shown)
                    );
                }
                b.push_str("</table>");
                if let Some(c) = &r.next_cursor {
                    let mut next = params.clone();
                    next.cursor = Some(c.clone());
                    if let Ok(qs) = serde_urlencoded_like(&next) {
                        let _ = write!(
                            b,
                            "<p><a href=\"/search?{}\">Next page →</a></p>",
                            escape(&qs)
                        );
                    }
                }
            }
            Err(e) => {
                let _ = write!(
                    b,
                    "<p class=\"sev4\">{}: {}</p>",
                    escape(e.code),
                    escape(&e.message)
                );
            }
        }
    }
    page("ward — search", false, &b).into_response()
}

/// The query string for `params` (only the fields that are set).
fn serde_urlencoded_like(params: &SearchParams) -> Result<String, serde_json::Error> {
    let v = serde_json::to_value(params)?;
    let mut out = Vec::new();
    if let serde_json::Value::Object(m) = v {
        for (k, v) in m {
            let s = match v {
                serde_json::Value::Null => continue,
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            out.push(format!("{k}={}", percent(&s)));
        }
    }
    Ok(out.join("&"))
}

fn percent(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_page_links_encode_their_values() {
        let p = SearchParams {
            ioc: Some("10.0.0.0/24".into()),
            text: Some("a&b c".into()),
            cursor: Some("17.3".into()),
            ..SearchParams::default()
        };
        let qs = serde_urlencoded_like(&p).unwrap();
        assert!(qs.contains("ioc=10.0.0.0%2F24"), "{qs}");
        assert!(qs.contains("text=a%26b%20c"), "{qs}");
        assert!(qs.contains("cursor=17.3"), "{qs}");
        assert!(!qs.contains("host"), "{qs}");
    }
}
