//! Parse throughput per format: [`bench_parse`] prints and returns
//! messages/s and MB/s for each format, on one core.
//!
//! The corpus is the golden-test inputs of each format (real-looking records),
//! repeated until the target volume is reached; records are parsed one by
//! one through [`crate::parse_with`] exactly as ingest does, including
//! building the full [`ward_event::Event`] with observables.

use std::fmt;
use std::time::Instant;

use crate::{parse_with, Format, Options};

/// Figures for one format.
#[derive(Debug, Clone)]
pub struct FormatFigures {
    /// Format measured.
    pub format: Format,
    /// Records parsed.
    pub messages: u64,
    /// Bytes parsed.
    pub bytes: u64,
    /// Records that failed to parse (should be 0: the corpus is valid).
    pub errors: u64,
    /// Wall-clock seconds.
    pub secs: f64,
    /// Seconds this thread actually ran on a CPU (Linux schedstat), which
    /// is the "one core" figure when the machine is shared.
    pub cpu_secs: Option<f64>,
}

impl FormatFigures {
    /// Messages per second.
    pub fn msgs_per_sec(&self) -> f64 {
        self.messages as f64 / self.secs.max(1e-9)
    }
    /// Megabytes (10^6 bytes) per second.
    pub fn mb_per_sec(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.secs.max(1e-9)
    }
    /// Megabytes per second of CPU time on one core.
    pub fn mb_per_cpu_sec(&self) -> Option<f64> {
        self.cpu_secs.map(|c| self.bytes as f64 / 1e6 / c.max(1e-9))
    }
}

/// Nanoseconds the calling thread has spent on a CPU, from
/// `/proc/thread-self/schedstat` (Linux); `None` elsewhere.
pub fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// What [`bench_parse`] measured.
#[derive(Debug, Clone)]
pub struct BenchReport {
    /// One entry per format.
    pub formats: Vec<FormatFigures>,
    /// Peak resident set size of the process in KiB (Linux `VmHWM`), if known.
    pub peak_rss_kib: Option<u64>,
}

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<22} {:>10} {:>12} {:>10} {:>12} {:>7}",
            "format", "messages", "msgs/s", "MB/s", "MB/cpu-s", "errors"
        )?;
        for x in &self.formats {
            writeln!(
                f,
                "{:<22} {:>10} {:>12.0} {:>10.1} {:>12.1} {:>7}",
                x.format.id(),
                x.messages,
                x.msgs_per_sec(),
                x.mb_per_sec(),
                x.mb_per_cpu_sec().unwrap_or(f64::NAN),
                x.errors
            )?;
        }
        if let Some(kib) = self.peak_rss_kib {
            writeln!(f, "peak RSS: {:.1} MiB", kib as f64 / 1024.0)?;
        }
        Ok(())
    }
}

/// Peak RSS of this process in KiB, from `/proc/self/status`.
pub fn peak_rss_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

macro_rules! golden {
    ($($p:literal),* $(,)?) => { &[$(include_str!(concat!("../tests/golden/", $p))),*] };
}

/// Sample records for a format (the golden inputs).
pub fn corpus(format: Format) -> &'static [&'static str] {
    match format {
        Format::Syslog5424 => golden![
            "syslog5424/rfc_example.in",
            "syslog5424/sshd_accepted.in",
            "syslog5424/no_sd.in"
        ],
        Format::Syslog3164 => golden![
            "syslog3164/su_failed.in",
            "syslog3164/sshd_failed.in",
            "syslog3164/cron.in"
        ],
        Format::Cef => golden!["cef/threat.in", "cef/syslog_wrapped.in"],
        Format::Leef => golden!["leef/leef1.in", "leef/leef2.in"],
        Format::WindowsEvtxJson => {
            golden!["windows_evtx/4624_logon.in", "windows_evtx/4688_process.in"]
        }
        Format::WindowsFlatJson => golden![
            "windows_flat/winlogbeat_4625.in",
            "windows_flat/nxlog_4720.in"
        ],
        Format::Sysmon => golden![
            "sysmon/process_create.in",
            "sysmon/network_connect.in",
            "sysmon/dns_query.in"
        ],
        Format::SuricataEve => golden![
            "suricata/alert.in",
            "suricata/flow.in",
            "suricata/dns.in",
            "suricata/http.in",
            "suricata/tls.in",
            "suricata/smb.in",
        ],
        Format::ZeekJson => golden![
            "zeek/conn.in",
            "zeek/dns.in",
            "zeek/http.in",
            "zeek/ssl.in",
            "zeek/smb_files.in",
            "zeek/smb_mapping.in",
            "zeek/notice.in",
        ],
        Format::CiscoAsa => golden![
            "asa/built_outbound.in",
            "asa/deny_acl.in",
            "asa/login_denied.in"
        ],
        Format::FortiGate => golden!["fortigate/traffic.in", "fortigate/ips.in"],
        Format::PaloAlto => golden!["panos/traffic.in", "panos/threat.in"],
        Format::Iptables => golden!["netfilter/iptables_drop.in", "netfilter/nftables_accept.in"],
        Format::Auditd => golden![
            "auditd/syscall_execve.in",
            "auditd/user_login.in",
            "auditd/execve.in"
        ],
        Format::AccessLog => golden!["access/combined.in", "access/common.in"],
    }
}

/// Parse about `bytes_per_format` bytes of each format in `formats` (all
/// when empty) and print one line per format. Runs on the calling thread.
pub fn bench_parse(formats: &[Format], bytes_per_format: usize) -> BenchReport {
    let opts = Options {
        reference_time: ward_event::Timestamp::parse_iso8601("2024-06-01T00:00:00Z", true).ok(),
    };
    let list: Vec<Format> = if formats.is_empty() {
        Format::ALL.to_vec()
    } else {
        formats.to_vec()
    };
    let mut out = Vec::new();
    for format in list {
        let samples: Vec<&str> = corpus(format).iter().map(|s| s.trim_end()).collect();
        // Warm up caches and the allocator.
        for s in &samples {
            let _ = parse_with(format, s, &opts);
        }
        let (mut messages, mut bytes, mut errors) = (0u64, 0u64, 0u64);
        let cpu0 = thread_cpu_ns();
        let start = Instant::now();
        'outer: loop {
            for s in &samples {
                match parse_with(format, s, &opts) {
                    Ok(ev) => {
                        std::hint::black_box(&ev);
                    }
                    Err(_) => errors += 1,
                }
                messages += 1;
                bytes += s.len() as u64 + 1;
                if bytes as usize >= bytes_per_format {
                    break 'outer;
                }
            }
        }
        let fig = FormatFigures {
            format,
            messages,
            bytes,
            errors,
            secs: start.elapsed().as_secs_f64(),
            cpu_secs: cpu0
                .zip(thread_cpu_ns())
                .map(|(a, b)| b.saturating_sub(a) as f64 / 1e9),
        };
        println!(
            "parse {:<22} {:>9} msgs {:>11.0} msgs/s {:>8.1} MB/s {:>8.1} MB/cpu-s errors {}",
            format.id(),
            fig.messages,
            fig.msgs_per_sec(),
            fig.mb_per_sec(),
            fig.mb_per_cpu_sec().unwrap_or(f64::NAN),
            fig.errors
        );
        out.push(fig);
    }
    BenchReport {
        formats: out,
        peak_rss_kib: peak_rss_kib(),
    }
}
