//! Golden tests: replies captured from the real peers (Samba, xrdp,
//! openssl s_server) stored hex-encoded under `tests/golden/*.hex`, parsed,
//! and compared with `*.expected`.
//!
//! Regenerate the captures (runs the peers):
//!   WARD_CAPTURE_GOLDEN=1 cargo test -p ward-scan --test smb_samba --test rdp_xrdp --test tls_openssl
//! Regenerate the expectations after a deliberate parser change:
//!   WARD_BLESS=1 cargo test -p ward-scan --test golden

use std::path::Path;

use ward_scan::proto::{rdp, smb, x509};

fn unhex(s: &str) -> Vec<u8> {
    let s = s.trim();
    assert!(s.len() % 2 == 0, "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit"))
        .collect()
}

fn render(name: &str, bytes: &[u8]) -> String {
    if name.ends_with("smb1-negotiate") {
        format!("{:#?}", smb::parse_smb1_negotiate(bytes))
    } else if name.contains("smb2-negotiate") {
        format!("{:#?}", smb::parse_smb2_negotiate(bytes))
    } else if name.contains("peeknamedpipe") {
        format!(
            "{:#?}",
            smb::parse_smb1(bytes).map(|m| (m.header, m.word_count))
        )
    } else if name.contains("x224-confirm") {
        format!("{:#?}", rdp::parse_connection_confirm(bytes))
    } else if name.ends_with("leaf-cert") {
        format!("{:#?}", x509::parse_certificate(bytes))
    } else {
        panic!("no parser for golden file {name}")
    }
}

#[test]
fn golden_replies_parse_as_expected() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let bless = std::env::var_os("WARD_BLESS").is_some();
    let mut n = 0;
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "hex"))
    {
        let name = p.file_stem().unwrap().to_string_lossy().into_owned();
        let got = render(&name, &unhex(&std::fs::read_to_string(&p).unwrap())) + "\n";
        let exp_path = p.with_extension("expected");
        if bless {
            std::fs::write(&exp_path, &got).unwrap();
        }
        let expected = std::fs::read_to_string(&exp_path)
            .unwrap_or_else(|_| panic!("{} missing: run with WARD_BLESS=1", exp_path.display()));
        assert_eq!(got, expected, "golden mismatch for {name}");
        n += 1;
    }
    assert!(n >= 7, "expected the 7 captured replies, found {n}");
}

#[test]
fn golden_verdicts() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let read = |n: &str| unhex(&std::fs::read_to_string(dir.join(format!("{n}.hex"))).unwrap());
    assert!(smb::parse_smb1_negotiate(&read("samba-nt1-smb1-negotiate"))
        .unwrap()
        .smb1_accepted());
    let refused = smb::parse_smb1_negotiate(&read("samba-default-smb1-negotiate")).unwrap();
    assert!(!refused.smb1_accepted());
    assert_eq!(refused.dialect_index, 0xFFFF);
    assert_eq!(
        smb::parse_smb2_negotiate(&read("samba-nt1-smb2-negotiate-311"))
            .unwrap()
            .dialect,
        0x0311
    );
    assert_eq!(
        smb::parse_smb1(&read("samba-nt1-peeknamedpipe-fid0"))
            .unwrap()
            .header
            .status,
        smb::status::INVALID_HANDLE
    );
    assert_eq!(
        rdp::parse_connection_confirm(&read("xrdp-x224-confirm-rdp")).unwrap(),
        rdp::NegResult::Selected {
            protocol: rdp::PROTOCOL_RDP,
            flags: 1
        }
    );
    let bad = x509::parse_certificate(&read("openssl-bad-leaf-cert")).unwrap();
    assert!(bad.self_issued);
    assert_eq!(
        (bad.public_key.algorithm.as_str(), bad.public_key.bits),
        ("rsa", 1024)
    );
    assert_eq!(bad.signature_algorithm, "sha1WithRSAEncryption");
    assert_eq!(bad.not_after.to_string(), "2021-01-01T00:00:00Z");
    let good = x509::parse_certificate(&read("openssl-good-leaf-cert")).unwrap();
    assert!(!good.self_issued);
    assert!(
        good.matches_host("localhost")
            && good.matches_host("127.0.0.1")
            && !good.matches_host("example.org")
    );
}
