#![no_main]
//! Fuzz format auto-detection followed by the chosen parser.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = ward_formats::detect(s);
        let _ = ward_formats::parse_auto(s);
    }
});
