//! `ward serve` with its syslog listeners and file uploads, against real senders: util-linux
//! `logger` and Debian's `rsyslogd` with rsyslog-gnutls (install with `scripts/deps/formats.sh`;
//! these tests fail, not skip, without them).
//!
//! Members' sources are registered with `ward source add` against the running server. Every
//! message must be stored exactly once, parsed, under the organisation its connection proves
//! (never the one its text claims); refusals are counted on `/metrics` and `/api/v1/intake`.
//! The durable event log is read back after the server is stopped.

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{member, Ward};
use serde_json::Value;
use ward_eventlog::{EmbeddedLog, EventLog, LogOptions, LogRecord};

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

fn lines(tag: &str, n: usize, extra: &str) -> Vec<String> {
    (0..n)
        .map(|i| format!("ward e2e {tag}-{i} {extra}"))
        .collect()
}

fn ok(out: &std::process::Output) -> Value {
    assert!(
        out.status.success(),
        "ward failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

/// Every record of the durable log (read after the server stopped).
fn read_log(data_dir: &Path) -> Vec<LogRecord> {
    let log = EmbeddedLog::open(&data_dir.join("eventlog"), LogOptions::default()).unwrap();
    let mut reader = log.reader(0).unwrap();
    let mut out = Vec::new();
    loop {
        let batch = reader.read_batch(10_000).unwrap();
        if batch.is_empty() {
            return out;
        }
        out.extend(batch);
    }
}

fn payload(r: &LogRecord) -> Value {
    serde_json::from_slice(&r.payload).expect("stored records are JSON")
}

/// Records whose message holds `<tag>-`: each index 0..n exactly once, under `org`, parsed.
fn assert_once(records: &[LogRecord], tag: &str, n: usize, org: &str) -> Vec<Value> {
    let needle = format!("{tag}-");
    let mut seen: HashMap<usize, usize> = HashMap::new();
    let mut out = Vec::new();
    for r in records {
        let v = payload(r);
        let msg = v["message"].as_str().unwrap_or("");
        let Some(rest) = msg.split(&needle).nth(1) else {
            continue;
        };
        assert_eq!(r.org, org, "{tag}: wrong organisation for {v}");
        assert_eq!(v["ward"]["parse"]["status"], "parsed", "{v}");
        let idx: usize = rest
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|d| d.parse().ok())
            .unwrap_or_else(|| panic!("no index in {msg}"));
        *seen.entry(idx).or_default() += 1;
        out.push(v);
    }
    for i in 0..n {
        assert_eq!(
            seen.get(&i),
            Some(&1),
            "{tag}-{i} stored {:?} times",
            seen.get(&i)
        );
    }
    assert_eq!(seen.len(), n, "{tag}: unexpected indexes {seen:?}");
    out
}

/// Polls `/api/v1/intake` until `done` holds (30 s at most).
fn wait_intake(w: &Ward, done: impl Fn(&Value) -> bool) -> Value {
    w.wait_for("/api/v1/intake", done)
}

fn metrics(w: &Ward) -> String {
    reqwest::blocking::get(format!("{}/metrics", w.url))
        .unwrap()
        .text()
        .unwrap()
}

fn syslog_env(udp: u16, tcp: u16) -> Vec<(String, String)> {
    vec![
        ("WARD_SYSLOG__UDP_LISTEN".into(), format!("127.0.0.1:{udp}")),
        ("WARD_SYSLOG__TCP_LISTEN".into(), format!("127.0.0.1:{tcp}")),
        ("WARD_SYSLOG__SOURCES_REFRESH_MS".into(), "100".into()),
    ]
}

fn env_refs(v: &[(String, String)]) -> Vec<(&str, &str)> {
    v.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect()
}

#[test]
fn logger_udp_and_tcp_both_framings_into_serve() {
    let dir = tempfile::tempdir().unwrap();
    let (udp, tcp) = (ward_testkit::free_port(), ward_testkit::free_port());
    let env = syslog_env(udp, tcp);
    let mut w = Ward::start(dir.path(), &env_refs(&env));
    member(&w, "RJ1", "London");
    member(&w, "B82005", "London");

    // No source registered yet: the message is refused, counted, never stored.
    let (udp_s, tcp_s) = (udp.to_string(), tcp.to_string());
    logger(
        &[
            "-n",
            "127.0.0.1",
            "-P",
            &udp_s,
            "-d",
            "--rfc5424",
            "-t",
            "wardtest",
        ],
        &lines("early", 1, ""),
    );
    let v = wait_intake(&w, |v| {
        v["syslog"]["dropped"]["unknown_member"].as_u64() >= Some(1)
    });
    assert_eq!(v["syslog"]["dropped"]["unknown_member"], 1, "{v}");

    // The loopback network is registered to RJ1; a more specific one elsewhere does not match.
    ok(&w.cli(&[
        "--json",
        "source",
        "add",
        "RJ1",
        "--network",
        "127.0.0.0/8",
        "--label",
        "lab",
    ]));
    ok(&w.cli(&[
        "--json",
        "source",
        "add",
        "B82005",
        "--network",
        "10.9.0.0/16",
    ]));
    let listed = ok(&w.cli(&["--json", "source", "list", "RJ1"]));
    assert_eq!(listed[0]["value"], "127.0.0.0/8", "{listed}");
    assert_eq!(listed[0]["kind"], "network");
    // Sources are picked up without a restart (refresh every 100 ms).
    std::thread::sleep(Duration::from_millis(600));

    let n = 40;
    logger(
        &[
            "-n",
            "127.0.0.1",
            "-P",
            &udp_s,
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
            &udp_s,
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
            &tcp_s,
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
            &tcp_s,
            "-T",
            "--octet-count",
            "--rfc5424",
            "-t",
            "wardtest",
        ],
        // A patient's NHS number in the text must never reach the log.
        &lines("tcpoctet", n, "patient 943 476 5919 seen"),
    );
    let v = wait_intake(&w, |v| {
        v["syslog"]["accepted"].as_u64() >= Some(4 * n as u64)
    });
    assert_eq!(v["syslog"]["accepted"], 4 * n as u64, "{v}");
    assert_eq!(v["syslog"]["received"]["udp"], 2 * n as u64 + 1, "{v}");
    assert_eq!(v["syslog"]["received"]["tcp"], 2 * n as u64, "{v}");
    assert_eq!(v["events_accepted"]["syslog"], 4 * n as u64, "{v}");
    let m = metrics(&w);
    assert!(
        m.contains(&format!("ward_syslog_messages_accepted_total {}", 4 * n)),
        "{m}"
    );
    assert!(
        m.contains("ward_syslog_messages_dropped_total{reason=\"unknown_member\"} 1"),
        "{m}"
    );
    assert!(
        m.contains(&format!(
            "ward_ingest_events_accepted_total{{source=\"syslog\"}} {}",
            4 * n
        )),
        "{m}"
    );
    // The web page shows the intake figures to analysts.
    let page = w
        .client()
        .get(&w.url)
        .bearer_auth(&w.token)
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(page.contains("<h2>Intake</h2>"), "{page}");
    assert!(page.contains("1 unknown_member"), "{page}");

    w.kill9();
    let log = read_log(dir.path());
    for tag in ["udp5424", "udp3164", "tcplf"] {
        for v in assert_once(&log, tag, n, "RJ1") {
            assert_eq!(v["appname"], "wardtest", "{v}");
        }
    }
    for v in assert_once(&log, "tcpoctet", n, "RJ1") {
        let text = v.to_string();
        assert!(
            !text.contains("9434765919") && !text.contains("943 476 5919"),
            "identifier stored: {text}"
        );
        assert!(text.contains("nhs:tok_"), "{text}");
    }
    assert!(!log
        .iter()
        .any(|r| String::from_utf8_lossy(&r.payload).contains("early-0")));
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

/// `rsyslogd -n` with an imptcp input on a fresh port bound to ruleset `fwd` holding `body`.
fn rsyslog(body: &str, global: &str) -> (Rsyslog, u16) {
    let bin = require("rsyslogd");
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let port = ward_testkit::free_port();
    let conf = format!(
        "global(workDirectory=\"{work}\" {global})\n\
         module(load=\"imptcp\")\n\
         input(type=\"imptcp\" port=\"{port}\" address=\"127.0.0.1\" ruleset=\"fwd\")\n\
         ruleset(name=\"fwd\") {{\n{body}\n}}\n",
        work = work.display()
    );
    let conf_path = dir.path().join("rsyslog.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let child = Command::new(bin)
        .arg("-n")
        .arg("-f")
        .arg(&conf_path)
        .arg("-i")
        .arg(dir.path().join("rsyslogd.pid"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start rsyslogd");
    let r = Rsyslog { child, _dir: dir };
    let deadline = Instant::now() + Duration::from_secs(15);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "rsyslogd did not open its port");
        std::thread::sleep(Duration::from_millis(50));
    }
    (r, port)
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

/// Writes `<who>.pem` and `<who>.key`, issued by `ca`, named `cn`.
fn issue(dir: &Path, who: &str, cn: &str, sans: Vec<String>, ca: &rcgen::CertifiedKey) {
    let mut p = rcgen::CertificateParams::new(sans).unwrap();
    p.distinguished_name.push(rcgen::DnType::CommonName, cn);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = p.signed_by(&key, &ca.cert, &ca.key_pair).unwrap();
    std::fs::write(dir.join(format!("{who}.pem")), cert.pem()).unwrap();
    std::fs::write(dir.join(format!("{who}.key")), key.serialize_pem()).unwrap();
}

fn tls_forwarder(pki: &Path, who: &str, ward_port: u16) -> (Rsyslog, u16) {
    let p = |n: String| pki.join(n).display().to_string();
    let global = format!(
        "DefaultNetstreamDriverCAFile=\"{}\" DefaultNetstreamDriverCertFile=\"{}\" DefaultNetstreamDriverKeyFile=\"{}\"",
        p("ca.pem".into()),
        p(format!("{who}.pem")),
        p(format!("{who}.key"))
    );
    let body = format!(
        "action(type=\"omfwd\" target=\"127.0.0.1\" port=\"{ward_port}\" protocol=\"tcp\" \
         StreamDriver=\"gtls\" StreamDriverMode=\"1\" StreamDriverAuthMode=\"x509/name\" \
         StreamDriverPermittedPeers=\"ward.test\" TCP_Framing=\"octet-counted\" \
         template=\"RSYSLOG_SyslogProtocol23Format\")"
    );
    rsyslog(&body, &global)
}

#[test]
fn rsyslog_tls_client_certificates_identify_members_in_serve() {
    let pki_dir = tempfile::tempdir().unwrap();
    let pki = pki_dir.path();
    let ca = new_ca("ward test federation CA");
    let rogue_ca = new_ca("rogue CA");
    std::fs::write(pki.join("ca.pem"), ca.cert.pem()).unwrap();
    issue(
        pki,
        "server",
        "ward.test",
        vec!["ward.test".into(), "127.0.0.1".into()],
        &ca,
    );
    for who in ["a", "b", "stranger"] {
        let cn = format!("gp-{who}.ward.test");
        issue(pki, who, &cn, vec![cn.clone()], &ca);
    }
    issue(
        pki,
        "rogue",
        "gp-a.ward.test",
        vec!["gp-a.ward.test".into()],
        &rogue_ca,
    );

    let dir = tempfile::tempdir().unwrap();
    let tls_port = ward_testkit::free_port();
    let f = |n: &str| pki.join(n).display().to_string();
    let env = vec![
        (
            "WARD_SYSLOG__TLS_LISTEN".to_string(),
            format!("127.0.0.1:{tls_port}"),
        ),
        ("WARD_SYSLOG__TLS_CERT_FILE".into(), f("server.pem")),
        ("WARD_SYSLOG__TLS_KEY_FILE".into(), f("server.key")),
        ("WARD_SYSLOG__TLS_CLIENT_CA_FILE".into(), f("ca.pem")),
        ("WARD_SYSLOG__SOURCES_REFRESH_MS".into(), "100".into()),
    ];
    let mut w = Ward::start(dir.path(), &env_refs(&env));
    for code in ["RJ1", "B82005", "Y00001"] {
        member(&w, code, "London");
    }
    // A by its certificate's fingerprint (read from the PEM), B by common name; the loopback
    // network belongs to a third member and must never be used when a certificate is shown.
    let a = ok(&w.cli(&["--json", "source", "add", "RJ1", "--cert", &f("a.pem")]));
    assert_eq!(a["kind"], "cert_fingerprint");
    assert_eq!(a["value"].as_str().unwrap().len(), 64, "{a}");
    ok(&w.cli(&[
        "--json",
        "source",
        "add",
        "B82005",
        "--cn",
        "gp-b.ward.test",
    ]));
    ok(&w.cli(&[
        "--json",
        "source",
        "add",
        "Y00001",
        "--network",
        "127.0.0.0/8",
    ]));
    // Another member cannot claim A's certificate.
    let dup = w.cli(&["source", "add", "B82005", "--cert", &f("a.pem")]);
    assert_eq!(dup.status.code(), Some(3), "{dup:?}");
    std::thread::sleep(Duration::from_millis(600));

    let n = 30;
    let (_ra, pa) = tls_forwarder(pki, "a", tls_port);
    let (_rb, pb) = tls_forwarder(pki, "b", tls_port);
    let (_rs, ps) = tls_forwarder(pki, "stranger", tls_port);
    let (_rr, pr) = tls_forwarder(pki, "rogue", tls_port);
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
            "org=\"B82005\"",
            "-t",
            "b82005-fw",
        ],
        &lines("tlsa", n, "org=B82005 I am B82005"),
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
    for (port, tag) in [(ps, "stranger"), (pr, "rogue")] {
        logger(
            &[
                "-n",
                "127.0.0.1",
                "-P",
                &port.to_string(),
                "-T",
                "--octet-count",
                "--rfc5424",
                "-t",
                "fw",
            ],
            &lines(tag, 3, ""),
        );
    }
    let v = wait_intake(&w, |v| {
        v["syslog"]["accepted"].as_u64() >= Some(2 * n as u64)
            && v["syslog"]["connections_refused"]["unknown_certificate"].as_u64() >= Some(1)
            && v["syslog"]["connections_refused"]["tls_handshake"].as_u64() >= Some(1)
    });
    assert_eq!(v["syslog"]["accepted"], 2 * n as u64, "{v}");
    assert!(
        v["syslog"]["connections_refused"]["unknown_certificate"].as_u64() >= Some(1),
        "an unregistered certificate is refused and counted: {v}"
    );
    assert!(
        v["syslog"]["connections_refused"]["tls_handshake"].as_u64() >= Some(1),
        "a certificate from another CA fails the handshake: {v}"
    );
    let m = metrics(&w);
    assert!(
        m.contains("ward_syslog_connections_refused_total{reason=\"unknown_certificate\"}"),
        "{m}"
    );

    w.kill9();
    let log = read_log(dir.path());
    assert_once(&log, "tlsa", n, "RJ1");
    assert_once(&log, "tlsb", n, "B82005");
    assert!(
        log.iter().all(|r| r.org != "Y00001"),
        "network used despite a certificate"
    );
    for tag in ["stranger-", "rogue-"] {
        assert!(
            !log.iter()
                .any(|r| String::from_utf8_lossy(&r.payload).contains(tag)),
            "{tag} stored"
        );
    }
}

fn vss_evtx() -> PathBuf {
    let base = std::env::var("WARD_SHARED_DATA").unwrap_or_else(|_| "../../../shared/data".into());
    let p = Path::new(&base)
        .join("evtx/EVTX-to-MITRE-Attack/TA0040-Impact/T1490-Inhibit System Recovery/ID4688-Delete VSS backup (WMI).evtx");
    assert!(
        p.exists(),
        "{} missing: set WARD_SHARED_DATA to the shared data directory",
        p.display()
    );
    p
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

#[test]
fn upload_every_file_kind_with_receipts_and_detections() {
    let evtx = vss_evtx();
    let raw = std::fs::read(&evtx).unwrap();
    let events = ward_formats::evtx::parse_evtx_file(raw.clone()).unwrap();
    let n = events.len();
    assert!(n > 0);
    let docs: Vec<Value> = events
        .iter()
        .map(|e| serde_json::from_str(&e.original.raw).unwrap())
        .collect();
    let files = tempfile::tempdir().unwrap();
    let put = |name: &str, data: &[u8]| {
        let p = files.path().join(name);
        std::fs::write(&p, data).unwrap();
        p
    };
    let jsonl: String = docs.iter().map(|d| format!("{d}\n")).collect();
    let pretty: String = docs
        .iter()
        .map(|d| serde_json::to_string_pretty(d).unwrap() + "\n")
        .collect();
    let uploads = [
        ("vss.evtx", raw.clone()),
        ("vss.evtx.gz", gzip(&raw)),
        ("vss.json", serde_json::to_vec(&docs).unwrap()),
        ("vss-pretty.json", pretty.into_bytes()),
        ("vss.jsonl", jsonl.clone().into_bytes()),
        ("vss.ndjson.gz", gzip(jsonl.as_bytes())),
    ];

    let dir = tempfile::tempdir().unwrap();
    let mut w = Ward::start(dir.path(), &[]);
    let key_rj1 = member(&w, "RJ1", "London");
    member(&w, "B82005", "London");
    let as_key = |args: &[&str]| cli_as(&w, &key_rj1, args);
    for (name, data) in &uploads {
        let path = put(name, data);
        let out = as_key(&["--json", "upload", path.to_str().unwrap()]);
        let receipts = ok(&out);
        let r = &receipts[0];
        assert_eq!(r["org"], "RJ1", "{name}: {r}");
        assert_eq!(r["records"], n as u64, "{name}: {r}");
        assert_eq!(r["accepted"], n as u64, "{name}: {r}");
        assert_eq!(r["stored_raw"], 0, "{name}: {r}");
        assert_eq!(r["gzip"], name.ends_with(".gz"), "{name}: {r}");
        let want = if name.contains(".evtx") {
            "evtx"
        } else {
            "records"
        };
        assert_eq!(r["format"], want, "{name}: {r}");
    }
    // A text log with one line no parser knows: stored raw, tagged, counted.
    let text = put(
        "fw.log",
        b"<34>1 2024-05-01T10:00:00Z fw01 sshd 4711 - - Failed password for root from 192.0.2.9 port 5000 ssh2\nnothing anyone could parse\n",
    );
    let r = &ok(&as_key(&["--json", "upload", text.to_str().unwrap()]))[0];
    assert_eq!(r["records"], 2, "{r}");
    assert_eq!(r["accepted"], 2, "{r}");
    assert_eq!(r["stored_raw"], 1, "{r}");
    // An API key uploads only as its own organisation; a file that is not EVTX is refused.
    let other = as_key(&["upload", "--org", "B82005", text.to_str().unwrap()]);
    assert_eq!(other.status.code(), Some(3), "{other:?}");
    let bad = as_key(&["upload", "--format", "evtx", text.to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(3), "{bad:?}");
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid_file"));
    // A central analyst files a back-fill for a member by naming it.
    let r = &ok(&w.cli(&[
        "--json",
        "upload",
        "--org",
        "B82005",
        put("b.jsonl", jsonl.as_bytes()).to_str().unwrap(),
    ]))[0];
    assert_eq!(r["org"], "B82005", "{r}");

    // The built-in shadow-copy rule fires on the back-filled events, under each member.
    let d = w.wait_for("/api/v1/detections?limit=1000", |v| {
        v.as_array().is_some_and(|a| {
            a.iter().any(|d| d["org_code"] == "B82005")
                && a.iter().filter(|d| d["org_code"] == "RJ1").count() >= 6
        })
    });
    let by_org = |o: &str| {
        d.as_array()
            .unwrap()
            .iter()
            .filter(|x| x["org_code"] == o)
            .count()
    };
    assert!(
        by_org("RJ1") >= 6,
        "one detection per uploaded file at least: {d}"
    );
    assert!(by_org("B82005") >= 1, "{d}");
    let v = w.wait_for("/api/v1/intake", |_| true);
    assert_eq!(
        v["events_accepted"]["upload"],
        (uploads.len() * n + 2 + n) as u64,
        "{v}"
    );

    w.kill9();
    let log = read_log(dir.path());
    let rj1 = log.iter().filter(|r| r.org == "RJ1").count();
    assert_eq!(rj1, uploads.len() * n + 2);
    assert_eq!(log.iter().filter(|r| r.org == "B82005").count(), n);
    let raw_line = log
        .iter()
        .map(payload)
        .find(|v| v["message"] == "nothing anyone could parse")
        .expect("the unparseable line is stored");
    assert_eq!(raw_line["ward"]["parse"]["status"], "raw", "{raw_line}");
}

/// Runs the `ward` CLI against `w` with another credential (an organisation's API key).
fn cli_as(w: &Ward, token: &str, args: &[&str]) -> std::process::Output {
    Command::new(common::WARD)
        .args(args)
        .env("WARD_URL", &w.url)
        .env("WARD_TOKEN", token)
        .env_remove("WARD_CONFIG")
        .output()
        .expect("run ward")
}

#[test]
fn sources_and_retention_are_central_to_change_and_scoped_to_read() {
    let dir = tempfile::tempdir().unwrap();
    let w = Ward::start(dir.path(), &[]);
    member(&w, "RJ1", "London");
    member(&w, "B82005", "London");
    let (s, v) = w.post_json(
        "/api/v1/users",
        &w.token,
        &serde_json::json!({"name": "Lee", "email": "lee@rj1.example", "role": "org_lead", "org_code": "RJ1"}),
    );
    assert_eq!(s, 201, "{v}");
    let lead = v["token"].as_str().unwrap().to_string();

    // Only central analysts register sources, and the value must have the right shape.
    let body = serde_json::json!({"kind": "network", "value": "10.1.0.0/16", "label": "site"});
    let (s, v) = w.post_json("/api/v1/organisations/RJ1/sources", &lead, &body);
    assert_eq!(s, 403, "{v}");
    let (s, v) = w.post_json("/api/v1/organisations/RJ1/sources", &w.token, &body);
    assert_eq!(s, 201, "{v}");
    let id = v["id"].as_i64().unwrap();
    for (kind, value) in [
        ("network", "10.1.0.0/33"),
        ("cert_fingerprint", "abcd"),
        ("cert_cn", ""),
        ("serial", "1"),
    ] {
        let (s, v) = w.post_json(
            "/api/v1/organisations/RJ1/sources",
            &w.token,
            &serde_json::json!({"kind": kind, "value": value}),
        );
        assert_eq!(s, 400, "{kind} {value}: {v}");
        assert_eq!(v["error"]["code"], "invalid_source", "{v}");
    }
    // Fingerprints are normalised so the resolver matches them however they were typed.
    let fp = "AB:".repeat(31) + "AB";
    let (s, v) = w.post_json(
        "/api/v1/organisations/B82005/sources",
        &w.token,
        &serde_json::json!({"kind": "cert_fingerprint", "value": fp}),
    );
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["value"], "ab".repeat(32));
    // The lead reads its own sources, not another member's.
    let (s, v) = w.get("/api/v1/organisations/RJ1/sources", &lead);
    assert_eq!((s, v.as_array().map(Vec::len)), (200, Some(1)), "{v}");
    let (s, _) = w.get("/api/v1/organisations/B82005/sources", &lead);
    assert_eq!(s, 404);
    let out = cli_as(&w, &lead, &["source", "remove", &id.to_string()]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    ok(&w.cli(&["--json", "source", "remove", &id.to_string()]));
    let listed = ok(&w.cli(&["--json", "source", "list", "RJ1"]));
    assert_eq!(listed, serde_json::json!([]));

    // Retention: central analysts set it, the member reads it, `default` resets it.
    let r = ok(&w.cli(&["--json", "retention", "set", "RJ1", "365"]));
    assert_eq!(r["retention_days"], 365, "{r}");
    let (s, v) = w.get("/api/v1/organisations/RJ1/retention", &lead);
    assert_eq!((s, v["retention_days"].as_u64()), (200, Some(365)), "{v}");
    let out = cli_as(&w, &lead, &["retention", "set", "RJ1", "1"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let out = w.cli(&["retention", "set", "RJ1", "0"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let r = ok(&w.cli(&["--json", "retention", "set", "RJ1", "default"]));
    assert_eq!(r["retention_days"], Value::Null, "{r}");
    let (s, _) = w.get("/api/v1/organisations/B82005/retention", &lead);
    assert_eq!(s, 404);
    // The new routes are in the OpenAPI document.
    let (_, doc) = w.get("/api/v1/openapi.json", &w.token);
    for path in [
        "/api/v1/organisations/{ods}/sources",
        "/api/v1/sources/{id}",
        "/api/v1/organisations/{ods}/retention",
        "/api/v1/uploads",
        "/api/v1/intake",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} not documented");
    }
}

#[test]
fn configured_limits_drop_and_count() {
    let dir = tempfile::tempdir().unwrap();
    let (udp, tcp) = (ward_testkit::free_port(), ward_testkit::free_port());
    let mut env = syslog_env(udp, tcp);
    env.extend([
        (
            "WARD_SYSLOG__RATE_PER_MEMBER".to_string(),
            "0.001".to_string(),
        ),
        ("WARD_SYSLOG__BURST_PER_MEMBER".into(), "5".into()),
        ("WARD_SYSLOG__MAX_MESSAGE_BYTES".into(), "2048".into()),
        ("WARD_INGEST__MAX_EVENT_BYTES".into(), "600".into()),
        // Registrations through the API apply at once, not at the next periodic check.
        ("WARD_SYSLOG__SOURCES_REFRESH_MS".into(), "600000".into()),
    ]);
    let w = Ward::start(dir.path(), &env_refs(&env));
    member(&w, "RJ1", "London");
    ok(&w.cli(&["source", "add", "RJ1", "--network", "127.0.0.1/32"]));
    std::thread::sleep(Duration::from_millis(300));
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let send = |m: String| {
        sock.send_to(m.as_bytes(), ("127.0.0.1", udp)).unwrap();
        std::thread::sleep(Duration::from_millis(5));
    };
    // Over the listener's message size: dropped before anything else.
    send(format!("<13>1 - h app - - - big {}", "x".repeat(3000)));
    // Within it, but its stored record is over ingest.max_event_bytes: refused alone, counted.
    send(format!("<13>1 - h app - - - medium {}", "y".repeat(1500)));
    for i in 0..20 {
        send(format!("<13>1 - h app - - - limited-{i}"));
    }
    let v = wait_intake(&w, |v| {
        v["syslog"]["accepted"].as_u64().unwrap_or(0)
            + v["syslog"]["dropped"]["rate_limited"].as_u64().unwrap_or(0)
            >= 21
    });
    assert_eq!(v["syslog"]["dropped"]["too_large"], 1, "{v}");
    assert_eq!(v["syslog"]["accepted"], 5, "the burst, then nothing: {v}");
    assert_eq!(v["syslog"]["dropped"]["rate_limited"], 16, "{v}");
    assert_eq!(v["events_accepted"]["syslog"], 4, "{v}");
    assert_eq!(v["refused"]["syslog"]["event_too_large"], 1, "{v}");
    let m = metrics(&w);
    assert!(
        m.contains("ward_syslog_messages_dropped_total{reason=\"rate_limited\"} 16"),
        "{m}"
    );
    assert!(
        m.contains(
            "ward_ingest_records_refused_total{source=\"syslog\",reason=\"event_too_large\"} 1"
        ),
        "{m}"
    );
}
