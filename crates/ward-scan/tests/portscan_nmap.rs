//! TCP connect port scan on loopback compared with `nmap -sT`, banners from
//! services that speak first, a filtered verdict from a listener whose
//! accept queue is full, and ward's nmap-style XML read by nmap's `ndiff`.

mod common;

use std::io::Write;
use std::net::TcpListener;
use std::process::Command;

use common::*;
use ward_scan::checks::portscan::{PortScanConfig, PortSpec, PortState};
use ward_scan::output::{to_nmap_xml, ServiceNames};
use ward_scan::{Check, ScanRequest, Scanner, ServicePorts};

struct Fixture {
    open: Vec<u16>,
    closed: Vec<u16>,
    banner_port: u16,
    _listeners: Vec<TcpListener>,
}

fn fixture() -> Fixture {
    let mut ls = Vec::new();
    for _ in 0..3 {
        ls.push(TcpListener::bind("127.0.0.1:0").unwrap());
    }
    let open: Vec<u16> = ls.iter().map(|l| l.local_addr().unwrap().port()).collect();
    // A service that speaks first, like FTP or SMTP.
    let banner = TcpListener::bind("127.0.0.1:0").unwrap();
    let banner_port = banner.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut s in banner.incoming().flatten() {
            let _ = s.write_all(b"220 ward-test FTP ready\r\n");
        }
    });
    let closed: Vec<u16> = (0..4)
        .map(|_| free_port())
        .filter(|p| !open.contains(p) && *p != banner_port)
        .collect();
    Fixture {
        open,
        closed,
        banner_port,
        _listeners: ls,
    }
}

fn nmap_states(ports: &[u16]) -> (String, Vec<u16>) {
    let list: Vec<String> = ports.iter().map(u16::to_string).collect();
    let out = Command::new(require("nmap"))
        .args([
            "-sT",
            "-Pn",
            "-n",
            "-p",
            &list.join(","),
            "-oX",
            "-",
            "127.0.0.1",
        ])
        .output()
        .expect("run nmap");
    let xml = String::from_utf8_lossy(&out.stdout).into_owned();
    let open = ward_scan::bench::nmap_xml_open_ports(&xml);
    (xml, open)
}

#[test]
fn open_closed_and_banner_agree_with_nmap_and_ndiff_reads_our_xml() {
    let f = fixture();
    let mut ports: Vec<u16> = f.open.iter().chain(f.closed.iter()).copied().collect();
    ports.push(f.banner_port);
    let scope = loopback_scope();
    let scanner = Scanner::builder()
        .service_ports(ServicePorts {
            smb: vec![],
            rdp: vec![],
            tls: vec![],
            http: vec![],
        })
        .build();
    let req = ScanRequest {
        targets: vec!["127.0.0.1".into()],
        ports: PortSpec::List(ports.clone()),
        checks: Some([Check::PortScan].into_iter().collect()),
    };
    let rep = block_on(scanner.run(&scope, &req));
    let h = &rep.hosts[0];
    let mut expect_open = f.open.clone();
    expect_open.push(f.banner_port);
    expect_open.sort_unstable();
    assert_eq!(h.ports.open_ports(), expect_open);
    assert_eq!(h.ports.closed, f.closed.len());
    assert!(h.ports.filtered.is_empty());
    let b = h
        .ports
        .open
        .iter()
        .find(|p| p.port == f.banner_port)
        .unwrap();
    assert_eq!(b.banner.as_deref(), Some("220 ward-test FTP ready"));
    assert!(h
        .ports
        .open
        .iter()
        .filter(|p| p.port != f.banner_port)
        .all(|p| p.banner.is_none()));

    let (nmap_xml, nmap_open) = nmap_states(&ports);
    assert_eq!(
        nmap_open, expect_open,
        "nmap disagrees with the fixture:\n{nmap_xml}"
    );

    // ndiff (nmap's own XML differ) must read ward's XML and see the same
    // port states as in nmap's.
    let dir = tempfile::tempdir().unwrap();
    let names =
        ServiceNames::from_nmap_services(std::path::Path::new("/usr/share/nmap/nmap-services"))
            .unwrap_or_else(|_| ServiceNames::builtin());
    std::fs::write(dir.path().join("ward.xml"), to_nmap_xml(&rep, &names)).unwrap();
    std::fs::write(dir.path().join("nmap.xml"), &nmap_xml).unwrap();
    // --xml: ndiff 7.93's text mode crashes on per-port script differences
    // (our banner script), its XML mode does not.
    let out = Command::new(require("ndiff"))
        .arg("--xml")
        .arg(dir.path().join("nmap.xml"))
        .arg(dir.path().join("ward.xml"))
        .output()
        .expect("run ndiff");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.code() == Some(0) || out.status.code() == Some(1),
        "ndiff could not read the XML: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        text
    );
    assert!(text.contains("<nmapdiff"), "{text}");
    if std::env::var_os("WARD_SHOW_NDIFF").is_some() {
        println!("{text}");
    }
    // A state difference shows as <state> inside an <a>/<b> block; equal
    // states sit outside them. The only difference allowed is our banner.
    for pd in text.split("<portdiff>").skip(1) {
        let pd = pd.split("</portdiff>").next().unwrap_or("");
        for (open, close) in [("<a>", "</a>"), ("<b>", "</b>")] {
            if let Some(block) = pd.split(open).nth(1).and_then(|x| x.split(close).next()) {
                assert!(
                    !block.contains("<state") && !block.contains("<service"),
                    "ndiff sees a port difference:\n{text}"
                );
            }
        }
    }
    assert!(
        text.contains("<script id=\"banner\" output=\"220 ward-test FTP ready\"/>"),
        "ndiff did not read our port scripts:\n{text}"
    );
}

#[test]
fn full_accept_queue_is_filtered_after_retries() {
    // A listener that never accepts, with its queue filled: further SYNs
    // are dropped, which is what a firewall's DROP looks like.
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.bind(
        &"127.0.0.1:0"
            .parse::<std::net::SocketAddr>()
            .unwrap()
            .into(),
    )
    .unwrap();
    sock.listen(0).unwrap();
    let port = sock.local_addr().unwrap().as_socket().unwrap().port();
    let mut fillers = Vec::new();
    for _ in 0..4 {
        if let Ok(s) = std::net::TcpStream::connect_timeout(
            &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
            std::time::Duration::from_millis(200),
        ) {
            fillers.push(s);
        }
    }
    let scope = loopback_scope();
    let target = scope
        .authorise("127.0.0.1", ward_scan::Timestamp::now())
        .unwrap();
    let conn = Scanner::builder().build().connector(&target);
    let cfg = PortScanConfig {
        initial_timeout: std::time::Duration::from_millis(150),
        min_timeout: std::time::Duration::from_millis(100),
        retries: 1,
        banner_timeout: None,
        ..PortScanConfig::default()
    };
    let r = block_on(ward_scan::checks::portscan::scan_ports(
        &conn,
        target.addresses()[0],
        &[port],
        &cfg,
        Default::default(),
    ))
    .unwrap();
    assert_eq!(r.filtered.len(), 1, "{r:?}");
    assert_eq!(r.filtered[0].state, PortState::Filtered);
    assert_eq!(
        r.filtered[0].attempts, 2,
        "one retransmission after the first timeout"
    );
    drop(fillers);
}

#[test]
fn one_worker_reusing_refused_sockets_still_sees_every_open_port() {
    // With one worker every probe after the first reuses the socket a
    // refused connect left behind; open ports in between must still show.
    let listeners: Vec<TcpListener> = (0..5)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let open: Vec<u16> = listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect();
    let mut ports = Vec::new();
    let mut closed = 0;
    for &o in &open {
        for _ in 0..3 {
            let c = free_port();
            if !open.contains(&c) && !ports.contains(&c) {
                ports.push(c);
                closed += 1;
            }
        }
        ports.push(o);
    }
    let scope = loopback_scope();
    let target = scope
        .authorise("127.0.0.1", ward_scan::Timestamp::now())
        .unwrap();
    let conn = Scanner::builder().build().connector(&target);
    let cfg = PortScanConfig {
        concurrency: 1,
        banner_timeout: None,
        ..PortScanConfig::default()
    };
    let r = block_on(ward_scan::checks::portscan::scan_ports(
        &conn,
        target.addresses()[0],
        &ports,
        &cfg,
        Default::default(),
    ))
    .unwrap();
    let mut expect = open.clone();
    expect.sort_unstable();
    assert_eq!(r.open_ports(), expect);
    assert_eq!(r.closed, closed);
    assert!(r.filtered.is_empty());
    drop(listeners);
}

#[test]
fn ipv6_loopback_is_scanned_like_ipv4() {
    let l = TcpListener::bind("[::1]:0").expect("IPv6 loopback");
    let open = l.local_addr().unwrap().port();
    let closed = {
        let t = TcpListener::bind("[::1]:0").unwrap();
        t.local_addr().unwrap().port()
    };
    let scope = loopback_scope();
    let scanner = Scanner::builder().build();
    let req = ScanRequest {
        targets: vec!["::1".into()],
        ports: PortSpec::List(vec![open, closed]),
        checks: Some([Check::PortScan].into_iter().collect()),
    };
    let rep = block_on(scanner.run(&scope, &req));
    assert!(rep.refusals.is_empty(), "{:?}", rep.refusals);
    let h = &rep.hosts[0];
    assert_eq!(h.address.to_string(), "::1");
    assert_eq!(h.ports.open_ports(), vec![open]);
    assert_eq!(h.ports.closed, 1);
    let xml = to_nmap_xml(&rep, &ServiceNames::builtin());
    assert!(xml.contains("<address addr=\"::1\" addrtype=\"ipv6\"/>"));
}
