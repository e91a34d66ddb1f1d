//! `ward bench scan`: a full 65,535-port TCP connect scan of 127.0.0.1 by
//! ward and by `nmap -sT -p- 127.0.0.1`, in one run, with both times, the
//! ratio, and whether the open-port sets agree.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::checks::portscan::{scan_ports, PortScanConfig, PortSpec};
use crate::rate::UNLIMITED;
use crate::scope::{Check, Scope, TimeWindow};
use crate::time::Timestamp;
use crate::Scanner;

/// Benchmark options.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Connection attempts in flight.
    pub concurrency: usize,
    /// The nmap binary to compare with; `None` runs ward alone.
    pub nmap: Option<String>,
    /// Ports (default: all 65,535).
    pub ports: PortSpec,
    /// Alternating rounds (ward, nmap, ward, nmap, …); medians are reported,
    /// which keeps a busy shared machine from deciding the ratio.
    pub rounds: usize,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            concurrency: 256,
            nmap: Some("nmap".into()),
            ports: PortSpec::Full,
            rounds: 3,
        }
    }
}

/// What the benchmark measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BenchReport {
    /// Ports scanned.
    pub ports: usize,
    /// ward's wall time, seconds (median over rounds).
    pub ward_secs: f64,
    /// nmap's wall time, seconds, process start to exit (median over rounds).
    pub nmap_secs: Option<f64>,
    /// Every ward round, seconds.
    pub ward_rounds: Vec<f64>,
    /// Every nmap round, seconds.
    pub nmap_rounds: Vec<f64>,
    /// nmap time / ward time (how many times faster ward is).
    pub ratio: Option<f64>,
    /// Open ports ward found.
    pub ward_open: Vec<u16>,
    /// Open ports nmap found.
    pub nmap_open: Option<Vec<u16>>,
    /// Whether both found the same open ports in every round.
    pub identical: Option<bool>,
    /// Rounds in which both found the same open ports (other programs on a
    /// shared machine open and close ports between two scans).
    pub identical_rounds: usize,
    /// Concurrency used.
    pub concurrency: usize,
    /// nmap's command line.
    pub nmap_command: Option<String>,
}

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "ward scan bench: TCP connect scan of 127.0.0.1, {} ports, {} round(s), medians",
            self.ports,
            self.ward_rounds.len()
        )?;
        let fmt_rounds = |v: &[f64]| {
            v.iter()
                .map(|x| format!("{x:.3}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        writeln!(
            f,
            "  ward  {:>8.3} s  ({} open, concurrency {}; rounds {})",
            self.ward_secs,
            self.ward_open.len(),
            self.concurrency,
            fmt_rounds(&self.ward_rounds)
        )?;
        match (self.nmap_secs, &self.nmap_open) {
            (Some(n), Some(o)) => {
                writeln!(
                    f,
                    "  nmap  {:>8.3} s  ({} open; rounds {})  [{}]",
                    n,
                    o.len(),
                    fmt_rounds(&self.nmap_rounds),
                    self.nmap_command.as_deref().unwrap_or("")
                )?;
                writeln!(
                    f,
                    "  ratio {:>8.2}x  (nmap time / ward time; goal >= 2.00x)",
                    self.ratio.unwrap_or(0.0)
                )?;
                writeln!(
                    f,
                    "  open-port sets identical: {} ({}/{} rounds)",
                    if self.identical == Some(true) {
                        "yes"
                    } else {
                        "NO"
                    },
                    self.identical_rounds,
                    self.nmap_rounds.len()
                )?;
                if self.identical != Some(true) {
                    let a: BTreeSet<_> = self.ward_open.iter().collect();
                    let b: BTreeSet<_> = o.iter().collect();
                    writeln!(
                        f,
                        "    only ward: {:?}",
                        a.difference(&b).collect::<Vec<_>>()
                    )?;
                    writeln!(
                        f,
                        "    only nmap: {:?}",
                        b.difference(&a).collect::<Vec<_>>()
                    )?;
                }
            }
            _ => writeln!(f, "  nmap  (not run)")?,
        }
        writeln!(f, "  ward open ports: {:?}", self.ward_open)
    }
}

/// Benchmark failure.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// ward's scan failed.
    #[error("SCAN-B001 ward scan failed: {0}")]
    Scan(String),
    /// nmap could not be run.
    #[error("SCAN-B002 could not run {cmd}: {detail} (install it with scripts/deps/scan.sh)")]
    Nmap {
        /// Command.
        cmd: String,
        /// Why.
        detail: String,
    },
}

/// Extracts open TCP ports from nmap XML output.
pub fn nmap_xml_open_ports(xml: &str) -> Vec<u16> {
    let mut out = Vec::new();
    for chunk in xml.split("<port ").skip(1) {
        let Some(pid) = chunk
            .split("portid=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
        else {
            continue;
        };
        let state = chunk
            .split("<state state=\"")
            .nth(1)
            .and_then(|s| s.split('"').next());
        if state == Some("open") && chunk.starts_with("protocol=\"tcp\"") {
            if let Ok(p) = pid.parse() {
                out.push(p);
            }
        }
    }
    out.sort_unstable();
    out
}

/// ward's side alone: scans 127.0.0.1 and returns (seconds, open ports).
pub async fn ward_loopback_scan(
    ports: &[u16],
    concurrency: usize,
) -> Result<(f64, Vec<u16>), BenchError> {
    let now = Timestamp::now();
    let scope = Scope {
        id: "bench-loopback".into(),
        member: "BENCH".into(),
        cidrs: vec!["127.0.0.1/32"
            .parse()
            .map_err(|e: crate::scope::CidrError| BenchError::Scan(e.to_string()))?],
        host_names: vec![],
        windows: vec![TimeWindow {
            start: Timestamp(now.0 - 1),
            end: Timestamp(now.0 + 3600),
        }],
        allowed_checks: [Check::PortScan].into_iter().collect(),
        max_rate_per_sec: UNLIMITED,
        authorised_by: "ward bench".into(),
        authorised_at: Timestamp(now.0 - 1),
    };
    let target = scope
        .authorise("127.0.0.1", now)
        .map_err(|e| BenchError::Scan(e.to_string()))?;
    let scanner = Scanner::builder()
        .rate_per_target(UNLIMITED)
        .rate_per_member(UNLIMITED)
        .global_rate(UNLIMITED)
        .cancel_token(CancellationToken::new())
        .build();
    let conn = scanner.connector(&target);
    let cfg = PortScanConfig {
        concurrency,
        banner_timeout: None,
        ..PortScanConfig::default()
    };
    let t0 = Instant::now();
    let r = scan_ports(
        &conn,
        target.addresses()[0],
        ports,
        &cfg,
        Arc::new(AtomicU64::new(0)),
    )
    .await
    .map_err(|e| BenchError::Scan(e.to_string()))?;
    Ok((t0.elapsed().as_secs_f64(), r.open_ports()))
}

/// Runs ward's scan, then nmap's, and compares.
pub async fn bench_scan(opts: &BenchOptions) -> Result<BenchReport, BenchError> {
    let ports = opts.ports.ports();
    let rounds = opts.rounds.max(1);
    let mut rep = BenchReport {
        ports: ports.len(),
        ward_secs: 0.0,
        nmap_secs: None,
        ward_rounds: Vec::new(),
        nmap_rounds: Vec::new(),
        ratio: None,
        ward_open: Vec::new(),
        nmap_open: None,
        identical: None,
        identical_rounds: 0,
        concurrency: opts.concurrency,
        nmap_command: None,
    };
    let port_arg = if opts.ports == PortSpec::Full {
        "-p-".to_string()
    } else {
        format!("-p{}", crate::output::compress_ports(&ports))
    };
    let args = ["-sT", port_arg.as_str(), "-oX", "-", "127.0.0.1"];
    for _ in 0..rounds {
        let (secs, open) = ward_loopback_scan(&ports, opts.concurrency).await?;
        rep.ward_rounds.push(secs);
        rep.ward_open = open;
        let Some(nmap) = &opts.nmap else { continue };
        rep.nmap_command = Some(format!("{nmap} {}", args.join(" ")));
        let t0 = Instant::now();
        let out = tokio::process::Command::new(nmap)
            .args(args)
            .output()
            .await
            .map_err(|e| BenchError::Nmap {
                cmd: nmap.clone(),
                detail: e.to_string(),
            })?;
        let secs = t0.elapsed().as_secs_f64();
        if !out.status.success() {
            return Err(BenchError::Nmap {
                cmd: nmap.clone(),
                detail: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
        let open = nmap_xml_open_ports(&String::from_utf8_lossy(&out.stdout));
        if open == rep.ward_open {
            rep.identical_rounds += 1;
        }
        rep.nmap_rounds.push(secs);
        rep.nmap_open = Some(open);
    }
    rep.ward_secs = median(&rep.ward_rounds);
    if !rep.nmap_rounds.is_empty() {
        let n = median(&rep.nmap_rounds);
        rep.nmap_secs = Some(n);
        rep.ratio = Some(n / rep.ward_secs.max(1e-9));
        rep.identical = Some(rep.identical_rounds == rep.nmap_rounds.len());
    }
    Ok(rep)
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => 0.0,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

/// Blocking wrapper for callers without a runtime (e.g. a CLI `main`).
pub fn bench_scan_blocking(opts: &BenchOptions) -> Result<BenchReport, BenchError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| BenchError::Scan(e.to_string()))?;
    rt.block_on(bench_scan(opts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nmap_xml_and_takes_medians() {
        let xml = r#"<ports><port protocol="tcp" portid="22"><state state="open" reason="syn-ack"/></port><port protocol="tcp" portid="23"><state state="closed"/></port><port protocol="udp" portid="53"><state state="open"/></port><port protocol="tcp" portid="8080"><state state="open"/></port></ports>"#;
        assert_eq!(nmap_xml_open_ports(xml), vec![22, 8080]);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0]), 2.5);
    }
}
