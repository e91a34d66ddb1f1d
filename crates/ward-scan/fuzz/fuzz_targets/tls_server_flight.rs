//! TLS server first flight: records, ServerHello, Certificate, alerts.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ward_scan::proto::tls;

fuzz_target!(|data: &[u8]| {
    if let Ok(f) = tls::parse_server_flight(data) {
        let _ = f.is_complete();
    }
    let _ = tls::parse_server_hello(data);
    let _ = tls::parse_certificate_list(data);
});
