//! CISA KEV, NVD CVE API 2.0, OSV and CSAF 2.0 documents.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ward_intel::feeds::{csaf, kev, nvd, osv};

fuzz_target!(|data: &[u8]| {
    let _ = kev::KevCatalog::parse(data);
    if let Ok(r) = nvd::CveResponse::parse(data) {
        let mut db = ward_intel::estate::VulnDb::new();
        for v in r.vulnerabilities {
            let _ = v.cve.base_score();
            db.add_nvd(v.cve);
        }
    }
    let _ = nvd::CveRecord::parse(data);
    if let Ok(r) = osv::OsvRecord::parse(data) {
        for a in &r.affected {
            let _ = a.affects("1.2.3");
        }
    }
    let _ = csaf::CsafAdvisory::parse(data);
});
