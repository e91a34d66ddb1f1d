//! Any JSON as an event against a small rule set: flattening, routing and
//! matching must not panic.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use ward_detect::{Engine, EngineConfig};

const RULES: &str = r#"
title: a
id: a
logsource: {product: windows, category: process_creation}
detection:
  sel: {CommandLine|contains|windash: ' -enc ', Image|endswith: '.exe'}
  kw: ['mimikatz']
  condition: sel or kw
"#;

fuzz_target!(|data: &[u8]| {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    let engine = ENGINE.get_or_init(|| {
        Engine::from_sources(&[("r.yml".into(), RULES.into())], &EngineConfig::default()).engine
    });
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = engine.evaluate(&v);
    }
});
