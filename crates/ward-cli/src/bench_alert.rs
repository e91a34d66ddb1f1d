//! `ward bench alert` latency part: how long from an event being acknowledged at ingest (the
//! HTTP 200 of `POST /api/v1/events` carrying an event a built-in rule matches) to the GOV.UK
//! Notify request for it reaching Notify (the in-process stand-in), while other members keep
//! posting non-matching events at a fixed rate in the background.
//!
//! Everything runs in this process: a real `ward_server::start` (event log, detection, SQLite,
//! dispatcher) with its Notify provider pointing at the stand-in, the background senders and the
//! probes. It measures; it never passes or fails.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use ward_model::{OdsCode, OrgKind};
use ward_storage::NewContact;

#[derive(Args, Debug, Clone)]
pub struct LatencyArgs {
    /// Background load: non-matching events per second posted concurrently.
    #[arg(long, default_value_t = 20_000)]
    pub background_rate: u64,
    /// Events per background request.
    #[arg(long, default_value_t = 500)]
    pub background_batch: u64,
    /// Matching events (probes) per second.
    #[arg(long, default_value_t = 5)]
    pub probe_rate: u64,
    /// Seconds of load.
    #[arg(long, default_value_t = 20)]
    pub seconds: u64,
    /// Skip the latency measurement (drain only).
    #[arg(long)]
    pub no_latency: bool,
    /// Stages switched off for the latency run, to see what the alert path waits for:
    /// `search` (the event index) and/or `intel` (live indicator matching).
    #[arg(long, value_delimiter = ',', value_parser = ["search", "intel"])]
    pub without: Vec<String>,
}

/// What the latency run measured.
#[derive(Debug, Clone)]
pub struct LatencyReport {
    pub probes_sent: usize,
    pub probes_received: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub background_target: u64,
    pub background_achieved: f64,
    pub background_refused: u64,
    pub seconds: f64,
}

impl std::fmt::Display for LatencyReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "ingest-acknowledged → Notify request received, under background load:"
        )?;
        writeln!(
            f,
            "  probes: {} sent, {} reached Notify",
            self.probes_sent, self.probes_received
        )?;
        writeln!(
            f,
            "  latency: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (target p99 < 1000 ms: {})",
            self.p50_ms,
            self.p99_ms,
            self.max_ms,
            if self.p99_ms < 1000.0 && self.probes_received == self.probes_sent {
                "met"
            } else {
                "NOT met"
            }
        )?;
        write!(
            f,
            "  background: target {} events/s, achieved {:.0} events/s over {:.1} s ({} requests refused)",
            self.background_target, self.background_achieved, self.seconds, self.background_refused
        )
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// The probe number in a message body (`… on PROBE-17. …`).
fn probe_number(body: &str) -> Option<u64> {
    let start = body.find("PROBE-")? + "PROBE-".len();
    let digits: String = body[start..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().ok()
}

fn background_body(batch: u64) -> bytes::Bytes {
    let mut out = String::new();
    for i in 0..batch {
        out.push_str(
            &serde_json::json!({
                "Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": 1,
                "Computer": format!("WS-{}", i % 50),
                "Image": "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE",
                "CommandLine": "\"WINWORD.EXE\" /n letter.docx", "seq": i
            })
            .to_string(),
        );
        out.push('\n');
    }
    bytes::Bytes::from(out)
}

fn probe_body(n: u64) -> String {
    serde_json::json!({
        "Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": 1,
        "Computer": format!("PROBE-{n}"),
        "Image": "C:\\Windows\\tasksche.exe", "CommandLine": "tasksche.exe /i", "seq": n
    })
    .to_string()
}

pub async fn latency(args: &LatencyArgs) -> anyhow::Result<LatencyReport> {
    let standin =
        ward_notify_standin::bind("127.0.0.1:0", ward_notify_standin::StandinConfig::default())
            .await?;
    let arrivals: Arc<Mutex<HashMap<u64, Instant>>> = Arc::new(Mutex::new(HashMap::new()));
    let seen = arrivals.clone();
    standin.on_accept(Arc::new(move |a| {
        let at = Instant::now();
        if let Some(n) = probe_number(&a.body) {
            let mut map = seen.lock().unwrap_or_else(|p| p.into_inner());
            map.entry(n).or_insert(at);
        }
    }));
    let dir = tempfile::Builder::new()
        .prefix("ward-bench-alert-")
        .tempdir()?;
    let mut cfg = ward_config::Config {
        data_dir: dir.path().to_path_buf(),
        ..Default::default()
    };
    cfg.http.listen = "127.0.0.1:0".into();
    cfg.notify.provider = "govuk_notify".into();
    cfg.notify.api_key = standin.api_key("ward-live");
    cfg.notify.base_url = standin.base_url();
    cfg.notify.sms_template_id =
        Some(ward_notify_standin::config::defaults::SMS_TEMPLATE_ID.to_string());
    cfg.notify.email_template_id =
        Some(ward_notify_standin::config::defaults::EMAIL_TEMPLATE_ID.to_string());
    for stage in &args.without {
        match stage.as_str() {
            "search" => cfg.search.enabled = false,
            "intel" => cfg.intel.live_matching = false,
            _ => {}
        }
    }
    let server = ward_server::start(cfg).await?;
    let store = server.state.store.clone();
    let probe_org: OdsCode = "BENCHP".parse()?;
    let load_org: OdsCode = "BENCHL".parse()?;
    store
        .create_org(&probe_org, "Probe Trust", OrgKind::AcuteTrust, "London")
        .await?;
    store
        .create_org(&load_org, "Load Trust", OrgKind::AcuteTrust, "London")
        .await?;
    store
        .add_contact(
            &probe_org,
            NewContact {
                name: "On-call lead".into(),
                phone: Some("+447700900123".into()),
                email: None,
                role: "security_lead".into(),
            },
        )
        .await?;
    let (_, probe_key) = store.create_api_key(&probe_org, "bench").await?;
    let (_, load_key) = store.create_api_key(&load_org, "bench").await?;
    let url = format!("{}/api/v1/events", server.url());
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .context("building the HTTP client")?;

    println!(
        "latency: {} probes/s for {} s under {} background events/s (batches of {}) against {}",
        args.probe_rate,
        args.seconds,
        args.background_rate,
        args.background_batch,
        server.url()
    );
    let stop = Arc::new(AtomicBool::new(false));
    let accepted = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let batch = args.background_batch.max(1);
    let requests_per_sec = (args.background_rate as f64 / batch as f64).max(0.0);
    // Enough senders that one slow answer does not hold the rate back.
    let senders = 8usize;
    let body = background_body(batch);
    let started = Instant::now();
    let mut load = tokio::task::JoinSet::new();
    if requests_per_sec > 0.0 {
        let interval = Duration::from_secs_f64(senders as f64 / requests_per_sec);
        for s in 0..senders {
            let (http, url, key, body) =
                (http.clone(), url.clone(), load_key.clone(), body.clone());
            let (stop, accepted, refused) = (stop.clone(), accepted.clone(), refused.clone());
            load.spawn(async move {
                // Stagger the senders over one interval so requests arrive evenly.
                tokio::time::sleep(interval.mul_f64(s as f64 / senders as f64)).await;
                let mut tick = tokio::time::interval(interval);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                while !stop.load(Ordering::Relaxed) {
                    tick.tick().await;
                    let r = http
                        .post(&url)
                        .bearer_auth(&key)
                        .header("content-type", "application/x-ndjson")
                        .body(body.clone())
                        .send()
                        .await;
                    match r {
                        Ok(resp) if resp.status().is_success() => {
                            accepted.fetch_add(batch, Ordering::Relaxed);
                        }
                        _ => {
                            refused.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            });
        }
    }
    // Let the load settle before the first probe.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut sent_at: HashMap<u64, Instant> = HashMap::new();
    let mut tick =
        tokio::time::interval(Duration::from_secs_f64(1.0 / args.probe_rate.max(1) as f64));
    let mut n = 0u64;
    while started.elapsed() < Duration::from_secs(args.seconds.max(2)) {
        tick.tick().await;
        n += 1;
        let resp = http
            .post(&url)
            .bearer_auth(&probe_key)
            .header("content-type", "application/x-ndjson")
            .body(probe_body(n))
            .send()
            .await;
        match resp {
            Ok(r) if r.status().is_success() => {
                sent_at.insert(n, Instant::now());
            }
            Ok(r) => eprintln!("probe {n} refused: HTTP {}", r.status()),
            Err(e) => eprintln!("probe {n} failed: {e}"),
        }
    }
    stop.store(true, Ordering::Relaxed);
    let load_secs = started.elapsed().as_secs_f64();
    while load.join_next().await.is_some() {}
    // The last probes may still be on their way.
    let wait_until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < wait_until {
        let got = arrivals.lock().unwrap_or_else(|p| p.into_inner()).len();
        if got >= sent_at.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let arrived = arrivals.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let mut lat: Vec<f64> = sent_at
        .iter()
        .filter_map(|(n, t0)| {
            arrived
                .get(n)
                .map(|t1| t1.saturating_duration_since(*t0).as_secs_f64() * 1000.0)
        })
        .collect();
    lat.sort_by(|a, b| a.total_cmp(b));
    let report = LatencyReport {
        probes_sent: sent_at.len(),
        probes_received: lat.len(),
        p50_ms: percentile(&lat, 0.50),
        p99_ms: percentile(&lat, 0.99),
        max_ms: lat.last().copied().unwrap_or(f64::NAN),
        background_target: args.background_rate,
        background_achieved: accepted.load(Ordering::Relaxed) as f64 / load_secs,
        background_refused: refused.load(Ordering::Relaxed),
        seconds: load_secs,
    };
    server.shutdown().await;
    standin.shutdown().await;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_numbers_are_found_in_message_bodies() {
        assert_eq!(
            probe_number("ward HIGH: WannaCry at BENCHP on PROBE-17. Incident INC-3."),
            Some(17)
        );
        assert_eq!(probe_number("nothing here"), None);
        assert_eq!(percentile(&[1.0, 2.0, 3.0], 0.5), 2.0);
    }
}
