//! `ward scope`, `ward scan`, `ward findings` and `ward estate`: the authorised scanner and
//! members' exposure to known vulnerabilities, through the server's API (so every scan,
//! refusal and finding is recorded in the store).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::client::{Api, ApiFailure};
use crate::commands::table;

#[derive(Subcommand)]
pub enum ScopeCmd {
    /// Register a member's authorised scope (central analysts).
    Add(ScopeArgs),
    /// Replace a scope (the audit keeps the old and the new version).
    Update(ScopeArgs),
    /// List scopes.
    List,
    /// Show one scope.
    Show { id: String },
    /// Every change of a scope: who, when, before and after.
    Audit { id: String },
    /// Withdraw a scope.
    Remove { id: String },
}

#[derive(Args)]
pub struct ScopeArgs {
    /// Scope identifier, e.g. rxh-2026q4.
    id: String,
    /// The member's ODS code.
    #[arg(long)]
    org: String,
    /// Address range the member registered (repeatable), e.g. 10.20.0.0/16 or 2001:db8::/48.
    #[arg(long = "cidr")]
    cidrs: Vec<String>,
    /// Host name the member registered (repeatable); it must resolve inside the ranges.
    #[arg(long = "host-name")]
    host_names: Vec<String>,
    /// Start of the permitted window (RFC 3339; default now).
    #[arg(long)]
    from: Option<String>,
    /// End of the permitted window (RFC 3339; default --days after the start).
    #[arg(long)]
    until: Option<String>,
    #[arg(long, default_value_t = 30)]
    days: i64,
    /// Allowed checks, comma-separated: port_scan,smb,ms17010,double_pulsar,rdp,tls,eol,http (default all).
    #[arg(long, value_delimiter = ',')]
    checks: Vec<String>,
    /// Connection attempts per second the member agreed to.
    #[arg(long, default_value_t = 100)]
    max_rate: u32,
    /// Who authorised the scan (name and role at the member).
    #[arg(long)]
    authorised_by: String,
    /// When they authorised it (RFC 3339; default now).
    #[arg(long)]
    authorised_at: Option<String>,
    /// Scan every N seconds.
    #[arg(long, conflicts_with = "daily")]
    every: Option<u64>,
    /// Scan every day at HH:MM UTC.
    #[arg(long)]
    daily: Option<String>,
    /// Ports of scheduled scans (see `ward scan run --ports`; default the top 100).
    #[arg(long)]
    schedule_ports: Option<String>,
}

#[derive(Subcommand)]
pub enum ScanCmd {
    /// Scan a scope now, with a live progress bar; Ctrl-C cancels the scan.
    Run(RunArgs),
    /// Cancel a queued or running scan.
    Cancel { run: i64 },
    /// List scan runs, newest first.
    List {
        #[arg(long)]
        scope: Option<String>,
        #[arg(long)]
        org: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Show one run with its progress, summary and refusals.
    Show { run: i64 },
}

#[derive(Args)]
pub struct RunArgs {
    scope: String,
    /// Target address or name (repeatable; default everything the scope registers).
    #[arg(long = "target")]
    targets: Vec<String>,
    /// Ports: `22,80,8000-8100`, `top:N` or `full` (default top:100).
    #[arg(long, default_value = "top:100")]
    ports: String,
    /// Only these checks (comma-separated; default all the scope allows).
    #[arg(long, value_delimiter = ',')]
    checks: Vec<String>,
    /// Print the run id and return at once instead of following it.
    #[arg(long)]
    detach: bool,
}

#[derive(Subcommand)]
pub enum FindingsCmd {
    /// List findings, most severe first (`--json`, `--csv` or `--xml` for nmap-style XML).
    List {
        #[arg(long)]
        org: Option<String>,
        /// open, fixed or risk_accepted.
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        severity: Option<String>,
        #[arg(long)]
        check: Option<String>,
        #[arg(long)]
        scope: Option<String>,
        #[arg(long, conflicts_with = "xml")]
        csv: bool,
        #[arg(long)]
        xml: bool,
    },
    /// Accept a finding's risk until a date (it reopens then).
    Accept {
        id: i64,
        /// RFC 3339 expiry; default --days from now.
        #[arg(long)]
        until: Option<String>,
        #[arg(long, default_value_t = 30)]
        days: i64,
    },
    /// Reopen a risk-accepted finding.
    Reopen { id: i64 },
}

#[derive(Subcommand)]
pub enum EstateCmd {
    /// Import assets from CSV: org,asset_id,hostname,os_name,os_version,os_patch_level,software,patches,attributes.
    Import { file: PathBuf },
    /// A member's assets.
    List { org: String },
    /// Exposures of one member, or the national view (central analysts).
    Exposures {
        org: Option<String>,
        /// Only CISA KEV vulnerabilities (national view).
        #[arg(long)]
        kev: bool,
        /// Only KEV entries with known ransomware use (national view).
        #[arg(long)]
        ransomware: bool,
        /// fuzzy, partial_cpe, exact_cpe or exact_purl (national view).
        #[arg(long)]
        min_confidence: Option<String>,
    },
    /// Pull a vulnerability feed from a file, a folder of files, or an http(s) URL.
    Pull {
        /// kev, nvd, osv or csaf.
        feed: String,
        path_or_url: String,
    },
    /// Each vulnerability feed's schedule and state.
    Feeds,
    /// Draft advisory requests filed for new KEV entries.
    Drafts,
}

fn print(json_mode: bool, v: &Value, columns: &[&str]) {
    if json_mode {
        println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
        return;
    }
    match v {
        Value::Array(rows) => table(rows, columns),
        other => table(std::slice::from_ref(other), columns),
    }
}

fn rfc3339_or_now(s: Option<&str>, what: &str) -> anyhow::Result<ward_scan::Timestamp> {
    match s {
        None => Ok(ward_scan::Timestamp::now()),
        Some(s) => ward_scan::Timestamp::parse_rfc3339(s).with_context(|| {
            format!("{what} {s:?} is not an RFC 3339 time such as 2026-11-28T09:00:00Z")
        }),
    }
}

/// `22,80,8000-8100`, `top:N` or `full` as the API's port specification.
pub fn port_spec(s: &str) -> anyhow::Result<Value> {
    if s == "full" {
        return Ok(json!("full"));
    }
    if let Some(n) = s.strip_prefix("top:") {
        let n: usize = n
            .parse()
            .with_context(|| format!("--ports {s:?}: top:N needs a number"))?;
        return Ok(json!({"top": n}));
    }
    let list = ward_server::scan::parse_port_list(s).map_err(anyhow::Error::msg)?;
    Ok(json!({"list": list}))
}

fn scope_body(a: &ScopeArgs) -> anyhow::Result<Value> {
    let start = rfc3339_or_now(a.from.as_deref(), "--from")?;
    let end = match &a.until {
        Some(u) => rfc3339_or_now(Some(u), "--until")?,
        None => ward_scan::Timestamp(start.0 + a.days.max(1) * 86_400),
    };
    let authorised_at = rfc3339_or_now(a.authorised_at.as_deref(), "--authorised-at")?;
    let checks: Vec<String> = if a.checks.is_empty() {
        ward_scan::Check::ALL
            .iter()
            .map(|c| c.as_str().to_string())
            .collect()
    } else {
        a.checks.clone()
    };
    let schedule = match (&a.every, &a.daily) {
        (None, None) => Value::Null,
        (every, daily) => {
            let mut s = json!({});
            if let Some(e) = every {
                s["every_secs"] = json!(e);
            }
            if let Some(d) = daily {
                s["daily_at"] = json!(d);
            }
            if let Some(p) = &a.schedule_ports {
                s["ports"] = port_spec(p)?;
            }
            s
        }
    };
    Ok(json!({
        "scope": {
            "id": a.id,
            "member": a.org,
            "cidrs": a.cidrs,
            "host_names": a.host_names,
            "windows": [{"start": start.to_string(), "end": end.to_string()}],
            "allowed_checks": checks,
            "max_rate_per_sec": a.max_rate,
            "authorised_by": a.authorised_by,
            "authorised_at": authorised_at.to_string(),
        },
        "schedule": schedule,
    }))
}

fn scope_rows(v: &Value) -> Value {
    let one = |s: &Value| {
        let spec = &s["spec"];
        json!({
            "id": s["id"], "org": s["org_code"], "cidrs": spec["cidrs"], "host_names": spec["host_names"],
            "checks": spec["allowed_checks"], "max_rate": spec["max_rate_per_sec"],
            "authorised_by": spec["authorised_by"], "schedule": s["schedule"].to_string(),
        })
    };
    match v {
        Value::Array(a) => Value::Array(a.iter().map(one).collect()),
        other => one(other),
    }
}

const SCOPE_COLS: &[&str] = &[
    "id",
    "org",
    "cidrs",
    "host_names",
    "checks",
    "max_rate",
    "authorised_by",
    "schedule",
];

pub async fn scope(cmd: &ScopeCmd, api: &Api, json_mode: bool) -> anyhow::Result<()> {
    match cmd {
        ScopeCmd::Add(a) => {
            let v: Value = api.post("/api/v1/scan/scopes", &scope_body(a)?).await?;
            print(
                json_mode,
                &(if json_mode { v } else { scope_rows(&v) }),
                SCOPE_COLS,
            );
        }
        ScopeCmd::Update(a) => {
            let v: Value = api
                .request(
                    Method::PUT,
                    &format!("/api/v1/scan/scopes/{}", a.id),
                    Some(&scope_body(a)?),
                )
                .await?;
            print(
                json_mode,
                &(if json_mode { v } else { scope_rows(&v) }),
                SCOPE_COLS,
            );
        }
        ScopeCmd::List => {
            let v: Value = api.get("/api/v1/scan/scopes").await?;
            print(
                json_mode,
                &(if json_mode { v } else { scope_rows(&v) }),
                SCOPE_COLS,
            );
        }
        ScopeCmd::Show { id } => {
            let v: Value = api.get(&format!("/api/v1/scan/scopes/{id}")).await?;
            println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        }
        ScopeCmd::Audit { id } => {
            let v: Value = api.get(&format!("/api/v1/scan/scopes/{id}/audit")).await?;
            if json_mode {
                print(true, &v, &[]);
            } else {
                let rows: Vec<Value> = v
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|e| {
                                json!({"at": e["at"], "actor": e["actor"], "action": e["action"],
                                       "before": e["before"]["spec"].to_string(), "after": e["after"]["spec"].to_string()})
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                table(&rows, &["at", "actor", "action", "before", "after"]);
            }
        }
        ScopeCmd::Remove { id } => {
            api.request::<Value>(Method::DELETE, &format!("/api/v1/scan/scopes/{id}"), None)
                .await?;
            println!("scope {id} removed");
        }
    }
    Ok(())
}

const RUN_COLS: &[&str] = &[
    "id",
    "scope_id",
    "org_code",
    "trigger",
    "status",
    "requested_by",
    "created_at",
    "finished_at",
];

fn refused(run: &Value) -> anyhow::Error {
    let reasons: Vec<String> = run["refusals"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|r| {
                    format!(
                        "{} [{}] {}",
                        r["target"].as_str().unwrap_or(""),
                        r["code"].as_str().unwrap_or(""),
                        r["reason"].as_str().unwrap_or("")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    ApiFailure {
        status: StatusCode::FORBIDDEN,
        code: "scan_refused".into(),
        message: format!(
            "scan run {} refused every target before any packet: {}",
            run["id"],
            reasons.join("; ")
        ),
        details: None,
    }
    .into()
}

pub async fn scan(cmd: &ScanCmd, api: &Api, json_mode: bool) -> anyhow::Result<()> {
    match cmd {
        ScanCmd::Run(a) => run(a, api, json_mode).await,
        ScanCmd::Cancel { run } => {
            let v: Value = api
                .post(&format!("/api/v1/scans/{run}/cancel"), &json!({}))
                .await?;
            if json_mode {
                print(true, &v, &[]);
            } else {
                println!("scan run {run}: cancelling");
            }
            Ok(())
        }
        ScanCmd::List { scope, org, limit } => {
            let mut q = format!("/api/v1/scans?limit={limit}");
            if let Some(s) = scope {
                q.push_str(&format!("&scope={s}"));
            }
            if let Some(o) = org {
                q.push_str(&format!("&org={o}"));
            }
            let v: Value = api.get(&q).await?;
            print(json_mode, &v, RUN_COLS);
            Ok(())
        }
        ScanCmd::Show { run } => {
            let v: Value = api.get(&format!("/api/v1/scans/{run}")).await?;
            println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            Ok(())
        }
    }
}

async fn run(a: &RunArgs, api: &Api, json_mode: bool) -> anyhow::Result<()> {
    let mut body =
        json!({"scope_id": a.scope, "targets": a.targets, "ports": port_spec(&a.ports)?});
    if !a.checks.is_empty() {
        body["checks"] = json!(a.checks);
    }
    let started: Value = api.post("/api/v1/scans", &body).await?;
    let id = started["id"]
        .as_i64()
        .context("the server's answer to POST /api/v1/scans has no run id")?;
    if a.detach {
        if json_mode {
            print(true, &started, &[]);
        } else {
            println!("scan run {id} queued");
        }
        return Ok(());
    }
    // indicatif hides itself when stderr is not a terminal, so scripts see only the summary.
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} scan {prefix} [{bar:30}] {pos}/{len} ports {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_prefix(id.to_string());
    let mut ctrl_c = std::pin::pin!(tokio::signal::ctrl_c());
    let mut cancelled_by_user = false;
    let last = loop {
        let v: Value = api.get(&format!("/api/v1/scans/{id}")).await?;
        let p = &v["progress"];
        if let (Some(total), Some(done)) = (p["ports_total"].as_u64(), p["ports_done"].as_u64()) {
            bar.set_length(total);
            bar.set_position(done);
            bar.set_message(format!(
                "targets {}/{}  open {}  findings {}  refused {}",
                p["targets_done"],
                p["targets_total"],
                p["open_ports"],
                p["findings"],
                p["refusals"]
            ));
        }
        let status = v["status"].as_str().unwrap_or("");
        if !matches!(status, "queued" | "running") {
            break v;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            _ = &mut ctrl_c, if !cancelled_by_user => {
                cancelled_by_user = true;
                let _ = api.post::<Value>(&format!("/api/v1/scans/{id}/cancel"), &json!({})).await;
            }
        }
    };
    bar.finish_and_clear();
    if json_mode {
        print(true, &last, &[]);
    } else {
        let s = &last["summary"];
        println!(
            "scan run {id}: {}  hosts {}  findings {}  opened {}  seen again {}  fixed {}  refusals {}  incidents {}",
            last["status"].as_str().unwrap_or("?"),
            s["hosts"],
            s["findings"],
            s["opened"],
            s["seen_again"],
            s["fixed"],
            s["refusals"].as_array().map(Vec::len).unwrap_or(0),
            s["incidents"]
        );
        for r in last["refusals"].as_array().into_iter().flatten() {
            println!(
                "  refused {} [{}] {}",
                r["target"].as_str().unwrap_or(""),
                r["code"].as_str().unwrap_or(""),
                r["reason"].as_str().unwrap_or("")
            );
        }
    }
    match last["status"].as_str() {
        Some("refused") => Err(refused(&last)),
        Some("failed") => bail!(
            "scan run {id} failed: {}",
            last["error"].as_str().unwrap_or("unknown error")
        ),
        _ => Ok(()),
    }
}

const FINDING_COLS: &[&str] = &[
    "id", "org_code", "address", "port", "check", "subject", "severity", "status", "title",
];

pub async fn findings(cmd: &FindingsCmd, api: &Api, json_mode: bool) -> anyhow::Result<()> {
    match cmd {
        FindingsCmd::List {
            org,
            status,
            severity,
            check,
            scope,
            csv,
            xml,
        } => {
            let format = if *csv {
                "csv"
            } else if *xml {
                "xml"
            } else {
                "json"
            };
            let mut q = format!("/api/v1/findings?format={format}");
            for (k, v) in [
                ("org", org),
                ("status", status),
                ("severity", severity),
                ("check", check),
                ("scope", scope),
            ] {
                if let Some(v) = v {
                    q.push_str(&format!("&{k}={v}"));
                }
            }
            if format == "json" {
                let v: Value = api.get(&q).await?;
                print(json_mode, &v, FINDING_COLS);
            } else {
                print!("{}", api.raw(Method::GET, &q, None, None).await?);
            }
        }
        FindingsCmd::Accept { id, until, days } => {
            let until_ms = match until {
                Some(u) => rfc3339_or_now(Some(u), "--until")?.0 * 1000,
                None => (ward_scan::Timestamp::now().0 + days.max(&1) * 86_400) * 1000,
            };
            let v: Value = api
                .post(
                    &format!("/api/v1/findings/{id}/status"),
                    &json!({"status": "risk_accepted", "accepted_until": until_ms}),
                )
                .await?;
            print(json_mode, &v, FINDING_COLS);
        }
        FindingsCmd::Reopen { id } => {
            let v: Value = api
                .post(
                    &format!("/api/v1/findings/{id}/status"),
                    &json!({"status": "open"}),
                )
                .await?;
            print(json_mode, &v, FINDING_COLS);
        }
    }
    Ok(())
}

const EXPOSURE_COLS: &[&str] = &[
    "org",
    "asset_id",
    "cve",
    "confidence",
    "source",
    "in_kev",
    "kev_ransomware",
    "cvss",
    "matched",
];

pub async fn estate(cmd: &EstateCmd, api: &Api, json_mode: bool) -> anyhow::Result<()> {
    match cmd {
        EstateCmd::Import { file } => {
            let bytes =
                std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
            let text = api
                .raw(
                    Method::POST,
                    "/api/v1/assets/import",
                    Some("text/csv"),
                    Some(bytes),
                )
                .await?;
            let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            if json_mode {
                print(true, &v, &[]);
            } else {
                println!("imported {} assets: {}", v["stored"], v["organisations"]);
            }
        }
        EstateCmd::List { org } => {
            let v: Value = api
                .get(&format!("/api/v1/organisations/{org}/assets"))
                .await?;
            if json_mode {
                print(true, &v, &[]);
            } else {
                let rows: Vec<Value> = v
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|a| {
                        let b = &a["body"];
                        json!({"asset_id": a["asset_id"], "hostname": b["hostname"], "os": format!("{} {} {}", b["os_name"].as_str().unwrap_or(""), b["os_version"].as_str().unwrap_or(""), b["os_patch_level"].as_str().unwrap_or("")).trim(),
                               "software": b["software"].as_array().map(Vec::len).unwrap_or(0), "attributes": b["attributes"].to_string(), "source": a["source"]})
                    })
                    .collect();
                table(
                    &rows,
                    &[
                        "asset_id",
                        "hostname",
                        "os",
                        "software",
                        "attributes",
                        "source",
                    ],
                );
            }
        }
        EstateCmd::Exposures {
            org,
            kev,
            ransomware,
            min_confidence,
        } => match org {
            Some(o) => {
                let v: Value = api
                    .get(&format!("/api/v1/organisations/{o}/exposures"))
                    .await?;
                print(json_mode, &v, EXPOSURE_COLS);
            }
            None => {
                let mut q =
                    format!("/api/v1/exposures?kev={kev}&ransomware={ransomware}&unpatched=true");
                if let Some(m) = min_confidence {
                    q.push_str(&format!("&min_confidence={m}"));
                }
                let v: Value = api.get(&q).await?;
                if json_mode {
                    print(true, &v, &[]);
                } else {
                    let rows: Vec<Value> = v["members"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .flat_map(|m| m["exposures"].as_array().cloned().unwrap_or_default())
                        .collect();
                    table(&rows, EXPOSURE_COLS);
                }
            }
        },
        EstateCmd::Pull { feed, path_or_url } => pull(api, feed, path_or_url, json_mode).await?,
        EstateCmd::Feeds => {
            let v: Value = api.get("/api/v1/vulns/feeds").await?;
            if json_mode {
                print(true, &v, &[]);
            } else {
                let rows: Vec<Value> = v
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|f| {
                        let s = &f["state"];
                        json!({"feed": f["feed"], "url": f["url"], "runs": s["runs"], "last_success": s["last_success"],
                               "next_run": s["next_run"], "errors": s["consecutive_errors"], "last_added": s["last_counts"]["added"]})
                    })
                    .collect();
                table(
                    &rows,
                    &[
                        "feed",
                        "url",
                        "runs",
                        "last_success",
                        "next_run",
                        "errors",
                        "last_added",
                    ],
                );
            }
        }
        EstateCmd::Drafts => {
            let v: Value = api.get("/api/v1/advisory-drafts").await?;
            print(
                json_mode,
                &v,
                &["id", "cve", "members", "status", "summary"],
            );
        }
    }
    Ok(())
}

/// The files a pull sends: one file, or every `.json` file of a folder (sorted).
fn feed_files(p: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if p.is_dir() {
        let mut v: Vec<PathBuf> = std::fs::read_dir(p)
            .with_context(|| format!("reading folder {}", p.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        v.sort();
        if v.is_empty() {
            bail!("{} has no .json files", p.display());
        }
        Ok(v)
    } else {
        Ok(vec![p.to_path_buf()])
    }
}

async fn pull(api: &Api, feed: &str, source: &str, json_mode: bool) -> anyhow::Result<()> {
    let mut outcomes = Vec::new();
    if source.starts_with("http://") || source.starts_with("https://") {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_message(format!("downloading {source}"));
        bar.enable_steady_tick(Duration::from_millis(100));
        let resp = reqwest::get(source)
            .await
            .with_context(|| format!("downloading {source}"))?;
        if !resp.status().is_success() {
            bail!("downloading {source}: HTTP {}", resp.status());
        }
        let bytes = resp
            .bytes()
            .await
            .with_context(|| format!("downloading {source}"))?;
        bar.set_message(format!("sending {} bytes to ward", bytes.len()));
        let text = api
            .raw(
                Method::POST,
                &format!("/api/v1/vulns/feeds/{feed}"),
                Some("application/json"),
                Some(bytes.to_vec()),
            )
            .await?;
        bar.finish_and_clear();
        outcomes.push(serde_json::from_str::<Value>(&text).unwrap_or(Value::Null));
    } else {
        let files = feed_files(Path::new(source))?;
        let bar = indicatif::ProgressBar::new(files.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "pull {prefix} [{bar:30}] {pos}/{len} files {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_prefix(feed.to_string());
        for f in files {
            bar.set_message(
                f.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            );
            let bytes = std::fs::read(&f).with_context(|| format!("reading {}", f.display()))?;
            let text = api
                .raw(
                    Method::POST,
                    &format!("/api/v1/vulns/feeds/{feed}"),
                    Some("application/json"),
                    Some(bytes),
                )
                .await
                .with_context(|| format!("pulling {}", f.display()))?;
            outcomes.push(serde_json::from_str::<Value>(&text).unwrap_or(Value::Null));
            bar.inc(1);
        }
        bar.finish_and_clear();
    }
    if json_mode {
        print(true, &Value::Array(outcomes), &[]);
        return Ok(());
    }
    for o in &outcomes {
        println!(
            "{}: {} records, {} added, {} updated, {} draft advisories",
            o["feed"].as_str().unwrap_or(feed),
            o["records"],
            o["added"],
            o["updated"],
            o["drafts"].as_array().map(Vec::len).unwrap_or(0)
        );
        for d in o["drafts"].as_array().into_iter().flatten() {
            println!(
                "  draft: {} → {}",
                d["cve"].as_str().unwrap_or(""),
                d["members"]
            );
        }
    }
    Ok(())
}
