//! Recipients, personalisation and list filters come from API clients.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ward_notify_standin::{state, validate};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let _ = validate::validate_phone(s, false);
    let _ = validate::validate_phone(s, true);
    let _ = validate::validate_email(s);
    let mut p = serde_json::Map::new();
    p.insert("a".into(), serde_json::Value::String(s.to_string()));
    let missing = validate::missing_personalisation(&[s], &p);
    let _ = validate::render(s, &p, true);
    let _ = missing;
    let pairs: Vec<(String, String)> = s
        .split('&')
        .filter_map(|kv| kv.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
        .collect();
    let _ = state::parse_list_query(&pairs);
});
