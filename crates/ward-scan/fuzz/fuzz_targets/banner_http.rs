//! Service banners and HTTP response heads, and the end-of-life matcher
//! that reads them.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ward_scan::proto::http;

fuzz_target!(|data: &[u8]| {
    let text = http::banner_text(data);
    let table = ward_scan::eol::EolTable::builtin();
    let _ = table.match_text(&text, "banner", ward_scan::Timestamp(2_000_000_000));
    if let Ok(r) = http::parse_response(data) {
        let _ = r.title();
        let _ = r.header("server");
    }
});
