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
    /// Objects in the TAXII collection for the page-latency run (0 skips it).
    pub taxii_objects: usize,
    /// Pages of 1,000 fetched in that run.
    pub taxii_pages: usize,
}

impl Default for BenchConfig {
    fn default() -> Self {
        BenchConfig {
            import_indicators: 200_000,
            index_indicators: 10_000_000,
            lookups: 5_000_000,
            taxii_objects: 100_000,
            taxii_pages: 30,
        }
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
    /// Lookups per second of this thread's CPU time (what one dedicated core does; the
    /// wall-clock figure drops when the machine is shared).
    pub lookups_per_cpu_sec: Option<f64>,
    pub lookup_hits: usize,
    /// Median and worst time to serve a TAXII page of 1,000 objects over loopback HTTP.
    pub taxii_page_ms_median: Option<f64>,
    pub taxii_page_ms_max: Option<f64>,
}

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mb = |b: u64| b as f64 / (1024.0 * 1024.0);
        writeln!(
            f,
            "intel import STIX 2.1 bundle:   {:>12.0} indicators/s (target >= 100000)",
            self.import_stix_per_sec
        )?;
        writeln!(
            f,
            "intel import MISP CSV:          {:>12.0} indicators/s (target >= 100000)",
            self.import_csv_per_sec
        )?;
        writeln!(
            f,
            "intel index build:              {:>12} indicators in {:.2} s",
            self.index_indicators, self.index_build_secs
        )?;
        match self.index_rss_bytes {
            Some(r) => writeln!(f, "intel index memory (RSS growth): {:>11.0} MiB for {} indicators (target <= 2048 MiB)", mb(r), self.index_indicators)?,
            None => writeln!(f, "intel index memory (RSS growth):  unavailable (no /proc)")?,
        }
        writeln!(
            f,
            "intel index memory (heap est.): {:>12.0} MiB",
            mb(self.index_heap_bytes)
        )?;
        writeln!(
            f,
            "intel observables checked:      {:>12.0} /s wall clock ({} checks, {} hits)",
            self.lookups_per_sec, self.lookups, self.lookup_hits
        )?;
        match self.lookups_per_cpu_sec {
            Some(r) => writeln!(f, "intel observables checked:      {r:>12.0} /s per CPU-second on one core (target >= 1000000)")?,
            None => writeln!(f, "intel observables checked:       per-CPU rate unavailable (no /proc)")?,
        }
        match (self.taxii_page_ms_median, self.taxii_page_ms_max) {
            (Some(m), Some(x)) => write!(f, "intel TAXII page of 1000:       {m:>12.1} ms median, {x:.1} ms worst (target < 50 ms)"),
            _ => write!(f, "intel TAXII page of 1000:        not measured"),
        }
    }
}

/// Resident set size of this process, in bytes.
pub fn rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// CPU time used by the calling thread, in seconds (from /proc; USER_HZ = 100).
pub fn thread_cpu_secs() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
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
                Observable::Ipv4 {
                    addr: ((i / 50) as u32).wrapping_mul(0x9e37_79b1) << 8,
                    prefix: 24,
                }
            } else {
                Observable::Ipv4 {
                    addr: (i as u32).wrapping_mul(0x85eb_ca6b),
                    prefix: 32,
                }
            }
        }
        7 => Observable::Ipv6 {
            addr: (0x2a00u128 << 112) | ((x as u128) << 32) | i as u128,
            prefix: 128,
        },
        8..=11 => Observable::Domain(format!(
            "h{:x}-{}.example-{}.net",
            x & 0xffff_ffff,
            i,
            i % 97
        )),
        12 | 13 => Observable::Url(format!(
            "http://cdn{}.example-{}.com/p/{:x}.php",
            i % 1000,
            i,
            x
        )),
        14 => Observable::Md5(
            Rng(x)
                .next()
                .to_le_bytes()
                .repeat(2)
                .try_into()
                .unwrap_or([0; 16]),
        ),
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
    s.push_str(
        r#"{"type":"bundle","id":"bundle--0f4c4b4a-2c36-4a7e-8a55-2f0e0d1f5b6a","objects":["#,
    );
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
        ix.insert(IndexEntry {
            observable: synthetic_observable(i),
            meta,
        });
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
    let cpu0 = thread_cpu_secs();
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
    rep.lookups_per_cpu_sec = match (cpu0, thread_cpu_secs()) {
        (Some(a), Some(b)) if b > a => Some(done as f64 / (b - a)),
        _ => None,
    };
    rep.lookups = done;
    rep.lookup_hits = hits;
    drop(live);
    drop(probe);

    // Import: parse + pattern/value parsing + record building.
    let bundle = stix_bundle_bytes(cfg.import_indicators);
    let t = Instant::now();
    let n = stix_bundle::import_bundle(&bundle, "bench", Tlp::Green)
        .map(|i| i.indicators.len())
        .unwrap_or(0);
    rep.import_stix_per_sec = n as f64 / t.elapsed().as_secs_f64();
    drop(bundle);
    let csv = misp_csv_bytes(cfg.import_indicators);
    let t = Instant::now();
    let n = misp::parse_csv(&csv, "bench", true)
        .map(|r| r.0.len())
        .unwrap_or(0);
    rep.import_csv_per_sec = n as f64 / t.elapsed().as_secs_f64();
    drop(csv);

    if cfg.taxii_objects > 0 {
        if let Some((med, max)) = bench_taxii_page(cfg.taxii_objects, cfg.taxii_pages) {
            rep.taxii_page_ms_median = Some(med);
            rep.taxii_page_ms_max = Some(max);
        }
    }
    rep
}

/// Serves a collection of `objects` indicators from [`crate::taxii::server::MemoryBackend`]
/// on loopback and fetches `pages` pages of 1,000 (as a member system, so every object
/// goes through the TLP/distribution check). Returns (median, worst) milliseconds.
pub fn bench_taxii_page(objects: usize, pages: usize) -> Option<(f64, f64)> {
    use crate::policy::{AccessMeta, Distribution, Role, Viewer};
    use crate::taxii::server::{router, MemCollection, MemoryBackend};
    use std::sync::Arc;

    let mut b = MemoryBackend::new("bench", 1000);
    b.add_root(
        "ward",
        "bench",
        vec![MemCollection::new("c", "bench", vec![Role::CentralAnalyst])],
    );
    b.keys.insert(
        "k".into(),
        Viewer {
            role: Role::MemberSystem,
            org: "RXB".into(),
            communities: vec!["north".into()],
            sharing_groups: vec![],
        },
    );
    let access = AccessMeta {
        owner_org: "NCSC".into(),
        tlp: Tlp::Green,
        distribution: Distribution::All,
        community: "national".into(),
        connected: vec![],
    };
    for i in 0..objects {
        let o = synthetic_observable(i as u64);
        let v = serde_json::json!({
            "type": "indicator", "spec_version": "2.1",
            "id": format!("indicator--{}", Uuid::from_u128(0x4000_8000_0000_0000_0000_0000 | i as u128)),
            "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
            "name": format!("bench {i}"), "indicator_types": ["malicious-activity"],
            "pattern": o.to_stix_pattern(), "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z",
            "object_marking_refs": [Tlp::Green.marking_id()]
        });
        b.insert("ward", "c", v, access.clone()).ok()?;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.ok()?;
        let addr = listener.local_addr().ok()?;
        tokio::spawn(async move { axum::serve(listener, router(Arc::new(b))).await });
        let http = reqwest::Client::new();
        let url = format!("http://{addr}/ward/collections/c/objects/");
        let mut times = Vec::new();
        let mut next: Option<String> = None;
        for _ in 0..pages.max(1) {
            let mut q: Vec<(&str, String)> = vec![("limit", "1000".into())];
            if let Some(n) = &next {
                q.push(("next", n.clone()));
            }
            let t = Instant::now();
            let r = http
                .get(&url)
                .query(&q)
                .bearer_auth("k")
                .header("Accept", crate::taxii::TAXII_MEDIA_TYPE)
                .send()
                .await
                .ok()?;
            let body = r.bytes().await.ok()?;
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            let env: crate::taxii::Envelope = serde_json::from_slice(&body).ok()?;
            if env.objects.len() != 1000 && env.more {
                return None;
            }
            next = env.next;
            if next.is_none() {
                break;
            }
        }
        times.sort_by(|a, b| a.total_cmp(b));
        Some((times[times.len() / 2], times[times.len() - 1]))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_run_produces_consistent_figures() {
        let r = bench_intel(&BenchConfig {
            import_indicators: 2_000,
            index_indicators: 20_000,
            lookups: 10_000,
            taxii_objects: 3_000,
            taxii_pages: 2,
        });
        assert!(r.taxii_page_ms_median.is_some());
        assert!(r.import_stix_per_sec > 0.0 && r.import_csv_per_sec > 0.0);
        assert_eq!(r.index_indicators, 20_000);
        assert_eq!(r.lookups, 10_000);
        // Every even probe is a known value; odd ones are fresh (CIDR entries may add a few).
        assert!(
            r.lookup_hits >= 5_000 && r.lookup_hits < 5_500,
            "{}",
            r.lookup_hits
        );
        assert!(r.to_string().contains("observables checked"));
    }
}
