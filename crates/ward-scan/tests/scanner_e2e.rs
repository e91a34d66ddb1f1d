//! The scanner end to end: HTTP banner and admin interface against Python's
//! http.server, progress reports, instant cancellation, JSON/CSV output, and
//! reconciliation of a re-scan that no longer sees a finding.

mod common;

use std::process::Command;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use ward_scan::checks::portscan::{PortScanConfig, PortSpec};
use ward_scan::{reconcile, Check, Phase, Progress, ScanRequest, Scanner, ServicePorts, Severity};

/// Scans that touch many ports go to a loopback address no other test binds,
/// and to ports below the ephemeral range, so that engineers running their
/// own tests on this machine at the same time never see our probes.
const QUIET_ADDR: &str = "127.0.0.77";

fn quiet_scope() -> ward_scan::Scope {
    let mut s = loopback_scope();
    s.cidrs.push("127.0.0.77/32".parse().unwrap());
    s
}

fn python() -> String {
    std::env::var("WARD_PYTHON").unwrap_or_else(|_| "python3".into())
}

fn start_http() -> Peer {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("www/phpmyadmin")).unwrap();
    std::fs::write(
        dir.path().join("www/index.html"),
        "<html><title>Trust intranet</title></html>",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("www/phpmyadmin/index.html"),
        "<html><title>phpMyAdmin</title>phpMyAdmin login</html>",
    )
    .unwrap();
    let port = free_port();
    let mut cmd = Command::new(python());
    cmd.args(["-m", "http.server", "--bind", "127.0.0.1", "--directory"])
        .arg(dir.path().join("www"))
        .arg(port.to_string());
    let p = spawn("python http.server", cmd, dir, port);
    wait_port(port, Duration::from_secs(15));
    p
}

fn http_scan(scanner: &Scanner, port: u16) -> ward_scan::ScanReport {
    let req = ScanRequest {
        targets: vec!["127.0.0.1".into()],
        ports: PortSpec::List(vec![port]),
        checks: Some(
            [Check::PortScan, Check::Http, Check::Eol]
                .into_iter()
                .collect(),
        ),
    };
    block_on(scanner.run(&loopback_scope(), &req))
}

#[test]
fn http_banner_admin_interface_outputs_and_rescan_reconciliation() {
    let http = start_http();
    let port = http.port;
    let snapshots: Arc<Mutex<Vec<Progress>>> = Arc::default();
    let s2 = snapshots.clone();
    let scanner = Scanner::builder()
        .service_ports(ServicePorts {
            smb: vec![],
            rdp: vec![],
            tls: vec![],
            http: vec![port],
        })
        .on_progress(
            move |p| s2.lock().unwrap().push(p.clone()),
            Duration::from_millis(20),
        )
        .build();
    let rep = http_scan(&scanner, port);
    let (_, h) = rep.hosts[0]
        .http
        .first()
        .unwrap_or_else(|| panic!("no HTTP report: {:?}\n{}", rep.hosts[0].errors, http.log()));
    assert_eq!(h.status, 200);
    assert!(
        h.server.as_deref().unwrap_or("").starts_with("SimpleHTTP/"),
        "{h:?}"
    );
    assert_eq!(h.title.as_deref(), Some("Trust intranet"));
    let admin = rep
        .findings
        .iter()
        .find(|f| f.check == "http.admin_interface")
        .unwrap_or_else(|| panic!("{:#?}", rep.findings));
    assert_eq!(admin.subject, "/phpmyadmin/");
    assert_eq!(admin.severity, Severity::Medium);
    // Only the entry whose body check matches; /admin/ etc. are 404 here.
    assert_eq!(
        rep.findings
            .iter()
            .filter(|f| f.check == "http.admin_interface")
            .count(),
        1
    );
    assert!(rep.findings.iter().any(|f| f.check == "http.server"
        && f.evidence
            .fields
            .get("server")
            .is_some_and(|s| s.contains("Python"))));

    let last = snapshots
        .lock()
        .unwrap()
        .last()
        .cloned()
        .expect("progress was reported");
    assert_eq!(last.phase, Phase::Done);
    assert_eq!(
        (
            last.targets_total,
            last.targets_done,
            last.ports_done,
            last.open_ports
        ),
        (1, 1, 1, 1)
    );
    assert_eq!(last.findings as usize, rep.findings.len());

    // Outputs.
    let json: serde_json::Value = serde_json::from_str(&ward_scan::output::to_json(&rep)).unwrap();
    assert_eq!(json["member"], "RXH");
    assert_eq!(
        json["findings"].as_array().unwrap().len(),
        rep.findings.len()
    );
    let csv = ward_scan::output::findings_to_csv(&rep.findings);
    assert_eq!(csv.lines().count(), rep.findings.len() + 1);
    assert!(csv.starts_with("member,scope_id,host,address,port,check"));
    let xml = ward_scan::output::to_nmap_xml(&rep, &ward_scan::output::ServiceNames::builtin());
    assert!(xml.contains("<script id=\"ward-http.admin_interface\""));

    // Re-scan after the server is gone: everything it reported is closed.
    let previous: Vec<_> = rep.findings.iter().map(|f| f.key()).collect();
    drop(http);
    std::thread::sleep(Duration::from_millis(200));
    let rep2 = http_scan(&scanner, port);
    let r = reconcile(&previous, &rep2.findings);
    assert!(r.new.is_empty() && r.seen_again.is_empty(), "{r:?}");
    assert_eq!(r.closed.len(), previous.len());
    // Everything closed was looked for again; a finding on an address this
    // scan did not visit would not be closed.
    let mut r2 = r.clone();
    let mut elsewhere = previous[0].clone();
    elsewhere.address = "127.0.0.9".parse().unwrap();
    r2.closed.push(elsewhere);
    r2.retain_covered(|k| rep2.covers(k));
    assert_eq!(r2.closed.len(), previous.len());
}

#[test]
fn cancellation_stops_a_long_scan_at_once() {
    // One scan's own token (`ward scan cancel <id>`), a child of the
    // scanner's. It is cancelled from the progress callback once 2,000 ports
    // are done, so the scan has certainly started.
    let parent = ward_scan::CancellationToken::new();
    let token = parent.child_token();
    let cancelled_at: Arc<Mutex<Option<Instant>>> = Arc::default();
    let (t, at) = (token.clone(), cancelled_at.clone());
    let scanner = Arc::new(
        Scanner::builder()
            .port_scan(PortScanConfig {
                concurrency: 64,
                banner_timeout: None,
                ..PortScanConfig::default()
            })
            .rate_per_target(2_000)
            .cancel_token(parent)
            .on_progress(
                move |p| {
                    if p.ports_done >= 200 && !t.is_cancelled() {
                        *at.lock().unwrap() = Some(Instant::now());
                        t.cancel();
                    }
                },
                Duration::from_millis(5),
            )
            .build(),
    );
    let req = ScanRequest {
        targets: vec![QUIET_ADDR.into()],
        ports: PortSpec::List((1_000..11_000).collect()),
        checks: Some([Check::PortScan].into_iter().collect()),
    };
    let rep = block_on(scanner.run_cancellable(&quiet_scope(), &req, token));
    let stopped_after = cancelled_at
        .lock()
        .unwrap()
        .expect("cancelled from the progress callback")
        .elapsed();
    assert!(rep.cancelled);
    // At 2,000 probes/s the rest of the list would take about 5 s.
    assert!(
        stopped_after < Duration::from_millis(1000),
        "the scan went on for {stopped_after:?} after cancellation"
    );
    let h = &rep.hosts[0];
    assert!(
        h.errors.iter().any(|e| e.code == "SCAN-N003"),
        "{:?}",
        h.errors
    );

    // Only that scan stopped: the scanner runs the next one.
    let next = ScanRequest {
        targets: vec![QUIET_ADDR.into()],
        ports: PortSpec::List(vec![1_000]),
        checks: Some([Check::PortScan].into_iter().collect()),
    };
    let rep = block_on(scanner.run(&quiet_scope(), &next));
    assert!(!rep.cancelled);
    assert_eq!(rep.hosts[0].ports.probed, 1);
}

#[test]
fn rate_limit_per_target_is_respected() {
    let scanner = Scanner::builder()
        .rate_per_target(200)
        .port_scan(PortScanConfig {
            banner_timeout: None,
            ..PortScanConfig::default()
        })
        .build();
    let ports: Vec<u16> = (1_000..1_100).collect();
    let req = ScanRequest {
        targets: vec![QUIET_ADDR.into()],
        ports: PortSpec::List(ports),
        checks: Some([Check::PortScan].into_iter().collect()),
    };
    let t0 = Instant::now();
    let rep = block_on(scanner.run(&quiet_scope(), &req));
    let took = t0.elapsed();
    // 100 probes at 200/s with a burst of 20: at least ~0.4 s.
    assert!(
        took >= Duration::from_millis(350),
        "100 probes at 200/s took only {took:?}"
    );
    assert_eq!(rep.hosts[0].ports.probed, 100);
}
