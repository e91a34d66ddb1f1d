//! `ward bench detect`: detection throughput and memory.
//!
//! Loads the rules, reads every EVTX record under a directory into memory
//! once, then replays them (repeated up to `min_events`) through
//! [`Engine::evaluate`] on one thread and on `threads` threads, and reports
//! events per second and the process's peak resident set size.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use serde_json::Value;

use crate::{read_evtx, Engine, EngineConfig};

/// What `bench_detect` measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BenchReport {
    pub rules_loaded: usize,
    pub rules_refused: usize,
    pub distinct_events: usize,
    pub events: usize,
    pub detections_one_core: usize,
    pub load_secs: f64,
    pub one_core_events_per_sec: f64,
    /// Events per second of on-CPU time of the measuring thread.
    pub one_core_cpu_events_per_sec: Option<f64>,
    pub threads: usize,
    pub all_cores_events_per_sec: f64,
    pub peak_rss_bytes: Option<u64>,
    /// Peak RSS once rules and events were loaded, before the replay: the
    /// difference to `peak_rss_bytes` is what evaluation itself added.
    pub peak_rss_before_replay_bytes: Option<u64>,
    /// Rules with a required-literal trigger set.
    pub indexed_rules: usize,
    /// Rules evaluated on every event of their logsource.
    pub always_rules: usize,
    /// Per-field Aho-Corasick automata.
    pub automata: usize,
    /// Rules routing lets see, per event on average.
    pub avg_routed_rules: f64,
    /// Rules fully evaluated per event on average (after the prefilter).
    pub avg_candidate_rules: f64,
}

impl std::fmt::Display for BenchReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "rules: {} loaded, {} refused (load {:.2}s)",
            self.rules_loaded, self.rules_refused, self.load_secs
        )?;
        writeln!(
            f,
            "events: {} ({} distinct EVTX records, repeated), {} detections",
            self.events, self.distinct_events, self.detections_one_core
        )?;
        writeln!(
            f,
            "index: {} rules with triggers in {} field indexes, {} always evaluated; per event {:.1} routed, {:.1} evaluated",
            self.indexed_rules, self.automata, self.always_rules, self.avg_routed_rules, self.avg_candidate_rules
        )?;
        write!(
            f,
            "one core:  {:.0} events/s wall",
            self.one_core_events_per_sec
        )?;
        match self.one_core_cpu_events_per_sec {
            Some(c) => writeln!(f, ", {c:.0} events per CPU-second")?,
            None => writeln!(f)?,
        }
        writeln!(
            f,
            "{} threads: {:.0} events/s",
            self.threads, self.all_cores_events_per_sec
        )?;
        match (self.peak_rss_bytes, self.peak_rss_before_replay_bytes) {
            (Some(b), Some(a)) => write!(
                f,
                "peak RSS: {:.1} MB ({:.1} MB after loading rules and events)",
                b as f64 / 1e6,
                a as f64 / 1e6
            ),
            (Some(b), None) => write!(f, "peak RSS: {:.1} MB", b as f64 / 1e6),
            _ => write!(f, "peak RSS: unavailable"),
        }
    }
}

/// Errors of the benchmark's inputs.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("[bench-no-events] no EVTX records found under {0}")]
    NoEvents(PathBuf),
    #[error("[bench-no-rules] no rules loaded from {0}")]
    NoRules(PathBuf),
}

/// Nanoseconds this thread has run on a CPU (Linux schedstat); unlike wall
/// time it is not inflated when other processes share the cores.
pub fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// Peak resident set size of this process (Linux `VmHWM`).
pub fn peak_rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn evtx_files(dir: &Path, out: &mut Vec<PathBuf>) {
    if dir.is_file() {
        out.push(dir.to_path_buf());
        return;
    }
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            evtx_files(&p, out);
        } else if p
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("evtx"))
        {
            out.push(p);
        }
    }
}

/// Rule directories for a benchmark: a SigmaHQ checkout root means its
/// `rules`, `rules-emerging-threats` and `rules-threat-hunting` folders.
fn rule_dirs(root: &Path) -> Vec<PathBuf> {
    let sub: Vec<PathBuf> = ["rules", "rules-emerging-threats", "rules-threat-hunting"]
        .iter()
        .map(|d| root.join(d))
        .filter(|p| p.is_dir())
        .collect();
    if sub.is_empty() {
        vec![root.to_path_buf()]
    } else {
        sub
    }
}

/// Run the detection benchmark: Windows rules under `rules_dir` (a SigmaHQ
/// root or any rule folder), routing on, EVTX records under `evtx_dir`
/// replayed to at least `min_events`, on one thread then `threads` threads.
pub fn bench_detect(
    rules_dir: &Path,
    evtx_dir: &Path,
    min_events: usize,
    threads: usize,
) -> Result<BenchReport, BenchError> {
    let t0 = Instant::now();
    let cfg = EngineConfig {
        products: Some(vec!["windows".into()]),
        ..EngineConfig::default()
    };
    let mut sources = Vec::new();
    for d in rule_dirs(rules_dir) {
        crate::collect_sources(&d, &mut sources, &mut Vec::new());
    }
    let report = Engine::from_sources(&sources, &cfg);
    let load_secs = t0.elapsed().as_secs_f64();
    if report.loaded == 0 {
        return Err(BenchError::NoRules(rules_dir.to_path_buf()));
    }
    let engine = report.engine;

    let mut files = Vec::new();
    evtx_files(evtx_dir, &mut files);
    let events: Vec<Value> = files
        .iter()
        .flat_map(|f| read_evtx(f).filter_map(Result::ok))
        .collect();
    if events.is_empty() {
        return Err(BenchError::NoEvents(evtx_dir.to_path_buf()));
    }
    let rss_before_replay = peak_rss_bytes();
    let rounds = min_events.div_ceil(events.len()).max(1);
    let total = rounds * events.len();

    let (mut routed, mut candidates) = (0usize, 0usize);
    for ev in &events {
        let (_, st) = engine.evaluate_with_stats(ev);
        routed += st.routed;
        candidates += st.candidates;
    }
    let (indexed_rules, always_rules, automata) = engine.index_stats();

    let t = Instant::now();
    let cpu0 = thread_cpu_ns();
    let mut detections = 0usize;
    for _ in 0..rounds {
        for ev in &events {
            detections += engine.evaluate(ev).len();
        }
    }
    let one = total as f64 / t.elapsed().as_secs_f64();
    let one_cpu = match (cpu0, thread_cpu_ns()) {
        (Some(a), Some(b)) if b > a => Some(total as f64 / ((b - a) as f64 / 1e9)),
        _ => None,
    };

    let threads = threads.max(1);
    let next = AtomicUsize::new(0);
    let t = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                // Work is handed out in blocks of 1,024 events.
                loop {
                    let start = next.fetch_add(1024, Ordering::Relaxed);
                    if start >= total {
                        break;
                    }
                    for i in start..(start + 1024).min(total) {
                        std::hint::black_box(engine.evaluate(&events[i % events.len()]));
                    }
                }
            });
        }
    });
    let all = total as f64 / t.elapsed().as_secs_f64();

    Ok(BenchReport {
        rules_loaded: report.loaded,
        rules_refused: report.errors.len(),
        distinct_events: events.len(),
        events: total,
        detections_one_core: detections,
        load_secs,
        one_core_events_per_sec: one,
        one_core_cpu_events_per_sec: one_cpu,
        threads,
        all_cores_events_per_sec: all,
        peak_rss_bytes: peak_rss_bytes(),
        peak_rss_before_replay_bytes: rss_before_replay,
        indexed_rules,
        always_rules,
        automata,
        avg_routed_rules: routed as f64 / events.len() as f64,
        avg_candidate_rules: candidates as f64 / events.len() as f64,
    })
}
