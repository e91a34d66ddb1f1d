//! CPE 2.3 / 2.2 names, package URLs and version comparison.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ward_intel::estate::{cpe::Cpe, purl::Purl, version::compare_versions};

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(c) = Cpe::parse(s) {
            // What ward writes, it reads back as the same name.
            assert_eq!(Cpe::parse(&c.to_string()).ok(), Some(c.clone()));
            let _ = c.matches(&c);
        }
        let _ = Purl::parse(s).map(|p| p.osv_package());
        let mid = (0..=s.len() / 2).rev().find(|&i| s.is_char_boundary(i)).unwrap_or(0);
        let (a, b) = s.split_at(mid);
        assert_eq!(compare_versions(a, b), compare_versions(b, a).reverse());
    }
});
