//! MISP manifest, event JSON, hashes.csv, CSV export and freetext.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ward_intel::feeds::misp;

fuzz_target!(|data: &[u8]| {
    let _ = misp::parse_manifest(data);
    if let Ok(ev) = misp::parse_event(data) {
        let _ = misp::event_indicators(&ev, "fuzz");
    }
    let _ = misp::parse_csv(data, "fuzz", true);
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = misp::FeedHashes::parse(s);
        let _ = misp::freetext(s);
    }
});
