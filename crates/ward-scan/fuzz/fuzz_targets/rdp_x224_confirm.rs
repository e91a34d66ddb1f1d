//! RDP X.224 Connection Confirm (TPKT framed).
#![no_main]
use libfuzzer_sys::fuzz_target;
use ward_scan::proto::rdp;

fuzz_target!(|data: &[u8]| {
    let _ = rdp::parse_connection_confirm(data);
    if data.len() >= 4 {
        let _ = rdp::tpkt_length(&[data[0], data[1], data[2], data[3]]);
    }
});
