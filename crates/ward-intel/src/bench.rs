//! `ward bench intel`: import rate from STIX and CSV, memory for a large indicator
//! set, and observables checked per second on one core.
//!
//! Run: `cargo run --release -p ward-intel --example bench_intel [-- INDICATORS LOOKUPS]`.

use std::fmt;
use std::time::Instant;

use uuid::Uuid;

use crate::feeds::{misp, stix_bundle};
use crate::index::{IndexEntry, IndicatorIndex, IndicatorMeta, LiveIndex};
use crate::observable::Observable;
use crate::tlp::Tlp;

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// Indicators imported in the STIX and CSV import runs.
    pub import_indicators: usize,
    /// Indicators held in the index for the memory and lookup runs.
    pub index_indicators: usize,
    /// Observables checked in the lookup run.
    pub lookups: usize,
}

impl Default for BenchConfig {
    fn default() -> Self {
        BenchConfig { import_indicators: 200_000, index_indicators: 10_000_000, lookups: 5_000_000 }
    }
}

/// The figures.
#[derive(Debug, Clone, Default)]
pub struct BenchReport {
    pub import_stix_per_sec: f64,
    pub import_csv_per_sec: f64,
    pub index_indicators: usize,
    pub index_build_secs: f64,
    /// Resident set size growth while building the index (from /proc/self/status).
    pub index_rss_bytes: Option<u64>,
    /// The index's own estimate of its heap use.
    pub index_heap_bytes: u64,
    pub lookups: usize,
    pub lookups_per_sec: f64,
    pub lookup_hits: usize,
}

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mb = |b: u64| b as f64 / (1024.0 * 1024.0);
        writeln!(f, "intel import STIX 2.1 bundle:   {:>12.0} indicators/s (target >= 100000)", self.import_stix_per_sec)?;
        writeln!(f, "intel import MISP CSV:          {:>12.0} indicators/s (target >= 100000)", self.import_csv_per_sec)?;
        writeln!(f, "intel index build:              {:>12} indicators in {:.2} s", self.index_indicators, self.index_build_secs)?;
        match self.index_rss_bytes {
            Some(r) => writeln!(f, "intel index memory (RSS growth): {:>11.0} MiB for {} indicators (target <= 2048 MiB)", mb(r), self.index_indicators)?,
            None => writeln!(f, "intel index memory (RSS growth):  unavailable (no /proc)")?,
        }
        writeln!(f, "intel index memory (heap est.): {:>12.0} MiB", mb(self.index_heap_bytes))?;
        write!(
            f,
            "intel observables checked:      {:>12.0} /s on one core ({} checks, {} hits; target >= 1000000)",
            self.lookups_per_sec, self.lookups, self.lookup_hits
        )
    }
}

/// Resident set size of this process, in bytes.
pub fn rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// A small deterministic PRNG (xorshift64*), so runs are repeatable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// The i-th synthetic observable of a realistic feed mix: 35% IPv4 (1 in 50 a CIDR),
/// 5% IPv6, 20% domains, 10% URLs, 5% MD5, 5% SHA-1, 15% SHA-256, 5% e-mail.
pub fn synthetic_observable(i: u64) -> Observable {
    let mut r = Rng(i.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let x = r.next();
    match i % 20 {
        0..=6 => {
            // Multiplication by an odd constant is a bijection on u32: no duplicates.
            if i % 50 == 0 {
                Observable::Ipv4 { addr: ((i / 50) as u32).wrapping_mul(0x9e37_79b1) << 8, prefix: 24 }
            } else {
                Observable::Ipv4 { addr: (i as u32).wrapping_mul(0x85eb_ca6b), prefix: 32 }
            }
        }
        7 => Observable::Ipv6 { addr: (0x2a00u128 << 112) | ((x as u128) << 32) | i as u128, prefix: 128 },
        8..=11 => Observable::Domain(format!("h{:x}-{}.example-{}.net", x & 0xffff_ffff, i, i % 97)),
        12 | 13 => Observable::Url(format!("http://cdn{}.example-{}.com/p/{:x}.php", i % 1000, i, x)),
        14 => Observable::Md5(Rng(x).next().to_le_bytes().repeat(2).try_into().unwrap_or([0; 16])),
        15 => {
            let mut b = [0u8; 20];
            b[..8].copy_from_slice(&x.to_le_bytes());
            b[8..16].copy_from_slice(&i.to_le_bytes());
            Observable::Sha1(b)
        }
        16..=18 => {
            let mut b = [0u8; 32];
            b[..8].copy_from_slice(&x.to_le_bytes());
            b[8..16].copy_from_slice(&i.to_le_bytes());
            b[16..24].copy_from_slice(&r.next().to_le_bytes());
            Observable::Sha256(b)
        }
        _ => Observable::Email(format!("u{i}@mail-{}.example.org", x % 5000)),
    }
}

fn stix_bundle_bytes(n: usize) -> Vec<u8> {
    let mut s = String::with_capacity(n * 420);
    s.push_str(r#"{"type":"bundle","id":"bundle--0f4c4b4a-2c36-4a7e-8a55-2f0e0d1f5b6a","objects":["#);
    for i in 0..n {
        if i > 0 {
            s.push(',');
        }
        let o = synthetic_observable(i as u64);
        let pattern = o.to_stix_pattern().replace('\\', "\\\\");
        s.push_str(&format!(
            r#"{{"type":"indicator","spec_version":"2.1","id":"indicator--{}","created":"2026-01-01T00:00:00.000Z","modified":"2026-01-01T00:00:00.000Z","name":"bench {i}","indicator_types":["malicious-activity"],"pattern":"{pattern}","pattern_type":"stix","valid_from":"2026-01-01T00:00:00Z","confidence":70,"object_marking_refs":["{}"]}}"#,
            Uuid::from_u128(0x4000_8000_0000_0000_0000_0000 | i as u128),
            Tlp::Green.marking_id()
        ));
    }
    s.push_str("]}");
    s.into_bytes()
}

fn misp_csv_bytes(n: usize) -> Vec<u8> {
    let mut s = String::with_capacity(n * 160);
    s.push_str("uuid,event_id,category,type,value,comment,to_ids,date,object_relation,attribute_tag,object_uuid,object_name,object_meta_category\n");
    for i in 0..n {
        let o = synthetic_observable(i as u64);
        let ty = match o {
            Observable::Ipv4 { .. } | Observable::Ipv6 { .. } => "ip-dst",
            Observable::Domain(_) => "domain",
            Observable::Url(_) => "url",
            Observable::Md5(_) => "md5",
            Observable::Sha1(_) => "sha1",
            Observable::Sha256(_) => "sha256",
            Observable::Email(_) => "email-src",
        };
        s.push_str(&format!(
            "{},{},Network activity,{ty},{},,1,20260101,,tlp:green,,,\n",
            Uuid::from_u128(i as u128),
            i / 1000,
            o.value()
        ));
    }
    s.into_bytes()
}

/// Runs the intel benchmarks; prints nothing (the caller prints the report).
pub fn bench_intel(cfg: &BenchConfig) -> BenchReport {
    let mut rep = BenchReport::default();

    // Memory: build the index straight from the generator (no intermediate Vec).
    let before = rss_bytes();
    let t = Instant::now();
    let mut ix = IndicatorIndex::new();
    for i in 0..cfg.index_indicators as u64 {
        let mut meta = IndicatorMeta::new(Uuid::from_u64_pair(i, i), 0);
        meta.confidence = 70;
        ix.insert(IndexEntry { observable: synthetic_observable(i), meta });
    }
    rep.index_build_secs = t.elapsed().as_secs_f64();
    rep.index_indicators = ix.len();
    rep.index_heap_bytes = ix.heap_bytes() as u64;
    rep.index_rss_bytes = match (before, rss_bytes()) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a)),
        _ => None,
    };

    // Lookups: half known values (hits), half fresh ones, through the live index as
    // the detection pipeline calls it.
    let live = LiveIndex::new(ix);
    let probe: Vec<Observable> = (0..cfg.lookups.min(2_000_000) as u64)
        .map(|k| {
            if k % 2 == 0 {
                synthetic_observable((k * 7919) % cfg.index_indicators.max(1) as u64)
            } else {
                synthetic_observable(cfg.index_indicators as u64 + k)
            }
        })
        .collect();
    let now = 1_780_000_000;
    let t = Instant::now();
    let mut hits = 0usize;
    let mut done = 0usize;
    while done < cfg.lookups {
        for o in &probe {
            if done >= cfg.lookups {
                break;
            }
            hits += live.check(o, now).is_some() as usize;
            done += 1;
        }
        if probe.is_empty() {
            break;
        }
    }
    rep.lookups_per_sec = done as f64 / t.elapsed().as_secs_f64();
    rep.lookups = done;
    rep.lookup_hits = hits;
    drop(live);
    drop(probe);

    // Import: parse + pattern/value parsing + record building.
    let bundle = stix_bundle_bytes(cfg.import_indicators);
    let t = Instant::now();
    let n = stix_bundle::import_bundle(&bundle, "bench", Tlp::Green).map(|i| i.indicators.len()).unwrap_or(0);
    rep.import_stix_per_sec = n as f64 / t.elapsed().as_secs_f64();
    drop(bundle);
    let csv = misp_csv_bytes(cfg.import_indicators);
    let t = Instant::now();
    let n = misp::parse_csv(&csv, "bench", true).map(|r| r.0.len()).unwrap_or(0);
    rep.import_csv_per_sec = n as f64 / t.elapsed().as_secs_f64();
    drop(csv);

    rep
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_run_produces_consistent_figures() {
        let r = bench_intel(&BenchConfig { import_indicators: 2_000, index_indicators: 20_000, lookups: 10_000 });
        assert!(r.import_stix_per_sec > 0.0 && r.import_csv_per_sec > 0.0);
        assert_eq!(r.index_indicators, 20_000);
        assert_eq!(r.lookups, 10_000);
        // Every even probe is a known value; odd ones are fresh (CIDR entries may add a few).
        assert!(r.lookup_hits >= 5_000 && r.lookup_hits < 5_500, "{}", r.lookup_hits);
        assert!(r.to_string().contains("observables checked"));
    }
}
