//! Scope refusal, proven with a listener that counts connections: an
//! out-of-scope address, a host name resolving outside the scope, a closed
//! window, and a connector asked for an address it was not authorised for
//! must all leave the count at zero.

mod common;

use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use ward_scan::checks::portscan::PortSpec;
use ward_scan::net::ProbeError;
use ward_scan::{RefusalReason, ScanRequest, Scanner, ServicePorts, TimeWindow, Timestamp};

fn counting_listener() -> (u16, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let n = Arc::new(AtomicUsize::new(0));
    let c = n.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            if s.is_ok() {
                c.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    (port, n)
}

fn scanner(port: u16) -> Scanner {
    Scanner::builder()
        .service_ports(ServicePorts {
            smb: vec![port],
            rdp: vec![port],
            tls: vec![port],
            http: vec![port],
        })
        .build()
}

fn settle() {
    std::thread::sleep(Duration::from_millis(300));
}

#[test]
fn out_of_scope_address_and_name_are_refused_with_no_connection() {
    let (port, count) = counting_listener();
    let mut scope = loopback_scope();
    scope.cidrs = vec!["127.0.0.2/32".parse().unwrap()];
    let req = ScanRequest {
        targets: vec![
            "127.0.0.1".into(),
            "localhost".into(),
            "[::ffff:127.0.0.1]".into(),
        ],
        ports: PortSpec::List(vec![port]),
        checks: None,
    };
    let rep = block_on(scanner(port).run(&scope, &req));
    settle();
    assert_eq!(
        count.load(Ordering::SeqCst),
        0,
        "a packet reached an out-of-scope listener"
    );
    assert!(rep.hosts.is_empty());
    assert!(rep.findings.is_empty());
    assert_eq!(rep.refusals.len(), 3, "{:?}", rep.refusals);
    assert!(matches!(
        rep.refusals[0].reason,
        RefusalReason::AddressOutOfScope { .. }
    ));
    match &rep.refusals[1].reason {
        RefusalReason::NameResolvesOutside { address, resolved } => {
            assert_eq!(address.to_string(), "127.0.0.1");
            assert!(!resolved.is_empty());
        }
        other => panic!("expected SCAN-R006 for localhost, got {other:?}"),
    }
    assert_eq!(rep.refusals[1].reason.code(), "SCAN-R006");
    assert_eq!(rep.refusals[1].member, "RXH");
    assert!(
        matches!(
            rep.refusals[2].reason,
            RefusalReason::AddressOutOfScope { .. }
        ),
        "an IPv4-mapped address is the IPv4 address"
    );

    // Positive control: the same listener does count an in-scope scan.
    let rep = block_on(scanner(port).run(
        &loopback_scope(),
        &ScanRequest {
            targets: vec!["localhost".into()],
            ports: PortSpec::List(vec![port]),
            checks: None,
        },
    ));
    settle();
    assert!(rep.refusals.is_empty(), "{:?}", rep.refusals);
    assert!(
        count.load(Ordering::SeqCst) > 0,
        "the counting listener must see an authorised scan"
    );
}

#[test]
fn closed_window_and_future_authorisation_are_refused() {
    let (port, count) = counting_listener();
    let now = Timestamp::now();
    let mut past = loopback_scope();
    past.windows = vec![TimeWindow {
        start: Timestamp(now.0 - 7200),
        end: Timestamp(now.0 - 3600),
    }];
    let mut future = loopback_scope();
    future.authorised_at = Timestamp(now.0 + 3600);
    let req = ScanRequest {
        targets: vec!["127.0.0.1".into()],
        ports: PortSpec::List(vec![port]),
        checks: None,
    };
    let a = block_on(scanner(port).run(&past, &req));
    let b = block_on(scanner(port).run(&future, &req));
    settle();
    assert_eq!(count.load(Ordering::SeqCst), 0);
    assert_eq!(a.refusals[0].reason.code(), "SCAN-R003");
    assert_eq!(b.refusals[0].reason.code(), "SCAN-R002");
}

#[test]
fn connector_refuses_addresses_it_was_not_authorised_for() {
    let (port, count) = counting_listener();
    let mut scope = loopback_scope();
    scope.cidrs.push("127.0.0.2/32".parse().unwrap());
    let target = scope.authorise("127.0.0.2", Timestamp::now()).unwrap();
    let conn = Scanner::builder().build().connector(&target);
    let e = block_on(conn.connect(SocketAddr::from(([127, 0, 0, 1], port)))).unwrap_err();
    assert!(matches!(e, ProbeError::NotAuthorised { .. }), "{e:?}");
    assert_eq!(e.code(), "SCAN-N001");
    settle();
    assert_eq!(count.load(Ordering::SeqCst), 0);
}

#[test]
fn checks_outside_consent_are_refused_and_not_run() {
    let (port, count) = counting_listener();
    let mut scope = loopback_scope();
    scope.allowed_checks = [ward_scan::Check::Smb].into_iter().collect();
    let req = ScanRequest {
        targets: vec!["127.0.0.1".into()],
        ports: PortSpec::Full,
        checks: Some(
            [ward_scan::Check::PortScan, ward_scan::Check::Smb]
                .into_iter()
                .collect(),
        ),
    };
    // Only SMB is allowed: no port scan, only the SMB service port is touched.
    let sc = Scanner::builder()
        .service_ports(ServicePorts {
            smb: vec![port],
            rdp: vec![],
            tls: vec![],
            http: vec![],
        })
        .build();
    let rep = block_on(sc.run(&scope, &req));
    settle();
    assert!(
        rep.refusals.iter().any(|r| r.reason.code() == "SCAN-R008"),
        "{:?}",
        rep.refusals
    );
    assert_eq!(
        rep.hosts[0].ports.probed, 1,
        "only the SMB port may be probed"
    );
    assert!(!rep.findings.iter().any(|f| f.check == "port.open"));
    assert!(count.load(Ordering::SeqCst) >= 1);
}

#[test]
fn a_scan_stops_when_its_window_closes() {
    // The window closes about two seconds from now; at 500 probes/s the
    // 5,000 ports (on an address no other test uses, below the ephemeral
    // range) would take ten.
    let now = Timestamp::now();
    let mut scope = loopback_scope();
    scope.cidrs.push("127.0.0.78/32".parse().unwrap());
    scope.windows = vec![TimeWindow {
        start: Timestamp(now.0 - 60),
        end: Timestamp(now.0 + 2),
    }];
    let req = ScanRequest {
        targets: vec!["127.0.0.78".into()],
        ports: PortSpec::List((2_000..7_000).collect()),
        checks: Some([ward_scan::Check::PortScan].into_iter().collect()),
    };
    let t0 = std::time::Instant::now();
    let rep = block_on(
        Scanner::builder()
            .rate_per_target(500)
            .build()
            .run(&scope, &req),
    );
    let took = t0.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "the scan ran {took:?}, past its window"
    );
    let h = &rep.hosts[0];
    assert!(
        h.errors.iter().any(|e| e.code == "SCAN-N002"),
        "{:?}",
        h.errors
    );
}
