//! STIX 2.1 bundles from feeds and TAXII peers: parse, import, re-export.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(imp) =
        ward_intel::feeds::stix_bundle::import_bundle(data, "fuzz", ward_intel::tlp::Tlp::Clear)
    {
        let _ = ward_intel::export::stix_bundle(
            &imp.indicators,
            &imp.objects,
            &ward_intel::export::Producer::default(),
        );
    }
    let _ = ward_intel::stix::Bundle::parse_via_value(data);
});
