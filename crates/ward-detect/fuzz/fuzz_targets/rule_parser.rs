//! Any bytes as a rule file: loading must not panic, and a loaded rule must
//! evaluate an event without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ward_detect::{Engine, EngineConfig};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let r = Engine::from_sources(&[("fuzz.yml".into(), text.into())], &EngineConfig::default());
    for e in &r.errors {
        let _ = e.to_string();
    }
    let ev = serde_json::json!({"Channel": "Security", "EventID": 4688, "CommandLine": "a b c", "Image": "C:\\x.exe"});
    let _ = r.engine.evaluate(&ev);
});
