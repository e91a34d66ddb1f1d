//! TLS checks against `openssl s_server` peers whose good and bad
//! configurations (versions, ciphers, certificates) this test generates.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use common::*;
use ward_scan::checks::portscan::PortSpec;
use ward_scan::proto::tls::TlsVersion;
use ward_scan::{Check, ScanReport, ScanRequest, Scanner, ServicePorts, Severity};

const CA_CNF: &str = "[ca]\ndefault_ca = testca\n[testca]\ndir = .\ndatabase = index.txt\nnew_certs_dir = .\nserial = serial\ndefault_md = MD\npolicy = pol\ncopy_extensions = copy\nunique_subject = no\n[pol]\ncommonName = supplied\n";

fn ca_config(dir: &Path, md: &str) {
    std::fs::write(dir.join("ca.cnf"), CA_CNF.replace("MD", md)).unwrap();
    std::fs::write(dir.join("index.txt"), "").unwrap();
    std::fs::write(dir.join("serial"), "1000\n").unwrap();
}

/// CA-signed, CN=localhost with SANs, RSA 2048, valid now; TLS 1.2 and 1.3
/// only with OpenSSL's default (strong) ciphers.
fn start_good() -> Peer {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    ca_config(p, "sha256");
    run_openssl(
        p,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "30",
            "-subj",
            "/CN=Ward Test CA",
        ],
    );
    run_openssl(
        p,
        &[
            "req",
            "-new",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "srv.key",
            "-out",
            "srv.csr",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
    );
    run_openssl(
        p,
        &[
            "ca", "-batch", "-config", "ca.cnf", "-cert", "ca.pem", "-keyfile", "ca.key", "-in",
            "srv.csr", "-out", "srv.pem", "-days", "30",
        ],
    );
    let port = free_port();
    let mut cmd = Command::new(openssl());
    cmd.current_dir(p).args([
        "s_server",
        "-www",
        "-accept",
        &format!("127.0.0.1:{port}"),
        "-cert",
        "srv.pem",
        "-key",
        "srv.key",
        "-no_tls1",
        "-no_tls1_1",
    ]);
    let peer = spawn("openssl s_server (good)", cmd, dir, port);
    wait_port(port, std::time::Duration::from_secs(10));
    peer
}

/// Self-signed, expired, CN=wrong.example, RSA 1024, SHA-1; TLS 1.0-1.3
/// with every cipher OpenSSL still has, at security level 0.
fn start_bad() -> Peer {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    ca_config(p, "sha1");
    run_openssl(
        p,
        &[
            "req",
            "-new",
            "-newkey",
            "rsa:1024",
            "-nodes",
            "-keyout",
            "srv.key",
            "-out",
            "srv.csr",
            "-subj",
            "/CN=wrong.example",
        ],
    );
    run_openssl(
        p,
        &[
            "ca",
            "-batch",
            "-selfsign",
            "-config",
            "ca.cnf",
            "-keyfile",
            "srv.key",
            "-in",
            "srv.csr",
            "-out",
            "srv.pem",
            "-startdate",
            "20200101000000Z",
            "-enddate",
            "20210101000000Z",
        ],
    );
    let port = free_port();
    let mut cmd = Command::new(openssl());
    cmd.current_dir(p).args([
        "s_server",
        "-www",
        "-accept",
        &format!("127.0.0.1:{port}"),
        "-cert",
        "srv.pem",
        "-key",
        "srv.key",
        "-cipher",
        "ALL:eNULL:aNULL:@SECLEVEL=0",
        "-tls1",
    ]);
    // `-tls1` pins 1.0; a second server instance is not needed because the
    // version probes are what is under test: see `bad_versions` below.
    let peer = spawn("openssl s_server (bad)", cmd, dir, port);
    wait_port(port, std::time::Duration::from_secs(10));
    peer
}

fn scan(port: u16, target: &str) -> ScanReport {
    let scope = loopback_scope();
    let scanner = Scanner::builder()
        .service_ports(ServicePorts {
            smb: vec![],
            rdp: vec![],
            tls: vec![port],
            http: vec![],
        })
        .build();
    let req = ScanRequest {
        targets: vec![target.into()],
        ports: PortSpec::List(vec![port]),
        checks: Some([Check::PortScan, Check::Tls].into_iter().collect()),
    };
    block_on(scanner.run(&scope, &req))
}

fn checks(rep: &ScanReport) -> BTreeSet<String> {
    rep.findings.iter().map(|f| f.check.clone()).collect()
}

#[test]
fn good_server_has_only_modern_versions_and_a_clean_certificate() {
    let s = start_good();
    let rep = scan(s.port, "localhost");
    assert!(rep.refusals.is_empty(), "{:?}", rep.refusals);
    let (_, t) = rep.hosts[0]
        .tls
        .first()
        .unwrap_or_else(|| panic!("no TLS report {:?}\n{}", rep.hosts[0].errors, s.log()));
    assert_eq!(
        t.versions,
        vec![TlsVersion::Tls12, TlsVersion::Tls13],
        "{t:?}"
    );
    assert!(t.weak_ciphers.is_empty(), "{:?}", t.weak_ciphers);
    let c = t.certificate.as_ref().expect("certificate");
    assert_eq!(c.subject_cn.as_deref(), Some("localhost"));
    assert_eq!(c.issuer_cn.as_deref(), Some("Ward Test CA"));
    assert_eq!(c.public_key.bits, 2048);
    assert!(c.dns_names.contains(&"localhost".to_string()));
    capture_golden("openssl-good-leaf-cert", t.certificate_hex.as_deref());
    let cs = checks(&rep);
    for bad in [
        "tls.deprecated_protocol",
        "tls.weak_cipher",
        "tls.cert_expired",
        "tls.cert_self_signed",
        "tls.cert_name_mismatch",
        "tls.cert_weak_key",
        "tls.cert_weak_signature",
    ] {
        assert!(!cs.contains(bad), "unexpected {bad} in {cs:?}");
    }
    assert!(cs.contains("tls.versions"));
}

#[test]
fn bad_server_is_caught_on_every_count() {
    let s = start_bad();
    let rep = scan(s.port, "localhost");
    let (_, t) = rep.hosts[0]
        .tls
        .first()
        .unwrap_or_else(|| panic!("no TLS report {:?}\n{}", rep.hosts[0].errors, s.log()));
    assert_eq!(t.versions, vec![TlsVersion::Tls10], "{t:?}");
    let weak: BTreeSet<&str> = t.weak_ciphers.iter().map(|w| w.name.as_str()).collect();
    // Debian's OpenSSL 3 has no RC4, DES or 3DES left; NULL and anonymous
    // suites are what a careless configuration can still enable.
    for w in [
        "NULL-SHA",
        "NULL-MD5",
        "ADH-AES128-SHA",
        "AECDH-AES128-SHA",
        "AECDH-NULL-SHA",
    ] {
        assert!(weak.contains(w), "{w} not reported; got {weak:?}");
    }
    let c = t.certificate.as_ref().expect("certificate");
    assert_eq!(c.public_key.bits, 1024);
    assert!(c.self_issued);
    capture_golden("openssl-bad-leaf-cert", t.certificate_hex.as_deref());
    let cs = checks(&rep);
    for expected in [
        "tls.deprecated_protocol",
        "tls.weak_cipher",
        "tls.cert_expired",
        "tls.cert_self_signed",
        "tls.cert_name_mismatch",
        "tls.cert_weak_key",
        "tls.cert_weak_signature",
    ] {
        assert!(cs.contains(expected), "{expected} missing from {cs:?}");
    }
    let null = rep
        .findings
        .iter()
        .find(|f| f.check == "tls.weak_cipher" && f.subject == "NULL-SHA")
        .unwrap();
    assert_eq!(null.severity, Severity::High);
    let adh = rep
        .findings
        .iter()
        .find(|f| f.check == "tls.weak_cipher" && f.subject == "ADH-AES128-SHA")
        .unwrap();
    assert_eq!(adh.severity, Severity::High);
    assert!(
        weak.iter()
            .all(|w| !w.contains("GCM") || w.starts_with("ADH")),
        "only weak suites may be listed: {weak:?}"
    );
}

#[test]
fn bad_versions_tls11_and_tls12_at_seclevel_0() {
    // A server allowing every version from 1.0 up, at security level 0.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    run_openssl(
        p,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "k.pem",
            "-out",
            "c.pem",
            "-days",
            "5",
            "-subj",
            "/CN=localhost",
        ],
    );
    let port = free_port();
    let mut cmd = Command::new(openssl());
    cmd.current_dir(p).args([
        "s_server",
        "-www",
        "-accept",
        &format!("127.0.0.1:{port}"),
        "-cert",
        "c.pem",
        "-key",
        "k.pem",
        "-cipher",
        "DEFAULT:@SECLEVEL=0",
        "-min_protocol",
        "TLSv1",
        "-max_protocol",
        "TLSv1.2",
    ]);
    let s = spawn("openssl s_server (old versions)", cmd, dir, port);
    wait_port(port, std::time::Duration::from_secs(10));
    let rep = scan(s.port, "127.0.0.1");
    let (_, t) = rep.hosts[0].tls.first().expect("TLS report");
    assert_eq!(
        t.versions,
        vec![TlsVersion::Tls10, TlsVersion::Tls11, TlsVersion::Tls12],
        "{t:?}\n{}",
        s.log()
    );
    assert!(
        t.weak_ciphers.is_empty(),
        "DEFAULT has no weak suites: {:?}",
        t.weak_ciphers
    );
    let dep: BTreeSet<&str> = rep
        .findings
        .iter()
        .filter(|f| f.check == "tls.deprecated_protocol")
        .map(|f| f.subject.as_str())
        .collect();
    assert_eq!(dep, ["TLSv1.0", "TLSv1.1"].into_iter().collect());
    // Target given as an address: no name to mismatch.
    assert!(!checks(&rep).contains("tls.cert_name_mismatch"));
}
