//! SMB1 replies: generic message, NEGOTIATE and SESSION_SETUP_ANDX parsers.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ward_scan::proto::smb;

fuzz_target!(|data: &[u8]| {
    let _ = smb::parse_smb1(data);
    if let Ok(n) = smb::parse_smb1_negotiate(data) {
        let _ = n.smb1_accepted();
    }
    let _ = smb::parse_smb1_session_setup(data);
    let _ = smb::smb_kind(data);
    if data.len() >= 4 {
        let _ = smb::parse_netbios_header(&[data[0], data[1], data[2], data[3]]);
    }
});
