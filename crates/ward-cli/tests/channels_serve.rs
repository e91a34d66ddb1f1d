//! Issue 5, channels: the real `ward` binary sending e-mail through aiosmtpd (STARTTLS from a
//! CA generated here), posting signed webhooks to a receiver in this test, and failing a
//! contact over along their own channel order when the Notify stand-in fails their SMS for
//! good; then an advisory chased by an escalation policy and acknowledged by the member.

mod common;
mod escalation_rig;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use escalation_rig::{chase_notes, eventually, first_incident, policy, Rig, CALLBACK_TOKEN};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, SanType};
use serde_json::{json, Value};
use ward_notify_standin::{CallbackConfig, CallbackTarget, StandinConfig, Status};

use common::{member, wannacry_event};

const SMTP_SERVER: &str = r#"
import json, ssl, sys, time
from aiosmtpd.controller import Controller
cert, key, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.load_cert_chain(cert, key)

class Handler:
    async def handle_DATA(self, server, session, envelope):
        print(json.dumps({
            "from": envelope.mail_from,
            "to": envelope.rcpt_tos,
            "tls": session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None,
            "data": envelope.content.decode("utf-8", "replace"),
        }), flush=True)
        return "250 2.0.0 Message accepted"

c = Controller(Handler(), hostname="127.0.0.1", port=port, tls_context=ctx, require_starttls=True)
c.start()
print("READY", flush=True)
while True:
    time.sleep(3600)
"#;

struct Smtp {
    child: Child,
    port: u16,
    ca_file: std::path::PathBuf,
    received: Arc<Mutex<Vec<Value>>>,
    _dir: tempfile::TempDir,
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// aiosmtpd requiring STARTTLS, its certificate issued by a CA made here (rustls refuses a
/// bare self-signed leaf); ward trusts the CA through `smtp.ca_file`.
fn start_smtp() -> Smtp {
    let py = ward_testkit::require_python_module("aiosmtpd", "scripts/deps/channels.sh");
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "ward channels test CA");
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let mut leaf = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    leaf.subject_alt_names
        .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    let leaf_key = KeyPair::generate().unwrap();
    let leaf_cert = leaf.signed_by(&leaf_key, &ca_cert, &ca_key).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("leaf.pem"), leaf_cert.pem()).unwrap();
    std::fs::write(dir.path().join("leaf.key"), leaf_key.serialize_pem()).unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca_cert.pem()).unwrap();
    let port = ward_testkit::free_port();
    let mut child = Command::new(py)
        .arg("-c")
        .arg(SMTP_SERVER)
        .arg(dir.path().join("leaf.pem"))
        .arg(dir.path().join("leaf.key"))
        .arg(port.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let received: Arc<Mutex<Vec<Value>>> = Arc::default();
    let sink = received.clone();
    let (ready_tx, ready_rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line == "READY" {
                let _ = ready_tx.send(());
            } else if let Ok(v) = serde_json::from_str(&line) {
                sink.lock().unwrap().push(v);
            }
        }
    });
    ready_rx
        .recv_timeout(Duration::from_secs(20))
        .expect("aiosmtpd did not start");
    Smtp {
        child,
        port,
        ca_file,
        received,
        _dir: dir,
    }
}

/// One request the webhook receiver took, and whether its signature and timestamp held.
#[derive(Debug, Clone)]
struct Hook {
    path: String,
    body: Value,
    verdict: Result<(), String>,
}

/// A small HTTP server: `/gone` answers 410 (a permanent failure), anything else 200 when the
/// signature (HMAC-SHA-256 of `timestamp.body` under `secret`) and the timestamp (±300 s)
/// check out, 401 otherwise.
fn start_receiver(secret: &'static str) -> (String, Arc<Mutex<Vec<Hook>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let got: Arc<Mutex<Vec<Hook>>> = Arc::default();
    let sink = got.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            let path = request_line
                .split_whitespace()
                .nth(1)
                .unwrap_or("")
                .to_string();
            let mut headers = Vec::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some((k, v)) = line.split_once(':') {
                    headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
                }
            }
            let header = |name: &str| {
                headers
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
            };
            let len: usize = header("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let mut body = vec![0u8; len];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs();
            let verdict = ward_channels::webhook::verify_signature(
                secret,
                header("x-ward-timestamp").as_deref(),
                header("x-ward-signature").as_deref(),
                &body,
                now,
                Duration::from_secs(300),
            )
            .map_err(|e| e.to_string());
            let status = if path == "/gone" {
                "410 Gone"
            } else if verdict.is_ok() {
                "200 OK"
            } else {
                "401 Unauthorized"
            };
            sink.lock().unwrap().push(Hook {
                path,
                body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                verdict,
            });
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
        }
    });
    (url, got)
}

fn add_contact(w: &common::Ward, org: &str, body: Value) -> i64 {
    let (s, v) = w.post_json(
        &format!("/api/v1/organisations/{org}/contacts"),
        &w.token,
        &body,
    );
    assert_eq!(s, 201, "{v}");
    v["id"].as_i64().unwrap()
}

fn callbacks(rig: &Rig) {
    rig.standin.set_callbacks(CallbackConfig {
        delivery_status: Some(CallbackTarget {
            url: format!("{}/api/v1/callbacks/notify/delivery-status", rig.w.url),
            bearer_token: CALLBACK_TOKEN.into(),
        }),
        ..CallbackConfig::default()
    });
}

#[test]
fn sms_fails_for_good_then_webhook_then_smtp_along_the_contacts_order() {
    let smtp = start_smtp();
    let (hook_url, hooks) = start_receiver("whsec-test-0123456789");
    let port = smtp.port.to_string();
    let ca = smtp.ca_file.display().to_string();
    let rig = Rig::start(
        StandinConfig::default(),
        &[
            ("WARD_ESCALATION__DELIVERY_DEADLINE_SECS", "0"),
            ("WARD_NOTIFY__EMAIL_VIA", "smtp"),
            ("WARD_SMTP__HOST", "127.0.0.1"),
            ("WARD_SMTP__PORT", port.as_str()),
            ("WARD_SMTP__SECURITY", "starttls"),
            ("WARD_SMTP__CA_FILE", ca.as_str()),
            ("WARD_SMTP__FROM", "ward alerts <alerts@ward.example>"),
            ("WARD_SMTP__POOL_SIZE", "2"),
        ],
    );
    callbacks(&rig);
    let w = &rig.w;
    // 07700900002 is Notify's permanent-failure number (for test keys; set for the live key).
    rig.standin
        .set_outcome("07700900002", Status::PermanentFailure);
    let key = member(w, "ZC1", "London");
    // Reached by SMS first, then their webhook (which is gone), then e-mail.
    let first = add_contact(
        w,
        "ZC1",
        json!({"name": "Fay Lover", "phone": "07700900002", "email": "fay@zc1.example",
               "role": "deputy", "webhook_url": format!("{hook_url}/gone"),
               "channels": ["sms", "webhook", "email"]}),
    );
    // Reached by a signed Teams card first.
    let second = add_contact(
        w,
        "ZC1",
        json!({"name": "Tam Webb", "email": "tam@zc1.example", "role": "director",
               "webhook_url": format!("{hook_url}/teams"), "webhook_format": "teams",
               "webhook_secret": "whsec-test-0123456789", "channels": ["webhook", "email"]}),
    );
    // The CLI and the API refuse a preference naming an unknown channel.
    let out = w.cli(&[
        "contact",
        "add",
        "ZC1",
        "--name",
        "Bad",
        "--email",
        "b@zc1.example",
        "--channels",
        "sms,pigeon",
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("channels[1]"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (s, v) = w.get(&format!("/api/v1/contacts/{second}/channels"), &w.token);
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["webhook_format"], "teams");
    assert_eq!(v["webhook_signed"], true);
    assert!(
        v.get("webhook_secret").is_none(),
        "the secret is never shown: {v}"
    );

    policy(
        w,
        "ZC1",
        json!({"name": "all", "min_severity": 1, "repeat_delay_secs": 600, "max_rounds": 1, "steps": [
            {"delay_secs": 0, "targets": [{"kind": "contact", "contact_id": first},
                                          {"kind": "contact", "contact_id": second}],
             "channels": ["sms", "email", "webhook"]}
        ]}),
    );
    assert_eq!(w.post_events(&key, wannacry_event("pc1", 1)).0, 200);
    let inc = first_incident(w);

    let notes = eventually(
        60,
        "sms → webhook → e-mail for the first contact",
        || {
            let n: Vec<Value> = chase_notes(w, inc)
                .into_iter()
                .filter(|n| n["contact_id"] == first)
                .collect();
            (n.len() >= 3 && n[2]["status"] == "sent").then_some(n)
        },
    );
    let channels: Vec<&str> = notes
        .iter()
        .map(|n| n["channel"].as_str().unwrap())
        .collect();
    assert_eq!(channels, ["sms", "webhook", "email"], "{notes:?}");
    assert!(notes[0]["attempt_log"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["detail"] == "permanent-failure"));
    assert_eq!(notes[1]["status"], "failed", "{}", notes[1]);
    let hook_attempt = &notes[1]["attempt_log"][0];
    assert_eq!(hook_attempt["outcome"], "permanent", "{hook_attempt}");
    assert!(hook_attempt["detail"].as_str().unwrap().contains("410"));
    assert!(hook_attempt["duration_ms"].as_i64().unwrap() >= 0);
    assert_eq!(notes[2]["destination"], "fay@zc1.example");
    assert_eq!(notes[2]["attempt_log"][0]["outcome"], "accepted");
    assert_eq!(notes[2]["attempt_log"][0]["detail"], "SMTP 250");

    // The e-mail went through aiosmtpd over STARTTLS.
    let mail = eventually(20, "the e-mail at aiosmtpd", || {
        smtp.received
            .lock()
            .unwrap()
            .iter()
            .find(|m| {
                m["to"] == json!(["fay@zc1.example"])
                    && m["data"]
                        .as_str()
                        .unwrap_or("")
                        .contains("Message-ID: <ward-chase")
            })
            .cloned()
    });
    assert_eq!(mail["tls"], true, "STARTTLS was not used");
    assert_eq!(mail["from"], "alerts@ward.example");
    // Undo quoted-printable soft line breaks before looking for the link.
    let data = mail["data"]
        .as_str()
        .unwrap()
        .replace("=\r\n", "")
        .replace("=\n", "");
    assert!(data.contains(&format!("INC-{inc}")), "{data}");
    assert!(data.contains("/ack/"), "{data}");

    // The second contact's Teams card arrived signed and fresh.
    let card = eventually(20, "the Teams card", || {
        hooks
            .lock()
            .unwrap()
            .iter()
            .find(|h| h.path == "/teams")
            .cloned()
    });
    assert_eq!(card.verdict, Ok(()), "signature or timestamp refused");
    assert_eq!(
        card.body["attachments"][0]["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    let second_notes: Vec<Value> = chase_notes(w, inc)
        .into_iter()
        .filter(|n| n["contact_id"] == second)
        .collect();
    assert_eq!(
        second_notes.len(),
        1,
        "no failover when the webhook took it"
    );
    assert_eq!(second_notes[0]["channel"], "webhook");
    assert_eq!(second_notes[0]["attempt_log"][0]["http_status"], 200);

    // Every attempt is on the incident too.
    let (_, d) = w.get(&format!("/api/v1/incidents/{inc}"), &w.token);
    let on_incident: Vec<&str> = d["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["reference"].as_str().unwrap().starts_with("ward-chase"))
        .map(|n| n["channel"].as_str().unwrap())
        .collect();
    assert_eq!(on_incident.len(), 4, "{d}");
    let m = escalation_rig::metrics(w);
    assert!(
        m.contains(
            "ward_notifications_attempts_total{channel=\"webhook\",outcome=\"permanent\"} 1"
        ),
        "{m}"
    );
    rig.finish();
    drop(smtp);
}

#[test]
fn an_advisory_is_chased_by_the_policy_and_the_members_ack_ends_it() {
    let (hook_url, hooks) = start_receiver("whsec-adv");
    let rig = Rig::start(
        StandinConfig::default(),
        &[("WARD_ADVISORIES__CHASE_INTERVAL_MS", "200")],
    );
    let w = &rig.w;
    member(w, "ZD1", "London");
    // A member without a policy keeps the reminder path.
    member(w, "ZD2", "London");
    let lead = add_contact(
        w,
        "ZD1",
        json!({"name": "Ada Hook", "email": "ada@zd1.example", "role": "security_lead",
               "webhook_url": format!("{hook_url}/adv"), "webhook_secret": "whsec-adv",
               "channels": ["webhook"]}),
    );
    policy(
        w,
        "ZD1",
        json!({"name": "advisories", "min_severity": 3, "repeat_delay_secs": 1, "max_rounds": 50, "steps": [
            {"delay_secs": 0, "targets": [{"kind": "contact", "contact_id": lead}], "channels": ["webhook", "email"]}
        ]}),
    );
    let out = w.cli(&[
        "--json",
        "advisory",
        "create",
        "--title",
        "Exploited VPN appliance",
        "--summary",
        "Patch now.",
        "--severity",
        "critical",
        "--tlp",
        "AMBER",
        "--action",
        "Patch",
        "--region",
        "London",
        "--publish",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let adv: Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = adv["id"].as_str().unwrap().to_string();

    // The policy's steps reach the lead's webhook, repeatedly, while nobody acknowledges.
    eventually(30, "two chase rounds on the webhook", || {
        let n = hooks
            .lock()
            .unwrap()
            .iter()
            .filter(|h| h.path == "/adv" && h.verdict.is_ok())
            .count();
        (n >= 2).then_some(())
    });
    let body = hooks.lock().unwrap()[0].body.clone();
    assert!(body["body"].as_str().unwrap().contains(&id), "{body}");
    assert!(body["body"].as_str().unwrap().contains("/ack/"), "{body}");
    let (_, chases) = w.get("/api/v1/notifications?limit=1000", &w.token);
    let refs: Vec<String> = chases
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["reference"].as_str().unwrap().to_string())
        .collect();
    // ZD1 got no reminder-path announcement; ZD2 (no policy) did.
    let lower = id.to_ascii_lowercase();
    assert!(
        !refs
            .iter()
            .any(|r| r.starts_with(&format!("ward-{lower}-zd1-published-"))),
        "{refs:?}"
    );
    assert!(
        refs.iter()
            .any(|r| r.starts_with(&format!("ward-{lower}-zd2-published-"))),
        "{refs:?}"
    );

    // The member acknowledges through the API; the chase ends and the webhook falls quiet.
    let (s, v) = w.post_json(
        &format!("/api/v1/advisories/{id}/ack"),
        &w.token,
        &json!({"org": "ZD1"}),
    );
    assert!(s == 200 || s == 201, "{s} {v}");
    eventually(20, "the advisory chase acknowledged", || {
        let (_, v) = w.get(&format!("/api/v1/advisories/{id}/chases"), &w.token);
        v.as_array()
            .and_then(|a| a.iter().find(|c| c["org_code"] == "ZD1"))
            .filter(|c| c["state"] == "acknowledged")
            .cloned()
    });
    let settled = hooks.lock().unwrap().len();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        hooks.lock().unwrap().len(),
        settled,
        "chased after the acknowledgement"
    );
    rig.finish();
}
