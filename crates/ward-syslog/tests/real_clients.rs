//! ward's syslog listeners against real senders: util-linux `logger` and
//! Debian's `rsyslogd` (with rsyslog-gnutls for TLS). Install them with
//! `scripts/deps/formats.sh`; these tests fail, not skip, without them.
//!
//! Every message must arrive exactly once, parsed, under the right
//! organisation; a client certificate of organisation A cannot send as B; a
//! certificate from an unknown CA is refused and counted.

use std::collections::HashMap;
use std::io::Write;
use std::net::{SocketAddr, TcpListener as StdTcpListener, TcpStream as StdTcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ward_event::Event;
use ward_syslog::{
    fingerprint, start, Backpressure, ConnRefusal, ListenerConfig, RunningListeners,
    StaticResolver, SyslogSink, TlsListenerConfig, Transport,
};

const DEPS: &str = "scripts/deps/formats.sh";

fn require(cmd: &str) -> PathBuf {
    for dir in ["/usr/sbin", "/usr/bin", "/sbin", "/bin"] {
        let p = Path::new(dir).join(cmd);
        if p.exists() {
            return p;
        }
    }
    panic!("`{cmd}` is not installed: run {DEPS} (installs rsyslog, rsyslog-gnutls and logger)");
}

#[derive(Default)]
struct Collect(Mutex<Vec<(String, Event)>>);

#[async_trait::async_trait]
impl SyslogSink for Collect {
    async fn submit(&self, org: &str, records: Vec<Event>) -> Result<(), Backpressure> {
        let mut v = self.0.lock().unwrap();
        v.extend(records.into_iter().map(|e| (org.to_string(), e)));
        Ok(())
    }
}

impl Collect {
    fn matching(&self, needle: &str) -> Vec<(String, Event)> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, e)| e.original.raw.contains(needle))
            .cloned()
            .collect()
    }
}

async fn wait_for(sink: &Collect, needle: &str, n: usize, secs: u64) -> Vec<(String, Event)> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let got = sink.matching(needle);
        if got.len() >= n || Instant::now() > deadline {
            // Give duplicates a moment to show up before judging.
            tokio::time::sleep(Duration::from_millis(300)).await;
            return sink.matching(needle);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every `<tag>-<i>` for i in 0..n arrived exactly once, parsed, as `org`.
fn assert_once(got: &[(String, Event)], tag: &str, n: usize, org: &str) {
    let mut seen: HashMap<usize, usize> = HashMap::new();
    for (o, e) in got {
        assert_eq!(o, org, "wrong organisation for {}", e.original.raw);
        assert_eq!(e.org.as_deref(), Some(org));
        assert!(
            e.is_parsed(),
            "not parsed: {:?} {}",
            e.parse_status,
            e.original.raw
        );
        let idx = e
            .original
            .raw
            .split(&format!("{tag}-"))
            .nth(1)
            .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|d| d.parse::<usize>().ok())
            .unwrap_or_else(|| panic!("no index in {}", e.original.raw));
        *seen.entry(idx).or_default() += 1;
    }
    for i in 0..n {
        assert_eq!(
            seen.get(&i).copied(),
            Some(1),
            "{tag}-{i} arrived {:?} times",
            seen.get(&i)
        );
    }
}

fn logger(args: &[&str], lines: &[String]) {
    let mut child = Command::new(require("logger"))
        .args(args)
        .stdin(Stdio::piped())
        .spawn()
        .expect("run logger");
    {
        let stdin = child.stdin.as_mut().unwrap();
        for l in lines {
            writeln!(stdin, "{l}").unwrap();
        }
    }
    let st = child.wait().unwrap();
    assert!(st.success(), "logger {args:?} failed: {st}");
}

fn free_port() -> u16 {
    StdTcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn lines(tag: &str, n: usize, extra: &str) -> Vec<String> {
    (0..n)
        .map(|i| format!("ward e2e {tag}-{i} {extra}"))
        .collect()
}

async fn listeners(
    cfg: ListenerConfig,
    resolver: StaticResolver,
) -> (Arc<Collect>, RunningListeners) {
    let sink = Arc::new(Collect::default());
    let running = start(cfg, sink.clone(), Arc::new(resolver)).await.unwrap();
    (sink, running)
}

fn local_resolver(org: &str) -> StaticResolver {
    StaticResolver::new().with_network("127.0.0.0/8".parse().unwrap(), org)
}

fn any_local() -> Option<SocketAddr> {
    Some("127.0.0.1:0".parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logger_udp_and_tcp_both_framings() {
    let cfg = ListenerConfig {
        udp: any_local(),
        tcp: any_local(),
        ..ListenerConfig::default()
    };
    let (sink, running) = listeners(cfg, local_resolver("Y00001")).await;
    let udp = running.udp_addr.unwrap().port().to_string();
    let tcp = running.tcp_addr.unwrap().port().to_string();
    let n = 40;
    let sl = tokio::task::spawn_blocking({
        let (udp, tcp) = (udp.clone(), tcp.clone());
        move || {
            logger(
                &[
                    "-n",
                    "127.0.0.1",
                    "-P",
                    &udp,
                    "-d",
                    "--rfc5424",
                    "-t",
                    "wardtest",
                ],
                &lines("udp5424", n, ""),
            );
            logger(
                &[
                    "-n",
                    "127.0.0.1",
                    "-P",
                    &udp,
                    "-d",
                    "--rfc3164",
                    "-t",
                    "wardtest",
                ],
                &lines("udp3164", n, ""),
            );
            logger(
                &[
                    "-n",
                    "127.0.0.1",
                    "-P",
                    &tcp,
                    "-T",
                    "--rfc5424",
                    "-t",
                    "wardtest",
                ],
                &lines("tcplf", n, ""),
            );
            logger(
                &[
                    "-n",
                    "127.0.0.1",
                    "-P",
                    &tcp,
                    "-T",
                    "--octet-count",
                    "--rfc5424",
                    "--sd-id",
                    "ward@32473",
                    "--sd-param",
                    "case=\"octet\"",
                    "-t",
                    "wardtest",
                ],
                &lines("tcpoctet", n, ""),
            );
        }
    });
    sl.await.unwrap();
    for tag in ["udp5424", "udp3164", "tcplf", "tcpoctet"] {
        let got = wait_for(&sink, &format!("{tag}-"), n, 15).await;
        assert_once(&got, tag, n, "Y00001");
        for (_, e) in &got {
            assert_eq!(
                e.process.as_ref().and_then(|p| p.name.as_deref()),
                Some("wardtest")
            );
        }
    }
    let m = &running.metrics;
    assert_eq!(m.received_total(Transport::Udp), 2 * n as u64);
    assert_eq!(m.received_total(Transport::Tcp), 2 * n as u64);
    assert_eq!(m.accepted_total(), 4 * n as u64);
    assert!(m
        .render_prometheus()
        .contains(&format!("ward_syslog_messages_accepted_total {}", 4 * n)));
    running.shutdown().await;
}

struct Rsyslog {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start `rsyslogd -n` with `conf_body`, an imptcp input on a fresh port
/// bound to ruleset `fwd`; returns the process and that input port.
fn rsyslog(conf_body: &str, global: &str) -> (Rsyslog, u16) {
    let bin = require("rsyslogd");
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let port = free_port();
    let conf = format!(
        "global(workDirectory=\"{work}\" {global})\n\
         module(load=\"imptcp\")\n\
         input(type=\"imptcp\" port=\"{port}\" address=\"127.0.0.1\" ruleset=\"fwd\")\n\
         ruleset(name=\"fwd\") {{\n{conf_body}\n}}\n",
        work = work.display()
    );
    let conf_path = dir.path().join("rsyslog.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let pid = dir.path().join("rsyslogd.pid");
    let child = Command::new(bin)
        .arg("-n")
        .arg("-f")
        .arg(&conf_path)
        .arg("-i")
        .arg(&pid)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start rsyslogd");
    let r = Rsyslog { child, _dir: dir };
    let deadline = Instant::now() + Duration::from_secs(15);
    while StdTcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "rsyslogd did not open its input port"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (r, port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsyslog_forwards_udp_and_tcp_both_framings() {
    let mk = || ListenerConfig {
        udp: any_local(),
        tcp: any_local(),
        ..ListenerConfig::default()
    };
    let (s_udp, r_udp) = listeners(mk(), local_resolver("Y00002")).await;
    let (s_oct, r_oct) = listeners(mk(), local_resolver("Y00002")).await;
    let (s_lf, r_lf) = listeners(mk(), local_resolver("Y00002")).await;
    let body = format!(
        "action(type=\"omfwd\" target=\"127.0.0.1\" port=\"{}\" protocol=\"udp\" template=\"RSYSLOG_SyslogProtocol23Format\")\n\
         action(type=\"omfwd\" target=\"127.0.0.1\" port=\"{}\" protocol=\"tcp\" TCP_Framing=\"octet-counted\" template=\"RSYSLOG_SyslogProtocol23Format\")\n\
         action(type=\"omfwd\" target=\"127.0.0.1\" port=\"{}\" protocol=\"tcp\" TCP_Framing=\"traditional\" template=\"RSYSLOG_ForwardFormat\")",
        r_udp.udp_addr.unwrap().port(),
        r_oct.tcp_addr.unwrap().port(),
        r_lf.tcp_addr.unwrap().port()
    );
    let (_rs, in_port) = rsyslog(&body, "");
    let n = 50;
    let port = in_port.to_string();
    tokio::task::spawn_blocking(move || {
        logger(
            &[
                "-n",
                "127.0.0.1",
                "-P",
                &port,
                "-T",
                "--octet-count",
                "--rfc5424",
                "-t",
                "gpfw",
            ],
            &lines("rs", n, "from the practice firewall"),
        );
    })
    .await
    .unwrap();
    for (sink, what) in [
        (&s_udp, "udp"),
        (&s_oct, "tcp octet-counted"),
        (&s_lf, "tcp LF"),
    ] {
        let got = wait_for(sink, "rs-", n, 20).await;
        assert_eq!(got.len(), n, "{what}: got {} of {n}", got.len());
        assert_once(&got, "rs", n, "Y00002");
        for (_, e) in &got {
            assert_eq!(
                e.process.as_ref().and_then(|p| p.name.as_deref()),
                Some("gpfw"),
                "{what}: {}",
                e.original.raw
            );
            assert!(e.time.is_some(), "{what}: timestamp parsed");
        }
    }
    for r in [r_udp, r_oct, r_lf] {
        r.shutdown().await;
    }
}

struct Pki {
    dir: tempfile::TempDir,
    ca_pem: String,
    server_pem: String,
    server_key: String,
}

impl Pki {
    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }
}

fn issue(
    name: &str,
    sans: Vec<String>,
    ca: &rcgen::CertifiedKey,
) -> (rcgen::Certificate, rcgen::KeyPair) {
    let mut p = rcgen::CertificateParams::new(sans).unwrap();
    p.distinguished_name.push(rcgen::DnType::CommonName, name);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = p.signed_by(&key, &ca.cert, &ca.key_pair).unwrap();
    (cert, key)
}

fn new_ca(name: &str) -> rcgen::CertifiedKey {
    let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    p.distinguished_name.push(rcgen::DnType::CommonName, name);
    p.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let key_pair = rcgen::KeyPair::generate().unwrap();
    let cert = p.self_signed(&key_pair).unwrap();
    rcgen::CertifiedKey { cert, key_pair }
}

/// CA, server certificate for `ward.test`, clients A and B from the CA and a
/// rogue client from another CA; PEM files written for rsyslog.
fn pki() -> (Pki, HashMap<&'static str, String>) {
    let dir = tempfile::tempdir().unwrap();
    let ca = new_ca("ward test federation CA");
    let rogue = new_ca("rogue CA");
    let (server, server_key) = issue(
        "ward.test",
        vec!["ward.test".into(), "127.0.0.1".into()],
        &ca,
    );
    let mut fps = HashMap::new();
    let write = |n: &str, s: &str| std::fs::write(dir.path().join(n), s).unwrap();
    write("ca.pem", &ca.cert.pem());
    for (who, issuer) in [("a", &ca), ("b", &ca), ("rogue", &rogue)] {
        let (c, k) = issue(
            &format!("gp-{who}.ward.test"),
            vec![format!("gp-{who}.ward.test")],
            issuer,
        );
        write(&format!("{who}.pem"), &c.pem());
        write(&format!("{who}.key"), &k.serialize_pem());
        fps.insert(
            match who {
                "a" => "a",
                "b" => "b",
                _ => "rogue",
            },
            fingerprint(c.der()),
        );
    }
    let pki = Pki {
        ca_pem: ca.cert.pem(),
        server_pem: server.pem(),
        server_key: server_key.serialize_pem(),
        dir,
    };
    (pki, fps)
}

fn tls_client_conf(pki: &Pki, who: &str, ward_port: u16) -> (String, String) {
    let global = format!(
        "DefaultNetstreamDriverCAFile=\"{}\" DefaultNetstreamDriverCertFile=\"{}\" DefaultNetstreamDriverKeyFile=\"{}\"",
        pki.path("ca.pem"),
        pki.path(&format!("{who}.pem")),
        pki.path(&format!("{who}.key"))
    );
    let body = format!(
        "action(type=\"omfwd\" target=\"127.0.0.1\" port=\"{ward_port}\" protocol=\"tcp\" \
         StreamDriver=\"gtls\" StreamDriverMode=\"1\" StreamDriverAuthMode=\"x509/name\" \
         StreamDriverPermittedPeers=\"ward.test\" TCP_Framing=\"octet-counted\" \
         template=\"RSYSLOG_SyslogProtocol23Format\")"
    );
    (global, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsyslog_tls_client_certificates_identify_members() {
    let (pki, fps) = pki();
    // The network registration names a third organisation: it must never be
    // used when a certificate is presented.
    let resolver = StaticResolver::new()
        .with_fingerprint(&fps["a"], "ORG-A")
        .with_fingerprint(&fps["b"], "ORG-B")
        .with_network("127.0.0.0/8".parse().unwrap(), "ORG-NET");
    let cfg = ListenerConfig {
        tls: Some(TlsListenerConfig {
            addr: "127.0.0.1:0".parse().unwrap(),
            cert_chain_pem: pki.server_pem.clone(),
            key_pem: pki.server_key.clone(),
            client_ca_pem: Some(pki.ca_pem.clone()),
            require_client_cert: true,
            handshake_timeout_secs: 10,
        }),
        ..ListenerConfig::default()
    };
    let (sink, running) = listeners(cfg, resolver).await;
    let ward_port = running.tls_addr.unwrap().port();
    let n = 30;

    let (ga, ba) = tls_client_conf(&pki, "a", ward_port);
    let (gb, bb) = tls_client_conf(&pki, "b", ward_port);
    let (gr, br) = tls_client_conf(&pki, "rogue", ward_port);
    let (_ra, pa) = rsyslog(&ba, &ga);
    let (_rb, pb) = rsyslog(&bb, &gb);
    let (_rr, pr) = rsyslog(&br, &gr);
    tokio::task::spawn_blocking(move || {
        // A's device claims to be B in every way a message can.
        logger(
            &[
                "-n",
                "127.0.0.1",
                "-P",
                &pa.to_string(),
                "-T",
                "--octet-count",
                "--rfc5424",
                "--sd-id",
                "ward@32473",
                "--sd-param",
                "org=\"ORG-B\"",
                "-t",
                "orgb-fw",
            ],
            &lines("tlsa", n, "org=ORG-B I am ORG-B"),
        );
        logger(
            &[
                "-n",
                "127.0.0.1",
                "-P",
                &pb.to_string(),
                "-T",
                "--octet-count",
                "--rfc5424",
                "-t",
                "fw",
            ],
            &lines("tlsb", n, ""),
        );
        logger(
            &[
                "-n",
                "127.0.0.1",
                "-P",
                &pr.to_string(),
                "-T",
                "--octet-count",
                "--rfc5424",
                "-t",
                "fw",
            ],
            &lines("rogue", 5, ""),
        );
    })
    .await
    .unwrap();

    let a = wait_for(&sink, "tlsa-", n, 30).await;
    assert_once(&a, "tlsa", n, "ORG-A");
    let b = wait_for(&sink, "tlsb-", n, 30).await;
    assert_once(&b, "tlsb", n, "ORG-B");
    // The rogue certificate is refused at the handshake; nothing arrives.
    let deadline = Instant::now() + Duration::from_secs(10);
    while running.metrics.refused_total(ConnRefusal::TlsHandshake) == 0 && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(running.metrics.refused_total(ConnRefusal::TlsHandshake) >= 1);
    assert!(sink.matching("rogue-").is_empty());
    assert!(sink.0.lock().unwrap().iter().all(|(o, _)| o != "ORG-NET"));
    assert!(running
        .metrics
        .render_prometheus()
        .contains("ward_syslog_connections_refused_total{reason=\"tls_handshake\"}"));
    running.shutdown().await;
}
