//! The SMTP channel against aiosmtpd, with STARTTLS and implicit TLS from a test CA.

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, SanType};
use serde_json::Value;
use ward_channels::smtp::{SmtpChannel, SmtpConfig, SmtpSecurity};
use ward_channels::{Channel, ChannelKind, DeliveryOutcome, OutboundMessage, Recipient};

const SERVER: &str = r#"
import json, ssl, sys, time
from aiosmtpd.controller import Controller
cert, key, mode, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.load_cert_chain(cert, key)

class Handler:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("reject@"):
            return "550 5.1.1 No such user here"
        if address.startswith("later@"):
            return "451 4.3.0 Mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        print(json.dumps({
            "peer_port": session.peer[1],
            "from": envelope.mail_from,
            "to": envelope.rcpt_tos,
            "tls": session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None,
            "data": envelope.content.decode("utf-8", "replace"),
        }), flush=True)
        return "250 2.0.0 Message accepted"

if mode == "starttls":
    c = Controller(Handler(), hostname="127.0.0.1", port=port, tls_context=ctx, require_starttls=True)
else:
    c = Controller(Handler(), hostname="127.0.0.1", port=port, ssl_context=ctx)
c.start()
print("READY", flush=True)
while True:
    time.sleep(3600)
"#;

struct Pki {
    ca_pem: String,
    dir: tempfile::TempDir,
}

/// A CA and a leaf for 127.0.0.1/localhost signed by it (rustls refuses self-signed leaves).
fn make_pki() -> Pki {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "ward test CA");
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let mut leaf = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    leaf.subject_alt_names
        .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    leaf.distinguished_name
        .push(DnType::CommonName, "smtp.test");
    let leaf_key = KeyPair::generate().unwrap();
    let leaf_cert = leaf.signed_by(&leaf_key, &ca_cert, &ca_key).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("leaf.pem"), leaf_cert.pem()).unwrap();
    std::fs::write(dir.path().join("leaf.key"), leaf_key.serialize_pem()).unwrap();
    Pki {
        ca_pem: ca_cert.pem(),
        dir,
    }
}

struct SmtpServer {
    child: Child,
    port: u16,
    received: Arc<Mutex<Vec<Value>>>,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl SmtpServer {
    fn start(pki: &Pki, mode: &str) -> Self {
        let py = ward_testkit::require_python_module("aiosmtpd", "scripts/deps/channels.sh");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = Command::new(py)
            .arg("-c")
            .arg(SERVER)
            .arg(pki.dir.path().join("leaf.pem"))
            .arg(pki.dir.path().join("leaf.key"))
            .arg(mode)
            .arg(port.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let received: Arc<Mutex<Vec<Value>>> = Arc::default();
        let (ready_tx, ready_rx) = mpsc::channel();
        let sink = received.clone();
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
        SmtpServer {
            child,
            port,
            received,
        }
    }

    async fn wait_for(&self, n: usize) -> Vec<Value> {
        for _ in 0..200 {
            if self.received.lock().unwrap().len() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.received.lock().unwrap().clone()
    }
}

fn email(reference: &str, to: &str) -> OutboundMessage {
    OutboundMessage::new(
        reference,
        Recipient::Email(to.into()),
        "HSA-2026-0001: SMBv1 exposure",
        "Acknowledge within 48 hours.",
    )
}

fn config(pki: &Pki, port: u16, security: SmtpSecurity) -> SmtpConfig {
    let mut c = SmtpConfig::new("127.0.0.1", port, "ward alerts <alerts@ward.example>");
    c.security = security;
    c.extra_ca_pem = Some(pki.ca_pem.clone());
    c.pool_max_size = 2;
    c.timeout_ms = 5_000;
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_with_test_ca_pooled_and_reply_codes_mapped() {
    let pki = make_pki();
    let server = SmtpServer::start(&pki, "starttls");
    let ch = SmtpChannel::new(config(&pki, server.port, SmtpSecurity::Starttls)).unwrap();
    assert_eq!(ch.kind(), ChannelKind::Email);
    assert_eq!(ch.test_connection().await, Ok(true));

    for i in 0..4 {
        let out = ch
            .send(&email(&format!("INC-{i}"), "lead@trust.nhs.uk"))
            .await;
        assert!(
            matches!(&out, DeliveryOutcome::Accepted { detail, .. } if detail == "SMTP 250"),
            "{out:?}"
        );
    }
    let got = server.wait_for(4).await;
    assert_eq!(got.len(), 4);
    for (i, m) in got.iter().enumerate() {
        assert_eq!(m["tls"], true, "STARTTLS was not used");
        assert_eq!(m["from"], "alerts@ward.example");
        assert_eq!(m["to"], serde_json::json!(["lead@trust.nhs.uk"]));
        let data = m["data"].as_str().unwrap();
        assert!(
            data.contains("Subject: HSA-2026-0001: SMBv1 exposure"),
            "{data}"
        );
        assert!(
            data.contains(&format!("Message-ID: <INC-{i}@ward.example>")),
            "{data}"
        );
        assert!(data.contains("Acknowledge within 48 hours."));
    }
    // Pooled: sequential sends reuse the pool's connections (at most 2) rather than opening
    // four; the pool may alternate between them, so count distinct ones.
    let ports: std::collections::BTreeSet<u64> = got
        .iter()
        .map(|m| m["peer_port"].as_u64().unwrap())
        .collect();
    assert!(ports.len() <= 2, "no connection reuse: {ports:?}");

    assert!(matches!(ch.send(&email("r", "reject@trust.nhs.uk")).await,
        DeliveryOutcome::Permanent { reason } if reason.contains("550")));
    assert!(matches!(ch.send(&email("l", "later@trust.nhs.uk")).await,
        DeliveryOutcome::Retryable { reason, .. } if reason.contains("451")));
    assert!(matches!(
        ch.send(&email("x", "not an address")).await,
        DeliveryOutcome::Permanent { .. }
    ));

    // Without the test CA the certificate is not trusted: nothing is sent.
    let mut untrusted = config(&pki, server.port, SmtpSecurity::Starttls);
    untrusted.extra_ca_pem = None;
    let ch2 = SmtpChannel::new(untrusted).unwrap();
    assert!(matches!(
        ch2.send(&email("u", "lead@trust.nhs.uk")).await,
        DeliveryOutcome::Retryable { .. }
    ));
    assert_eq!(server.received.lock().unwrap().len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn implicit_tls_and_unreachable_relay() {
    let pki = make_pki();
    let server = SmtpServer::start(&pki, "implicit");
    let ch = SmtpChannel::new(config(&pki, server.port, SmtpSecurity::Implicit)).unwrap();
    let out = ch.send(&email("IMPL-1", "lead@trust.nhs.uk")).await;
    assert!(out.is_accepted(), "{out:?}");
    let got = server.wait_for(1).await;
    assert_eq!(got[0]["tls"], true);

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead = SmtpChannel::new(config(&pki, port, SmtpSecurity::Starttls)).unwrap();
    assert!(matches!(
        dead.send(&email("d", "lead@trust.nhs.uk")).await,
        DeliveryOutcome::Retryable { .. }
    ));
}
