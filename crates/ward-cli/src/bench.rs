//! `ward bench …`: benchmarks that print figures. They measure; they never pass or fail.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};

use crate::client::Api;

#[derive(Subcommand)]
pub enum BenchCmd {
    /// NDJSON over loopback from concurrent senders into a fresh `ward serve`: events/s,
    /// MB/s, time to acknowledge (p50/p99) and the server's peak RSS.
    Ingest(IngestBench),
    /// Every Windows SigmaHQ rule, routing on, over the EVTX corpus repeated to a million
    /// events: events/s on one core and on all cores, peak RSS.
    Detect(crate::detect::DetectBench),
    /// Parsing throughput per format (messages/s, MB/s) and pseudonymisation throughput.
    Parse {
        /// MB of input per format.
        #[arg(long, default_value_t = 50)]
        mb: usize,
        /// Formats to measure (default: all), by id, e.g. suricata_eve syslog_5424.
        formats: Vec<String>,
    },
    /// RFC 5424 messages over TCP from concurrent connections into the syslog listener.
    Syslog {
        #[arg(long, default_value_t = 2_000_000)]
        messages: u64,
        #[arg(long, default_value_t = 4)]
        connections: usize,
    },
    /// Alerting: how long N notifications take to drain through the GOV.UK Notify API
    /// (the project's stand-in) while respecting Notify's rate limit.
    Alert {
        #[arg(long, default_value_t = 10_000)]
        notifications: usize,
        /// Sends in flight.
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        #[command(flatten)]
        latency: crate::bench_alert::LatencyArgs,
    },
    /// Threat intelligence: indicator import (STIX, CSV), memory for 10 million indicators,
    /// observables checked per second, a TAXII page of 1,000 objects.
    Intel,
    /// The search index: events/s written, then observable lookups over 30 days (p50/p99),
    /// on SQLite and PostgreSQL side by side.
    Search(crate::search_bench::SearchBench),
    /// A full 65,535-port TCP connect scan of loopback, side by side with
    /// `nmap -sT -p- 127.0.0.1`: both times, the ratio, and whether open ports agree.
    Scan {
        /// Alternating rounds of ward and nmap; medians are reported.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Measure ward alone.
        #[arg(long)]
        no_nmap: bool,
    },
}

#[derive(Args)]
pub struct IngestBench {
    /// Events to send in all.
    #[arg(long, default_value_t = 2_000_000)]
    events: u64,
    /// Concurrent senders.
    #[arg(long, default_value_t = 8)]
    senders: usize,
    /// Events per request.
    #[arg(long, default_value_t = 1000)]
    batch: u64,
    /// Run detection (built-in rules) while ingesting, and report how fast it keeps up.
    #[arg(long)]
    detection: bool,
    /// Event log engine: `embedded`, `jetstream`, or `both` (one after the other, with the
    /// ratio).
    #[arg(long, default_value = "embedded", value_parser = ["embedded", "jetstream", "both"])]
    eventlog: String,
    /// NATS server for `--eventlog jetstream`; the benchmark's stream is deleted afterwards.
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    nats_url: String,
}

/// A `ward serve` child process on a temporary directory, killed on drop.
struct ServerProcess {
    child: Child,
    url: String,
    token: String,
    _dir: tempfile::TempDir,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

async fn spawn_server(detection: bool, env: &[(String, String)]) -> anyhow::Result<ServerProcess> {
    let dir = tempfile::Builder::new().prefix("ward-bench-").tempdir()?;
    let port = free_port()?;
    let child = Command::new(std::env::current_exe()?)
        .arg("serve")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("WARD_DATA_DIR", dir.path())
        .env("WARD_HTTP__LISTEN", format!("127.0.0.1:{port}"))
        .env("WARD_DETECTION__ENABLED", detection.to_string())
        .env("WARD_LOG", "warn")
        .env_remove("WARD_CONFIG")
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting `ward serve`")?;
    let url = format!("http://127.0.0.1:{port}");
    let token_path = dir.path().join(ward_server::ADMIN_TOKEN_FILE);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let (Ok(resp), Ok(token)) = (
            reqwest::get(format!("{url}/healthz")).await,
            std::fs::read_to_string(&token_path),
        ) {
            if resp.status().is_success() {
                return Ok(ServerProcess {
                    child,
                    url,
                    token: token.trim().to_string(),
                    _dir: dir,
                });
            }
        }
        if Instant::now() > deadline {
            anyhow::bail!("`ward serve` did not come up within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Peak resident set size of a process, from /proc (Linux).
pub fn peak_rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

pub async fn run(cmd: &BenchCmd, json_mode: bool) -> anyhow::Result<()> {
    match cmd {
        BenchCmd::Ingest(b) => ingest(b, json_mode).await,
        BenchCmd::Search(b) => crate::search_bench::run(b, json_mode).await,
        BenchCmd::Detect(b) => tokio::task::block_in_place(|| crate::detect::bench(b, json_mode)),
        BenchCmd::Parse { mb, formats } => {
            let mut list = Vec::new();
            for name in formats {
                list.push(
                    ward_formats::Format::from_name(name)
                        .with_context(|| format!("unknown format {name:?}"))?,
                );
            }
            let bytes = mb.saturating_mul(1_000_000);
            let (parse, pseudo) = tokio::task::block_in_place(|| {
                (
                    ward_formats::bench::bench_parse(&list, bytes),
                    ward_pseudonymise::bench::bench_pseudonymise(bytes),
                )
            });
            println!("ward bench parse\n{parse}\n{pseudo}");
            Ok(())
        }
        BenchCmd::Syslog {
            messages,
            connections,
        } => {
            let (messages, connections) = (*messages, *connections);
            // The benchmark runs its own runtime (listener and senders); give it its own thread.
            let report =
                std::thread::spawn(move || ward_syslog::bench::bench_syslog(messages, connections))
                    .join()
                    .map_err(|_| anyhow::anyhow!("the syslog benchmark panicked"))??;
            println!("ward bench syslog\n{report}");
            Ok(())
        }
        BenchCmd::Alert {
            notifications,
            concurrency,
            latency,
        } => {
            let standin = ward_notify_standin::bind(
                "127.0.0.1:0",
                ward_notify_standin::StandinConfig::default(),
            )
            .await?;
            let key = standin
                .api_key("ward-live")
                .context("the stand-in has no live key")?;
            let client = ward_channels::notify::NotifyClient::new(
                ward_channels::notify::NotifyConfig::new(
                    key,
                    ward_notify_standin::config::defaults::SMS_TEMPLATE_ID.to_string(),
                    ward_notify_standin::config::defaults::EMAIL_TEMPLATE_ID.to_string(),
                )
                .with_base_url(standin.base_url()),
            )?;
            println!(
                "ward bench alert: {notifications} SMS through the Notify API stand-in at {}",
                standin.base_url()
            );
            let report = ward_channels::bench::drain(&client, *notifications, *concurrency).await;
            let stats = standin.stats();
            println!("{report}");
            println!(
                "stand-in: accepted {}, answered 429 RateLimitError {} times",
                stats.sends_accepted, stats.rate_limited
            );
            standin.shutdown().await;
            if !latency.no_latency {
                let report = crate::bench_alert::latency(latency).await?;
                println!("{report}");
            }
            Ok(())
        }
        BenchCmd::Intel => {
            let report = tokio::task::block_in_place(|| {
                ward_intel::bench::bench_intel(&ward_intel::bench::BenchConfig::default())
            });
            println!("ward bench intel\n{report}");
            Ok(())
        }
        BenchCmd::Scan { rounds, no_nmap } => {
            let opts = ward_scan::bench::BenchOptions {
                rounds: *rounds,
                nmap: if *no_nmap { None } else { Some("nmap".into()) },
                ..Default::default()
            };
            let report = ward_scan::bench::bench_scan(&opts).await?;
            if json_mode {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!("ward bench scan\n{report}");
            }
            Ok(())
        }
    }
}

async fn ingest(b: &IngestBench, json_mode: bool) -> anyhow::Result<()> {
    let engines: &[&str] = match b.eventlog.as_str() {
        "both" => &["embedded", "jetstream"],
        "jetstream" => &["jetstream"],
        _ => &["embedded"],
    };
    let mut reports = Vec::new();
    for engine in engines {
        let report = if *engine == "jetstream" {
            let stream = format!("WARD_BENCH_{:x}", std::process::id());
            let env = vec![
                ("WARD_EVENTLOG__ENGINE".to_string(), "jetstream".to_string()),
                ("WARD_EVENTLOG__NATS_URL".to_string(), b.nats_url.clone()),
                ("WARD_EVENTLOG__NATS_STREAM".to_string(), stream.clone()),
                (
                    "WARD_EVENTLOG__NATS_SUBJECT".to_string(),
                    format!("ward.bench.{:x}", std::process::id()),
                ),
            ];
            let report = ingest_once(b, engine, &env, json_mode).await;
            let client = async_nats::connect(b.nats_url.as_str()).await?;
            let _ = async_nats::jetstream::new(client)
                .delete_stream(&stream)
                .await;
            report?
        } else {
            ingest_once(b, engine, &[], json_mode).await?
        };
        reports.push(report);
    }
    if json_mode {
        let out = if reports.len() == 1 {
            reports.remove(0)
        } else {
            json!(reports)
        };
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else if reports.len() == 2 {
        let rate = |r: &Value| r["events_per_sec"].as_f64().unwrap_or(0.0);
        println!(
            "jetstream / embedded events/s ratio: {:.2}",
            rate(&reports[1]) / rate(&reports[0]).max(1.0)
        );
    }
    Ok(())
}

async fn ingest_once(
    b: &IngestBench,
    engine: &str,
    env: &[(String, String)],
    json_mode: bool,
) -> anyhow::Result<Value> {
    let server = spawn_server(b.detection, env).await?;
    let admin = Api::new(server.url.clone(), Some(server.token.clone()))?;
    let _: Value = admin
        .post("/api/v1/organisations", &json!({"ods_code": "ZA1", "name": "Bench Trust", "kind": "acute_trust", "region": "London"}))
        .await?;
    let key: Value = admin
        .post("/api/v1/organisations/ZA1/keys", &json!({"label": "bench"}))
        .await?;
    let secret = key["secret"].as_str().context("no key secret")?.to_string();

    let batch = b.batch.max(1);
    let total_batches = b.events.div_ceil(batch);
    let bodies: Vec<bytes::Bytes> = (0..16u64)
        .map(|k| {
            let mut body = String::with_capacity(batch as usize * 650);
            for i in 0..batch {
                body.push_str(&ward_scenario::bench_event(k * batch + i).to_string());
                body.push('\n');
            }
            bytes::Bytes::from(body)
        })
        .collect();
    let body_bytes = bodies[0].len() as u64;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(b.senders)
        .build()?;
    let next = Arc::new(AtomicU64::new(0));
    let bar = if json_mode {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(total_batches * batch)
    };
    bar.set_style(
        ProgressStyle::with_template("ingest {bar:30} {pos}/{len} events {per_sec}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..b.senders.max(1) {
        let (http, next, bodies, bar) = (http.clone(), next.clone(), bodies.clone(), bar.clone());
        let url = format!("{}/api/v1/events", server.url);
        let secret = secret.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total_batches {
                    return Ok::<_, anyhow::Error>(latencies);
                }
                let body = bodies[(i % bodies.len() as u64) as usize].clone();
                loop {
                    let t = Instant::now();
                    let resp = http
                        .post(&url)
                        .bearer_auth(&secret)
                        .header("content-type", "application/x-ndjson")
                        .body(body.clone())
                        .send()
                        .await?;
                    let status = resp.status();
                    let _ = resp.bytes().await;
                    if status.is_success() {
                        latencies.push(t.elapsed().as_micros() as u64);
                        break;
                    }
                    if status.as_u16() == 429 || status.as_u16() == 503 {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                    anyhow::bail!("ingest refused a batch: {status}");
                }
                bar.inc(batch);
            }
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    bar.finish_and_clear();
    latencies.sort_unstable();
    let events = total_batches * batch;
    let mut report = json!({
        "benchmark": "ingest",
        "events": events,
        "senders": b.senders,
        "batch_events": batch,
        "event_bytes_avg": body_bytes / batch,
        "detection": b.detection,
        "eventlog": engine,
        "seconds": elapsed,
        "events_per_sec": events as f64 / elapsed,
        "mb_per_sec": (total_batches * body_bytes) as f64 / elapsed / 1e6,
        "ack_p50_ms": percentile(&latencies, 0.50) as f64 / 1000.0,
        "ack_p99_ms": percentile(&latencies, 0.99) as f64 / 1000.0,
    });
    if b.detection {
        // Detection runs beside ingest; report when it had read everything.
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            let s: Value = admin.get("/api/v1/status").await?;
            if s["detection_offset"].as_u64() >= s["log_committed_offset"].as_u64()
                || Instant::now() > deadline
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let drained = started.elapsed().as_secs_f64();
        report["detection_drained_seconds"] = json!(drained);
        report["detection_events_per_sec"] = json!(events as f64 / drained);
    }
    report["server_peak_rss_mb"] =
        json!(peak_rss_bytes(server.child.id()).map(|b| b as f64 / 1048576.0));
    if !json_mode {
        println!("ward bench ingest: {} events of ~{} bytes, {} senders, {} events per request, detection {}, event log {engine}",
            events, body_bytes / batch, b.senders, batch, if b.detection { "on" } else { "off" });
        println!(
            "  events/s          {:>12.0}",
            report["events_per_sec"].as_f64().unwrap_or(0.0)
        );
        println!(
            "  MB/s              {:>12.1}",
            report["mb_per_sec"].as_f64().unwrap_or(0.0)
        );
        println!(
            "  ack p50 / p99     {:>8.1} ms / {:.1} ms",
            report["ack_p50_ms"].as_f64().unwrap_or(0.0),
            report["ack_p99_ms"].as_f64().unwrap_or(0.0)
        );
        if b.detection {
            println!(
                "  detection kept up {:>12.0} events/s (all read after {:.1} s)",
                report["detection_events_per_sec"].as_f64().unwrap_or(0.0),
                report["detection_drained_seconds"].as_f64().unwrap_or(0.0)
            );
        }
        println!(
            "  server peak RSS   {:>9.0} MB",
            report["server_peak_rss_mb"].as_f64().unwrap_or(0.0)
        );
    }
    Ok(report)
}
