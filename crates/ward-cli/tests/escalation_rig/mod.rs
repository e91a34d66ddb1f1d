//! The real `ward` binary sending through the Notify stand-in, with escalation ticking fast,
//! and helpers to set up policies and read chases. Shared by `escalation.rs` and
//! `alert_faults.rs`.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use ward_notify_standin::config::defaults;

use crate::common::Ward;

pub const CALLBACK_TOKEN: &str = "cb-0123456789abcdef";

pub struct Rig {
    pub rt: tokio::runtime::Runtime,
    pub standin: ward_notify_standin::StandinHandle,
    pub dir: tempfile::TempDir,
    pub w: Ward,
}

impl Rig {
    pub fn start(
        standin_cfg: ward_notify_standin::StandinConfig,
        extra_env: &[(&str, &str)],
    ) -> Rig {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let standin = rt
            .block_on(ward_notify_standin::bind("127.0.0.1:0", standin_cfg))
            .unwrap();
        let api_key = standin.api_key("ward-live").unwrap();
        let base_url = standin.base_url();
        let sms_template = defaults::SMS_TEMPLATE_ID.to_string();
        let email_template = defaults::EMAIL_TEMPLATE_ID.to_string();
        let mut env = vec![
            ("WARD_NOTIFY__PROVIDER", "govuk_notify"),
            ("WARD_NOTIFY__API_KEY", api_key.as_str()),
            ("WARD_NOTIFY__BASE_URL", base_url.as_str()),
            ("WARD_NOTIFY__SMS_TEMPLATE_ID", sms_template.as_str()),
            ("WARD_NOTIFY__EMAIL_TEMPLATE_ID", email_template.as_str()),
            ("WARD_NOTIFY__MAX_ATTEMPTS", "30"),
            ("WARD_ESCALATION__TICK_MS", "100"),
            ("WARD_ESCALATION__CALLBACK_TOKEN", CALLBACK_TOKEN),
        ];
        env.extend_from_slice(extra_env);
        let dir = tempfile::tempdir().unwrap();
        let w = Ward::start(dir.path(), &env);
        Rig {
            rt,
            standin,
            dir,
            w,
        }
    }

    pub fn finish(self) {
        let Rig {
            rt,
            standin,
            w,
            dir,
            ..
        } = self;
        drop(w);
        rt.block_on(standin.shutdown());
        drop(dir);
    }
}

/// Adds a contact and returns its id.
pub fn contact(
    w: &Ward,
    org: &str,
    name: &str,
    phone: Option<&str>,
    email: Option<&str>,
    role: &str,
) -> i64 {
    let (s, v) = w.post_json(
        &format!("/api/v1/organisations/{org}/contacts"),
        &w.token,
        &json!({"name": name, "phone": phone, "email": email, "role": role}),
    );
    assert_eq!(s, 201, "{v}");
    v["id"].as_i64().unwrap()
}

/// The contacts of `org`, as listed.
pub fn contacts(w: &Ward, org: &str) -> Vec<Value> {
    let (s, v) = w.get(&format!("/api/v1/organisations/{org}/contacts"), &w.token);
    assert_eq!(s, 200, "{v}");
    v.as_array().unwrap().clone()
}

pub fn policy(w: &Ward, org: &str, body: Value) -> Value {
    let (s, v) = w.post_json(
        &format!("/api/v1/organisations/{org}/escalation-policies"),
        &w.token,
        &body,
    );
    assert_eq!(s, 201, "{v}");
    v
}

/// The incident's notifications written by escalation (references `ward-chase…`), oldest first.
pub fn chase_notes(w: &Ward, incident: i64) -> Vec<Value> {
    let (s, v) = w.get(
        &format!("/api/v1/notifications?incident={incident}&limit=1000"),
        &w.token,
    );
    assert_eq!(s, 200, "{v}");
    let mut notes: Vec<Value> = v
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| {
            n["reference"]
                .as_str()
                .unwrap_or("")
                .starts_with("ward-chase")
        })
        .cloned()
        .collect();
    notes.sort_by_key(|n| n["id"].as_i64());
    notes
}

pub fn chases(w: &Ward, incident: i64) -> Vec<Value> {
    let (s, v) = w.get(&format!("/api/v1/incidents/{incident}/chases"), &w.token);
    assert_eq!(s, 200, "{v}");
    v.as_array().unwrap().clone()
}

/// Polls `probe` until it returns `Some` or `secs` pass.
pub fn eventually<T>(secs: u64, what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {secs} s waiting for: {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The first incident of the server, once there is one.
pub fn first_incident(w: &Ward) -> i64 {
    eventually(30, "an incident", || {
        let (_, v) = w.get("/api/v1/incidents", &w.token);
        v.as_array()
            .and_then(|a| a.last())
            .and_then(|i| i["id"].as_i64())
    })
}

/// The signed acknowledgement link in a message body.
pub fn ack_link(body: &str) -> String {
    let start = body.find("http").expect("a link in the body");
    let rest = &body[start..];
    let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
    let link = rest[..end].to_string();
    assert!(link.contains("/ack/"), "{link}");
    link
}

pub fn metrics(w: &Ward) -> String {
    w.client()
        .get(format!("{}/metrics", w.url))
        .send()
        .unwrap()
        .text()
        .unwrap()
}
