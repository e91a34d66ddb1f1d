//! STIX patterns: parse, and every accepted value must round-trip through the pattern ward writes.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(values) = ward_intel::pattern::parse_pattern(s) {
            for v in values {
                let again = ward_intel::pattern::parse_pattern(&v.to_stix_pattern());
                assert_eq!(again.ok(), Some(vec![v]));
            }
        }
    }
});
