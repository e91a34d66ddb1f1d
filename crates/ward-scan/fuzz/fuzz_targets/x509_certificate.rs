//! DER X.509 certificates as sent by targets.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ward_scan::proto::x509;

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = x509::parse_certificate(data) {
        let _ = c.matches_host("www.example.nhs.uk");
        let _ = c.matches_host("127.0.0.1");
    }
    let _ = x509::oid_to_string(data);
});
