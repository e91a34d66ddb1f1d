//! The server-rendered page: enough for a person to watch the federation (and the demo).
//! People sign in with their personal token, which becomes an HTTP-only session cookie.

use std::fmt::Write;

use axum::extract::{Form, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use ward_model::clock::rfc3339;
use ward_model::records::IncidentScope;

use crate::auth::{authenticate, credential, Principal, SESSION_COOKIE};
use crate::state::AppState;

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1.5rem;color:#212b32}h1{color:#005eb8}\
table{border-collapse:collapse;margin-bottom:1.5rem;width:100%}th,td{border-bottom:1px solid #d8dde0;padding:.35rem .5rem;text-align:left;font-size:.9rem}\
th{background:#f0f4f5}.national{background:#fde8e8}.sev4{color:#d5281b;font-weight:bold}.sev3{color:#ed8b00;font-weight:bold}\
.muted{color:#4c6272}.pill{display:inline-block;padding:0 .4rem;border-radius:.6rem;background:#e8edee;margin-right:.2rem}";

pub(crate) fn page(title: &str, refresh: bool, body: &str) -> Html<String> {
    let meta = if refresh {
        "<meta http-equiv=\"refresh\" content=\"3\">"
    } else {
        ""
    };
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">{meta}<title>{}</title><style>{STYLE}</style></head><body>{body}</body></html>",
        escape(title)
    ))
}

pub(crate) async fn principal(state: &AppState, headers: &HeaderMap) -> Option<Principal> {
    let token = credential(headers)?;
    authenticate(state, &token).await.ok().flatten()
}

pub(crate) fn login_form(message: &str) -> Response {
    let body = format!(
        "<h1>ward</h1><p>{}</p><form method=\"post\" action=\"/login\"><label>Personal token <input name=\"token\" type=\"password\" size=\"60\"></label> <button>Sign in</button></form>",
        escape(message)
    );
    (
        StatusCode::UNAUTHORIZED,
        page("ward — sign in", false, &body),
    )
        .into_response()
}

#[derive(Deserialize)]
pub struct LoginQuery {
    token: Option<String>,
}

fn session(token: &str) -> Response {
    let cookie = format!("{SESSION_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/");
    let mut resp = Redirect::to("/").into_response();
    if let Ok(v) = header::HeaderValue::from_str(&cookie) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

pub async fn login_get(State(state): State<AppState>, Query(q): Query<LoginQuery>) -> Response {
    match q.token {
        Some(t) => login_with(&state, &t).await,
        None => login_form("Sign in with your personal token."),
    }
}

pub async fn login_post(State(state): State<AppState>, Form(q): Form<LoginQuery>) -> Response {
    login_with(&state, q.token.as_deref().unwrap_or_default()).await
}

async fn login_with(state: &AppState, token: &str) -> Response {
    match authenticate(state, token).await {
        Ok(Some(Principal::Person(_))) => session(token),
        Ok(Some(Principal::Member { .. })) => {
            login_form("That is an organisation API key; people sign in with a personal token.")
        }
        _ => login_form("That token is unknown or revoked."),
    }
}

fn sev_class(sev: i64) -> &'static str {
    match sev {
        4 => "sev4",
        3 => "sev3",
        _ => "",
    }
}

fn sev_name(sev: i64) -> &'static str {
    ward_model::Severity::from_i64(sev)
        .map(|s| s.as_str())
        .unwrap_or("?")
}

pub async fn index(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(p) = principal(&state, &headers).await else {
        return login_form("Sign in with your personal token.");
    };
    match render_index(&state, &p).await {
        Ok(html) => html.into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn render_index(
    state: &AppState,
    p: &Principal,
) -> Result<Html<String>, ward_storage::StoreError> {
    let own = p.org_scope().cloned();
    let incidents = state.store.list_incidents(own.as_ref(), None, 200).await?;
    let orgs: Vec<_> = state
        .store
        .list_orgs()
        .await?
        .into_iter()
        .filter(|o| p.can_read_org(&o.ods_code))
        .collect();
    let notes = state
        .store
        .list_notifications(own.as_ref(), None, 30)
        .await?;
    let detections = state.store.count_detections().await?;
    let mut b = String::new();
    let _ = write!(
        b,
        "<h1>ward</h1><p class=\"muted\">{} organisations · {} incidents · {} detections · refreshed every 3 s</p>{}",
        orgs.len(),
        incidents.len(),
        detections,
        crate::web_search::SEARCH_LINK
    );
    b.push_str("<h2>Incidents</h2><table><tr><th>#</th><th>Scope</th><th>Severity</th><th>Title</th><th>Organisations</th><th>Detections</th><th>Opened</th><th>Last seen</th><th>Status</th></tr>");
    for i in &incidents {
        let national = i.scope == IncidentScope::National;
        let _ = write!(
            b,
            "<tr class=\"{}\"><td><a href=\"/incidents/{id}\">INC-{id}</a></td><td>{}</td><td class=\"{}\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            if national { "national" } else { "" },
            if national { "national" } else { "local" },
            sev_class(i.severity),
            sev_name(i.severity),
            escape(&i.title),
            i.organisations.iter().map(|o| format!("<span class=\"pill\">{}</span>", escape(o))).collect::<String>(),
            i.detection_count,
            rfc3339(i.opened_at),
            rfc3339(i.last_seen_at),
            escape(&i.status),
            id = i.id,
        );
    }
    b.push_str("</table>");
    if p.is_central() {
        b.push_str(&crate::intake::web_section(state));
    }
    b.push_str("<h2>Notifications</h2><table><tr><th>Incident</th><th>To</th><th>Channel</th><th>Status</th><th>Attempts</th><th>Message</th></tr>");
    for n in &notes {
        let _ = write!(
            b,
            "<tr><td>INC-{}</td><td>{} <span class=\"muted\">{}</span></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            n.incident_id,
            escape(&n.contact_name),
            escape(&n.destination),
            escape(&n.channel),
            escape(&n.status),
            n.attempts,
            escape(&n.body)
        );
    }
    b.push_str("</table><h2>Organisations</h2><table><tr><th>ODS code</th><th>Name</th><th>Kind</th><th>Region</th></tr>");
    for o in &orgs {
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            o.ods_code,
            escape(&o.name),
            o.kind,
            escape(&o.region)
        );
    }
    b.push_str("</table><p class=\"muted\">API: <a href=\"/api/v1/openapi.json\">/api/v1/openapi.json</a> · metrics: <a href=\"/metrics\">/metrics</a></p>");
    Ok(page("ward — incidents", true, &b))
}

pub async fn incident_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    let Some(p) = principal(&state, &headers).await else {
        return login_form("Sign in to see this incident.");
    };
    let detail = match crate::api::incidents::incident_detail(&state, &p, id).await {
        Ok(d) => d,
        Err(e) => return e.into_response(),
    };
    let i = &detail.incident;
    let mut b = String::new();
    let _ = write!(
        b,
        "<p><a href=\"/\">← all incidents</a></p><h1>INC-{} {}</h1><p><span class=\"{}\">{}</span> · {} · rule <code>{}</code> · organisations {} · opened {} · last seen {}</p>",
        i.id,
        escape(&i.title),
        sev_class(i.severity),
        sev_name(i.severity),
        i.scope.as_str(),
        escape(&i.rule_id),
        escape(&i.organisations.join(", ")),
        rfc3339(i.opened_at),
        rfc3339(i.last_seen_at)
    );
    b.push_str("<h2>Detections</h2><table><tr><th>Organisation</th><th>Host</th><th>Rule</th><th>Author</th><th>Tags</th><th>Matched</th></tr>");
    for d in &detail.detections {
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            escape(&d.org_code),
            escape(d.host.as_deref().unwrap_or("")),
            escape(&d.rule_title),
            escape(d.rule_author.as_deref().unwrap_or("")),
            escape(&d.tags.join(" ")),
            escape(&d.matched_fields.to_string())
        );
    }
    b.push_str("</table><h2>Who was told</h2><table><tr><th>Organisation</th><th>To</th><th>Channel</th><th>Status</th><th>Attempts</th></tr>");
    for n in &detail.notifications {
        let attempts: Vec<String> = n
            .attempt_log
            .iter()
            .map(|a| {
                format!(
                    "{} {} ({} ms) {}",
                    rfc3339(a.attempted_at),
                    a.outcome,
                    a.duration_ms,
                    a.detail
                )
            })
            .collect();
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{} <span class=\"muted\">{}</span></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&n.org_code),
            escape(&n.contact_name),
            escape(&n.destination),
            escape(&n.channel),
            escape(&n.status),
            escape(&attempts.join("; "))
        );
    }
    b.push_str("</table>");
    page(&format!("INC-{}", i.id), true, &b).into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_markup() {
        assert_eq!(
            super::escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
