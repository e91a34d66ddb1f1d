//! `ward intel …`: feeds (add, list, pull now), submitting and listing indicators, exports.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{json, Value};

use crate::client::Api;

#[derive(Subcommand)]
pub enum IntelCmd {
    /// Feed connectors (central analysts).
    #[command(subcommand)]
    Feed(FeedCmd),
    /// Run one feed now and show what it did.
    Pull {
        /// Feed name.
        feed: String,
    },
    /// Submit indicators from a file: STIX 2.1 bundle, MISP event JSON, MISP CSV or freetext.
    Submit(SubmitArgs),
    /// List indicators you may see.
    List {
        /// ipv4, ipv6, domain, url, md5, sha1, sha256 or email.
        #[arg(long)]
        kind: Option<String>,
        /// Part of the value.
        #[arg(long)]
        q: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Export indicators: stix, misp, csv, or list (one value per line; needs --kind).
    Export {
        format: String,
        #[arg(long)]
        kind: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum FeedCmd {
    /// Add a feed; the scheduler runs it every --interval seconds.
    Add {
        name: String,
        /// stix, taxii, misp, misp-csv or freetext.
        #[arg(long)]
        kind: String,
        /// URL or path to pull from (TAXII: the API root URL; MISP: the feed's base URL).
        /// (`--url` is the ward server to talk to.)
        #[arg(long)]
        from: String,
        /// TAXII collection id.
        #[arg(long)]
        collection: Option<String>,
        #[arg(long)]
        username: Option<String>,
        /// TAXII password or API key (Bearer when no username).
        #[arg(long)]
        password: Option<String>,
        #[arg(long, default_value_t = 3600)]
        interval: u64,
        /// TLP for values that carry none (default GREEN).
        #[arg(long)]
        tlp: Option<String>,
        /// own_org, community, connected, all (default) or sharing_group:<n>.
        #[arg(long)]
        distribution: Option<String>,
    },
    /// Feeds and their state (last and next run, errors, counts).
    List,
}

#[derive(Args)]
pub struct SubmitArgs {
    pub file: PathBuf,
    /// stix, misp, csv or freetext (default: from the file's content).
    #[arg(long)]
    pub format: Option<String>,
    #[arg(long)]
    pub tlp: Option<String>,
    #[arg(long)]
    pub distribution: Option<String>,
}

fn print_rows(json_mode: bool, value: &Value, columns: &[&str]) {
    if json_mode {
        println!(
            "{}",
            serde_json::to_string_pretty(value).unwrap_or_default()
        );
        return;
    }
    let rows = match value {
        Value::Array(r) => r.clone(),
        other => vec![other.clone()],
    };
    println!("{}", columns.join("\t"));
    for r in rows {
        let cells: Vec<String> = columns
            .iter()
            .map(|c| match r.pointer(&format!("/{}", c.replace('.', "/"))) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) | None => "-".into(),
                Some(v) => v.to_string(),
            })
            .collect();
        println!("{}", cells.join("\t"));
    }
}

fn query(pairs: &[(&str, Option<String>)]) -> String {
    let q: Vec<(String, String)> = pairs
        .iter()
        .filter_map(|(k, v)| v.clone().map(|v| (k.to_string(), v)))
        .collect();
    if q.is_empty() {
        String::new()
    } else {
        format!("?{}", serde_urlencoded_pairs(&q))
    }
}

fn serde_urlencoded_pairs(q: &[(String, String)]) -> String {
    q.iter()
        .map(|(k, v)| format!("{k}={}", percent(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub async fn run(cmd: &IntelCmd, api: &Api, json_mode: bool) -> anyhow::Result<()> {
    match cmd {
        IntelCmd::Feed(FeedCmd::Add {
            name,
            kind,
            from,
            collection,
            username,
            password,
            interval,
            tlp,
            distribution,
        }) => {
            let v: Value = api
                .post(
                    "/api/v1/intel/feeds",
                    &json!({"name": name, "kind": kind, "url": from, "collection": collection,
                        "username": username, "password": password, "interval_secs": interval,
                        "tlp": tlp, "distribution": distribution}),
                )
                .await?;
            print_rows(json_mode, &v, &["name", "kind", "url", "interval_secs"]);
        }
        IntelCmd::Feed(FeedCmd::List) => {
            let v: Value = api.get("/api/v1/intel/feeds").await?;
            print_rows(
                json_mode,
                &v,
                &[
                    "name",
                    "kind",
                    "state.last_run",
                    "state.next_run",
                    "state.consecutive_errors",
                    "state.total_counts.added",
                    "state.total_counts.updated",
                    "state.total_counts.expired",
                ],
            );
        }
        IntelCmd::Pull { feed } => {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.set_message(format!("pulling {feed}"));
            bar.enable_steady_tick(Duration::from_millis(120));
            let res: anyhow::Result<Value> = api
                .post(
                    &format!("/api/v1/intel/feeds/{}/run", percent(feed)),
                    &json!({}),
                )
                .await;
            bar.finish_and_clear();
            let v = res?;
            let errors = v["state"]["consecutive_errors"].as_u64().unwrap_or(0);
            if json_mode {
                println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            } else {
                let c = &v["state"]["last_counts"];
                println!(
                    "{feed}: added {} updated {} expired {} skipped {}; next run {}",
                    c["added"], c["updated"], c["expired"], c["skipped"], v["state"]["next_run"]
                );
            }
            if errors > 0 {
                let last = v["state"]["errors"]
                    .as_array()
                    .and_then(|a| a.last())
                    .and_then(Value::as_str)
                    .unwrap_or("unknown error")
                    .to_string();
                anyhow::bail!("feed {feed} failed: {last}");
            }
        }
        IntelCmd::Submit(a) => {
            let body = std::fs::read(&a.file)
                .with_context(|| format!("cannot read {}", a.file.display()))?;
            let ct = match a.format.as_deref() {
                Some("csv") => "text/csv",
                Some("freetext") => "text/plain",
                _ => "application/json",
            };
            let path = format!(
                "/api/v1/intel/indicators{}",
                query(&[
                    ("format", a.format.clone()),
                    ("tlp", a.tlp.clone()),
                    ("distribution", a.distribution.clone()),
                ])
            );
            let text = api.raw(Method::POST, &path, Some(ct), Some(body)).await?;
            let v: Value = serde_json::from_str(&text).context("unexpected answer")?;
            print_rows(
                json_mode,
                &v,
                &[
                    "indicators_added",
                    "indicators_updated",
                    "indicators_unchanged",
                    "objects_added",
                    "retro_hunt_hits",
                ],
            );
        }
        IntelCmd::List { kind, q, limit } => {
            let v: Value = api
                .get(&format!(
                    "/api/v1/intel/indicators{}",
                    query(&[
                        ("kind", kind.clone()),
                        ("q", q.clone()),
                        ("limit", Some(limit.to_string())),
                    ])
                ))
                .await?;
            print_rows(
                json_mode,
                &v["items"],
                &[
                    "id",
                    "kind",
                    "value",
                    "tlp",
                    "distribution",
                    "owner_org",
                    "confidence",
                ],
            );
        }
        IntelCmd::Export { format, kind } => {
            let text = api
                .raw(
                    Method::GET,
                    &format!(
                        "/api/v1/intel/export/{}{}",
                        percent(format),
                        query(&[("kind", kind.clone())])
                    ),
                    None,
                    None,
                )
                .await?;
            print!("{text}");
        }
    }
    Ok(())
}
