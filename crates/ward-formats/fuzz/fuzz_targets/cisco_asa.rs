#![no_main]
//! Fuzz the CiscoAsa parser: any input must give an event or a typed error,
//! never a panic; and the never-drop path must keep the record.

use libfuzzer_sys::fuzz_target;
use ward_formats::{parse, parse_bytes_or_raw, Format, Options};

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = parse(Format::CiscoAsa, s);
    }
    let ev = parse_bytes_or_raw(Some(Format::CiscoAsa), data, &Options::default());
    assert!(!ev.original.raw.is_empty() || data.iter().all(|b| b.is_ascii_whitespace()) || data.is_empty());
});
