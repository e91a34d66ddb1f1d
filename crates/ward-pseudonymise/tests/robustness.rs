//! Random and adversarial input (runs everywhere, unlike the cargo-fuzz
//! target): the scanners never panic, output is idempotent, valid UTF-8 in
//! gives valid UTF-8 out, and text without identifiers is returned borrowed.

use std::borrow::Cow;

use ward_pseudonymise::{Config, Counts, Pseudonymiser};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn random_fragments_are_safe_and_idempotent() {
    let p = Pseudonymiser::new(b"robustness-secret-0123", &Config::default()).unwrap();
    let pieces: &[&str] = &[
        "943",
        " ",
        "476",
        "-",
        "5919",
        "0",
        "7700",
        "+44",
        "(0)",
        "SW1A",
        "1AA",
        "ls1",
        "4ap",
        "@",
        "nhs.net",
        "j.bloggs",
        "DOB",
        ":",
        "01/02/1960",
        "born",
        "é",
        "€",
        "\u{feff}",
        ".",
        "_",
        "tok_",
        "nhs:",
        "\n",
        "\"",
        "9434765919",
        "1234567890",
    ];
    let mut c = Counts::default();
    for seed in [
        0xdead_beef_cafe_f00d_u64,
        0x1234_5678_9abc_def1,
        0x0f0f_1e1e_2d2d_3c3c,
    ] {
        let mut r = Rng(seed);
        for _ in 0..20_000 {
            let n = 1 + (r.next() % 12) as usize;
            let s: String = (0..n)
                .map(|_| pieces[(r.next() % pieces.len() as u64) as usize])
                .collect();
            let once = p.pseudonymise_str(&s, &mut c).into_owned();
            let twice = p.pseudonymise_str(&once, &mut c);
            assert_eq!(once, twice, "not idempotent for {s:?}");
            let bytes = p.pseudonymise_bytes(s.as_bytes(), &mut c);
            assert_eq!(bytes.as_ref(), once.as_bytes());
        }
    }
    let mut r = Rng(7);
    let mut raw = vec![0u8; 4096];
    for _ in 0..200 {
        for b in raw.iter_mut() {
            *b = r.next() as u8;
        }
        let _ = p.pseudonymise_bytes(&raw, &mut c);
    }
}

#[test]
fn clean_text_is_borrowed() {
    let p = Pseudonymiser::new(b"robustness-secret-0123", &Config::default()).unwrap();
    let mut c = Counts::default();
    let s = "<13>1 2024-05-01T10:00:00Z fw01 sshd 811 - - Accepted publickey for itsupport from 10.20.30.40 port 52144 ssh2";
    assert!(matches!(p.pseudonymise_str(s, &mut c), Cow::Borrowed(_)));
    assert_eq!(c.total(), 0);
}
