//! Notify's and webhook receivers' replies are untrusted: status code plus body.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::time::Duration;

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let status = 100 + (u16::from_le_bytes([data[0], data[1]]) % 500);
    let out = ward_channels::notify::classify_response(status, &data[2..], None);
    // 2xx is always accepted: a reply we cannot read must never cause a duplicate send.
    assert_eq!((200..300).contains(&status), out.is_accepted());
    let now = 1_800_000_000;
    let _ = ward_channels::webhook::verify_signature(
        "k",
        std::str::from_utf8(&data[2..]).ok(),
        Some("sha256=00"),
        data,
        now,
        Duration::from_secs(300),
    );
});
