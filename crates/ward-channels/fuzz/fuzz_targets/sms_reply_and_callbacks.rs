//! SMS replies (`ACK <ref>`) and Notify callback bodies arrive from outside.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ward_channels::notify::{
    parse_ack, verify_callback_bearer, DeliveryStatusCallback, ReceivedTextCallback,
};

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Some(r) = parse_ack(s) {
            assert!(!r.is_empty() && !r.contains(char::is_whitespace));
        }
        let _ = verify_callback_bearer(Some(s), "expected-token");
    }
    let _ = serde_json::from_slice::<DeliveryStatusCallback>(data);
    let _ = serde_json::from_slice::<ReceivedTextCallback>(data);
});
