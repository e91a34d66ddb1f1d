//! SMB dialects and MS17-010 against two real Samba servers on loopback,
//! compared with nmap's `smb-protocols`.

mod common;

use std::net::SocketAddr;

use common::*;
use ward_scan::checks::smb::{check_ms17_010, enumerate_dialects, Ms17010Verdict, Signing};
use ward_scan::{Scanner, Timestamp};

fn ward_dialects(port: u16) -> ward_scan::checks::smb::SmbDialects {
    let scope = loopback_scope();
    let target = scope.authorise("127.0.0.1", Timestamp::now()).unwrap();
    let scanner = Scanner::builder().build();
    let conn = scanner.connector(&target);
    block_on(enumerate_dialects(
        &conn,
        SocketAddr::from(([127, 0, 0, 1], port)),
    ))
    .expect("enumerate dialects")
}

fn normalised(d: &ward_scan::checks::smb::SmbDialects) -> Vec<String> {
    d.nmap_names()
        .iter()
        .map(|n| normalise_dialect(n))
        .collect()
}

#[test]
fn nt1_samba_accepts_smbv1_and_matches_nmap() {
    let smbd = start_smbd(true);
    let ours = ward_dialects(smbd.port);
    assert!(
        ours.smb1.accepted,
        "SMBv1 must be reported on the NT1 server: {:?}\n{}",
        ours.smb1,
        smbd.log()
    );
    assert_eq!(ours.smb1.word_count, Some(17));
    assert_eq!(ours.smb1.dialect_index, Some(0));
    assert_eq!(
        ours.smb1.domain.as_deref(),
        Some("WARD"),
        "workgroup from smb.conf"
    );
    let (nmap, raw) = nmap_smb_protocols(smbd.port);
    assert!(!nmap.is_empty(), "nmap printed no dialects:\n{raw}");
    assert_eq!(
        normalised(&ours),
        nmap,
        "ward and nmap disagree; nmap said:\n{raw}"
    );
    assert!(ours.signing.is_some());
    capture_golden("samba-nt1-smb1-negotiate", ours.smb1.reply_hex.as_deref());
    capture_golden(
        "samba-nt1-smb2-negotiate-311",
        ours.smb2_reply_hex.as_deref(),
    );
}

#[test]
fn default_samba_refuses_smbv1_and_matches_nmap() {
    let smbd = start_smbd(false);
    let ours = ward_dialects(smbd.port);
    assert!(
        !ours.smb1.accepted,
        "SMBv1 must not be reported on the default server: {:?}",
        ours.smb1
    );
    assert!(
        ours.smb2.contains(&0x0311),
        "3.1.1 expected, got {:?}",
        ours.smb2
    );
    let (nmap, raw) = nmap_smb_protocols(smbd.port);
    assert!(!nmap.is_empty(), "nmap printed no dialects:\n{raw}");
    assert!(!nmap.iter().any(|d| d == "NT LM 0.12"));
    assert_eq!(
        normalised(&ours),
        nmap,
        "ward and nmap disagree; nmap said:\n{raw}"
    );
    // Samba's default for a standalone server: signing enabled, not required.
    assert_eq!(ours.signing, Some(Signing::Enabled));
    capture_golden(
        "samba-default-smb1-negotiate",
        ours.smb1.reply_hex.as_deref(),
    );
}

#[test]
fn ms17_010_on_nt1_samba_reaches_transaction_and_reports_patched() {
    let smbd = start_smbd(true);
    let scope = loopback_scope();
    let target = scope.authorise("127.0.0.1", Timestamp::now()).unwrap();
    let scanner = Scanner::builder().build();
    let conn = scanner.connector(&target);
    let r = block_on(check_ms17_010(
        &conn,
        SocketAddr::from(([127, 0, 0, 1], smbd.port)),
        "127.0.0.1",
        false,
    ))
    .expect("ms17-010 check");
    assert_eq!(r.reached, "transaction", "{r:?}\n{}", smbd.log());
    assert_eq!(
        r.transaction_status,
        Some(0xC000_0008),
        "Samba answers STATUS_INVALID_HANDLE: {r:?}"
    );
    assert_eq!(r.verdict, Ms17010Verdict::Patched);
    capture_golden(
        "samba-nt1-peeknamedpipe-fid0",
        r.transaction_reply_hex.as_deref(),
    );
    assert!(
        r.native_os.as_deref().unwrap_or("").contains("Unix")
            || r.native_lanman.as_deref().unwrap_or("").contains("Samba"),
        "{r:?}"
    );
}

#[test]
fn ms17_010_on_default_samba_cannot_determine() {
    let smbd = start_smbd(false);
    let scope = loopback_scope();
    let target = scope.authorise("127.0.0.1", Timestamp::now()).unwrap();
    let conn = Scanner::builder().build().connector(&target);
    let r = block_on(check_ms17_010(
        &conn,
        SocketAddr::from(([127, 0, 0, 1], smbd.port)),
        "127.0.0.1",
        false,
    ))
    .expect("ms17-010 check");
    assert_eq!(r.verdict, Ms17010Verdict::Unknown);
    assert_eq!(r.reached, "negotiate");
}
