//! `ward bench search`: the search index on SQLite and PostgreSQL side by side.
//!
//! Synthetic Suricata EVE records (DNS, flows, file transfers with hashes; user names on some)
//! across `--orgs` organisations spread evenly over `--days` days are parsed by ward's own
//! parser (not timed) and written through the index consumer's path, `EventIndex::index_batch`
//! (timed: events/s written). Then observable lookups over the last 30 days through
//! `EventIndex::search` (limit 100, newest first, record decompressed) give p50/p99 per kind of
//! lookup, plus one retro-hunt of 1,000 indicators.

use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use ward_eventlog::LogRecord;
use ward_storage::{EventIndex, IndexedEvent, ObservableQuery, SearchQuery, Store};

const DAY_MS: i64 = 86_400_000;
const DST_IPS: u32 = 200_000;
const DOMAINS: u32 = 100_000;
const HASHES: u32 = 50_000;
const USERS: u32 = 5_000;

#[derive(Args)]
pub struct SearchBench {
    /// Events to index.
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// Organisations the events are spread across.
    #[arg(long, default_value_t = 50)]
    orgs: u32,
    /// Days the events are spread across (ending now).
    #[arg(long, default_value_t = 30)]
    days: u32,
    /// Lookups per kind of query.
    #[arg(long, default_value_t = 500)]
    lookups: usize,
    /// Events per index transaction (as `search.batch_events`).
    #[arg(long, default_value_t = 2048)]
    batch: usize,
    /// PostgreSQL admin URL; a throw-away database is created on it and dropped afterwards.
    #[arg(long, env = "WARD_TEST_POSTGRES_URL")]
    postgres: Option<String>,
    /// Measure SQLite only.
    #[arg(long)]
    no_postgres: bool,
}

fn dst_ip(n: u32) -> String {
    // Public-looking addresses outside the private ranges.
    format!(
        "{}.{}.{}.{}",
        23 + (n >> 16) % 150,
        (n >> 8) & 255,
        n & 255,
        1 + n % 7
    )
}
fn domain(n: u32) -> String {
    format!("host{n}.example{}.com", n % 97)
}
fn md5(n: u32) -> String {
    format!(
        "{:032x}",
        (n as u128).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835)
    )
}
fn user(n: u32) -> String {
    format!("user{n:05}")
}

/// One synthetic EVE record for event `i` of `total`.
fn record(
    i: u64,
    total: u64,
    orgs: u32,
    days: u32,
    now: i64,
    rng: &mut StdRng,
) -> (String, String) {
    let org = format!("B{:05}", i % u64::from(orgs));
    let span = i64::from(days) * DAY_MS;
    let time = now - span + (i as i64).saturating_mul(span) / total.max(1) as i64;
    let ts = ward_model::clock::rfc3339(time).replace('Z', "+0000");
    let src = format!(
        "10.{}.{}.{}",
        i % u64::from(orgs),
        rng.gen_range(0..=255),
        rng.gen_range(1..255)
    );
    // A few addresses are everywhere (resolvers, update servers), most are rare.
    let dst = if rng.gen_bool(0.05) {
        "8.8.8.8".to_string()
    } else {
        dst_ip(rng.gen_range(0..DST_IPS))
    };
    let roll: f64 = rng.gen();
    let mut v: Value = if roll < 0.4 {
        json!({"timestamp": ts, "event_type": "dns", "src_ip": src, "src_port": 53000, "dest_ip": dst,
               "dest_port": 53, "proto": "UDP",
               "dns": {"type": "query", "rrname": domain(rng.gen_range(0..DOMAINS)), "rrtype": "A"}})
    } else if roll < 0.5 {
        json!({"timestamp": ts, "event_type": "fileinfo", "src_ip": dst, "src_port": 80, "dest_ip": src,
               "dest_port": 51000, "proto": "TCP", "app_proto": "http",
               "fileinfo": {"filename": "/download/setup.exe", "md5": md5(rng.gen_range(0..HASHES)), "size": 73_802}})
    } else {
        json!({"timestamp": ts, "event_type": "flow", "src_ip": src, "src_port": rng.gen_range(1024..65535),
               "dest_ip": dst, "dest_port": 443, "proto": "TCP", "app_proto": "tls",
               "flow": {"pkts_toserver": 14, "pkts_toclient": 12, "bytes_toserver": 2211, "bytes_toclient": 6034, "state": "closed"}})
    };
    if rng.gen_bool(0.3) {
        v["host"] = json!(format!("ws-{}", i % 500));
        v["user"] = json!(user(rng.gen_range(0..USERS)));
    }
    (org, v.to_string())
}

struct Figures {
    engine: &'static str,
    events: u64,
    observables: u64,
    write_secs: f64,
    lookups: Vec<(&'static str, Duration, Duration, f64)>,
    retro: Duration,
    retro_hits: usize,
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

async fn measure(store: &Store, engine: &'static str, b: &SearchBench) -> anyhow::Result<Figures> {
    let now = ward_model::clock::now_ms();
    let mut rng = StdRng::seed_from_u64(7);
    let mut written = 0u64;
    let mut observables = 0u64;
    let mut write = Duration::ZERO;
    // Lookups ask for values that were indexed (a sample of them), so they find something.
    let mut sample: std::collections::HashMap<String, Vec<String>> = Default::default();
    let bar = indicatif::ProgressBar::new(b.events);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{prefix} {bar:40} {pos}/{len} {per_sec}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_prefix(engine);
    while written < b.events {
        let n = (b.events - written).min(b.batch as u64);
        let batch: Vec<IndexedEvent> = (written..written + n)
            .map(|i| {
                let (org, line) = record(i, b.events, b.orgs, b.days, now, &mut rng);
                ward_server::search::to_indexed(&LogRecord {
                    offset: i,
                    received_at_ms: now,
                    org,
                    payload: line.into_bytes(),
                })
            })
            .collect();
        observables += batch
            .iter()
            .map(|e| e.observables.len() as u64)
            .sum::<u64>();
        for e in batch.iter().step_by(37) {
            for (k, v) in &e.observables {
                if v != "8.8.8.8" && !v.starts_with("10.") {
                    sample.entry(k.clone()).or_default().push(v.clone());
                }
            }
        }
        let t = Instant::now();
        store
            .index_batch("bench", &batch, written + n)
            .await
            .with_context(|| format!("indexing into {engine}"))?;
        write += t.elapsed();
        written += n;
        bar.set_position(written);
    }
    bar.finish_and_clear();

    let since = now - 30 * DAY_MS;
    let query = move |kind: Option<&str>, value: String| SearchQuery {
        observable: Some(ObservableQuery {
            kind: kind.map(str::to_string),
            value,
        }),
        ..SearchQuery::between(since, now + 1)
    };
    let pick = |kind: &str| {
        let values = sample.get(kind).cloned().unwrap_or_default();
        move |r: &mut StdRng| -> String {
            if values.is_empty() {
                return "192.0.2.1".to_string();
            }
            values[r.gen_range(0..values.len())].clone()
        }
    };
    let (ip, dom, hash, dom2) = (pick("ip"), pick("domain"), pick("hash"), pick("domain"));
    type Make = Box<dyn Fn(&mut StdRng) -> SearchQuery>;
    let cases: Vec<(&'static str, Make)> = vec![
        (
            "ip",
            Box::new(move |r: &mut StdRng| query(Some("ip"), ip(r))) as Make,
        ),
        (
            "domain",
            Box::new(move |r: &mut StdRng| query(Some("domain"), dom(r))),
        ),
        (
            "hash",
            Box::new(move |r: &mut StdRng| query(Some("hash"), hash(r))),
        ),
        (
            "any kind (a domain)",
            Box::new(move |r: &mut StdRng| query(None, dom2(r))),
        ),
        (
            "hot ip (5% of events)",
            Box::new(move |_: &mut StdRng| query(Some("ip"), "8.8.8.8".into())),
        ),
        (
            "ip /24 block",
            Box::new(move |r: &mut StdRng| {
                let ip = dst_ip(r.gen_range(0..DST_IPS));
                let net = ip
                    .rsplit_once('.')
                    .map(|(a, _)| a.to_string())
                    .unwrap_or_default();
                query(Some("ip"), format!("{net}.0/24"))
            }),
        ),
        (
            "absent",
            Box::new(move |r: &mut StdRng| {
                query(Some("ip"), format!("192.0.2.{}", r.gen_range(1..255)))
            }),
        ),
    ];
    let mut lookups = Vec::new();
    for (name, make) in &cases {
        let mut times = Vec::with_capacity(b.lookups);
        let mut hits = 0usize;
        for _ in 0..b.lookups {
            let q = make(&mut rng);
            let t = Instant::now();
            let page = store.search(&q).await?;
            times.push(t.elapsed());
            hits += page.hits.len();
        }
        times.sort();
        lookups.push((
            *name,
            pct(&times, 0.5),
            pct(&times, 0.99),
            hits as f64 / b.lookups.max(1) as f64,
        ));
    }
    let iocs: Vec<(String, String)> = (0..1000)
        .map(|i| match i % 3 {
            0 => ("ip".to_string(), dst_ip(rng.gen_range(0..DST_IPS))),
            1 => ("domain".to_string(), domain(rng.gen_range(0..DOMAINS))),
            _ => ("hash".to_string(), md5(rng.gen_range(0..HASHES))),
        })
        .collect();
    let t = Instant::now();
    let retro_hits = store.retro_search(&iocs, 30, now + 1, 100_000).await?.len();
    let retro = t.elapsed();
    Ok(Figures {
        engine,
        events: written,
        observables,
        write_secs: write.as_secs_f64(),
        lookups,
        retro,
        retro_hits,
    })
}

async fn fresh_postgres(admin: &str) -> anyhow::Result<(String, String)> {
    use sqlx::Connection;
    let name = format!("ward_bench_search_{}", std::process::id());
    let mut conn = sqlx::PgConnection::connect(admin)
        .await
        .with_context(|| format!("connecting to PostgreSQL at {admin}"))?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .with_context(|| format!("creating database {name}"))?;
    let url = match admin.rfind('/') {
        Some(i) if !admin[..i].ends_with('/') => format!("{}/{name}", &admin[..i]),
        _ => format!("{admin}/{name}"),
    };
    Ok((name, url))
}

async fn drop_postgres(admin: &str, name: &str) {
    use sqlx::Connection;
    if let Ok(mut conn) = sqlx::PgConnection::connect(admin).await {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut conn)
            .await;
    }
}

pub async fn run(b: &SearchBench, json_mode: bool) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let sqlite_url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("bench.db").display()
    );
    let sqlite = Store::connect(&sqlite_url, 4).await?;
    let mut all = vec![measure(&sqlite, "sqlite", b).await?];
    sqlite.close().await;
    if !b.no_postgres {
        let admin = b
            .postgres
            .clone()
            .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".to_string());
        let (name, url) = fresh_postgres(&admin).await?;
        let result = async {
            let pg = Store::connect(&url, 4).await?;
            let f = measure(&pg, "postgres", b).await;
            pg.close().await;
            f
        }
        .await;
        drop_postgres(&admin, &name).await;
        all.push(result?);
    }
    if json_mode {
        let v: Vec<Value> = all
            .iter()
            .map(|f| {
                json!({
                    "engine": f.engine, "events": f.events, "observables": f.observables,
                    "write_events_per_sec": f.events as f64 / f.write_secs.max(1e-9),
                    "lookups": f.lookups.iter().map(|(n, p50, p99, hits)| json!({
                        "query": n, "p50_ms": p50.as_secs_f64() * 1e3, "p99_ms": p99.as_secs_f64() * 1e3, "mean_hits": hits
                    })).collect::<Vec<_>>(),
                    "retro_1000_iocs_ms": f.retro.as_secs_f64() * 1e3, "retro_hits": f.retro_hits,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!(
        "search index: {} events across {} organisations over {} days; lookups over the last 30 days, limit 100, {} per query",
        b.events, b.orgs, b.days, b.lookups
    );
    let mut header = format!("{:<28}", "");
    for f in &all {
        header.push_str(&format!("{:>26}", f.engine));
    }
    println!("{header}");
    let mut line = format!("{:<28}", "index write (events/s)");
    for f in &all {
        line.push_str(&format!(
            "{:>26}",
            format!(
                "{:.0} ({} obs)",
                f.events as f64 / f.write_secs.max(1e-9),
                f.observables
            )
        ));
    }
    println!("{line}");
    for (i, (name, ..)) in all[0].lookups.iter().enumerate() {
        let mut line = format!("{:<28}", format!("{name} p50/p99 ms"));
        for f in &all {
            let (_, p50, p99, hits) = f.lookups[i];
            line.push_str(&format!(
                "{:>26}",
                format!(
                    "{:.2} / {:.2} ({hits:.0} hits)",
                    p50.as_secs_f64() * 1e3,
                    p99.as_secs_f64() * 1e3
                )
            ));
        }
        println!("{line}");
    }
    let mut line = format!("{:<28}", "retro-hunt 1,000 IOCs ms");
    for f in &all {
        line.push_str(&format!(
            "{:>26}",
            format!("{:.1} ({} hits)", f.retro.as_secs_f64() * 1e3, f.retro_hits)
        ));
    }
    println!("{line}");
    Ok(())
}
