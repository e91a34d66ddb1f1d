//! Detection commands that work on files: `ward rules check`, `ward hunt`, `ward import evtx`,
//! and `ward bench detect`. They call the `ward-detect` library directly; `import` sends
//! through the API like any member system.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};
use ward_detect::{Engine, EngineConfig, HuntFormat};

use crate::client::Api;

#[derive(Subcommand)]
pub enum RulesCmd {
    /// Load every rule under DIR (or one file) and list each that does not load, with its
    /// file, line and reason. Exits 1 when any rule is refused.
    Check { path: PathBuf },
}

#[derive(Args)]
pub struct HuntArgs {
    /// Sigma rules: a directory (searched recursively) or one file.
    #[arg(long)]
    rules: PathBuf,
    /// table, json, jsonl or csv.
    #[arg(long, default_value = "table")]
    format: String,
    /// EVTX, JSON or JSONL files, or directories of them.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

#[derive(Subcommand)]
pub enum ImportCmd {
    /// Read Windows .evtx files and send their records to a running server with an
    /// organisation's API key (`--token` / WARD_TOKEN).
    Evtx {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Records per request.
        #[arg(long, default_value_t = 1000)]
        batch: usize,
    },
}

#[derive(Args)]
pub struct DetectBench {
    /// SigmaHQ rules directory: the Windows rules of its rules/, rules-emerging-threats/ and
    /// rules-threat-hunting/ are loaded.
    #[arg(long, default_value = "../shared/data/sigma")]
    rules: PathBuf,
    /// Directory of .evtx files replayed as the event stream.
    #[arg(long, default_value = "../shared/data/evtx")]
    evtx: PathBuf,
    /// Events to evaluate (the corpus is repeated to reach it).
    #[arg(long, default_value_t = 1_000_000)]
    events: usize,
    /// Threads for the all-cores figure (default: every core).
    #[arg(long)]
    threads: Option<usize>,
}

fn spinner_style() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
}

pub fn rules_check(cmd: &RulesCmd, json_mode: bool) -> anyhow::Result<()> {
    let RulesCmd::Check { path } = cmd;
    anyhow::ensure!(path.exists(), "{} does not exist", path.display());
    let report = Engine::load_dir(path, &EngineConfig::default());
    if json_mode {
        let errors: Vec<Value> = report
            .errors
            .iter()
            .map(|e| json!({"file": e.file, "line": e.line, "code": e.code, "message": e.message}))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({"loaded": report.loaded, "refused": errors}))?
        );
    } else {
        for e in &report.errors {
            println!("{e}");
        }
        println!(
            "{} rules loaded, {} refused",
            report.loaded,
            report.errors.len()
        );
    }
    if !report.errors.is_empty() {
        anyhow::bail!(
            "{} rules under {} do not load",
            report.errors.len(),
            path.display()
        );
    }
    Ok(())
}

pub fn hunt(args: &HuntArgs) -> anyhow::Result<()> {
    let format: HuntFormat = args
        .format
        .parse()
        .map_err(|e: String| anyhow::anyhow!(e))?;
    let report = Engine::load_dir(&args.rules, &EngineConfig::default());
    for e in &report.errors {
        eprintln!("rule refused: {e}");
    }
    anyhow::ensure!(
        report.loaded > 0,
        "no rule under {} loads",
        args.rules.display()
    );
    let bar = ProgressBar::new_spinner();
    bar.set_style(spinner_style());
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let summary = ward_detect::hunt(&report.engine, &args.files, format, &mut out, &mut |p| {
        bar.set_message(format!(
            "{} ({}/{} files) {} events, {} detections",
            p.file.display(),
            p.files_done,
            p.files_total,
            p.events,
            p.detections
        ));
        bar.tick();
    })?;
    out.flush()?;
    bar.finish_and_clear();
    for e in &summary.errors {
        eprintln!("unreadable: {e}");
    }
    eprintln!(
        "{} rules, {} files, {} events, {} detections, {} rules refused, {} read errors",
        report.loaded,
        summary.files,
        summary.events,
        summary.detections,
        report.errors.len(),
        summary.errors.len()
    );
    Ok(())
}

fn evtx_files(inputs: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in inputs {
        if p.is_dir() {
            let mut stack = vec![p.clone()];
            while let Some(d) = stack.pop() {
                let Ok(rd) = std::fs::read_dir(&d) else {
                    continue;
                };
                for e in rd.flatten() {
                    let path = e.path();
                    if path.is_dir() {
                        stack.push(path);
                    } else if path
                        .extension()
                        .is_some_and(|x| x.eq_ignore_ascii_case("evtx"))
                    {
                        out.push(path);
                    }
                }
            }
        } else {
            out.push(p.clone());
        }
    }
    out.sort();
    out
}

pub async fn import(cmd: &ImportCmd, api: &Api, json_mode: bool) -> anyhow::Result<()> {
    let ImportCmd::Evtx { files, batch } = cmd;
    let files = evtx_files(files);
    anyhow::ensure!(!files.is_empty(), "no .evtx files given");
    let bar = if json_mode {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(files.len() as u64)
    };
    bar.set_style(
        ProgressStyle::with_template("import {bar:30} {pos}/{len} files {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let (mut sent, mut unreadable, mut requests) = (0u64, Vec::new(), 0u64);
    for file in &files {
        bar.set_message(file.display().to_string());
        let (records, errors) = read_records(file);
        unreadable.extend(errors);
        for chunk in records.chunks((*batch).max(1)) {
            let mut body = String::new();
            for r in chunk {
                body.push_str(r);
                body.push('\n');
            }
            let reply = api
                .post_ndjson(body.into())
                .await
                .with_context(|| format!("sending records of {}", file.display()))?;
            sent += reply["accepted"].as_u64().unwrap_or(0);
            requests += 1;
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    let summary = json!({"files": files.len(), "events_sent": sent, "requests": requests, "unreadable_records": unreadable});
    if json_mode {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        for e in &unreadable {
            eprintln!("unreadable: {e}");
        }
        println!(
            "imported {sent} events from {} files in {requests} requests; {} records unreadable",
            files.len(),
            unreadable.len()
        );
    }
    Ok(())
}

/// The records of one file as JSON lines, and the records that could not be read (with where).
fn read_records(file: &Path) -> (Vec<String>, Vec<String>) {
    let mut records = Vec::new();
    let mut errors = Vec::new();
    for (i, r) in ward_detect::read_evtx(file).enumerate() {
        match r {
            Ok(v) => records.push(v.to_string()),
            Err(e) => errors.push(format!("{} record {}: {e}", file.display(), i + 1)),
        }
    }
    (records, errors)
}

pub fn bench(b: &DetectBench, json_mode: bool) -> anyhow::Result<()> {
    let threads = b.threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    let bar = ProgressBar::new_spinner();
    bar.set_style(spinner_style());
    bar.set_message(format!(
        "loading rules from {} and replaying {} to {} events…",
        b.rules.display(),
        b.evtx.display(),
        b.events
    ));
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    let report = ward_detect::bench_detect(&b.rules, &b.evtx, b.events, threads)?;
    bar.finish_and_clear();
    if json_mode {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("ward bench detect");
        println!("{report}");
    }
    Ok(())
}
