//! The stand-in authenticates whatever `Authorization` header a client sends.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ward_notify_standin::auth::{authenticate, KeyView};

fuzz_target!(|data: &[u8]| {
    let Ok(header) = std::str::from_utf8(data) else { return };
    let keys = [KeyView { secret: "3d844edf-8d35-48ac-975b-e847b4f122b0", revoked: false }];
    let service = uuid::Uuid::from_u128(0x26785a09_ab16_4eb0_8407_a37497a57506);
    if let Err(f) = authenticate(Some(header), service, &keys, 1_800_000_000) {
        assert!(f.status == 401 || f.status == 403);
    }
});
