#![no_main]
//! Fuzz the RFC 6587 decoder: split the input at a fuzzer-chosen point, feed
//! both halves, and check every frame respects the size limit.

use libfuzzer_sys::fuzz_target;
use ward_formats::framing::{Decoder, Framing};

fuzz_target!(|data: &[u8]| {
    if data.is_empty() {
        return;
    }
    let max = 1 + usize::from(data[0]) * 4;
    let split = usize::from(data.get(1).copied().unwrap_or(0)) % data.len();
    for framing in [Framing::Auto, Framing::OctetCounting, Framing::NonTransparent] {
        let mut d = Decoder::new(framing, max);
        let mut check = |f: Result<&[u8], ward_formats::framing::FrameError>| {
            if let Ok(m) = f {
                assert!(m.len() <= max);
            }
        };
        d.feed(&data[..split], &mut check);
        d.feed(&data[split..], &mut check);
        d.finish(&mut check);
    }
});
