//! Mutation smoke test (runs everywhere, unlike the cargo-fuzz targets):
//! every golden input, truncated at every length and with random bytes
//! flipped, inserted and deleted, through every parser and auto-detection.
//! No parser may panic, every error offset must lie inside the record, and
//! the never-drop path must keep the record.

use std::path::Path;

use ward_formats::{parse, parse_bytes_or_raw, parse_or_raw_with, Format, Options};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn inputs() -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut out = Vec::new();
    for d in std::fs::read_dir(root).unwrap() {
        for f in std::fs::read_dir(d.unwrap().path()).unwrap() {
            let f = f.unwrap().path();
            if f.extension().is_some_and(|e| e == "in") {
                out.push(std::fs::read(f).unwrap());
            }
        }
    }
    out
}

fn check(data: &[u8], opts: &Options) {
    if let Ok(s) = std::str::from_utf8(data) {
        for f in Format::ALL {
            if let Err(e) = parse(f, s) {
                assert!(
                    e.offset <= s.len(),
                    "{f}: offset {} beyond {} in {s:?}",
                    e.offset,
                    s.len()
                );
                assert!(e.code.starts_with("WF"));
            }
        }
        let ev = parse_or_raw_with(None, s, opts);
        assert_eq!(
            ev.original.raw.trim_end_matches(['\r', '\n']),
            s.trim_end_matches(['\r', '\n']),
            "record kept verbatim"
        );
    }
    let _ = parse_bytes_or_raw(None, data, opts);
}

#[test]
fn truncations_never_panic() {
    let opts = Options::default();
    for input in inputs() {
        for end in 0..=input.len() {
            check(&input[..end], &opts);
        }
    }
}

#[test]
fn mutations_never_panic() {
    let opts = Options::default();
    let mut r = Rng(0x2545_f491_4f6c_dd1d);
    let specials = b"<>[]{}\"=|:, \t\n%@/-.0123456789";
    for input in inputs() {
        for _ in 0..150 {
            let mut m = input.clone();
            for _ in 0..1 + r.below(4) {
                let at = r.below(m.len());
                match r.below(4) {
                    0 if !m.is_empty() => m[at] = specials[r.below(specials.len())],
                    1 if !m.is_empty() => m[at] = r.next() as u8,
                    2 => m.insert(at.min(m.len()), specials[r.below(specials.len())]),
                    _ if !m.is_empty() => {
                        m.remove(at.min(m.len() - 1));
                    }
                    _ => {}
                }
            }
            check(&m, &opts);
        }
    }
}
