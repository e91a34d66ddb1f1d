//! RDP against Debian's xrdp on a loopback port: exposed, NLA not enforced,
//! Standard RDP Security accepted, and its (self-signed) certificate read.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;
use ward_scan::checks::portscan::PortSpec;
use ward_scan::{Check, ScanRequest, Scanner, ServicePorts, Severity};

fn start_xrdp() -> Peer {
    let xrdp = require("xrdp");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    run_openssl(
        dir.path(),
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
            "-days",
            "30",
            "-subj",
            "/CN=xrdp-test.invalid",
        ],
    );
    let base = std::fs::read_to_string("/etc/xrdp/xrdp.ini")
        .expect("read /etc/xrdp/xrdp.ini: run scripts/deps/scan.sh");
    let d = dir.path().display();
    let mut ini = String::new();
    for line in base.lines() {
        let l = if line.starts_with("port=") && !ini.contains("[Xorg]") {
            format!("port=tcp://127.0.0.1:{port}")
        } else if line.starts_with("certificate=") {
            format!("certificate={d}/cert.pem")
        } else if line.starts_with("key_file=") {
            format!("key_file={d}/key.pem")
        } else if line.starts_with("LogFile=") {
            format!("LogFile={d}/xrdp.log")
        } else if line.starts_with("EnableSyslog=") {
            "EnableSyslog=false".to_string()
        } else {
            line.to_string()
        };
        ini.push_str(&l);
        ini.push('\n');
    }
    std::fs::write(dir.path().join("xrdp.ini"), ini).unwrap();
    let mut cmd = Command::new(xrdp);
    cmd.arg("--nodaemon")
        .arg("--config")
        .arg(dir.path().join("xrdp.ini"));
    let mut peer = spawn("xrdp", cmd, dir, port);
    let t0 = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(st)) = peer.child.try_wait() {
            panic!("xrdp exited ({st}) before listening:\n{}", peer.log());
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "xrdp did not listen on {port}:\n{}",
            peer.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    peer
}

#[test]
fn xrdp_is_exposed_without_nla() {
    let x = start_xrdp();
    let scope = loopback_scope();
    let scanner = Scanner::builder()
        .service_ports(ServicePorts {
            smb: vec![],
            rdp: vec![x.port],
            tls: vec![],
            http: vec![],
        })
        .build();
    let req = ScanRequest {
        targets: vec!["127.0.0.1".into()],
        ports: PortSpec::List(vec![x.port]),
        checks: Some([Check::PortScan, Check::Rdp].into_iter().collect()),
    };
    let rep = block_on(scanner.run(&scope, &req));
    let h = &rep.hosts[0];
    let (_, r) = h
        .rdp
        .first()
        .unwrap_or_else(|| panic!("no RDP report: {:?}\n{}", h.errors, x.log()));
    assert!(!r.nla_enforced, "{r:?}");
    assert!(r.ssl_accepted, "{r:?}");
    assert!(
        r.standard_rdp_accepted,
        "xrdp's security_layer=negotiate accepts Standard RDP Security: {r:?}"
    );
    let cert = r
        .certificate
        .as_ref()
        .unwrap_or_else(|| panic!("no certificate: {r:?}"));
    assert_eq!(cert.subject_cn.as_deref(), Some("xrdp-test.invalid"));
    capture_golden("xrdp-x224-confirm-rdp", r.confirm_hex.as_deref());
    let titles: Vec<&str> = rep.findings.iter().map(|f| f.title.as_str()).collect();
    assert!(
        titles.contains(&"RDP exposed, NLA not enforced"),
        "{titles:?}"
    );
    let nla = rep
        .findings
        .iter()
        .find(|f| f.check == "rdp.nla_not_enforced")
        .unwrap();
    assert_eq!(nla.severity, Severity::High);
    assert_eq!(nla.port, Some(x.port));
    assert!(rep
        .findings
        .iter()
        .any(|f| f.check == "tls.cert_self_signed" && f.port == Some(x.port)));
}
