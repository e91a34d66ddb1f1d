//! Throughput of pseudonymisation: [`bench_pseudonymise`] prints MB/s for
//! raw text and for JSON values, over a corpus of log records of which about
//! one in eight carries patient identifiers (the rest must pass untouched,
//! which is the common and therefore the speed-critical case).

use std::fmt;
use std::time::Instant;

use crate::{Config, Counts, Pseudonymiser};

/// Figures from [`bench_pseudonymise`].
#[derive(Debug, Clone)]
pub struct PseudoBenchReport {
    /// Bytes scanned per path.
    pub bytes: u64,
    /// Records per path.
    pub records: u64,
    /// MB/s over raw text.
    pub text_mb_per_sec: f64,
    /// MB/s over JSON values (string leaves).
    pub json_mb_per_sec: f64,
    /// MB per second of this thread's CPU time, text path (the one-core
    /// figure on a shared machine; Linux only).
    pub text_mb_per_cpu_sec: Option<f64>,
    /// Replacements made in the text pass.
    pub replaced: u64,
}

fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

impl fmt::Display for PseudoBenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "pseudonymise text: {:.1} MB/s ({:.1} MB/cpu-s), json: {:.1} MB/s ({} records, {} bytes, {} replacements)",
            self.text_mb_per_sec,
            self.text_mb_per_cpu_sec.unwrap_or(f64::NAN),
            self.json_mb_per_sec,
            self.records,
            self.bytes,
            self.replaced
        )
    }
}

const CORPUS: &[&str] = &[
    r#"<38>1 2024-05-01T09:12:44.512031+01:00 gp-fw01 sshd 23817 - - Accepted publickey for itsupport from 10.20.30.40 port 52144 ssh2"#,
    r#"{"timestamp":"2017-05-12T11:43:20.114206+0000","flow_id":1131285916237811,"event_type":"alert","src_ip":"10.44.2.17","src_port":49321,"dest_ip":"10.44.9.5","dest_port":445,"proto":"TCP","alert":{"action":"allowed","signature_id":2024218,"signature":"ET EXPLOIT Possible ETERNALBLUE MS17-010 Echo Response","category":"Attempted Administrator Privilege Gain","severity":1}}"#,
    r#"<134>May 12 2017 11:44:02 fw-core-01 CEF:0|Check Point|VPN-1 & FireWall-1|R81|Drop|Drop|5|act=Drop rt=1494589442000 src=185.220.101.45 spt=51234 dst=203.0.113.10 dpt=445 proto=6"#,
    r#"{"@timestamp":"2024-05-01T02:13:55.412Z","winlog":{"channel":"Security","computer_name":"WS-0142.trust.nhs.uk","event_id":"4625","event_data":{"TargetUserName":"administrator","IpAddress":"185.220.101.45","IpPort":"50112","Status":"0xc000006d"}}}"#,
    r#"10.20.31.77 - - [01/May/2024:10:30:02 +0100] "GET /patient-portal/login.php?next=%2Fappointments HTTP/1.1" 200 5123 "https://portal.example.nhs.uk/" "Mozilla/5.0""#,
    r#"<14>May  1 10:00:00 PA-3220 1,2024/05/01 10:00:00,013201001234,TRAFFIC,end,2561,2024/05/01 10:00:00,10.20.30.40,93.184.216.34,203.0.113.5,93.184.216.34,Allow-Web,trust\jbloggs,,ssl,vsys1,trust,untrust"#,
    r#"type=SYSCALL msg=audit(1714554000.123:24287): arch=c000003e syscall=59 success=yes exit=0 ppid=2211 pid=2245 auid=1001 uid=0 comm="wget" exe="/usr/bin/wget" key="network_tools""#,
    r#"<13>1 2024-05-01T10:00:00Z ehr-app01 pas 4411 - - Appointment booked for patient 943 476 5919 DOB: 01/02/1960 at LS1 4AP, contact j.bloggs@example.com or 07700 900123 (order 1234567890)"#,
];

/// Scan about `bytes` of the corpus through the text path and again through
/// the JSON path, on the calling thread, and print the figures.
pub fn bench_pseudonymise(bytes: usize) -> PseudoBenchReport {
    let p = match Pseudonymiser::new(b"ward-bench-secret-0123456789", &Config::default()) {
        Ok(p) => p,
        Err(e) => unreachable!("default config compiles: {e}"),
    };
    let corpus_bytes: usize = CORPUS.iter().map(|s| s.len()).sum();
    let rounds = (bytes / corpus_bytes).max(1);
    let mut counts = Counts::default();
    let cpu0 = thread_cpu_ns();
    let start = Instant::now();
    for _ in 0..rounds {
        for s in CORPUS {
            std::hint::black_box(p.pseudonymise_str(s, &mut counts));
        }
    }
    let text_secs = start.elapsed().as_secs_f64();
    let text_cpu = cpu0
        .zip(thread_cpu_ns())
        .map(|(a, b)| b.saturating_sub(a) as f64 / 1e9);
    let values: Vec<serde_json::Value> = CORPUS
        .iter()
        .map(|s| serde_json::from_str(s).unwrap_or_else(|_| serde_json::json!({ "message": s })))
        .collect();
    let mut json_counts = Counts::default();
    let start = Instant::now();
    for _ in 0..rounds {
        for v in &values {
            let mut v = v.clone();
            p.pseudonymise_value(&mut v, &mut json_counts);
            std::hint::black_box(v);
        }
    }
    let json_secs = start.elapsed().as_secs_f64();
    let total = (rounds * corpus_bytes) as u64;
    let report = PseudoBenchReport {
        bytes: total,
        records: (rounds * CORPUS.len()) as u64,
        text_mb_per_sec: total as f64 / 1e6 / text_secs.max(1e-9),
        json_mb_per_sec: total as f64 / 1e6 / json_secs.max(1e-9),
        text_mb_per_cpu_sec: text_cpu.map(|c| total as f64 / 1e6 / c.max(1e-9)),
        replaced: counts.total(),
    };
    print!("{report}");
    report
}
