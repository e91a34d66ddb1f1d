//! SMB2 NEGOTIATE replies.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ward_scan::proto::smb::parse_smb2_negotiate(data);
});
