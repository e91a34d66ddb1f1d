//! Any text as a Sigma condition: the parser must return Ok or Err, never
//! panic or overflow the stack.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = ward_detect::condition::parse_condition(s);
    }
});
