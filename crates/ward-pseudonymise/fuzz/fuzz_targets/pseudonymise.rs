#![no_main]
//! Fuzz the identifier scanners: no panic, output idempotent, and UTF-8 in
//! gives UTF-8 out.

use libfuzzer_sys::fuzz_target;
use ward_pseudonymise::{Config, Counts, Pseudonymiser};

fuzz_target!(|data: &[u8]| {
    let p = Pseudonymiser::new(b"fuzz-secret-0123456789", &Config::default()).unwrap();
    let mut c = Counts::default();
    let once = p.pseudonymise_bytes(data, &mut c).into_owned();
    let twice = p.pseudonymise_bytes(&once, &mut c).into_owned();
    assert_eq!(once, twice);
    if let Ok(s) = std::str::from_utf8(data) {
        let out = p.pseudonymise_str(s, &mut c);
        assert_eq!(out.as_bytes(), &once[..]);
    }
});
