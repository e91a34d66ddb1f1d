//! Members' asset CSV imports.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(assets) = ward_intel::estate::parse_assets_csv(data) {
        let db = ward_intel::estate::VulnDb::new();
        let _ = db.exposures(&assets);
    }
});
