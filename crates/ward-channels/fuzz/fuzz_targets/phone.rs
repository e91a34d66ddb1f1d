//! Phone numbers come from contacts entered through the API and CLI.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(n) = ward_channels::phone::normalise_uk_mobile(s) {
            // Whatever is accepted is E.164 UK mobile, and normalising is idempotent.
            assert!(n.starts_with("+447") && n.len() == 13);
            assert_eq!(ward_channels::phone::normalise_uk_mobile(&n).as_deref(), Ok(n.as_str()));
        }
    }
});
