//! The MS17-010 vulnerable and DoublePulsar branches, against a small
//! loopback SMB1 responder that answers the five messages of the check with
//! the documented statuses (as an unpatched, infected Windows 7 would).

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::*;
use ward_scan::checks::portscan::PortSpec;
use ward_scan::checks::smb::{check_ms17_010, Ms17010Verdict};
use ward_scan::{Check, ScanRequest, Scanner, ServicePorts, Severity, Timestamp};

#[derive(Clone, Copy)]
struct Behaviour {
    trans_status: u32,
    implant: bool,
}

fn reply(
    cmd: u8,
    status: u32,
    tid: u16,
    uid: u16,
    mid: u16,
    words: &[u8],
    bytes: &[u8],
) -> Vec<u8> {
    let mut m = b"\xffSMB".to_vec();
    m.push(cmd);
    m.extend_from_slice(&status.to_le_bytes());
    m.push(0x98);
    m.extend_from_slice(&0x4001u16.to_le_bytes());
    m.extend_from_slice(&[0u8; 12]);
    m.extend_from_slice(&tid.to_le_bytes());
    m.extend_from_slice(&0xFEFFu16.to_le_bytes());
    m.extend_from_slice(&uid.to_le_bytes());
    m.extend_from_slice(&mid.to_le_bytes());
    m.push((words.len() / 2) as u8);
    m.extend_from_slice(words);
    m.extend_from_slice(&(bytes.len() as u16).to_le_bytes());
    m.extend_from_slice(bytes);
    let mut f = vec![0u8];
    f.extend_from_slice(&(m.len() as u32).to_be_bytes()[1..]);
    f.extend_from_slice(&m);
    f
}

fn serve(mut s: TcpStream, b: Behaviour) {
    loop {
        let mut h = [0u8; 4];
        if s.read_exact(&mut h).is_err() {
            return;
        }
        let len = ((h[1] as usize) << 16) | ((h[2] as usize) << 8) | h[3] as usize;
        let mut p = vec![0u8; len];
        if s.read_exact(&mut p).is_err() {
            return;
        }
        if !p.starts_with(b"\xffSMB") {
            return; // SMB2 and anything else: hang up, as Windows XP would
        }
        let cmd = p[4];
        let mid = u16::from_le_bytes([p[30], p[31]]);
        let out = match cmd {
            0x72 => {
                let mut w = Vec::new();
                w.extend_from_slice(&0u16.to_le_bytes()); // dialect index
                w.push(0x03); // security mode: user, encrypt passwords
                w.extend_from_slice(&50u16.to_le_bytes());
                w.extend_from_slice(&1u16.to_le_bytes());
                w.extend_from_slice(&16644u32.to_le_bytes());
                w.extend_from_slice(&65536u32.to_le_bytes());
                w.extend_from_slice(&0u32.to_le_bytes());
                w.extend_from_slice(&0x0000_f3fdu32.to_le_bytes()); // no extended security
                w.extend_from_slice(&0u64.to_le_bytes());
                w.extend_from_slice(&0u16.to_le_bytes());
                w.push(8);
                let mut by = vec![1, 2, 3, 4, 5, 6, 7, 8];
                by.extend_from_slice(b"WORKGROUP\0WIN7-PC\0");
                reply(0x72, 0, 0, 0, mid, &w, &by)
            }
            0x73 => {
                let w = [0xFF, 0, 0, 0, 0, 0];
                reply(0x73, 0, 0, 2048, mid, &w, b"Windows 7 Professional 7601 Service Pack 1\0Windows 7 Professional 6.1\0WORKGROUP\0")
            }
            0x75 => {
                let w = [0xFF, 0, 0, 0, 0, 0];
                reply(0x75, 0, 2049, 2048, mid, &w, b"IPC\0")
            }
            0x25 => reply(0x25, b.trans_status, 2049, 2048, mid, &[], &[]),
            0x32 => {
                let mid = if b.implant { mid + 16 } else { mid };
                reply(0x32, 0xC000_0002, 2049, 2048, mid, &[], &[])
            }
            _ => return,
        };
        if s.write_all(&out).is_err() {
            return;
        }
    }
}

/// Starts the responder; returns its port and a connection counter.
fn responder(b: Behaviour) -> (u16, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            c.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || serve(s, b));
        }
    });
    (port, count)
}

fn run_check(port: u16, dp: bool) -> ward_scan::checks::smb::Ms17010Report {
    let scope = loopback_scope();
    let target = scope.authorise("127.0.0.1", Timestamp::now()).unwrap();
    let conn = Scanner::builder().build().connector(&target);
    block_on(check_ms17_010(
        &conn,
        SocketAddr::from(([127, 0, 0, 1], port)),
        "127.0.0.1",
        dp,
    ))
    .expect("check")
}

#[test]
fn insuff_server_resources_means_vulnerable_and_mid_81_means_implant() {
    let (port, _) = responder(Behaviour {
        trans_status: 0xC000_0205,
        implant: true,
    });
    let r = run_check(port, true);
    assert_eq!(r.verdict, Ms17010Verdict::Vulnerable, "{r:?}");
    assert_eq!(r.transaction_status, Some(0xC000_0205));
    assert_eq!(r.double_pulsar, Some(true));
    assert_eq!(r.double_pulsar_mid, Some(81));
    assert_eq!(
        r.native_os.as_deref(),
        Some("Windows 7 Professional 7601 Service Pack 1")
    );
}

#[test]
fn access_denied_means_patched_and_no_implant() {
    let (port, _) = responder(Behaviour {
        trans_status: 0xC000_0022,
        implant: false,
    });
    let r = run_check(port, true);
    assert_eq!(r.verdict, Ms17010Verdict::Patched, "{r:?}");
    assert_eq!(r.double_pulsar, Some(false));
    assert_eq!(r.double_pulsar_mid, Some(65));
}

#[test]
fn other_status_means_could_not_determine() {
    let (port, _) = responder(Behaviour {
        trans_status: 0xC000_0001,
        implant: false,
    });
    let r = run_check(port, false);
    assert_eq!(r.verdict, Ms17010Verdict::Unknown, "{r:?}");
    assert_eq!(r.reached, "transaction");
    assert_eq!(
        r.double_pulsar, None,
        "the DoublePulsar probe is optional and was not asked for"
    );
}

#[test]
fn scanner_files_critical_findings_and_end_of_life_against_the_member() {
    let (port, _) = responder(Behaviour {
        trans_status: 0xC000_0205,
        implant: true,
    });
    let scope = loopback_scope();
    let scanner = Scanner::builder()
        .service_ports(ServicePorts {
            smb: vec![port],
            rdp: vec![],
            tls: vec![],
            http: vec![],
        })
        .build();
    let req = ScanRequest {
        targets: vec!["127.0.0.1".into()],
        ports: PortSpec::List(vec![port]),
        checks: Some(
            [
                Check::PortScan,
                Check::Smb,
                Check::Ms17010,
                Check::DoublePulsar,
                Check::Eol,
            ]
            .into_iter()
            .collect(),
        ),
    };
    let rep = block_on(scanner.run(&scope, &req));
    let get = |c: &str| {
        rep.findings
            .iter()
            .find(|f| f.check == c)
            .unwrap_or_else(|| panic!("no {c} finding in {:#?}", rep.findings))
    };
    assert_eq!(get("smb.v1").severity, Severity::High);
    let ms = get("smb.ms17_010");
    assert_eq!(ms.severity, Severity::Critical);
    assert_eq!(ms.member, "RXH");
    assert_eq!(ms.port, Some(port));
    assert_eq!(
        ms.evidence
            .fields
            .get("transaction_status")
            .map(String::as_str),
        Some("0xc0000205")
    );
    assert!(
        ms.evidence
            .bytes_hex
            .as_deref()
            .unwrap_or("")
            .starts_with("ff534d4225050200c0"),
        "{:?}",
        ms.evidence.bytes_hex
    );
    assert_eq!(get("smb.doublepulsar").severity, Severity::Critical);
    let eol: Vec<&str> = rep
        .findings
        .iter()
        .filter(|f| f.check == "eol.os")
        .map(|f| f.subject.as_str())
        .collect();
    assert!(eol.contains(&"windows-7"), "{eol:?}");
    assert!(
        eol.contains(&"windows-server-2003"),
        "SMB1-only inference expected: {eol:?}"
    );
    assert!(!rep.cancelled);
}
