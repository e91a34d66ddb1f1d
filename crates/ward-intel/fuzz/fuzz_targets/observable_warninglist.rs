//! Observable values (as they arrive in events and plain lists) and MISP warninglists.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Some(o) = ward_intel::observable::Observable::guess(s) {
            let _ = o.to_sco();
            assert_eq!(
                ward_intel::observable::Observable::parse(o.kind(), &o.value()).ok(),
                Some(o)
            );
        }
    }
    if let Ok(f) = ward_intel::warninglist::WarninglistFile::parse(data) {
        let mut w = ward_intel::warninglist::Warninglists::new();
        let _ = w.add(f);
    }
});
